/*
 * What the inspection API's handlers share: query parameters, page cursors,
 * IDs, JSON from script replies, and the batch of a request answered from
 * several script calls (ngx_http_mdm_api_inspect.h).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_command.h"
#include "mdm_enrollment.h"
#include "mdm_keys.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"
#include "ngx_http_mdm_api_inspect.h"


#define NGX_HTTP_MDM_INSPECT_LIMIT         100     /* default page size */
#define NGX_HTTP_MDM_INSPECT_LIMIT_MAX     1000
#define NGX_HTTP_MDM_INSPECT_SCAN_DIGITS   19      /* fits Redis' cursor */
/* positions a script's arithmetic and tostring() ("%.14g") keep exact */
#define NGX_HTTP_MDM_INSPECT_POSITION_MAX  1000000000000
/* 9999-12-31T23:59:59Z */
#define NGX_HTTP_MDM_INSPECT_TIME_MAX      253402300799

#define NGX_HTTP_MDM_MULTI_STATUS          207


static void ngx_http_mdm_api_batch_cleanup(void *data);
static json_t *ngx_http_mdm_api_json_cursor(redisReply *e);


ngx_http_mdm_api_batch_t *
ngx_http_mdm_api_batch(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_api_batch_t  *b;

    ctx = ngx_http_mdm_get_ctx(r);
    b = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_api_batch_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || b == NULL || cln == NULL) {
        return NULL;
    }

    b->status = json_object();
    if (b->status == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mdm_api_batch_cleanup;
    cln->data = b;
    ctx->data = b;

    return b;
}


static void
ngx_http_mdm_api_batch_cleanup(void *data)
{
    ngx_http_mdm_api_batch_t  *b = data;

    json_decref(b->status);
}


/*
 * One ID's outcome in NanoMDM's APIResult "status" map: {} or
 * {"canceled": n} when done, {"command_error": "..."} when refused. An ID
 * named twice keeps its first outcome.
 */
ngx_int_t
ngx_http_mdm_api_batch_note(ngx_http_mdm_api_batch_t *b, const char *id,
    const char *error, ngx_int_t canceled)
{
    json_t  *entry;

    if (json_object_get(b->status, id) != NULL) {
        return NGX_OK;
    }

    if (error != NULL) {
        entry = json_pack("{s:s}", "command_error", error);
        b->failed++;

    } else if (canceled >= 0) {
        entry = json_pack("{s:I}", "canceled", (json_int_t) canceled);
        b->ok++;

    } else {
        entry = json_object();
        b->ok++;
    }

    return ngx_http_mdm_api_json_set(b->status, id, entry);
}


/* 200 when every ID succeeded, 207 when some did, 500 when none did */
ngx_int_t
ngx_http_mdm_api_batch_result(ngx_http_request_t *r,
    ngx_http_mdm_api_batch_t *b)
{
    json_t      *out;
    ngx_uint_t   status;

    out = json_pack("{s:O}", "status", b->status);

    if (out != NULL && b->uuid != NULL
        && ngx_http_mdm_api_json_set(out, "command_uuid",
                                     json_string(b->uuid))
           != NGX_OK)
    {
        json_decref(out);
        out = NULL;
    }

    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    status = b->failed == 0 ? NGX_HTTP_OK
             : b->ok ? NGX_HTTP_MDM_MULTI_STATUS
             : NGX_HTTP_INTERNAL_SERVER_ERROR;

    if (b->failed) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm api: %V %V: %ui of %ui refused",
                      &r->method_name, &r->unparsed_uri, b->failed,
                      b->failed + b->ok);
    }

    return ngx_http_mdm_api_send_json(r, status, out);
}


ngx_int_t
ngx_http_mdm_api_limit(ngx_http_mdm_api_arg_t *arg,
    ngx_int_t *limit, const char **err)
{
    if (!arg->set) {
        *limit = NGX_HTTP_MDM_INSPECT_LIMIT;
        return NGX_OK;
    }

    *limit = ngx_atoi(arg->value.data, arg->value.len);

    if (*limit < 1 || *limit > NGX_HTTP_MDM_INSPECT_LIMIT_MAX) {
        *err = "limit must be an integer from 1 to 1000";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A cursor from an earlier page: a position (digits), or with scan an SSCAN
 * cursor, maybe followed by ":<entries to skip>". Absent means the start.
 */
ngx_int_t
ngx_http_mdm_api_cursor(ngx_http_mdm_api_arg_t *arg,
    ngx_uint_t scan, const char **err)
{
    u_char     *p, *colon, *last;
    ngx_int_t   pos, skip;

    if (!arg->set) {
        ngx_str_set(&arg->value, "0");
        return NGX_OK;
    }

    p = arg->value.data;
    last = p + arg->value.len;

    colon = scan ? ngx_strlchr(p, last, ':') : NULL;

    pos = ngx_atoi(p, (colon ? colon : last) - p);
    skip = colon ? ngx_atoi(colon + 1, last - colon - 1) : 0;

    /* an SSCAN cursor stays a string; positions are Lua numbers */
    if (pos == NGX_ERROR
        || (colon ? colon : last) - p > NGX_HTTP_MDM_INSPECT_SCAN_DIGITS
        || (!scan && pos > NGX_HTTP_MDM_INSPECT_POSITION_MAX)
        || skip == NGX_ERROR || skip > NGX_HTTP_MDM_INSPECT_POSITION_MAX)
    {
        *err = "cursor must be a next_cursor of an earlier page";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* A single ID of the path or the query, as Redis keys may take it. */
ngx_int_t
ngx_http_mdm_api_id(ngx_http_request_t *r, ngx_str_t *s,
    const char *what, char **id, const char **err)
{
    u_char     *p;
    mdm_err_t   merr;
    ngx_str_t   msg;

    *id = ngx_http_mdm_cstr(r->pool, s);
    if (*id == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) merr.msg;

    if (ngx_strlen(*id) != s->len || ngx_strchr(*id, ',') != NULL) {
        ngx_sprintf(p, "%s must be one ID without NUL or ','%Z", what);

    } else if (s->len > MDM_COMMAND_UUID_MAX
               && ngx_strcmp(what, "CommandUUID") == 0)
    {
        ngx_sprintf(p, "CommandUUID is longer than %d bytes%Z",
                    MDM_COMMAND_UUID_MAX);

    } else if (mdm_id_check(what, *id, &merr) == MDM_OK) {
        return NGX_OK;
    }

    msg.data = (u_char *) merr.msg;
    msg.len = ngx_strlen(merr.msg);
    *err = ngx_http_mdm_cstr(r->pool, &msg);

    return *err ? NGX_DECLINED : NGX_ERROR;
}


/* The enrollment ID of the path, kept in ctx for the reply and the log. */
ngx_int_t
ngx_http_mdm_api_path_id(ngx_http_request_t *r, ngx_str_t *path,
    char **id, const char **err)
{
    ngx_int_t            rc;
    ngx_http_mdm_ctx_t  *ctx;

    rc = ngx_http_mdm_api_id(r, path, "enrollment ID", id, err);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->enrollment_id = *path;

    return NGX_OK;
}


ngx_int_t
ngx_http_mdm_api_key(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    size_t (*key)(char *buf, const char *s), const char *s)
{
    char  buf[MDM_KEY_MAX];

    return ngx_http_mdm_args_add_copy(r, args, buf, key(buf, s));
}


/* rc from a parser: NGX_DECLINED answers 400 with err, else 500 */
ngx_int_t
ngx_http_mdm_api_bad(ngx_http_request_t *r, ngx_int_t rc,
    const char *err)
{
    if (rc != NGX_DECLINED) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err);
}


ngx_int_t
ngx_http_mdm_api_unexpected(ngx_http_request_t *r, const char *script)
{
    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "mdm api: unexpected reply from %s.lua", script);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* A string element of a script's reply; NULL for nil (Lua false). */
redisReply *
ngx_http_mdm_api_reply_str(redisReply *e)
{
    return (e != NULL && e->type == REDIS_REPLY_STRING) ? e : NULL;
}


ngx_uint_t
ngx_http_mdm_api_reply_is(redisReply *e, const char *s)
{
    return ngx_http_mdm_api_reply_str(e) != NULL
           && e->len == ngx_strlen(s)
           && ngx_strncmp(e->str, s, e->len) == 0;
}


/* {'err', reason}: a script's refusal, the reason a string */
ngx_uint_t
ngx_http_mdm_api_reply_is_err(redisReply *reply)
{
    return reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
           && ngx_http_mdm_api_reply_is(reply->element[0], "err")
           && ngx_http_mdm_api_reply_str(reply->element[1]) != NULL;
}


/* A stored string; null when absent or not UTF-8. */
json_t *
ngx_http_mdm_api_json_str(redisReply *e)
{
    json_t  *s;

    if (ngx_http_mdm_api_reply_str(e) == NULL) {
        return json_null();
    }

    s = json_stringn(e->str, e->len);

    return s ? s : json_null();
}


/* Stored unix seconds as RFC 3339 (UTC); null when absent or 0. */
json_t *
ngx_http_mdm_api_json_time(redisReply *e)
{
    u_char     buf[sizeof("1970-01-01T00:00:00Z")];
    ngx_tm_t   tm;
    ngx_int_t  sec;

    if (ngx_http_mdm_api_reply_str(e) == NULL) {
        return json_null();
    }

    sec = ngx_atoi((u_char *) e->str, e->len);
    if (sec <= 0) {
        return json_null();
    }

    /* four digits of year is what the buffer and RFC 3339 hold */
    if (sec > NGX_HTTP_MDM_INSPECT_TIME_MAX) {
        sec = NGX_HTTP_MDM_INSPECT_TIME_MAX;
    }

    ngx_gmtime((time_t) sec, &tm);

    return json_stringn((char *) buf,
                        ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                                    tm.ngx_tm_year, tm.ngx_tm_mon,
                                    tm.ngx_tm_mday, tm.ngx_tm_hour,
                                    tm.ngx_tm_min, tm.ngx_tm_sec)
                        - buf);
}


json_t *
ngx_http_mdm_api_json_int(redisReply *e)
{
    ngx_int_t  n;

    if (ngx_http_mdm_api_reply_str(e) == NULL) {
        return json_null();
    }

    n = ngx_atoi((u_char *) e->str, e->len);

    return n == NGX_ERROR ? json_null() : json_integer(n);
}


/* The next page's cursor; null ('' from the script) at the end. */
static json_t *
ngx_http_mdm_api_json_cursor(redisReply *e)
{
    return (ngx_http_mdm_api_reply_str(e) == NULL || e->len == 0)
           ? json_null() : json_stringn(e->str, e->len);
}


/* Sends a page with its "next_cursor"; json is released either way. */
ngx_int_t
ngx_http_mdm_api_send_page(ngx_http_request_t *r, json_t *json,
    redisReply *cursor)
{
    if (ngx_http_mdm_api_json_set(json, "next_cursor",
                                  ngx_http_mdm_api_json_cursor(cursor))
        != NGX_OK)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, json);
}


json_t *
ngx_http_mdm_api_json_base64(ngx_http_request_t *r, redisReply *e)
{
    ngx_str_t  src, dst;

    if (ngx_http_mdm_api_reply_str(e) == NULL) {
        return json_null();
    }

    src.data = (u_char *) e->str;
    src.len = e->len;

    dst.data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(src.len));
    if (dst.data == NULL) {
        return NULL;
    }

    ngx_encode_base64(&dst, &src);

    return json_stringn((char *) dst.data, dst.len);
}


/* Sets obj[key] = value, taking value's reference; NULL value fails. */
ngx_int_t
ngx_http_mdm_api_json_set(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL || json_object_set_new(obj, key, value) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}
