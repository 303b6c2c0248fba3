/*
 * ACME resources as JSON (mdm_acme_object.h).
 */

#define _GNU_SOURCE     /* asprintf */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acme/mdm_acme_object.h"
#include "acme/mdm_acme_state.h"


void
mdm_acme_time(time_t t, char out[21])
{
    struct tm  tm;

    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}


static char *
mdm_acme_dump(json_t *o)
{
    char  *s;

    if (o == NULL) {
        return NULL;
    }

    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);

    return s;
}


static json_t *
mdm_acme_url(const char *base, const char *what, const char *id)
{
    char   *s;
    json_t *v;

    if (asprintf(&s, "%s/%s%s%s", base, what, id ? "/" : "", id ? id : "")
        < 0)
    {
        return NULL;
    }

    v = json_string(s);
    free(s);

    return v;
}


char *
mdm_acme_directory_json(const char *base)
{
    return mdm_acme_dump(json_pack("{s:o, s:o, s:o, s:o, s:o, s:{s:b}}",
        "newNonce", mdm_acme_url(base, "new-nonce", NULL),
        "newAccount", mdm_acme_url(base, "new-account", NULL),
        "newOrder", mdm_acme_url(base, "new-order", NULL),
        "revokeCert", mdm_acme_url(base, "revoke-cert", NULL),
        "keyChange", mdm_acme_url(base, "key-change", NULL),
        "meta", "externalAccountRequired", 0));
}


char *
mdm_acme_account_json(const char *base, const char *thumbprint,
    const char *status, const char *contact)
{
    char    *orders;
    json_t  *c = NULL, *o;

    if (contact != NULL) {
        c = json_loads(contact, 0, NULL);
    }

    if (!json_is_array(c)) {
        json_decref(c);
        c = json_array();
    }

    if (asprintf(&orders, "acct/%s", thumbprint) < 0) {
        json_decref(c);
        return NULL;
    }

    o = json_pack("{s:s, s:o, s:o}", "status", status, "contact", c,
                  "orders", mdm_acme_url(base, orders, "orders"));
    free(orders);

    return mdm_acme_dump(o);
}


static json_t *
mdm_acme_identifier(const mdm_acme_order_t *o)
{
    return json_pack("{s:s, s:s}", "type", MDM_ACME_IDENTIFIER_TYPE,
                     "value", o->identifier ? o->identifier : "");
}


static json_t *
mdm_acme_chall_obj(const char *base, const char *id,
    const mdm_acme_order_t *o)
{
    char     when[21];
    json_t  *c;

    c = json_pack("{s:s, s:o, s:s, s:s}", "type", MDM_ACME_CHALLENGE_TYPE,
                  "url", mdm_acme_url(base, "chall", id),
                  "token", o->token ? o->token : "",
                  "status", o->chall ? o->chall : "pending");

    if (c != NULL && o->validated > 0) {
        mdm_acme_time(o->validated, when);
        json_object_set_new(c, "validated", json_string(when));
    }

    return c;
}


char *
mdm_acme_order_json(const char *base, const char *id,
    const mdm_acme_order_t *o, time_t now)
{
    char                when[21];
    json_t             *j;
    mdm_acme_status_e   st;

    st = mdm_acme_order_status(o->status, o->expires, now);
    mdm_acme_time(o->expires, when);

    j = json_pack("{s:s, s:s, s:[o], s:[o], s:o}",
                  "status", mdm_acme_status_name(st), "expires", when,
                  "identifiers", mdm_acme_identifier(o),
                  "authorizations", mdm_acme_url(base, "authz", id),
                  "finalize", mdm_acme_url(base, "finalize", id));

    if (j != NULL && st == MDM_ACME_ST_VALID && o->cert != NULL) {
        json_object_set_new(j, "certificate",
                            mdm_acme_url(base, "cert", id));
    }

    return mdm_acme_dump(j);
}


char *
mdm_acme_authz_json(const char *base, const char *id,
    const mdm_acme_order_t *o, time_t now)
{
    char         when[21];
    const char  *status;

    status = o->authz ? o->authz : "pending";

    /* an authorization that was not used in time is gone with its order */
    if (strcmp(status, "valid") != 0 && o->expires > 0 && now >= o->expires)
    {
        status = "expired";
    }

    mdm_acme_time(o->expires, when);

    return mdm_acme_dump(json_pack("{s:s, s:s, s:o, s:[o]}",
        "status", status, "expires", when,
        "identifier", mdm_acme_identifier(o),
        "challenges", mdm_acme_chall_obj(base, id, o)));
}


char *
mdm_acme_chall_json(const char *base, const char *id,
    const mdm_acme_order_t *o)
{
    return mdm_acme_dump(mdm_acme_chall_obj(base, id, o));
}
