#ifndef _NGX_HTTP_MDM_ACME_H_INCLUDED_
#define _NGX_HTTP_MDM_ACME_H_INCLUDED_

/*
 * mdm_acme: the ACME server (RFC 8555) with device-attest-01 (docs/acme.md).
 * ngx_http_mdm_acme.c routes and answers, ngx_http_mdm_acme_conf.c holds
 * the directives, ngx_http_mdm_acme_intake.c checks a request's JWS, its
 * nonce and its account, _account.c, _order.c (new-order, order, authz,
 * challenge) and _finalize.c (finalize, certificate) are the resources.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/x509.h>

#include "acme/mdm_acme_jws.h"
#include "acme/mdm_acme_object.h"
#include "acme/mdm_acme_problem.h"
#include "enroll/mdm_ca.h"
#include "ngx_http_mdm_module.h"


typedef struct ngx_http_mdm_acme_req_s  ngx_http_mdm_acme_req_t;

typedef ngx_int_t (*ngx_http_mdm_acme_op_pt)(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q);

/* a route: the path's first segment, whether an ID follows, how the JWS
 * names its key, and the resource's handler once the JWS is checked */
typedef struct {
    const char                 *name;
    ngx_uint_t                  with_id;
    ngx_uint_t                  jwk;          /* 1: jwk (new-account) */
    ngx_http_mdm_acme_op_pt     op;
} ngx_http_mdm_acme_route_t;

struct ngx_http_mdm_acme_req_s {
    char                       *base;         /* no trailing slash */
    char                       *url;          /* base + path */
    char                       *id;           /* the path's ID, or NULL */
    char                       *sub;          /* what follows it, or NULL */
    const ngx_http_mdm_acme_route_t *route;

    mdm_acme_jws_t              jws;
    mdm_acme_err_t              err;
    char                        account[MDM_ACME_THUMBPRINT_LEN + 1];
    json_t                     *account_jwk;
    char                       *contact;      /* new-account's, JSON */

    /* the order the path names, as stored (HGETALL) */
    mdm_acme_order_t            order;
    const char                 *order_account;
    const char                 *att_key;
    const char                 *att_serial;
    const char                 *att_udid;

    X509_REQ                   *csr;
    mdm_ca_issued_t             issued;

    /* the answer, sent once its fresh nonce is stored */
    ngx_uint_t                  status;
    const char                 *content_type;
    u_char                     *body;
    size_t                      body_len;
    char                       *location;
    char                       *link_up;
    char                        nonce[32];
};


/* ngx_http_mdm_acme.c */
ngx_int_t ngx_http_mdm_acme_handler(ngx_http_request_t *r);
ngx_http_mdm_acme_req_t *ngx_http_mdm_acme_req(ngx_http_request_t *r);
/* the answer with a fresh Replay-Nonce; body malloc'd (taken) or NULL */
ngx_int_t ngx_http_mdm_acme_reply(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q, ngx_uint_t status, char *json);
/* q->err as a problem document, with a log line */
ngx_int_t ngx_http_mdm_acme_problem(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q);
/* "<base>/<what>/<id>" in the pool */
char *ngx_http_mdm_acme_url(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q, const char *what, const char *id);
/* a copy of a Redis string in the pool, NUL-terminated, or NULL */
char *ngx_http_mdm_acme_str(ngx_http_request_t *r, redisReply *v);

/* ngx_http_mdm_acme_intake.c: the POST's body, JWS, nonce and account,
 * then q->route->op */
void ngx_http_mdm_acme_post(ngx_http_request_t *r);

/* the resources */
ngx_int_t ngx_http_mdm_acme_new_account(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q);
ngx_int_t ngx_http_mdm_acme_account(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q);
ngx_int_t ngx_http_mdm_acme_new_order(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q);
/* /order, /authz, /chall, /finalize, /cert: the order is read, checked to
 * be the account's, then the resource answers */
ngx_int_t ngx_http_mdm_acme_order_read(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q);
ngx_int_t ngx_http_mdm_acme_challenge(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q);
ngx_int_t ngx_http_mdm_acme_finalize(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q);
ngx_int_t ngx_http_mdm_acme_certificate(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q);
ngx_int_t ngx_http_mdm_acme_unsupported(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q);

/* a compare-and-set (acme_cas.lua) of key: guard field = value, then the
 * pairs (NULL-terminated field, value list), expiring at expires (0: keep) */
ngx_int_t ngx_http_mdm_acme_cas(ngx_http_request_t *r, const char *key,
    size_t key_len, time_t expires, const char *guard, const char *value,
    const char **pairs, ngx_http_mdm_reply_pt handler);

#endif /* _NGX_HTTP_MDM_ACME_H_INCLUDED_ */
