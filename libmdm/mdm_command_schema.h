#ifndef MDM_COMMAND_SCHEMA_H
#define MDM_COMMAND_SCHEMA_H

/*
 * The MDM command tables generated from Apple's device-management YAML
 * (one file per command in mdm/commands) by tools/gen-command-schema.py into
 * mdm_command_schema.c. Every table is static const data; the tables end
 * with a NULL-named sentinel and their lengths are exported as well.
 *
 * Keys form a tree stored flat: a key's children are the nsubkeys entries
 * of mdm_command_keys starting at index subkeys, in YAML order. For a dict
 * the children are its keys; a child named MDM_KEY_WILDCARD stands for any
 * key not otherwise listed. For an array the children are the allowed
 * element forms (their names are Apple's labels, never sent); more than
 * one form means one of several dicts, told apart by a string key with a
 * single allowed value (Settings' "Item"). Allowed values (Apple's
 * rangelist) are strings, integers written in decimal.
 */

#include <stddef.h>

typedef struct mdm_command_schema_s  mdm_command_schema_t;

/* Finds a command by RequestType; NULL if the schema has none. */
const mdm_command_schema_t *mdm_command_schema_find(const char *request_type);

/* Apple's name for a key type ("string", "dictionary", ...). */
const char *mdm_command_key_type_name(unsigned type);


#define MDM_KEY_WILDCARD  "ANY"

typedef enum {
    MDM_KEY_STRING = 0,
    MDM_KEY_INTEGER,
    MDM_KEY_REAL,
    MDM_KEY_BOOLEAN,
    MDM_KEY_DATA,
    MDM_KEY_DATE,
    MDM_KEY_ARRAY,
    MDM_KEY_DICT,
    MDM_KEY_ANY
} mdm_command_key_type_e;

typedef enum {
    MDM_OS_IOS = 0,
    MDM_OS_MACOS,
    MDM_OS_TVOS,
    MDM_OS_VISIONOS,
    MDM_OS_WATCHOS,
    MDM_OS_COUNT
} mdm_command_os_e;

/* Flags are 1 (true), 0 (false) or -1 (the schema does not say). */
typedef struct {
    const char     *introduced;         /* minimum version, NULL: none */
    signed char     device_channel;
    signed char     user_channel;
    signed char     supervised;
    signed char     requires_dep;
} mdm_command_os_t;

typedef struct {
    const char     *name;
    unsigned char   type;               /* mdm_command_key_type_e */
    unsigned char   required;
    unsigned short  subkeys;
    unsigned short  nsubkeys;
    unsigned short  values;             /* index into mdm_command_values */
    unsigned short  nvalues;
} mdm_command_key_t;

struct mdm_command_schema_s {
    const char         *request_type;
    const char         *file;           /* YAML file it came from */
    mdm_command_os_t    os[MDM_OS_COUNT];
    unsigned short      keys;           /* top-level payload keys */
    unsigned short      nkeys;
};

extern const mdm_command_schema_t  mdm_command_schemas[];
extern const size_t                mdm_command_nschemas;
extern const mdm_command_key_t     mdm_command_keys[];
extern const size_t                mdm_command_nkeys;
extern const char *const           mdm_command_values[];
extern const size_t                mdm_command_nvalues;
extern const char *const           mdm_command_os_names[MDM_OS_COUNT];

#endif
