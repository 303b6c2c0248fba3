/*
 * Apps and Books in the API (docs/vpp.md): PUT|GET /v1/vpp/tokens/<location>
 * (the .vpptoken, parsed and checked here, validated by mdm-worker with
 * Apple), GET /v1/vpp/assets/<location> (the synced catalogue), POST
 * /v1/vpp/assign|unassign/<location> ({"adamId", "enrollments"}: a job for
 * the worker) and GET /v1/vpp/installs/<location>/<adamId> (the state per
 * enrollment). Every call is one script in the location's slot; a token
 * upload adds the location to the global list in a second call.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include <jansson.h>

#include "mdm_keys.h"
#include "vpp/mdm_vpp_reply.h"
#include "vpp/mdm_vpp_token.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"

#define NGX_HTTP_MDM_VPP_LOC_MAX      64
#define NGX_HTTP_MDM_VPP_MAX_TARGETS  10000


typedef struct {
    char             loc[NGX_HTTP_MDM_VPP_LOC_MAX + 1];
    char             adam[24];
    mdm_vpp_token_t  token;
    ngx_uint_t       created;
    ngx_uint_t       unassign;
} ngx_http_mdm_api_vpp_t;


static ngx_int_t ngx_http_mdm_api_vpp_token_stored(ngx_http_request_t *r,
    redisReply *reply);


/* A location name: 1 to 64 of A-Z a-z 0-9 . _ - (it goes into keys). */
static ngx_int_t
ngx_http_mdm_api_vpp_loc(ngx_http_request_t *r, ngx_str_t *s,
    ngx_http_mdm_api_vpp_t **out)
{
    size_t                   i;
    ngx_http_mdm_ctx_t      *ctx;
    ngx_http_mdm_api_vpp_t  *k;

    if (s->len == 0 || s->len > NGX_HTTP_MDM_VPP_LOC_MAX) {
        return NGX_DECLINED;
    }
    for (i = 0; i < s->len; i++) {
        u_char c = s->data[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            return NGX_DECLINED;
        }
    }
    ctx = ngx_http_mdm_get_ctx(r);
    k = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_api_vpp_t));
    if (ctx == NULL || k == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(k->loc, s->data, s->len);
    ctx->data = k;
    *out = k;
    return NGX_OK;
}


#define NGX_HTTP_MDM_VPP_LOC_ERR \
    "location must be 1 to 64 of A-Z a-z 0-9 . _ -"

static ngx_int_t
ngx_http_mdm_api_vpp_begin(ngx_http_request_t *r, ngx_str_t *path,
    ngx_http_mdm_api_vpp_t **k)
{
    ngx_int_t rc = ngx_http_mdm_api_vpp_loc(r, path, k);

    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_MDM_VPP_LOC_ERR);
    }
    return rc == NGX_OK ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* A script of the location's slot: KEYS[1] its token, ARGV[1] its name. */
static ngx_int_t
ngx_http_mdm_api_vpp_args(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    const char *script, int extra, ngx_http_mdm_api_vpp_t *k)
{
    char    key[MDM_KEY_MAX];
    size_t  n = mdm_key(key, MDM_K_VPP_TOKEN, k->loc, NULL);

    if (ngx_http_mdm_args_init(r, args, 3 + 1 + 1 + extra) != NGX_OK
        || ngx_http_mdm_args_script(r, args, script, 1) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, args, key, n) != NGX_OK)
    {
        return NGX_ERROR;
    }
    ngx_http_mdm_args_add_cstr(args, k->loc);
    return NGX_OK;
}


static void
ngx_http_mdm_api_vpp_token_cleanup(void *data)
{
    mdm_vpp_token_free(data);
}


/* --- PUT /v1/vpp/tokens/<location> -------------------------------------- */

static void ngx_http_mdm_api_vpp_token_body(ngx_http_request_t *r);


ngx_int_t
ngx_http_mdm_api_vpp_token_put(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t                rc;
    ngx_http_mdm_api_vpp_t  *k;

    rc = ngx_http_mdm_api_vpp_begin(r, path, &k);
    if (rc != NGX_OK) {
        return rc;
    }
    return ngx_http_mdm_read_body(r, ngx_http_mdm_api_vpp_token_body);
}


static ngx_int_t
ngx_http_mdm_api_vpp_token_store(ngx_http_request_t *r)
{
    u_char                   rnd[24];
    char                     secret[sizeof(rnd) * 2 + 1];
    ngx_str_t                body;
    mdm_err_t                err;
    ngx_pool_cleanup_t      *cln;
    ngx_http_mdm_ctx_t      *ctx;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_api_vpp_t  *k;

    switch (ngx_http_mdm_body(r, &body)) {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "body larger than client_body_buffer_size");
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_mdm_get_ctx(r);
    k = ctx ? ctx->data : NULL;
    if (k == NULL) {
        /* seen once under ASan (t/203), cause not yet found: never crash */
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm api: vpp token upload lost its request state");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mdm_vpp_token_parse((char *) body.data, body.len, &k->token, &err)
        != MDM_OK)
    {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err.msg);
    }
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        mdm_vpp_token_free(&k->token);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    cln->handler = ngx_http_mdm_api_vpp_token_cleanup;
    cln->data = &k->token;

    if (k->token.expires <= ngx_time()) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "the token expired (expDate)");
    }

    /* the notificationAuthToken Apple will send: ours, per upload */
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_hex_dump((u_char *) secret, rnd, sizeof(rnd));
    secret[sizeof(secret) - 1] = '\0';

    if (ngx_http_mdm_api_vpp_args(r, &args, "vpp_token_put", 6, k) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_http_mdm_args_add_cstr(&args, k->token.stoken);
    ngx_http_mdm_args_add_cstr(&args, k->token.org_name);
    ngx_http_mdm_args_add_cstr(&args, k->token.exp_date);
    if (ngx_http_mdm_args_add_int(r, &args, k->token.expires) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, secret, ngx_strlen(secret))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_vpp_token_stored);
}


static void
ngx_http_mdm_api_vpp_token_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mdm_api_vpp_token_store(r));
}


static ngx_int_t
ngx_http_mdm_api_vpp_listed(ngx_http_request_t *r, redisReply *reply)
{
    json_t                  *root;
    ngx_http_mdm_ctx_t      *ctx = ngx_http_mdm_get_ctx(r);
    ngx_http_mdm_api_vpp_t  *k = ctx->data;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_mdm_api_unexpected(r, "vpp_location_add");
    }
    root = json_pack("{s:s,s:s,s:s,s:I,s:s}", "location", k->loc,
                     "org_name", k->token.org_name,
                     "exp_date", k->token.exp_date,
                     "expires", (json_int_t) k->token.expires,
                     "status", "pending");
    return root ? ngx_http_mdm_api_send_json(r, k->created ? NGX_HTTP_CREATED
                                                           : NGX_HTTP_OK, root)
                : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
ngx_http_mdm_api_vpp_token_stored(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_ctx_t      *ctx = ngx_http_mdm_get_ctx(r);
    ngx_http_mdm_api_vpp_t  *k = ctx->data;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_mdm_api_unexpected(r, "vpp_token_put");
    }
    k->created = reply->integer == 1;

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "mdm api: Apps and Books token of location \"%s\" (%s) "
                  "stored, expires %s", k->loc, k->token.org_name,
                  k->token.exp_date);

    if (ngx_http_mdm_args_init(r, &args, 3 + 1 + 1) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "vpp_location_add", 1) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_http_mdm_args_add_cstr(&args, mdm_schema_keys[MDM_K_VPP_LOCATIONS].pattern);
    ngx_http_mdm_args_add_cstr(&args, k->loc);
    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_vpp_listed);
}


/* --- GET /v1/vpp/tokens/<location> ---------------------------------------- */

static json_t *
ngx_http_mdm_api_vpp_fields(redisReply *a)
{
    size_t   i;
    json_t  *o = json_object();

    for (i = 0; o && a->type == REDIS_REPLY_ARRAY && i + 1 < a->elements; i += 2) {
        if (a->element[i]->type == REDIS_REPLY_STRING
            && a->element[i + 1]->type == REDIS_REPLY_STRING)
        {
            json_object_set_new(o, a->element[i]->str,
                                json_stringn(a->element[i + 1]->str,
                                             a->element[i + 1]->len));
        }
    }
    return o;
}


static ngx_int_t
ngx_http_mdm_api_vpp_token_got(ngx_http_request_t *r, redisReply *reply)
{
    json_t                  *root;
    ngx_http_mdm_ctx_t      *ctx = ngx_http_mdm_get_ctx(r);
    ngx_http_mdm_api_vpp_t  *k = ctx->data;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND, "unknown location");
    }
    root = ngx_http_mdm_api_vpp_fields(reply);
    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    json_object_set_new(root, "location", json_string(k->loc));
    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root);
}


ngx_int_t
ngx_http_mdm_api_vpp_token_get(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t                rc;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_api_vpp_t  *k;

    rc = ngx_http_mdm_api_vpp_begin(r, path, &k);
    if (rc != NGX_OK) {
        return rc;
    }
    if (ngx_http_mdm_api_vpp_args(r, &args, "vpp_token_get", 0, k) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_vpp_token_got);
}


/* --- GET /v1/vpp/assets/<location> ---------------------------------------- */

static ngx_int_t
ngx_http_mdm_api_vpp_assets_got(ngx_http_request_t *r, redisReply *reply)
{
    size_t   i;
    json_t  *root, *list, *a;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND, "unknown location");
    }
    list = json_array();
    for (i = 1; list && i + 1 < reply->elements; i += 2) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }
        a = ngx_http_mdm_api_vpp_fields(reply->element[i + 1]);
        if (a) {
            json_object_set_new(a, "adamId", json_string(reply->element[i]->str));
            json_array_append_new(list, a);
        }
    }
    root = json_pack("{s:I,s:o}", "total", (json_int_t) reply->element[0]->integer,
                     "assets", list);
    return root ? ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root)
                : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


ngx_int_t
ngx_http_mdm_api_vpp_assets(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t                rc;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_api_vpp_t  *k;

    rc = ngx_http_mdm_api_vpp_begin(r, path, &k);
    if (rc != NGX_OK) {
        return rc;
    }
    if (ngx_http_mdm_api_vpp_args(r, &args, "vpp_assets_list", 2, k) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_http_mdm_args_add_cstr(&args, "0");
    ngx_http_mdm_args_add_cstr(&args, "1000");
    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_vpp_assets_got);
}


/* --- POST /v1/vpp/assign|unassign/<location> ------------------------------ */

static void ngx_http_mdm_api_vpp_assign_body(ngx_http_request_t *r);


static ngx_int_t
ngx_http_mdm_api_vpp_assigned(ngx_http_request_t *r, redisReply *reply)
{
    json_t  *root;
    char     why[256];

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return ngx_http_mdm_api_unexpected(r, "vpp_assign");
    }
    if (ngx_strcmp(reply->element[0]->str, "err") == 0 && reply->elements == 3) {
        ngx_snprintf((u_char *) why, sizeof(why) - 1, "%s%Z",
                     reply->element[2]->str);
        return ngx_http_mdm_api_refuse(r, ngx_atoi((u_char *) reply->element[1]->str,
                                                   reply->element[1]->len),
                                       why);
    }
    root = json_pack("{s:I}", "queued", (json_int_t) reply->element[1]->integer);
    return root ? ngx_http_mdm_api_send_json(r, NGX_HTTP_ACCEPTED, root)
                : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
ngx_http_mdm_api_vpp_assign_send(ngx_http_request_t *r)
{
    size_t                   i, n;
    ngx_str_t                body;
    json_t                  *root, *ids;
    json_error_t             jerr;
    const char              *adam, *id;
    ngx_http_mdm_ctx_t      *ctx = ngx_http_mdm_get_ctx(r);
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_api_vpp_t  *k = ctx->data;
    ngx_int_t                rc = NGX_OK;

    switch (ngx_http_mdm_body(r, &body)) {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "body larger than client_body_buffer_size");
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    root = json_loadb((char *) body.data, body.len, JSON_REJECT_DUPLICATES, &jerr);
    adam = json_string_value(json_object_get(root, "adamId"));
    ids = json_object_get(root, "enrollments");
    n = json_array_size(ids);
    if (!json_is_object(root) || adam == NULL || !mdm_vpp_adam_id_ok(adam)
        || !json_is_array(ids) || n == 0 || n > NGX_HTTP_MDM_VPP_MAX_TARGETS)
    {
        json_decref(root);
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                   "body must be {\"adamId\": \"<digits>\", \"enrollments\": "
                   "[1 to 10000 enrollment IDs]}");
    }
    if (ngx_http_mdm_api_vpp_args(r, &args, "vpp_assign", 3 + (int) n, k)
        != NGX_OK)
    {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_http_mdm_args_add_cstr(&args, k->unassign ? "unassign" : "assign");
    if (ngx_http_mdm_args_add_copy(r, &args, adam, ngx_strlen(adam)) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK)
    {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    for (i = 0; i < n; i++) {
        id = json_string_value(json_array_get(ids, i));
        if (id == NULL || !mdm_vpp_id_ok(id)) {
            rc = ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                     "enrollments must be strings of 1 to 128 printable "
                     "characters without space");
            break;
        }
        if (ngx_http_mdm_args_add_copy(r, &args, id, ngx_strlen(id)) != NGX_OK) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }
    }
    json_decref(root);
    if (rc != NGX_OK) {
        return rc;
    }
    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_vpp_assigned);
}


static void
ngx_http_mdm_api_vpp_assign_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mdm_api_vpp_assign_send(r));
}


static ngx_int_t
ngx_http_mdm_api_vpp_assign_begin(ngx_http_request_t *r, ngx_str_t *path,
    ngx_uint_t unassign)
{
    ngx_int_t                rc;
    ngx_http_mdm_api_vpp_t  *k;

    rc = ngx_http_mdm_api_vpp_begin(r, path, &k);
    if (rc != NGX_OK) {
        return rc;
    }
    k->unassign = unassign;
    return ngx_http_mdm_read_body(r, ngx_http_mdm_api_vpp_assign_body);
}


ngx_int_t
ngx_http_mdm_api_vpp_assign(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_vpp_assign_begin(r, path, 0);
}


ngx_int_t
ngx_http_mdm_api_vpp_unassign(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_vpp_assign_begin(r, path, 1);
}


/* --- GET /v1/vpp/installs/<location>/<adamId> ---------------------------- */

static ngx_int_t
ngx_http_mdm_api_vpp_installs_got(ngx_http_request_t *r, redisReply *reply)
{
    size_t                   i;
    json_t                  *root, *list, *e;
    redisReply              *st;
    ngx_http_mdm_ctx_t      *ctx = ngx_http_mdm_get_ctx(r);
    ngx_http_mdm_api_vpp_t  *k = ctx->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND, "unknown location");
    }
    st = reply->element[1];
    list = json_object();
    for (i = 0; list && st->type == REDIS_REPLY_ARRAY && i + 1 < st->elements; i += 2) {
        /* "<state> <serial> [detail]" */
        char        *v = st->element[i + 1]->str, *sp, *sp2;
        json_t      *o;

        sp = strchr(v, ' ');
        sp2 = sp ? strchr(sp + 1, ' ') : NULL;
        o = json_pack("{s:s#}", "state", v, sp ? (int) (sp - v) : (int) strlen(v));
        if (o && sp) {
            json_object_set_new(o, "serial", json_stringn(sp + 1, sp2 ? (size_t) (sp2 - sp - 1)
                                                                       : strlen(sp + 1)));
        }
        if (o && sp2 && sp2[1]) {
            json_object_set_new(o, "detail", json_string(sp2 + 1));
        }
        if (o) {
            json_object_set_new(list, st->element[i]->str, o);
        }
    }
    e = ngx_http_mdm_api_vpp_fields(reply->element[0]);
    root = json_pack("{s:s,s:s,s:o,s:o}", "location", k->loc, "adamId", k->adam,
                     "asset", e ? e : json_object(), "enrollments",
                     list ? list : json_object());
    return root ? ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root)
                : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


ngx_int_t
ngx_http_mdm_api_vpp_installs(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char                  *slash;
    ngx_str_t                loc;
    ngx_int_t                rc;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_api_vpp_t  *k;

    slash = ngx_strlchr(path->data, path->data + path->len, '/');
    if (slash == NULL) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "expected /v1/vpp/installs/<location>/<adamId>");
    }
    loc.data = path->data;
    loc.len = slash - path->data;
    rc = ngx_http_mdm_api_vpp_begin(r, &loc, &k);
    if (rc != NGX_OK) {
        return rc;
    }
    if ((size_t) (path->data + path->len - slash - 1) >= sizeof(k->adam)) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "adamId must be 1 to 20 digits");
    }
    ngx_memcpy(k->adam, slash + 1, path->data + path->len - slash - 1);
    if (!mdm_vpp_adam_id_ok(k->adam)) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "adamId must be 1 to 20 digits");
    }
    if (ngx_http_mdm_api_vpp_args(r, &args, "vpp_installs", 1, k) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_http_mdm_args_add_cstr(&args, k->adam);
    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_vpp_installs_got);
}
