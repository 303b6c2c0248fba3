/*
 * Account-driven enrollment discovery (mdm_wellknown.h).
 */

#include <string.h>

#include <jansson.h>

#include "enroll/mdm_wellknown.h"


/* Apple's model-family values, in the order of their bits */
static const char  *mdm_wellknown_families[MDM_WELLKNOWN_FAMILIES] = {
    "AppleTV", "iPad", "iPhone", "Mac", "RealityDevice", "Watch"
};


unsigned
mdm_wellknown_family(const char *name, size_t len)
{
    int  i;

    for (i = 0; i < MDM_WELLKNOWN_FAMILIES; i++) {
        if (strlen(mdm_wellknown_families[i]) == len
            && memcmp(mdm_wellknown_families[i], name, len) == 0)
        {
            return 1u << i;
        }
    }

    return 0;
}


int
mdm_wellknown_domain(const char *user, size_t len, char *out, size_t size)
{
    size_t       i, at = len, n;
    const char  *d;

    if (len == 0 || len > MDM_WELLKNOWN_USER_MAX) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (user[i] < 0x21 || user[i] > 0x7e) {
            return -1;
        }
        if (user[i] == '@') {
            at = i;
        }
    }

    if (at == 0 || at >= len - 1) {
        return -1;
    }

    d = user + at + 1;
    n = len - at - 1;

    if (n >= size || d[0] == '.' || d[0] == '-' || d[n - 1] == '.') {
        return -1;
    }

    for (i = 0; i < n; i++) {
        char  c = d[i];

        if (c >= 'A' && c <= 'Z') {
            c = (char) (c - 'A' + 'a');
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
              || c == '.')
            || (c == '.' && i > 0 && d[i - 1] == '.'))
        {
            return -1;
        }
        out[i] = c;
    }

    out[n] = '\0';

    return 0;
}


const mdm_wellknown_rule_t *
mdm_wellknown_match(const mdm_wellknown_rule_t *rules, size_t n,
    const char *domain, unsigned family)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(rules[i].domain, "*") != 0
            && strcmp(rules[i].domain, domain) != 0)
        {
            continue;
        }

        if (rules[i].families != 0 && (rules[i].families & family) == 0) {
            continue;
        }

        return &rules[i];
    }

    return NULL;
}


static char *
mdm_wellknown_dump(json_t *o)
{
    char  *s;

    if (o == NULL) {
        return NULL;
    }

    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);

    return s;
}


char *
mdm_wellknown_servers_json(const mdm_wellknown_rule_t *rule)
{
    return mdm_wellknown_dump(json_pack("{s:[{s:s, s:s}]}", "Servers",
                                        "Version", rule->version,
                                        "BaseURL", rule->base_url));
}


char *
mdm_wellknown_failed_json(const char *description, const char *message)
{
    json_t  *o;

    o = json_pack("{s:s}", "code", MDM_WELLKNOWN_FAILED);

    if (o != NULL && description != NULL) {
        json_object_set_new(o, "description", json_string(description));
    }

    if (o != NULL && message != NULL) {
        json_object_set_new(o, "message", json_string(message));
    }

    return mdm_wellknown_dump(o);
}
