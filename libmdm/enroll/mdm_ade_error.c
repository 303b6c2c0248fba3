/*
 * ADE 403 documents: built once as a plist dict, then written as XML or as
 * JSON (mdm_plist_to_json) so the two formats cannot drift apart.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <plist/plist.h>

#include "mdm_plist_json.h"
#include "enroll/mdm_ade_error.h"


static const char *
mdm_ade_find(const char *s, size_t len, const char *what)
{
    size_t  n = strlen(what), i;

    for (i = 0; s != NULL && i + n <= len; i++) {
        if (strncasecmp(s + i, what, n) == 0) {
            return s + i;
        }
    }

    return NULL;
}


const char *
mdm_ade_error_code(mdm_ade_err_e e)
{
    switch (e) {
    case MDM_ADE_ERR_SOFTWARE_UPDATE:
        return "com.apple.softwareupdate.required";
    case MDM_ADE_ERR_UNRECOGNIZED:
        return "com.apple.unrecognized.device";
    case MDM_ADE_ERR_PAIRING_TOKEN:
        return "com.apple.watch.pairing.token.missing";
    case MDM_ADE_ERR_PSSO:
        return "com.apple.psso.required";
    }

    return NULL;
}


/* the earlier of "json" and a plist type in s, or -1 if neither */
static int
mdm_ade_pick(const char *s, size_t len)
{
    const char  *j, *p, *x;

    j = mdm_ade_find(s, len, "json");
    p = mdm_ade_find(s, len, "plist");
    x = mdm_ade_find(s, len, "xml");

    if (p == NULL || (x != NULL && x < p)) {
        p = x;
    }

    if (j == NULL && p == NULL) {
        return -1;
    }

    if (p == NULL || (j != NULL && j < p)) {
        return MDM_ADE_FMT_JSON;
    }

    return MDM_ADE_FMT_PLIST;
}


mdm_ade_fmt_e
mdm_ade_error_format(const char *accept, size_t accept_len,
    const char *content_type, size_t content_type_len)
{
    int  f;

    f = mdm_ade_pick(accept, accept_len);

    if (f < 0) {
        f = mdm_ade_pick(content_type, content_type_len);
    }

    return f < 0 ? MDM_ADE_FMT_JSON : (mdm_ade_fmt_e) f;
}


static int
mdm_ade_set(plist_t dict, const char *key, const char *val, int required)
{
    if (val == NULL || val[0] == '\0') {
        return required ? -1 : 0;
    }

    plist_dict_set_item(dict, key, plist_new_string(val));

    return 0;
}


static plist_t
mdm_ade_details(const mdm_ade_error_t *e)
{
    plist_t  d, pkg;

    d = plist_new_dict();

    switch (e->code) {
    case MDM_ADE_ERR_SOFTWARE_UPDATE:
        if (mdm_ade_set(d, "OSVersion", e->os_version, 1) != 0) {
            goto fail;
        }
        mdm_ade_set(d, "BuildVersion", e->build_version, 0);
        return d;

    case MDM_ADE_ERR_PAIRING_TOKEN:
        if (mdm_ade_set(d, "security-token", e->security_token, 1) != 0) {
            goto fail;
        }
        return d;

    case MDM_ADE_ERR_PSSO:
        if (mdm_ade_set(d, "AuthURL", e->auth_url, 1) != 0
            || mdm_ade_set(d, "ProfileURL", e->profile_url, 1) != 0)
        {
            goto fail;
        }

        pkg = plist_new_dict();
        plist_dict_set_item(d, "Package", pkg);

        if (mdm_ade_set(pkg, "ManifestURL", e->manifest_url, 1) != 0) {
            goto fail;
        }
        return d;

    case MDM_ADE_ERR_UNRECOGNIZED:
        break;
    }

    plist_free(d);
    return NULL;

fail:
    plist_free(d);
    return (plist_t) -1;
}


int
mdm_ade_error_build(const mdm_ade_error_t *e, mdm_ade_fmt_e fmt,
    char **out, size_t *len)
{
    char        *s;
    json_t      *j;
    plist_t      doc, details;
    uint32_t     n;
    const char  *code;

    *out = NULL;
    *len = 0;

    code = mdm_ade_error_code(e->code);
    if (code == NULL) {
        return -1;
    }

    details = mdm_ade_details(e);
    if (details == (plist_t) -1) {
        return -1;
    }

    doc = plist_new_dict();
    plist_dict_set_item(doc, "code", plist_new_string(code));
    mdm_ade_set(doc, "description", e->description, 0);
    mdm_ade_set(doc, "message", e->message, 0);

    if (details != NULL) {
        plist_dict_set_item(doc, "details", details);
    }

    if (fmt == MDM_ADE_FMT_PLIST) {
        s = NULL;
        n = 0;
        plist_to_xml(doc, &s, &n);
        plist_free(doc);

        if (s == NULL) {
            return -1;
        }

        *out = s;
        *len = n;
        return 0;
    }

    j = mdm_plist_to_json(doc);
    plist_free(doc);

    if (j == NULL) {
        return -1;
    }

    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);

    if (s == NULL) {
        return -1;
    }

    *out = s;
    *len = strlen(s);

    return 0;
}
