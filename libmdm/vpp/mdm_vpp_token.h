#ifndef MDM_VPP_TOKEN_H
#define MDM_VPP_TOKEN_H

/*
 * The Apps and Books content token (services.md §7.1): the `.vpptoken` file
 * a content manager downloads per location is base64 of the JSON
 * {"token":…, "expDate":…, "orgName":…}. The whole file content, without
 * whitespace, is what goes into `Authorization: Bearer` (the reading
 * vpp-mock implements; Apple's text does not say which string it is).
 */

#include <stdint.h>

#include "mdm_plist.h"

#define MDM_VPP_TOKEN_MAX_FILE  16384
#define MDM_VPP_TOKEN_MAX_FIELD 4096

typedef struct {
    char     *stoken;      /* the file without whitespace: the Bearer value */
    char     *token;       /* the inner token */
    char     *org_name;
    char     *exp_date;    /* as written, e.g. 2027-04-10T16:45:00+0000 */
    int64_t   expires;     /* exp_date in unix seconds */
} mdm_vpp_token_t;

/* MDM_OK with *t filled (free with mdm_vpp_token_free), or MDM_ERROR with
 * err saying why; nothing to free then. */
int mdm_vpp_token_parse(const char *file, size_t len, mdm_vpp_token_t *t,
    mdm_err_t *err);

void mdm_vpp_token_free(mdm_vpp_token_t *t);

/* An Apple date (2027-04-10T16:45:00+0000, …Z, …+00:00, with optional
 * fractional seconds) in unix seconds; -1 if it is not one. */
int64_t mdm_vpp_date_parse(const char *s);

#endif
