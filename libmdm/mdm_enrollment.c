#include <stdio.h>
#include <string.h>

#include "mdm_enrollment.h"
#include "mdm_utf8.h"


static int mdm_enrollment_build(mdm_enrollment_t *enr,
    mdm_enrollment_type_e type, const char *device, const char *user,
    const char *user_key, mdm_err_t *err);


int
mdm_enrollment_keys_read(plist_t dict, mdm_enrollment_keys_t *keys,
    mdm_err_t *err)
{
    size_t  i;

    static const struct {
        const char  *key;
        size_t       offset;
    } fields[] = {
        { "UDID", offsetof(mdm_enrollment_keys_t, udid) },
        { "EnrollmentID", offsetof(mdm_enrollment_keys_t, enrollment_id) },
        { "UserID", offsetof(mdm_enrollment_keys_t, user_id) },
        { "UserShortName", offsetof(mdm_enrollment_keys_t, user_short_name) },
        { "UserLongName", offsetof(mdm_enrollment_keys_t, user_long_name) },
        { "EnrollmentUserID", offsetof(mdm_enrollment_keys_t,
                                         enrollment_user_id) },
    };

    memset(keys, 0, sizeof(mdm_enrollment_keys_t));

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (mdm_plist_get_string(dict, fields[i].key,
                                 (const char **) ((char *) keys
                                                  + fields[i].offset),
                                 err)
            == MDM_ERROR)
        {
            return MDM_ERROR;
        }
    }

    return MDM_OK;
}


int
mdm_enrollment_resolve(const mdm_enrollment_keys_t *keys,
    mdm_enrollment_t *enr, mdm_err_t *err)
{
    const char  *device, *device_key;

    /* a device that sends both is identified by its UDID (§2.2) */
    if (keys->udid != NULL) {
        device = keys->udid;
        device_key = "UDID";

    } else if (keys->enrollment_id != NULL) {
        device = keys->enrollment_id;
        device_key = "EnrollmentID";

    } else {
        return mdm_err_as(err, MDM_REFUSED_MISSING_KEY,
                          "neither UDID nor EnrollmentID identifies "
                          "the device");
    }

    if (mdm_id_check(device_key, device, err) != MDM_OK) {
        return MDM_ERROR;
    }

    /* the parent of a user channel is the part before the first ':' */
    if (strchr(device, ':') != NULL) {
        return mdm_err(err, "key %s must not contain ':'", device_key);
    }

    if (keys->udid == NULL) {
        if (keys->enrollment_user_id == NULL) {
            return mdm_enrollment_build(enr,
                                        MDM_ENROLLMENT_USER_ENROLLMENT_DEVICE,
                                        device, NULL, NULL, err);
        }

        return mdm_enrollment_build(enr, MDM_ENROLLMENT_USER_ENROLLMENT,
                                    device, keys->enrollment_user_id,
                                    "EnrollmentUserID", err);
    }

    if (keys->user_id == NULL) {
        return mdm_enrollment_build(enr, MDM_ENROLLMENT_DEVICE, device,
                                    NULL, NULL, err);
    }

    if (strcmp(keys->user_id, MDM_SHARED_IPAD_USER_ID) != 0) {
        return mdm_enrollment_build(enr, MDM_ENROLLMENT_USER, device,
                                    keys->user_id, "UserID", err);
    }

    /* every Shared iPad user has this UserID; only the short name tells
     * them apart, so without it all users would share one channel */
    if (keys->user_short_name == NULL) {
        return mdm_err(err, "Shared iPad UserID without UserShortName");
    }

    return mdm_enrollment_build(enr, MDM_ENROLLMENT_SHARED_IPAD, device,
                                keys->user_short_name, "UserShortName",
                                err);
}


static int
mdm_enrollment_build(mdm_enrollment_t *enr, mdm_enrollment_type_e type,
    const char *device, const char *user, const char *user_key,
    mdm_err_t *err)
{
    int  n;

    enr->type = type;

    if (user == NULL) {
        /* fits: the device part is checked against the same limit */
        snprintf(enr->id, sizeof(enr->id), "%s", device);
        enr->parent[0] = '\0';
        return MDM_OK;
    }

    if (mdm_id_check(user_key, user, err) != MDM_OK) {
        return MDM_ERROR;
    }

    n = snprintf(enr->id, sizeof(enr->id), "%s:%s", device, user);

    if (n < 0 || (size_t) n >= sizeof(enr->id)) {
        return mdm_err(err, "enrollment ID longer than %d bytes",
                       MDM_ENROLLMENT_ID_MAX);
    }

    snprintf(enr->parent, sizeof(enr->parent), "%s", device);

    return MDM_OK;
}


const char *
mdm_enrollment_type_name(mdm_enrollment_type_e type)
{
    switch (type) {
    case MDM_ENROLLMENT_DEVICE:
        return "Device";
    case MDM_ENROLLMENT_USER_ENROLLMENT_DEVICE:
        return "User Enrollment (Device)";
    case MDM_ENROLLMENT_USER:
        return "User";
    case MDM_ENROLLMENT_USER_ENROLLMENT:
        return "User Enrollment";
    case MDM_ENROLLMENT_SHARED_IPAD:
        return "Shared iPad";
    }

    return "unknown";
}


int
mdm_id_check(const char *key, const char *val, mdm_err_t *err)
{
    size_t               len;
    const unsigned char  *p;

    len = strlen(val);

    if (len == 0) {
        return mdm_err(err, "key %s must not be empty", key);
    }

    if (len > MDM_ENROLLMENT_ID_MAX) {
        return mdm_err(err, "key %s is longer than %d bytes", key,
                       MDM_ENROLLMENT_ID_MAX);
    }

    for (p = (const unsigned char *) val; *p != '\0'; p++) {
        /* braces would end or open a Redis Cluster hash tag */
        if (*p < 0x20 || *p == 0x7F || *p == '{' || *p == '}') {
            return mdm_err(err, "key %s contains a forbidden character "
                           "0x%02X", key, *p);
        }
    }

    /* IDs are echoed in JSON (API, webhooks), which must be UTF-8 */
    if (!mdm_utf8_valid(val)) {
        return mdm_err(err, "key %s is not valid UTF-8", key);
    }

    return MDM_OK;
}
