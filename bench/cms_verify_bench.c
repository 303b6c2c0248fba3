/*
 * Mdm-Signature verification cost, per request, in CPU microseconds:
 * libmdm cold (first sight of a certificate: decode + chain + signature),
 * libmdm warm (cached certificate), against OpenSSL's own d2i_CMS_bio +
 * CMS_verify on the same input (which does no chain check at all).
 * Each figure is the median of several runs.
 *
 * Build and run from the repository root, after `make build/libmdm.a`:
 *
 *   cc -O2 -std=gnu11 -Ilibmdm -Ilibmdm/t bench/cms_verify_bench.c \
 *       build/libmdm.a -lcrypto -o build/cms_verify_bench
 *   build/cms_verify_bench
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mdm_cms.h"
#include "mdm_identity.h"
#include "testcert.h"

#define RUNS        7
#define WARM_ITERS  2000
#define COLD_CERTS  200


typedef struct {
    const char     *b64;
    size_t          b64_len;
    unsigned char  *der;
    size_t          der_len;
} sig_t;

typedef struct {
    mdm_identity_t  *id;
    sig_t           *sigs;
    size_t           nsigs;
    const char      *ca_path;
} bench_t;

static const unsigned char  body[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">"
    "<dict><key>MessageType</key><string>Idle</string>"
    "<key>Status</key><string>Idle</string>"
    "<key>UDID</key><string>00008030-001A2D3C4E5F6789</string></dict>"
    "</plist>\n";

#define BODY_LEN  (sizeof(body) - 1)


static double
cpu_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static double
median(double *v, int n)
{
    qsort(v, n, sizeof(double), cmp_double);
    return v[n / 2];
}


static void
must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "bench: %s failed\n", what);
        exit(1);
    }
}


static double
run_warm(bench_t *b, const sig_t *s)
{
    int                    i;
    double                 t0;
    mdm_identity_result_t  res;

    must(mdm_identity_from_signature(b->id, s->b64, s->b64_len, body,
                                     BODY_LEN, &res) == 0, "warm-up");
    t0 = cpu_us();

    for (i = 0; i < WARM_ITERS; i++) {
        mdm_identity_from_signature(b->id, s->b64, s->b64_len, body,
                                    BODY_LEN, &res);
    }

    must(res.error == NULL, "warm verify");
    return (cpu_us() - t0) / WARM_ITERS;
}


/* A fresh cache each run, so every certificate is new to it. */
static double
run_cold(bench_t *b)
{
    size_t                 i;
    double                 t0, t;
    const char            *err;
    mdm_identity_t        *id;
    mdm_identity_result_t  res;

    id = mdm_identity_create(b->ca_path, 10000, &err);
    must(id != NULL, "identity create");

    t0 = cpu_us();

    for (i = 0; i < b->nsigs; i++) {
        mdm_identity_from_signature(id, b->sigs[i].b64, b->sigs[i].b64_len,
                                    body, BODY_LEN, &res);
        must(res.error == NULL, "cold verify");
    }

    t = (cpu_us() - t0) / b->nsigs;
    mdm_identity_destroy(id);
    return t;
}


/* What protocol.md §4.2 describes, done with OpenSSL's CMS code. */
static double
run_openssl(const sig_t *s)
{
    int                i, n;
    BIO               *in, *content;
    double             t0;
    unsigned char     *der;
    CMS_ContentInfo   *cms;
    STACK_OF(X509)    *signers;

    der = malloc(s->b64_len);
    t0 = cpu_us();

    for (i = 0; i < WARM_ITERS / 4; i++) {
        n = EVP_DecodeBlock(der, (const unsigned char *) s->b64, s->b64_len);
        in = BIO_new_mem_buf(der, n);
        content = BIO_new_mem_buf(body, BODY_LEN);
        cms = d2i_CMS_bio(in, NULL);
        must(cms != NULL, "d2i_CMS_bio");
        must(CMS_verify(cms, NULL, NULL, content, NULL,
                        CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) == 1,
             "CMS_verify");
        signers = CMS_get0_signers(cms);
        must(sk_X509_num(signers) == 1, "one signer");
        sk_X509_free(signers);
        CMS_ContentInfo_free(cms);
        BIO_free(content);
        BIO_free(in);
    }

    free(der);
    return (cpu_us() - t0) / (WARM_ITERS / 4);
}


/* The parts of the warm path, to see where the time goes. */
static void
run_parts(const sig_t *s, EVP_PKEY *key, double *parse, double *verify)
{
    int                  i;
    double               t0;
    mdm_cms_t            cms;
    const char          *err;
    EVP_MD_CTX          *md_ctx;
    mdm_cms_verifier_t   v;

    t0 = cpu_us();

    for (i = 0; i < WARM_ITERS; i++) {
        must(mdm_cms_parse(s->der, s->der_len, &cms, &err) == 0, "parse");
    }

    *parse = (cpu_us() - t0) / WARM_ITERS;

    memset(&v, 0, sizeof(v));
    v.pkey = key;
    md_ctx = EVP_MD_CTX_new();
    must(mdm_cms_verify_with(&cms, body, BODY_LEN, &v, md_ctx, &err) == 0,
         "verify");
    t0 = cpu_us();

    for (i = 0; i < WARM_ITERS; i++) {
        mdm_cms_verify_with(&cms, body, BODY_LEN, &v, md_ctx, &err);
    }

    *verify = (cpu_us() - t0) / WARM_ITERS;
    mdm_cms_verifier_free(&v);
    EVP_MD_CTX_free(md_ctx);
}


static sig_t
make_sig(X509 *cert, EVP_PKEY *key, const EVP_MD *md, unsigned flags)
{
    sig_t  s;

    s.der = tc_sign(cert, key, NULL, md, body, BODY_LEN,
                    CMS_DETACHED | flags, &s.der_len);
    s.b64 = tc_base64(s.der, s.der_len);
    s.b64_len = strlen(s.b64);
    return s;
}


static void
report(const char *what, const sig_t *s, EVP_PKEY *key, bench_t *b)
{
    int     r;
    double  warm[RUNS], ossl[RUNS], parse[RUNS], verify[RUNS];

    for (r = 0; r < RUNS; r++) {
        warm[r] = run_warm(b, s);
        ossl[r] = run_openssl(s);
        run_parts(s, key, &parse[r], &verify[r]);
    }

    printf("%-28s warm %6.1f us   (parse %4.1f, digest+verify %5.1f)"
           "   OpenSSL d2i_CMS+CMS_verify %6.1f us   [%zu-byte CMS]\n",
           what, median(warm, RUNS), median(parse, RUNS),
           median(verify, RUNS), median(ossl, RUNS), s->der_len);
}


int
main(void)
{
    int         fd, r;
    char        path[64], *pem, cn[32];
    size_t      i;
    double      cold[RUNS];
    X509       *ca, *dev, *x;
    bench_t     b;
    EVP_PKEY   *ca_key, *key, *ec_key;
    const char *err;
    sig_t       sig;

    ca_key = tc_rsa_key();
    key = tc_rsa_key();
    ec_key = tc_ec_key();
    ca = tc_cert("Bench CA", ca_key, NULL, NULL, 0, 30 * TC_DAY, 1, NULL);
    dev = tc_cert("bench-device", key, ca, ca_key, -60, TC_DAY, 0,
                  "clientAuth");

    snprintf(path, sizeof(path), "%s/mdm-bench-ca-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    fd = mkstemp(path);
    pem = tc_pem(ca);
    must(fd >= 0 && write(fd, pem, strlen(pem)) == (ssize_t) strlen(pem),
         "CA file");
    close(fd);

    b.ca_path = path;
    b.id = mdm_identity_create(path, 10000, &err);
    must(b.id != NULL, "identity create");

    b.nsigs = COLD_CERTS;
    b.sigs = calloc(COLD_CERTS, sizeof(sig_t));

    for (i = 0; i < COLD_CERTS; i++) {
        snprintf(cn, sizeof(cn), "cold-%zu", i);
        x = tc_cert(cn, key, ca, ca_key, -60, TC_DAY, 0, "clientAuth");
        b.sigs[i] = make_sig(x, key, EVP_sha256(), 0);
        X509_free(x);
    }

    for (r = 0; r < RUNS; r++) {
        cold[r] = run_cold(&b);
    }

    printf("RSA-2048 device, %zu-byte body, median of %d runs, "
           "thread CPU time\n", BODY_LEN, RUNS);
    printf("%-28s cold %6.1f us   (decode cert, chain, cache insert, "
           "verify)\n", "DER SHA-256, first sight", median(cold, RUNS));

    sig = make_sig(dev, key, EVP_sha256(), 0);
    report("DER SHA-256", &sig, key, &b);

    sig = make_sig(dev, key, EVP_sha1(), CMS_STREAM);
    report("BER indefinite SHA-1", &sig, key, &b);

    x = tc_cert("bench-ec-device", ec_key, ca, ca_key, -60, TC_DAY, 0,
                "clientAuth");
    sig = make_sig(x, ec_key, EVP_sha256(), 0);
    report("ECDSA P-256 DER SHA-256", &sig, ec_key, &b);

    unlink(path);
    return 0;
}
