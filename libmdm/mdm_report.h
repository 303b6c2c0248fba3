#ifndef MDM_REPORT_H
#define MDM_REPORT_H

/*
 * Decoding of the device's command reports to the server URL (protocol.md
 * §3.1). A decoded report owns its plist tree: its pointers, including the
 * command-specific result keys reached through root, stay valid until
 * mdm_report_free().
 */

#include "mdm_enrollment.h"
#include "mdm_plist.h"

typedef enum {
    MDM_STATUS_UNKNOWN = 0,
    MDM_STATUS_IDLE,
    MDM_STATUS_ACKNOWLEDGED,
    MDM_STATUS_ERROR,
    MDM_STATUS_COMMAND_FORMAT_ERROR,
    MDM_STATUS_NOT_NOW
} mdm_status_e;

typedef struct {
    plist_t                root;
    mdm_status_e           status;
    const char            *status_name;
    /* NULL only with Idle */
    const char            *command_uuid;
    mdm_enrollment_keys_t  id_keys;
    mdm_enrollment_t       enrollment;
    /* the ErrorChain array, NULL if absent */
    plist_t                error_chain;
    /* undocumented, sent by real devices; NULL if absent */
    const char            *request_type;
} mdm_report_t;

/* Decodes a report body; on MDM_OK free with mdm_report_free(). */
int mdm_report_decode(const char *body, size_t len, size_t max_len,
    mdm_report_t *rep, mdm_err_t *err);

/* Frees the tree of a decoded report; safe on a zeroed or freed one. */
void mdm_report_free(mdm_report_t *rep);

/* The Status string of a status, e.g. "NotNow". */
const char *mdm_status_name(mdm_status_e status);

#endif
