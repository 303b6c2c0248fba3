/*
 * mdm_scep: the SCEP CA (RFC 8894) of the device identities. GetCACaps and
 * GetCACert come from configuration; PKIOperation (POST, or GET with
 * message=) is parsed by libmdm (enroll/mdm_scep.c), authorised by a
 * one-time challenge consumed in Redis, a static challenge, or a
 * certificate we issued (renewal), then issued (enroll/mdm_ca.c) and
 * recorded. Every refusal of a parsed message is a CertRep FAILURE with a
 * failInfo and a log line; only bytes that are no pkiMessage get a 400.
 *
 * The RSA work (one decryption, two signatures, one encryption) runs on the
 * event loop: about 3.5 ms of CPU per issued certificate with RSA-2048 on
 * the test machine, 1.3 ms of it RSA itself (BENCHMARKS.md, "SCEP"); rare
 * next to check-ins, so not worth a thread pool hop yet.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "mdm_keys.h"
#include "enroll/mdm_ca.h"
#include "enroll/mdm_scep.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_scep.h"


#define NGX_HTTP_MDM_SCEP_CT_PKI     "application/x-pki-message"

#define NGX_HTTP_MDM_SCEP_CAPS  "POSTPKIOperation\nSHA-256\nSHA-512\n"    \
                                "SHA-1\nAES\nDES3\nRenewal\nSCEPStandard\n"


/* the facts a certificate record carries, from its challenge or from the
 * certificate it renews */
typedef struct {
    ngx_str_t                   user;
    ngx_str_t                   link;
    ngx_str_t                   tags;
    ngx_str_t                   udid;
    ngx_str_t                   serial_number;
    ngx_str_t                   renew;
} ngx_http_mdm_scep_facts_t;


typedef struct {
    mdm_scep_conf_t             sc;
    mdm_scep_req_t              req;
    char                        signer_sha[65];
    ngx_http_mdm_scep_facts_t   facts;
    mdm_ca_issued_t             issued;
    ngx_str_t                   reply;       /* CertRep SUCCESS, DER */
} ngx_http_mdm_scep_state_t;


static ngx_int_t ngx_http_mdm_scep_caps(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_scep_ca_cert(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_scep_get(ngx_http_request_t *r);
static void ngx_http_mdm_scep_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_scep_process(ngx_http_request_t *r,
    ngx_str_t *der);
static void ngx_http_mdm_scep_cleanup(void *data);
static ngx_int_t ngx_http_mdm_scep_authorise(ngx_http_request_t *r,
    ngx_http_mdm_scep_state_t *st);
static ngx_int_t ngx_http_mdm_scep_challenge_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_scep_renew_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_scep_renew_enrollment_reply(
    ngx_http_request_t *r, redisReply *reply);
static ngx_int_t ngx_http_mdm_scep_issue(ngx_http_request_t *r,
    ngx_http_mdm_scep_state_t *st);
static ngx_int_t ngx_http_mdm_scep_index_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_scep_fail(ngx_http_request_t *r,
    ngx_http_mdm_scep_state_t *st, int fail_info, const char *why);
static ngx_int_t ngx_http_mdm_scep_send_der(ngx_http_request_t *r,
    const char *type, unsigned char *der, size_t len);
static ngx_int_t ngx_http_mdm_scep_facts(ngx_http_request_t *r,
    redisReply *hash, ngx_uint_t is_record, ngx_http_mdm_scep_facts_t *facts,
    time_t *expires, ngx_uint_t *revoked);
static ngx_http_mdm_scep_state_t *ngx_http_mdm_scep_state(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_scep_check_sans(ngx_http_request_t *r,
    ngx_http_mdm_scep_state_t *st);


ngx_conf_bitmask_t  ngx_http_mdm_scep_key_usages[] = {
    { ngx_string("digitalSignature"), KU_DIGITAL_SIGNATURE },
    { ngx_string("keyEncipherment"), KU_KEY_ENCIPHERMENT },
    { ngx_string("dataEncipherment"), KU_DATA_ENCIPHERMENT },
    { ngx_string("keyAgreement"), KU_KEY_AGREEMENT },
    { ngx_null_string, 0 }
};


/* The bitmask setter keeps bit 0 for itself (NGX_CONF_BITMASK_SET): the
 * MDM_CA_SAN_* bits one higher. "none" adds no bit, only the mark, so a
 * location can turn off what an outer level allowed. */
#define ngx_http_mdm_scep_san(bit)  ((bit) << 1)

ngx_conf_bitmask_t  ngx_http_mdm_scep_san_types[] = {
    { ngx_string("dns"), ngx_http_mdm_scep_san(MDM_CA_SAN_DNS) },
    { ngx_string("email"), ngx_http_mdm_scep_san(MDM_CA_SAN_EMAIL) },
    { ngx_string("uri"), ngx_http_mdm_scep_san(MDM_CA_SAN_URI) },
    { ngx_string("ip"), ngx_http_mdm_scep_san(MDM_CA_SAN_IP) },
    { ngx_string("none"), 0 },
    { ngx_null_string, 0 }
};


/* configuration ---------------------------------------------------------- */


void
ngx_http_mdm_scep_create_conf(ngx_http_mdm_scep_conf_t *conf)
{
    conf->ca_files = NGX_CONF_UNSET_PTR;
    conf->ra_files = NGX_CONF_UNSET_PTR;
    conf->validity = NGX_CONF_UNSET;
    conf->min_key_bits = NGX_CONF_UNSET_UINT;
    conf->record_retention = NGX_CONF_UNSET;
    /* key_usage, san_types: 0 from ngx_pcalloc, which the bitmask setter
     * expects */
}


static void
ngx_http_mdm_scep_free_ca(void *data)
{
    mdm_ca_free(data);
}


static ngx_int_t
ngx_http_mdm_scep_full_names(ngx_conf_t *cf, ngx_array_t *files)
{
    ngx_str_t   *f;
    ngx_uint_t   i;

    f = files->elts;

    for (i = 0; i < files->nelts; i++) {
        if (ngx_conf_full_name(cf->cycle, &f[i], 1) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_scep_own(ngx_conf_t *cf, void *ca)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        mdm_ca_free(ca);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mdm_scep_free_ca;
    cln->data = ca;

    return NGX_OK;
}


static char *
ngx_http_mdm_scep_load_ca(ngx_conf_t *cf, ngx_http_mdm_scep_conf_t *conf)
{
    int             is_pkcs7;
    char            err[256];
    size_t          n;
    ngx_str_t      *f;
    unsigned char  *der;

    if (ngx_http_mdm_scep_full_names(cf, conf->ca_files) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    f = conf->ca_files->elts;
    conf->ca = mdm_ca_load((char *) f[0].data, (char *) f[1].data,
                           conf->ca_files->nelts > 2 ? (char *) f[2].data
                                                     : NULL,
                           err, sizeof(err));
    if (conf->ca == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"mdm_scep_ca\": %s", err);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mdm_scep_own(cf, conf->ca) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->ra_files != NULL) {
        if (ngx_http_mdm_scep_full_names(cf, conf->ra_files) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        f = conf->ra_files->elts;
        conf->ra = mdm_ca_load_ra(conf->ca, (char *) f[0].data,
                                  (char *) f[1].data, err, sizeof(err));
        if (conf->ra == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"mdm_scep_ra\": %s",
                               err);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_mdm_scep_own(cf, conf->ra) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (!mdm_ca_can_be_ra(conf->ra ? conf->ra : conf->ca)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "mdm scep: the %s certificate's key usage lacks "
                           "digitalSignature or keyEncipherment, which "
                           "strict SCEP clients refuse; set \"mdm_scep_ra\"",
                           conf->ra ? "RA" : "CA");
    }

    /* GetCACert: the CA alone (DER) or CA + RA (PKCS#7), computed once */
    if (mdm_scep_ca_certs(conf->ca, conf->ra ? mdm_ca_cert(conf->ra) : NULL,
                          &der, &n, &is_pkcs7)
        != 0)
    {
        return NGX_CONF_ERROR;
    }

    conf->ca_der.data = ngx_pnalloc(cf->pool, n);
    if (conf->ca_der.data == NULL) {
        OPENSSL_free(der);
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(conf->ca_der.data, der, n);
    conf->ca_der.len = n;
    OPENSSL_free(der);

    return NGX_CONF_OK;
}


char *
ngx_http_mdm_scep_merge_conf(ngx_conf_t *cf, ngx_http_mdm_scep_conf_t *prev,
    ngx_http_mdm_scep_conf_t *conf, ngx_uint_t is_scep)
{
    ngx_conf_merge_ptr_value(conf->ca_files, prev->ca_files, NULL);
    ngx_conf_merge_ptr_value(conf->ra_files, prev->ra_files, NULL);
    ngx_conf_merge_sec_value(conf->validity, prev->validity, 365 * 86400);
    ngx_conf_merge_bitmask_value(conf->key_usage, prev->key_usage,
                                 (NGX_CONF_BITMASK_SET|KU_DIGITAL_SIGNATURE
                                  |KU_KEY_ENCIPHERMENT));
    ngx_conf_merge_uint_value(conf->min_key_bits, prev->min_key_bits, 2048);
    ngx_conf_merge_bitmask_value(conf->san_types, prev->san_types,
                                 NGX_CONF_BITMASK_SET);
    ngx_conf_merge_str_value(conf->challenge, prev->challenge, "");
    ngx_conf_merge_sec_value(conf->record_retention, prev->record_retention,
                             30 * 86400);

    if (conf->validity < 86400) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_scep_validity\" must be at least 1d");
        return NGX_CONF_ERROR;
    }

    if (conf->min_key_bits < 1024 || conf->min_key_bits > 16384) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_scep_min_key_bits\" must be 1024..16384");
        return NGX_CONF_ERROR;
    }

    if (!is_scep) {
        return NGX_CONF_OK;
    }

    if (conf->ca_files == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_scep\" and \"mdm_acme\" require "
                           "\"mdm_scep_ca\"");
        return NGX_CONF_ERROR;
    }

    if (conf->ra_files != NULL && conf->ra_files->nelts != 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_scep_ra\" takes a certificate and a key");
        return NGX_CONF_ERROR;
    }

    if (prev->ca != NULL && prev->ca_files == conf->ca_files
        && prev->ra_files == conf->ra_files)
    {
        conf->ca = prev->ca;
        conf->ra = prev->ra;
        conf->ca_der = prev->ca_der;
        return NGX_CONF_OK;
    }

    return ngx_http_mdm_scep_load_ca(cf, conf);
}


/* mdm_scep_ca cert.pem key.pem [chain.pem]; */
char *
ngx_http_mdm_scep_set_ca(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t     *value, *f;
    ngx_uint_t     i;
    ngx_array_t  **files;

    files = (ngx_array_t **) (p + cmd->offset);

    if (*files != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *files = ngx_array_create(cf->pool, 3, sizeof(ngx_str_t));
    if (*files == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        f = ngx_array_push(*files);
        if (f == NULL) {
            return NGX_CONF_ERROR;
        }

        *f = value[i];
    }

    return NGX_CONF_OK;
}


/* requests --------------------------------------------------------------- */


ngx_int_t
ngx_http_mdm_scep_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  op;

    if (ngx_http_arg(r, (u_char *) "operation", 9, &op) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm scep: request without operation refused");
        return NGX_HTTP_BAD_REQUEST;
    }

    if (op.len == sizeof("PKIOperation") - 1
        && ngx_strncmp(op.data, "PKIOperation", op.len) == 0)
    {
        if (r->method == NGX_HTTP_POST) {
            return ngx_http_mdm_read_body(r, ngx_http_mdm_scep_body);
        }

        if (r->method != NGX_HTTP_GET) {
            return NGX_HTTP_NOT_ALLOWED;
        }

        return ngx_http_mdm_scep_get(r);
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (op.len == sizeof("GetCACaps") - 1
        && ngx_strncmp(op.data, "GetCACaps", op.len) == 0)
    {
        return ngx_http_mdm_scep_caps(r);
    }

    if (op.len == sizeof("GetCACert") - 1
        && ngx_strncmp(op.data, "GetCACert", op.len) == 0)
    {
        return ngx_http_mdm_scep_ca_cert(r);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm scep: unsupported operation \"%V\" refused", &op);

    return NGX_HTTP_BAD_REQUEST;
}


static ngx_int_t
ngx_http_mdm_scep_caps(ngx_http_request_t *r)
{
    static const u_char  caps[] = NGX_HTTP_MDM_SCEP_CAPS;

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "text/plain", caps,
                             sizeof(caps) - 1);
}


static ngx_int_t
ngx_http_mdm_scep_ca_cert(ngx_http_request_t *r)
{
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    return ngx_http_mdm_send(r, NGX_HTTP_OK,
                             mlcf->scep.ra ? "application/x-x509-ca-ra-cert"
                                           : "application/x-x509-ca-cert",
                             mlcf->scep.ca_der.data, mlcf->scep.ca_der.len);
}


/* GET ...?operation=PKIOperation&message=<URL-escaped base64 DER> */
static ngx_int_t
ngx_http_mdm_scep_get(ngx_http_request_t *r)
{
    u_char     *dst, *src;
    ngx_int_t   rc;
    ngx_str_t   arg, b64, der;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_arg(r, (u_char *) "message", 7, &arg) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm scep: PKIOperation GET without message refused");
        return NGX_HTTP_BAD_REQUEST;
    }

    b64.data = ngx_pnalloc(r->pool, arg.len);
    der.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(arg.len));
    if (b64.data == NULL || der.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dst = b64.data;
    src = arg.data;
    ngx_unescape_uri(&dst, &src, arg.len, 0);
    b64.len = dst - b64.data;

    if (ngx_decode_base64(&der, &b64) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm scep: PKIOperation message is not base64");
        return NGX_HTTP_BAD_REQUEST;
    }

    return ngx_http_mdm_scep_process(r, &der);
}


static void
ngx_http_mdm_scep_body(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  body;

    switch (ngx_http_mdm_body(r, &body)) {
    case NGX_OK:
        rc = ngx_http_mdm_scep_process(r, &body);
        break;
    case NGX_DECLINED:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm scep: body larger than client_body_buffer_size "
                      "refused");
        rc = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        break;
    default:
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        break;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_mdm_scep_process(ngx_http_request_t *r, ngx_str_t *der)
{
    int                         rc;
    void                       *ra;
    ngx_pool_cleanup_t         *cln;
    ngx_http_mdm_ctx_t         *ctx;
    ngx_http_mdm_loc_conf_t    *mlcf;
    ngx_http_mdm_scep_state_t  *st;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    ctx = ngx_http_mdm_get_ctx(r);
    st = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_scep_state_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || st == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mdm_scep_cleanup;
    cln->data = st;
    ctx->data = st;
    ngx_str_set(&ctx->message_type, "PKIOperation");

    /* the RA, or the CA as its own RA, decrypts and signs */
    ra = mlcf->scep.ra ? mlcf->scep.ra : mlcf->scep.ca;
    st->sc.ra_cert = mdm_ca_cert(ra);
    st->sc.ra_key = mdm_ca_key(ra);
    st->sc.min_rsa_bits = (int) mlcf->scep.min_key_bits;

    rc = mdm_scep_parse(&st->sc, der->data, der->len, &st->req);

    if (rc == MDM_SCEP_MALFORMED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm scep: not a pkiMessage (%s), refused with 400",
                      st->req.why);
        return NGX_HTTP_BAD_REQUEST;
    }

    if (rc == MDM_SCEP_REFUSED) {
        return ngx_http_mdm_scep_fail(r, st, st->req.fail_info, st->req.why);
    }

    return ngx_http_mdm_scep_authorise(r, st);
}


static void
ngx_http_mdm_scep_cleanup(void *data)
{
    ngx_http_mdm_scep_state_t  *st = data;

    mdm_scep_req_free(&st->req);
    X509_free(st->issued.cert);
    st->issued.cert = NULL;
}


static ngx_http_mdm_scep_state_t *
ngx_http_mdm_scep_state(ngx_http_request_t *r)
{
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    return ctx->data;
}


/* authorisation ---------------------------------------------------------- */


/*
 * The CSR's subjectAltName, as mdm_scep_san allows it: malformed names
 * refuse the request (NGX_DECLINED, logged); names of other types are
 * left out of the certificate, and the log says how many.
 */
static ngx_int_t
ngx_http_mdm_scep_check_sans(ngx_http_request_t *r,
    ngx_http_mdm_scep_state_t *st)
{
    int                       dropped;
    char                      err[128];
    GENERAL_NAMES            *names;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    if (mdm_ca_csr_sans(st->req.csr, mlcf->scep.san_types >> 1, &names,
                        &dropped, err, sizeof(err))
        != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm scep: %s (transaction \"%s\")", err,
                      st->req.transaction_id);
        return NGX_DECLINED;
    }

    GENERAL_NAMES_free(names);

    if (dropped) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm scep: %d subjectAltName(s) of the CSR not "
                      "allowed by mdm_scep_san, left out (transaction "
                      "\"%s\")", dropped, st->req.transaction_id);
    }

    return NGX_OK;
}



static ngx_int_t
ngx_http_mdm_scep_authorise(ngx_http_request_t *r,
    ngx_http_mdm_scep_state_t *st)
{
    int                       by;
    size_t                    n, len;
    const char               *argv[3];
    size_t                    argvlen[3];
    char                     *key;
    ngx_http_mdm_args_t       args;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    by = mdm_scep_authorise(mlcf->scep.ca, &st->req, ngx_time());

    if (by == MDM_SCEP_REFUSED) {
        return ngx_http_mdm_scep_fail(r, st, st->req.fail_info, st->req.why);
    }

    /* before a challenge is spent on a request that cannot be issued */
    if (ngx_http_mdm_scep_check_sans(r, st) != NGX_OK) {
        return ngx_http_mdm_scep_fail(r, st, MDM_SCEP_BAD_REQUEST,
                                      "the CSR's subjectAltName is refused");
    }

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (by == MDM_SCEP_BY_CERTIFICATE) {
        /* renewal: the signer must be a record of ours, not revoked */
        if (mdm_ca_cert_sha256(st->req.signer, st->signer_sha) != 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        argv[0] = "HGETALL";
        argvlen[0] = 7;
        argv[1] = key;
        argvlen[1] = mdm_key_ca_cert(key, st->signer_sha);

        return ngx_http_mdm_redis_call(r, 2, argv, argvlen,
                                       ngx_http_mdm_scep_renew_reply);
    }

    /* a static challenge, compared in constant time, needs no Redis */
    n = ngx_strlen(st->req.challenge);
    len = mlcf->scep.challenge.len;

    if (len && n == len
        && CRYPTO_memcmp(st->req.challenge, mlcf->scep.challenge.data, n)
           == 0)
    {
        return ngx_http_mdm_scep_issue(r, st);
    }

    if (mdm_key_scep_challenge(key, st->req.challenge) == 0) {
        return ngx_http_mdm_scep_fail(r, st, MDM_SCEP_BAD_REQUEST,
                                      "challenge too long");
    }

    if (ngx_http_mdm_args_init(r, &args, 4) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "scep_challenge", 1)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, key);

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_scep_challenge_reply);
}


static ngx_int_t
ngx_http_mdm_scep_challenge_reply(ngx_http_request_t *r, redisReply *reply)
{
    time_t                      expires;
    ngx_uint_t                  revoked;
    ngx_http_mdm_scep_state_t  *st;

    st = ngx_http_mdm_scep_state(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reply->elements == 0) {
        return ngx_http_mdm_scep_fail(r, st, MDM_SCEP_BAD_REQUEST,
                                      "challenge unknown, expired or "
                                      "already used");
    }

    if (ngx_http_mdm_scep_facts(r, reply, 0, &st->facts, &expires,
                                &revoked)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the TTL removes it too; this holds between the TTL and its sweep */
    if (expires && expires < ngx_time()) {
        return ngx_http_mdm_scep_fail(r, st, MDM_SCEP_BAD_REQUEST,
                                      "challenge expired");
    }

    return ngx_http_mdm_scep_issue(r, st);
}


static ngx_int_t
ngx_http_mdm_scep_renew_reply(ngx_http_request_t *r, redisReply *reply)
{
    time_t                      expires;
    ngx_uint_t                  revoked;
    const char                 *argv[2];
    size_t                      argvlen[2];
    char                       *key;
    ngx_http_mdm_scep_state_t  *st;

    st = ngx_http_mdm_scep_state(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reply->elements == 0) {
        return ngx_http_mdm_scep_fail(r, st, MDM_SCEP_BAD_CERT_ID,
                                      "renewal signed by a certificate "
                                      "without an issuance record");
    }

    if (ngx_http_mdm_scep_facts(r, reply, 1, &st->facts, &expires,
                                &revoked)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (revoked) {
        return ngx_http_mdm_scep_fail(r, st, MDM_SCEP_BAD_CERT_ID,
                                      "renewal signed by a revoked "
                                      "certificate");
    }

    if (st->facts.renew.len) {
        return ngx_http_mdm_scep_issue(r, st);
    }

    /* a first identity knows its enrollment from the binding only */
    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = key;
    argvlen[1] = mdm_key_cert(key, st->signer_sha);

    return ngx_http_mdm_redis_call(r, 2, argv, argvlen,
                                   ngx_http_mdm_scep_renew_enrollment_reply);
}


static ngx_int_t
ngx_http_mdm_scep_renew_enrollment_reply(ngx_http_request_t *r,
    redisReply *reply)
{
    ngx_http_mdm_scep_state_t  *st;

    st = ngx_http_mdm_scep_state(r);

    if (reply->type == REDIS_REPLY_STRING && reply->len > 0) {
        st->facts.renew.data = ngx_pnalloc(r->pool, reply->len);
        if (st->facts.renew.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(st->facts.renew.data, reply->str, reply->len);
        st->facts.renew.len = reply->len;
    }

    return ngx_http_mdm_scep_issue(r, st);
}


/* The fields of a challenge or certificate record the new record copies. */
static ngx_int_t
ngx_http_mdm_scep_facts(ngx_http_request_t *r, redisReply *hash,
    ngx_uint_t is_record, ngx_http_mdm_scep_facts_t *facts, time_t *expires,
    ngx_uint_t *revoked)
{
    size_t       i;
    ngx_str_t   *to;
    redisReply  *k, *v;

    *expires = 0;
    *revoked = 0;

    for (i = 0; i + 1 < hash->elements; i += 2) {
        k = hash->element[i];
        v = hash->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        to = NULL;

        if (ngx_strcmp(k->str, "user") == 0) {
            to = &facts->user;
        } else if (ngx_strcmp(k->str, "link") == 0) {
            to = &facts->link;
        } else if (ngx_strcmp(k->str, "tags") == 0) {
            to = &facts->tags;
        } else if (ngx_strcmp(k->str, "udid") == 0) {
            to = &facts->udid;
        } else if (ngx_strcmp(k->str, is_record ? "serial_number" : "serial")
                   == 0)
        {
            /* a challenge's "serial" is the device's; a record's is the
             * certificate's and the device's is "serial_number" */
            to = &facts->serial_number;
        } else if (ngx_strcmp(k->str, "renew") == 0) {
            to = &facts->renew;
        } else if (ngx_strcmp(k->str, "expires") == 0) {
            *expires = ngx_atotm((u_char *) v->str, v->len);
        } else if (ngx_strcmp(k->str, "revoked") == 0) {
            *revoked = 1;
        }

        if (to == NULL) {
            continue;
        }

        to->data = ngx_pnalloc(r->pool, v->len);
        if (to->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(to->data, v->str, v->len);
        to->len = v->len;
    }

    return NGX_OK;
}


/* issuance --------------------------------------------------------------- */


static ngx_int_t
ngx_http_mdm_scep_copy_der(ngx_http_request_t *r, unsigned char *der,
    size_t len, ngx_str_t *to)
{
    to->data = ngx_pnalloc(r->pool, len);
    if (to->data == NULL) {
        OPENSSL_free(der);
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, der, len);
    to->len = len;
    OPENSSL_free(der);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_scep_issue(ngx_http_request_t *r, ngx_http_mdm_scep_state_t *st)
{
    char                      err[256];
    size_t                    len;
    time_t                    expires;
    unsigned char            *der;
    mdm_ca_opts_t             opts;
    ngx_http_mdm_args_t       args;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    opts.validity_secs = mlcf->scep.validity;
    opts.backdate_secs = 300;
    opts.key_usage = mlcf->scep.key_usage & ~NGX_CONF_BITMASK_SET;
    opts.san_types = mlcf->scep.san_types >> 1;

    if (mdm_ca_issue(mlcf->scep.ca, st->req.csr, &opts, ngx_time(),
                     &st->issued, err, sizeof(err))
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm scep: cannot issue: %s", err);
        return ngx_http_mdm_scep_fail(r, st, MDM_SCEP_BAD_REQUEST,
                                      "the CA could not issue");
    }

    if (mdm_scep_reply_success(&st->sc, &st->req, st->issued.cert, &der,
                               &len)
            != 0
        || ngx_http_mdm_scep_copy_der(r, der, len, &st->reply) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm scep: cannot build the CertRep");
        return ngx_http_mdm_scep_fail(r, st, MDM_SCEP_BAD_REQUEST,
                                      "the CA could not build the answer");
    }

    expires = st->issued.not_after + mlcf->scep.record_retention;

    if (ngx_http_mdm_issuance_args(r, &args, 7, &st->issued, expires)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_issuance_fact(&args, "user", &st->facts.user);
    ngx_http_mdm_issuance_fact(&args, "link", &st->facts.link);
    ngx_http_mdm_issuance_fact(&args, "tags", &st->facts.tags);
    ngx_http_mdm_issuance_fact(&args, "udid", &st->facts.udid);
    ngx_http_mdm_issuance_fact(&args, "serial_number",
                               &st->facts.serial_number);
    ngx_http_mdm_issuance_fact(&args, "renew", &st->facts.renew);

    if (st->signer_sha[0]) {
        ngx_http_mdm_args_add_cstr(&args, "renewed_from");
        ngx_http_mdm_args_add_cstr(&args, st->signer_sha);
    }

    return ngx_http_mdm_issuance_record(r, &args, &st->issued, expires,
                                        ngx_http_mdm_scep_index_reply);
}


static ngx_int_t
ngx_http_mdm_scep_index_reply(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_scep_state_t  *st;

    st = ngx_http_mdm_scep_state(r);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm scep: issued serial %s sha256 %s (%s, transaction "
                  "\"%s\")", st->issued.serial_hex, st->issued.sha256_hex,
                  st->signer_sha[0] ? "renewal" : "challenge",
                  st->req.transaction_id);

    return ngx_http_mdm_send(r, NGX_HTTP_OK, NGX_HTTP_MDM_SCEP_CT_PKI,
                             st->reply.data, st->reply.len);
}


/* CertRep FAILURE: an HTTP 200 the client understands, and a log line. */
static ngx_int_t
ngx_http_mdm_scep_fail(ngx_http_request_t *r, ngx_http_mdm_scep_state_t *st,
    int fail_info, const char *why)
{
    size_t          len;
    unsigned char  *der;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm scep: refused with %s: %s (transaction \"%s\")",
                  mdm_scep_fail_name(fail_info), why,
                  st->req.transaction_id);

    if (mdm_scep_reply_failure(&st->sc, &st->req, fail_info, &der, &len)
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm scep: cannot build a CertRep FAILURE");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_scep_send_der(r, NGX_HTTP_MDM_SCEP_CT_PKI, der, len);
}


static ngx_int_t
ngx_http_mdm_scep_send_der(ngx_http_request_t *r, const char *type,
    unsigned char *der, size_t len)
{
    ngx_str_t  copy;

    if (ngx_http_mdm_scep_copy_der(r, der, len, &copy) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, type, copy.data, copy.len);
}
