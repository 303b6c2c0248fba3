#!/usr/bin/env python3
"""Generate libmdm/profile/mdm_profile_schema.c from Apple's profile YAML.

Usage (from the repository root):

    python3 tools/gen-profile-schema.py [SCHEMA_DIR] [-o OUTPUT]
    python3 tools/gen-profile-schema.py --check      # exit 1 if stale

SCHEMA_DIR is a checkout of apple/device-management; the default is
../shared/apple-device-management relative to the repository root, and the
payload schemas are read from SCHEMA_DIR/mdm/profiles/*.yaml. OUTPUT
defaults to libmdm/profile/mdm_profile_schema.c. Needs PyYAML (Debian:
python3-yaml).

Follows tools/gen-command-schema.py: the generated file is committed, so
builds need neither Python nor the YAML; only facts are copied (payload
types, key names, types, presence, allowed values, ranges, formats,
repetition, supportedOS rules), none of Apple's prose. Payload types are
sorted (the C side binary-searches them), keys keep their YAML order, so an
unchanged schema regenerates to identical bytes.

Two things the YAML does that the command YAML does not:

- Key lists are shared through YAML anchors, and some are recursive (a Home
  Screen folder holds pages of icons that may be folders). A list is
  emitted once and every reference points at the same run of keys, so the
  tree becomes a graph with cycles; the C walk bounds its depth.
- Several files describe one PayloadType (com.apple.MCX in six files, one
  per area; com.apple.extensiblesso and its Kerberos variant). Their keys
  are merged; a key that two files define differently keeps only its type
  (its nested rules depend on which variant the profile is, which the YAML
  does not say), or becomes <any> if even the types differ.

TopLevel.yaml (the profile itself) and CommonPayloadKeys.yaml (the keys
every payload has) are emitted as two separate schemas, not payload types.
"""

import argparse
import glob
import os
import re
import sys

import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SCHEMA = os.path.join("..", "shared", "apple-device-management")
DEFAULT_OUTPUT = os.path.join("libmdm", "profile", "mdm_profile_schema.c")
PROFILES_SUBDIR = "mdm/profiles"

OS_NAMES = ["iOS", "macOS", "tvOS", "visionOS", "watchOS"]
OS_FLAGS = ["multiple", "supervised", "devicechannel", "userchannel",
            "requiresdep", "userapprovedmdm"]
MODES = {None: "-1", "allowed": "MDM_PROFILE_MODE_ALLOWED",
         "required": "MDM_PROFILE_MODE_REQUIRED",
         "forbidden": "MDM_PROFILE_MODE_FORBIDDEN",
         "ignored": "MDM_PROFILE_MODE_IGNORED"}
SPECIAL = {"TopLevel": "toplevel", "CommonPayloadKeys": "common"}

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


def c_double(v):
    return repr(float(v))


def tristate(entry, flag):
    v = entry.get(flag)
    if v is None:
        return "-1"
    if not isinstance(v, bool):
        sys.exit("flag %s is %r, not a boolean" % (flag, v))
    return "1" if v else "0"


def version(entry, name):
    v = entry.get(name)
    return "NULL" if v is None else c_string(str(v))


def mode(entry, where):
    m = (entry or {}).get("mode")
    if m not in MODES:
        sys.exit("%s: mode %r" % (where, m))
    return MODES[m]


def overlay(base, over):
    """A key's supportedOS over its payload's, OS by OS, field by field."""
    out = {}
    for name in OS_NAMES:
        entry = dict((base or {}).get(name) or {})
        for k, v in ((over or {}).get(name) or {}).items():
            if isinstance(v, dict) and isinstance(entry.get(k), dict):
                merged = dict(entry[k])
                merged.update(v)
                entry[k] = merged
            else:
                entry[k] = v
        out[name] = entry
    return out


class Tables:
    """Flat key, value and OS-rule arrays; a list's keys are contiguous."""

    def __init__(self):
        self.keys = []
        self.values = []
        self.os_rows = []
        self.os_index = {}
        self.lists = {}

    def os_row(self, supported, where):
        cells = []
        for name in OS_NAMES:
            e = supported.get(name) or {}
            cells.append("{ %s, %s, %s, %s, %s, %s }" % (
                version(e, "introduced"), version(e, "removed"),
                ", ".join(tristate(e, f) for f in OS_FLAGS),
                mode(e.get("userenrollment"), where),
                mode(e.get("sharedipad"), where),
                tristate(e.get("sharedipad") or {}, "userchannel")))
        row = tuple(cells)
        if row not in self.os_index:
            self.os_index[row] = len(self.os_rows)
            self.os_rows.append(row)
        return self.os_index[row]

    def add_key_list(self, yaml_keys, where, payload_os):
        """The run of a list, reserved before its children are filled in
        so that a list that contains itself points back at its own run."""
        memo = self.lists.get(id(yaml_keys))
        if memo is not None:
            return memo
        first = len(self.keys)
        self.lists[id(yaml_keys)] = (first, len(yaml_keys))
        self.keys.extend([None] * len(yaml_keys))
        for i, k in enumerate(yaml_keys):
            self.keys[first + i] = self.make_key(k, where, payload_os)
        return first, len(yaml_keys)

    def make_key(self, k, where, payload_os):
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
        has_range, rmin, rmax = self.range_of(k, where)
        rep = k.get("repetition") or {}
        os_ref = 0
        if k.get("supportedOS"):
            os_ref = 1 + self.os_row(overlay(payload_os, k["supportedOS"]),
                                     where + "/" + name)
        if k.get("loose"):
            subs = []
        subs_first, subs_n = (self.add_key_list(subs, where + "/" + name,
                                                payload_os)
                              if subs else (0, 0))
        fmt = k.get("format")
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
            "format": c_string(fmt) if isinstance(fmt, str) else "NULL",
            "repmin": int(rep.get("min", 0)),
            "repmax": int(rep.get("max", 0)),
            "os": os_ref,
        }

    def range_of(self, k, where):
        r = k.get("range")
        if r is None:
            return 0, 0, 0
        if k.get("type") not in ("<integer>", "<real>"):
            sys.exit("%s: range on a non-number key %s" % (where, k["key"]))
        rmin, rmax = r.get("min"), r.get("max")
        for v in (rmin, rmax):
            if v is not None and (isinstance(v, bool)
                                  or not isinstance(v, (int, float))):
                sys.exit("%s: range of %s is not numbers" % (where, k["key"]))
        # an open end is the widest a plist number can be
        return (1, -1.7976931348623157e308 if rmin is None else rmin,
                1.7976931348623157e308 if rmax is None else rmax)

    def add_values(self, rangelist, where):
        if not rangelist:
            return 0, 0
        first = len(self.values)
        for v in rangelist:
            if isinstance(v, bool):
                self.values.append("true" if v else "false")
            elif isinstance(v, float):
                self.values.append(repr(v))
            elif isinstance(v, (int, str)):
                self.values.append(str(v))
            else:
                sys.exit("%s: value %r is not a string or number" % (where, v))
        return first, len(rangelist)


def same_key(a, b):
    return yaml.safe_dump(a, sort_keys=True) == yaml.safe_dump(b, sort_keys=True)


def merge_keys(lists):
    """The union of several files' keys for one PayloadType (see above)."""
    out, by_name = [], {}
    for keys in lists:
        for k in keys:
            prev = by_name.get(k["key"])
            if prev is None:
                by_name[k["key"]] = dict(k)
                out.append(by_name[k["key"]])
            elif not same_key({x: v for x, v in prev.items() if x != "loose"},
                              k):
                if prev["type"] != k["type"]:
                    prev["type"] = "<any>"
                prev["loose"] = True
                prev["presence"] = "optional"
                for x in ("rangelist", "range", "format", "repetition"):
                    prev.pop(x, None)
    return out


def load_profiles(profiles_dir):
    files = sorted(glob.glob(os.path.join(profiles_dir, "*.yaml")))
    if not files:
        sys.exit("no YAML files in %s" % profiles_dir)
    by_type, special = {}, {}
    for path in files:
        rel = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        payload = doc.get("payload") or {}
        ptype = payload.get("payloadtype")
        if not isinstance(ptype, str) or not ptype:
            sys.exit("%s: no payload.payloadtype" % rel)
        entry = {"file": rel, "type": ptype,
                 "supported": payload.get("supportedOS") or {},
                 "keys": doc.get("payloadkeys") or []}
        if ptype in SPECIAL:
            special[SPECIAL[ptype]] = entry
        else:
            by_type.setdefault(ptype, []).append(entry)
    for name in SPECIAL.values():
        if name not in special:
            sys.exit("%s/: no %s schema" % (profiles_dir, name))
    types = []
    for ptype in sorted(by_type):
        group = by_type[ptype]
        keys = (group[0]["keys"] if len(group) == 1
                else merge_keys([g["keys"] for g in group]))
        types.append({"file": group[0]["file"], "files": len(group),
                      "type": ptype, "supported": group[0]["supported"],
                      "keys": keys})
    return types, special


def upstream_commit(schema_dir):
    try:
        with open(os.path.join(schema_dir, "SOURCE.md"), encoding="utf-8") as f:
            m = re.search(r"\bcommit ([0-9a-f]{40})\b", f.read())
    except OSError:
        return None
    return m.group(1) if m else None


def schema_row(tables, entry):
    os_ref = tables.os_row(entry["supported"], entry["file"])
    first, n = (tables.add_key_list(entry["keys"], entry["file"],
                                    entry["supported"])
                if entry["keys"] else (0, 0))
    return "{ %s, %s, %d, %d, %d }" % (c_string(entry["type"]),
                                       c_string(entry["file"]), os_ref,
                                       first if n else 0, n)


def render(types, special, commit):
    tables = Tables()
    top = schema_row(tables, special["toplevel"])
    common = schema_row(tables, special["common"])
    rows = [schema_row(tables, t) for t in types]
    nfiles = sum(t["files"] for t in types) + len(special)

    out = []
    w = out.append
    w("/*")
    w(" * GENERATED FILE, DO NOT EDIT.")
    w(" *")
    w(" * Generated by: python3 tools/gen-profile-schema.py")
    w(" * From: apple-device-management/%s (%d files, %d payload types)"
      % (PROFILES_SUBDIR, nfiles, len(types)))
    if commit:
        w(" * Upstream: apple/device-management commit %s" % commit)
    w(" *")
    w(" * Facts only (names, types, presence, allowed values, ranges, formats,")
    w(" * supportedOS); see docs/profiles.md for how to regenerate and check it.")
    w(" */")
    w("")
    w('#include "profile/mdm_profile_schema.h"')
    w("")
    w("")
    w("const char *const mdm_profile_values[] = {")
    for i, v in enumerate(tables.values):
        w("    /* %4d */ %s," % (i, c_string(v)))
    w("    NULL")
    w("};")
    w("")
    w("const size_t mdm_profile_nvalues = %d;" % len(tables.values))
    w("")
    w("")
    w("/*")
    w(" * Per OS (%s): introduced, removed, multiple," % ", ".join(OS_NAMES))
    w(" * supervised, device channel, user channel, requires DEP, user-approved")
    w(" * MDM, user enrollment mode, Shared iPad mode, Shared iPad user channel")
    w(" */")
    w("const mdm_profile_os_t mdm_profile_os_rules[][MDM_OS_COUNT] = {")
    for i, row in enumerate(tables.os_rows):
        w("    /* %4d */ {" % i)
        for cell in row:
            w("        %s," % cell)
        w("    },")
    w("};")
    w("")
    w("const size_t mdm_profile_nos_rules = %d;" % len(tables.os_rows))
    w("")
    w("")
    w("/*")
    w(" * name, type, required, has range, min, max, subkeys, nsubkeys,")
    w(" * values, nvalues, format, repetition min, max, OS rules (1 + index)")
    w(" */")
    w("const mdm_profile_key_t mdm_profile_keys[] = {")
    for i, k in enumerate(tables.keys):
        w("    /* %4d */ { %s, %s, %d, %d, %s, %s, %d, %d, %d, %d, %s, %d, %d, %d },"
          % (i, c_string(k["name"]), k["type"], k["required"], k["range"],
             c_double(k["min"]), c_double(k["max"]), k["subkeys"],
             k["nsubkeys"], k["values"], k["nvalues"], k["format"],
             k["repmin"], k["repmax"], k["os"]))
    w("    { NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, 0, 0, 0 }")
    w("};")
    w("")
    w("const size_t mdm_profile_nkeys = %d;" % len(tables.keys))
    w("")
    w("")
    w("/* PayloadType, first YAML file, OS rules, keys, nkeys */")
    w("const mdm_profile_schema_t mdm_profile_toplevel = %s;" % top)
    w("const mdm_profile_schema_t mdm_profile_common = %s;" % common)
    w("")
    w("/* Sorted by PayloadType */")
    w("const mdm_profile_schema_t mdm_profile_schemas[] = {")
    for r in rows:
        w("    %s," % r)
    w("    { NULL, NULL, 0, 0, 0 }")
    w("};")
    w("")
    w("const size_t mdm_profile_nschemas = %d;" % len(rows))
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
    types, special = load_profiles(os.path.join(schema_dir, PROFILES_SUBDIR))
    text = render(types, special, upstream_commit(schema_dir))

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
