/*
 * SCEP pkiMessage parsing and CertRep building (RFC 8894 §3). A request is
 * CMS SignedData (the requester's key) over EnvelopedData (to our RA/CA
 * certificate) over a PKCS#10 CSR; the answer mirrors it.
 */

#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "enroll/mdm_scep.h"


#define MDM_SCEP_MAX_INNER   (256 * 1024)   /* envelope and CSR bytes */

/* id-VeriSign pki attributes (§3.2.1) */
enum {
    MDM_SCEP_A_MESSAGE_TYPE = 0,
    MDM_SCEP_A_PKI_STATUS,
    MDM_SCEP_A_FAIL_INFO,
    MDM_SCEP_A_SENDER_NONCE,
    MDM_SCEP_A_RECIPIENT_NONCE,
    MDM_SCEP_A_TRANSACTION_ID,
    MDM_SCEP_A_N
};

static const char *mdm_scep_oids[MDM_SCEP_A_N] = {
    "2.16.840.1.113733.1.9.2", "2.16.840.1.113733.1.9.3",
    "2.16.840.1.113733.1.9.4", "2.16.840.1.113733.1.9.5",
    "2.16.840.1.113733.1.9.6", "2.16.840.1.113733.1.9.7"
};

typedef struct {
    ASN1_OBJECT  *obj[MDM_SCEP_A_N];
} mdm_scep_oids_t;


static int mdm_scep_oids_new(mdm_scep_oids_t *o);
static void mdm_scep_oids_free(mdm_scep_oids_t *o);
static int mdm_scep_refuse(mdm_scep_req_t *req, int fail, const char *why);
static int mdm_scep_read_attrs(CMS_SignerInfo *si, mdm_scep_req_t *req);
static int mdm_scep_verify(CMS_ContentInfo *cms, mdm_scep_req_t *req,
    BIO *content);
static int mdm_scep_decrypt(const mdm_scep_conf_t *conf, BIO *content,
    mdm_scep_req_t *req, BIO *csr_der);
static int mdm_scep_check_csr(const mdm_scep_conf_t *conf, BIO *csr_der,
    mdm_scep_req_t *req);
static void mdm_scep_read_challenge(X509_REQ *csr, mdm_scep_req_t *req);
static int mdm_scep_sign(const mdm_scep_conf_t *conf,
    const mdm_scep_req_t *req, const char *status, int fail_info,
    const unsigned char *content, size_t content_len, unsigned char **der,
    size_t *len);


int
mdm_scep_parse(const mdm_scep_conf_t *conf, const unsigned char *der,
    size_t len, mdm_scep_req_t *req)
{
    int               rc;
    BIO              *in, *content, *csr_der;
    CMS_ContentInfo  *cms;

    memset(req, 0, sizeof(*req));
    req->fail_info = -1;

    if (len == 0 || len > (size_t) 0x7fffffff) {
        req->why = "empty or oversized message";
        return MDM_SCEP_MALFORMED;
    }

    in = BIO_new_mem_buf(der, (int) len);
    content = BIO_new(BIO_s_mem());
    csr_der = BIO_new(BIO_s_mem());
    cms = NULL;
    rc = MDM_SCEP_MALFORMED;
    req->why = "out of memory";

    if (in == NULL || content == NULL || csr_der == NULL) {
        goto done;
    }

    cms = d2i_CMS_bio(in, NULL);
    if (cms == NULL
        || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed
        || sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) < 1)
    {
        req->why = "not a CMS SignedData with a signer";
        goto done;
    }

    rc = mdm_scep_read_attrs(sk_CMS_SignerInfo_value(
                                 CMS_get0_SignerInfos(cms), 0), req);
    if (rc != MDM_SCEP_OK) {
        goto done;
    }

    rc = mdm_scep_verify(cms, req, content);
    if (rc != MDM_SCEP_OK) {
        goto done;
    }

    rc = mdm_scep_decrypt(conf, content, req, csr_der);
    if (rc != MDM_SCEP_OK) {
        goto done;
    }

    rc = mdm_scep_check_csr(conf, csr_der, req);

done:

    ERR_clear_error();
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    BIO_free(content);
    BIO_free(csr_der);

    return rc;
}


static int
mdm_scep_parse_inner(const mdm_scep_conf_t *conf, const unsigned char *der,
    size_t len, mdm_scep_req_t *req, int envelope)
{
    int   rc;
    BIO  *in, *csr_der;

    memset(req, 0, sizeof(*req));
    req->fail_info = -1;

    if (len == 0 || len > MDM_SCEP_MAX_INNER) {
        req->why = "empty or oversized message";
        return MDM_SCEP_MALFORMED;
    }

    in = BIO_new_mem_buf(der, (int) len);
    csr_der = BIO_new(BIO_s_mem());
    rc = MDM_SCEP_MALFORMED;
    req->why = "out of memory";

    if (in != NULL && csr_der != NULL) {
        rc = envelope ? mdm_scep_decrypt(conf, in, req, csr_der) : MDM_SCEP_OK;
        if (rc == MDM_SCEP_OK) {
            rc = mdm_scep_check_csr(conf, envelope ? csr_der : in, req);
        }
    }

    ERR_clear_error();
    BIO_free(in);
    BIO_free(csr_der);

    return rc;
}


int
mdm_scep_parse_envelope(const mdm_scep_conf_t *conf,
    const unsigned char *der, size_t len, mdm_scep_req_t *req)
{
    return mdm_scep_parse_inner(conf, der, len, req, 1);
}


int
mdm_scep_parse_csr(const mdm_scep_conf_t *conf, const unsigned char *der,
    size_t len, mdm_scep_req_t *req)
{
    return mdm_scep_parse_inner(conf, der, len, req, 0);
}


void
mdm_scep_req_free(mdm_scep_req_t *req)
{
    X509_free(req->signer);
    X509_REQ_free(req->csr);
    req->signer = NULL;
    req->csr = NULL;
}


static int
mdm_scep_refuse(mdm_scep_req_t *req, int fail, const char *why)
{
    req->fail_info = fail;
    req->why = why;

    return MDM_SCEP_REFUSED;
}


static int
mdm_scep_oids_new(mdm_scep_oids_t *o)
{
    int  i;

    for (i = 0; i < MDM_SCEP_A_N; i++) {
        o->obj[i] = OBJ_txt2obj(mdm_scep_oids[i], 1);
        if (o->obj[i] == NULL) {
            mdm_scep_oids_free(o);
            return -1;
        }
    }

    return 0;
}


static void
mdm_scep_oids_free(mdm_scep_oids_t *o)
{
    int  i;

    for (i = 0; i < MDM_SCEP_A_N; i++) {
        ASN1_OBJECT_free(o->obj[i]);
        o->obj[i] = NULL;
    }
}


/*
 * The transaction ID and the sender nonce first: with them, every later
 * refusal can be a CertRep FAILURE the client matches to its request.
 */
static int
mdm_scep_read_attrs(CMS_SignerInfo *si, mdm_scep_req_t *req)
{
    int               i, n;
    ASN1_STRING      *s;
    mdm_scep_oids_t   o;
    char              type[8];

    if (mdm_scep_oids_new(&o) != 0) {
        req->why = "out of memory";
        return MDM_SCEP_MALFORMED;
    }

    req->why = "transactionID missing or not a PrintableString";
    s = CMS_signed_get0_data_by_OBJ(si, o.obj[MDM_SCEP_A_TRANSACTION_ID],
                                    -3, V_ASN1_PRINTABLESTRING);
    n = s ? ASN1_STRING_length(s) : 0;
    if (n < 1 || n > MDM_SCEP_TXID_MAX) {
        goto malformed;
    }

    memcpy(req->transaction_id, ASN1_STRING_get0_data(s), n);
    req->transaction_id[n] = '\0';

    for (i = 0; i < n; i++) {
        if ((unsigned char) req->transaction_id[i] < 0x20
            || (unsigned char) req->transaction_id[i] > 0x7e)
        {
            goto malformed;
        }
    }

    req->why = "senderNonce missing or not an OCTET STRING of 1..64 bytes";
    s = CMS_signed_get0_data_by_OBJ(si, o.obj[MDM_SCEP_A_SENDER_NONCE],
                                    -3, V_ASN1_OCTET_STRING);
    n = s ? ASN1_STRING_length(s) : 0;
    if (n < 1 || n > MDM_SCEP_NONCE_MAX) {
        goto malformed;
    }

    memcpy(req->sender_nonce, ASN1_STRING_get0_data(s), n);
    req->sender_nonce_len = n;

    s = CMS_signed_get0_data_by_OBJ(si, o.obj[MDM_SCEP_A_MESSAGE_TYPE],
                                    -3, V_ASN1_PRINTABLESTRING);
    mdm_scep_oids_free(&o);

    n = s ? ASN1_STRING_length(s) : 0;
    if (n < 1 || n >= (int) sizeof(type)) {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_REQUEST,
                               "messageType missing");
    }

    memcpy(type, ASN1_STRING_get0_data(s), n);
    type[n] = '\0';
    req->message_type = atoi(type);

    if (req->message_type != MDM_SCEP_PKCSREQ
        && req->message_type != MDM_SCEP_RENEWALREQ)
    {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_REQUEST,
                               "messageType is not PKCSReq or RenewalReq");
    }

    return MDM_SCEP_OK;

malformed:

    mdm_scep_oids_free(&o);
    return MDM_SCEP_MALFORMED;
}


static const EVP_MD *
mdm_scep_digest(CMS_SignerInfo *si)
{
    X509_ALGOR         *alg;
    const ASN1_OBJECT  *obj;

    CMS_SignerInfo_get0_algs(si, NULL, NULL, &alg, NULL);
    if (alg == NULL) {
        return NULL;
    }

    X509_ALGOR_get0(&obj, NULL, NULL, alg);

    switch (OBJ_obj2nid(obj)) {
    case NID_sha1:
        return EVP_sha1();
    case NID_sha256:
        return EVP_sha256();
    case NID_sha384:
        return EVP_sha384();
    case NID_sha512:
        return EVP_sha512();
    default:
        return NULL;
    }
}


/* The signature over the signed attributes, by the certificate inside the
 * message (self-signed for PKCSReq: who may sign is decided later). */
static int
mdm_scep_verify(CMS_ContentInfo *cms, mdm_scep_req_t *req, BIO *content)
{
    CMS_SignerInfo  *si;
    STACK_OF(X509)  *signers;

    si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);

    req->md = mdm_scep_digest(si);
    if (req->md == NULL) {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_ALG,
                               "unsupported digest algorithm");
    }

    if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1) {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_REQUEST,
                               "more than one signer");
    }

    if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data) {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_REQUEST,
                               "signed content is not id-data");
    }

    if (CMS_verify(cms, NULL, NULL, NULL, content,
                   CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1)
    {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_MESSAGE_CHECK,
                               "the signature over the SignedData does not "
                               "verify with the enclosed signer certificate");
    }

    signers = CMS_get0_signers(cms);
    if (signers == NULL || sk_X509_num(signers) != 1) {
        sk_X509_free(signers);
        return mdm_scep_refuse(req, MDM_SCEP_BAD_MESSAGE_CHECK,
                               "no signer certificate");
    }

    req->signer = sk_X509_value(signers, 0);
    X509_up_ref(req->signer);
    sk_X509_free(signers);

    return MDM_SCEP_OK;
}


static const EVP_CIPHER *
mdm_scep_cipher(int nid)
{
    switch (nid) {
    case NID_aes_128_cbc:
        return EVP_aes_128_cbc();
    case NID_aes_192_cbc:
        return EVP_aes_192_cbc();
    case NID_aes_256_cbc:
        return EVP_aes_256_cbc();
    case NID_des_ede3_cbc:
        return EVP_des_ede3_cbc();
    default:
        return NULL;
    }
}


static int
mdm_scep_decrypt(const mdm_scep_conf_t *conf, BIO *content,
    mdm_scep_req_t *req, BIO *csr_der)
{
    int             rc;
    long            n;
    char           *p;
    PKCS7          *env;
    const unsigned char   *q;

    n = BIO_get_mem_data(content, &p);
    if (n <= 0 || n > MDM_SCEP_MAX_INNER) {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_REQUEST,
                               "no or oversized pkcsPKIEnvelope");
    }

    q = (const unsigned char *) p;
    env = d2i_PKCS7(NULL, &q, n);
    if (env == NULL || !PKCS7_type_is_enveloped(env)
        || env->d.enveloped->enc_data == NULL
        || env->d.enveloped->enc_data->algorithm == NULL)
    {
        PKCS7_free(env);
        return mdm_scep_refuse(req, MDM_SCEP_BAD_REQUEST,
                               "pkcsPKIEnvelope is not EnvelopedData");
    }

    req->cipher = mdm_scep_cipher(OBJ_obj2nid(
                      env->d.enveloped->enc_data->algorithm->algorithm));
    if (req->cipher == NULL) {
        PKCS7_free(env);
        return mdm_scep_refuse(req, MDM_SCEP_BAD_ALG,
                               "content cipher is not AES-CBC or 3DES-CBC");
    }

    rc = MDM_SCEP_OK;

    /* with our certificate, a message for another recipient fails here */
    if (PKCS7_decrypt(env, conf->ra_key, conf->ra_cert, csr_der, 0) != 1) {
        rc = mdm_scep_refuse(req, MDM_SCEP_BAD_MESSAGE_CHECK,
                             "cannot decrypt the pkcsPKIEnvelope with our "
                             "key (another recipient?)");
    }

    PKCS7_free(env);

    return rc;
}


static int
mdm_scep_check_csr(const mdm_scep_conf_t *conf, BIO *csr_der,
    mdm_scep_req_t *req)
{
    long           n;
    char          *p;
    EVP_PKEY      *pub;
    const unsigned char  *q;

    n = BIO_get_mem_data(csr_der, &p);
    q = (const unsigned char *) p;

    req->csr = (n > 0) ? d2i_X509_REQ(NULL, &q, n) : NULL;
    if (req->csr == NULL || q != (const unsigned char *) p + n) {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_REQUEST,
                               "the envelope does not hold a PKCS#10 CSR");
    }

    pub = X509_REQ_get0_pubkey(req->csr);
    if (pub == NULL || EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA) {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_ALG,
                               "the CSR key is not RSA");
    }

    if (X509_REQ_verify(req->csr, pub) != 1) {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_MESSAGE_CHECK,
                               "the CSR's self-signature does not verify");
    }

    if (EVP_PKEY_get_bits(pub) < conf->min_rsa_bits) {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_REQUEST,
                               "the CSR key is shorter than the minimum");
    }

    mdm_scep_read_challenge(req->csr, req);

    return MDM_SCEP_OK;
}


static void
mdm_scep_read_challenge(X509_REQ *csr, mdm_scep_req_t *req)
{
    int              i, n;
    ASN1_TYPE       *t;
    X509_ATTRIBUTE  *at;

    i = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1);
    if (i < 0) {
        return;
    }

    at = X509_REQ_get_attr(csr, i);
    t = at ? X509_ATTRIBUTE_get0_type(at, 0) : NULL;

    if (t == NULL
        || (t->type != V_ASN1_PRINTABLESTRING && t->type != V_ASN1_UTF8STRING
            && t->type != V_ASN1_IA5STRING && t->type != V_ASN1_T61STRING))
    {
        return;
    }

    n = ASN1_STRING_length(t->value.asn1_string);
    if (n < 1 || n > MDM_SCEP_CHALLENGE_MAX) {
        return;
    }

    memcpy(req->challenge, ASN1_STRING_get0_data(t->value.asn1_string), n);
    req->challenge[n] = '\0';

    /* a NUL inside would let two strings compare equal in C */
    if (strlen(req->challenge) != (size_t) n) {
        req->challenge[0] = '\0';
    }
}


int
mdm_scep_authorise(const mdm_ca_t *ca, mdm_scep_req_t *req, time_t now)
{
    EVP_PKEY  *signer_key, *csr_key;

    if (mdm_ca_issued_by(ca, req->signer)) {
        if (X509_cmp_time(X509_get0_notAfter(req->signer), &now) < 0
            || X509_cmp_time(X509_get0_notBefore(req->signer), &now) > 0)
        {
            return mdm_scep_refuse(req, MDM_SCEP_BAD_TIME,
                                   "signed by a certificate of ours that is "
                                   "expired or not yet valid");
        }

        return MDM_SCEP_BY_CERTIFICATE;
    }

    if (req->message_type == MDM_SCEP_RENEWALREQ) {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_CERT_ID,
                               "RenewalReq signed by a certificate we did "
                               "not issue");
    }

    signer_key = X509_get0_pubkey(req->signer);
    csr_key = X509_REQ_get0_pubkey(req->csr);

    if (signer_key == NULL || csr_key == NULL
        || EVP_PKEY_eq(signer_key, csr_key) != 1)
    {
        ERR_clear_error();
        return mdm_scep_refuse(req, MDM_SCEP_BAD_REQUEST,
                               "PKCSReq signer key is not the CSR key");
    }

    if (req->challenge[0] == '\0') {
        return mdm_scep_refuse(req, MDM_SCEP_BAD_REQUEST,
                               "PKCSReq without challengePassword");
    }

    return MDM_SCEP_BY_CHALLENGE;
}


int
mdm_scep_degenerate(STACK_OF(X509) *certs, unsigned char **der, size_t *len)
{
    int     i, n;
    PKCS7  *p7;

    *der = NULL;

    p7 = PKCS7_new();
    if (p7 == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed)
        || !ASN1_INTEGER_set(p7->d.sign->version, 1))
    {
        PKCS7_free(p7);
        return -1;
    }

    /* certificates only: id-data content type, no content (RFC 8894 §3.4) */
    ASN1_OBJECT_free(p7->d.sign->contents->type);
    p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);

    for (i = 0; i < sk_X509_num(certs); i++) {
        if (!PKCS7_add_certificate(p7, sk_X509_value(certs, i))) {
            PKCS7_free(p7);
            return -1;
        }
    }

    n = i2d_PKCS7(p7, der);
    PKCS7_free(p7);

    if (n <= 0) {
        *der = NULL;
        return -1;
    }

    *len = n;

    return 0;
}


int
mdm_scep_ca_certs(const mdm_ca_t *ca, X509 *ra, unsigned char **der,
    size_t *len, int *is_pkcs7)
{
    int              i, n, rc;
    STACK_OF(X509)  *sk;

    *der = NULL;

    if (ra == NULL) {
        *is_pkcs7 = 0;
        n = i2d_X509(mdm_ca_cert(ca), der);
        if (n <= 0) {
            *der = NULL;
            return -1;
        }

        *len = n;
        return 0;
    }

    *is_pkcs7 = 1;

    sk = sk_X509_new_null();
    if (sk == NULL || !sk_X509_push(sk, mdm_ca_cert(ca))
        || !sk_X509_push(sk, ra))
    {
        sk_X509_free(sk);
        return -1;
    }

    for (i = 0; i < sk_X509_num(mdm_ca_chain(ca)); i++) {
        if (!sk_X509_push(sk, sk_X509_value(mdm_ca_chain(ca), i))) {
            sk_X509_free(sk);
            return -1;
        }
    }

    rc = mdm_scep_degenerate(sk, der, len);
    sk_X509_free(sk);

    return rc;
}


/* The issued certificate, degenerate PKCS#7, encrypted to the signer with
 * the requester's cipher, signed by the RA. */
int
mdm_scep_reply_success(const mdm_scep_conf_t *conf,
    const mdm_scep_req_t *req, X509 *issued, unsigned char **der,
    size_t *len)
{
    int               rc = -1, n;
    BIO              *in = NULL;
    size_t            inner_len;
    unsigned char    *inner = NULL, *env_der = NULL;
    STACK_OF(X509)   *sk;
    CMS_ContentInfo  *env = NULL;

    sk = sk_X509_new_null();
    if (sk == NULL || !sk_X509_push(sk, issued)
        || mdm_scep_degenerate(sk, &inner, &inner_len) != 0)
    {
        goto done;
    }

    sk_X509_zero(sk);
    if (!sk_X509_push(sk, req->signer)) {
        goto done;
    }

    in = BIO_new_mem_buf(inner, (int) inner_len);
    if (in == NULL) {
        goto done;
    }

    env = CMS_encrypt(sk, in, req->cipher, CMS_BINARY);
    if (env == NULL) {
        goto done;
    }

    n = i2d_CMS_ContentInfo(env, &env_der);
    if (n <= 0) {
        env_der = NULL;
        goto done;
    }

    rc = mdm_scep_sign(conf, req, "0", -1, env_der, n, der, len);

done:

    ERR_clear_error();
    OPENSSL_free(inner);
    OPENSSL_free(env_der);
    BIO_free(in);
    CMS_ContentInfo_free(env);
    sk_X509_free(sk);

    return rc;
}


int
mdm_scep_reply_failure(const mdm_scep_conf_t *conf,
    const mdm_scep_req_t *req, int fail_info, unsigned char **der,
    size_t *len)
{
    return mdm_scep_sign(conf, req, "2", fail_info, NULL, 0, der, len);
}


static int
mdm_scep_add_str(CMS_SignerInfo *si, ASN1_OBJECT *obj, int type,
    const void *p, size_t len)
{
    return CMS_signed_add1_attr_by_OBJ(si, obj, type, p, (int) len) == 1
           ? 0 : -1;
}


/* CertRep (§3.3.2): pkiStatus, failInfo, recipientNonce = the request's
 * senderNonce, the same transactionID, a fresh senderNonce. */
static int
mdm_scep_sign(const mdm_scep_conf_t *conf, const mdm_scep_req_t *req,
    const char *status, int fail_info, const unsigned char *content,
    size_t content_len, unsigned char **der, size_t *len)
{
    int               rc = -1, n;
    BIO              *in = NULL;
    char              fail[2];
    unsigned char     nonce[16];
    const EVP_MD     *md;
    CMS_SignerInfo   *si;
    mdm_scep_oids_t   o;
    CMS_ContentInfo  *cms;

    static const unsigned char  empty[1];

    *der = NULL;

    if (mdm_scep_oids_new(&o) != 0) {
        return -1;
    }

    md = req->md ? req->md : EVP_sha256();

    cms = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
    if (cms == NULL) {
        goto done;
    }

    si = CMS_add1_signer(cms, conf->ra_cert, conf->ra_key, md,
                         CMS_NOSMIMECAP | CMS_BINARY);
    if (si == NULL || RAND_bytes(nonce, sizeof(nonce)) != 1) {
        goto done;
    }

    fail[0] = (char) ('0' + (fail_info < 0 ? 0 : fail_info));
    fail[1] = '\0';

    if (mdm_scep_add_str(si, o.obj[MDM_SCEP_A_MESSAGE_TYPE],
                         V_ASN1_PRINTABLESTRING, "3", 1)
        || mdm_scep_add_str(si, o.obj[MDM_SCEP_A_PKI_STATUS],
                            V_ASN1_PRINTABLESTRING, status, 1)
        || (fail_info >= 0
            && mdm_scep_add_str(si, o.obj[MDM_SCEP_A_FAIL_INFO],
                                V_ASN1_PRINTABLESTRING, fail, 1))
        || mdm_scep_add_str(si, o.obj[MDM_SCEP_A_TRANSACTION_ID],
                            V_ASN1_PRINTABLESTRING, req->transaction_id,
                            strlen(req->transaction_id))
        || mdm_scep_add_str(si, o.obj[MDM_SCEP_A_SENDER_NONCE],
                            V_ASN1_OCTET_STRING, nonce, sizeof(nonce))
        || mdm_scep_add_str(si, o.obj[MDM_SCEP_A_RECIPIENT_NONCE],
                            V_ASN1_OCTET_STRING, req->sender_nonce,
                            req->sender_nonce_len))
    {
        goto done;
    }

    /* FAILURE carries no envelope: an empty id-data, as other CAs send */
    in = content ? BIO_new_mem_buf(content, (int) content_len)
                 : BIO_new_mem_buf(empty, 0);
    if (in == NULL || CMS_final(cms, in, NULL, CMS_BINARY) != 1) {
        goto done;
    }

    n = i2d_CMS_ContentInfo(cms, der);
    if (n <= 0) {
        *der = NULL;
        goto done;
    }

    *len = n;
    rc = 0;

done:

    ERR_clear_error();
    mdm_scep_oids_free(&o);
    BIO_free(in);
    CMS_ContentInfo_free(cms);

    return rc;
}


const char *
mdm_scep_fail_name(int fail_info)
{
    static const char  *names[] = { "badAlg", "badMessageCheck",
                                    "badRequest", "badTime", "badCertId" };

    return (fail_info >= 0 && fail_info <= 4) ? names[fail_info] : "none";
}
