#ifndef MDM_DDM_STATUS_H
#define MDM_DDM_STATUS_H

/*
 * A device's status report (the `status` endpoint's Data; protocol.md
 * §6.3, services.md §1.5) taken apart for storage:
 *
 * - full_report: FullReport was true, the report replaces everything
 *   stored for the enrollment; otherwise only what it names changed.
 * - declarations: StatusItems.management.declarations, one entry per
 *   reported declaration (identifier, server-token, active, valid,
 *   reasons).
 * - values: every other status item flattened to its dotted path
 *   ("device.operating-system.version") with the value as compact JSON
 *   ("\"13.3.1\""). An array whose elements all carry an "identifier"
 *   (app.managed.list, security.certificate.list, account.list.*) is keyed
 *   by it: one value per element at "<path>[<identifier>]", and an element
 *   {"identifier": …, "_removed": true} is a removed entry (value NULL).
 *   Other arrays, empty arrays and empty dictionaries are one value.
 * - errors: the top-level Errors (StatusItem and its Reasons).
 *
 * Everything is bounded (size, depth, path length, counts); a report
 * that is not JSON, or whose known members have the wrong shape, is refused
 * with a code and err naming the path, and nothing is returned.
 */

#include <stddef.h>

#include <jansson.h>

#include "ddm/mdm_ddm.h"

#define MDM_DDM_STATUS_DECLS_MAX    4096
#define MDM_DDM_STATUS_VALUES_MAX   8192
#define MDM_DDM_STATUS_ERRORS_MAX   1024

typedef enum {
    MDM_DDM_STATUS_OK = 0,
    MDM_DDM_STATUS_TOO_LARGE,     /* over the size limit */
    MDM_DDM_STATUS_NOT_JSON,      /* does not parse, or not an object */
    MDM_DDM_STATUS_SHAPE,         /* a known member has the wrong shape */
    MDM_DDM_STATUS_TOO_MANY,      /* too deep, too long a path, too many */
    MDM_DDM_STATUS_NOMEM
} mdm_ddm_status_rc_e;

typedef enum {
    MDM_DDM_VALID_ABSENT = 0,
    MDM_DDM_VALID_UNKNOWN,
    MDM_DDM_VALID_INVALID,
    MDM_DDM_VALID_VALID
} mdm_ddm_valid_e;

typedef struct {
    mdm_ddm_kind_e     kind;
    const char        *identifier;      /* borrowed from root */
    const char        *server_token;    /* NULL when not reported */
    int                active;          /* 1, 0, or -1 when not reported */
    mdm_ddm_valid_e    valid;
    const char        *valid_text;      /* as sent; NULL when absent */
    json_t            *reasons;         /* borrowed array, or NULL */
    int                removed;         /* "_removed": true */
    int                is_error;        /* inactive and not valid */
} mdm_ddm_decl_status_t;

typedef struct {
    char              *path;
    char              *value;           /* compact JSON; NULL: removed */
} mdm_ddm_status_value_t;

typedef struct {
    const char        *status_item;     /* borrowed from root */
    json_t            *reasons;         /* borrowed array, or NULL */
} mdm_ddm_status_error_t;

typedef struct {
    json_t                  *root;
    int                      full_report;

    mdm_ddm_decl_status_t   *declarations;
    size_t                   ndeclarations;

    mdm_ddm_status_value_t  *values;
    size_t                   nvalues;
    size_t                   values_cap;

    mdm_ddm_status_error_t  *errors;
    size_t                   nerrors;
} mdm_ddm_status_t;

/*
 * Parses a status report of len bytes, refused above max_len (0:
 * MDM_DDM_STATUS_MAX). MDM_DDM_STATUS_OK with *st filled (free with
 * mdm_ddm_status_free()), or another code with err filled and *st empty.
 */
mdm_ddm_status_rc_e mdm_ddm_status_parse(const char *json, size_t len,
    size_t max_len, mdm_ddm_status_t *st, mdm_ddm_error_t *err);

/* "ok", "too-large", "not-json", "shape", "too-many", "no-memory" */
const char *mdm_ddm_status_rc_name(mdm_ddm_status_rc_e rc);

/* "unknown", "invalid", "valid", "" (absent) */
const char *mdm_ddm_valid_name(mdm_ddm_valid_e valid);

void mdm_ddm_status_free(mdm_ddm_status_t *st);

#endif
