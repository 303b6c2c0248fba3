/*
 * The issuance record of a certificate our CA has just issued, whoever
 * asked for it (SCEP, ACME): docs/scep.md, "Record". Three calls, one slot
 * each: mdm:ca:cert:{<sha>} (ca_record.lua: the fields every record has,
 * then the caller's facts), mdm:ca:serial:{<serial>} -> sha for the API,
 * then the sha in mdm:ca:index (the API's list, the renewal sweep). The
 * caller's handler runs after the last one.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/x509.h>

#include "mdm_keys.h"
#include "ngx_http_mdm_module.h"


typedef struct {
    const mdm_ca_issued_t      *issued;
    time_t                      expires;
    ngx_http_mdm_reply_pt       done;
} ngx_http_mdm_record_t;


static ngx_int_t ngx_http_mdm_issuance_cert_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_issuance_serial_reply(ngx_http_request_t *r,
    redisReply *reply);


/* the subject as RFC 2253 text, NUL-terminated in the pool */
static ngx_int_t
ngx_http_mdm_issuance_subject(ngx_http_request_t *r, X509 *x, ngx_str_t *to)
{
    BIO   *b;
    char  *p;
    long   n;

    b = BIO_new(BIO_s_mem());
    if (b == NULL
        || X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
                              XN_FLAG_RFC2253) < 0)
    {
        BIO_free(b);
        return NGX_ERROR;
    }

    n = BIO_get_mem_data(b, &p);
    to->data = ngx_pnalloc(r->pool, n + 1);
    if (to->data == NULL) {
        BIO_free(b);
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, p, n);
    to->data[n] = '\0';
    to->len = n;
    BIO_free(b);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_issuance_der(ngx_http_request_t *r, X509 *x, ngx_str_t *to)
{
    int             n;
    unsigned char  *der = NULL;

    n = i2d_X509(x, &der);
    if (n <= 0) {
        return NGX_ERROR;
    }

    to->data = ngx_pnalloc(r->pool, n);
    if (to->data == NULL) {
        OPENSSL_free(der);
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, der, n);
    to->len = n;
    OPENSSL_free(der);

    return NGX_OK;
}


ngx_int_t
ngx_http_mdm_issuance_args(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    int facts, const mdm_ca_issued_t *issued, time_t expires)
{
    char       *key;
    ngx_str_t   der, subject;

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);

    if (key == NULL
        || ngx_http_mdm_issuance_der(r, issued->cert, &der) != NGX_OK
        || ngx_http_mdm_issuance_subject(r, issued->cert, &subject) != NGX_OK
        || ngx_http_mdm_args_init(r, args, 20 + 2 * facts) != NGX_OK
        || ngx_http_mdm_args_script(r, args, "ca_record", 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add(args, key, mdm_key_ca_cert(key, issued->sha256_hex));

    if (ngx_http_mdm_args_add_int(r, args, expires) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add_cstr(args, "serial");
    ngx_http_mdm_args_add_cstr(args, issued->serial_hex);
    ngx_http_mdm_args_add_cstr(args, "subject");
    ngx_http_mdm_args_add(args, subject.data, subject.len);

    ngx_http_mdm_args_add_cstr(args, "not_before");
    if (ngx_http_mdm_args_add_int(r, args, issued->not_before) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add_cstr(args, "not_after");
    if (ngx_http_mdm_args_add_int(r, args, issued->not_after) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add_cstr(args, "issued");
    if (ngx_http_mdm_args_add_int(r, args, ngx_time()) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add_cstr(args, "der");
    ngx_http_mdm_args_add(args, der.data, der.len);

    return NGX_OK;
}


void
ngx_http_mdm_issuance_fact(ngx_http_mdm_args_t *args, const char *field,
    ngx_str_t *value)
{
    if (value->len) {
        ngx_http_mdm_args_add_cstr(args, field);
        ngx_http_mdm_args_add(args, value->data, value->len);
    }
}


ngx_int_t
ngx_http_mdm_issuance_record(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    const mdm_ca_issued_t *issued, time_t expires, ngx_http_mdm_reply_pt done)
{
    ngx_http_mdm_ctx_t     *ctx;
    ngx_http_mdm_record_t  *rec;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    rec = ngx_palloc(r->pool, sizeof(ngx_http_mdm_record_t));
    if (rec == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rec->issued = issued;
    rec->expires = expires;
    rec->done = done;
    ctx->record = rec;

    return ngx_http_mdm_eval(r, args, ngx_http_mdm_issuance_cert_reply);
}


static ngx_int_t
ngx_http_mdm_issuance_cert_reply(ngx_http_request_t *r, redisReply *reply)
{
    char                   *key;
    ngx_http_mdm_ctx_t     *ctx;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_record_t  *rec;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    rec = ctx->record;
    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);

    if (key == NULL || ngx_http_mdm_args_init(r, &args, 6) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* serial -> certificate, for the API; its own slot, its own call */
    ngx_http_mdm_args_add(&args, "SET", 3);
    ngx_http_mdm_args_add(&args, key,
                          mdm_key_ca_serial(key, rec->issued->serial_hex));
    ngx_http_mdm_args_add_cstr(&args, rec->issued->sha256_hex);
    ngx_http_mdm_args_add(&args, "EXAT", 4);

    if (ngx_http_mdm_args_add_int(r, &args, rec->expires) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_issuance_serial_reply);
}


static ngx_int_t
ngx_http_mdm_issuance_serial_reply(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ctx_t     *ctx;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_record_t  *rec;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    rec = ctx->record;

    if (ngx_http_mdm_args_init(r, &args, 4) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, "ZADD", 4);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_CA_INDEX);

    if (ngx_http_mdm_args_add_int(r, &args, rec->issued->not_after)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, rec->issued->sha256_hex);

    return ngx_http_mdm_eval(r, &args, rec->done);
}
