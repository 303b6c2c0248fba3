#ifndef MDM_TESTCERT_H
#define MDM_TESTCERT_H

/*
 * Test material made at test time with the OpenSSL API: keys, CA and device
 * certificates, CMS signatures as devices send them. Nothing is checked in,
 * so nothing expires in the repository. Failures abort: a test that cannot
 * build its fixtures has nothing to say.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TC_DAY  (24 * 60 * 60L)


static inline void
tc_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "test fixture failed: %s\n", what);
        abort();
    }
}


static inline EVP_PKEY *
tc_rsa_key(void)
{
    EVP_PKEY  *k = EVP_RSA_gen(2048);

    tc_check(k != NULL, "RSA key");
    return k;
}


static inline EVP_PKEY *
tc_ec_key(void)
{
    EVP_PKEY  *k = EVP_EC_gen("P-256");

    tc_check(k != NULL, "EC key");
    return k;
}


static inline void
tc_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX       ctx;
    X509_EXTENSION  *ext;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    tc_check(ext != NULL && X509_add_ext(x, ext, -1) == 1, "extension");
    X509_EXTENSION_free(ext);
}


/*
 * A certificate for `key` named `cn`, valid from now+from to now+to seconds,
 * signed by issuer/issuer_key (self-signed when issuer is NULL). eku is an
 * extendedKeyUsage value such as "clientAuth", or NULL for none.
 */
static inline X509 *
tc_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
    long from, long to, int ca, const char *eku)
{
    X509        *x = X509_new();
    X509_NAME   *name = X509_NAME_new();
    static long  serial = 1000;

    tc_check(x != NULL && name != NULL, "X509_new");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               (const unsigned char *) cn, -1, -1, 0);
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_NAME_free(name);
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, key);

    tc_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");

    if (ca) {
        tc_ext(x, issuer ? issuer : x, NID_basic_constraints,
               "critical,CA:TRUE");
        tc_ext(x, issuer ? issuer : x, NID_key_usage,
               "critical,keyCertSign,cRLSign");

    } else {
        tc_ext(x, issuer ? issuer : x, NID_key_usage,
               "critical,digitalSignature,keyEncipherment");
    }

    if (eku != NULL) {
        tc_ext(x, issuer ? issuer : x, NID_ext_key_usage, eku);
    }

    tc_check(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0,
             "X509_sign");
    return x;
}


/* The certificate's DER, malloc'd. */
static inline unsigned char *
tc_der(X509 *x, size_t *len)
{
    int             n = i2d_X509(x, NULL);
    unsigned char  *der = malloc(n), *p = der;

    tc_check(n > 0 && der != NULL && i2d_X509(x, &p) == n, "i2d_X509");
    *len = n;
    return der;
}


static inline unsigned char *
tc_bio_bytes(BIO *b, size_t *len)
{
    char           *data;
    long            n = BIO_get_mem_data(b, &data);
    unsigned char  *out = malloc(n > 0 ? n : 1);

    tc_check(n > 0 && out != NULL, "BIO bytes");
    memcpy(out, data, n);
    *len = n;
    return out;
}


/* Length of the definite-length TLV at p, or 0. */
static inline size_t
tc_tlv_len(const unsigned char *p)
{
    switch (p[1]) {
    case 0x81:
        return 3 + p[2];
    case 0x82:
        return 4 + (p[2] << 8 | p[3]);
    default:
        return p[1] < 0x80 ? 2 + p[1] : 0;
    }
}


/*
 * OpenSSL streams indefinite-length BER only with the content inside, while
 * devices stream it detached. The signature does not cover where the
 * content travels, so cutting the encapsulated [0] out of a streamed CMS
 * gives exactly what a device sends.
 */
static inline void
tc_detach_streamed(unsigned char *ber, size_t *len)
{
    size_t                n, start, end;
    static const unsigned char  data_oid[] = {
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
        0xa0, 0x80, 0x24, 0x80
    };

    for (start = 0; start + sizeof(data_oid) < *len; start++) {
        if (memcmp(ber + start, data_oid, sizeof(data_oid)) == 0) {
            break;
        }
    }

    tc_check(start + sizeof(data_oid) < *len, "streamed content");
    start += 11;
    end = start + 4;

    while (ber[end] == 0x04) {
        n = tc_tlv_len(ber + end);
        tc_check(n > 0 && end + n < *len, "content chunk");
        end += n;
    }

    tc_check(memcmp(ber + end, "\0\0\0\0", 4) == 0, "content end");
    end += 4;

    memmove(ber + start, ber + end, *len - end);
    *len -= end - start;
}


/*
 * A CMS SignedData over body, malloc'd. flags: CMS_DETACHED, CMS_STREAM
 * (indefinite-length BER, as devices send; detached too when both are
 * given), CMS_NOATTR, CMS_USE_KEYID, CMS_NOCERTS. `extra`, if any, is
 * included before the signer certificate.
 */
static inline unsigned char *
tc_sign(X509 *cert, EVP_PKEY *key, X509 *extra, const EVP_MD *md,
    const void *body, size_t body_len, unsigned flags, size_t *len)
{
    BIO              *in, *out;
    CMS_ContentInfo  *cms;
    unsigned char    *der;

    flags |= CMS_BINARY | CMS_PARTIAL;
    cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
    tc_check(cms != NULL, "CMS_sign");

    if (extra != NULL) {
        tc_check(CMS_add1_cert(cms, extra) == 1, "CMS_add1_cert");
    }

    tc_check(CMS_add1_signer(cms, cert, key, md, flags) != NULL,
             "CMS_add1_signer");

    in = BIO_new_mem_buf(body, (int) body_len);
    out = BIO_new(BIO_s_mem());

    if (flags & CMS_STREAM) {
        tc_check(i2d_CMS_bio_stream(out, cms, in, flags) == 1,
                 "i2d_CMS_bio_stream");

    } else {
        tc_check(CMS_final(cms, in, NULL, flags) == 1
                 && i2d_CMS_bio(out, cms) == 1, "CMS_final");
    }

    der = tc_bio_bytes(out, len);

    if ((flags & CMS_STREAM) && (flags & CMS_DETACHED)) {
        tc_detach_streamed(der, len);
    }

    BIO_free(in);
    BIO_free(out);
    CMS_ContentInfo_free(cms);
    return der;
}


/* Standard base64 as a NUL-terminated string, malloc'd. */
static inline char *
tc_base64(const unsigned char *in, size_t len)
{
    char  *out = malloc(4 * ((len + 2) / 3) + 1);

    tc_check(out != NULL, "malloc");
    EVP_EncodeBlock((unsigned char *) out, in, (int) len);
    return out;
}


/* The certificate as PEM, malloc'd and NUL-terminated. */
static inline char *
tc_pem(X509 *x)
{
    BIO            *b = BIO_new(BIO_s_mem());
    size_t          len;
    unsigned char  *pem;

    tc_check(PEM_write_bio_X509(b, x) == 1, "PEM_write_bio_X509");
    BIO_write(b, "", 1);
    pem = tc_bio_bytes(b, &len);
    BIO_free(b);
    return (char *) pem;
}

#endif
