#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "mdm_pushcert.h"
#include "tap.h"
#include "testcert.h"


#define TOPIC  "com.apple.mgmt.External.0f7a3c52-unit"


typedef struct {
    EVP_PKEY  *ca_key;
    X509      *ca;
    EVP_PKEY  *key;
    X509      *cert;            /* UID = TOPIC, issued by ca */
    EVP_PKEY  *ec_key;
    X509      *ec_cert;         /* UID = TOPIC, self-signed, EC */
    EVP_PKEY  *other_key;
    X509      *not_mdm;         /* UID = com.example.app */
    X509      *no_uid;
    X509      *bad_uid;         /* UID with a brace */
    X509      *expired;
} fixtures_t;


/* A certificate named by subject UID (omitted when NULL) and CN. */
static X509 *
push_cert(const char *uid, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
    long from, long to)
{
    X509       *x;
    X509_NAME  *name;

    x = tc_cert("APSP:unit", key, issuer, issuer_key, from, to, 0,
                "clientAuth");

    if (uid == NULL) {
        return x;
    }

    name = X509_NAME_dup(X509_get_subject_name(x));
    tc_check(name != NULL
             && X509_NAME_add_entry_by_NID(name, NID_userId, MBSTRING_UTF8,
                                           (const unsigned char *) uid, -1,
                                           0, 0) == 1
             && X509_set_subject_name(x, name) == 1, "subject UID");
    X509_NAME_free(name);

    if (issuer == NULL) {
        X509_set_issuer_name(x, X509_get_subject_name(x));
    }

    tc_check(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0,
             "X509_sign");
    return x;
}


/* The PEM of what writes into a BIO, as a NUL-terminated string. */
static char *
bio_text(BIO *b)
{
    size_t  len;
    char   *s;
    unsigned char  *bytes = tc_bio_bytes(b, &len);

    s = realloc(bytes, len + 1);
    tc_check(s != NULL, "realloc");
    s[len] = '\0';
    BIO_free(b);
    return s;
}


static char *
cert_pem(X509 *x)
{
    BIO  *b = BIO_new(BIO_s_mem());

    tc_check(PEM_write_bio_X509(b, x) == 1, "PEM cert");
    return bio_text(b);
}


static char *
key_pkcs8(EVP_PKEY *k)
{
    BIO  *b = BIO_new(BIO_s_mem());

    tc_check(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1,
             "PEM key");
    return bio_text(b);
}


static char *
key_traditional(EVP_PKEY *k, const EVP_CIPHER *enc)
{
    BIO  *b = BIO_new(BIO_s_mem());

    tc_check(PEM_write_bio_PrivateKey_traditional(b, k, enc,
                 enc ? (unsigned char *) "secret" : NULL, enc ? 6 : 0,
                 NULL, NULL) == 1, "PEM traditional key");
    return bio_text(b);
}


static char *
key_encrypted_pkcs8(EVP_PKEY *k)
{
    BIO  *b = BIO_new(BIO_s_mem());

    tc_check(PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_256_cbc(), NULL, 0,
                                           NULL, (void *) "secret") == 1,
             "PEM encrypted PKCS#8");
    return bio_text(b);
}


/* Concatenates up to four strings (NULL ends), malloc'd. */
static char *
cat(const char *a, const char *b, const char *c, const char *d)
{
    const char  *parts[] = { a, b, c, d };
    size_t       len = 1;
    char        *s;
    int          i;

    for (i = 0; i < 4 && parts[i]; i++) {
        len += strlen(parts[i]);
    }

    s = malloc(len);
    tc_check(s != NULL, "malloc");
    s[0] = '\0';

    for (i = 0; i < 4 && parts[i]; i++) {
        strcat(s, parts[i]);
    }

    return s;
}


/* Parses body; returns the reason, NULL when accepted (pc then filled). */
static const char *
parse(const char *body, mdm_pushcert_t *pc)
{
    static mdm_err_t  err;

    if (mdm_pushcert_parse(body, strlen(body), (int64_t) time(NULL), pc,
                           &err) != MDM_OK)
    {
        return err.msg;
    }

    return NULL;
}


#define refused(body, reason, ...)                                          \
    do {                                                                    \
        mdm_pushcert_t  pc_;                                                \
        const char     *got_ = parse(body, &pc_);                           \
        ok(got_ != NULL && strstr(got_, reason) != NULL, __VA_ARGS__);      \
        if (got_ == NULL || strstr(got_, reason) == NULL) {                 \
            diag("got '%s', want '%s'", got_ ? got_ : "accepted", reason);  \
        }                                                                   \
        ok(pc_.cert_pem == NULL && pc_.key_pem == NULL,                     \
           "... and nothing is handed out");                                \
        ok(ERR_peek_error() == 0, "... and no OpenSSL error is left");      \
    } while (0)


/* x with the PEM key is refused for reason. */
static void
refused_cert(X509 *x, const char *key, const char *reason, const char *what)
{
    char  *pem, *body;

    pem = cert_pem(x);
    body = cat(pem, key, NULL, NULL);
    refused(body, reason, "%s", what);
    free(body);
    free(pem);
}


static void
test_accepted(fixtures_t *f)
{
    char            *cert, *key, *body, *again, *ca, *glued;
    const char      *why;
    mdm_pushcert_t   pc, pc2;
    char             text[MDM_PUSHCERT_TIME_LEN + 1];

    cert = cert_pem(f->cert);
    key = key_pkcs8(f->key);

    body = cat(cert, key, NULL, NULL);
    why = parse(body, &pc);
    ok(why == NULL, "certificate + PKCS#8 key accepted%s%s",
       why ? ": " : "", why ? why : "");
    is_str(pc.topic, TOPIC, "topic is the subject UID");
    ok(pc.not_after > time(NULL) + 29 * TC_DAY
       && pc.not_after <= time(NULL) + 30 * TC_DAY, "not_after in unix s");
    mdm_pushcert_time_text(pc.not_after, text);
    is_str(pc.not_after_text, text, "not_after text is its RFC 3339 form");
    ok(strncmp(pc.cert_pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0
       && strlen(pc.cert_pem) == pc.cert_pem_len, "certificate kept as PEM");
    ok(strncmp(pc.key_pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0
       && strlen(pc.key_pem) == pc.key_pem_len, "key kept as PKCS#8 PEM");
    ok(ERR_peek_error() == 0, "no OpenSSL error left after success");

    again = cat(pc.cert_pem, pc.key_pem, NULL, NULL);
    ok(parse(again, &pc2) == NULL && strcmp(pc2.topic, TOPIC) == 0
       && pc2.not_after == pc.not_after, "the stored form parses again");
    mdm_pushcert_free(&pc2);
    free(again);
    free(body);

    body = cat(key, "some text between blocks\n", cert, NULL);
    ok(parse(body, &pc2) == NULL && strcmp(pc2.cert_pem, pc.cert_pem) == 0,
       "key first, with text around the blocks, is the same certificate");
    mdm_pushcert_free(&pc2);
    free(body);

    /* files concatenated without a final newline */
    glued = cat(cert, key, NULL, NULL);
    memmove(glued + strlen(cert) - 1, glued + strlen(cert),
            strlen(glued + strlen(cert)) + 1);
    ok(strstr(glued, "-----END CERTIFICATE----------BEGIN") != NULL
       && parse(glued, &pc2) == NULL && strcmp(pc2.topic, TOPIC) == 0,
       "END and BEGIN lines glued together are split");
    mdm_pushcert_free(&pc2);
    free(glued);

    /* a chain sent along: the certificate of the key goes first */
    ca = cert_pem(f->ca);
    body = cat(ca, key, cert, NULL);
    ok(parse(body, &pc2) == NULL
       && strncmp(pc2.cert_pem, pc.cert_pem, pc.cert_pem_len) == 0
       && strcmp(pc2.cert_pem + pc.cert_pem_len, ca) == 0,
       "CA certificate sent first is stored after the push certificate");
    mdm_pushcert_free(&pc2);
    free(body);
    free(ca);

    free(key);
    key = key_traditional(f->key, NULL);
    body = cat(cert, key, NULL, NULL);
    ok(strstr(key, "BEGIN RSA PRIVATE KEY") != NULL
       && parse(body, &pc2) == NULL
       && strcmp(pc2.key_pem, pc.key_pem) == 0,
       "PKCS#1 RSA key accepted and stored as PKCS#8");
    mdm_pushcert_free(&pc2);
    free(body);
    free(key);
    free(cert);

    cert = cert_pem(f->ec_cert);
    key = key_traditional(f->ec_key, NULL);
    body = cat(cert, key, NULL, NULL);
    ok(strstr(key, "BEGIN EC PRIVATE KEY") != NULL
       && parse(body, &pc2) == NULL && strcmp(pc2.topic, TOPIC) == 0,
       "EC certificate with a SEC1 key accepted");
    mdm_pushcert_free(&pc2);
    free(body);
    free(key);
    free(cert);

    mdm_pushcert_free(&pc);
    ok(pc.cert_pem == NULL && pc.key_pem == NULL, "free clears the copies");
    mdm_pushcert_free(&pc);
    ok(1, "free twice is harmless");
}


static void
test_refused(fixtures_t *f)
{
    char  *cert, *key, *other, *body, *enc;

    cert = cert_pem(f->cert);
    key = key_pkcs8(f->key);
    other = key_pkcs8(f->other_key);

    refused("", "no PEM certificate", "empty body refused");

    {
        mdm_pushcert_t  pc;
        mdm_err_t       err;

        ok(mdm_pushcert_parse(NULL, 0, 0, &pc, &err) == MDM_ERROR
           && strcmp(err.msg, "no PEM certificate in body") == 0,
           "no body at all (NULL, 0) refused");
    }

    refused("garbage\x01\x02 not a pem at all\n", "no PEM certificate",
            "garbage refused");

    {
        char  dashes[4001];

        /* every window of ten dashes gets a newline: the copy doubles */
        memset(dashes, '-', sizeof(dashes) - 1);
        dashes[sizeof(dashes) - 1] = '\0';
        refused(dashes, "no PEM certificate", "a body of dashes refused");
    }
    refused(cert, "no PEM private key", "certificate without key refused");
    refused(key, "no PEM certificate", "key without certificate refused");

    body = cat(cert, other, NULL, NULL);
    refused(body, "does not match", "key of another certificate refused");
    free(body);

    body = cat(cert, key, other, NULL);
    refused(body, "more than one private key", "two keys refused");
    free(body);

    enc = key_encrypted_pkcs8(f->key);
    body = cat(cert, enc, NULL, NULL);
    refused(body, "encrypted", "encrypted PKCS#8 key refused");
    free(body);
    free(enc);

    enc = key_traditional(f->key, EVP_aes_128_cbc());
    body = cat(cert, enc, NULL, NULL);
    refused(body, "encrypted", "encrypted PKCS#1 key (Proc-Type) refused");
    free(body);
    free(enc);

    refused_cert(f->not_mdm, key, "topic must start with \"com.apple.mgmt.\"",
                 "UID that is not an MDM topic refused");
    refused_cert(f->no_uid, key, "no UID", "certificate without UID refused");
    refused_cert(f->bad_uid, key, "character",
                 "UID with a hash-tag brace refused");
    refused_cert(f->expired, key, "expired at", "expired certificate refused");

    body = cat(cert, key, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
               "-----END CERTIFICATE REQUEST-----\n", NULL);
    refused(body, "unexpected PEM block \"CERTIFICATE REQUEST\"",
            "other PEM blocks refused");
    free(body);

    body = cat(cert, key, NULL, NULL);
    body[strlen(cert) - 30] = '\0';
    refused(body, "malformed PEM", "certificate cut short refused");
    free(body);

    body = cat("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
               "-----END CERTIFICATE-----\n", key, NULL, NULL);
    refused(body, "cannot be decoded", "certificate that is not DER refused");
    free(body);

    body = cat(cert, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n"
               "-----END PRIVATE KEY-----\n", NULL, NULL);
    refused(body, "private key cannot be decoded", "key that is not DER "
            "refused");
    free(body);

    free(cert);
    free(key);
    free(other);
}


static void
test_topic_and_time(void)
{
    mdm_err_t  err;
    char       text[MDM_PUSHCERT_TIME_LEN + 1];

#define topic_ok(s)  (mdm_pushcert_topic_check(s, strlen(s), &err) == MDM_OK)

    ok(topic_ok(TOPIC), "Apple's topic form is accepted");
    ok(topic_ok("com.apple.mgmt.XServer.a_b:c-1"), "A-Z a-z 0-9 . - _ :");
    ok(!topic_ok("com.apple.mgmt."), "bare prefix refused");
    ok(!topic_ok("com.apple.mgm.External.x"), "other prefix refused");
    ok(!topic_ok("com.apple.mgmt.{x}"), "hash-tag braces refused");
    ok(!topic_ok("com.apple.mgmt.a b"), "space refused");
    ok(mdm_pushcert_topic_check("com.apple.mgmt.a\0b", 18, &err) != MDM_OK,
       "NUL byte refused");

#undef topic_ok

    mdm_pushcert_time_text(1767758686, text);
    is_str(text, "2026-01-07T04:04:46Z", "RFC 3339 UTC text");
    mdm_pushcert_time_text(0, text);
    is_str(text, "1970-01-01T00:00:00Z", "the epoch");
}


int
main(void)
{
    fixtures_t  f;

    f.ca_key = tc_rsa_key();
    f.ca = tc_cert("Unit Push CA", f.ca_key, NULL, NULL, -TC_DAY,
                   365 * TC_DAY, 1, NULL);
    f.key = tc_rsa_key();
    f.cert = push_cert(TOPIC, f.key, f.ca, f.ca_key, -TC_DAY, 30 * TC_DAY);
    f.ec_key = tc_ec_key();
    f.ec_cert = push_cert(TOPIC, f.ec_key, NULL, NULL, -TC_DAY, 30 * TC_DAY);
    f.other_key = tc_rsa_key();
    f.not_mdm = push_cert("com.example.app", f.key, f.ca, f.ca_key, -TC_DAY,
                          30 * TC_DAY);
    f.no_uid = push_cert(NULL, f.key, f.ca, f.ca_key, -TC_DAY, 30 * TC_DAY);
    f.bad_uid = push_cert("com.apple.mgmt.{x}", f.key, f.ca, f.ca_key,
                          -TC_DAY, 30 * TC_DAY);
    f.expired = push_cert(TOPIC, f.key, f.ca, f.ca_key, -30 * TC_DAY,
                          -TC_DAY);

    test_accepted(&f);
    test_refused(&f);
    test_topic_and_time();

    X509_free(f.ca);
    X509_free(f.cert);
    X509_free(f.ec_cert);
    X509_free(f.not_mdm);
    X509_free(f.no_uid);
    X509_free(f.bad_uid);
    X509_free(f.expired);
    EVP_PKEY_free(f.ca_key);
    EVP_PKEY_free(f.key);
    EVP_PKEY_free(f.ec_key);
    EVP_PKEY_free(f.other_key);

    return done_testing();
}
