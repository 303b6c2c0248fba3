#ifndef MDM_CHECKIN_H
#define MDM_CHECKIN_H

/*
 * Decoding of check-in messages (protocol.md §2). A decoded check-in owns
 * its plist tree: every string, data and dict pointer in it points into that
 * tree and stays valid until mdm_checkin_free(). Unknown keys are ignored.
 */

#include "mdm_enrollment.h"
#include "mdm_plist.h"

typedef enum {
    MDM_CHECKIN_UNKNOWN = 0,
    MDM_CHECKIN_AUTHENTICATE,
    MDM_CHECKIN_TOKEN_UPDATE,
    MDM_CHECKIN_CHECK_OUT,
    MDM_CHECKIN_USER_AUTHENTICATE,
    MDM_CHECKIN_SET_BOOTSTRAP_TOKEN,
    MDM_CHECKIN_GET_BOOTSTRAP_TOKEN,
    MDM_CHECKIN_DECLARATIVE_MANAGEMENT,
    MDM_CHECKIN_GET_TOKEN,
    MDM_CHECKIN_RETURN_TO_SERVICE
} mdm_checkin_type_e;

/*
 * Absent optional keys are NULL, zero-length bytes with a NULL data
 * pointer, or 0 for booleans (their documented default).
 */
typedef struct {
    plist_t                 root;
    mdm_checkin_type_e      type;
    const char             *message_type;
    mdm_enrollment_keys_t   id_keys;
    mdm_enrollment_t        enrollment;

    const char             *topic;

    /* TokenUpdate */
    mdm_bytes_t             token;
    const char             *push_magic;
    mdm_bytes_t             unlock_token;
    int                     awaiting_configuration;
    int                     not_on_console;

    /* UserAuthenticate: absent in the first of the two requests */
    const char             *digest_response;

    /* SetBootstrapToken: absent or empty means "delete the stored one" */
    mdm_bytes_t             bootstrap_token;

    /* DeclarativeManagement */
    const char             *endpoint;
    mdm_bytes_t             data;

    /* GetToken */
    const char             *token_service_type;
    plist_t                 token_parameters;

    /* Authenticate device facts */
    const char             *serial_number;
    const char             *model;
    const char             *model_name;
    const char             *product_name;
    const char             *os_version;
    const char             *build_version;
    const char             *device_name;
    const char             *imei;
    const char             *meid;
} mdm_checkin_t;

/* Decodes a check-in body; on MDM_OK free with mdm_checkin_free(). */
int mdm_checkin_decode(const char *body, size_t len, size_t max_len,
    mdm_checkin_t *ci, mdm_err_t *err);

/* Frees the tree of a decoded check-in; safe on a zeroed or freed one. */
void mdm_checkin_free(mdm_checkin_t *ci);

/* The MessageType string of a type, e.g. "TokenUpdate". */
const char *mdm_checkin_type_name(mdm_checkin_type_e type);

#endif
