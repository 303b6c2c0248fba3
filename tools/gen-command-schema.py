#!/usr/bin/env python3
"""Generate libmdm/mdm_command_schema.c from Apple's MDM command YAML.

Usage (from the repository root):

    python3 tools/gen-command-schema.py [SCHEMA_DIR] [-o OUTPUT]
    python3 tools/gen-command-schema.py --check      # exit 1 if stale

SCHEMA_DIR is a checkout of apple/device-management; the default is
../shared/apple-device-management relative to the repository root, and the
commands are read from SCHEMA_DIR/mdm/commands/*.yaml. OUTPUT defaults to
libmdm/mdm_command_schema.c. Needs PyYAML (Debian: python3-yaml).

The generated file is committed, so builds and CI need neither Python nor
the YAML. Only facts are copied (names, types, presence, allowed values,
supported OS versions and channel flags), none of Apple's prose. The output
depends only on the YAML content: files are read in sorted order, commands
are sorted by RequestType (the C side binary-searches them) and keys keep
their YAML order, so regenerating an unchanged schema gives identical bytes.
"""

import argparse
import glob
import os
import re
import sys

import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SCHEMA = os.path.join("..", "shared", "apple-device-management")
DEFAULT_OUTPUT = os.path.join("libmdm", "mdm_command_schema.c")
COMMANDS_SUBDIR = "mdm/commands"

OS_NAMES = ["iOS", "macOS", "tvOS", "visionOS", "watchOS"]
OS_FLAGS = ["devicechannel", "userchannel", "supervised", "requiresdep"]

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
        """Reserve a contiguous run for yaml_keys, then fill in children.

        Returns (first index, count). Children are laid out after the whole
        run so that a dict's subkeys stay adjacent to one another.
        """
        first = len(self.keys)
        for k in yaml_keys:
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
        values_first, values_n = self.add_values(k.get("rangelist"), where)
        subs = k.get("subkeys") or []
        subs_first, subs_n = self.add_key_list(subs, where + "/" + name)
        return {
            "name": name,
            "type": TYPE_ENUM[ktype],
            "required": presence == "required",
            "subkeys": subs_first if subs_n else 0,
            "nsubkeys": subs_n,
            "values": values_first if values_n else 0,
            "nvalues": values_n,
        }

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
                sys.exit("%s: rangelist value %r is not a string or integer"
                         % (where, v))
        return first, len(rangelist)


def tristate(os_entry, flag):
    v = os_entry.get(flag)
    if v is None:
        return "-1"
    if not isinstance(v, bool):
        sys.exit("flag %s is %r, not a boolean" % (flag, v))
    return "1" if v else "0"


def os_row(supported, name):
    entry = supported.get(name) or {}
    introduced = entry.get("introduced")
    if introduced is None or introduced == "n/a":
        version = "NULL"
    else:
        version = c_string(str(introduced))
    flags = ", ".join(tristate(entry, f) for f in OS_FLAGS)
    return "{ %s, %s }" % (version, flags)


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


def load_commands(commands_dir):
    files = sorted(glob.glob(os.path.join(commands_dir, "*.yaml")))
    if not files:
        sys.exit("no YAML files in %s" % commands_dir)
    commands = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        payload = doc.get("payload") or {}
        request_type = payload.get("requesttype")
        if not request_type:
            sys.exit("%s: no payload.requesttype" % path)
        commands.append({
            "file": os.path.basename(path),
            "request_type": request_type,
            "supported": payload.get("supportedOS") or {},
            "keys": doc.get("payloadkeys") or [],
        })
    commands.sort(key=lambda c: c["request_type"])
    for a, b in zip(commands, commands[1:]):
        if a["request_type"] == b["request_type"]:
            sys.exit("RequestType %s defined twice" % a["request_type"])
    return commands


def upstream_commit(schema_dir):
    """The upstream commit named in SOURCE.md, when the snapshot has one."""
    try:
        with open(os.path.join(schema_dir, "SOURCE.md"), encoding="utf-8") as f:
            m = re.search(r"\bcommit ([0-9a-f]{40})\b", f.read())
    except OSError:
        return None
    return m.group(1) if m else None


def render(commands, commit):
    tables = Tables()
    rows = []
    for c in commands:
        first, n = tables.add_key_list(c["keys"], c["file"])
        rows.append((c, first if n else 0, n))

    out = []
    w = out.append
    w("/*")
    w(" * GENERATED FILE, DO NOT EDIT.")
    w(" *")
    w(" * Generated by: python3 tools/gen-command-schema.py")
    w(" * From: apple-device-management/%s (%d YAML files)"
      % (COMMANDS_SUBDIR, len(commands)))
    if commit:
        w(" * Upstream: apple/device-management commit %s" % commit)
    w(" *")
    w(" * Facts only (names, types, presence, allowed values, OS support);")
    w(" * see docs/commands.md for how to regenerate and check this file.")
    w(" */")
    w("")
    w('#include "mdm_command_schema.h"')
    w("")
    w("")
    w("const char *const mdm_command_os_names[MDM_OS_COUNT] = {")
    w("    " + ", ".join(c_string(n) for n in OS_NAMES))
    w("};")
    w("")
    w("")
    w("const char *const mdm_command_values[] = {")
    for i, v in enumerate(tables.values):
        w("    /* %4d */ %s," % (i, c_string(v)))
    w("    NULL")
    w("};")
    w("")
    w("const size_t mdm_command_nvalues = %d;" % len(tables.values))
    w("")
    w("")
    w("/* name, type, required, subkeys, nsubkeys, values, nvalues */")
    w("const mdm_command_key_t mdm_command_keys[] = {")
    for i, k in enumerate(tables.keys):
        w("    /* %4d */ { %s, %s, %d, %d, %d, %d, %d },"
          % (i, c_string(k["name"]), k["type"], k["required"],
             k["subkeys"], k["nsubkeys"], k["values"], k["nvalues"]))
    w("    { NULL, 0, 0, 0, 0, 0, 0 }")
    w("};")
    w("")
    w("const size_t mdm_command_nkeys = %d;" % len(tables.keys))
    w("")
    w("")
    w("/*")
    w(" * Sorted by RequestType. Per OS: minimum version (NULL: unsupported),")
    w(" * then devicechannel, userchannel, supervised, requiresdep")
    w(" * (1 true, 0 false, -1 not stated).")
    w(" */")
    w("const mdm_command_schema_t mdm_command_schemas[] = {")
    for c, first, n in rows:
        w("    { %s, %s," % (c_string(c["request_type"]), c_string(c["file"])))
        w("      {")
        for name in OS_NAMES:
            w("        %s, /* %s */" % (os_row(c["supported"], name), name))
        w("      },")
        w("      %d, %d }," % (first, n))
    w("    { NULL, NULL, { { NULL, 0, 0, 0, 0 } }, 0, 0 }")
    w("};")
    w("")
    w("const size_t mdm_command_nschemas = %d;" % len(rows))
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
    commands = load_commands(os.path.join(schema_dir, COMMANDS_SUBDIR))
    text = render(commands, upstream_commit(schema_dir))

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
