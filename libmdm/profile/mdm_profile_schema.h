#ifndef MDM_PROFILE_SCHEMA_H
#define MDM_PROFILE_SCHEMA_H

/*
 * The configuration profile tables generated from Apple's device-management
 * YAML (one file per payload type in mdm/profiles) by tools/gen-profile-schema.py into
 * mdm_profile_schema.c. Static const data; the arrays end with a NULL-named
 * sentinel and their lengths are exported as well.
 *
 * The layout is the command tables' (mdm_command_schema.h) and shares their
 * key type and OS enums: keys are stored flat, a key's children are the
 * nsubkeys entries of mdm_profile_keys from subkeys, in YAML order; a child
 * named MDM_KEY_WILDCARD stands for any key not otherwise listed; an array
 * has one child, the form of its elements. Unlike the command tables the
 * keys form a graph: lists shared through YAML anchors are stored once, and
 * some are recursive (Home Screen folders), so a walk must bound its depth.
 *
 * Allowed values (Apple's rangelist) are strings; integers and reals in
 * decimal, booleans "true"/"false". Ranges hold for integers and reals.
 * format is a POSIX extended regular expression a string must match;
 * repetition bounds an array's element count (0: no bound).
 */

#include <stddef.h>

#include "mdm_command_schema.h"

/* userenrollment.mode, sharedipad.mode; -1 when the YAML does not say */
typedef enum {
    MDM_PROFILE_MODE_ALLOWED = 0,
    MDM_PROFILE_MODE_REQUIRED,
    MDM_PROFILE_MODE_FORBIDDEN,
    MDM_PROFILE_MODE_IGNORED
} mdm_profile_mode_e;

/* One OS's supportedOS rules; flags 1, 0 or -1 (not said). */
typedef struct {
    const char     *introduced;         /* "n/a": not on this OS; NULL */
    const char     *removed;            /* NULL: still there */
    signed char     multiple;           /* more than one such payload */
    signed char     supervised;         /* requires supervision */
    signed char     device_channel;
    signed char     user_channel;
    signed char     requires_dep;
    signed char     user_approved;
    signed char     user_enrollment;    /* mdm_profile_mode_e or -1 */
    signed char     shared_ipad;        /* mdm_profile_mode_e or -1 */
    signed char     shared_ipad_user;   /* Shared iPad user channel */
} mdm_profile_os_t;

typedef struct {
    const char     *name;
    unsigned char   type;               /* mdm_command_key_type_e */
    unsigned char   required;
    unsigned char   has_range;
    double          min;
    double          max;
    unsigned short  subkeys;
    unsigned short  nsubkeys;
    unsigned short  values;             /* index into mdm_profile_values */
    unsigned short  nvalues;
    const char     *format;             /* ERE, or NULL */
    unsigned short  rep_min;
    unsigned short  rep_max;
    unsigned short  os;                 /* 1 + row of mdm_profile_os_rules
                                           (the payload's rules overlaid
                                           with the key's), 0: the payload's */
} mdm_profile_key_t;

typedef struct {
    const char     *type;               /* "com.apple.wifi.managed" */
    const char     *file;               /* the (first) YAML file */
    unsigned short  os;                 /* row of mdm_profile_os_rules */
    unsigned short  keys;
    unsigned short  nkeys;
} mdm_profile_schema_t;

/* Finds a PayloadType; NULL if the schema has none. */
const mdm_profile_schema_t *mdm_profile_schema_find(const char *type);

extern const mdm_profile_schema_t  mdm_profile_toplevel;
extern const mdm_profile_schema_t  mdm_profile_common;
extern const mdm_profile_schema_t  mdm_profile_schemas[];
extern const size_t                mdm_profile_nschemas;
extern const mdm_profile_key_t     mdm_profile_keys[];
extern const size_t                mdm_profile_nkeys;
extern const mdm_profile_os_t      mdm_profile_os_rules[][MDM_OS_COUNT];
extern const size_t                mdm_profile_nos_rules;
extern const char *const           mdm_profile_values[];
extern const size_t                mdm_profile_nvalues;

#endif
