#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mdm_hex.h"
#include "mdm_identity.h"
#include "tap.h"
#include "testcert.h"


static const unsigned char  body[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">"
    "<dict><key>MessageType</key><string>TokenUpdate</string></dict>"
    "</plist>\n";

#define BODY_LEN  (sizeof(body) - 1)


/* OpenSSL allocations made in alloc_file left before they fail; negative:
 * never fail */
static long         alloc_budget = -1;
static long         alloc_failures;
static const char  *alloc_file;


typedef struct {
    EVP_PKEY  *ca_key;
    X509      *ca;
    EVP_PKEY  *foreign_key;
    X509      *foreign_ca;
    EVP_PKEY  *key;
    X509      *device;          /* clientAuth */
    X509      *no_eku;          /* no extendedKeyUsage at all */
    X509      *server_only;     /* serverAuth only */
    X509      *expired;
    X509      *foreign;         /* issued by foreign_ca */
    X509      *ec_device;
    EVP_PKEY  *ec_key;
    char       ca_path[64];
} fixtures_t;


#define accepted(rc, res, ...)                                              \
    do {                                                                    \
        ok((rc) == 0 && (res)->error == NULL, __VA_ARGS__);                 \
        if ((res)->error != NULL) {                                         \
            diag("refused: %s", (res)->error);                              \
        }                                                                   \
    } while (0)


/* Mdm-Signature for cert/key over body as a device would send it. */
static int
sign_and_check(mdm_identity_t *id, X509 *cert, EVP_PKEY *key,
    const EVP_MD *md, unsigned flags, const unsigned char *b, size_t blen,
    mdm_identity_result_t *res)
{
    int             rc;
    char           *b64;
    size_t          len;
    unsigned char  *der;

    der = tc_sign(cert, key, NULL, md, body, BODY_LEN, flags, &len);
    b64 = tc_base64(der, len);
    rc = mdm_identity_from_signature(id, b64, strlen(b64), b, blen,
                                     time(NULL), res);
    free(b64);
    free(der);
    return rc;
}


static void
cert_sha256_hex(X509 *x, char *hex)
{
    size_t          len;
    unsigned int    n;
    unsigned char  *der, dig[32];

    der = tc_der(x, &len);
    EVP_Digest(der, len, dig, &n, EVP_sha256(), NULL);
    mdm_hex_encode(dig, n, hex);
    free(der);
}


static void
test_signatures(mdm_identity_t *id, fixtures_t *f)
{
    int                    rc;
    char                   hex[65];
    mdm_identity_result_t  res;

    cert_sha256_hex(f->device, hex);

    rc = sign_and_check(id, f->device, f->key, EVP_sha256(), CMS_DETACHED,
                        body, BODY_LEN, &res);
    accepted(rc, &res, "DER SHA-256 Mdm-Signature verifies");
    is_str(res.sha256_hex, hex, "binding key is SHA-256 of the cert DER");
    is_str(res.cn, "device-1", "subject CN reported for logs");
    ok(res.not_after > time(NULL), "not_after reported");

    rc = sign_and_check(id, f->device, f->key, EVP_sha1(),
                        CMS_DETACHED | CMS_STREAM, body, BODY_LEN, &res);
    accepted(rc, &res, "BER indefinite-length SHA-1 Mdm-Signature verifies");
    is_str(res.sha256_hex, hex, "same device, same binding key");

    rc = sign_and_check(id, f->device, f->key, EVP_sha256(), CMS_DETACHED,
                        body, BODY_LEN - 2, &res);
    is_str(res.error, "digest mismatch", "modified body is refused");
    is_int(res.reason, MDM_IDENTITY_DIGEST_MISMATCH, "... reason digest");
    is_int(rc, -1, "modified body returns -1");

    rc = sign_and_check(id, f->ec_device, f->ec_key, EVP_sha256(),
                        CMS_DETACHED, body, BODY_LEN, &res);
    accepted(rc, &res, "ECDSA device signature verifies");

    sign_and_check(id, f->no_eku, f->key, EVP_sha256(), CMS_DETACHED,
                   body, BODY_LEN, &res);
    ok(res.error == NULL && res.reason == MDM_IDENTITY_OK,
       "certificate without extendedKeyUsage is accepted");

    sign_and_check(id, f->foreign, f->key, EVP_sha256(), CMS_DETACHED,
                   body, BODY_LEN, &res);
    is_str(res.error, "untrusted chain", "foreign CA is refused");
    is_int(res.reason, MDM_IDENTITY_UNTRUSTED_CHAIN, "... reason chain");
    is_str(res.cn, "foreign-device", "refused cert still named for logs");

    sign_and_check(id, f->expired, f->key, EVP_sha256(), CMS_DETACHED,
                   body, BODY_LEN, &res);
    is_str(res.error, "expired", "expired certificate is refused");
    is_int(res.reason, MDM_IDENTITY_EXPIRED, "... reason expired");

    sign_and_check(id, f->server_only, f->key, EVP_sha256(), CMS_DETACHED,
                   body, BODY_LEN, &res);
    is_str(res.error, "wrong usage", "serverAuth-only certificate is refused");
    is_int(res.reason, MDM_IDENTITY_WRONG_USAGE, "... reason usage");

    sign_and_check(id, f->foreign_ca, f->foreign_key, EVP_sha256(),
                   CMS_DETACHED, body, BODY_LEN, &res);
    is_str(res.error, "untrusted chain", "self-signed stranger is refused");
}


static void
test_bad_headers(mdm_identity_t *id)
{
    char                   big[70 * 1024];
    mdm_identity_result_t  res;

    time_t                 now = time(NULL);

    ok(mdm_identity_from_signature(id, "MII*", 4, body, BODY_LEN, now, &res)
       == -1 && strcmp(res.error, "bad base64") == 0
       && res.reason == MDM_IDENTITY_MALFORMED_SIGNATURE,
       "non-alphabet byte is bad base64, a malformed signature");
    ok(mdm_identity_from_signature(id, "QQ=A", 4, body, BODY_LEN, now, &res)
       == -1 && strcmp(res.error, "bad base64") == 0,
       "data after padding is bad base64");
    ok(mdm_identity_from_signature(id, "QUJD", 4, body, BODY_LEN, now, &res)
       == -1 && strncmp(res.error, "bad CMS", 7) == 0
       && res.reason == MDM_IDENTITY_MALFORMED_SIGNATURE,
       "valid base64 of garbage is bad CMS, a malformed signature");
    ok(mdm_identity_from_signature(id, "", 0, body, BODY_LEN, now, &res) == -1
       && res.error != NULL, "empty header is refused");

    memset(big, 'A', sizeof(big));
    ok(mdm_identity_from_signature(id, big, sizeof(big), body, BODY_LEN, now,
                                   &res) == -1
       && res.reason == MDM_IDENTITY_MALFORMED_SIGNATURE,
       "oversized header is refused");
}


static void
test_cache(mdm_identity_t *id, fixtures_t *f)
{
    int                    rc;
    size_t                 len;
    unsigned char         *der;
    mdm_identity_stats_t   before, after;
    mdm_identity_result_t  cold, warm;

    der = tc_der(f->device, &len);

    mdm_identity_stats(id, &before);
    rc = mdm_identity_from_der(id, der, len, time(NULL), &cold);
    accepted(rc, &cold, "TLS client certificate accepted");
    rc = mdm_identity_from_der(id, der, len, time(NULL), &warm);
    mdm_identity_stats(id, &after);

    accepted(rc, &warm, "cached certificate accepted again");
    is_int(after.hits - before.hits, 2, "a known certificate is a cache hit");
    is_int(after.misses, before.misses, "no second examination");
    ok(memcmp(&cold, &warm, sizeof(cold)) == 0,
       "cache hit returns the same result");

    mdm_identity_from_der(id, der, len, cold.not_after + 1, &warm);
    is_str(warm.error, "expired", "cached certificate expires with time");
    is_int(warm.reason, MDM_IDENTITY_EXPIRED, "... reason expired");

    mdm_identity_from_der(id, der, len, time(NULL), &warm);
    ok(warm.error == NULL && warm.reason == MDM_IDENTITY_OK,
       "and is valid again at the real time");

    mdm_identity_from_der(id, der, len - 1, time(NULL), &warm);
    is_str(warm.error, "bad certificate", "truncated DER is refused");
    is_int(warm.reason, MDM_IDENTITY_MALFORMED_CERTIFICATE,
           "... reason malformed certificate");

    der = realloc(der, len + 1);
    der[len] = 0;
    mdm_identity_from_der(id, der, len + 1, time(NULL), &warm);
    is_str(warm.error, "bad certificate", "DER with a trailing byte refused");
    mdm_identity_from_der(id, der, len + 1, time(NULL), &warm);
    is_str(warm.error, "bad certificate", "and refused again from the cache");

    free(der);
}


static void
test_eviction(fixtures_t *f)
{
    int                    i;
    X509                  *x;
    size_t                 len[5];
    const char            *err;
    unsigned char         *der[5];
    mdm_identity_t        *small;
    mdm_identity_stats_t   st;
    mdm_identity_result_t  res;
    char                   cn[16];

    small = mdm_identity_create(f->ca_path, 3, &err);
    ok(small != NULL, "three-entry cache created");

    for (i = 0; i < 5; i++) {
        snprintf(cn, sizeof(cn), "evict-%d", i);
        x = tc_cert(cn, f->key, f->ca, f->ca_key, 0, TC_DAY, 0, "clientAuth");
        der[i] = tc_der(x, &len[i]);
        X509_free(x);
        mdm_identity_from_der(small, der[i], len[i], time(NULL), &res);
    }

    mdm_identity_stats(small, &st);
    is_int(st.entries, 3, "cache stays at its size");
    is_int(st.evictions, 2, "two oldest certificates evicted");

    mdm_identity_from_der(small, der[4], len[4], time(NULL), &res);
    mdm_identity_stats(small, &st);
    is_int(st.hits, 1, "most recent certificate still cached");

    mdm_identity_from_der(small, der[0], len[0], time(NULL), &res);
    mdm_identity_stats(small, &st);
    is_int(st.misses, 6, "evicted certificate is examined again");
    ok(res.error == NULL && strcmp(res.cn, "evict-0") == 0,
       "and still accepted");

    for (i = 0; i < 5; i++) {
        free(der[i]);
    }

    mdm_identity_destroy(small);
}


static void
test_proxy_headers(fixtures_t *f)
{
    long            n;
    char           *pem, *esc, *b64, *hdr;
    size_t          i, len, der_len;
    unsigned char  *der, *out;

    der = tc_der(f->device, &der_len);
    pem = tc_pem(f->device);
    len = strlen(pem);
    esc = malloc(3 * len + 1);
    out = malloc(3 * len + 1);
    tc_check(esc != NULL && out != NULL, "malloc");

    /* As ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT) leaves it. */
    for (i = 0, n = 0; i < len; i++) {
        if ((pem[i] >= 'A' && pem[i] <= 'Z') || (pem[i] >= 'a'
            && pem[i] <= 'z') || (pem[i] >= '0' && pem[i] <= '9')
            || pem[i] == '-')
        {
            esc[n++] = pem[i];

        } else {
            n += sprintf(esc + n, "%%%02X", (unsigned char) pem[i]);
        }
    }

    n = mdm_identity_der_from_escaped_pem(esc, n, out);
    ok(n == (long) der_len && memcmp(out, der, der_len) == 0,
       "$ssl_client_escaped_cert decodes to the DER");

    ok(mdm_identity_der_from_escaped_pem("%2", 2, out) == -1,
       "truncated escape refused");
    ok(mdm_identity_der_from_escaped_pem("abc", 3, out) == -1,
       "escaped value without PEM armor refused");

    b64 = tc_base64(der, der_len);
    hdr = malloc(strlen(b64) + 5);
    tc_check(hdr != NULL, "malloc");
    sprintf(hdr, " :%s: ", b64);

    n = mdm_identity_der_from_client_cert(hdr, strlen(hdr), out);
    ok(n == (long) der_len && memcmp(out, der, der_len) == 0,
       "RFC 9440 Client-Cert decodes to the DER");
    ok(mdm_identity_der_from_client_cert(b64, strlen(b64), out) == -1,
       "Client-Cert without colons refused");
    hdr[5] = '*';
    ok(mdm_identity_der_from_client_cert(hdr, strlen(hdr), out) == -1,
       "Client-Cert with a non-base64 byte refused");

    is_int(mdm_identity_der_from_client_cert(":QUJD:", 6, out), 3,
           "whole quantum decodes");
    is_int(mdm_identity_der_from_client_cert(":QQ==:", 6, out), 1,
           "two padding bytes complete a quantum");
    is_int(mdm_identity_der_from_client_cert(":QQ:", 4, out), 1,
           "padding may be left out");
    is_int(mdm_identity_der_from_client_cert(":QQ=:", 5, out), -1,
           "padding that does not complete a quantum is refused");
    is_int(mdm_identity_der_from_client_cert(":Q:", 3, out), -1,
           "a lone sextet is refused");
    is_int(mdm_identity_der_from_client_cert(":QUJD\nQUJD:", 11, out), -1,
           "line breaks are refused outside PEM");

    free(hdr);
    free(b64);
    free(out);
    free(esc);
    free(pem);
    free(der);
}


/*
 * The same certificate in another BER encoding: `at` is the offset of a
 * header whose length (`len_bytes` long after its first length octet,
 * 0 for the short form) is rewritten as 0x82 + two bytes; the outer
 * Certificate header (0x30 0x82 + two bytes) follows the growth.
 */
static unsigned char *
ber_reencode(const unsigned char *der, size_t len, size_t at,
    size_t len_bytes, size_t *out_len)
{
    size_t          n, grow, outer;
    unsigned char  *out;

    n = len_bytes ? (der[at + 2] << 8 | der[at + 3]) : der[at + 1];
    grow = 2 - len_bytes;
    out = malloc(len + grow);
    tc_check(out != NULL && der[0] == 0x30 && der[1] == 0x82, "BER copy");

    memcpy(out, der, at + 1);
    out[at + 1] = 0x82;
    out[at + 2] = n >> 8;
    out[at + 3] = n & 0xff;
    memcpy(out + at + 4, der + at + 2 + len_bytes, len - at - 2 - len_bytes);

    outer = (der[2] << 8 | der[3]) + grow;
    out[2] = outer >> 8;
    out[3] = outer & 0xff;

    *out_len = len + grow;
    return out;
}


static void
test_not_der(mdm_identity_t *id, fixtures_t *f)
{
    size_t                 len, ber_len, sig_alg;
    unsigned char         *der, *ber;
    mdm_identity_result_t  res;

    der = tc_der(f->device, &len);

    /* Certificate ::= SEQUENCE { tbs, signatureAlgorithm, signature } */
    sig_alg = 4 + 4 + (der[6] << 8 | der[7]);
    tc_check(der[4] == 0x30 && der[5] == 0x82 && der[sig_alg] == 0x30
             && der[sig_alg + 1] < 0x80, "certificate layout");

    ber = ber_reencode(der, len, sig_alg, 0, &ber_len);
    mdm_identity_from_der(id, ber, ber_len, time(NULL), &res);
    is_str(res.error, "certificate is not DER",
           "signatureAlgorithm with a non-minimal length is refused");
    mdm_identity_from_der(id, ber, ber_len, time(NULL), &res);
    is_str(res.error, "certificate is not DER", "and refused from the cache");
    free(ber);

    ber = malloc(len + 1);
    tc_check(ber != NULL, "malloc");
    memcpy(ber + 1, der, len);
    ber[0] = 0x30;
    ber[1] = 0x83;
    ber[2] = 0;
    mdm_identity_from_der(id, ber, len + 1, time(NULL), &res);
    is_str(res.error, "certificate is not DER",
           "outer length with a leading zero byte is refused");
    free(ber);

    ber = malloc(len + 2);
    tc_check(ber != NULL, "malloc");
    memcpy(ber, der, len);
    memmove(ber + 2, der + 4, len - 4);
    ber[1] = 0x80;
    ber[len - 2] = 0;
    ber[len - 1] = 0;
    mdm_identity_from_der(id, ber, len, time(NULL), &res);
    is_str(res.error, "certificate is not DER",
           "indefinite-length certificate is refused");
    free(ber);

    accepted(mdm_identity_from_der(id, der, len, time(NULL), &res), &res,
             "the DER of the same certificate is accepted");
    free(der);
}


static void
test_out_of_memory(fixtures_t *f, const char *file)
{
    X509                  *x;
    long                   n;
    size_t                 len;
    unsigned char         *der;
    const char            *err, *failed;
    mdm_identity_t        *id;
    mdm_identity_result_t  res;

    x = tc_cert("oom-device", f->key, f->ca, f->ca_key, -60, TC_DAY, 0,
                "clientAuth");
    der = tc_der(x, &len);
    X509_free(x);
    failed = NULL;

    /* memory runs out at the first, the second... allocation in file */
    alloc_file = file;

    for (n = 0; n < 10000; n++) {
        id = mdm_identity_create(f->ca_path, 4, &err);
        tc_check(id != NULL, "identity context");

        alloc_budget = n;
        alloc_failures = 0;
        mdm_identity_from_der(id, der, len, time(NULL), &res);
        alloc_budget = -1;

        if (alloc_failures == 0) {
            mdm_identity_destroy(id);
            break;
        }

        if (failed == NULL
            && (res.error == NULL || strcmp(res.error, "out of memory") != 0))
        {
            failed = res.error ? res.error : "accepted";
        }

        mdm_identity_from_der(id, der, len, time(NULL), &res);

        if (failed == NULL && res.error != NULL) {
            failed = res.error;
        }

        mdm_identity_destroy(id);
    }

    ok(n > 0 && n < 10000, "an examination allocates in %s (%ld times)",
       file, n);
    ok(failed == NULL, "every allocation failure there is \"out of memory\", "
       "not cached: the next request is accepted");
    if (failed != NULL) {
        diag("got: %s", failed);
    }

    free(der);
}


static int
budget_spent(const char *file)
{
    if (alloc_budget < 0 || strstr(file, alloc_file) == NULL) {
        return 0;
    }

    if (alloc_budget == 0) {
        alloc_failures++;
        return 1;
    }

    alloc_budget--;
    return 0;
}


static void *
budget_malloc(size_t n, const char *file, int line)
{
    (void) line;

    return budget_spent(file) ? NULL : malloc(n);
}


static void *
budget_realloc(void *p, size_t n, const char *file, int line)
{
    (void) line;

    return budget_spent(file) ? NULL : realloc(p, n);
}


static void
budget_free(void *p, const char *file, int line)
{
    (void) file;
    (void) line;

    free(p);
}


static void
make_fixtures(fixtures_t *f)
{
    int    fd;
    char  *pem;

    f->ca_key = tc_rsa_key();
    f->ca = tc_cert("Test Device CA", f->ca_key, NULL, NULL, 0, 30 * TC_DAY,
                    1, NULL);
    f->foreign_key = tc_rsa_key();
    f->foreign_ca = tc_cert("Foreign CA", f->foreign_key, NULL, NULL, 0,
                            30 * TC_DAY, 1, NULL);
    f->key = tc_rsa_key();
    f->ec_key = tc_ec_key();

    f->device = tc_cert("device-1", f->key, f->ca, f->ca_key, -60, TC_DAY, 0,
                        "clientAuth");
    f->no_eku = tc_cert("device-2", f->key, f->ca, f->ca_key, -60, TC_DAY, 0,
                        NULL);
    f->server_only = tc_cert("server", f->key, f->ca, f->ca_key, -60, TC_DAY,
                             0, "serverAuth");
    f->expired = tc_cert("old-device", f->key, f->ca, f->ca_key, -2 * TC_DAY,
                         -TC_DAY, 0, "clientAuth");
    f->foreign = tc_cert("foreign-device", f->key, f->foreign_ca,
                         f->foreign_key, -60, TC_DAY, 0, "clientAuth");
    f->ec_device = tc_cert("ec-device", f->ec_key, f->ca, f->ca_key, -60,
                           TC_DAY, 0, "clientAuth");

    snprintf(f->ca_path, sizeof(f->ca_path), "%s/mdm-ca-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    fd = mkstemp(f->ca_path);
    pem = tc_pem(f->ca);
    tc_check(fd >= 0 && write(fd, pem, strlen(pem)) == (ssize_t) strlen(pem),
             "CA bundle file");
    close(fd);
    free(pem);
}


static void
free_fixtures(fixtures_t *f)
{
    unlink(f->ca_path);
    X509_free(f->ca);
    X509_free(f->foreign_ca);
    X509_free(f->device);
    X509_free(f->no_eku);
    X509_free(f->server_only);
    X509_free(f->expired);
    X509_free(f->foreign);
    X509_free(f->ec_device);
    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->foreign_key);
    EVP_PKEY_free(f->key);
    EVP_PKEY_free(f->ec_key);
}



static void
test_reasons(void)
{
    is_str(mdm_identity_reason_name(MDM_IDENTITY_NO_CERTIFICATE),
           "no_certificate", "reason names are the metric labels");
    is_str(mdm_identity_reason_name(MDM_IDENTITY_OTHER), "other",
           "... the last one other");
    is_str(mdm_identity_reason_name(MDM_IDENTITY_REASONS), "other",
           "... and so is anything out of range");
    is_int(mdm_identity_script_reason(
               "certificate does not match the one bound to the enrollment"),
           MDM_IDENTITY_BINDING_MISMATCH, "binding.lua: mismatch");
    is_int(mdm_identity_script_reason(
               "certificate is bound to another enrollment"),
           MDM_IDENTITY_BINDING_MISMATCH, "binding.lua: bound to another");
    is_int(mdm_identity_script_reason("enrollment has no bound certificate"),
           MDM_IDENTITY_UNBOUND_ENROLLMENT, "binding.lua: unbound");
    is_int(mdm_identity_script_reason("unknown enrollment"),
           MDM_IDENTITY_UNKNOWN_ENROLLMENT, "binding.lua: unknown");
    is_int(mdm_identity_script_reason("topic has no push certificate"),
           MDM_IDENTITY_OTHER, "any other text is other");
    is_int(mdm_identity_script_reason(NULL), MDM_IDENTITY_OTHER,
           "and so is none");
}

int
main(void)
{
    const char      *err;
    fixtures_t       f;
    mdm_identity_t  *id;

    tc_check(CRYPTO_set_mem_functions(budget_malloc, budget_realloc,
                                      budget_free) == 1,
             "OpenSSL allocator");

    make_fixtures(&f);

    id = mdm_identity_create("no/such/bundle.pem", 10, &err);
    ok(id == NULL && strcmp(err, "cannot load the CA bundle") == 0,
       "missing CA bundle is a creation error");

    id = mdm_identity_create(f.ca_path, 10000, &err);
    ok(id != NULL, "identity context created from the CA bundle");

    test_signatures(id, &f);
    test_bad_headers(id);
    test_reasons();
    test_cache(id, &f);
    test_not_der(id, &f);
    test_out_of_memory(&f, "crypto/x509/");
    test_eviction(&f);
    test_proxy_headers(&f);

    mdm_identity_destroy(id);
    free_fixtures(&f);

    return done_testing();
}
