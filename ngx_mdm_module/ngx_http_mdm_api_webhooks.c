/*
 * Dead letters of mdm-worker's webhooks (docs/webhooks.md):
 *   GET  /v1/webhooks/<name>/dead[?count=N]   the oldest N (default 100)
 *   POST /v1/webhooks/<name>/replay[?id=ID]   one, or all, back to the
 *        webhook's retry stream (webhook_replay.lua)
 * The module does not know the worker's webhook list: a name only has to
 * be one the worker would accept; an unknown one has no dead letters.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"
#include "mdm_keys.h"


#define NGX_HTTP_MDM_WEBHOOK_NAME_MAX  63
#define NGX_HTTP_MDM_DEAD_COUNT        100
#define NGX_HTTP_MDM_DEAD_COUNT_MAX    10000
#define NGX_HTTP_MDM_REPLAY_BATCH      "500"    /* per script call */


typedef struct {
    ngx_str_t   name;
    ngx_str_t   id;                  /* replay of one entry, or empty */
    ngx_str_t   newest;              /* replay of all: the last to move */
    int64_t     replayed;
} ngx_http_mdm_api_webhooks_req_t;


static ngx_uint_t ngx_http_mdm_api_webhooks_name_ok(ngx_str_t *name);
static ngx_int_t ngx_http_mdm_api_webhooks_bad_name(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_webhooks_dead_read(ngx_http_request_t *r,
    ngx_str_t *name);
static ngx_int_t ngx_http_mdm_api_webhooks_dead_list(ngx_http_request_t *r,
    redisReply *reply);
static json_t *ngx_http_mdm_api_webhooks_dead_entry(redisReply *entry);
static ngx_int_t ngx_http_mdm_api_webhooks_replay_start(ngx_http_request_t *r,
    ngx_str_t *name);
static ngx_int_t ngx_http_mdm_api_webhooks_entry_id(ngx_str_t *id);
static ngx_int_t ngx_http_mdm_api_webhooks_replay_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_webhooks_replayed(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_webhooks_key(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, mdm_key_id_t k, ngx_str_t *name);


ngx_int_t
ngx_http_mdm_api_webhooks_dead(ngx_http_request_t *r, ngx_str_t *name)
{
    if (!ngx_http_mdm_api_webhooks_name_ok(name)) {
        return ngx_http_mdm_api_webhooks_bad_name(r);
    }

    return ngx_http_mdm_api_webhooks_dead_read(r, name);
}


ngx_int_t
ngx_http_mdm_api_webhooks_replay(ngx_http_request_t *r, ngx_str_t *name)
{
    if (!ngx_http_mdm_api_webhooks_name_ok(name)) {
        return ngx_http_mdm_api_webhooks_bad_name(r);
    }

    return ngx_http_mdm_api_webhooks_replay_start(r, name);
}


/* Neither /dead nor /replay: what is expected, as far as it can tell. */
ngx_int_t
ngx_http_mdm_api_webhooks_unknown(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char     *slash;
    ngx_str_t   name;

    slash = ngx_strlchr(path->data, path->data + path->len, '/');

    name.data = path->data;
    name.len = slash ? (size_t) (slash - path->data) : 0;

    if (!ngx_http_mdm_api_webhooks_name_ok(&name)) {
        return ngx_http_mdm_api_webhooks_bad_name(r);
    }

    return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                   "expected /dead or /replay");
}


static ngx_int_t
ngx_http_mdm_api_webhooks_bad_name(ngx_http_request_t *r)
{
    return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
               "expected /v1/webhooks/<name>/dead or /replay, "
               "name of [A-Za-z0-9._-]");
}


/* A name as mdm-worker accepts it (webhook.c). */
static ngx_uint_t
ngx_http_mdm_api_webhooks_name_ok(ngx_str_t *name)
{
    u_char  *p;

    if (name->len == 0 || name->len > NGX_HTTP_MDM_WEBHOOK_NAME_MAX) {
        return 0;
    }

    for (p = name->data; p < name->data + name->len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
              || *p == '.'))
        {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_mdm_api_webhooks_key(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    mdm_key_id_t k, ngx_str_t *name)
{
    char     cname[NGX_HTTP_MDM_WEBHOOK_NAME_MAX + 1], *key;
    size_t   len;

    /* the name was checked: [A-Za-z0-9._-], at most the maximum */
    ngx_memcpy(cname, name->data, name->len);
    cname[name->len] = '\0';

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (key == NULL) {
        return NGX_ERROR;
    }

    len = mdm_key(key, k, cname, NULL);
    if (len == 0) {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add(args, key, len);

    return NGX_OK;
}


/* GET /v1/webhooks/<name>/dead?count=N: XRANGE, oldest first. */
static ngx_int_t
ngx_http_mdm_api_webhooks_dead_read(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_int_t               rc, count;
    ngx_str_t              *saved;
    const char             *err;
    ngx_http_mdm_ctx_t     *ctx;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_api_arg_t  q[] = {
        { ngx_string("count"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };

    count = NGX_HTTP_MDM_DEAD_COUNT;

    rc = ngx_http_mdm_api_args(r, q, &err);
    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err);
    }
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (q[0].set) {
        count = ngx_atoi(q[0].value.data, q[0].value.len);
        if (count < 1 || count > NGX_HTTP_MDM_DEAD_COUNT_MAX) {
            return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                       "count must be a number from 1 to 10000");
        }
    }

    /* name lives on the caller's stack; the reply comes later */
    ctx = ngx_http_mdm_get_ctx(r);
    saved = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (ctx == NULL || saved == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *saved = *name;
    ctx->data = saved;

    if (ngx_http_mdm_args_init(r, &args, 6) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, "XRANGE", 6);

    if (ngx_http_mdm_api_webhooks_key(r, &args, MDM_K_WEBHOOK_DEAD, name)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, "-", 1);
    ngx_http_mdm_args_add(&args, "+", 1);
    ngx_http_mdm_args_add(&args, "COUNT", 5);

    if (ngx_http_mdm_args_add_int(r, &args, count) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_webhooks_dead_list);
}


static ngx_int_t
ngx_http_mdm_api_webhooks_dead_list(ngx_http_request_t *r, redisReply *reply)
{
    size_t               i;
    json_t              *root, *list, *entry;
    ngx_str_t           *name;
    ngx_http_mdm_ctx_t  *ctx;

    if (reply->type != REDIS_REPLY_ARRAY) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm api: unexpected XRANGE reply");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    name = ctx->data;

    root = json_object();
    list = json_array();

    if (root == NULL || list == NULL
        || json_object_set_new(root, "webhook",
               json_stringn((char *) name->data, name->len)) != 0
        || json_object_set(root, "dead", list) != 0)
    {
        json_decref(list);
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_decref(list);

    for (i = 0; i < reply->elements; i++) {
        entry = ngx_http_mdm_api_webhooks_dead_entry(reply->element[i]);
        if (entry != NULL && json_array_append_new(list, entry) != 0) {
            json_decref(root);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root);
}


/* {"id", "event_id", "topic", "enrollment_id", "error", "attempts"} */
static json_t *
ngx_http_mdm_api_webhooks_dead_entry(redisReply *entry)
{
    size_t       i;
    json_t      *obj, *v;
    redisReply  *f, *k, *val;

    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2
        || entry->element[0]->type != REDIS_REPLY_STRING
        || entry->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NULL;
    }

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    json_object_set_new(obj, "id", json_stringn(entry->element[0]->str,
                                                entry->element[0]->len));
    f = entry->element[1];

    for (i = 0; i + 1 < f->elements; i += 2) {
        k = f->element[i];
        val = f->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING
            || ngx_strcmp(k->str, "m") == 0 || ngx_strcmp(k->str, "tally") == 0)
        {
            continue;
        }

        if (ngx_strcmp(k->str, "attempts") == 0) {
            v = json_integer(ngx_atoi((u_char *) val->str, val->len));

        } else {
            /* strings from the worker; a non-UTF-8 one is left out */
            v = json_stringn(val->str, val->len);
        }

        if (v != NULL) {
            json_object_set_new(obj,
                ngx_strcmp(k->str, "id") == 0 ? "enrollment_id" : k->str, v);
        }
    }

    return obj;
}


/* POST /v1/webhooks/<name>/replay[?id=<entry id>] */
static ngx_int_t
ngx_http_mdm_api_webhooks_replay_start(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_int_t                         rc;
    const char                       *err;
    ngx_http_mdm_ctx_t               *ctx;
    ngx_http_mdm_api_webhooks_req_t  *req;
    ngx_http_mdm_api_arg_t            q[] = {
        { ngx_string("id"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };

    ctx = ngx_http_mdm_get_ctx(r);
    req = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_api_webhooks_req_t));
    if (ctx == NULL || req == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    req->name = *name;

    rc = ngx_http_mdm_api_args(r, q, &err);
    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err);
    }
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (q[0].set) {
        if (ngx_http_mdm_api_webhooks_entry_id(&q[0].value) != NGX_OK) {
            return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                       "id must be a stream entry ID like 1700000000000-0");
        }

        req->id = q[0].value;
    }

    ctx->data = req;

    return ngx_http_mdm_api_webhooks_replay_next(r);
}


/* <ms>-<seq>, both unsigned 64-bit, as Redis would take it */
static ngx_int_t
ngx_http_mdm_api_webhooks_entry_id(ngx_str_t *id)
{
    u_char      *p, *last;
    uint64_t     n;
    ngx_uint_t   part;

    p = id->data;
    last = p + id->len;

    for (part = 0; part < 2; part++) {
        if (p == last || *p < '0' || *p > '9') {
            return NGX_DECLINED;
        }

        for (n = 0; p < last && *p >= '0' && *p <= '9'; p++) {
            if (n > (UINT64_MAX - (*p - '0')) / 10) {
                return NGX_DECLINED;
            }

            n = n * 10 + (*p - '0');
        }

        if (part == 0 && (p == last || *p++ != '-')) {
            return NGX_DECLINED;
        }
    }

    return p == last ? NGX_OK : NGX_DECLINED;
}


/* webhook_replay.lua, again for "all" until it has moved the last one */
static ngx_int_t
ngx_http_mdm_api_webhooks_replay_next(ngx_http_request_t *r)
{
    ngx_http_mdm_ctx_t               *ctx;
    ngx_http_mdm_args_t               args;
    ngx_http_mdm_api_webhooks_req_t  *req;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    req = ctx->data;

    if (ngx_http_mdm_args_init(r, &args, 3 + 2 + 3) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "webhook_replay", 2) != NGX_OK
        || ngx_http_mdm_api_webhooks_key(r, &args, MDM_K_WEBHOOK_DEAD,
                                    &req->name)
           != NGX_OK
        || ngx_http_mdm_api_webhooks_key(r, &args, MDM_K_WEBHOOK_RETRY,
                                    &req->name)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, req->id.data, req->id.len);
    ngx_http_mdm_args_add_cstr(&args, NGX_HTTP_MDM_REPLAY_BATCH);
    ngx_http_mdm_args_add(&args, req->newest.data, req->newest.len);

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_webhooks_replayed);
}


/* {moved, newest entry ID to call again with, or ''} */
static ngx_int_t
ngx_http_mdm_api_webhooks_replayed(ngx_http_request_t *r, redisReply *reply)
{
    json_t                           *root;
    redisReply                       *newest;
    ngx_http_mdm_ctx_t               *ctx;
    ngx_http_mdm_api_webhooks_req_t  *req;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm api: unexpected reply from webhook_replay.lua");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    req = ctx->data;
    newest = reply->element[1];

    req->replayed += reply->element[0]->integer;

    if (newest->len) {
        req->newest.data = ngx_pnalloc(r->pool, newest->len);
        if (req->newest.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(req->newest.data, newest->str, newest->len);
        req->newest.len = newest->len;

        return ngx_http_mdm_api_webhooks_replay_next(r);
    }

    if (req->id.len && req->replayed == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "no such dead letter");
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "mdm api: webhook \"%V\": %L dead letters replayed",
                  &req->name, req->replayed);

    root = json_pack("{s:s%,s:I}", "webhook", (char *) req->name.data,
                     req->name.len, "replayed", (json_int_t) req->replayed);
    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root);
}
