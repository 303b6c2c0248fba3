#!/usr/bin/env python3
"""Generate libmdm/ddm/mdm_ddm_schema.c from Apple's declaration YAML.

Usage (from the repository root):

    python3 tools/gen-ddm-schema.py [SCHEMA_DIR] [-o OUTPUT]
    python3 tools/gen-ddm-schema.py --check      # exit 1 if stale

SCHEMA_DIR is a checkout of apple/device-management; the default is
../shared/apple-device-management relative to the repository root, and the
declarations are read from SCHEMA_DIR/declarative/declarations/**.yaml.
OUTPUT defaults to libmdm/ddm/mdm_ddm_schema.c. Needs PyYAML (Debian:
python3-yaml).

Follows tools/gen-command-schema.py: the generated file is committed, so
builds need neither Python nor the YAML; only facts are copied (type names,
key names, types, presence, allowed values, integer ranges, which keys name
assets and of which types), none of Apple's prose. Declarations are sorted
by Type (the C side binary-searches them), keys keep their YAML order, so an
unchanged schema regenerates to identical bytes.

Not copied: declarationbase.yaml (its four keys are the envelope every
declaration shares, checked by the C code itself) and the credential
documents under assets/credentials/ (they have a credentialtype, not a
declarationtype: the JSON served at an asset's DataURL, not declarations).
"""

import argparse
import glob
import os
import re
import sys

import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SCHEMA = os.path.join("..", "shared", "apple-device-management")
DEFAULT_OUTPUT = os.path.join("libmdm", "ddm", "mdm_ddm_schema.c")
DECLARATIONS_SUBDIR = "declarative/declarations"

# the word after "com.apple." in a Type, and the folder its YAML lives in
KINDS = {
    "activation": ("MDM_DDM_ACTIVATION", "activations"),
    "asset": ("MDM_DDM_ASSET", "assets"),
    "configuration": ("MDM_DDM_CONFIGURATION", "configurations"),
    "management": ("MDM_DDM_MANAGEMENT", "management"),
}

TYPE_ENUM = {
    "<string>": "MDM_KEY_STRING",
    "<integer>": "MDM_KEY_INTEGER",
    "<real>": "MDM_KEY_REAL",
    "<boolean>": "MDM_KEY_BOOLEAN",
    "<data>": "MDM_KEY_DATA",
    "<date>": "MDM_KEY_DATE",
    "<array>": "MDM_KEY_ARRAY",
    "<dictionary>": "MDM_KEY_DICT",
    "<any>": "MDM_KEY_ANY",
}


class Tables:
    """Flat key and value arrays; every node's children are contiguous."""

    def __init__(self):
        self.keys = []
        self.values = []

    def add_key_list(self, yaml_keys, where):
        first = len(self.keys)
        for _ in yaml_keys:
            self.keys.append(None)
        for i, k in enumerate(yaml_keys):
            self.keys[first + i] = self.make_key(k, where)
        return first, len(yaml_keys)

    def make_key(self, k, where):
        name = k.get("key")
        ktype = k.get("type")
        if not isinstance(name, str) or ktype not in TYPE_ENUM:
            sys.exit("%s: key %r has unsupported type %r" % (where, name, ktype))
        presence = k.get("presence", "optional")
        if presence not in ("required", "optional"):
            sys.exit("%s: key %s has presence %r" % (where, name, presence))
        subs = k.get("subkeys") or []
        if ktype == "<array>" and len(subs) > 1:
            sys.exit("%s: array %s has %d element forms" % (where, name,
                                                            len(subs)))
        values_first, values_n = self.add_values(k.get("rangelist"), where)
        assets_first, assets_n = self.add_values(k.get("assettypes"), where)
        has_range, rmin, rmax = self.range_of(k, where)
        subs_first, subs_n = self.add_key_list(subs, where + "/" + name)
        return {
            "name": name,
            "type": TYPE_ENUM[ktype],
            "required": presence == "required",
            "range": has_range,
            "min": rmin,
            "max": rmax,
            "subkeys": subs_first if subs_n else 0,
            "nsubkeys": subs_n,
            "values": values_first if values_n else 0,
            "nvalues": values_n,
            "assets": assets_first if assets_n else 0,
            "nassets": assets_n,
        }

    def range_of(self, k, where):
        r = k.get("range")
        if r is None:
            return 0, 0, 0
        if k.get("type") != "<integer>":
            sys.exit("%s: range on a non-integer key %s" % (where, k["key"]))
        rmin, rmax = r.get("min"), r.get("max")
        if not isinstance(rmin, int) or not isinstance(rmax, int):
            sys.exit("%s: range of %s is not two integers" % (where, k["key"]))
        return 1, rmin, rmax

    def add_values(self, rangelist, where):
        if not rangelist:
            return 0, 0
        first = len(self.values)
        for v in rangelist:
            if isinstance(v, bool):
                self.values.append("true" if v else "false")
            elif isinstance(v, (int, str)):
                self.values.append(str(v))
            else:
                sys.exit("%s: value %r is not a string or integer" % (where, v))
        return first, len(rangelist)


def c_string(s):
    out = []
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 0x20 <= ord(ch) < 0x7f:
            out.append(ch)
        else:
            sys.exit("non-ASCII or control character in %r" % s)
    return '"' + "".join(out) + '"'


def load_declarations(decl_dir):
    files = sorted(glob.glob(os.path.join(decl_dir, "**", "*.yaml"),
                             recursive=True))
    if not files:
        sys.exit("no YAML files in %s" % decl_dir)
    decls = []
    for path in files:
        rel = os.path.relpath(path, decl_dir).replace(os.sep, "/")
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        payload = doc.get("payload") or {}
        dtype = payload.get("declarationtype")
        if dtype is None or dtype == "any":
            continue                 # declarationbase, credential documents
        m = re.match(r"^com\.apple\.([a-z]+)\.", dtype)
        if not m or m.group(1) not in KINDS:
            sys.exit("%s: declarationtype %r has no known kind" % (rel, dtype))
        kind_enum, folder = KINDS[m.group(1)]
        if rel.split("/")[0] != folder:
            sys.exit("%s: %s is not in %s/" % (rel, dtype, folder))
        decls.append({
            "file": rel,
            "type": dtype,
            "kind": kind_enum,
            "keys": doc.get("payloadkeys") or [],
        })
    decls.sort(key=lambda d: d["type"])
    for a, b in zip(decls, decls[1:]):
        if a["type"] == b["type"]:
            sys.exit("Type %s defined twice" % a["type"])
    return decls


def upstream_commit(schema_dir):
    try:
        with open(os.path.join(schema_dir, "SOURCE.md"), encoding="utf-8") as f:
            m = re.search(r"\bcommit ([0-9a-f]{40})\b", f.read())
    except OSError:
        return None
    return m.group(1) if m else None


def render(decls, commit):
    tables = Tables()
    rows = []
    for d in decls:
        first, n = tables.add_key_list(d["keys"], d["file"])
        rows.append((d, first if n else 0, n))

    out = []
    w = out.append
    w("/*")
    w(" * GENERATED FILE, DO NOT EDIT.")
    w(" *")
    w(" * Generated by: python3 tools/gen-ddm-schema.py")
    w(" * From: apple-device-management/%s (%d declaration types)"
      % (DECLARATIONS_SUBDIR, len(decls)))
    if commit:
        w(" * Upstream: apple/device-management commit %s" % commit)
    w(" *")
    w(" * Facts only (names, types, presence, allowed values, ranges, asset")
    w(" * types); see docs/ddm.md for how to regenerate and check this file.")
    w(" */")
    w("")
    w('#include "mdm_ddm_schema.h"')
    w("")
    w("")
    w("const char *const mdm_ddm_values[] = {")
    for i, v in enumerate(tables.values):
        w("    /* %4d */ %s," % (i, c_string(v)))
    w("    NULL")
    w("};")
    w("")
    w("const size_t mdm_ddm_nvalues = %d;" % len(tables.values))
    w("")
    w("")
    w("/*")
    w(" * name, type, required, has range, min, max, subkeys, nsubkeys,")
    w(" * values, nvalues, asset types, nassettypes")
    w(" */")
    w("const mdm_ddm_key_t mdm_ddm_keys[] = {")
    for i, k in enumerate(tables.keys):
        w("    /* %4d */ { %s, %s, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d },"
          % (i, c_string(k["name"]), k["type"], k["required"], k["range"],
             k["min"], k["max"], k["subkeys"], k["nsubkeys"], k["values"],
             k["nvalues"], k["assets"], k["nassets"]))
    w("    { NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }")
    w("};")
    w("")
    w("const size_t mdm_ddm_nkeys = %d;" % len(tables.keys))
    w("")
    w("")
    w("/* Sorted by Type: Type, YAML file, kind, payload keys, nkeys */")
    w("const mdm_ddm_schema_t mdm_ddm_schemas[] = {")
    for d, first, n in rows:
        w("    { %s," % c_string(d["type"]))
        w("      %s, %s, %d, %d }," % (c_string(d["file"]), d["kind"], first, n))
    w("    { NULL, NULL, 0, 0, 0 }")
    w("};")
    w("")
    w("const size_t mdm_ddm_nschemas = %d;" % len(rows))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("schema_dir", nargs="?", default=None,
                    help="apple/device-management checkout (default: %s)"
                    % DEFAULT_SCHEMA)
    ap.add_argument("-o", "--output", default=None,
                    help="output file (default: %s)" % DEFAULT_OUTPUT)
    ap.add_argument("--check", action="store_true",
                    help="compare with the output file instead of writing it")
    args = ap.parse_args()

    schema_dir = args.schema_dir or os.path.join(REPO_ROOT, DEFAULT_SCHEMA)
    output = args.output or os.path.join(REPO_ROOT, DEFAULT_OUTPUT)
    decls = load_declarations(os.path.join(schema_dir, DECLARATIONS_SUBDIR))
    text = render(decls, upstream_commit(schema_dir))

    if args.check:
        try:
            with open(output, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            sys.stderr.write("%s is out of date; regenerate it\n" % output)
            return 1
        return 0

    tmp = output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
