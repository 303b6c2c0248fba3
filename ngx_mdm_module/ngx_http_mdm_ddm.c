/*
 * DeclarativeManagement check-ins (protocol.md §6, docs/ddm.md): the four
 * endpoints a device fetches from inside the check-in channel, after the
 * same certificate binding check as every check-in. Each is one call of
 * ddm_device.lua in the enrollment's slot, over the view the API
 * materialised there; a declaration's body is then read from the
 * catalogue in a call of its own (the declaration's slot), once the view
 * says the enrollment has it. A status report is parsed here
 * (mdm_ddm_status_parse) and stored by the same script; a report that does
 * not parse is refused with 400 and stores nothing.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>

#include "mdm_keys.h"
#include "ddm/mdm_ddm.h"
#include "ddm/mdm_ddm_document.h"
#include "ddm/mdm_ddm_status.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_metrics.h"
#include "ngx_http_mdm_ddm.h"


#define NGX_HTTP_MDM_DDM_KEYS      10
#define NGX_HTTP_MDM_DDM_HISTORY   10

typedef enum {
    NGX_HTTP_MDM_DDM_TOKENS = 0,
    NGX_HTTP_MDM_DDM_ITEMS,
    NGX_HTTP_MDM_DDM_DECLARATION,
    NGX_HTTP_MDM_DDM_STATUS
} ngx_http_mdm_ddm_endpoint_e;

typedef struct {
    ngx_http_mdm_ddm_endpoint_e   endpoint;
    mdm_ddm_kind_e                kind;
    char                         *identifier;
    mdm_ddm_status_t              st;
    ngx_uint_t                    parsed;
    char                          status_id[17];
} ngx_http_mdm_ddm_req_t;


static ngx_int_t ngx_http_mdm_ddm_endpoint(ngx_http_request_t *r,
    ngx_http_mdm_ddm_req_t *q, const char *endpoint);
static void ngx_http_mdm_ddm_req_cleanup(void *data);
static ngx_int_t ngx_http_mdm_ddm_status_args(ngx_http_request_t *r,
    ngx_http_mdm_ddm_req_t *q, mdm_checkin_t *ci, ngx_http_mdm_args_t *a);
static ngx_int_t ngx_http_mdm_ddm_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ddm_tokens(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ddm_items(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ddm_fetch(ngx_http_request_t *r,
    ngx_http_mdm_ddm_req_t *q, redisReply *token);
static ngx_int_t ngx_http_mdm_ddm_body(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ddm_send_json(ngx_http_request_t *r,
    char *doc, size_t len);


ngx_int_t
ngx_http_mdm_ddm_checkin(ngx_http_request_t *r, ngx_str_t *body,
    const char *sha)
{
    size_t                    len;
    ngx_uint_t                i;
    const char               *id, *device;
    mdm_checkin_t            *ci;
    ngx_http_mdm_ctx_t       *ctx;
    ngx_pool_cleanup_t       *cln;
    ngx_http_mdm_args_t       args;
    ngx_http_mdm_ddm_req_t   *q;
    ngx_http_mdm_loc_conf_t  *mlcf;
    char                      key[MDM_KEY_MAX];

    static const mdm_key_id_t  keys[] = {
        MDM_K_DDM_ITEMS, MDM_K_DDM, MDM_K_DDM_STATUS, MDM_K_DDM_VALUES,
        MDM_K_DDM_ERRORS, MDM_K_DDM_REPORTS
    };

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);
    ci = ctx->data;

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_ddm_req_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (q == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mdm_ddm_req_cleanup;
    cln->data = q;

    switch (ngx_http_mdm_ddm_endpoint(r, q, ci->endpoint)) {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm ddm: \"%V\" asked for an unknown Endpoint",
                      &ctx->enrollment_id);
        return NGX_HTTP_BAD_REQUEST;
    default:
        /* a status report that does not parse: logged, nothing stored */
        return NGX_HTTP_BAD_REQUEST;
    }

    id = ci->enrollment.id;
    device = ci->enrollment.parent[0] ? ci->enrollment.parent : id;

    if (ngx_http_mdm_args_init(r, &args, 3 + NGX_HTTP_MDM_DDM_KEYS + 6 + 2
                               + (q->parsed
                                  ? 7 + 2 * (q->st.ndeclarations
                                             + q->st.nvalues)
                                    + q->st.nerrors + q->st.ndeclarations
                                  : 0))
        != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "ddm_device",
                                    NGX_HTTP_MDM_DDM_KEYS) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = mdm_key(key, MDM_K_ENR, id, NULL);
    if (ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = mdm_key(key, MDM_K_ENR, device, NULL);
    if (ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = mdm_key(key, MDM_K_CERT, sha, NULL);
    if (ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        len = mdm_key(key, keys[i], id, NULL);
        if (len == 0
            || ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_EVENTS);

    ngx_http_mdm_args_add_cstr(&args,
        (const char *[]) { "tokens", "items", "declaration", "status" }
        [q->endpoint]);
    ngx_http_mdm_args_add_cstr(&args, id);
    ngx_http_mdm_args_add_cstr(&args, device);
    ngx_http_mdm_args_add_cstr(&args, sha);
    ngx_http_mdm_args_add_cstr(&args,
                               mlcf->cert_binding == NGX_HTTP_MDM_BIND_RETRO
                               ? "retro" : "on");

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (q->endpoint) {

    case NGX_HTTP_MDM_DDM_DECLARATION:
        ngx_http_mdm_args_add_cstr(&args, mdm_ddm_kind_name(q->kind));
        ngx_http_mdm_args_add_cstr(&args, q->identifier);
        break;

    case NGX_HTTP_MDM_DDM_STATUS:
        if (ngx_http_mdm_ddm_status_args(r, q, ci, &args) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        break;

    default:
        break;
    }

    ctx->ddm = q;

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_ddm_reply);
}


/* The Endpoint, and for status the report parsed: NGX_OK or NGX_DECLINED */
static ngx_int_t
ngx_http_mdm_ddm_endpoint(ngx_http_request_t *r, ngx_http_mdm_ddm_req_t *q,
    const char *endpoint)
{
    size_t                    n;
    const char               *kind, *id;
    mdm_checkin_t            *ci;
    mdm_ddm_error_t           err;
    mdm_ddm_status_rc_e       rc;
    ngx_http_mdm_ctx_t       *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    ci = ctx->data;

    if (endpoint == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_strcmp(endpoint, "tokens") == 0) {
        q->endpoint = NGX_HTTP_MDM_DDM_TOKENS;
        return NGX_OK;
    }

    if (ngx_strcmp(endpoint, "declaration-items") == 0) {
        q->endpoint = NGX_HTTP_MDM_DDM_ITEMS;
        return NGX_OK;
    }

    if (ngx_strcmp(endpoint, "status") == 0) {
        q->endpoint = NGX_HTTP_MDM_DDM_STATUS;

        rc = mdm_ddm_status_parse((const char *) ci->data.data, ci->data.len,
                                  0, &q->st, &err);
        if (rc != MDM_DDM_STATUS_OK) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mdm ddm: status report from \"%V\" refused: "
                          "%s (%s at \"%s\")", &ctx->enrollment_id, err.msg,
                          mdm_ddm_status_rc_name(rc), err.path);
            return NGX_ERROR;
        }

        q->parsed = 1;
        return NGX_OK;
    }

    /* declaration/<kind>/<Identifier>; the Identifier may hold '/' */
    if (ngx_strncmp(endpoint, "declaration/", 12) != 0) {
        return NGX_DECLINED;
    }

    kind = endpoint + 12;
    id = ngx_strchr(kind, '/');
    if (id == NULL) {
        return NGX_DECLINED;
    }

    q->kind = mdm_ddm_kind_from_name(kind, id - kind);
    id++;
    n = ngx_strlen(id);

    if (q->kind == MDM_DDM_NKINDS || !mdm_ddm_id_valid(id, n)) {
        return NGX_DECLINED;
    }

    q->endpoint = NGX_HTTP_MDM_DDM_DECLARATION;
    q->identifier = (char *) id;

    return NGX_OK;
}


static void
ngx_http_mdm_ddm_req_cleanup(void *data)
{
    ngx_http_mdm_ddm_req_t  *q = data;

    if (q->parsed) {
        mdm_ddm_status_free(&q->st);
    }
}


/* A JSON string value, escaped by jansson, into the pool. */
static u_char *
ngx_http_mdm_ddm_json(ngx_http_request_t *r, json_t *v, size_t *len)
{
    char    *s;
    u_char  *p;

    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (s == NULL) {
        return NULL;
    }

    *len = ngx_strlen(s);
    p = ngx_pnalloc(r->pool, *len);
    if (p != NULL) {
        ngx_memcpy(p, s, *len);
    }

    free(s);

    return p;
}


static ngx_int_t
ngx_http_mdm_ddm_add_json(ngx_http_request_t *r, ngx_http_mdm_args_t *a,
    json_t *v)
{
    u_char  *p;
    size_t   len;

    if (v == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_mdm_ddm_json(r, v, &len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add(a, p, len);

    return NGX_OK;
}


/*
 * The status report for ddm_device.lua: the raw report with its receipt,
 * the declaration entries, the values and the errors as the status API
 * shows them (KMFDDM's shapes), and the ddm.StatusReport event.
 */
static ngx_int_t
ngx_http_mdm_ddm_status_args(ngx_http_request_t *r, ngx_http_mdm_ddm_req_t *q,
    mdm_checkin_t *ci, ngx_http_mdm_args_t *a)
{
    u_char                       *p, sha[20];
    size_t                        i;
    time_t                        now;
    json_t                       *v, *val;
    ngx_str_t                     raw, report, event;
    ngx_sha1_t                    sha1;
    mdm_event_t                   ev;
    mdm_ddm_decl_status_t        *d;
    ngx_http_mdm_main_conf_t     *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);
    now = ngx_time();

    /* a report's ID: its bytes and when it came */
    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, &now, sizeof(now));
    ngx_sha1_update(&sha1, ci->data.data, ci->data.len);
    ngx_sha1_final(sha, &sha1);
    ngx_hex_dump((u_char *) q->status_id, sha, 8);

    raw.data = ngx_pnalloc(r->pool, ci->data.len + NGX_TIME_T_LEN + 20);
    if (raw.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(raw.data, "%T %s\n", now, q->status_id);
    p = ngx_cpymem(p, ci->data.data, ci->data.len);
    raw.len = p - raw.data;

    ngx_memzero(&ev, sizeof(mdm_event_t));
    ev.topic = "ddm.StatusReport";
    ev.id = ci->enrollment.id;
    ev.parent = ci->enrollment.parent[0] ? ci->enrollment.parent : NULL;
    ev.type = mdm_enrollment_type_name(ci->enrollment.type);
    ev.udid = ci->id_keys.udid;
    ev.enrollment_id = ci->id_keys.enrollment_id;

    report.data = (u_char *) ci->data.data;
    report.len = ci->data.len;

    if (ngx_http_mdm_event_bytes(r, &ev, &report, &event) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add(a, raw.data, raw.len);

    if (ngx_http_mdm_args_add_int(r, a, NGX_HTTP_MDM_DDM_HISTORY) != NGX_OK
        || ngx_http_mdm_args_add_int(r, a, q->st.full_report) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add(a, event.data, event.len);

    if (ngx_http_mdm_args_add_int(r, a, mcf->events_maxlen) != NGX_OK
        || ngx_http_mdm_args_add_int(r, a, q->st.ndeclarations) != NGX_OK
        || ngx_http_mdm_args_add_int(r, a, q->st.nvalues) != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < q->st.ndeclarations; i++) {
        d = &q->st.declarations[i];
        ngx_http_mdm_args_add_cstr(a, d->identifier);

        if (d->removed) {
            ngx_http_mdm_args_add(a, "", 0);
            continue;
        }

        v = json_pack("{s:s,s:s,s:o,s:s?,s:s?,s:O?,s:I,s:s}",
                      "identifier", d->identifier,
                      "kind", mdm_ddm_kind_name(d->kind),
                      "active", d->active < 0 ? json_null()
                                : json_boolean(d->active),
                      "valid", d->valid_text,
                      "server-token", d->server_token,
                      "reasons", d->reasons,
                      "status_received", (json_int_t) now,
                      "status_id", q->status_id);

        if (ngx_http_mdm_ddm_add_json(r, a, v) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < q->st.nvalues; i++) {
        ngx_http_mdm_args_add_cstr(a, q->st.values[i].path);

        if (q->st.values[i].value == NULL) {
            ngx_http_mdm_args_add(a, "", 0);
            continue;
        }

        val = json_loads(q->st.values[i].value, JSON_DECODE_ANY, NULL);
        v = json_pack("{s:o?,s:I,s:s}", "value", val,
                      "timestamp", (json_int_t) now,
                      "status_id", q->status_id);

        if (ngx_http_mdm_ddm_add_json(r, a, v) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* errors as KMFDDM lists them: Errors[], and declarations inactive
     * and not valid */
    for (i = 0; i < q->st.nerrors; i++) {
        v = json_pack("{s:s,s:{s:s,s:O?},s:I,s:s}", "path", ".Errors",
                      "error", "StatusItem", q->st.errors[i].status_item,
                      "Reasons", q->st.errors[i].reasons,
                      "timestamp", (json_int_t) now,
                      "status_id", q->status_id);

        if (ngx_http_mdm_ddm_add_json(r, a, v) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < q->st.ndeclarations; i++) {
        d = &q->st.declarations[i];
        if (!d->is_error || d->removed) {
            continue;
        }

        p = ngx_pnalloc(r->pool, 64);
        if (p == NULL) {
            return NGX_ERROR;
        }
        ngx_sprintf(p, ".StatusItems.management.declarations.%s%Z",
                    mdm_ddm_kind_status(d->kind));

        v = json_pack("{s:s,s:{s:s,s:o,s:s?,s:s?,s:O?},s:I,s:s}",
                      "path", (char *) p,
                      "error", "identifier", d->identifier,
                      "active", json_boolean(d->active > 0),
                      "valid", d->valid_text,
                      "server-token", d->server_token,
                      "reasons", d->reasons,
                      "timestamp", (json_int_t) now,
                      "status_id", q->status_id);

        if (ngx_http_mdm_ddm_add_json(r, a, v) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_ddm_reply(ngx_http_request_t *r, redisReply *reply)
{
    mdm_checkin_t           *ci;
    ngx_http_mdm_ctx_t      *ctx;
    ngx_http_mdm_ddm_req_t  *q;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    ci = ctx->data;
    q = ctx->ddm;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm ddm: unexpected reply from ddm_device.lua");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_strcmp(reply->element[0]->str, "ok") != 0) {
        if (reply->elements != 2
            || reply->element[1]->type != REDIS_REPLY_STRING)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_mdm_metrics_identity_failure(
            mdm_identity_script_reason(reply->element[1]->str));
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm ddm: %s from \"%V\" refused: %s",
                      ci->endpoint, &ctx->enrollment_id,
                      reply->element[1]->str);
        return NGX_HTTP_BAD_REQUEST;
    }

    switch (q->endpoint) {

    case NGX_HTTP_MDM_DDM_TOKENS:
        return ngx_http_mdm_ddm_tokens(r, reply);

    case NGX_HTTP_MDM_DDM_ITEMS:
        return ngx_http_mdm_ddm_items(r, reply);

    case NGX_HTTP_MDM_DDM_DECLARATION:
        if (reply->elements != 2
            || reply->element[1]->type != REDIS_REPLY_STRING)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return ngx_http_mdm_ddm_fetch(r, q, reply->element[1]);

    default:
        return ngx_http_mdm_send(r, NGX_HTTP_OK, NULL, NULL, 0);
    }
}


/* The token of an enrollment that has no view yet: that of no items. */
static const char *
ngx_http_mdm_ddm_token_of(redisReply *e, char *empty)
{
    mdm_ddm_error_t  err;

    if (e->type == REDIS_REPLY_STRING && e->len > 0) {
        return e->str;
    }

    if (mdm_ddm_declarations_token(NULL, 0, empty, &err) != MDM_OK) {
        return NULL;
    }

    return empty;
}


static ngx_int_t
ngx_http_mdm_ddm_tokens(ngx_http_request_t *r, redisReply *reply)
{
    char        *doc, empty[MDM_DDM_DECLARATIONS_TOKEN_LEN + 1];
    size_t       len;
    const char  *token;

    if (reply->elements != 4) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    token = ngx_http_mdm_ddm_token_of(reply->element[1], empty);
    if (token == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    doc = mdm_ddm_tokens_document(token,
                                  (time_t) ngx_atotm((u_char *)
                                      reply->element[2]->str,
                                      reply->element[2]->len),
                                  &len);

    return ngx_http_mdm_ddm_send_json(r, doc, len);
}


/* The document the view holds; that of no items when there is no view. */
static ngx_int_t
ngx_http_mdm_ddm_items(ngx_http_request_t *r, redisReply *reply)
{
    char             *doc;
    size_t            len;
    redisReply       *stored;
    mdm_ddm_error_t   err;

    if (reply->elements != 4) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    stored = reply->element[3];

    if (stored->type == REDIS_REPLY_STRING && stored->len > 0) {
        return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/json",
                                 (u_char *) stored->str, stored->len);
    }

    doc = mdm_ddm_items_document(NULL, 0, NULL, &len, &err);

    return ngx_http_mdm_ddm_send_json(r, doc, len);
}


/* The view says the enrollment has it: now its body, from its own slot. */
static ngx_int_t
ngx_http_mdm_ddm_fetch(ngx_http_request_t *r, ngx_http_mdm_ddm_req_t *q,
    redisReply *token)
{
    char                 key[MDM_KEY_MAX];
    size_t               len;
    ngx_http_mdm_ctx_t  *ctx;
    ngx_http_mdm_args_t  args;

    if (token->len == 0) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm ddm: \"%V\" asked for declaration/%s/%s, which "
                      "is not assigned to it", &ctx->enrollment_id,
                      mdm_ddm_kind_name(q->kind), q->identifier);
        return NGX_HTTP_NOT_FOUND;
    }

    len = mdm_key(key, MDM_K_DDM_DECL, q->identifier, NULL);

    if (len == 0 || ngx_http_mdm_args_init(r, &args, 5) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "HMGET");

    if (ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "kind");
    ngx_http_mdm_args_add_cstr(&args, "doc");

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_ddm_body);
}


static ngx_int_t
ngx_http_mdm_ddm_body(ngx_http_request_t *r, redisReply *reply)
{
    redisReply              *kind, *doc;
    ngx_http_mdm_ctx_t      *ctx;
    ngx_http_mdm_ddm_req_t  *q;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    q = ctx->ddm;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kind = reply->element[0];
    doc = reply->element[1];

    /* deleted, or made another kind, since the view was written */
    if (doc->type != REDIS_REPLY_STRING || kind->type != REDIS_REPLY_STRING
        || ngx_strcmp(kind->str, mdm_ddm_kind_name(q->kind)) != 0)
    {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/json",
                             (u_char *) doc->str, doc->len);
}


static ngx_int_t
ngx_http_mdm_ddm_send_json(ngx_http_request_t *r, char *doc, size_t len)
{
    ngx_int_t  rc;

    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_send(r, NGX_HTTP_OK, "application/json",
                           (u_char *) doc, len);
    free(doc);

    return rc;
}
