#ifndef MDM_ENROLLMENT_H
#define MDM_ENROLLMENT_H

/*
 * Which enrollment a check-in or command report belongs to (protocol.md
 * §2.2). Exactly one of UDID / EnrollmentID identifies the device, UDID
 * preferred; user channels append the user to it. The resolved ID names
 * Redis keys (`mdm:{<id>}:...`), so it is refused if it could break them.
 */

#include "mdm_plist.h"

#define MDM_ENROLLMENT_ID_MAX  256

/* "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF": a Shared iPad user's UserID */
#define MDM_SHARED_IPAD_USER_ID  "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"

typedef enum {
    MDM_ENROLLMENT_DEVICE = 1,
    MDM_ENROLLMENT_USER_ENROLLMENT_DEVICE,
    MDM_ENROLLMENT_USER,
    MDM_ENROLLMENT_USER_ENROLLMENT,
    MDM_ENROLLMENT_SHARED_IPAD
} mdm_enrollment_type_e;

/* The identity keys as sent; NULL when absent; point into the plist. */
typedef struct {
    const char  *udid;
    const char  *enrollment_id;
    const char  *user_id;
    const char  *user_short_name;
    const char  *user_long_name;
    const char  *enrollment_user_id;
} mdm_enrollment_keys_t;

typedef struct {
    mdm_enrollment_type_e  type;
    char                   id[MDM_ENROLLMENT_ID_MAX + 1];
    /* the device channel's ID for a user channel, "" for a device channel */
    char                   parent[MDM_ENROLLMENT_ID_MAX + 1];
} mdm_enrollment_t;

/* Reads the identity keys of a message dict, each a string if present. */
int mdm_enrollment_keys_read(plist_t dict, mdm_enrollment_keys_t *keys,
    mdm_err_t *err);

/* Resolves the identity keys into an enrollment ID, type and parent. */
int mdm_enrollment_resolve(const mdm_enrollment_keys_t *keys,
    mdm_enrollment_t *enr, mdm_err_t *err);

/* NanoMDM's name of an enrollment type, e.g. "User Enrollment (Device)". */
const char *mdm_enrollment_type_name(mdm_enrollment_type_e type);

/* Refuses a value of key that is empty, over MDM_ENROLLMENT_ID_MAX bytes,
 * or holds a control character or a Redis hash tag brace. */
int mdm_id_check(const char *key, const char *val, mdm_err_t *err);

#endif
