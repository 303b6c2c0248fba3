/*
 * The issuing device CA (mdm_ca.h). Everything here runs at configuration
 * time (load) or once per issued certificate (issue): one RSA signature.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "mdm_hex.h"
#include "enroll/mdm_ca.h"


struct mdm_ca_s {
    X509            *cert;
    EVP_PKEY        *key;
    STACK_OF(X509)  *chain;
};


static void
mdm_ca_err(char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long  e = ERR_get_error();

    snprintf(err, errlen, "%s%s%s%s%s", what, path ? " " : "",
             path ? path : "", e ? ": " : "",
             e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e)
                                            : "openssl error" : "");
    ERR_clear_error();
}


static X509 *
mdm_ca_read_cert(const char *path, char *err, size_t errlen)
{
    FILE  *f;
    X509  *x;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        return NULL;
    }

    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);

    if (x == NULL) {
        mdm_ca_err(err, errlen, "no PEM certificate in", path);
    }

    return x;
}


static STACK_OF(X509) *
mdm_ca_read_chain(const char *path, char *err, size_t errlen)
{
    FILE            *f;
    X509            *x;
    STACK_OF(X509)  *sk;

    sk = sk_X509_new_null();
    if (sk == NULL || path == NULL) {
        return sk;
    }

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        sk_X509_free(sk);
        return NULL;
    }

    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            break;
        }
    }

    fclose(f);
    ERR_clear_error();      /* the end of the file reads as an error */

    if (sk_X509_num(sk) == 0) {
        snprintf(err, errlen, "no PEM certificate in %s", path);
        sk_X509_free(sk);
        return NULL;
    }

    return sk;
}


/* cert + key, RSA, matching; is_ca: also a CA with an optional chain */
static mdm_ca_t *
mdm_ca_load_pair(const char *cert_path, const char *key_path,
    const char *chain_path, int is_ca, char *err, size_t errlen)
{
    FILE      *f;
    mdm_ca_t  *ca;

    ca = calloc(1, sizeof(mdm_ca_t));
    if (ca == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    ca->cert = mdm_ca_read_cert(cert_path, err, errlen);
    if (ca->cert == NULL) {
        goto failed;
    }

    f = fopen(key_path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s", key_path);
        goto failed;
    }

    ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);

    if (ca->key == NULL) {
        mdm_ca_err(err, errlen, "no PEM private key in", key_path);
        goto failed;
    }

    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        mdm_ca_err(err, errlen, "the key does not match the certificate",
                   NULL);
        goto failed;
    }

    if (is_ca && X509_check_ca(ca->cert) == 0) {
        snprintf(err, errlen, "%s is not a CA certificate", cert_path);
        goto failed;
    }

    /* SCEP's key transport and our signatures are RSA (RFC 8894 §2.2) */
    if (EVP_PKEY_get_base_id(ca->key) != EVP_PKEY_RSA) {
        snprintf(err, errlen, "the key of %s must be RSA", cert_path);
        goto failed;
    }

    ca->chain = mdm_ca_read_chain(chain_path, err, errlen);
    if (ca->chain == NULL) {
        goto failed;
    }

    return ca;

failed:

    mdm_ca_free(ca);
    return NULL;
}


mdm_ca_t *
mdm_ca_load(const char *cert_path, const char *key_path,
    const char *chain_path, char *err, size_t errlen)
{
    return mdm_ca_load_pair(cert_path, key_path, chain_path, 1, err, errlen);
}


mdm_ca_t *
mdm_ca_load_ra(const mdm_ca_t *ca, const char *cert_path,
    const char *key_path, char *err, size_t errlen)
{
    mdm_ca_t  *ra;

    ra = mdm_ca_load_pair(cert_path, key_path, NULL, 0, err, errlen);

    if (ra != NULL && !mdm_ca_issued_by(ca, ra->cert)) {
        snprintf(err, errlen, "%s is not issued by the CA", cert_path);
        mdm_ca_free(ra);
        return NULL;
    }

    return ra;
}


void
mdm_ca_free(mdm_ca_t *ca)
{
    if (ca == NULL) {
        return;
    }

    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    sk_X509_pop_free(ca->chain, X509_free);
    free(ca);
}


X509 *
mdm_ca_cert(const mdm_ca_t *ca)
{
    return ca->cert;
}


EVP_PKEY *
mdm_ca_key(const mdm_ca_t *ca)
{
    return ca->key;
}


STACK_OF(X509) *
mdm_ca_chain(const mdm_ca_t *ca)
{
    return ca->chain;
}


/* 128 random bits, top bit clear so the DER INTEGER stays positive and
 * at most 16 bytes; a zero serial is impossible in practice and refused. */
static int
mdm_ca_random_serial(X509 *x, char *hex)
{
    int             ok = -1;
    char           *s, *p;
    size_t          i;
    BIGNUM         *bn;
    unsigned char   r[16];

    if (RAND_bytes(r, sizeof(r)) != 1) {
        return -1;
    }

    r[0] &= 0x7f;

    bn = BN_bin2bn(r, sizeof(r), NULL);
    if (bn == NULL || BN_is_zero(bn)
        || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
    {
        goto done;
    }

    s = BN_bn2hex(bn);
    if (s == NULL) {
        goto done;
    }

    /* lowercase, without the leading zero BN_bn2hex pads to full bytes:
     * the one spelling of a serial in keys and in the API */
    p = s;
    while (p[0] == '0' && p[1] != '\0') {
        p++;
    }

    for (i = 0; p[i] && i < MDM_CA_SERIAL_HEX_MAX; i++) {
        hex[i] = (p[i] >= 'A' && p[i] <= 'F') ? p[i] - 'A' + 'a' : p[i];
        hex[i + 1] = '\0';
    }

    OPENSSL_free(s);
    ok = 0;

done:

    BN_free(bn);
    return ok;
}


static int
mdm_ca_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION  *ext;
    int              ok;

    ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (ext == NULL) {
        return -1;
    }

    ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);

    return ok ? 0 : -1;
}


static int
mdm_ca_add_extensions(const mdm_ca_t *ca, X509 *x, unsigned ku)
{
    char        buf[160];
    X509V3_CTX  ctx;

    X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);

    strcpy(buf, "critical");
    if (ku & KU_DIGITAL_SIGNATURE) {
        strcat(buf, ",digitalSignature");
    }
    if (ku & KU_KEY_ENCIPHERMENT) {
        strcat(buf, ",keyEncipherment");
    }
    if (ku & KU_DATA_ENCIPHERMENT) {
        strcat(buf, ",dataEncipherment");
    }
    if (ku & KU_KEY_AGREEMENT) {
        strcat(buf, ",keyAgreement");
    }
    if (strchr(buf, ',') == NULL) {
        strcat(buf, ",digitalSignature");
    }

    if (mdm_ca_add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE")
        || mdm_ca_add_ext(x, &ctx, NID_key_usage, buf)
        || mdm_ca_add_ext(x, &ctx, NID_ext_key_usage, "clientAuth")
        || mdm_ca_add_ext(x, &ctx, NID_subject_key_identifier, "hash")
        || mdm_ca_add_ext(x, &ctx, NID_authority_key_identifier,
                          "keyid:always"))
    {
        return -1;
    }

    return 0;
}


/* printable ASCII without spaces; email needs an '@', a URI a ':' */
static int
mdm_ca_san_text_ok(const ASN1_IA5STRING *s, int must)
{
    int                   i;
    const unsigned char  *p = ASN1_STRING_get0_data(s);
    int                   n = ASN1_STRING_length(s);

    if (n <= 0 || n > MDM_CA_SAN_LEN_MAX) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f) {
            return 0;
        }
    }

    return must == 0 || memchr(p, must, n) != NULL;
}


/* the MDM_CA_SAN_* type of a name, 0 if not one we know; -1 malformed */
static int
mdm_ca_san_type(const GENERAL_NAME *gn)
{
    int  n;

    switch (gn->type) {

    case GEN_DNS:
        return mdm_ca_san_text_ok(gn->d.dNSName, 0) ? MDM_CA_SAN_DNS : -1;

    case GEN_EMAIL:
        return mdm_ca_san_text_ok(gn->d.rfc822Name, '@')
               ? MDM_CA_SAN_EMAIL : -1;

    case GEN_URI:
        return mdm_ca_san_text_ok(gn->d.uniformResourceIdentifier, ':')
               ? MDM_CA_SAN_URI : -1;

    case GEN_IPADD:
        n = ASN1_STRING_length(gn->d.iPAddress);
        return n == 4 || n == 16 ? MDM_CA_SAN_IP : -1;

    default:
        return 0;
    }
}


int
mdm_ca_csr_sans(X509_REQ *csr, unsigned allowed, GENERAL_NAMES **out,
    int *dropped, char *err, size_t errlen)
{
    int                        crit, type;
    GENERAL_NAME              *gn;
    GENERAL_NAMES             *all, *kept;
    STACK_OF(X509_EXTENSION)  *exts;

    *out = NULL;
    *dropped = 0;

    exts = X509_REQ_get_extensions(csr);
    if (exts == NULL) {
        ERR_clear_error();
        return 0;
    }

    crit = -1;
    all = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);

    if (all == NULL) {
        ERR_clear_error();
        /* -1: absent; -2: more than one; else it did not parse */
        if (crit == -1) {
            return 0;
        }
        snprintf(err, errlen, "the CSR's subjectAltName %s",
                 crit == -2 ? "appears twice" : "does not parse");
        return -1;
    }

    if (sk_GENERAL_NAME_num(all) > MDM_CA_SAN_MAX) {
        snprintf(err, errlen, "the CSR has more than %d subjectAltNames",
                 MDM_CA_SAN_MAX);
        GENERAL_NAMES_free(all);
        return -1;
    }

    kept = sk_GENERAL_NAME_new_null();
    if (kept == NULL) {
        GENERAL_NAMES_free(all);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    while ((gn = sk_GENERAL_NAME_shift(all)) != NULL) {
        type = mdm_ca_san_type(gn);

        if (type < 0) {
            snprintf(err, errlen, "a subjectAltName of the CSR is malformed");
            GENERAL_NAME_free(gn);
            GENERAL_NAMES_free(all);
            GENERAL_NAMES_free(kept);
            return -1;
        }

        if (type == 0 || !(allowed & (unsigned) type)) {
            (*dropped)++;
            GENERAL_NAME_free(gn);
            continue;
        }

        if (!sk_GENERAL_NAME_push(kept, gn)) {
            GENERAL_NAME_free(gn);
            GENERAL_NAMES_free(all);
            GENERAL_NAMES_free(kept);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    GENERAL_NAMES_free(all);

    if (sk_GENERAL_NAME_num(kept) == 0) {
        GENERAL_NAMES_free(kept);
        kept = NULL;
    }

    *out = kept;

    return 0;
}


/* RFC 5280 §4.2.1.6: critical when the subject is empty */
static int
mdm_ca_add_sans(X509 *x, X509_REQ *csr, unsigned allowed)
{
    int             dropped, ok, crit;
    char            err[128];
    GENERAL_NAMES  *names;

    if (allowed == 0) {
        return 0;
    }

    if (mdm_ca_csr_sans(csr, allowed, &names, &dropped, err, sizeof(err))
        != 0)
    {
        return -1;
    }

    if (names == NULL) {
        return 0;
    }

    crit = X509_NAME_entry_count(X509_get_subject_name(x)) == 0;
    ok = X509_add1_ext_i2d(x, NID_subject_alt_name, names, crit,
                           X509V3_ADD_DEFAULT);
    GENERAL_NAMES_free(names);

    return ok == 1 ? 0 : -1;
}


int
mdm_ca_issue(const mdm_ca_t *ca, X509_REQ *csr, const mdm_ca_opts_t *opts,
    time_t now, mdm_ca_issued_t *out, char *err, size_t errlen)
{
    X509       *x;
    EVP_PKEY   *pub;
    struct tm   tm;

    memset(out, 0, sizeof(*out));

    x = X509_new();
    pub = X509_REQ_get0_pubkey(csr);

    if (x == NULL || pub == NULL
        || !X509_set_version(x, X509_VERSION_3)
        || mdm_ca_random_serial(x, out->serial_hex) != 0
        || !X509_set_issuer_name(x, X509_get_subject_name(ca->cert))
        || !X509_set_subject_name(x, X509_REQ_get_subject_name(csr))
        || !X509_set_pubkey(x, pub))
    {
        mdm_ca_err(err, errlen, "cannot build the certificate", NULL);
        X509_free(x);
        return -1;
    }

    out->not_before = now - opts->backdate_secs;
    out->not_after = now + opts->validity_secs;

    /* never outlive the CA: a device cannot use what its chain refuses */
    if (X509_cmp_time(X509_get0_notAfter(ca->cert), &out->not_after) < 0
        && ASN1_TIME_to_tm(X509_get0_notAfter(ca->cert), &tm) == 1)
    {
        out->not_after = timegm(&tm);
    }

    if (X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &out->not_before)
            == NULL
        || X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &out->not_after)
            == NULL
        || mdm_ca_add_extensions(ca, x, opts->key_usage) != 0
        || mdm_ca_add_sans(x, csr, opts->san_types) != 0
        || X509_sign(x, ca->key, EVP_sha256()) == 0
        || mdm_ca_cert_sha256(x, out->sha256_hex) != 0)
    {
        mdm_ca_err(err, errlen, "cannot sign the certificate", NULL);
        X509_free(x);
        return -1;
    }

    out->cert = x;

    return 0;
}


int
mdm_ca_can_be_ra(const mdm_ca_t *ca)
{
    uint32_t  ku = X509_get_key_usage(ca->cert);

    return ku == UINT32_MAX
           || ((ku & KU_DIGITAL_SIGNATURE) && (ku & KU_KEY_ENCIPHERMENT));
}


int
mdm_ca_issued_by(const mdm_ca_t *ca, X509 *cert)
{
    EVP_PKEY  *pub;

    if (X509_NAME_cmp(X509_get_issuer_name(cert),
                      X509_get_subject_name(ca->cert)) != 0)
    {
        return 0;
    }

    pub = X509_get0_pubkey(ca->cert);

    if (pub == NULL || X509_verify(cert, pub) != 1) {
        ERR_clear_error();
        return 0;
    }

    return 1;
}


int
mdm_ca_cert_sha256(X509 *cert, char out[65])
{
    unsigned char  md[32];
    unsigned int   n = sizeof(md);

    if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
        return -1;
    }

    mdm_hex_encode(md, n, out);

    return 0;
}
