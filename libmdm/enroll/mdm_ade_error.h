#ifndef MDM_ADE_ERROR_H
#define MDM_ADE_ERROR_H

/*
 * The 403 documents a server answers an ADE enrollment request with
 * (the YAML files of mdm/errors/, services.md §3.5): a dict with `code`, optional
 * `description` (logged by the device) and `message` (shown to the user),
 * and `details` where the code defines them. Apple lets the server pick
 * JSON or an XML plist as long as Content-Type says which.
 */

#include <stddef.h>

#define MDM_ADE_CT_JSON   "application/json"
#define MDM_ADE_CT_PLIST  "application/x-plist"

typedef enum {
    MDM_ADE_FMT_JSON = 0,
    MDM_ADE_FMT_PLIST
} mdm_ade_fmt_e;

typedef enum {
    MDM_ADE_ERR_SOFTWARE_UPDATE = 1,   /* com.apple.softwareupdate.required */
    MDM_ADE_ERR_UNRECOGNIZED,          /* com.apple.unrecognized.device */
    MDM_ADE_ERR_PAIRING_TOKEN,         /* com.apple.watch.pairing.token.missing */
    MDM_ADE_ERR_PSSO                   /* com.apple.psso.required */
} mdm_ade_err_e;

typedef struct {
    mdm_ade_err_e  code;
    const char    *description;    /* NULL: omitted */
    const char    *message;        /* NULL: omitted */

    /* softwareupdate.required: OSVersion (required), BuildVersion */
    const char    *os_version;
    const char    *build_version;

    /* watch.pairing.token.missing: security-token (a random UUID) */
    const char    *security_token;

    /* psso.required: AuthURL, ProfileURL, Package.ManifestURL (required) */
    const char    *auth_url;
    const char    *profile_url;
    const char    *manifest_url;
} mdm_ade_error_t;

/* The code string of e, e.g. "com.apple.softwareupdate.required". */
const char *mdm_ade_error_code(mdm_ade_err_e e);

/*
 * The reply format: JSON or plist by Accept (the first of the two named
 * wins), else by the request's Content-Type, else JSON. Either may be NULL.
 */
mdm_ade_fmt_e mdm_ade_error_format(const char *accept, size_t accept_len,
    const char *content_type, size_t content_type_len);

/*
 * The document, malloc'd into *out / *len (free()); 0, or -1 when a
 * required detail is missing or memory runs out.
 */
int mdm_ade_error_build(const mdm_ade_error_t *e, mdm_ade_fmt_e fmt,
    char **out, size_t *len);

#endif
