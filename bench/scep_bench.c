/*
 * SCEP CA cost per issued certificate, in CPU microseconds on one core, by
 * phase: what mdm_scep's request does on nginx's event loop (parse = verify
 * the SignedData + RSA-decrypt the envelope + check the CSR; issue = build
 * and RSA-sign the certificate; reply = encrypt to the requester + RSA-sign
 * the CertRep). Redis and HTTP are not included. RSA-2048 everywhere, AES-128
 * and SHA-256 as iOS sends. Median of RUNS runs of ITERS certificates.
 *
 * Build and run from the repository root, after `make build/libmdm.a`:
 *
 *   cc -O2 -std=gnu11 -Ilibmdm -Ilibmdm/t bench/scep_bench.c \
 *       build/libmdm.a -lcrypto -o build/scep_bench
 *   build/scep_bench
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "enroll/mdm_ca.h"
#include "enroll/mdm_scep.h"
#include "testcert.h"

#ifndef RUNS
#define RUNS   7            /* -DRUNS=100 for a profile (perf record) */
#endif
#define ITERS  40


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


static void
add_attr(CMS_SignerInfo *si, const char *oid, int type, const void *p,
    int len)
{
    ASN1_OBJECT  *o = OBJ_txt2obj(oid, 1);

    tc_check(CMS_signed_add1_attr_by_OBJ(si, o, type, p, len) == 1, "attr");
    ASN1_OBJECT_free(o);
}


/* a device's PKCSReq: CSR with a challenge, enveloped to ra, signed by a
 * self-signed certificate over the same key */
static unsigned char *
pkcsreq(X509 *ra, EVP_PKEY *key, size_t *len)
{
    int               n;
    BIO              *in;
    X509             *self;
    X509_REQ         *req = X509_REQ_new();
    X509_NAME        *name = X509_NAME_new();
    unsigned char    *csr = NULL, *env_der = NULL, *out = NULL, nonce[16];
    CMS_SignerInfo   *si;
    STACK_OF(X509)   *to = sk_X509_new_null();
    CMS_ContentInfo  *env, *sd;

    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               (const unsigned char *) "bench", -1, -1, 0);
    X509_REQ_set_subject_name(req, name);
    X509_REQ_set_pubkey(req, key);
    X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_UTF8,
                              (const unsigned char *) "c", -1);
    X509_REQ_sign(req, key, EVP_sha256());
    n = i2d_X509_REQ(req, &csr);

    sk_X509_push(to, ra);
    in = BIO_new_mem_buf(csr, n);
    env = CMS_encrypt(to, in, EVP_aes_128_cbc(), CMS_BINARY);
    BIO_free(in);
    n = i2d_CMS_ContentInfo(env, &env_der);

    self = tc_cert("bench", key, NULL, NULL, -3600, 3600, 0, NULL);
    sd = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
    si = CMS_add1_signer(sd, self, key, EVP_sha256(),
                         CMS_NOSMIMECAP | CMS_BINARY);
    RAND_bytes(nonce, sizeof(nonce));
    add_attr(si, "2.16.840.1.113733.1.9.2", V_ASN1_PRINTABLESTRING, "19", 2);
    add_attr(si, "2.16.840.1.113733.1.9.7", V_ASN1_PRINTABLESTRING, "T", 1);
    add_attr(si, "2.16.840.1.113733.1.9.5", V_ASN1_OCTET_STRING, nonce, 16);
    in = BIO_new_mem_buf(env_der, n);
    tc_check(CMS_final(sd, in, NULL, CMS_BINARY) == 1, "CMS_final");
    BIO_free(in);
    n = i2d_CMS_ContentInfo(sd, &out);
    *len = n;

    CMS_ContentInfo_free(sd);
    CMS_ContentInfo_free(env);
    X509_free(self);
    X509_REQ_free(req);
    X509_NAME_free(name);
    sk_X509_free(to);
    OPENSSL_free(csr);
    OPENSSL_free(env_der);

    return out;
}


int
main(void)
{
    int               r, i;
    char              dir[] = "/tmp/scep-bench-XXXXXX", cp[300], kp[300],
                      err[256];
    FILE             *f;
    size_t            len[ITERS], rlen;
    double            t0, t1, t2, parse[RUNS], issue[RUNS], reply[RUNS],
                      total[RUNS];
    X509             *ca_cert;
    EVP_PKEY         *ca_key, *keys[ITERS];
    mdm_ca_t         *ca;
    unsigned char    *msg[ITERS], *der;
    mdm_ca_opts_t     opts = { 365 * TC_DAY, 300,
                               KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT, 0 };
    mdm_scep_req_t    req;
    mdm_ca_issued_t   is;
    mdm_scep_conf_t   conf;

    tc_check(mkdtemp(dir) != NULL, "mkdtemp");
    ca_key = tc_rsa_key();
    ca_cert = tc_cert("bench CA", ca_key, NULL, NULL, -TC_DAY, 3650 * TC_DAY,
                      1, NULL);
    snprintf(cp, sizeof(cp), "%s/ca.pem", dir);
    snprintf(kp, sizeof(kp), "%s/ca.key", dir);
    f = fopen(cp, "w");
    PEM_write_X509(f, ca_cert);
    fclose(f);
    f = fopen(kp, "w");
    PEM_write_PrivateKey(f, ca_key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    ca = mdm_ca_load(cp, kp, NULL, err, sizeof(err));
    unlink(cp);
    unlink(kp);
    rmdir(dir);
    tc_check(ca != NULL, err);

    conf.ra_cert = mdm_ca_cert(ca);
    conf.ra_key = mdm_ca_key(ca);
    conf.min_rsa_bits = 2048;

    for (i = 0; i < ITERS; i++) {
        keys[i] = tc_rsa_key();
        msg[i] = pkcsreq(ca_cert, keys[i], &len[i]);
    }

    for (r = 0; r < RUNS; r++) {
        parse[r] = issue[r] = reply[r] = 0;

        for (i = 0; i < ITERS; i++) {
            t0 = cpu_us();
            tc_check(mdm_scep_parse(&conf, msg[i], len[i], &req)
                     == MDM_SCEP_OK, "parse");
            tc_check(mdm_scep_authorise(ca, &req, time(NULL))
                     == MDM_SCEP_BY_CHALLENGE, "authorise");
            t1 = cpu_us();
            tc_check(mdm_ca_issue(ca, req.csr, &opts, time(NULL), &is, err,
                                  sizeof(err)) == 0, "issue");
            t2 = cpu_us();
            tc_check(mdm_scep_reply_success(&conf, &req, is.cert, &der,
                                            &rlen) == 0, "reply");
            reply[r] += cpu_us() - t2;
            issue[r] += t2 - t1;
            parse[r] += t1 - t0;
            OPENSSL_free(der);
            X509_free(is.cert);
            mdm_scep_req_free(&req);
        }

        parse[r] /= ITERS;
        issue[r] /= ITERS;
        reply[r] /= ITERS;
        total[r] = parse[r] + issue[r] + reply[r];
    }

    qsort(parse, RUNS, sizeof(double), cmp_double);
    qsort(issue, RUNS, sizeof(double), cmp_double);
    qsort(reply, RUNS, sizeof(double), cmp_double);
    qsort(total, RUNS, sizeof(double), cmp_double);

    printf("SCEP PKCSReq, RSA-2048, CPU us per issued certificate "
           "(median of %d x %d; min-max)\n", RUNS, ITERS);
    printf("  parse (verify + decrypt + CSR)  %7.0f  (%.0f-%.0f)\n",
           parse[RUNS / 2], parse[0], parse[RUNS - 1]);
    printf("  issue (build + sign)            %7.0f  (%.0f-%.0f)\n",
           issue[RUNS / 2], issue[0], issue[RUNS - 1]);
    printf("  reply (encrypt + sign CertRep)  %7.0f  (%.0f-%.0f)\n",
           reply[RUNS / 2], reply[0], reply[RUNS - 1]);
    printf("  total                           %7.0f  (%.0f-%.0f)\n",
           total[RUNS / 2], total[0], total[RUNS - 1]);

    for (i = 0; i < ITERS; i++) {
        OPENSSL_free(msg[i]);
        EVP_PKEY_free(keys[i]);
    }
    mdm_ca_free(ca);
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);

    return 0;
}
