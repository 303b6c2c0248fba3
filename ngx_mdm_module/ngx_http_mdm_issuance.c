/*
 * Who an enrollment is for (docs/enrollment.md, "The user in the
 * enrollment record"). The enrollment page, or the one-time link, put the
 * user (and the link's token and tags) into the challenge; the SCEP CA
 * copied them into the issuance record of the certificate it issued,
 * mdm:ca:cert:{<sha>}. At Authenticate, the first message the device sends
 * with that certificate, this file reads those fields in a call of their
 * own (the record's slot is not the enrollment's), and checkin.lua stores
 * them with the rest of the Authenticate, atomically: enroll_user,
 * enroll_link, enroll_tags. No other message pays for it.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "ngx_http_mdm_module.h"


typedef struct {
    ngx_str_t                   body;
    char                        sha[65];
    ngx_str_t                   fields[3];   /* user, link, tags; or empty */
} ngx_http_mdm_issuance_t;


static ngx_int_t ngx_http_mdm_issuance_reply(ngx_http_request_t *r,
    redisReply *reply);


ngx_int_t
ngx_http_mdm_issuance_read(ngx_http_request_t *r, ngx_str_t *body,
    const char *sha)
{
    char                      key[MDM_KEY_MAX];
    size_t                    len;
    ngx_http_mdm_ctx_t       *ctx;
    ngx_http_mdm_issuance_t  *is;
    static const char        *hmget = "HMGET";

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    is = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_issuance_t));
    if (is == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->issuance = is;
    is->body = *body;
    ngx_cpystrn((u_char *) is->sha, (u_char *) sha, sizeof(is->sha));

    len = mdm_key_ca_cert(key, is->sha);

    {
        const char  *argv[5] = { hmget, key, "user", "link", "tags" };
        size_t       argvlen[5] = { 5, len, 4, 4, 4 };

        return ngx_http_mdm_redis_call(r, 5, argv, argvlen,
                                       ngx_http_mdm_issuance_reply);
    }
}


static ngx_int_t
ngx_http_mdm_issuance_reply(ngx_http_request_t *r, redisReply *reply)
{
    ngx_uint_t                i;
    redisReply               *v;
    ngx_http_mdm_ctx_t       *ctx;
    ngx_http_mdm_issuance_t  *is;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    is = ctx->issuance;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm checkin: unexpected reply reading the issuance "
                      "record of %s", is->sha);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a certificate of another CA has no record: nils, nothing to copy */
    for (i = 0; i < 3; i++) {
        v = reply->element[i];

        if (v->type != REDIS_REPLY_STRING || v->len == 0) {
            continue;
        }

        is->fields[i].data = ngx_pnalloc(r->pool, v->len);
        if (is->fields[i].data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(is->fields[i].data, v->str, v->len);
        is->fields[i].len = v->len;
    }

    return ngx_http_mdm_checkin_store(r, &is->body, is->sha);
}


void
ngx_http_mdm_issuance_fields(ngx_http_request_t *r, mdm_store_checkin_t *in)
{
    ngx_http_mdm_ctx_t       *ctx;
    ngx_http_mdm_issuance_t  *is;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    is = ctx->issuance;

    if (is == NULL) {
        return;
    }

    in->enroll_user.data = is->fields[0].data;
    in->enroll_user.len = is->fields[0].len;
    in->enroll_link.data = is->fields[1].data;
    in->enroll_link.len = is->fields[1].len;
    in->enroll_tags.data = is->fields[2].data;
    in->enroll_tags.len = is->fields[2].len;
}
