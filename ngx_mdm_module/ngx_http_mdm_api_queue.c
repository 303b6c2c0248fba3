/*
 * GET /v1/queue/<id>: a page of one enrollment's command queue; DELETE
 * /v1/queue/<id>[,<id>...]: clears queues, a chunk of IDs and a bounded
 * number of entries per script call (docs/api.md, "Inspection").
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_keys.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


/* queue entries per call */
#define NGX_HTTP_MDM_API_QUEUE_CLEAR_BUDGET  1024


static ngx_int_t ngx_http_mdm_api_queue_list_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_queue_clear_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_queue_clear_reply(ngx_http_request_t *r,
    redisReply *reply);


ngx_int_t
ngx_http_mdm_api_queue_list(ngx_http_request_t *r, ngx_str_t *path)
{
    char                   *id;
    ngx_int_t               rc, limit;
    const char             *err;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_api_arg_t  q[] = {
        { ngx_string("cursor"), ngx_null_string, 0 },
        { ngx_string("limit"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };

    rc = ngx_http_mdm_api_args(r, q, &err);

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_cursor(&q[0], 0, &err);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_limit(&q[1], &limit, &err);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_path_id(r, path, &id, &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if (ngx_http_mdm_args_init(r, &args, 3 + 1 + 4) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "queue", 1) != NGX_OK
        || ngx_http_mdm_api_key(r, &args, mdm_key_enrollment, id)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, id);
    ngx_http_mdm_args_add(&args, q[0].value.data, q[0].value.len);

    if (ngx_http_mdm_args_add_int(r, &args, limit) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_queue_list_reply);
}


/* {'ok', next cursor, uuid, type, status, notnow, created, expires, ...} */
static ngx_int_t
ngx_http_mdm_api_queue_list_reply(ngx_http_request_t *r, redisReply *reply)
{
    size_t               i;
    json_t              *json, *list, *e;
    redisReply         **el;
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    if (ngx_http_mdm_api_reply_is_err(reply)) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       reply->element[1]->str);
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 6 != 2) {
        return ngx_http_mdm_api_unexpected(r, "queue");
    }

    json = json_pack("{s:s%,s:[]}", "id", (char *) ctx->enrollment_id.data,
                     ctx->enrollment_id.len, "commands");
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list = json_object_get(json, "commands");

    for (i = 2; i < reply->elements; i += 6) {
        el = &reply->element[i];
        e = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}",
                      "command_uuid", ngx_http_mdm_api_json_str(el[0]),
                      "request_type", ngx_http_mdm_api_json_str(el[1]),
                      "status", ngx_http_mdm_api_json_str(el[2]),
                      "notnow_count", ngx_http_mdm_api_json_int(el[3]),
                      "created", ngx_http_mdm_api_json_time(el[4]),
                      "expires", ngx_http_mdm_api_json_time(el[5]));

        if (json_array_append_new(list, e) != 0) {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mdm_api_send_page(r, json, reply->element[1]);
}


ngx_int_t
ngx_http_mdm_api_queue_clear(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t               rc;
    const char             *err;
    ngx_http_mdm_api_arg_t  none[] = {
        { ngx_null_string, ngx_null_string, 0 }
    };
    ngx_http_mdm_api_batch_t  *b;

    b = ngx_http_mdm_api_batch(r);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_api_args(r, none, &err);

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_split_ids(r, path, &b->ids, &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    return ngx_http_mdm_api_queue_clear_next(r);
}


/* queue_clear.lua for the IDs from b->next on, at most a chunk of them */
static ngx_int_t
ngx_http_mdm_api_queue_clear_next(ngx_http_request_t *r)
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

    ids = b->ids->elts;
    n = ngx_min(b->ids->nelts - b->next, NGX_HTTP_MDM_API_CHUNK);

    if (ngx_http_mdm_args_init(r, &args, 3 + 2 + 3 + n) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "queue_clear", 2) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_PENDING);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_NOTNOW);

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, mcf->result_retention)
           != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args,
                                     NGX_HTTP_MDM_API_QUEUE_CLEAR_BUDGET)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        ngx_http_mdm_args_add_cstr(&args, ids[b->next + i]);
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_queue_clear_reply);
}


/* {id, state, cancelled count, ...}: state ok, more, or an error */
static ngx_int_t
ngx_http_mdm_api_queue_clear_reply(ngx_http_request_t *r, redisReply *reply)
{
    char                     **ids;
    size_t                     i;
    redisReply               **el;
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_api_batch_t  *b;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    b = ctx->data;
    ids = b->ids->elts;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->elements % 3)
    {
        return ngx_http_mdm_api_unexpected(r, "queue_clear");
    }

    for (i = 0; i < reply->elements; i += 3) {
        el = &reply->element[i];

        if (!ngx_http_mdm_api_reply_str(el[1])
            || el[2]->type != REDIS_REPLY_INTEGER
            || b->next == b->ids->nelts)
        {
            return ngx_http_mdm_api_unexpected(r, "queue_clear");
        }

        b->pending += el[2]->integer;

        if (ngx_http_mdm_api_reply_is(el[1], "more")) {
            continue;
        }

        if (ngx_http_mdm_api_batch_note(b, ids[b->next],
                ngx_http_mdm_api_reply_is(el[1], "ok") ? NULL : el[1]->str,
                b->pending)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->pending = 0;
        b->next++;
    }

    if (b->next < b->ids->nelts) {
        return ngx_http_mdm_api_queue_clear_next(r);
    }

    return ngx_http_mdm_api_batch_result(r, b);
}
