#ifndef MDM_SCRIPT_H
#define MDM_SCRIPT_H

/*
 * Redis Lua scripts. The sources live in libmdm/lua/ and are embedded at
 * build time (tools/embed-lua.sh); every process loads them with SCRIPT LOAD
 * on each new Redis connection and calls them with EVALSHA.
 */

#include <stddef.h>

typedef struct {
    const char *name;
    const char *src;
    size_t      len;
} mdm_script_t;

#define MDM_SHA1_HEX_LEN 40

/* NULL-terminated table generated from libmdm/lua/. */
extern const mdm_script_t mdm_scripts[];

/* The script named `name` (file name without .lua), or NULL. */
const mdm_script_t *mdm_script_find(const char *name);

/* Lowercase hex SHA-1 of the script source, as EVALSHA wants it. */
void mdm_script_sha1_hex(const mdm_script_t *s,
                         char out[MDM_SHA1_HEX_LEN + 1]);

#endif
