/*
 * The push API, NanoMDM-compatible: PUT /v1/pushcert stores an APNs push
 * certificate (parsed by libmdm, stored by pushcert.lua), GET /v1/pushcert
 * shows one, GET|POST /v1/push/<ids> queues push jobs for mdm-worker in one
 * push.lua call. Pushes are asynchronous: an ID's push_result is "queued",
 * not an APNs ID as NanoMDM answers.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_keys.h"
#include "mdm_pushcert.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


#define NGX_HTTP_MDM_MULTI_STATUS  207


static void ngx_http_mdm_api_pushcert_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_pushcert_store(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_pushcert_stored(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_pushcert_found(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_pushcert_send(ngx_http_request_t *r,
    const char *topic, int64_t not_after);
static void ngx_http_mdm_api_pushcert_cleanup(void *data);
static ngx_int_t ngx_http_mdm_api_push_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_push_outcome(json_t *status, const char *id,
    redisReply *outcome);


ngx_int_t
ngx_http_mdm_api_pushcert_put(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t    rc;
    const char  *err;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err);
    }

    return rc != NGX_OK ? NGX_HTTP_INTERNAL_SERVER_ERROR
           : ngx_http_mdm_read_body(r, ngx_http_mdm_api_pushcert_body);
}


static void
ngx_http_mdm_api_pushcert_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mdm_api_pushcert_store(r));
}


static ngx_int_t
ngx_http_mdm_api_pushcert_store(ngx_http_request_t *r)
{
    size_t                n;
    char                  key[MDM_KEY_MAX];
    ngx_str_t             body;
    mdm_err_t             err;
    mdm_pushcert_t       *pc;
    ngx_pool_cleanup_t   *cln;
    ngx_http_mdm_ctx_t   *ctx;
    ngx_http_mdm_args_t   args;

    switch (ngx_http_mdm_body(r, &body)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        return ngx_http_mdm_api_refuse(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                   "body larger than client_body_buffer_size");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_mdm_get_ctx(r);
    pc = ngx_pcalloc(r->pool, sizeof(mdm_pushcert_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || pc == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mdm_api_pushcert_cleanup;
    cln->data = pc;

    if (mdm_pushcert_parse((char *) body.data, body.len, ngx_time(), pc,
                           &err)
        != MDM_OK)
    {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err.msg);
    }

    ctx->data = pc;

    n = mdm_key_pushcert(key, pc->topic);

    if (ngx_http_mdm_args_init(r, &args, 3 + 1 + 4) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "pushcert", 1) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, key, n) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, pc->cert_pem, pc->cert_pem_len);
    ngx_http_mdm_args_add(&args, pc->key_pem, pc->key_pem_len);

    if (ngx_http_mdm_args_add_int(r, &args, pc->not_after) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_pushcert_stored);
}


static ngx_int_t
ngx_http_mdm_api_pushcert_stored(ngx_http_request_t *r, redisReply *reply)
{
    mdm_pushcert_t      *pc;
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    pc = ctx->data;

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm api: unexpected reply from pushcert.lua");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "mdm api: push certificate for \"%s\" stored, "
                  "not after %s, updated %L",
                  pc->topic, pc->not_after_text, (int64_t) reply->integer);

    return ngx_http_mdm_api_pushcert_send(r, pc->topic, pc->not_after);
}


/* GET /v1/pushcert?topic=<topic> */
ngx_int_t
ngx_http_mdm_api_pushcert_get(ngx_http_request_t *r, ngx_str_t *path)
{
    size_t                  n;
    char                    key[MDM_KEY_MAX];
    ngx_int_t               rc;
    ngx_str_t               topic;
    mdm_err_t               err;
    const char             *why;
    ngx_http_mdm_ctx_t     *ctx;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_api_arg_t  q[] = {
        { ngx_string("topic"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };

    rc = ngx_http_mdm_api_args(r, q, &why);
    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, why);
    }

    ctx = ngx_http_mdm_get_ctx(r);
    if (rc != NGX_OK || ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!q[0].set || q[0].value.len == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                            "topic argument is required");
    }

    topic = q[0].value;

    if (mdm_pushcert_topic_check((char *) topic.data, topic.len, &err)
        != MDM_OK)
    {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err.msg);
    }

    ctx->data = topic.data;

    n = mdm_key_pushcert(key, (char *) topic.data);

    if (ngx_http_mdm_args_init(r, &args, 4) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "HMGET");

    if (ngx_http_mdm_args_add_copy(r, &args, key, n) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "cert");
    ngx_http_mdm_args_add_cstr(&args, "not_after");

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_pushcert_found);
}


static ngx_int_t
ngx_http_mdm_api_pushcert_found(ngx_http_request_t *r, redisReply *reply)
{
    char                *end;
    long long            not_after;
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm api: unexpected reply to HMGET pushcert");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reply->element[0]->type != REDIS_REPLY_STRING) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm api: no push certificate for \"%s\"",
                      (char *) ctx->data);
        return ngx_http_mdm_send_json_error(r, NGX_HTTP_NOT_FOUND,
                                            "no push certificate for topic");
    }

    not_after = 0;

    if (reply->element[1]->type == REDIS_REPLY_STRING) {
        not_after = strtoll(reply->element[1]->str, &end, 10);
        if (*end != '\0') {
            not_after = 0;
        }
    }

    if (not_after <= 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mdm api: push certificate for \"%s\" has no valid "
                      "not_after in Redis", (char *) ctx->data);
        return ngx_http_mdm_send_json_error(r,
                   NGX_HTTP_INTERNAL_SERVER_ERROR,
                   "stored push certificate has no valid not_after");
    }

    return ngx_http_mdm_api_pushcert_send(r, ctx->data, not_after);
}


/* NanoMDM's answer: {"topic":"com.apple.mgmt...","not_after":"<RFC 3339>"} */
static ngx_int_t
ngx_http_mdm_api_pushcert_send(ngx_http_request_t *r, const char *topic,
    int64_t not_after)
{
    char     text[MDM_PUSHCERT_TIME_LEN + 1];
    json_t  *json;

    mdm_pushcert_time_text(not_after, text);

    json = json_pack("{s:s, s:s}", "topic", topic, "not_after", text);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, json);
}


static void
ngx_http_mdm_api_pushcert_cleanup(void *data)
{
    mdm_pushcert_free(data);
}


/* GET|POST /v1/push/<id>[,<id>...] */
ngx_int_t
ngx_http_mdm_api_push(ngx_http_request_t *r, ngx_str_t *path)
{
    char                 **id;
    ngx_int_t              rc;
    mdm_argv_t             call;
    const char            *err;
    ngx_array_t           *ids;
    ngx_http_mdm_ctx_t    *ctx;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err);
    }

    ctx = ngx_http_mdm_get_ctx(r);
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_api_split_ids(r, path, &ids, &err);

    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = ids;
    id = ids->elts;

    if (ngx_http_mdm_store_init(r, &call, MDM_STORE_PUSH_ARGC(ids->nelts),
                                MDM_STORE_PUSH_KEYS) != NGX_OK
        || mdm_store_push_argv(id, ids->nelts, &call) != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_store_eval(r, &call, ngx_http_mdm_api_push_reply);
}


/*
 * NanoMDM's APIResult: {"status":{"<id>":{"push_result":"queued"}, ...}};
 * 200 when every ID was queued, 207 when some were, 500 when none was.
 */
static ngx_int_t
ngx_http_mdm_api_push_reply(ngx_http_request_t *r, redisReply *reply)
{
    char                **id;
    json_t               *json, *status;
    ngx_uint_t            i, failed, code;
    ngx_array_t          *ids;
    const char           *first, *reason;
    ngx_http_mdm_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    ids = ctx->data;
    id = ids->elts;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != ids->nelts) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm api: unexpected reply from push.lua");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* json_object_set_new() takes "status" even when it fails */
    json = json_object();

    if (json == NULL
        || json_object_set_new(json, "status", json_object()) != 0)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    status = json_object_get(json, "status");

    failed = 0;
    first = NULL;
    reason = NULL;

    for (i = 0; i < ids->nelts; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING
            || ngx_http_mdm_api_push_outcome(status, id[i], reply->element[i])
               != NGX_OK)
        {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_strcmp(reply->element[i]->str, "queued") != 0
            && failed++ == 0)
        {
            first = id[i];
            reason = reply->element[i]->str;
        }
    }

    if (failed == 0) {
        return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, json);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm api: push: %ui of %ui not queued, first \"%s\": %s",
                  failed, ids->nelts, first, reason);

    if (failed < ids->nelts) {
        code = NGX_HTTP_MDM_MULTI_STATUS;
        ngx_str_set(&r->headers_out.status_line, "207 Multi-Status");

    } else {
        code = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_send_json(r, code, json);
}


static ngx_int_t
ngx_http_mdm_api_push_outcome(json_t *status, const char *id,
    redisReply *outcome)
{
    json_t  *one;

    one = json_pack("{s:s}",
                    ngx_strcmp(outcome->str, "queued") == 0
                    ? "push_result" : "push_error",
                    outcome->str);

    if (one == NULL || json_object_set_new(status, id, one) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}
