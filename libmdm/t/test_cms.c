#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "mdm_cms.h"
#include "tap.h"
#include "testcert.h"


static const unsigned char  body[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">"
    "<dict><key>MessageType</key><string>Authenticate</string></dict>"
    "</plist>\n";

#define BODY_LEN  (sizeof(body) - 1)


typedef struct {
    X509      *cert;
    EVP_PKEY  *key;
    X509      *ec_cert;
    EVP_PKEY  *ec_key;
    X509      *other;
    EVP_PKEY  *other_key;
} fixtures_t;


static void test_truncations(const unsigned char *der, size_t len,
    const char *what);


static int
has_indefinite_length(const unsigned char *der, size_t len)
{
    return len > 2 && der[0] == 0x30 && der[1] == 0x80;
}


/* Parses and verifies; returns the reason, NULL when accepted. */
static const char *
check(const unsigned char *der, size_t len, const unsigned char *b, size_t blen,
    EVP_PKEY *key)
{
    mdm_cms_t    cms;
    const char  *err;

    if (mdm_cms_parse(der, len, &cms, &err) != 0) {
        return err;
    }

    if (mdm_cms_verify(&cms, b, blen, key, &err) != 0) {
        return err;
    }

    return NULL;
}


#define accepted(reason, ...)                                              \
    do {                                                                    \
        const char *accepted_ = (reason);                                   \
        ok(accepted_ == NULL, __VA_ARGS__);                                 \
        if (accepted_ != NULL) {                                            \
            diag("refused: %s", accepted_);                                 \
        }                                                                   \
    } while (0)


static int
starts_with(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}


static void
test_der_sha256(fixtures_t *f)
{
    size_t          len, cert_len;
    mdm_cms_t       cms;
    const char     *err;
    unsigned char  *der, *cert;

    der = tc_sign(f->cert, f->key, NULL, EVP_sha256(), body, BODY_LEN,
                  CMS_DETACHED, &len);
    cert = tc_der(f->cert, &cert_len);

    ok(!has_indefinite_length(der, len), "CMS_final output is DER");
    is_int(mdm_cms_parse(der, len, &cms, &err), 0, "DER SHA-256 parses");
    is_int(cms.md, MDM_CMS_MD_SHA256, "digest algorithm is SHA-256");
    is_int(cms.sig, MDM_CMS_SIG_RSA, "signature algorithm is RSA");
    ok(cms.signed_attrs != NULL && cms.message_digest_len == 32,
       "signed attributes with a SHA-256 messageDigest");
    ok(cms.cert_len == cert_len && memcmp(cms.cert, cert, cert_len) == 0,
       "signer certificate bytes are the certificate's DER");
    is_int(mdm_cms_verify(&cms, body, BODY_LEN, f->key, &err), 0,
           "DER SHA-256 signature verifies");
    is_str(check(der, len, body, BODY_LEN - 1, f->key), "digest mismatch",
           "shortened body is refused");
    is_str(check(der, len, (const unsigned char *) "x", 1, f->key), "digest mismatch",
           "other body is refused");
    is_str(check(der, len, body, BODY_LEN, f->other_key), "bad signature",
           "another key does not verify");
    is_str(check(der, len, body, BODY_LEN, f->ec_key),
           "bad signature: algorithm does not match the key",
           "an EC key is not tried on an RSA signature");

    free(cert);
    free(der);
}


static void
test_ber_sha1(fixtures_t *f)
{
    size_t          len;
    mdm_cms_t       cms;
    const char     *err;
    unsigned char  *ber;

    ber = tc_sign(f->cert, f->key, NULL, EVP_sha1(), body, BODY_LEN,
                  CMS_DETACHED | CMS_STREAM, &len);

    ok(has_indefinite_length(ber, len),
       "streamed CMS uses indefinite lengths, as devices send");
    is_int(mdm_cms_parse(ber, len, &cms, &err), 0, "BER SHA-1 parses");
    is_int(cms.md, MDM_CMS_MD_SHA1, "digest algorithm is SHA-1");
    accepted(check(ber, len, body, BODY_LEN, f->key),
        "BER indefinite-length SHA-1 signature verifies");

    ber[len - 1] ^= 1;
    ok(starts_with(check(ber, len, body, BODY_LEN, f->key), "bad CMS"),
       "damaged end-of-contents is refused");

    free(ber);
}


static void
test_variants(fixtures_t *f)
{
    size_t          len;
    mdm_cms_t       cms;
    const char     *err;
    unsigned char  *der;

    der = tc_sign(f->cert, f->key, NULL, EVP_sha256(), body, BODY_LEN,
                  CMS_DETACHED | CMS_NOATTR, &len);
    ok(mdm_cms_parse(der, len, &cms, &err) == 0 && cms.signed_attrs == NULL,
       "signature without signed attributes parses");
    accepted(check(der, len, body, BODY_LEN, f->key),
        "signature directly over the body verifies");
    is_str(check(der, len, body, BODY_LEN - 1, f->key), "bad signature",
           "without attributes, another body fails the signature");
    free(der);

    der = tc_sign(f->cert, f->key, NULL, EVP_sha256(), body, BODY_LEN,
                  CMS_DETACHED | CMS_USE_KEYID, &len);
    accepted(check(der, len, body, BODY_LEN, f->key),
        "signer found by subjectKeyIdentifier");
    free(der);

    der = tc_sign(f->cert, f->key, f->other, EVP_sha256(), body, BODY_LEN,
                  CMS_DETACHED, &len);
    ok(mdm_cms_parse(der, len, &cms, &err) == 0
       && cms.cert_len == (size_t) i2d_X509(f->cert, NULL),
       "with two certificates, the signer's is picked");
    free(der);

    der = tc_sign(f->cert, f->key, f->other, EVP_sha256(), body, BODY_LEN,
                  CMS_DETACHED | CMS_USE_KEYID, &len);
    accepted(check(der, len, body, BODY_LEN, f->key),
        "with two certificates, key identifier picks the signer");
    free(der);

    der = tc_sign(f->ec_cert, f->ec_key, NULL, EVP_sha256(), body, BODY_LEN,
                  CMS_DETACHED, &len);
    ok(mdm_cms_parse(der, len, &cms, &err) == 0
       && cms.sig == MDM_CMS_SIG_ECDSA, "ECDSA signature parses");
    accepted(check(der, len, body, BODY_LEN, f->ec_key),
        "ECDSA P-256 signature verifies");
    is_str(check(der, len, (const unsigned char *) "x", 1, f->ec_key), "digest mismatch",
           "ECDSA over another body is refused");
    free(der);

    der = tc_sign(f->cert, f->key, NULL, EVP_sha512(), body, BODY_LEN,
                  CMS_DETACHED, &len);
    accepted(check(der, len, body, BODY_LEN, f->key),
        "SHA-512 signature verifies");
    free(der);
}


/* One verifier per cached key, across digests and after a failure. */
static void
test_verifier_reuse(fixtures_t *f)
{
    int                  i, rc;
    size_t               len[2];
    mdm_cms_t            cms[2];
    const char          *err;
    EVP_MD_CTX          *md_ctx;
    unsigned char       *der[2];
    mdm_cms_verifier_t   v;

    der[0] = tc_sign(f->cert, f->key, NULL, EVP_sha256(), body, BODY_LEN,
                     CMS_DETACHED, &len[0]);
    der[1] = tc_sign(f->cert, f->key, NULL, EVP_sha1(), body, BODY_LEN,
                     CMS_DETACHED | CMS_STREAM | CMS_NOATTR, &len[1]);
    mdm_cms_parse(der[0], len[0], &cms[0], &err);
    mdm_cms_parse(der[1], len[1], &cms[1], &err);

    memset(&v, 0, sizeof(v));
    v.pkey = f->key;
    md_ctx = EVP_MD_CTX_new();

    for (rc = 0, i = 0; i < 6; i++) {
        rc |= mdm_cms_verify_with(&cms[i % 2], body, BODY_LEN, &v, md_ctx,
                                  &err);
    }

    is_int(rc, 0, "a reused verifier alternates SHA-256 and SHA-1");
    ok(mdm_cms_verify_with(&cms[1], body, 3, &v, md_ctx, &err)
       == MDM_CMS_BAD_SIGNATURE
       && strcmp(err, "bad signature") == 0, "reused verifier refuses");
    is_int(mdm_cms_verify_with(&cms[1], body, BODY_LEN, &v, md_ctx, &err), 0,
           "and verifies again after a refusal");

    mdm_cms_verifier_free(&v);
    EVP_MD_CTX_free(md_ctx);
    free(der[0]);
    free(der[1]);
}


static void
test_refusals(fixtures_t *f)
{
    size_t          len;
    mdm_cms_t       cms;
    const char     *err;
    unsigned char  *der, *longer;

    der = tc_sign(f->cert, f->key, NULL, EVP_sha256(), body, BODY_LEN, 0,
                  &len);
    is_str(check(der, len, body, BODY_LEN, f->key),
           "bad CMS: content is not detached", "attached content is refused");
    free(der);

    der = tc_sign(f->cert, f->key, NULL, EVP_sha256(), body, BODY_LEN,
                  CMS_STREAM, &len);
    is_str(check(der, len, body, BODY_LEN, f->key),
           "bad CMS: content is not detached",
           "attached streamed content is refused");
    free(der);

    der = tc_sign(f->cert, f->key, NULL, EVP_sha256(), body, BODY_LEN,
                  CMS_DETACHED | CMS_NOCERTS, &len);
    is_str(check(der, len, body, BODY_LEN, f->key),
           "bad CMS: signer certificate not included",
           "signature without the signer certificate is refused");
    free(der);

    der = tc_sign(f->cert, f->key, NULL, EVP_sha256(), body, BODY_LEN,
                  CMS_DETACHED, &len);

    longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    is_str(check(longer, len + 1, body, BODY_LEN, f->key),
           "bad CMS: trailing bytes", "one trailing byte is refused");
    free(longer);

    test_truncations(der, len, "DER");
    free(der);

    der = tc_sign(f->cert, f->key, NULL, EVP_sha1(), body, BODY_LEN,
                  CMS_DETACHED | CMS_STREAM, &len);
    test_truncations(der, len, "BER");
    free(der);

    ok(mdm_cms_parse((const unsigned char *) "", 0, &cms, &err) != 0,
       "empty input is refused");
    ok(mdm_cms_parse((const unsigned char *) "\x30\x80\x00\x00", 4, &cms,
                     &err) != 0, "empty indefinite SEQUENCE is refused");
    ok(mdm_cms_parse((const unsigned char *) "\x30\x84\xff\xff\xff\xff", 6,
                     &cms, &err) != 0, "length beyond the input is refused");
}


static void
test_truncations(const unsigned char *der, size_t len, const char *what)
{
    size_t      n, accepted;
    mdm_cms_t   cms;
    const char *err;

    for (accepted = 0, n = 0; n < len; n++) {
        accepted += mdm_cms_parse(der, n, &cms, &err) == 0;
    }

    is_int(accepted, 0, "every truncation of the %s signature is refused",
           what);
}


/* Random single-byte changes must never crash; most are refused. */
static void
test_mutations(fixtures_t *f)
{
    int             i;
    size_t          len, pos;
    mdm_cms_t       cms;
    const char     *err;
    unsigned char  *der, *copy, r[3];

    der = tc_sign(f->cert, f->key, NULL, EVP_sha1(), body, BODY_LEN,
                  CMS_DETACHED | CMS_STREAM, &len);
    copy = malloc(len);

    for (i = 0; i < 5000; i++) {
        memcpy(copy, der, len);
        RAND_bytes(r, sizeof(r));
        pos = ((size_t) r[0] << 8 | r[1]) % len;
        copy[pos] ^= r[2] | 1;

        if (mdm_cms_parse(copy, len, &cms, &err) == 0) {
            (void) mdm_cms_verify(&cms, body, BODY_LEN, f->key, &err);
        }
    }

    ok(1, "5000 random byte changes parsed without a crash");

    free(copy);
    free(der);
}


int
main(void)
{
    fixtures_t  f;

    f.key = tc_rsa_key();
    f.cert = tc_cert("device", f.key, NULL, NULL, 0, TC_DAY, 0,
                     "clientAuth");
    f.other_key = tc_rsa_key();
    f.other = tc_cert("other", f.other_key, NULL, NULL, 0, TC_DAY, 1, NULL);
    f.ec_key = tc_ec_key();
    f.ec_cert = tc_cert("ec-device", f.ec_key, NULL, NULL, 0, TC_DAY, 0,
                        NULL);

    test_der_sha256(&f);
    test_ber_sha1(&f);
    test_variants(&f);
    test_verifier_reuse(&f);
    test_refusals(&f);
    test_mutations(&f);

    X509_free(f.cert);
    X509_free(f.other);
    X509_free(f.ec_cert);
    EVP_PKEY_free(f.key);
    EVP_PKEY_free(f.other_key);
    EVP_PKEY_free(f.ec_key);

    return done_testing();
}
