/*
 * device-attest-01 attestation objects and finalize CSRs (libmdm/acme/):
 * t/fixtures/acme was made by tools/attest-mock (`attest-mock fixtures`),
 * the stand-in for Apple's attestation authority: a good attestation of
 * the fixture device key for the fixture token, and each way of being
 * wrong that services.md §9.4 lists.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jose/b64.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "acme/mdm_acme_attest.h"
#include "acme/mdm_acme_csr.h"
#include "tap.h"

#define DIR     MDM_TEST_FIXTURES "/acme/"
#define TOKEN   "DGyRejmCefe7v4NfDGDKfA"
#define SERIAL  "C02TEST0001"
#define UDID    "00008103-000A1B2C3D4E5F60"

static X509_STORE  *roots;
static EVP_PKEY    *device_key;


static unsigned char *
slurp(const char *name, size_t *len)
{
    char            path[512];
    long            n;
    FILE           *f;
    unsigned char  *buf;

    snprintf(path, sizeof(path), DIR "%s", name);
    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc(n ? n : 1);
    *len = fread(buf, 1, n, f);
    fclose(f);

    return buf;
}


static int
verify(const char *name, const char *token, const char *identifier,
    mdm_acme_attest_t *att, mdm_acme_err_t *err)
{
    int             rc;
    size_t          len;
    unsigned char  *cbor;

    cbor = slurp(name, &len);
    if (cbor == NULL) {
        diag("fixture %s missing", name);
        return -2;
    }

    rc = mdm_acme_attest_verify(cbor, len, roots, token, identifier,
                                time(NULL), att, err);
    free(cbor);

    return rc;
}


static void
refused(const char *name, const char *token, const char *identifier,
    mdm_acme_problem_e type, const char *what)
{
    int                rc;
    mdm_acme_err_t     err;
    mdm_acme_attest_t  att;

    rc = verify(name, token, identifier, &att, &err);
    ok(rc == -1 && err.type == type, "%s: %s", what,
       mdm_acme_problem_name(type));
    if (rc == -1) {
        diag("  %s", err.detail);
    }
}


static void
test_good(void)
{
    char               want[65];
    mdm_acme_err_t     err;
    mdm_acme_attest_t  att;

    is_int(verify("good.cbor", TOKEN, SERIAL, &att, &err), 0,
           "a good attestation verifies");
    is_str(att.serial, SERIAL, "... serial from 1.2.840.113635.100.8.9.1");
    is_str(att.udid, UDID, "... UDID from .8.9.2");
    is_str(att.os_version, "17.4", "... OS version from .8.10.1");
    is_str(att.sepos_version, "17.4", "... sepOS version from .8.10.2");
    mdm_acme_key_sha256(device_key, want);
    is_str(att.key_sha256, want, "... the attested key is the device key");

    is_int(verify("good.cbor", TOKEN, UDID, &att, &err), 0,
           "the UDID is an identifier too");
    is_int(verify("macos.cbor", TOKEN, SERIAL, &att, &err), 0,
           "a macOS attestation (with .8.13.1) verifies");
}


static void
test_refused(void)
{
    mdm_acme_err_t     err;
    mdm_acme_attest_t  att;

    refused("good.cbor", "another-token", SERIAL, MDM_ACME_BAD_ATTESTATION,
            "another challenge's token");
    refused("stale-freshness.cbor", TOKEN, SERIAL, MDM_ACME_BAD_ATTESTATION,
            "stale freshness code");
    refused("no-freshness.cbor", TOKEN, SERIAL, MDM_ACME_BAD_ATTESTATION,
            "no freshness code");
    refused("fmt-packed.cbor", TOKEN, SERIAL, MDM_ACME_BAD_ATTESTATION,
            "fmt packed");
    refused("foreign-root.cbor", TOKEN, SERIAL, MDM_ACME_BAD_ATTESTATION,
            "chain to another root");
    refused("expired.cbor", TOKEN, SERIAL, MDM_ACME_BAD_ATTESTATION,
            "expired leaf");
    refused("leaf-only.cbor", TOKEN, SERIAL, MDM_ACME_BAD_ATTESTATION,
            "leaf without its intermediate");
    refused("serial-only.cbor", TOKEN, UDID, MDM_ACME_BAD_ATTESTATION,
            "UDID identifier, attestation without UDID");

    is_int(verify("good.cbor", TOKEN, "C02OTHER999", &att, &err), -1,
           "serial mismatch refused");
    is_int(err.type, MDM_ACME_BAD_ATTESTATION, "... badAttestationStatement");
    is_str(err.identifier, "C02OTHER999",
           "... with the rejected identifier for the subproblem");
}


static void
test_malformed(void)
{
    size_t             len;
    mdm_acme_err_t     err;
    mdm_acme_attest_t  att;
    unsigned char     *good;
    static const unsigned char  array[] = { 0x81, 0x01 };
    static const unsigned char  text_x5c[] = {
        0xa2, 0x63, 'f', 'm', 't', 0x65, 'a', 'p', 'p', 'l', 'e',
        0x67, 'a', 't', 't', 'S', 't', 'm', 't', 0xa1,
        0x63, 'x', '5', 'c', 0x81, 0x61, 'x' };
    static const unsigned char  indefinite[] = {
        0xbf, 0x63, 'f', 'm', 't', 0x65, 'a', 'p', 'p', 'l', 'e', 0xff };

    static const unsigned char  huge[] = {
        0xa2, 0x63, 'f', 'm', 't', 0x65, 'a', 'p', 'p', 'l', 'e',
        0x9a, 0x8b, 0x8b, 0xac, 0x8b, 0x80 };

    good = slurp("good.cbor", &len);

    ok(mdm_acme_attest_verify(huge, sizeof(huge), roots, TOKEN, SERIAL,
                              time(NULL), &att, &err) == -1
       && err.type == MDM_ACME_MALFORMED,
       "an array declaring 2^31 items in 17 bytes: malformed, nothing "
       "allocated for it (the fuzzer's out-of-memory)");

    ok(mdm_acme_attest_verify(good, len / 2, roots, TOKEN, SERIAL,
                              time(NULL), &att, &err) == -1
       && err.type == MDM_ACME_MALFORMED, "truncated CBOR: malformed");

    ok(mdm_acme_attest_verify(array, sizeof(array), roots, TOKEN, SERIAL,
                              time(NULL), &att, &err) == -1
       && err.type == MDM_ACME_MALFORMED, "CBOR array: malformed");

    ok(mdm_acme_attest_verify(indefinite, sizeof(indefinite), roots, TOKEN,
                              SERIAL, time(NULL), &att, &err) == -1
       && err.type == MDM_ACME_MALFORMED, "indefinite-length map: malformed");

    ok(mdm_acme_attest_verify(text_x5c, sizeof(text_x5c), roots, TOKEN,
                              SERIAL, time(NULL), &att, &err) == -1
       && err.type == MDM_ACME_BAD_ATTESTATION,
       "x5c of text: badAttestationStatement");

    {
        unsigned char  *more = malloc(len + 1);

        memcpy(more, good, len);
        more[len] = 0x00;
        ok(mdm_acme_attest_verify(more, len + 1, roots, TOKEN, SERIAL,
                                  time(NULL), &att, &err) == -1
           && err.type == MDM_ACME_MALFORMED, "trailing byte: malformed");
        free(more);
    }

    ok(mdm_acme_attest_verify(good, 0, roots, TOKEN, SERIAL, time(NULL),
                              &att, &err) == -1
       && err.type == MDM_ACME_MALFORMED, "empty: malformed");

    {
        char            b64[8192];
        size_t          n, dlen;
        unsigned char  *dec;

        n = jose_b64_enc_buf(good, len, b64, sizeof(b64) - 1);
        b64[n] = '\0';
        is_int(mdm_acme_attest_payload(b64, &dec, &dlen, &err), 0,
               "attObj base64url decodes");
        ok(dlen == len && memcmp(dec, good, len) == 0, "... to the CBOR");
        free(dec);
        is_int(mdm_acme_attest_payload("a+b=", &dec, &dlen, &err), -1,
               "attObj of base64 (not url): refused");
        is_int(err.type, MDM_ACME_MALFORMED, "... malformed");
        is_int(mdm_acme_attest_payload(NULL, &dec, &dlen, &err), -1,
               "no attObj: refused");
    }

    free(good);
}


static char *
csr_b64(EVP_PKEY *key, int tamper)
{
    int             n;
    char           *out;
    size_t          m;
    X509_REQ       *req = X509_REQ_new();
    X509_NAME      *name = X509_NAME_new();
    unsigned char  *der = NULL;

    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *) SERIAL, -1, -1, 0);
    X509_REQ_set_subject_name(req, name);
    X509_REQ_set_pubkey(req, key);
    X509_REQ_sign(req, key, EVP_sha256());
    n = i2d_X509_REQ(req, &der);
    if (tamper) {
        der[n - 3] ^= 0x01;
    }
    out = malloc(n * 2);
    m = jose_b64_enc_buf(der, n, out, n * 2 - 1);
    out[m] = '\0';
    OPENSSL_free(der);
    X509_NAME_free(name);
    X509_REQ_free(req);

    return out;
}


static void
test_csr(void)
{
    char            *b64, sha[65];
    X509_REQ        *req;
    EVP_PKEY        *other;
    mdm_acme_err_t   err;

    mdm_acme_key_sha256(device_key, sha);

    b64 = csr_b64(device_key, 0);
    is_int(mdm_acme_csr_parse(b64, &req, &err), 0, "a CSR parses");
    is_int(mdm_acme_csr_key_is(req, sha, &err), 0,
           "... over the attested key");
    X509_REQ_free(req);
    free(b64);

    other = EVP_EC_gen("P-384");
    b64 = csr_b64(other, 0);
    is_int(mdm_acme_csr_parse(b64, &req, &err), 0, "another key's CSR parses");
    is_int(mdm_acme_csr_key_is(req, sha, &err), -1,
           "... but is not over the attested key");
    is_int(err.type, MDM_ACME_BAD_CSR, "... badCSR");
    X509_REQ_free(req);
    free(b64);

    b64 = csr_b64(device_key, 1);
    ok(mdm_acme_csr_parse(b64, &req, &err) == -1
       && err.type == MDM_ACME_BAD_CSR, "tampered CSR: badCSR");
    free(b64);

    ok(mdm_acme_csr_parse("AAAA", &req, &err) == -1
       && err.type == MDM_ACME_BAD_CSR, "not DER: badCSR");
    ok(mdm_acme_csr_parse("!!", &req, &err) == -1
       && err.type == MDM_ACME_MALFORMED, "not base64url: malformed");

    EVP_PKEY_free(other);
    other = EVP_EC_gen("P-521");
    b64 = csr_b64(other, 0);
    ok(mdm_acme_csr_parse(b64, &req, &err) == -1
       && err.type == MDM_ACME_BAD_CSR, "P-521 key: badCSR");
    free(b64);
    EVP_PKEY_free(other);
}


int
main(void)
{
    FILE  *f;

    roots = X509_STORE_new();
    if (X509_STORE_load_file(roots, DIR "root.pem") != 1) {
        ok(0, "test root loads");
        return done_testing();
    }

    f = fopen(DIR "device.key", "r");
    device_key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) {
        fclose(f);
    }
    ok(device_key != NULL, "fixture device key loads");

    test_good();
    test_refused();
    test_malformed();
    test_csr();

    X509_STORE_free(roots);
    EVP_PKEY_free(device_key);

    return done_testing();
}
