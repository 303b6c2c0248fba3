#ifndef MDM_MACHINEINFO_H
#define MDM_MACHINEINFO_H

/*
 * ADE MachineInfo (services.md §3.5, other/machineinfo.yaml): during Setup
 * Assistant the device POSTs a CMS SignedData, content attached, over a
 * plist of facts about itself, signed by its Apple device identity. The
 * signature is only worth something if the signer chains to Apple's device
 * CA, so the trust anchors are the caller's (a directive in nginx; tests use
 * their own "Apple device CA").
 *
 * Everything is bounded: the SignedData (MDM_MACHINEINFO_MAX), every string
 * (MDM_MACHINEINFO_STR_MAX), the pairing token. UDID and SERIAL become Redis
 * hash tags and log fields, so they are restricted to [A-Za-z0-9-]; the
 * other strings must be printable UTF-8.
 */

#include <stddef.h>

#include <openssl/x509.h>

#include "mdm_plist.h"

#define MDM_MACHINEINFO_MAX        (64 * 1024)
#define MDM_MACHINEINFO_STR_MAX    128
#define MDM_MACHINEINFO_TOKEN_MAX  4096

typedef struct {
    char           udid[MDM_MACHINEINFO_STR_MAX + 1];          /* R */
    char           serial[MDM_MACHINEINFO_STR_MAX + 1];        /* R */
    char           product[MDM_MACHINEINFO_STR_MAX + 1];       /* R */
    char           version[MDM_MACHINEINFO_STR_MAX + 1];       /* R, build */
    char           os_version[MDM_MACHINEINFO_STR_MAX + 1];    /* "" if absent */
    char           imei[MDM_MACHINEINFO_STR_MAX + 1];
    char           meid[MDM_MACHINEINFO_STR_MAX + 1];
    char           language[MDM_MACHINEINFO_STR_MAX + 1];
    char           software_update_device_id[MDM_MACHINEINFO_STR_MAX + 1];
    char           supplemental_build_version[MDM_MACHINEINFO_STR_MAX + 1];

    unsigned char  pairing_token[MDM_MACHINEINFO_TOKEN_MAX];
    size_t         pairing_token_len;
    int            has_pairing_token;

    /* booleans, false when absent (the schema's default) */
    int            can_request_software_update;
    int            can_request_psso_config;
    int            mandatory_software_update_required;
} mdm_machineinfo_t;

/*
 * Loads the trust anchors (PEM, one or more certificates) into a store for
 * mdm_machineinfo_parse(); NULL with the reason in err.
 */
X509_STORE *mdm_machineinfo_anchors_load(const char *pem_file,
    mdm_err_t *err);

/*
 * The entry point on the raw request body (fuzz target): parses the DER
 * SignedData, checks its signature over the attached content and that the
 * signer chains to a certificate in anchors, then reads the facts.
 * MDM_OK, or MDM_ERROR with the reason in err; *mi is zeroed first.
 */
int mdm_machineinfo_parse(const unsigned char *der, size_t len,
    X509_STORE *anchors, mdm_machineinfo_t *mi, mdm_err_t *err);

/* Whether s (len bytes) is a serial or UDID as accepted here: 1 to
 * MDM_MACHINEINFO_STR_MAX of [A-Za-z0-9-]. */
int mdm_machineinfo_id_valid(const char *s, size_t len);

/* The facts from the (already verified) plist alone. */
int mdm_machineinfo_from_plist(const char *plist, size_t len,
    mdm_machineinfo_t *mi, mdm_err_t *err);

/*
 * Compares dotted versions numerically ("17.10" > "17.9", "17" == "17.0");
 * a component's non-digit suffix ("16.1 (a)") is ignored. <0, 0, >0.
 */
int mdm_machineinfo_version_cmp(const char *a, const char *b);

/* The product family: PRODUCT's leading letters ("iPhone14,2" -> "iPhone",
 * "Mac14,3" -> "Mac"), into out (size outlen); its length. */
size_t mdm_machineinfo_family(const char *product, char *out, size_t outlen);

#endif
