#ifndef MDM_ENROLL_PROFILE_H
#define MDM_ENROLL_PROFILE_H

/*
 * The enrollment profile (protocol.md §1, services.md §3.1): a configuration
 * profile with optional trust anchors, one SCEP payload that makes the device
 * generate its identity, and the com.apple.mdm payload that points at it.
 *
 * The conf is what the operator configures once (nginx.conf directives);
 * mdm_enroll_profile_check() refuses what Apple's schema would refuse, so a
 * bad setting is an error at `nginx -t` and never a profile the device
 * rejects at install time. The per-request part (challenge, user) is fresh
 * for every download: one-time challenges make every profile unique, so a
 * profile is never cached or shared between devices.
 *
 * Every payload gets a fresh PayloadUUID per build; the PayloadIdentifiers
 * are stable (derived from conf->identifier), so a re-installed profile
 * (identity renewal) replaces the installed one instead of adding a second.
 */

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mdm_plist.h"

/* AccessRights: every right of com.apple.mdm.yaml (bits 1 .. 4096) */
#define MDM_ENROLL_ACCESS_ALL        8191

/* ServerCapabilities bits (the schema's rangelist) */
#define MDM_ENROLL_CAP_PER_USER      0x01  /* com.apple.mdm.per-user-connections */
#define MDM_ENROLL_CAP_BOOTSTRAP     0x02  /* com.apple.mdm.bootstraptoken */
#define MDM_ENROLL_CAP_TOKEN         0x04  /* com.apple.mdm.token */

/* 128 random bits, lowercase hex, and the NUL */
#define MDM_ENROLL_CHALLENGE_LEN     33

/* Longest value accepted for the user put into subject and description:
 * X.520's upper bound for a UID/CN attribute. */
#define MDM_ENROLL_USER_MAX          64

typedef struct {
    const unsigned char  *der;          /* one CA certificate, DER */
    size_t                len;
    const char           *name;         /* PayloadDisplayName, or NULL */
} mdm_enroll_anchor_t;

typedef struct {
    /* com.apple.mdm */
    const char           *server_url;   /* required, https:// */
    const char           *checkin_url;  /* NULL: the device uses ServerURL */
    const char           *topic;        /* required, com.apple.mgmt.* */
    int64_t               access_rights;/* 0: MDM_ENROLL_ACCESS_ALL */
    int                   sign_message;
    int                   check_out_when_removed;
    unsigned              capabilities; /* MDM_ENROLL_CAP_* */

    /* com.apple.security.scep */
    const char           *scep_url;     /* required, http:// or https:// */
    const char           *scep_name;    /* SCEP "Name" (CA instance), or NULL */
    const char           *subject_o;    /* O of the requested subject, or NULL */
    const char           *subject_cn;   /* CN prefix; NULL: "ngx_mdm" */
    unsigned              key_size;     /* 0: 2048; else 2048 or 4096 */

    /* com.apple.security.acme, instead of SCEP for a device whose serial
     * the request knows (docs/acme.md): the DirectoryURL, or NULL */
    const char           *acme_url;

    /* top level */
    const char           *identifier;   /* stable PayloadIdentifier, required */
    const char           *display_name; /* NULL: "MDM enrollment" */
    const char           *organization; /* NULL: omitted */
    const char           *description;  /* NULL: omitted */

    const mdm_enroll_anchor_t *anchors; /* trust anchors to install */
    size_t                nanchors;
} mdm_enroll_profile_conf_t;

typedef struct {
    const char           *challenge;    /* one-time SCEP challenge, required */
    const char           *user;         /* authenticated user, or NULL */
    int                   scep_only;    /* OTA phase 2: the SCEP payload
                                           alone, identifier "<id>.ota" */
    const char           *serial;       /* the device's, when known (ADE):
                                           with conf->acme_url, the ACME
                                           payload's ClientIdentifier */
} mdm_enroll_profile_req_t;

/*
 * Checks conf against the rules of com.apple.mdm.yaml,
 * com.apple.security.scep.yaml and the top-level/common payload keys;
 * MDM_OK, or MDM_ERROR with "<Key>: reason" in err.
 */
int mdm_enroll_profile_check(const mdm_enroll_profile_conf_t *conf,
    mdm_err_t *err);

/*
 * Builds the unsigned profile as an XML plist, malloc'd into *xml / *len
 * (the caller frees it). conf must have passed mdm_enroll_profile_check();
 * req is checked here (a user longer than MDM_ENROLL_USER_MAX or not UTF-8
 * is an error). The SCEP subject is O=<subject_o>, CN=<subject_cn> <fresh
 * UUID> and, with a user, UID=<user>; the user also goes into the
 * top-level PayloadDescription. With conf->acme_url and req->serial the
 * identity is a com.apple.security.acme payload instead: a hardware-bound,
 * Apple-attested ECSECPrimeRandom 384 key, ClientIdentifier = the serial
 * (the identifier the ACME order must name and the attestation must
 * carry), the same subject, clientAuth.
 */
int mdm_enroll_profile_build(const mdm_enroll_profile_conf_t *conf,
    const mdm_enroll_profile_req_t *req, char **xml, size_t *len,
    mdm_err_t *err);

/*
 * OTA phase 1 (services.md §3.4): a profile of PayloadType "Profile
 * Service" asking the device to POST its attributes (UDID, VERSION,
 * PRODUCT, SERIAL, MEID, IMEI) and the one-time challenge, signed by its
 * Apple device identity, to url. Identifier "<conf->identifier>.ota".
 * Malloc'd XML as mdm_enroll_profile_build().
 */
int mdm_enroll_ota_profile_build(const mdm_enroll_profile_conf_t *conf,
    const char *url, const char *challenge, char **xml, size_t *len,
    mdm_err_t *err);

/*
 * CMS SignedData over content (attached), DER, signed with cert/key and
 * carrying chain (may be NULL) so that a device can build the path to its
 * anchor. *der is OPENSSL_malloc'd (free with OPENSSL_free()).
 */
int mdm_enroll_profile_sign(const unsigned char *content, size_t len,
    X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain, unsigned char **der,
    size_t *der_len, mdm_err_t *err);

/* A fresh one-time challenge (MDM_ENROLL_CHALLENGE_LEN bytes with the NUL);
 * 0, or -1 when the random generator fails. */
int mdm_enroll_challenge_new(char *out);

/* Whether s is a challenge as mdm_enroll_challenge_new() writes them (the
 * check a Redis hash tag made of it needs: no braces, bounded). */
int mdm_enroll_challenge_valid(const char *s, size_t len);

#endif
