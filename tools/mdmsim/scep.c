/*
 * mdmsim's SCEP client (RFC 8894), written from the RFC and not from the
 * server's code: it builds its pkiMessage with OpenSSL's CMS and X.509
 * calls and checks the CertRep the way a device does (signature by the CA
 * it fetched, transactionID, recipientNonce). Blocking libcurl requests:
 * one enrollment is a handful of round trips, not a load generator.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <openssl/x509v3.h>

#include "mdm_buf.h"
#include "mdmsim.h"


#define SCEP_OID_MESSAGE_TYPE    "2.16.840.1.113733.1.9.2"
#define SCEP_OID_PKI_STATUS      "2.16.840.1.113733.1.9.3"
#define SCEP_OID_FAIL_INFO       "2.16.840.1.113733.1.9.4"
#define SCEP_OID_SENDER_NONCE    "2.16.840.1.113733.1.9.5"
#define SCEP_OID_RECIPIENT_NONCE "2.16.840.1.113733.1.9.6"
#define SCEP_OID_TRANSACTION_ID  "2.16.840.1.113733.1.9.7"


/* A DER message as i2d_*() allocates it (OPENSSL_free) */
struct scep_der {
    unsigned char  *data;
    size_t          len;
};

struct scep_session {
    const struct mdmsim_scep_opts  *o;
    struct mdmsim_scep_result      *res;
    CURL                           *curl;
    int                             post;      /* POSTPKIOperation */
    int                             renewal;   /* Renewal */
    X509                           *ca;
    X509                           *recipient;
    unsigned char                   nonce[16];
    char                            txid[65];
};


static size_t
scep_write(char *p, size_t size, size_t n, void *data)
{
    return mdm_buf_append(data, p, size * n) == 0 ? size * n : 0;
}


static int
scep_fail(struct scep_session *s, const char *what)
{
    unsigned long  e = ERR_get_error();

    snprintf(s->res->error, sizeof(s->res->error), "%s%s%s", what,
             e ? ": " : "", e ? ERR_error_string(e, NULL) : "");
    ERR_clear_error();

    return -1;
}


/* GET url?operation=op[&message=...] or POST with body; the response body
 * in out (NUL-terminated, mdm_buf_free), the HTTP status in
 * res->http_status. */
static int
scep_http(struct scep_session *s, const char *op, const char *message,
    const struct scep_der *body, mdm_buf_t *out)
{
    char                *url, *esc;
    long                 status;
    size_t               n;
    CURLcode             rc;
    struct curl_slist   *hdr = NULL;

    memset(out, 0, sizeof(*out));
    esc = message ? curl_easy_escape(s->curl, message, 0) : NULL;
    n = strlen(s->o->url) + strlen(op) + (esc ? strlen(esc) : 0) + 32;
    url = malloc(n);
    if (url == NULL) {
        curl_free(esc);
        return scep_fail(s, "out of memory");
    }

    snprintf(url, n, "%s%soperation=%s%s%s", s->o->url,
             strchr(s->o->url, '?') ? "&" : "?", op,
             esc ? "&message=" : "", esc ? esc : "");
    curl_free(esc);

    curl_easy_reset(s->curl);
    curl_easy_setopt(s->curl, CURLOPT_URL, url);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, scep_write);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT, 30L);

    if (s->o->tls_ca_file) {
        curl_easy_setopt(s->curl, CURLOPT_CAINFO, s->o->tls_ca_file);
    }
    if (s->o->insecure) {
        curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    if (body) {
        hdr = curl_slist_append(NULL,
                                "Content-Type: application/x-pki-message");
        curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body->data);
        curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE, (long) body->len);
    }

    rc = curl_easy_perform(s->curl);
    curl_slist_free_all(hdr);
    free(url);

    if (rc != CURLE_OK) {
        snprintf(s->res->error, sizeof(s->res->error), "%s: %s", op,
                 curl_easy_strerror(rc));
        return -1;
    }

    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    s->res->http_status = (int) status;

    if (s->o->verbose) {
        fprintf(stderr, "mdmsim scep: %s -> %ld, %zu bytes\n", op, status,
                out->len);
    }

    if (status != 200) {
        snprintf(s->res->error, sizeof(s->res->error), "%s: HTTP %ld", op,
                 status);
        return -1;
    }

    return 0;
}


static int
scep_caps(struct scep_session *s)
{
    mdm_buf_t  b;

    if (scep_http(s, "GetCACaps", NULL, NULL, &b) != 0) {
        mdm_buf_free(&b);
        return -1;
    }

    s->post = b.data && strstr(b.data, "POSTPKIOperation") != NULL;
    s->renewal = b.data && strstr(b.data, "Renewal") != NULL;
    mdm_buf_free(&b);

    return 0;
}


/* GetCACert: one DER certificate (the CA, which is also the recipient), or
 * a degenerate PKCS#7 where the recipient is the non-CA (RA) one. */
static int
scep_ca_cert(struct scep_session *s)
{
    int                   i;
    X509                 *x;
    PKCS7                *p7;
    mdm_buf_t             b;
    const unsigned char  *p;

    if (scep_http(s, "GetCACert", "mdmsim", NULL, &b) != 0) {
        mdm_buf_free(&b);
        return -1;
    }

    p = (const unsigned char *) b.data;
    s->ca = d2i_X509(NULL, &p, (long) b.len);

    if (s->ca != NULL) {
        X509_up_ref(s->ca);
        s->recipient = s->ca;
        mdm_buf_free(&b);
        return 0;
    }

    p = (const unsigned char *) b.data;
    p7 = d2i_PKCS7(NULL, &p, (long) b.len);
    mdm_buf_free(&b);

    if (p7 == NULL || !PKCS7_type_is_signed(p7)) {
        PKCS7_free(p7);
        return scep_fail(s, "GetCACert: neither DER nor PKCS#7");
    }

    for (i = 0; i < sk_X509_num(p7->d.sign->cert); i++) {
        x = sk_X509_value(p7->d.sign->cert, i);
        if (X509_check_ca(x) && s->ca == NULL) {
            X509_up_ref(x);
            s->ca = x;
        } else if (!X509_check_ca(x) && s->recipient == NULL) {
            X509_up_ref(x);
            s->recipient = x;
        }
    }

    PKCS7_free(p7);

    if (s->ca == NULL) {
        return scep_fail(s, "GetCACert: no CA certificate");
    }

    if (s->recipient == NULL) {
        X509_up_ref(s->ca);
        s->recipient = s->ca;
    }

    return 0;
}


/* the subjectAltName extension in the CSR's extensionRequest */
static int
scep_csr_san(X509_REQ *req, const char *san)
{
    int                        ok;
    X509V3_CTX                 ctx;
    X509_EXTENSION            *ext;
    STACK_OF(X509_EXTENSION)  *exts;

    if (san == NULL) {
        return 0;
    }

    X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
    exts = sk_X509_EXTENSION_new_null();

    ok = ext != NULL && exts != NULL && sk_X509_EXTENSION_push(exts, ext)
         && X509_REQ_add_extensions(req, exts);

    if (!ok) {
        fprintf(stderr, "mdmsim scep: --san \"%s\" is not a subjectAltName\n",
                san);
        X509_EXTENSION_free(ext);
        ext = NULL;
    }

    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);

    return ok ? 0 : -1;
}


static X509_REQ *
scep_csr(struct scep_session *s, EVP_PKEY *key)
{
    X509_REQ   *req;
    X509_NAME  *name;
    const char *cn = s->o->subject_cn ? s->o->subject_cn : "mdmsim";

    req = X509_REQ_new();
    name = X509_NAME_new();

    if (req == NULL || name == NULL
        || (s->o->subject == NULL
            && !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                           (const unsigned char *) cn, -1, -1,
                                           0))
        || !X509_REQ_set_subject_name(req, s->o->subject ? s->o->subject
                                                         : name)
        || !X509_REQ_set_pubkey(req, key)
        || scep_csr_san(req, s->o->san) != 0
        || (s->o->challenge
            && !X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
                                          MBSTRING_UTF8,
                                          (const unsigned char *)
                                              s->o->challenge, -1))
        || !X509_REQ_sign(req, key, EVP_sha256()))
    {
        X509_NAME_free(name);
        X509_REQ_free(req);
        return NULL;
    }

    X509_NAME_free(name);

    return req;
}


/* PKCSReq's signer: a throw-away self-signed certificate over the key. */
static X509 *
scep_self_signed(EVP_PKEY *key)
{
    X509       *x;
    X509_NAME  *name;

    x = X509_new();
    name = X509_NAME_new();

    if (x == NULL || name == NULL
        || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       (const unsigned char *) "mdmsim scep",
                                       -1, -1, 0)
        || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1)
        || !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name)
        || !X509_gmtime_adj(X509_getm_notBefore(x), -3600)
        || !X509_gmtime_adj(X509_getm_notAfter(x), 86400)
        || !X509_set_pubkey(x, key) || !X509_sign(x, key, EVP_sha256()))
    {
        X509_NAME_free(name);
        X509_free(x);
        return NULL;
    }

    X509_NAME_free(name);

    return x;
}


static int
scep_add_attr(CMS_SignerInfo *si, const char *oid, int type, const void *p,
    int len)
{
    int           ok;
    ASN1_OBJECT  *obj = OBJ_txt2obj(oid, 1);

    ok = obj && CMS_signed_add1_attr_by_OBJ(si, obj, type, p, len) == 1;
    ASN1_OBJECT_free(obj);

    return ok ? 0 : -1;
}


static X509 *
scep_read_cert(const char *path)
{
    FILE  *f = fopen(path, "r");
    X509  *x;

    if (f == NULL) {
        return NULL;
    }

    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);

    return x;
}


/* EnvelopedData over the CSR to the recipient, in a SignedData by signer. */
static int
scep_message(struct scep_session *s, X509_REQ *csr, X509 *signer,
    EVP_PKEY *signer_key, int type, struct scep_der *msg)
{
    int               n, rc = -1;
    char              type_s[4];
    BIO              *in = NULL, *env_in = NULL;
    X509             *to = s->recipient, *other = NULL;
    unsigned char    *csr_der = NULL, *env_der = NULL, md[32];
    unsigned int      mdlen = sizeof(md);
    CMS_SignerInfo   *si;
    STACK_OF(X509)   *recips;
    CMS_ContentInfo  *env = NULL, *sd = NULL;
    ASN1_OCTET_STRING *sig;

    if (s->o->recipient_file) {
        other = scep_read_cert(s->o->recipient_file);
        if (other == NULL) {
            return scep_fail(s, "cannot read --recipient");
        }
        to = other;
    }

    /* the transaction ID: a hash of the public key, as RFC 8894 §3.2.1.1
     * suggests */
    if (!X509_pubkey_digest(signer, EVP_sha256(), md, &mdlen)) {
        goto done;
    }
    for (unsigned i = 0; i < 32; i++) {
        sprintf(s->txid + 2 * i, "%02X", md[i]);
    }

    if (RAND_bytes(s->nonce, sizeof(s->nonce)) != 1) {
        goto done;
    }

    n = i2d_X509_REQ(csr, &csr_der);
    recips = sk_X509_new_null();
    if (n <= 0 || recips == NULL || !sk_X509_push(recips, to)) {
        sk_X509_free(recips);
        goto done;
    }

    in = BIO_new_mem_buf(csr_der, n);
    env = CMS_encrypt(recips, in, s->o->des3 ? EVP_des_ede3_cbc()
                                             : EVP_aes_128_cbc(), CMS_BINARY);
    sk_X509_free(recips);
    if (env == NULL) {
        goto done;
    }

    n = i2d_CMS_ContentInfo(env, &env_der);
    if (n <= 0) {
        goto done;
    }

    sd = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
    si = sd ? CMS_add1_signer(sd, signer, signer_key,
                              s->o->sha1 ? EVP_sha1() : EVP_sha256(),
                              CMS_NOSMIMECAP | CMS_BINARY) : NULL;
    snprintf(type_s, sizeof(type_s), "%d", type);

    if (si == NULL
        || scep_add_attr(si, SCEP_OID_MESSAGE_TYPE, V_ASN1_PRINTABLESTRING,
                         type_s, (int) strlen(type_s))
        || scep_add_attr(si, SCEP_OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING,
                         s->txid, (int) strlen(s->txid))
        || scep_add_attr(si, SCEP_OID_SENDER_NONCE, V_ASN1_OCTET_STRING,
                         s->nonce, sizeof(s->nonce)))
    {
        goto done;
    }

    env_in = BIO_new_mem_buf(env_der, n);
    if (env_in == NULL || CMS_final(sd, env_in, NULL, CMS_BINARY) != 1) {
        goto done;
    }

    if (s->o->bad_signature) {
        sig = CMS_SignerInfo_get0_signature(si);
        sig->data[sig->length / 2] ^= 0x01;
    }

    msg->data = NULL;
    n = i2d_CMS_ContentInfo(sd, &msg->data);
    if (n <= 0) {
        goto done;
    }

    msg->len = n;
    rc = 0;

done:

    if (rc != 0) {
        scep_fail(s, "cannot build the pkiMessage");
    }

    X509_free(other);
    OPENSSL_free(csr_der);
    OPENSSL_free(env_der);
    BIO_free(in);
    BIO_free(env_in);
    CMS_ContentInfo_free(env);
    CMS_ContentInfo_free(sd);

    return rc;
}


static int
scep_attr_str(CMS_SignerInfo *si, const char *oid, int type,
    unsigned char *out, size_t outlen)
{
    int           n;
    ASN1_STRING  *str;
    ASN1_OBJECT  *obj = OBJ_txt2obj(oid, 1);

    str = obj ? CMS_signed_get0_data_by_OBJ(si, obj, -3, type) : NULL;
    ASN1_OBJECT_free(obj);

    n = str ? ASN1_STRING_length(str) : -1;
    if (n < 0 || (size_t) n >= outlen) {
        return -1;
    }

    memcpy(out, ASN1_STRING_get0_data(str), n);
    out[n] = '\0';

    return n;
}


/* The issued certificate out of the envelope, for the key we certify. */
static int
scep_issued(struct scep_session *s, BIO *content, X509 *dec_cert,
    EVP_PKEY *dec_key, EVP_PKEY *key)
{
    int                   i;
    long                  n;
    char                 *p;
    BIO                  *out;
    PKCS7                *p7;
    X509                 *x;
    CMS_ContentInfo      *env;
    const unsigned char  *q;

    n = BIO_get_mem_data(content, &p);
    q = (const unsigned char *) p;
    env = d2i_CMS_ContentInfo(NULL, &q, n);
    out = BIO_new(BIO_s_mem());

    if (env == NULL || out == NULL
        || CMS_decrypt(env, dec_key, dec_cert, NULL, out, CMS_BINARY) != 1)
    {
        CMS_ContentInfo_free(env);
        BIO_free(out);
        return scep_fail(s, "cannot decrypt the CertRep envelope");
    }

    CMS_ContentInfo_free(env);

    n = BIO_get_mem_data(out, &p);
    q = (const unsigned char *) p;
    p7 = d2i_PKCS7(NULL, &q, n);
    BIO_free(out);

    if (p7 == NULL || !PKCS7_type_is_signed(p7)) {
        PKCS7_free(p7);
        return scep_fail(s, "the envelope holds no degenerate PKCS#7");
    }

    for (i = 0; i < sk_X509_num(p7->d.sign->cert); i++) {
        x = sk_X509_value(p7->d.sign->cert, i);
        if (EVP_PKEY_eq(X509_get0_pubkey(x), key) == 1) {
            X509_up_ref(x);
            s->res->cert = x;
        }
    }

    PKCS7_free(p7);

    return s->res->cert ? 0 : scep_fail(s, "no certificate for our key");
}


/* CertRep: signed by the CA we fetched, our transactionID and nonce. */
static int
scep_reply(struct scep_session *s, const mdm_buf_t *b, X509 *dec_cert,
    EVP_PKEY *dec_key, EVP_PKEY *key)
{
    int                   rc = -1;
    BIO                  *content;
    X509_STORE           *store;
    unsigned char         buf[256];
    CMS_SignerInfo       *si;
    CMS_ContentInfo      *cms;
    const unsigned char  *p = (const unsigned char *) b->data;

    cms = d2i_CMS_ContentInfo(NULL, &p, (long) b->len);
    store = X509_STORE_new();
    content = BIO_new(BIO_s_mem());

    if (cms == NULL || store == NULL || content == NULL
        || !X509_STORE_add_cert(store, s->ca))
    {
        scep_fail(s, "the CertRep is not CMS");
        goto done;
    }

    /* the reply is signed by the CA (or its RA): verify against it, with
     * no purpose check since a CA certificate signs it */
    X509_STORE_set_purpose(store, X509_PURPOSE_ANY);
    if (CMS_verify(cms, NULL, store, NULL, content, CMS_BINARY) != 1) {
        scep_fail(s, "the CertRep signature does not verify");
        goto done;
    }

    si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);

    if (scep_attr_str(si, SCEP_OID_MESSAGE_TYPE, V_ASN1_PRINTABLESTRING,
                      buf, sizeof(buf)) < 0 || strcmp((char *) buf, "3"))
    {
        scep_fail(s, "the reply is not a CertRep");
        goto done;
    }

    if (scep_attr_str(si, SCEP_OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING,
                      buf, sizeof(buf)) < 0 || strcmp((char *) buf, s->txid))
    {
        scep_fail(s, "the CertRep has another transactionID");
        goto done;
    }

    if (scep_attr_str(si, SCEP_OID_RECIPIENT_NONCE, V_ASN1_OCTET_STRING,
                      buf, sizeof(buf)) != (int) sizeof(s->nonce)
        || memcmp(buf, s->nonce, sizeof(s->nonce)) != 0)
    {
        scep_fail(s, "the CertRep recipientNonce is not our senderNonce");
        goto done;
    }

    if (scep_attr_str(si, SCEP_OID_PKI_STATUS, V_ASN1_PRINTABLESTRING,
                      buf, sizeof(buf)) < 0)
    {
        scep_fail(s, "the CertRep has no pkiStatus");
        goto done;
    }

    s->res->pki_status = atoi((char *) buf);

    if (s->res->pki_status == 2) {
        s->res->fail_info =
            scep_attr_str(si, SCEP_OID_FAIL_INFO, V_ASN1_PRINTABLESTRING,
                          buf, sizeof(buf)) > 0 ? atoi((char *) buf) : -1;
        snprintf(s->res->error, sizeof(s->res->error),
                 "CertRep FAILURE, failInfo %d", s->res->fail_info);
        goto done;
    }

    if (s->res->pki_status != 0) {
        snprintf(s->res->error, sizeof(s->res->error),
                 "CertRep pkiStatus %d", s->res->pki_status);
        goto done;
    }

    rc = scep_issued(s, content, dec_cert, dec_key, key);

done:

    ERR_clear_error();
    CMS_ContentInfo_free(cms);
    X509_STORE_free(store);
    BIO_free(content);

    return rc;
}


static int
scep_send(struct scep_session *s, struct scep_der *msg, mdm_buf_t *b)
{
    int    rc, n;
    char  *b64;

    if (s->post && !s->o->use_get) {
        return scep_http(s, "PKIOperation", NULL, msg, b);
    }

    b64 = malloc(4 * ((msg->len + 2) / 3) + 1);
    if (b64 == NULL) {
        return scep_fail(s, "out of memory");
    }

    n = EVP_EncodeBlock((unsigned char *) b64, msg->data, (int) msg->len);
    b64[n] = '\0';
    rc = scep_http(s, "PKIOperation", b64, NULL, b);
    free(b64);

    return rc;
}


static int
scep_write_message(struct scep_session *s, struct scep_der *msg)
{
    int                   ok;
    FILE                 *f;
    PKCS7                *p7;
    const unsigned char  *p = msg->data;

    p7 = d2i_PKCS7(NULL, &p, msg->len);
    f = fopen(s->o->message_out, "w");
    ok = p7 && f && PEM_write_PKCS7(f, p7);

    if (f) {
        fclose(f);
    }
    PKCS7_free(p7);

    return ok ? 0 : scep_fail(s, "cannot write --message-out");
}


static int
scep_run(struct scep_session *s)
{
    int                     rc = -1, type;
    X509                   *signer = NULL;
    X509_REQ               *csr = NULL;
    EVP_PKEY               *key, *signer_key, *foreign = NULL;
    struct scep_der         msg = { NULL, 0 };
    mdm_buf_t               b = { NULL, 0, 0 };
    const struct mdmsim_scep_opts *o = s->o;

    if (scep_caps(s) != 0 || scep_ca_cert(s) != 0) {
        return -1;
    }

    key = o->key;
    if (key) {
        EVP_PKEY_up_ref(key);
    } else {
        key = EVP_RSA_gen(o->key_bits ? o->key_bits : 2048);
    }
    s->res->key = key;

    csr = key ? scep_csr(s, key) : NULL;
    if (csr == NULL) {
        return scep_fail(s, "cannot build the CSR");
    }

    if (o->renew_cert) {
        signer = o->renew_cert;
        X509_up_ref(signer);
        signer_key = o->renew_key;
        type = (s->renewal && !o->pkcsreq) ? 17 : 19;

    } else {
        signer_key = key;
        if (o->foreign_signer) {
            foreign = EVP_RSA_gen(2048);
            signer_key = foreign;
        }
        signer = signer_key ? scep_self_signed(signer_key) : NULL;
        type = 19;
    }

    if (signer == NULL) {
        scep_fail(s, "cannot build the signer certificate");
        goto done;
    }

    if (scep_message(s, csr, signer, signer_key, type, &msg) != 0) {
        goto done;
    }

    if (o->message_out) {
        rc = scep_write_message(s, &msg);
        goto done;
    }

    if (scep_send(s, &msg, &b) != 0) {
        goto done;
    }

    rc = scep_reply(s, &b, signer, signer_key, key);

done:

    OPENSSL_free(msg.data);
    mdm_buf_free(&b);
    X509_REQ_free(csr);
    X509_free(signer);
    EVP_PKEY_free(foreign);

    return rc;
}


int
mdmsim_scep_enroll(const struct mdmsim_scep_opts *o,
    struct mdmsim_scep_result *res)
{
    int                  rc;
    struct scep_session  s;

    memset(res, 0, sizeof(*res));
    res->pki_status = -1;
    res->fail_info = -1;

    memset(&s, 0, sizeof(s));
    s.o = o;
    s.res = res;
    s.curl = curl_easy_init();
    if (s.curl == NULL) {
        snprintf(res->error, sizeof(res->error), "curl_easy_init failed");
        return -1;
    }

    rc = scep_run(&s);

    curl_easy_cleanup(s.curl);
    X509_free(s.ca);
    X509_free(s.recipient);

    return rc;
}


/* the verb ----------------------------------------------------------------- */


static int
scep_write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    int    ok;
    FILE  *f = fopen(path, "w");

    if (f == NULL) {
        return -1;
    }

    ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, k, NULL, NULL, 0,
                                                           NULL, NULL);
    fclose(f);

    return ok ? 0 : -1;
}


static void
scep_print_serial(X509 *x)
{
    char    *hex;
    BIGNUM  *bn;

    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    hex = bn ? BN_bn2hex(bn) : NULL;
    printf("mdmsim scep: issued serial %s\n", hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
}


static void
scep_usage(FILE *f)
{
    fprintf(f,
"usage: mdmsim scep --url URL [--challenge C] [--renew-with CERT KEY]\n"
"                   [--out-cert F] [--out-key F] [--ca-file F] [--insecure]\n"
"                   [--cn NAME] [--san DNS:a,email:b,URI:c,IP:d]\n"
"                   [--key KEYFILE] [--key-bits N] [--get]\n"
"                   [--des3] [--sha1] [--pkcsreq] [--recipient CERT]\n"
"                   [--bad-signature] [--foreign-signer]\n"
"                   [--message-out F] [-v]\n"
"exit: 0 issued, 1 CertRep FAILURE (failInfo printed), 2 other errors\n");
}


int
mdmsim_scep_main(int argc, char **argv)
{
    int                        c, rc;
    FILE                      *f;
    const char                *out_cert = NULL, *out_key = NULL;
    const char                *renew_key = NULL, *key_file = NULL;
    struct mdmsim_scep_opts    o;
    struct mdmsim_scep_result  res;

    static const struct option  opts[] = {
        { "url",            required_argument, NULL, 'u' },
        { "challenge",      required_argument, NULL, 'c' },
        { "renew-with",     required_argument, NULL, 'r' },
        { "out-cert",       required_argument, NULL, 'o' },
        { "out-key",        required_argument, NULL, 'k' },
        { "ca-file",        required_argument, NULL, 'a' },
        { "insecure",       no_argument,       NULL, 'I' },
        { "cn",             required_argument, NULL, 'n' },
        { "san",            required_argument, NULL, 'S' },
        { "key",            required_argument, NULL, 'K' },
        { "key-bits",       required_argument, NULL, 'b' },
        { "get",            no_argument,       NULL, 'g' },
        { "des3",           no_argument,       NULL, '3' },
        { "sha1",           no_argument,       NULL, '1' },
        { "pkcsreq",        no_argument,       NULL, 'P' },
        { "recipient",      required_argument, NULL, 'R' },
        { "bad-signature",  no_argument,       NULL, 'B' },
        { "foreign-signer", no_argument,       NULL, 'F' },
        { "message-out",    required_argument, NULL, 'm' },
        { "verbose",        no_argument,       NULL, 'v' },
        { "help",           no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    memset(&o, 0, sizeof(o));

    while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
        switch (c) {
        case 'u': o.url = optarg; break;
        case 'c': o.challenge = optarg; break;
        case 'r':
            /* --renew-with CERT KEY: two arguments */
            if (optind >= argc) {
                scep_usage(stderr);
                return 2;
            }
            o.renew_cert = scep_read_cert(optarg);
            renew_key = argv[optind++];
            break;
        case 'o': out_cert = optarg; break;
        case 'k': out_key = optarg; break;
        case 'a': o.tls_ca_file = optarg; break;
        case 'I': o.insecure = 1; break;
        case 'n': o.subject_cn = optarg; break;
        case 'S': o.san = optarg; break;
        case 'K': key_file = optarg; break;
        case 'b': o.key_bits = atoi(optarg); break;
        case 'g': o.use_get = 1; break;
        case '3': o.des3 = 1; break;
        case '1': o.sha1 = 1; break;
        case 'P': o.pkcsreq = 1; break;
        case 'R': o.recipient_file = optarg; break;
        case 'B': o.bad_signature = 1; break;
        case 'F': o.foreign_signer = 1; break;
        case 'm': o.message_out = optarg; break;
        case 'v': o.verbose = 1; break;
        case 'h': scep_usage(stdout); return 0;
        default: scep_usage(stderr); return 2;
        }
    }

    if (o.url == NULL) {
        scep_usage(stderr);
        return 2;
    }

    if (renew_key) {
        f = fopen(renew_key, "r");
        o.renew_key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
        if (f) {
            fclose(f);
        }
        if (o.renew_cert == NULL || o.renew_key == NULL) {
            fprintf(stderr, "mdmsim scep: cannot read --renew-with\n");
            return 2;
        }
    }

    if (key_file) {
        f = fopen(key_file, "r");
        o.key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
        if (f) {
            fclose(f);
        }
        if (o.key == NULL) {
            fprintf(stderr, "mdmsim scep: cannot read --key\n");
            return 2;
        }
    }

    rc = mdmsim_scep_enroll(&o, &res);

    if (rc == 0 && o.message_out == NULL) {
        if ((out_cert && scep_write_pem(out_cert, res.cert, NULL) != 0)
            || (out_key && scep_write_pem(out_key, NULL, res.key) != 0))
        {
            fprintf(stderr, "mdmsim scep: cannot write the identity\n");
            rc = -1;
        } else {
            scep_print_serial(res.cert);
        }
    } else if (rc == 0 && o.message_out && out_key) {
        scep_write_pem(out_key, NULL, res.key);
    }

    if (rc != 0) {
        fprintf(stderr, "mdmsim scep: %s\n", res.error);
        if (res.pki_status == 2) {
            printf("failInfo %d\n", res.fail_info);
        }
    }

    X509_free(res.cert);
    EVP_PKEY_free(res.key);
    X509_free(o.renew_cert);
    EVP_PKEY_free(o.renew_key);
    EVP_PKEY_free(o.key);

    return rc == 0 ? 0 : (res.pki_status == 2 ? 1 : 2);
}
