/*
 * Identity renewal on the device path (docs/ade.md). The binding script
 * refuses a certificate other than the bound one; only then (rare path)
 * this file reads the issuance record mdm:ca:cert:{<sha>} in its own call.
 * If our CA issued the certificate to renew this very enrollment (record
 * field `renew`), it is not revoked and not expired, rebind.lua binds it in
 * the enrollment's slot, keeping the previous certificate accepted for
 * mdm_cert_renew_grace; then mdm:cert:<sha> (the global certificate ->
 * enrollment lookup) is written in a call of its own, and the message is
 * processed again from the start. Any other certificate stays refused.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_metrics.h"


#define NGX_HTTP_MDM_MISMATCH \
    "certificate does not match the one bound to the enrollment"


typedef struct {
    char                    bind_id[MDM_KEY_MAX];
    char                    sha[65];
    char                    key[MDM_KEY_MAX];
} ngx_http_mdm_renew_t;


static ngx_int_t ngx_http_mdm_renew_record(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_renew_rebound(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_renew_indexed(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_renew_refuse(ngx_http_request_t *r,
    ngx_http_mdm_renew_t *rn, const char *why);


ngx_int_t
ngx_http_mdm_renew_bind(ngx_http_request_t *r, const char *reason,
    const char *bind_id)
{
    size_t                 len;
    ngx_http_mdm_ctx_t    *ctx;
    ngx_http_mdm_renew_t  *rn;
    static const char     *hgetall = "HGETALL";

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    /* once per request: the second pass must not loop */
    if (ctx == NULL || ctx->renew != NULL || ctx->cert_sha256[0] == '\0'
        || ngx_strcmp(reason, NGX_HTTP_MDM_MISMATCH) != 0
        || ngx_strlen(bind_id) >= 256)
    {
        return NGX_DECLINED;
    }

    rn = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_renew_t));
    if (rn == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->renew = rn;
    ngx_cpystrn((u_char *) rn->bind_id, (u_char *) bind_id,
                sizeof(rn->bind_id));
    ngx_memcpy(rn->sha, ctx->cert_sha256, sizeof(rn->sha));

    len = mdm_key_ca_cert(rn->key, rn->sha);

    {
        const char  *argv[2] = { hgetall, rn->key };
        size_t       argvlen[2] = { 7, len };

        return ngx_http_mdm_redis_call(r, 2, argv, argvlen,
                                       ngx_http_mdm_renew_record);
    }
}


static ngx_int_t
ngx_http_mdm_renew_record(ngx_http_request_t *r, redisReply *reply)
{
    size_t                    i, len;
    time_t                    not_after;
    ngx_int_t                 renew_ok, revoked;
    redisReply               *f, *v;
    ngx_http_mdm_ctx_t       *ctx;
    ngx_http_mdm_args_t       args;
    ngx_http_mdm_renew_t     *rn;
    ngx_http_mdm_loc_conf_t  *mlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    rn = ctx->renew;
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        return ngx_http_mdm_renew_refuse(r, rn, "not issued by our CA");
    }

    renew_ok = 0;
    revoked = 0;
    not_after = 0;

    for (i = 0; i + 1 < reply->elements; i += 2) {
        f = reply->element[i];
        v = reply->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (ngx_strcmp(f->str, "renew") == 0) {
            renew_ok = ngx_strcmp(v->str, rn->bind_id) == 0;

        } else if (ngx_strcmp(f->str, "revoked") == 0 && v->len > 0) {
            revoked = 1;

        } else if (ngx_strcmp(f->str, "not_after") == 0) {
            not_after = ngx_atotm((u_char *) v->str, v->len);
        }
    }

    if (!renew_ok) {
        return ngx_http_mdm_renew_refuse(r, rn,
                                         "issued by our CA, but not to "
                                         "renew this enrollment");
    }

    if (revoked) {
        return ngx_http_mdm_renew_refuse(r, rn, "revoked");
    }

    if (not_after == NGX_ERROR || not_after <= ngx_time()) {
        return ngx_http_mdm_renew_refuse(r, rn, "expired");
    }

    len = mdm_key_enrollment(rn->key, rn->bind_id);

    if (ngx_http_mdm_args_init(r, &args, 6) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "rebind", 1) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, rn->key, len) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, rn->sha);

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time() + mlcf->renew_grace)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_renew_rebound);
}


static ngx_int_t
ngx_http_mdm_renew_rebound(ngx_http_request_t *r, redisReply *reply)
{
    size_t                 len;
    ngx_http_mdm_ctx_t    *ctx;
    ngx_http_mdm_renew_t  *rn;
    static const char     *set = "SET";

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    rn = ctx->renew;

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_mdm_renew_refuse(r, rn, "enrollment has no binding");
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "mdm: enrollment \"%s\" renewed its identity: certificate "
                  "%s replaces %s", rn->bind_id, rn->sha,
                  reply->len ? reply->str : "(same)");

    /* the global lookup, in its own call; the binding itself is done */
    len = mdm_key_cert(rn->key, rn->sha);

    {
        const char  *argv[3] = { set, rn->key, rn->bind_id };
        size_t       argvlen[3] = { 3, len, ngx_strlen(rn->bind_id) };

        return ngx_http_mdm_redis_call(r, 3, argv, argvlen,
                                       ngx_http_mdm_renew_indexed);
    }
}


static ngx_int_t
ngx_http_mdm_renew_indexed(ngx_http_request_t *r, redisReply *reply)
{
    /* the message again, from the start: now its certificate is bound */
    return ngx_http_mdm_device_retry(r);
}


static ngx_int_t
ngx_http_mdm_renew_refuse(ngx_http_request_t *r, ngx_http_mdm_renew_t *rn,
    const char *why)
{
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    /* the line a refused binding always had, and why it is no renewal */
    ngx_http_mdm_metrics_identity_failure(MDM_IDENTITY_BINDING_MISMATCH);
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm: %V from \"%V\" refused: " NGX_HTTP_MDM_MISMATCH
                  " and is %s (certificate %s)",
                  ctx->message_type.len ? &ctx->message_type : &ctx->status,
                  &ctx->enrollment_id, why, rn->sha);

    return NGX_HTTP_BAD_REQUEST;
}
