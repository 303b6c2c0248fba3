/*
 * ACME device-attest-01 cost per issued certificate, in CPU microseconds on
 * one core, by phase: what mdm_acme's requests do on nginx's event loop for
 * one device, without Redis or HTTP. A device's issuance is 7 JWS requests
 * (new-account with its jwk; new-order, authz, challenge, finalize, order
 * poll and certificate with its kid, each verified by the account key:
 * ES256 as python3-acme and our tests sign), one attestation (CBOR, the
 * P-384 chain from the test root through the intermediate, freshness,
 * identifier: t/fixtures/acme/good.cbor), one CSR (P-384 self-signature,
 * the attested key) and the certificate (RSA-2048 CA, as SCEP's). The
 * baseline in the same run is SCEP's issue phase, the same mdm_ca_issue().
 * Median of RUNS runs of ITERS issuances.
 *
 * Build and run from the repository root, after `make build/libmdm.a`
 * (`make bench-acme` does both):
 *
 *   cc -O2 -std=gnu11 -Ilibmdm -Ilibmdm/t bench/acme_bench.c \
 *       build/libmdm.a -ljose -ljansson -lcbor -lcrypto -o build/acme_bench
 *   build/acme_bench
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>
#include <openssl/pem.h>

#include "acme/mdm_acme_attest.h"
#include "acme/mdm_acme_csr.h"
#include "acme/mdm_acme_jws.h"
#include "enroll/mdm_ca.h"
#include "testcert.h"

#ifndef RUNS
#define RUNS   7
#endif
#define ITERS  40
#define JWS_PER_ISSUANCE  7
#define URL    "https://mdm.example.com/acme/new-order"
#define TOKEN  "DGyRejmCefe7v4NfDGDKfA"
#define PAYLOAD "{\"identifiers\":[{\"type\":\"permanent-identifier\"," \
                "\"value\":\"C02TEST0001\"}]}"


static double
cpu_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static char *
signed_body(json_t *key, int with_jwk)
{
    char    *out;
    json_t  *jws, *sig, *hdr, *pub;

    pub = json_deep_copy(key);
    jose_jwk_pub(NULL, pub);
    hdr = json_pack("{s:s, s:s, s:s}", "alg", "ES256",
                    "nonce", "oFvnlFP1wIhRlYS2jTaXbA", "url", URL);
    if (with_jwk) {
        json_object_set(hdr, "jwk", pub);
    } else {
        json_object_set_new(hdr, "kid", json_string(
            "https://mdm.example.com/acme/acct/x"));
    }
    jws = json_pack("{s:o}", "payload", jose_b64_enc(PAYLOAD,
                                                     strlen(PAYLOAD)));
    sig = json_pack("{s:o}", "protected", hdr);
    tc_check(jose_jws_sig(NULL, jws, sig, key), "jws sign");
    out = json_dumps(jws, JSON_COMPACT);
    json_decref(jws);
    json_decref(sig);
    json_decref(pub);

    return out;
}


static unsigned char *
slurp(const char *path, size_t *len)
{
    long            n;
    FILE           *f = fopen(path, "rb");
    unsigned char  *buf;

    tc_check(f != NULL, path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc(n);
    *len = fread(buf, 1, n, f);
    fclose(f);

    return buf;
}


static char *
csr_b64(EVP_PKEY *key)
{
    int             n;
    char           *out;
    size_t          m;
    X509_REQ       *req = X509_REQ_new();
    unsigned char  *der = NULL;

    X509_REQ_set_pubkey(req, key);
    X509_REQ_sign(req, key, EVP_sha256());
    n = i2d_X509_REQ(req, &der);
    out = malloc(n * 2);
    m = jose_b64_enc_buf(der, n, out, n * 2 - 1);
    out[m] = '\0';
    OPENSSL_free(der);
    X509_REQ_free(req);

    return out;
}


static mdm_ca_t *
bench_ca(void)
{
    char       dir[] = "/tmp/acme-bench-XXXXXX", cp[300], kp[300], err[256];
    FILE      *f;
    X509      *cert;
    EVP_PKEY  *key;
    mdm_ca_t  *ca;

    tc_check(mkdtemp(dir) != NULL, "mkdtemp");
    key = tc_rsa_key();
    cert = tc_cert("bench CA", key, NULL, NULL, -TC_DAY, 3650 * TC_DAY, 1,
                   NULL);
    snprintf(cp, sizeof(cp), "%s/ca.pem", dir);
    snprintf(kp, sizeof(kp), "%s/ca.key", dir);
    f = fopen(cp, "w");
    PEM_write_X509(f, cert);
    fclose(f);
    f = fopen(kp, "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    ca = mdm_ca_load(cp, kp, NULL, err, sizeof(err));
    unlink(cp);
    unlink(kp);
    rmdir(dir);
    tc_check(ca != NULL, err);
    X509_free(cert);
    EVP_PKEY_free(key);

    return ca;
}


static void
report(const char *what, double *v)
{
    qsort(v, RUNS, sizeof(double), cmp_double);
    printf("  %-44s %7.0f  (%.0f-%.0f)\n", what, v[RUNS / 2], v[0],
           v[RUNS - 1]);
}


int
main(void)
{
    int                r, i, k;
    char              *jwk_body, *kid_body, *csr;
    FILE              *f;
    size_t             att_len;
    json_t            *key, *pub;
    double             t0, jws[RUNS], att[RUNS], csrt[RUNS], issue[RUNS],
                       total[RUNS], one_jws[RUNS];
    mdm_ca_t          *ca;
    EVP_PKEY          *dev;
    X509_REQ          *req;
    X509_STORE        *roots;
    unsigned char     *att_cbor;
    mdm_acme_jws_t     j;
    mdm_acme_err_t     err;
    mdm_ca_opts_t      opts = { 365 * TC_DAY, 300, KU_DIGITAL_SIGNATURE, 0 };
    mdm_ca_issued_t    is;
    mdm_acme_attest_t  a;

    key = json_pack("{s:s}", "alg", "ES256");
    tc_check(jose_jwk_gen(NULL, key), "jwk gen");
    pub = json_deep_copy(key);
    jose_jwk_pub(NULL, pub);
    jwk_body = signed_body(key, 1);
    kid_body = signed_body(key, 0);

    roots = X509_STORE_new();
    tc_check(X509_STORE_load_file(roots, "t/fixtures/acme/root.pem") == 1,
             "t/fixtures/acme/root.pem (run from the repository root)");
    att_cbor = slurp("t/fixtures/acme/good.cbor", &att_len);
    f = fopen("t/fixtures/acme/device.key", "r");
    tc_check(f != NULL, "device.key");
    dev = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    tc_check(mdm_acme_attest_verify(att_cbor, att_len, roots, TOKEN,
                                    "C02TEST0001", time(NULL), &a, &err)
             == 0, "the fixture attestation verifies");
    csr = csr_b64(dev);
    ca = bench_ca();

    for (r = 0; r < RUNS; r++) {
        jws[r] = att[r] = csrt[r] = issue[r] = 0;

        for (i = 0; i < ITERS; i++) {
            t0 = cpu_us();
            for (k = 0; k < JWS_PER_ISSUANCE; k++) {
                const char *b = k == 0 ? jwk_body : kid_body;

                tc_check(mdm_acme_jws_parse(b, strlen(b), URL, &j, &err)
                         == 0, "parse");
                tc_check(mdm_acme_jws_verify(&j, k == 0 ? j.jwk : pub,
                                             &err) == 0, "verify");
                mdm_acme_jws_free(&j);
            }
            jws[r] += cpu_us() - t0;

            t0 = cpu_us();
            tc_check(mdm_acme_attest_verify(att_cbor, att_len, roots, TOKEN,
                                            "C02TEST0001", time(NULL), &a,
                                            &err) == 0, "attest");
            att[r] += cpu_us() - t0;

            t0 = cpu_us();
            tc_check(mdm_acme_csr_parse(csr, &req, &err) == 0
                     && mdm_acme_csr_key_is(req, a.key_sha256, &err) == 0,
                     "csr");
            csrt[r] += cpu_us() - t0;

            t0 = cpu_us();
            tc_check(mdm_ca_issue(ca, req, &opts, time(NULL), &is,
                                  err.detail, sizeof(err.detail)) == 0,
                     "issue");
            issue[r] += cpu_us() - t0;
            X509_free(is.cert);
            X509_REQ_free(req);
        }

        jws[r] /= ITERS;
        att[r] /= ITERS;
        csrt[r] /= ITERS;
        issue[r] /= ITERS;
        total[r] = jws[r] + att[r] + csrt[r] + issue[r];
        one_jws[r] = jws[r] / JWS_PER_ISSUANCE;
    }

    printf("ACME device-attest-01, CPU us per issued certificate "
           "(median of %d x %d; min-max)\n", RUNS, ITERS);
    report("JWS: 7 requests parsed + ES256-verified", jws);
    report("  one of them", one_jws);
    report("attestation: CBOR + P-384 chain + checks", att);
    report("CSR: P-384 self-signature + attested key", csrt);
    report("issue: build + RSA-2048 sign (SCEP's too)", issue);
    report("total", total);

    free(jwk_body);
    free(kid_body);
    free(csr);
    free(att_cbor);
    json_decref(key);
    json_decref(pub);
    X509_STORE_free(roots);
    EVP_PKEY_free(dev);
    mdm_ca_free(ca);

    return 0;
}
