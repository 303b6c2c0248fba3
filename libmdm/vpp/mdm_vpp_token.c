/*
 * .vpptoken intake: base64, then a JSON object with three non-empty strings.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mdm_base64.h"
#include "mdm_vpp_token.h"


static int
take_field(json_t *root, const char *key, char **out, mdm_err_t *err)
{
    json_t      *v = json_object_get(root, key);
    const char  *s;

    if (v == NULL) {
        return mdm_err_as(err, MDM_REFUSED_MISSING_KEY, "token has no %s", key);
    }
    if (!json_is_string(v)) {
        return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE,
                          "token %s must be a string", key);
    }
    s = json_string_value(v);
    if (json_string_length(v) == 0 || json_string_length(v) > MDM_VPP_TOKEN_MAX_FIELD
        || strlen(s) != json_string_length(v))
    {
        return mdm_err(err, "token %s must be 1 to %d characters without NUL",
                       key, MDM_VPP_TOKEN_MAX_FIELD);
    }
    if ((*out = strdup(s)) == NULL) {
        return mdm_err_as(err, MDM_REFUSED_NO_MEMORY, "out of memory");
    }
    return MDM_OK;
}


/* The file without whitespace (a pasted token may carry line breaks). */
static char *
squeeze(const char *file, size_t len)
{
    char    *out = malloc(len + 1);
    size_t   i, n = 0;

    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        if (!isspace((unsigned char) file[i])) {
            out[n++] = file[i];
        }
    }
    out[n] = '\0';
    return out;
}


int
mdm_vpp_token_parse(const char *file, size_t len, mdm_vpp_token_t *t,
    mdm_err_t *err)
{
    unsigned char  *raw;
    long            n;
    json_t         *root;
    json_error_t    jerr;
    int             rc;

    memset(t, 0, sizeof(*t));
    if (len == 0) {
        return mdm_err_as(err, MDM_REFUSED_EMPTY, "empty token");
    }
    if (len > MDM_VPP_TOKEN_MAX_FILE) {
        return mdm_err_as(err, MDM_REFUSED_TOO_LARGE,
                          "token over %d bytes", MDM_VPP_TOKEN_MAX_FILE);
    }
    if ((t->stoken = squeeze(file, len)) == NULL
        || (raw = malloc(len / 4 * 3 + 3)) == NULL)
    {
        free(t->stoken);
        t->stoken = NULL;
        return mdm_err_as(err, MDM_REFUSED_NO_MEMORY, "out of memory");
    }
    n = mdm_base64_decode(t->stoken, strlen(t->stoken), raw, 0);
    if (n <= 0) {
        free(raw);
        mdm_vpp_token_free(t);
        return mdm_err_as(err, MDM_REFUSED_MALFORMED, "token is not base64");
    }
    root = json_loadb((const char *) raw, (size_t) n, JSON_REJECT_DUPLICATES, &jerr);
    free(raw);
    if (!json_is_object(root)) {
        json_decref(root);
        mdm_vpp_token_free(t);
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "token is not base64 of a JSON object");
    }
    rc = take_field(root, "token", &t->token, err);
    if (rc == MDM_OK) {
        rc = take_field(root, "orgName", &t->org_name, err);
    }
    if (rc == MDM_OK) {
        rc = take_field(root, "expDate", &t->exp_date, err);
    }
    if (rc == MDM_OK && (t->expires = mdm_vpp_date_parse(t->exp_date)) < 0) {
        rc = mdm_err(err, "token expDate is not a date");
    }
    json_decref(root);
    if (rc != MDM_OK) {
        mdm_vpp_token_free(t);
    }
    return rc;
}


void
mdm_vpp_token_free(mdm_vpp_token_t *t)
{
    free(t->stoken);
    free(t->token);
    free(t->org_name);
    free(t->exp_date);
    memset(t, 0, sizeof(*t));
}


static int
digits(const char **p, int n, int *out)
{
    int v = 0;

    while (n-- > 0) {
        if (!isdigit((unsigned char) **p)) {
            return -1;
        }
        v = v * 10 + (*(*p)++ - '0');
    }
    *out = v;
    return 0;
}


int64_t
mdm_vpp_date_parse(const char *s)
{
    struct tm   tm;
    int         y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 1;
    const char *p = s;

    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-'
        || digits(&p, 2, &d) || *p++ != 'T' || digits(&p, 2, &h) || *p++ != ':'
        || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &sec))
    {
        return -1;
    }
    if (*p == '.') {
        for (p++; isdigit((unsigned char) *p); p++) { }
    }
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh)) {
            return -1;
        }
        if (*p == ':') {
            p++;
        }
        if (digits(&p, 2, &om)) {
            return -1;
        }
    } else {
        return -1;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59
        || sec > 60 || oh > 23 || om > 59)
    {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return (int64_t) timegm(&tm) - sign * (oh * 3600 + om * 60);
}
