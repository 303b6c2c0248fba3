#!/bin/sh
# Writes what is generated from libmdm/mdm_schema.c's key table into the tree
# (the Lua key helpers, the Perl tests' keys, the table of
# docs/redis-schema.md between its "schema:keys" markers), or with --check
# says which of them differ from what the table makes, and fails.
# Usage: gen-schema.sh [--check] <mdm-schema binary>
set -eu
check=
if [ "$1" = --check ]; then check=1; shift; fi
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin" --lua > "$tmp/keys.lua"
"$bin" --perl > "$tmp/Keys.pm"
"$bin" --docs > "$tmp/table.md"
awk -v table="$tmp/table.md" '
    /^<!-- schema:keys -->$/ {
        print; while ((getline line < table) > 0) print line
        skip = 1; next
    }
    /^<!-- \/schema:keys -->$/ { skip = 0 }
    !skip { print }' docs/redis-schema.md > "$tmp/redis-schema.md"

status=0
for pair in "keys.lua libmdm/lua/lib/keys.lua" "Keys.pm t/lib/MDM/Keys.pm" \
            "redis-schema.md docs/redis-schema.md"; do
    set -- $pair
    if [ -n "$check" ]; then
        if ! cmp -s "$tmp/$1" "$2"; then
            echo "$2 is not what libmdm/mdm_schema.c makes (run make schema):"
            diff -u "$2" "$tmp/$1" | head -20 || true
            status=1
        fi
    else
        cmp -s "$tmp/$1" "$2" || cp "$tmp/$1" "$2"
    fi
done
exit $status
