/*
 * DDM asset data with MDM authentication (docs/ddm.md, "Assets"): an asset
 * declaration's Reference.DataURL points at an `mdm_ddm_assets` location,
 * `<location>/<asset Identifier>`, and the device fetches it with its
 * identity as it checks in (TLS client certificate, or Mdm-Signature over
 * the empty body). The data is uploaded through the API (PUT
 * /v1/ddm/assets/<id>) and kept in the asset's own slot.
 *
 * A fetch is three one-slot steps: the certificate's enrollment (the
 * global binding mdm:cert:<sha>), whether that enrollment's view holds the
 * asset declaration (its slot), then the data (the asset's slot). A device
 * never gets the data of an asset that is not assigned to it: 404, and a
 * log line.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "mdm_keys.h"
#include "ddm/mdm_ddm.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"
#include "ngx_http_mdm_identity.h"
#include "ngx_http_mdm_metrics.h"
#include "ngx_http_mdm_revoked.h"


typedef struct {
    char                *asset;
    char                *id;
} ngx_http_mdm_ddm_asset_t;


static ngx_int_t ngx_http_mdm_ddm_asset_plain(ngx_http_request_t *r,
    const char *cmd, mdm_key_id_t k, const char *owner, const char *f1,
    const char *f2, ngx_http_mdm_reply_pt handler);
static ngx_int_t ngx_http_mdm_ddm_asset_owner(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ddm_asset_assigned(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ddm_asset_data(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_mdm_api_asset_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_asset_put(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_asset_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_asset_got(ngx_http_request_t *r,
    redisReply *reply);


/* CMD key [f1 [f2]] */
static ngx_int_t
ngx_http_mdm_ddm_asset_plain(ngx_http_request_t *r, const char *cmd,
    mdm_key_id_t k, const char *owner, const char *f1, const char *f2,
    ngx_http_mdm_reply_pt handler)
{
    char                 key[MDM_KEY_MAX];
    size_t               len;
    ngx_http_mdm_args_t  args;

    len = mdm_key(key, k, owner, NULL);

    if (len == 0 || ngx_http_mdm_args_init(r, &args, 4) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, cmd);

    if (ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (f1 != NULL) {
        ngx_http_mdm_args_add_cstr(&args, f1);
    }

    if (f2 != NULL) {
        ngx_http_mdm_args_add_cstr(&args, f2);
    }

    return ngx_http_mdm_eval(r, &args, handler);
}


/* ---------------------------------------------------------------------------
 * GET <mdm_ddm_assets location>/<asset Identifier>, by a device
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_ddm_asset_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  path, name, empty = ngx_null_string;
    ngx_uint_t                 raw;
    const char                *err;
    ngx_http_mdm_ctx_t        *ctx;
    mdm_identity_result_t      idr;
    ngx_http_mdm_ddm_asset_t  *a;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_mdm_get_ctx(r);
    a = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_ddm_asset_t));
    if (ctx == NULL || a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = a;

    raw = ngx_http_mdm_location_path(r, &path);

    if (path.len && path.data[0] == '/') {
        path.data++;
        path.len--;
    }

    /* as sent: decoded here strictly; after a rewrite nginx's decoding */
    if (raw) {
        rc = ngx_http_mdm_api_unescape(r, &path, &name, &err);
    } else {
        name.len = path.len;
        name.data = (u_char *) ngx_http_mdm_cstr(r->pool, &path);
        rc = name.data ? NGX_OK : NGX_ERROR;
    }

    if (rc != NGX_OK || !mdm_ddm_id_valid((char *) name.data, name.len)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm ddm asset: not an asset Identifier");
        return rc == NGX_ERROR ? NGX_HTTP_INTERNAL_SERVER_ERROR
                               : NGX_HTTP_NOT_FOUND;
    }

    a->asset = (char *) name.data;

    if (ngx_http_mdm_identity_check(r, &empty, &idr) != NGX_OK) {
        ngx_http_mdm_metrics_identity_failure(idr.reason);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm ddm asset: identity refused: %s", idr.error);
        return NGX_HTTP_FORBIDDEN;
    }

    if (ngx_http_mdm_revoked_is(idr.sha256_hex)) {
        ngx_http_mdm_metrics_identity_failure(MDM_IDENTITY_REVOKED);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm ddm asset: identity refused: certificate is "
                      "revoked (%s)", idr.sha256_hex);
        return NGX_HTTP_FORBIDDEN;
    }

    ngx_cpystrn((u_char *) ctx->cert_sha256, (u_char *) idr.sha256_hex, 65);

    /* whose certificate: its own one-slot lookup */
    return ngx_http_mdm_ddm_asset_plain(r, "GET", MDM_K_CERT,
                                        ctx->cert_sha256, NULL, NULL,
                                        ngx_http_mdm_ddm_asset_owner);
}


static ngx_int_t
ngx_http_mdm_ddm_asset_owner(ngx_http_request_t *r, redisReply *reply)
{
    ngx_str_t                  id;
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_ddm_asset_t  *a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    a = ctx->data;

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm ddm asset: certificate %s is bound to no "
                      "enrollment", ctx->cert_sha256);
        return NGX_HTTP_FORBIDDEN;
    }

    id.data = (u_char *) reply->str;
    id.len = reply->len;
    a->id = ngx_http_mdm_cstr(r->pool, &id);
    if (a->id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->enrollment_id.data = (u_char *) a->id;
    ctx->enrollment_id.len = id.len;

    return ngx_http_mdm_ddm_asset_plain(r, "HGET", MDM_K_DDM_ITEMS, a->id,
                                        a->asset, NULL,
                                        ngx_http_mdm_ddm_asset_assigned);
}


static ngx_int_t
ngx_http_mdm_ddm_asset_assigned(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_ddm_asset_t  *a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    a = ctx->data;

    if (reply->type != REDIS_REPLY_STRING || reply->len < 6
        || ngx_strncmp(reply->str, "asset ", 6) != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm ddm asset: \"%s\" asked for asset \"%s\", which "
                      "is not assigned to it", a->id, a->asset);
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mdm_ddm_asset_plain(r, "HMGET", MDM_K_DDM_ASSET,
                                        a->asset, "type", "data",
                                        ngx_http_mdm_ddm_asset_data);
}


static ngx_int_t
ngx_http_mdm_ddm_asset_data(ngx_http_request_t *r, redisReply *reply)
{
    char                      *type;
    ngx_str_t                  t;
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_ddm_asset_t  *a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    a = ctx->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm ddm asset: asset \"%s\" has no data uploaded",
                      a->asset);
        return NGX_HTTP_NOT_FOUND;
    }

    type = "application/octet-stream";
    if (reply->element[0]->type == REDIS_REPLY_STRING) {
        t.data = (u_char *) reply->element[0]->str;
        t.len = reply->element[0]->len;
        type = ngx_http_mdm_cstr(r->pool, &t);
        if (type == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, type,
                             (u_char *) reply->element[1]->str,
                             reply->element[1]->len);
}


/* ---------------------------------------------------------------------------
 * PUT, GET, DELETE /v1/ddm/assets/<id>: the data, by the operator
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_ddm_asset(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t                  rc;
    const char                *err;
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_ddm_asset_t  *a;

    ctx = ngx_http_mdm_get_ctx(r);
    a = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_ddm_asset_t));
    if (ctx == NULL || a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = a;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if (!mdm_ddm_id_valid((char *) path->data, path->len)) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "asset must be 1 to 64 bytes "
                                       "without control characters");
    }

    a->asset = ngx_http_mdm_cstr(r->pool, path);
    if (a->asset == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (r->method) {
    case NGX_HTTP_PUT:
        return ngx_http_mdm_read_body(r, ngx_http_mdm_api_asset_body);
    case NGX_HTTP_DELETE:
        return ngx_http_mdm_ddm_asset_plain(r, "DEL", MDM_K_DDM_ASSET,
                                            a->asset, NULL, NULL,
                                            ngx_http_mdm_api_asset_done);
    default:
        return ngx_http_mdm_ddm_asset_plain(r, "HMGET", MDM_K_DDM_ASSET,
                                            a->asset, "type", "data",
                                            ngx_http_mdm_api_asset_got);
    }
}


static void
ngx_http_mdm_api_asset_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mdm_api_asset_put(r));
}


static ngx_int_t
ngx_http_mdm_api_asset_put(ngx_http_request_t *r)
{
    char                       key[MDM_KEY_MAX];
    u_char                     digest[32], *hex, *type;
    size_t                     len;
    ngx_str_t                  body;
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_args_t        args;
    ngx_http_mdm_ddm_asset_t  *a;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    a = ctx->data;

    switch (ngx_http_mdm_body(r, &body)) {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "body larger than "
                                       "client_body_buffer_size");
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (body.len == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "empty body");
    }

    hex = ngx_pnalloc(r->pool, 64);
    if (hex == NULL
        || EVP_Digest(body.data, body.len, digest, NULL, EVP_sha256(), NULL)
           != 1)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_hex_dump(hex, digest, 32);

    type = (u_char *) "application/octet-stream";
    if (r->headers_in.content_type != NULL) {
        type = (u_char *) ngx_http_mdm_cstr(r->pool,
                                            &r->headers_in.content_type->value);
        if (type == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    len = mdm_key(key, MDM_K_DDM_ASSET, a->asset, NULL);

    if (len == 0 || ngx_http_mdm_args_init(r, &args, 10) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "HSET");

    if (ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "type");
    ngx_http_mdm_args_add_cstr(&args, (char *) type);
    ngx_http_mdm_args_add_cstr(&args, "data");
    ngx_http_mdm_args_add(&args, body.data, body.len);
    ngx_http_mdm_args_add_cstr(&args, "sha256");
    ngx_http_mdm_args_add(&args, hex, 64);
    ngx_http_mdm_args_add_cstr(&args, "updated");

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_asset_done);
}


static ngx_int_t
ngx_http_mdm_api_asset_done(ngx_http_request_t *r, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_mdm_api_unexpected(r, "HSET");
    }

    if (r->method == NGX_HTTP_DELETE && reply->integer == 0) {
        return ngx_http_mdm_send(r, NGX_HTTP_NOT_MODIFIED, NULL, NULL, 0);
    }

    return ngx_http_mdm_send(r, NGX_HTTP_NO_CONTENT, NULL, NULL, 0);
}


static ngx_int_t
ngx_http_mdm_api_asset_got(ngx_http_request_t *r, redisReply *reply)
{
    return ngx_http_mdm_ddm_asset_data(r, reply);
}
