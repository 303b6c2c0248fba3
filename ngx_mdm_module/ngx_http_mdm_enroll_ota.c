/*
 * The OTA profile service (services.md §3.4, Apple's "Over-the-Air Profile
 * Delivery and Configuration") on an mdm_enroll location with
 * mdm_enroll_ota URL. The same shape as ADE: a CMS-signed POST checked
 * against Apple's device CA (mdm_enroll_ade_anchor).
 *
 *   phase 1  GET: a signed "Profile Service" profile asking for the
 *            device's attributes and carrying a one-time challenge
 *            (ngx_http_mdm_enroll.c; mdm:enroll:ota:{<challenge>} holds the
 *            user, link and tags, as a SCEP challenge does)
 *   phase 2  POST signed by the Apple device identity, with CHALLENGE: the
 *            challenge is spent (one call, scep_challenge.lua), the reply is
 *            a profile with the SCEP payload alone, whose SCEP challenge
 *            carries the user, link, tags, UDID and serial
 *   phase 3  POST signed by the identity our CA issued in phase 2: its
 *            issuance record (ota_final.lua, one call in its slot) vouches
 *            for it once; the reply is the enrollment profile
 *
 * A body that is not a signed request is 400, a challenge or signer that
 * does not authorise is 403; each with one log line, nothing stored.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "enroll/mdm_ota.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_enroll.h"




typedef struct {
    mdm_ota_req_t                 req;
    ngx_http_mdm_enroll_facts_t   facts;
} ngx_http_mdm_ota_t;


static void ngx_http_mdm_ota_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_ota_process(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_mdm_ota_phase2(ngx_http_request_t *r,
    ngx_http_mdm_ota_t *ota);
static ngx_int_t ngx_http_mdm_ota_challenge(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ota_phase3(ngx_http_request_t *r,
    ngx_http_mdm_ota_t *ota);
static ngx_int_t ngx_http_mdm_ota_final(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ota_copy(ngx_http_request_t *r, ngx_str_t *to,
    const char *s, size_t len);


ngx_int_t
ngx_http_mdm_enroll_ota_handler(ngx_http_request_t *r)
{
    return ngx_http_mdm_enroll_signed_intake(r, "OTA request",
                                             ngx_http_mdm_ota_body);
}


static void
ngx_http_mdm_ota_body(ngx_http_request_t *r)
{
    ngx_http_mdm_enroll_signed_body(r, "OTA request",
                                    ngx_http_mdm_ota_process);
}


static ngx_int_t
ngx_http_mdm_ota_process(ngx_http_request_t *r, ngx_str_t *body)
{
    mdm_err_t            err;
    ngx_http_mdm_ctx_t  *ctx;
    ngx_http_mdm_ota_t  *ota;

    ctx = ngx_http_mdm_get_ctx(r);
    ota = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_ota_t));

    if (ctx == NULL || ota == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = ota;

    if (mdm_ota_parse(body->data, body->len,
                      ngx_http_mdm_enroll_ade_anchors(r), &ota->req, &err)
        != MDM_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: OTA request refused: %s", err.msg);
        return NGX_HTTP_BAD_REQUEST;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm enroll: OTA phase %d request of UDID %s serial %s "
                  "(%s, build %s)", ota->req.phase, ota->req.attrs.udid,
                  ota->req.attrs.serial, ota->req.attrs.product,
                  ota->req.attrs.version);

    if (ngx_http_mdm_ota_copy(r, &ota->facts.udid, ota->req.attrs.udid,
                              ngx_strlen(ota->req.attrs.udid)) != NGX_OK
        || ngx_http_mdm_ota_copy(r, &ota->facts.serial, ota->req.attrs.serial,
                                 ngx_strlen(ota->req.attrs.serial)) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ota->req.phase == MDM_OTA_PHASE2 ? ngx_http_mdm_ota_phase2(r, ota)
                                            : ngx_http_mdm_ota_phase3(r, ota);
}


/* phase 2: spend the phase-1 challenge, in its own slot */
static ngx_int_t
ngx_http_mdm_ota_phase2(ngx_http_request_t *r, ngx_http_mdm_ota_t *ota)
{
    char                 key[MDM_KEY_MAX];
    size_t               len;
    ngx_http_mdm_args_t  args;

    len = mdm_key_enroll_ota(key, ota->req.challenge);

    if (ngx_http_mdm_args_init(r, &args, 4) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "scep_challenge", 1) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_ota_challenge);
}


/* the phase-1 record (created, expires, user, link, tags, ...) or empty */
static ngx_int_t
ngx_http_mdm_ota_challenge(ngx_http_request_t *r, redisReply *reply)
{
    size_t               i;
    time_t               expires;
    ngx_str_t           *to;
    redisReply          *k, *v;
    ngx_http_mdm_ctx_t  *ctx;
    ngx_http_mdm_ota_t  *ota;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    ota = ctx->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: OTA phase 2 of UDID %s refused: challenge "
                      "unknown, expired or already used",
                      ota->req.attrs.udid);
        return NGX_HTTP_FORBIDDEN;
    }

    expires = 0;

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        to = ngx_strcmp(k->str, "user") == 0 ? &ota->facts.user
             : ngx_strcmp(k->str, "link") == 0 ? &ota->facts.link
             : ngx_strcmp(k->str, "tags") == 0 ? &ota->facts.tags : NULL;

        if (ngx_strcmp(k->str, "expires") == 0) {
            expires = ngx_atotm((u_char *) v->str, v->len);
        }

        if (to != NULL && ngx_http_mdm_ota_copy(r, to, v->str, v->len)
                          != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* the key's TTL is the bound; the field guards a clock that jumped */
    if (expires == NGX_ERROR || expires <= ngx_time()) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: OTA phase 2 of UDID %s refused: challenge "
                      "expired", ota->req.attrs.udid);
        return NGX_HTTP_FORBIDDEN;
    }

    return ngx_http_mdm_enroll_send_kind(r, &ota->facts,
                                         NGX_HTTP_MDM_ENROLL_SCEP_ONLY);
}


/* phase 3: the signer's issuance record vouches for it, once */
static ngx_int_t
ngx_http_mdm_ota_phase3(ngx_http_request_t *r, ngx_http_mdm_ota_t *ota)
{
    char                 key[MDM_KEY_MAX];
    size_t               len;
    ngx_http_mdm_args_t  args;

    len = mdm_key_ca_cert(key, ota->req.signer_sha256);

    if (ngx_http_mdm_args_init(r, &args, 6) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "ota_final", 1) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, ota->req.attrs.udid);

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_ota_final);
}


/* ota_final.lua: {'ok', user, link, tags, udid, serial} or {'err', why} */
static ngx_int_t
ngx_http_mdm_ota_final(ngx_http_request_t *r, redisReply *reply)
{
    size_t               i;
    ngx_str_t           *to[5];
    redisReply          *v;
    ngx_http_mdm_ctx_t  *ctx;
    ngx_http_mdm_ota_t  *ota;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    ota = ctx->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm enroll: unexpected reply from ota_final.lua");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_strcmp(reply->element[0]->str, "ok") != 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: OTA phase 3 of UDID %s refused: %s "
                      "(certificate %s)", ota->req.attrs.udid,
                      reply->element[1]->str, ota->req.signer_sha256);
        return NGX_HTTP_FORBIDDEN;
    }

    if (reply->elements != 6) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the record's facts are those of phase 2; the request's UDID was
     * checked against them */
    to[0] = &ota->facts.user;
    to[1] = &ota->facts.link;
    to[2] = &ota->facts.tags;
    to[3] = &ota->facts.udid;
    to[4] = &ota->facts.serial;

    for (i = 0; i < 5; i++) {
        v = reply->element[i + 1];

        if (v->type == REDIS_REPLY_STRING && v->len > 0
            && ngx_http_mdm_ota_copy(r, to[i], v->str, v->len) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mdm_enroll_send_kind(r, &ota->facts,
                                         NGX_HTTP_MDM_ENROLL_FULL);
}


static ngx_int_t
ngx_http_mdm_ota_copy(ngx_http_request_t *r, ngx_str_t *to, const char *s,
    size_t len)
{
    to->data = ngx_pnalloc(r->pool, len + 1);

    if (to->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, s, len);
    to->data[len] = '\0';
    to->len = len;

    return NGX_OK;
}
