/*
 * ACME finalize and certificate download (RFC 8555 §7.4, §7.4.2). The CSR
 * must be over the key Apple attested for this order's challenge; the
 * order moves ready -> processing in one compare-and-set (so one CSR is
 * issued per order), the device CA of mdm_scep_ca issues as it does for
 * SCEP, the issuance record is written as SCEP's is
 * (ngx_http_mdm_issuance_record.c, with the attested serial and UDID and
 * the order), then processing -> valid with the certificate's SHA-256.
 * The certificate URL answers the PEM chain from the record.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/pem.h>

#include "mdm_keys.h"
#include "acme/mdm_acme_csr.h"
#include "acme/mdm_acme_state.h"
#include "ngx_http_mdm_acme.h"


#define NGX_HTTP_MDM_ACME_CT_PEM  "application/pem-certificate-chain"


static ngx_int_t ngx_http_mdm_acme_processing(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_acme_recorded(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_acme_issued(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_acme_cert_der(ngx_http_request_t *r,
    redisReply *reply);


static ngx_int_t
ngx_http_mdm_acme_step(ngx_http_request_t *r, ngx_http_mdm_acme_req_t *q,
    mdm_acme_event_e ev, const char *field, const char *value,
    ngx_http_mdm_reply_pt handler)
{
    int                     i, n = 0;
    char                   *key;
    const char             *pairs[2 * MDM_ACME_STEP_SETS + 3];
    const mdm_acme_step_t  *s;

    s = mdm_acme_step(ev);
    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < MDM_ACME_STEP_SETS && s->set[i][0]; i++) {
        pairs[n++] = s->set[i][0];
        pairs[n++] = s->set[i][1];
    }

    if (field != NULL) {
        pairs[n++] = field;
        pairs[n++] = value;
    }

    pairs[n] = NULL;

    return ngx_http_mdm_acme_cas(r, key, mdm_key_acme_order(key, q->id), 0,
                                 s->guard_field, s->guard_value, pairs,
                                 handler);
}


ngx_int_t
ngx_http_mdm_acme_finalize(ngx_http_request_t *r, ngx_http_mdm_acme_req_t *q)
{
    const char  *csr;

    if (mdm_acme_order_status(q->order.status, q->order.expires, ngx_time())
        != MDM_ACME_ST_READY)
    {
        mdm_acme_fail(&q->err, MDM_ACME_ORDER_NOT_READY, "the order is %s",
                      q->order.status);
        return ngx_http_mdm_acme_problem(r, q);
    }

    csr = json_string_value(json_object_get(q->jws.payload_json, "csr"));

    if (mdm_acme_csr_parse(csr, &q->csr, &q->err) != 0
        || mdm_acme_csr_key_is(q->csr, q->att_key, &q->err) != 0)
    {
        return ngx_http_mdm_acme_problem(r, q);
    }

    return ngx_http_mdm_acme_step(r, q, MDM_ACME_EV_FINALIZE, NULL, NULL,
                                  ngx_http_mdm_acme_processing);
}


static ngx_int_t
ngx_http_mdm_acme_processing(ngx_http_request_t *r, redisReply *reply)
{
    char                      err[256];
    time_t                    expires;
    mdm_ca_opts_t             opts;
    ngx_str_t                 serial, udid, order;
    ngx_http_mdm_args_t       args;
    ngx_http_mdm_acme_req_t  *q;
    ngx_http_mdm_loc_conf_t  *mlcf;

    q = ngx_http_mdm_acme_req(r);
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->integer != 1)
    {
        mdm_acme_fail(&q->err, MDM_ACME_ORDER_NOT_READY,
                      "the order was finalized meanwhile");
        return ngx_http_mdm_acme_problem(r, q);
    }

    opts.validity_secs = mlcf->scep.validity;
    opts.backdate_secs = 300;
    opts.key_usage = mlcf->scep.key_usage & ~NGX_CONF_BITMASK_SET;
    opts.san_types = mlcf->scep.san_types >> 1;

    if (mdm_ca_issue(mlcf->scep.ca, q->csr, &opts, ngx_time(), &q->issued,
                     err, sizeof(err)) != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm acme: cannot issue for order %s: %s", q->id, err);
        mdm_acme_fail(&q->err, MDM_ACME_SERVER_INTERNAL,
                      "the CA could not issue");
        return ngx_http_mdm_acme_step(r, q, MDM_ACME_EV_ISSUE_FAILED, NULL,
                                      NULL, ngx_http_mdm_acme_issued);
    }

    expires = q->issued.not_after + mlcf->scep.record_retention;

    serial.data = (u_char *) (q->att_serial ? q->att_serial : "");
    serial.len = ngx_strlen(serial.data);
    udid.data = (u_char *) (q->att_udid ? q->att_udid : "");
    udid.len = ngx_strlen(udid.data);
    order.data = (u_char *) q->id;
    order.len = ngx_strlen(q->id);

    if (ngx_http_mdm_issuance_args(r, &args, 3, &q->issued, expires)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_issuance_fact(&args, "serial_number", &serial);
    ngx_http_mdm_issuance_fact(&args, "udid", &udid);
    ngx_http_mdm_issuance_fact(&args, "acme_order", &order);

    return ngx_http_mdm_issuance_record(r, &args, &q->issued, expires,
                                        ngx_http_mdm_acme_recorded);
}


static ngx_int_t
ngx_http_mdm_acme_recorded(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    return ngx_http_mdm_acme_step(r, q, MDM_ACME_EV_ISSUED, "cert",
                                  q->issued.sha256_hex,
                                  ngx_http_mdm_acme_issued);
}


/* processing -> valid (or invalid, when the CA failed) */
static ngx_int_t
ngx_http_mdm_acme_issued(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    if (q->issued.cert == NULL) {
        return ngx_http_mdm_acme_problem(r, q);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm acme: issued serial %s sha256 %s for order %s "
                  "(device \"%s\")", q->issued.serial_hex,
                  q->issued.sha256_hex, q->id,
                  q->att_serial ? q->att_serial : "");

    q->order.status = "valid";
    q->order.cert = q->issued.sha256_hex;
    q->location = ngx_http_mdm_acme_url(r, q, "order", q->id);

    return ngx_http_mdm_acme_reply(r, q, NGX_HTTP_OK,
               mdm_acme_order_json(q->base, q->id, &q->order, ngx_time()));
}


ngx_int_t
ngx_http_mdm_acme_certificate(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q)
{
    char                 *key;
    ngx_http_mdm_args_t   args;

    if (q->order.cert == NULL || ngx_strcmp(q->order.status, "valid") != 0) {
        mdm_acme_fail(&q->err, MDM_ACME_ORDER_NOT_READY,
                      "the order has no certificate");
        return ngx_http_mdm_acme_problem(r, q);
    }

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (key == NULL || ngx_http_mdm_args_init(r, &args, 3) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, "HGET", 4);
    ngx_http_mdm_args_add(&args, key, mdm_key_ca_cert(key, q->order.cert));
    ngx_http_mdm_args_add(&args, "der", 3);

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_acme_cert_der);
}


/* the issued certificate, then the CA's and its chain, PEM */
static ngx_int_t
ngx_http_mdm_acme_cert_der(ngx_http_request_t *r, redisReply *reply)
{
    int                       i;
    BIO                      *b;
    X509                     *x;
    char                     *pem, *p;
    long                      n;
    STACK_OF(X509)           *chain;
    const unsigned char      *d;
    ngx_http_mdm_acme_req_t  *q;
    ngx_http_mdm_loc_conf_t  *mlcf;

    q = ngx_http_mdm_acme_req(r);
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    if (reply->type != REDIS_REPLY_STRING) {
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED,
                      "the certificate's record has expired");
        return ngx_http_mdm_acme_problem(r, q);
    }

    d = (const unsigned char *) reply->str;
    x = d2i_X509(NULL, &d, (long) reply->len);
    b = BIO_new(BIO_s_mem());

    if (x == NULL || b == NULL || !PEM_write_bio_X509(b, x)
        || !PEM_write_bio_X509(b, mdm_ca_cert(mlcf->scep.ca)))
    {
        X509_free(x);
        BIO_free(b);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    X509_free(x);
    chain = mdm_ca_chain(mlcf->scep.ca);

    for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
        if (!PEM_write_bio_X509(b, sk_X509_value(chain, i))) {
            BIO_free(b);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    n = BIO_get_mem_data(b, &p);
    pem = malloc(n + 1);
    if (pem == NULL) {
        BIO_free(b);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(pem, p, n);
    pem[n] = '\0';
    BIO_free(b);

    q->content_type = NGX_HTTP_MDM_ACME_CT_PEM;

    return ngx_http_mdm_acme_reply(r, q, NGX_HTTP_OK, pem);
}
