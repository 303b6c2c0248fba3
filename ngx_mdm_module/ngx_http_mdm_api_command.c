/*
 * GET /v1/commands/<uuid>: a command and its state per target, with raw
 * results and decoded ErrorChains; DELETE /v1/commands/<uuid>: cancels it
 * for the IDs named, or for every target (docs/api.md, "Inspection").
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_keys.h"
#include "mdm_plist_json.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


/* GET /v1/commands/<uuid> */
typedef struct {
    char                         *uuid;
    ngx_uint_t                    raw;       /* format=plist */
} ngx_http_mdm_api_command_status_t;


static ngx_int_t ngx_http_mdm_api_command_status_args(ngx_http_request_t *r,
    ngx_http_mdm_api_command_status_t *st, ngx_http_mdm_args_t *args,
    const char **err);
static ngx_int_t ngx_http_mdm_api_command_status_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_command_status_raw(ngx_http_request_t *r,
    redisReply *reply);
static json_t *ngx_http_mdm_api_command_json(ngx_http_request_t *r,
    ngx_http_mdm_api_command_status_t *st, redisReply *head);
static json_t *ngx_http_mdm_api_command_target_json(ngx_http_request_t *r,
    redisReply **e);
static ngx_int_t ngx_http_mdm_api_command_cancel_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_command_cancel_reply(ngx_http_request_t *r,
    redisReply *reply);


/* GET /v1/commands/<uuid>[?plist=1&cursor=&limit=&id=&format=plist] */
ngx_int_t
ngx_http_mdm_api_command_status(ngx_http_request_t *r, ngx_str_t *uuid)
{
    ngx_int_t                           rc;
    const char                         *err;
    ngx_http_mdm_ctx_t                 *ctx;
    ngx_http_mdm_args_t                 args;
    ngx_http_mdm_api_command_status_t  *st;

    ctx = ngx_http_mdm_get_ctx(r);
    st = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_api_command_status_t));
    if (ctx == NULL || st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    rc = ngx_http_mdm_api_id(r, uuid, "CommandUUID", &st->uuid, &err);

    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if (ngx_http_mdm_args_init(r, &args, 3 + 2 + 6) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "command_status", 2) != NGX_OK
        || ngx_http_mdm_api_key(r, &args, mdm_key_command, st->uuid)
           != NGX_OK
        || ngx_http_mdm_api_key(r, &args, mdm_key_command_ids, st->uuid)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, st->uuid);

    rc = ngx_http_mdm_api_command_status_args(r, st, &args, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_command_status_reply);
}


enum {
    NGX_HTTP_MDM_STATUS_PLIST = 0,
    NGX_HTTP_MDM_STATUS_FORMAT,
    NGX_HTTP_MDM_STATUS_ID,
    NGX_HTTP_MDM_STATUS_CURSOR,
    NGX_HTTP_MDM_STATUS_LIMIT
};


/* cursor, limit, now, with body, one ID: as command_status.lua takes them */
static ngx_int_t
ngx_http_mdm_api_command_status_args(ngx_http_request_t *r,
    ngx_http_mdm_api_command_status_t *st, ngx_http_mdm_args_t *args,
    const char **err)
{
    char                   *id;
    ngx_int_t               rc, limit;
    ngx_str_t              *v;
    ngx_http_mdm_api_arg_t  q[] = {
        { ngx_string("plist"), ngx_null_string, 0 },
        { ngx_string("format"), ngx_null_string, 0 },
        { ngx_string("id"), ngx_null_string, 0 },
        { ngx_string("cursor"), ngx_null_string, 0 },
        { ngx_string("limit"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };

    rc = ngx_http_mdm_api_args(r, q, err);

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_cursor(&q[NGX_HTTP_MDM_STATUS_CURSOR], 1,
                                     err);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_limit(&q[NGX_HTTP_MDM_STATUS_LIMIT], &limit,
                                    err);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    v = &q[NGX_HTTP_MDM_STATUS_PLIST].value;

    if (q[NGX_HTTP_MDM_STATUS_PLIST].set
        && ngx_strcmp(v->data, "1") != 0 && ngx_strcmp(v->data, "0") != 0)
    {
        *err = "plist must be 1 or 0";
        return NGX_DECLINED;
    }

    v = &q[NGX_HTTP_MDM_STATUS_FORMAT].value;

    if (q[NGX_HTTP_MDM_STATUS_FORMAT].set) {
        st->raw = ngx_strcmp(v->data, "plist") == 0;

        if (!st->raw && ngx_strcmp(v->data, "json") != 0) {
            *err = "format must be json or plist";
            return NGX_DECLINED;
        }
    }

    id = "";

    if (q[NGX_HTTP_MDM_STATUS_ID].set) {
        rc = ngx_http_mdm_api_id(r, &q[NGX_HTTP_MDM_STATUS_ID].value,
                                 "id", &id, err);
        if (rc != NGX_OK) {
            return rc;
        }

    } else if (st->raw) {
        *err = "format=plist needs id=<enrollment ID>";
        return NGX_DECLINED;
    }

    v = &q[NGX_HTTP_MDM_STATUS_CURSOR].value;
    ngx_http_mdm_args_add(args, v->data, v->len);

    if (ngx_http_mdm_args_add_int(r, args, limit) != NGX_OK
        || ngx_http_mdm_args_add_int(r, args, ngx_time()) != NGX_OK)
    {
        return NGX_ERROR;
    }

    v = &q[NGX_HTTP_MDM_STATUS_PLIST].value;
    ngx_http_mdm_args_add_cstr(args, v->len == 1 && v->data[0] == '1'
                                     ? "1" : "0");
    ngx_http_mdm_args_add_cstr(args, id);

    return NGX_OK;
}


/*
 * {'ok', {type, created, expires, body}, next cursor, id, status, updated,
 * notnow, result, ...} or {'err', reason}
 */
static ngx_int_t
ngx_http_mdm_api_command_status_reply(ngx_http_request_t *r, redisReply *reply)
{
    size_t                              i;
    json_t                             *json, *list;
    ngx_http_mdm_ctx_t                 *ctx;
    ngx_http_mdm_api_command_status_t  *st;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    st = ctx->data;

    if (ngx_http_mdm_api_reply_is_err(reply)) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       reply->element[1]->str);
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 5 != 3
        || reply->element[1]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->elements != 4)
    {
        return ngx_http_mdm_api_unexpected(r, "command_status");
    }

    if (st->raw) {
        return ngx_http_mdm_api_command_status_raw(r, reply);
    }

    json = ngx_http_mdm_api_command_json(r, st, reply->element[1]);

    if (json == NULL
        || ngx_http_mdm_api_json_set(json, "enrollments", json_array())
           != NGX_OK)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list = json_object_get(json, "enrollments");

    for (i = 3; i < reply->elements; i += 5) {
        if (json_array_append_new(list,
                ngx_http_mdm_api_command_target_json(r, &reply->element[i]))
            != 0)
        {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mdm_api_send_page(r, json, reply->element[2]);
}


/* format=plist: the raw report of the one enrollment asked for */
static ngx_int_t
ngx_http_mdm_api_command_status_raw(ngx_http_request_t *r, redisReply *reply)
{
    redisReply  *result;

    if (reply->elements != 3 + 5) {
        return ngx_http_mdm_api_unexpected(r, "command_status");
    }

    result = ngx_http_mdm_api_reply_str(reply->element[3 + 4]);

    if (result == NULL) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                           "no result for this enrollment");
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/xml",
                             (u_char *) result->str, result->len);
}


/* {type, created, expires, body}: body only with plist=1 */
static json_t *
ngx_http_mdm_api_command_json(ngx_http_request_t *r,
    ngx_http_mdm_api_command_status_t *st, redisReply *head)
{
    json_t      *json, *plist;
    redisReply  *body;

    json = json_pack("{s:s,s:o,s:o,s:o}",
                     "command_uuid", st->uuid,
                     "request_type",
                     ngx_http_mdm_api_json_str(head->element[0]),
                     "created", ngx_http_mdm_api_json_time(head->element[1]),
                     "expires", ngx_http_mdm_api_json_time(head->element[2]));

    body = ngx_http_mdm_api_reply_str(head->element[3]);

    if (json == NULL || body == NULL) {
        return json;
    }

    /* command bodies are XML as a rule; a binary one goes as base64 */
    plist = json_stringn(body->str, body->len);

    if (ngx_http_mdm_api_json_set(json, plist ? "plist" : "plist_base64",
                        plist ? plist : ngx_http_mdm_api_json_base64(r, body))
        != NGX_OK)
    {
        json_decref(json);
        return NULL;
    }

    return json;
}


/* id, status, updated, notnow, result: one target of a command */
static json_t *
ngx_http_mdm_api_command_target_json(ngx_http_request_t *r, redisReply **e)
{
    json_t      *json, *chain, *status;
    redisReply  *result;

    status = ngx_http_mdm_api_reply_is(e[1], "")
             ? json_null() : ngx_http_mdm_api_json_str(e[1]);

    json = json_pack("{s:o,s:o,s:o,s:o,s:o}",
                     "id", ngx_http_mdm_api_json_str(e[0]),
                     "status", status,
                     "updated", ngx_http_mdm_api_json_time(e[2]),
                     "notnow_count", ngx_http_mdm_api_json_int(e[3]),
                     "result", ngx_http_mdm_api_json_base64(r, e[4]));

    result = ngx_http_mdm_api_reply_str(e[4]);

    if (json == NULL || result == NULL
        || !ngx_http_mdm_api_reply_is(e[1], "Error"))
    {
        return json;
    }

    chain = mdm_plist_key_to_json(result->str, result->len, "ErrorChain");

    if (chain != NULL
        && ngx_http_mdm_api_json_set(json, "error_chain", chain) != NGX_OK)
    {
        json_decref(json);
        return NULL;
    }

    return json;
}


/* DELETE /v1/commands/<uuid>[?ids=a,b] */
ngx_int_t
ngx_http_mdm_api_command_cancel(ngx_http_request_t *r, ngx_str_t *uuid)
{
    ngx_int_t               rc;
    const char             *err;
    ngx_http_mdm_api_arg_t  q[] = {
        { ngx_string("ids"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };
    ngx_http_mdm_api_batch_t  *b;

    b = ngx_http_mdm_api_batch(r);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_api_id(r, uuid, "CommandUUID", &b->uuid, &err);

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_args(r, q, &err);
    }

    if (rc == NGX_OK && q[0].set) {
        rc = ngx_http_mdm_api_split_ids(r, &q[0].value, &b->ids, &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if (b->ids == NULL) {
        b->cursor[0] = '0';
    }

    return ngx_http_mdm_api_command_cancel_next(r);
}


/* command_cancel.lua for the next chunk of IDs, or the next SSCAN step */
static ngx_int_t
ngx_http_mdm_api_command_cancel_next(ngx_http_request_t *r)
{
    char                     **ids;
    ngx_uint_t                 i, n;
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_args_t        args;
    ngx_http_mdm_main_conf_t  *mcf;
    ngx_http_mdm_api_batch_t  *b;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);
    b = ctx->data;

    n = b->ids ? ngx_min(b->ids->nelts - b->next, NGX_HTTP_MDM_API_CHUNK)
               : 0;

    if (ngx_http_mdm_args_init(r, &args, 3 + 5 + 4 + n) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "command_cancel", 5) != NGX_OK
        || ngx_http_mdm_api_key(r, &args, mdm_key_command, b->uuid)
           != NGX_OK
        || ngx_http_mdm_api_key(r, &args, mdm_key_command_ids, b->uuid)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_EXPIRY);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_PENDING);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_NOTNOW);
    ngx_http_mdm_args_add_cstr(&args, b->uuid);

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, mcf->result_retention)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, (char *) b->cursor);

    ids = b->ids ? b->ids->elts : NULL;

    for (i = 0; i < n; i++) {
        ngx_http_mdm_args_add_cstr(&args, ids[b->next + i]);
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_command_cancel_reply);
}


/* {'ok', next cursor, id, error ('' = cancelled), ...} or {'err', reason} */
static ngx_int_t
ngx_http_mdm_api_command_cancel_reply(ngx_http_request_t *r, redisReply *reply)
{
    size_t                     i, pairs;
    redisReply                *cursor, **el;
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_api_batch_t  *b;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    b = ctx->data;

    if (ngx_http_mdm_api_reply_is_err(reply)) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       reply->element[1]->str);
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2
        || reply->elements < 2
        || (cursor = ngx_http_mdm_api_reply_str(reply->element[1])) == NULL
        || cursor->len > NGX_HTTP_MDM_API_CURSOR_MAX)
    {
        return ngx_http_mdm_api_unexpected(r, "command_cancel");
    }

    pairs = reply->elements / 2 - 1;

    if (b->ids != NULL && pairs == 0) {
        return ngx_http_mdm_api_unexpected(r, "command_cancel");
    }

    for (i = 2; i < reply->elements; i += 2) {
        el = &reply->element[i];

        if (!ngx_http_mdm_api_reply_str(el[0])
            || !ngx_http_mdm_api_reply_str(el[1]))
        {
            return ngx_http_mdm_api_unexpected(r, "command_cancel");
        }

        if (ngx_http_mdm_api_batch_note(b, el[0]->str,
                                        el[1]->len ? el[1]->str : NULL, -1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (b->ids != NULL) {
        b->next += pairs;
        if (b->next < b->ids->nelts) {
            return ngx_http_mdm_api_command_cancel_next(r);
        }

    } else if (cursor->len) {
        *ngx_cpymem(b->cursor, cursor->str, cursor->len) = '\0';
        return ngx_http_mdm_api_command_cancel_next(r);
    }

    return ngx_http_mdm_api_batch_result(r, b);
}
