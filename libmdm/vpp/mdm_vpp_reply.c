/*
 * Apps and Books replies: one JSON object per body, typed readers for the
 * fields the worker uses. Unknown keys are ignored (Apple adds fields).
 */

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mdm_vpp_reply.h"


static json_t *
load(const char *body, size_t len, mdm_err_t *err)
{
    json_t       *root;
    json_error_t  jerr;

    if (len == 0) {
        mdm_err_as(err, MDM_REFUSED_EMPTY, "empty reply");
        return NULL;
    }
    if (len > MDM_VPP_MAX_BODY) {
        mdm_err_as(err, MDM_REFUSED_TOO_LARGE, "reply over %d bytes", MDM_VPP_MAX_BODY);
        return NULL;
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        mdm_err_as(err, MDM_REFUSED_MALFORMED, "reply is not JSON: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "reply is not a JSON object");
        return NULL;
    }
    return root;
}


/* obj[key] as a string: MDM_OK, MDM_ABSENT (*out = dflt) or MDM_ERROR. */
static int
get_str(json_t *obj, const char *key, const char **out, const char *dflt,
    mdm_err_t *err)
{
    json_t *v = json_object_get(obj, key);

    *out = dflt;
    if (v == NULL || json_is_null(v)) {
        return MDM_ABSENT;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "%s must be a string", key);
    }
    *out = json_string_value(v);
    return MDM_OK;
}


static int
get_int(json_t *obj, const char *key, int64_t *out, int64_t dflt, mdm_err_t *err)
{
    json_t *v = json_object_get(obj, key);

    *out = dflt;
    if (v == NULL || json_is_null(v)) {
        return MDM_ABSENT;
    }
    if (!json_is_integer(v)) {
        return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "%s must be an integer", key);
    }
    *out = json_integer_value(v);
    return MDM_OK;
}


static int
get_bool(json_t *obj, const char *key, int *out, int dflt, mdm_err_t *err)
{
    json_t *v = json_object_get(obj, key);

    *out = dflt;
    if (v == NULL || json_is_null(v)) {
        return MDM_ABSENT;
    }
    if (!json_is_boolean(v)) {
        return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "%s must be a boolean", key);
    }
    *out = json_is_true(v);
    return MDM_OK;
}


static int
need_str(json_t *obj, const char *key, const char **out, mdm_err_t *err)
{
    int rc = get_str(obj, key, out, NULL, err);

    if (rc == MDM_ABSENT) {
        return mdm_err_as(err, MDM_REFUSED_MISSING_KEY, "%s is missing", key);
    }
    return rc;
}


int
mdm_vpp_id_ok(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (s[n] <= ' ' || s[n] > '~') {
            return 0;
        }
    }
    return n > 0 && n <= MDM_VPP_MAX_ID;
}


int
mdm_vpp_adam_id_ok(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9') {
            return 0;
        }
    }
    return n > 0 && n <= 20;
}


const char *
mdm_vpp_id_at(json_t *arr, size_t i)
{
    json_t      *v = json_array_get(arr, i);
    const char  *s;

    if (!json_is_string(v)) {
        return NULL;
    }
    s = json_string_value(v);
    return strlen(s) == json_string_length(v) && mdm_vpp_id_ok(s) ? s : NULL;
}


/* versionId: Apple documents a string; a number is taken as its digits. */
static int
get_version(json_t *root, char *out, size_t size, mdm_err_t *err)
{
    json_t *v = json_object_get(root, "versionId");

    out[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        return MDM_OK;
    }
    if (json_is_integer(v)) {
        snprintf(out, size, "%" PRId64, (int64_t) json_integer_value(v));
        return MDM_OK;
    }
    if (!json_is_string(v) || !mdm_vpp_id_ok(json_string_value(v))
        || json_string_length(v) >= size)
    {
        return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE,
                          "versionId must be a short string");
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return MDM_OK;
}


int
mdm_vpp_reply_parse(const char *body, size_t len, mdm_vpp_reply_t *r,
    mdm_err_t *err)
{
    memset(r, 0, sizeof(*r));
    if ((r->root = load(body, len, err)) == NULL) {
        return MDM_ERROR;
    }
    if (get_int(r->root, "errorNumber", &r->error_number, 0, err) == MDM_ERROR
        || get_str(r->root, "errorMessage", &r->error_message, "", err) == MDM_ERROR
        || get_int(r->root, "currentPageIndex", &r->current_page, -1, err) == MDM_ERROR
        || get_int(r->root, "nextPageIndex", &r->next_page, -1, err) == MDM_ERROR
        || get_int(r->root, "totalPages", &r->total_pages, -1, err) == MDM_ERROR
        || get_version(r->root, r->version_id, sizeof(r->version_id), err) == MDM_ERROR
        || get_str(r->root, "tokenExpirationDate", &r->token_expiration, NULL, err) == MDM_ERROR
        || get_str(r->root, "uId", &r->uid, NULL, err) == MDM_ERROR
        || get_str(r->root, "eventId", &r->event_id, NULL, err) == MDM_ERROR)
    {
        mdm_vpp_reply_free(r);
        return MDM_ERROR;
    }
    if (r->event_id != NULL && !mdm_vpp_id_ok(r->event_id)) {
        mdm_vpp_reply_free(r);
        return mdm_err(err, "eventId must be a short identifier");
    }
    if (r->error_number < 0 || r->error_number > 99999) {
        mdm_vpp_reply_free(r);
        return mdm_err(err, "errorNumber out of range");
    }
    /* a reply that says nothing of a next page may still have one */
    if (r->next_page < 0 && r->current_page >= 0 && r->total_pages > r->current_page + 1) {
        r->next_page = r->current_page + 1;
    }
    return MDM_OK;
}


void
mdm_vpp_reply_free(mdm_vpp_reply_t *r)
{
    json_decref(r->root);
    r->root = NULL;
}


int
mdm_vpp_error_is_token(int64_t n)
{
    return n == MDM_VPP_E_LOGIN || n == MDM_VPP_E_EXPIRED || n == MDM_VPP_E_INVALID_TOKEN
           || n == MDM_VPP_E_REVOKED || n == MDM_VPP_E_LEGACY || n == 9722;
}


int
mdm_vpp_items(json_t *root, const char *key, json_t **arr, mdm_err_t *err)
{
    json_t *v = json_object_get(root, key);

    *arr = NULL;
    if (v == NULL || json_is_null(v)) {
        return MDM_ABSENT;
    }
    if (!json_is_array(v)) {
        return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "%s must be an array", key);
    }
    *arr = v;
    return MDM_OK;
}


static int
adam_and_pricing(json_t *item, const char **adam, const char **pricing,
    mdm_err_t *err)
{
    json_t *v;

    if (!json_is_object(item)) {
        return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "an item must be an object");
    }
    /* adamId is a string in Apple's documents; a number is not accepted */
    v = json_object_get(item, "adamId");
    if (need_str(item, "adamId", adam, err) != MDM_OK) {
        return MDM_ERROR;
    }
    if (!mdm_vpp_adam_id_ok(*adam) || strlen(*adam) != json_string_length(v)) {
        return mdm_err(err, "adamId must be 1 to 20 digits");
    }
    if (get_str(item, "pricingParam", pricing, "STDQ", err) == MDM_ERROR) {
        return MDM_ERROR;
    }
    if (strcmp(*pricing, "STDQ") != 0 && strcmp(*pricing, "PLUS") != 0) {
        return mdm_err(err, "pricingParam must be STDQ or PLUS");
    }
    return MDM_OK;
}


static unsigned
platform_bit(const char *s)
{
    static const struct { const char *name; unsigned bit; } map[] = {
        { "iOS", MDM_VPP_PLATFORM_IOS }, { "macOS", MDM_VPP_PLATFORM_MACOS },
        { "tvOS", MDM_VPP_PLATFORM_TVOS }, { "visionOS", MDM_VPP_PLATFORM_VISIONOS },
        { "watchOS", MDM_VPP_PLATFORM_WATCHOS },
    };
    size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(s, map[i].name) == 0) {
            return map[i].bit;
        }
    }
    return 0;    /* a platform we do not know of is not ours to install on */
}


int
mdm_vpp_asset_of(json_t *item, mdm_vpp_asset_t *a, mdm_err_t *err)
{
    json_t  *pl;
    size_t   i;

    memset(a, 0, sizeof(*a));
    if (adam_and_pricing(item, &a->adam_id, &a->pricing, err) != MDM_OK
        || get_str(item, "productType", &a->product_type, "", err) == MDM_ERROR
        || get_int(item, "totalCount", &a->total, 0, err) == MDM_ERROR
        || get_int(item, "assignedCount", &a->assigned, 0, err) == MDM_ERROR
        || get_int(item, "availableCount", &a->available, 0, err) == MDM_ERROR
        || get_int(item, "retiredCount", &a->retired, 0, err) == MDM_ERROR
        || get_bool(item, "deviceAssignable", &a->device_assignable, 0, err) == MDM_ERROR
        || get_bool(item, "revocable", &a->revocable, 0, err) == MDM_ERROR
        || mdm_vpp_items(item, "supportedPlatforms", &pl, err) == MDM_ERROR)
    {
        return MDM_ERROR;
    }
    for (i = 0; i < json_array_size(pl); i++) {
        json_t *p = json_array_get(pl, i);

        if (!json_is_string(p)) {
            return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE,
                              "supportedPlatforms must hold strings");
        }
        a->platforms |= platform_bit(json_string_value(p));
    }
    return MDM_OK;
}


static int
one_id(json_t *item, const char *key, const char **out, mdm_err_t *err)
{
    if (get_str(item, key, out, NULL, err) == MDM_ERROR) {
        return MDM_ERROR;
    }
    if (*out != NULL && !mdm_vpp_id_ok(*out)) {
        return mdm_err(err, "%s must be 1 to %d printable characters", key, MDM_VPP_MAX_ID);
    }
    return MDM_OK;
}


int
mdm_vpp_assignment_of(json_t *item, mdm_vpp_assignment_t *a, mdm_err_t *err)
{
    memset(a, 0, sizeof(*a));
    if (adam_and_pricing(item, &a->adam_id, &a->pricing, err) != MDM_OK
        || one_id(item, "serialNumber", &a->serial, err) != MDM_OK
        || one_id(item, "clientUserId", &a->client_user_id, err) != MDM_OK)
    {
        return MDM_ERROR;
    }
    if ((a->serial == NULL) == (a->client_user_id == NULL)) {
        return mdm_err(err, "an assignment names a serialNumber or a clientUserId");
    }
    return MDM_OK;
}


int
mdm_vpp_user_of(json_t *item, mdm_vpp_user_t *u, mdm_err_t *err)
{
    memset(u, 0, sizeof(*u));
    if (!json_is_object(item)) {
        return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "a user must be an object");
    }
    if (one_id(item, "clientUserId", &u->client_user_id, err) != MDM_OK
        || get_str(item, "email", &u->email, "", err) == MDM_ERROR
        || get_str(item, "inviteCode", &u->invite_code, "", err) == MDM_ERROR
        || get_str(item, "status", &u->status, "", err) == MDM_ERROR
        || get_str(item, "idHash", &u->id_hash, "", err) == MDM_ERROR)
    {
        return MDM_ERROR;
    }
    if (u->client_user_id == NULL) {
        return mdm_err_as(err, MDM_REFUSED_MISSING_KEY, "clientUserId is missing");
    }
    return MDM_OK;
}


int
mdm_vpp_status_of(const mdm_vpp_reply_t *r, mdm_vpp_status_t *s, mdm_err_t *err)
{
    const char *st;

    memset(s, 0, sizeof(*s));
    if (need_str(r->root, "eventStatus", &st, err) != MDM_OK
        || get_str(r->root, "eventType", &s->type, "", err) == MDM_ERROR
        || get_int(r->root, "numCompleted", &s->num_completed, 0, err) == MDM_ERROR
        || get_int(r->root, "numRequested", &s->num_requested, 0, err) == MDM_ERROR
        || mdm_vpp_items(r->root, "failures", &s->failures, err) == MDM_ERROR)
    {
        return MDM_ERROR;
    }
    if (strcmp(st, "PENDING") == 0) {
        s->status = MDM_VPP_EVENT_PENDING;
    } else if (strcmp(st, "COMPLETE") == 0) {
        s->status = MDM_VPP_EVENT_COMPLETE;
    } else if (strcmp(st, "FAILED") == 0) {
        s->status = MDM_VPP_EVENT_FAILED;
    } else {
        return mdm_err_as(err, MDM_REFUSED_UNKNOWN_TYPE, "unknown eventStatus");
    }
    return MDM_OK;
}


int
mdm_vpp_failure_of(json_t *item, mdm_vpp_failure_t *f, mdm_err_t *err)
{
    json_t *info;

    memset(f, 0, sizeof(*f));
    if (!json_is_object(item)) {
        return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "a failure must be an object");
    }
    if (get_int(item, "errorNumber", &f->number, 0, err) != MDM_OK) {
        return mdm_err_as(err, MDM_REFUSED_MISSING_KEY, "a failure needs an errorNumber");
    }
    if (get_str(item, "errorMessage", &f->message, "", err) == MDM_ERROR) {
        return MDM_ERROR;
    }
    info = json_object_get(item, "errorInfo");
    if (info == NULL || json_is_null(info)) {
        return MDM_OK;
    }
    if (!json_is_object(info)) {
        return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "errorInfo must be an object");
    }
    if (mdm_vpp_items(info, "assets", &f->assets, err) == MDM_ERROR
        || mdm_vpp_items(info, "serialNumbers", &f->serials, err) == MDM_ERROR
        || mdm_vpp_items(info, "clientUserIds", &f->client_user_ids, err) == MDM_ERROR)
    {
        return MDM_ERROR;
    }
    return MDM_OK;
}


int
mdm_vpp_client_config_of(const mdm_vpp_reply_t *r, mdm_vpp_client_config_t *c,
    mdm_err_t *err)
{
    json_t *info;

    memset(c, 0, sizeof(*c));
    if (get_str(r->root, "locationName", &c->location_name, "", err) == MDM_ERROR
        || get_str(r->root, "countryISO2ACode", &c->country, "", err) == MDM_ERROR
        || get_str(r->root, "defaultPlatform", &c->default_platform, "", err) == MDM_ERROR
        || get_str(r->root, "notificationUrl", &c->notification_url, NULL, err) == MDM_ERROR)
    {
        return MDM_ERROR;
    }
    c->token_expiration = r->token_expiration;
    c->uid = r->uid;
    info = json_object_get(r->root, "mdmInfo");
    if (info != NULL && !json_is_null(info)) {
        if (!json_is_object(info)
            || get_str(info, "id", &c->mdm_id, NULL, err) == MDM_ERROR
            || get_str(info, "name", &c->mdm_name, NULL, err) == MDM_ERROR)
        {
            return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE,
                              "mdmInfo must be an object of strings");
        }
    }
    return MDM_OK;
}


void
mdm_vpp_limits_default(mdm_vpp_limits_t *l)
{
    l->max_assets = 25;
    l->max_serials = 1000;
    l->max_client_user_ids = 1000;
    l->max_users = 100;
    l->max_revoke_serials = 100;
    l->max_revoke_client_user_ids = 100;
    l->max_requests_per_second = 15;
}


int
mdm_vpp_limits_of(const mdm_vpp_reply_t *r, mdm_vpp_limits_t *l, mdm_err_t *err)
{
    static const struct { const char *key; size_t off; } map[] = {
        { "maxAssets", offsetof(mdm_vpp_limits_t, max_assets) },
        { "maxSerialNumbers", offsetof(mdm_vpp_limits_t, max_serials) },
        { "maxClientUserIds", offsetof(mdm_vpp_limits_t, max_client_user_ids) },
        { "maxUsers", offsetof(mdm_vpp_limits_t, max_users) },
        { "maxRevokeSerialNumbers", offsetof(mdm_vpp_limits_t, max_revoke_serials) },
        { "maxRevokeClientUserIds", offsetof(mdm_vpp_limits_t, max_revoke_client_user_ids) },
        { "maxRequestPerSecond", offsetof(mdm_vpp_limits_t, max_requests_per_second) },
    };
    json_t  *lim = json_object_get(r->root, "limits");
    size_t   i;

    mdm_vpp_limits_default(l);
    if (lim == NULL) {
        return MDM_OK;
    }
    if (!json_is_object(lim)) {
        return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "limits must be an object");
    }
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        int64_t *v = (int64_t *) ((char *) l + map[i].off);

        if (get_int(lim, map[i].key, v, *v, err) == MDM_ERROR) {
            return MDM_ERROR;
        }
        if (*v < 1 || *v > 100000) {
            return mdm_err(err, "limit %s out of range", map[i].key);
        }
    }
    return MDM_OK;
}


int
mdm_vpp_notification_parse(const char *body, size_t len,
    mdm_vpp_notification_t *n, mdm_err_t *err)
{
    const char *key;

    memset(n, 0, sizeof(*n));
    if ((n->root = load(body, len, err)) == NULL) {
        return MDM_ERROR;
    }
    if (need_str(n->root, "notificationId", &n->id, err) != MDM_OK
        || need_str(n->root, "notificationType", &n->type, err) != MDM_OK
        || get_str(n->root, "uId", &n->uid, "", err) == MDM_ERROR)
    {
        goto bad;
    }
    if (!mdm_vpp_id_ok(n->id) || !mdm_vpp_id_ok(n->type)) {
        mdm_err(err, "notificationId and notificationType must be short identifiers");
        goto bad;
    }
    n->body = json_object_get(n->root, "notification");
    if (!json_is_object(n->body)) {
        mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "notification must be an object");
        goto bad;
    }
    key = strcmp(n->type, "ASSET_MANAGEMENT") == 0 ? "assignments"
          : strcmp(n->type, "USER_MANAGEMENT") == 0 ? "users"
          : strcmp(n->type, "USER_ASSOCIATED") == 0 ? "associatedUsers" : NULL;
    if (key == NULL) {
        return MDM_OK;
    }
    if (get_str(n->body, "eventId", &n->event_id, NULL, err) == MDM_ERROR
        || get_str(n->body, "result", &n->result, NULL, err) == MDM_ERROR
        || get_str(n->body, "type", &n->event_type, NULL, err) == MDM_ERROR
        || mdm_vpp_items(n->body, key, &n->items, err) == MDM_ERROR)
    {
        goto bad;
    }
    if (n->event_id != NULL && !mdm_vpp_id_ok(n->event_id)) {
        mdm_err(err, "eventId must be a short identifier");
        goto bad;
    }
    n->error = json_object_get(n->body, "error");
    if (n->error != NULL && !json_is_object(n->error)) {
        mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "error must be an object");
        goto bad;
    }
    return MDM_OK;

bad:
    mdm_vpp_notification_free(n);
    return MDM_ERROR;
}


void
mdm_vpp_notification_free(mdm_vpp_notification_t *n)
{
    json_decref(n->root);
    n->root = NULL;
}
