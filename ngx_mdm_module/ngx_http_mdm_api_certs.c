/*
 * The SCEP CA's issuance records (docs/api.md, "Certificates"):
 *   GET /v1/certificates[?cursor=N&limit=M]  a page of mdm:ca:index
 *   GET /v1/certificates/<serial>            one record
 *   POST /v1/certificates/<serial>/revoke    revoke; DELETE lifts it
 * Each step is one Redis call in one slot: serial -> sha256, the record,
 * then the revoked set, which nginx workers read on a timer.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_keys.h"
#include "enroll/mdm_ca.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


#define NGX_HTTP_MDM_CERTS_LIMIT_MAX  1000


typedef struct {
    ngx_uint_t                  revoke;     /* 0 get, 1 revoke, 2 unrevoke */
    ngx_int_t                   cursor;
    ngx_int_t                   limit;
    char                        sha[65];
    int64_t                     not_after;
} ngx_http_mdm_api_certs_ctx_t;


static ngx_http_mdm_api_certs_ctx_t *ngx_http_mdm_api_certs_state(
    ngx_http_request_t *r, ngx_uint_t revoke);
static ngx_int_t ngx_http_mdm_api_certs_serial(ngx_http_request_t *r,
    ngx_str_t *path, ngx_uint_t revoke);
static ngx_int_t ngx_http_mdm_api_certs_page(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_certs_list_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_certs_serial_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_certs_record_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_certs_revoke_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_certs_revoked_reply(ngx_http_request_t *r,
    redisReply *reply);


static ngx_int_t
ngx_http_mdm_api_certs_hex(ngx_str_t *s, size_t max)
{
    size_t  i;

    if (s->len == 0 || s->len > max) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        s->data[i] = ngx_tolower(s->data[i]);
        if (!((s->data[i] >= '0' && s->data[i] <= '9')
              || (s->data[i] >= 'a' && s->data[i] <= 'f')))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_mdm_api_certs_list(ngx_http_request_t *r, ngx_str_t *path)
{
    if (ngx_http_mdm_api_certs_state(r, 0) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_certs_page(r);
}


ngx_int_t
ngx_http_mdm_api_certs_one(ngx_http_request_t *r, ngx_str_t *serial)
{
    return ngx_http_mdm_api_certs_serial(r, serial, 0);
}


ngx_int_t
ngx_http_mdm_api_certs_revoke(ngx_http_request_t *r, ngx_str_t *serial)
{
    return ngx_http_mdm_api_certs_serial(r, serial,
                                         r->method == NGX_HTTP_POST ? 1 : 2);
}


static ngx_http_mdm_api_certs_ctx_t *
ngx_http_mdm_api_certs_state(ngx_http_request_t *r, ngx_uint_t revoke)
{
    ngx_http_mdm_ctx_t            *ctx;
    ngx_http_mdm_api_certs_ctx_t  *cc;

    ctx = ngx_http_mdm_get_ctx(r);
    cc = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_api_certs_ctx_t));
    if (ctx == NULL || cc == NULL) {
        return NULL;
    }

    cc->revoke = revoke;
    ctx->data = cc;

    return cc;
}


/* One certificate by its serial: GET, or revoke 1 / unrevoke 2 it. */
static ngx_int_t
ngx_http_mdm_api_certs_serial(ngx_http_request_t *r, ngx_str_t *path,
    ngx_uint_t revoke)
{
    char                      *key, *serial;
    ngx_str_t                  s;
    const char                *argv[2];
    size_t                     argvlen[2];

    if (ngx_http_mdm_api_certs_state(r, revoke) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_strlchr(path->data, path->data + path->len, '/') != NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    /* a copy: the serial is lowercased in place */
    s.data = (u_char *) ngx_http_mdm_cstr(r->pool, path);
    s.len = path->len;
    if (s.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mdm_api_certs_hex(&s, MDM_CA_SERIAL_HEX_MAX) != NGX_OK) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "a serial is 1 to 40 hex digits");
    }

    /* serials are stored without leading zeros, as BN_bn2hex prints them */
    while (s.len > 1 && s.data[0] == '0') {
        s.data++;
        s.len--;
    }

    serial = ngx_http_mdm_cstr(r->pool, &s);
    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (serial == NULL || key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = key;
    argvlen[1] = mdm_key_ca_serial(key, serial);

    return ngx_http_mdm_redis_call(r, 2, argv, argvlen,
                                   ngx_http_mdm_api_certs_serial_reply);
}


static ngx_int_t
ngx_http_mdm_api_certs_page(ngx_http_request_t *r)
{
    ngx_str_t                      arg;
    ngx_http_mdm_args_t            args;
    ngx_http_mdm_api_certs_ctx_t  *cc;

    cc = ngx_http_mdm_get_ctx(r)->data;
    cc->limit = 100;

    if (ngx_http_arg(r, (u_char *) "cursor", 6, &arg) == NGX_OK) {
        cc->cursor = ngx_atoi(arg.data, arg.len);
        if (cc->cursor == NGX_ERROR) {
            return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                           "cursor must be a number");
        }
    }

    if (ngx_http_arg(r, (u_char *) "limit", 5, &arg) == NGX_OK) {
        cc->limit = ngx_atoi(arg.data, arg.len);
        if (cc->limit < 1 || cc->limit > NGX_HTTP_MDM_CERTS_LIMIT_MAX) {
            return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                           "limit must be 1..1000");
        }
    }

    if (ngx_http_mdm_args_init(r, &args, 6) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* by not_after; the cursor is a rank in that order */
    ngx_http_mdm_args_add(&args, "ZRANGE", 6);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_CA_INDEX);

    if (ngx_http_mdm_args_add_int(r, &args, cc->cursor) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, cc->cursor + cc->limit - 1)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, "WITHSCORES", 10);

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_certs_list_reply);
}


static ngx_int_t
ngx_http_mdm_api_certs_list_reply(ngx_http_request_t *r, redisReply *reply)
{
    size_t                         i;
    json_t                        *out, *list;
    ngx_http_mdm_api_certs_ctx_t  *cc;

    cc = ngx_http_mdm_get_ctx(r)->data;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list = json_array();

    for (i = 0; i + 1 < reply->elements; i += 2) {
        json_array_append_new(list, json_pack("{s:s, s:I}", "sha256",
                              reply->element[i]->str, "not_after",
                              (json_int_t) strtoll(
                                  reply->element[i + 1]->str, NULL, 10)));
    }

    out = json_pack("{s:o}", "certificates", list);

    if ((ngx_int_t) (reply->elements / 2) == cc->limit) {
        json_object_set_new(out, "next_cursor",
                            json_integer(cc->cursor + cc->limit));
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, out);
}


static ngx_int_t
ngx_http_mdm_api_certs_serial_reply(ngx_http_request_t *r, redisReply *reply)
{
    char                          *key;
    const char                    *argv[2];
    size_t                         argvlen[2];
    ngx_http_mdm_args_t            args;
    ngx_http_mdm_api_certs_ctx_t  *cc;

    cc = ngx_http_mdm_get_ctx(r)->data;

    if (reply->type != REDIS_REPLY_STRING || reply->len != 64) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "no certificate with that serial");
    }

    ngx_memcpy(cc->sha, reply->str, 64);
    cc->sha[64] = '\0';

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (cc->revoke == 0) {
        argv[0] = "HGETALL";
        argvlen[0] = 7;
        argv[1] = key;
        argvlen[1] = mdm_key_ca_cert(key, cc->sha);

        return ngx_http_mdm_redis_call(r, 2, argv, argvlen,
                                       ngx_http_mdm_api_certs_record_reply);
    }

    if (ngx_http_mdm_args_init(r, &args, 6) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "ca_revoke", 1) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, key, mdm_key_ca_cert(key, cc->sha));
    ngx_http_mdm_args_add_cstr(&args, cc->revoke == 1 ? "revoke"
                                                      : "unrevoke");

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_certs_revoke_reply);
}


static ngx_int_t
ngx_http_mdm_api_certs_record_reply(ngx_http_request_t *r, redisReply *reply)
{
    size_t                         i;
    json_t                        *out;
    ngx_str_t                      der, b64;
    redisReply                    *k, *v;
    ngx_http_mdm_api_certs_ctx_t  *cc;

    cc = ngx_http_mdm_get_ctx(r)->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "no certificate with that serial");
    }

    out = json_pack("{s:s}", "sha256", cc->sha);

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (ngx_strcmp(k->str, "der") == 0) {
            der.data = (u_char *) v->str;
            der.len = v->len;
            b64.data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(v->len));
            if (b64.data == NULL) {
                json_decref(out);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            ngx_encode_base64(&b64, &der);
            json_object_set_new(out, "der", json_stringn((char *) b64.data,
                                                         b64.len));

        } else if (ngx_strcmp(k->str, "not_before") == 0
                   || ngx_strcmp(k->str, "not_after") == 0
                   || ngx_strcmp(k->str, "issued") == 0
                   || ngx_strcmp(k->str, "revoked") == 0)
        {
            json_object_set_new(out, k->str,
                                json_integer(strtoll(v->str, NULL, 10)));

        } else {
            json_object_set_new(out, k->str, json_stringn(v->str, v->len));
        }
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, out);
}


static ngx_int_t
ngx_http_mdm_api_certs_revoke_reply(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_args_t            args;
    ngx_http_mdm_api_certs_ctx_t  *cc;

    cc = ngx_http_mdm_get_ctx(r)->data;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reply->integer == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "no certificate with that serial");
    }

    cc->not_after = reply->integer;

    /* the revoked set the device check reads: its own slot */
    if (ngx_http_mdm_args_init(r, &args, 8) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "ca_revoked", 1) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_CA_REVOKED);
    ngx_http_mdm_args_add_cstr(&args, cc->revoke == 1 ? "revoke"
                                                      : "unrevoke");
    ngx_http_mdm_args_add_cstr(&args, cc->sha);

    if (ngx_http_mdm_args_add_int(r, &args, cc->not_after) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_certs_revoked_reply);
}


static ngx_int_t
ngx_http_mdm_api_certs_revoked_reply(ngx_http_request_t *r,
    redisReply *reply)
{
    ngx_http_mdm_api_certs_ctx_t  *cc;

    cc = ngx_http_mdm_get_ctx(r)->data;

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "mdm api: certificate %s %s", cc->sha,
                  cc->revoke == 1 ? "revoked" : "no longer revoked");

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK,
               json_pack("{s:s, s:b}", "sha256", cc->sha, "revoked",
                         cc->revoke == 1));
}
