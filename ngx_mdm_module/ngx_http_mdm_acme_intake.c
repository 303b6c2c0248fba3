/*
 * An ACME POST before its resource sees it (RFC 8555 §6.2-6.5): the body
 * in memory, Content-Type application/jose+json, the JWS parsed for this
 * URL (libmdm/acme/mdm_acme_jws.c), then
 *   - jwk form (new-account only): signature verified, nonce spent;
 *   - kid form (everything else): the kid must be one of our account URLs,
 *     nonce spent, the account read (its own slot), valid, and the
 *     signature verified with its key.
 * The nonce is spent by one DEL of mdm:acme:nonce:{<nonce>}: 1 is fresh,
 * 0 unknown, expired or replayed (badNonce). A refusal is a problem
 * document and one log line; nothing else is written.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "ngx_http_mdm_acme.h"


#define NGX_HTTP_MDM_ACME_CT_JOSE  "application/jose+json"


static ngx_int_t ngx_http_mdm_acme_intake(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q, ngx_str_t *body);
static ngx_int_t ngx_http_mdm_acme_nonce_spent(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_acme_account_read(ngx_http_request_t *r,
    redisReply *reply);


void
ngx_http_mdm_acme_post(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                 body;
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    switch (ngx_http_mdm_body(r, &body)) {
    case NGX_OK:
        rc = ngx_http_mdm_acme_intake(r, q, &body);
        break;
    case NGX_DECLINED:
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED, "body larger than "
                      "client_body_buffer_size");
        rc = ngx_http_mdm_acme_problem(r, q);
        break;
    default:
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        break;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_mdm_acme_content_type_ok(ngx_http_request_t *r)
{
    ngx_str_t  *ct;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    ct = &r->headers_in.content_type->value;

    return ct->len >= sizeof(NGX_HTTP_MDM_ACME_CT_JOSE) - 1
           && ngx_strncasecmp(ct->data, (u_char *) NGX_HTTP_MDM_ACME_CT_JOSE,
                              sizeof(NGX_HTTP_MDM_ACME_CT_JOSE) - 1) == 0
           && (ct->len == sizeof(NGX_HTTP_MDM_ACME_CT_JOSE) - 1
               || ct->data[sizeof(NGX_HTTP_MDM_ACME_CT_JOSE) - 1] == ';');
}


static ngx_int_t
ngx_http_mdm_acme_intake(ngx_http_request_t *r, ngx_http_mdm_acme_req_t *q,
    ngx_str_t *body)
{
    char                *key, *prefix;
    size_t               plen;
    ngx_http_mdm_args_t  args;

    if (!ngx_http_mdm_acme_content_type_ok(r)) {
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED,
                      "Content-Type is not application/jose+json");
        return ngx_http_mdm_acme_problem(r, q);
    }

    if (mdm_acme_jws_parse((char *) body->data, body->len, q->url, &q->jws,
                           &q->err) != 0)
    {
        return ngx_http_mdm_acme_problem(r, q);
    }

    if (q->route->jwk && q->jws.jwk == NULL) {
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED,
                      "%s is signed with a jwk, not a kid", q->route->name);
        return ngx_http_mdm_acme_problem(r, q);
    }

    if (!q->route->jwk && q->jws.kid == NULL) {
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED,
                      "%s is signed with an account's kid, not a jwk",
                      q->route->name);
        return ngx_http_mdm_acme_problem(r, q);
    }

    if (q->jws.jwk != NULL) {
        if (mdm_acme_jws_verify(&q->jws, q->jws.jwk, &q->err) != 0
            || mdm_acme_jwk_thumbprint(q->jws.jwk, q->account) != 0)
        {
            q->account[0] = '\0';
            if (q->err.type == MDM_ACME_OK) {
                mdm_acme_fail(&q->err, MDM_ACME_BAD_PUBLIC_KEY,
                              "no thumbprint for the jwk");
            }
            return ngx_http_mdm_acme_problem(r, q);
        }

    } else {
        prefix = ngx_http_mdm_acme_url(r, q, "acct", "");
        if (prefix == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        plen = ngx_strlen(prefix);

        if (ngx_strncmp(q->jws.kid, prefix, plen) != 0
            || ngx_strlen(q->jws.kid) != plen + MDM_ACME_THUMBPRINT_LEN
            || !mdm_acme_b64url_ok(q->jws.kid + plen,
                                   MDM_ACME_THUMBPRINT_LEN,
                                   MDM_ACME_THUMBPRINT_LEN))
        {
            mdm_acme_fail(&q->err, MDM_ACME_ACCOUNT_DOES_NOT_EXIST,
                          "kid is not an account URL of this server");
            return ngx_http_mdm_acme_problem(r, q);
        }

        ngx_memcpy(q->account, q->jws.kid + plen, MDM_ACME_THUMBPRINT_LEN);
        q->account[MDM_ACME_THUMBPRINT_LEN] = '\0';
    }

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (key == NULL || ngx_http_mdm_args_init(r, &args, 2) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, "DEL", 3);
    ngx_http_mdm_args_add(&args, key, mdm_key_acme_nonce(key, q->jws.nonce));

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_acme_nonce_spent);
}


static ngx_int_t
ngx_http_mdm_acme_nonce_spent(ngx_http_request_t *r, redisReply *reply)
{
    char                     *key;
    ngx_http_mdm_args_t       args;
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        mdm_acme_fail(&q->err, MDM_ACME_BAD_NONCE,
                      "nonce unknown, expired or already used");
        return ngx_http_mdm_acme_problem(r, q);
    }

    if (q->jws.jwk != NULL) {
        return q->route->op(r, q);
    }

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (key == NULL || ngx_http_mdm_args_init(r, &args, 4) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, "HMGET", 5);
    ngx_http_mdm_args_add(&args, key, mdm_key_acme_acct(key, q->account));
    ngx_http_mdm_args_add(&args, "status", 6);
    ngx_http_mdm_args_add(&args, "jwk", 3);

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_acme_account_read);
}


static ngx_int_t
ngx_http_mdm_acme_account_read(ngx_http_request_t *r, redisReply *reply)
{
    char                     *status, *jwk;
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    status = ngx_http_mdm_acme_str(r, reply->element[0]);
    jwk = ngx_http_mdm_acme_str(r, reply->element[1]);

    if (status == NULL || jwk == NULL) {
        mdm_acme_fail(&q->err, MDM_ACME_ACCOUNT_DOES_NOT_EXIST,
                      "no such account");
        return ngx_http_mdm_acme_problem(r, q);
    }

    if (ngx_strcmp(status, "valid") != 0) {
        mdm_acme_fail(&q->err, MDM_ACME_UNAUTHORIZED, "account is %s",
                      status);
        return ngx_http_mdm_acme_problem(r, q);
    }

    q->account_jwk = json_loads(jwk, 0, NULL);

    if (q->account_jwk == NULL
        || mdm_acme_jws_verify(&q->jws, q->account_jwk, &q->err) != 0)
    {
        if (q->account_jwk == NULL) {
            mdm_acme_fail(&q->err, MDM_ACME_SERVER_INTERNAL,
                          "stored account key unreadable");
        }
        return ngx_http_mdm_acme_problem(r, q);
    }

    return q->route->op(r, q);
}
