/*
 * libFuzzer target for the SCEP PKIOperation parser (libmdm/enroll/
 * mdm_scep.c): the bytes a client POSTs, before any authorisation. The
 * first byte picks the layer, the rest is its input:
 *
 *   'F' (and any other byte): the whole pkiMessage (mdm_scep_parse):
 *       SignedData, its SCEP attributes, the signature, the envelope, the
 *       CSR;
 *   'E': the pkcsPKIEnvelope alone (mdm_scep_parse_envelope): the
 *       EnvelopedData decrypted with the RA key, then its CSR;
 *   'C': the CSR alone (mdm_scep_parse_csr).
 *
 * A mutated envelope or CSR inside a whole message fails the signature
 * over it, so without 'E' and 'C' the inner parsers would only ever see
 * the seeds' bytes. The RA key below is a throw-away 1024-bit one (its only
 * use is here; a 2048-bit key made per run cost a private-key operation
 * four times as long per input reaching decryption), so that the seeds in
 * corpus/scep/, encrypted to it with `mdmsim scep --recipient
 * --message-out`, decrypt and reach the CSR.
 *
 * Checks: parsed means a CSR (and, whole, a signer and a printable
 * transaction ID); refused means a known failInfo and a reason; the
 * challenge is a C string with no NUL inside.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "enroll/mdm_scep.h"


static const char  fuzz_ra_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIICdQIBADANBgkqhkiG9w0BAQEFAASCAl8wggJbAgEAAoGBAOKVPkHCuj7h2HPb\n"
    "p/muB2Sum70wANFpMYCsnYQe5BDYesFlBNxSEqxPLtlguLNTW6Yw8dqCwarLwAM+\n"
    "xA+cSXeKPAM5YPiI95RVpBvBFHyyUnkAa6xDdAgmtOHzm5kigBK7z+dakYaTbUh0\n"
    "hlJNEV9CHU2eEjqa21aqO7q3e8/7AgMBAAECgYBIZmHPR3aVkzrDwoNI/7ezDywK\n"
    "ZqVMRK2hrQZj6i77xwBqfWnxMHRxBJg2s3YxLsiRMQCGztMtTQ+cudiSGGFMrD+z\n"
    "ovDYHIBe/li2BM0Q7/vXAZJLDzqWwosBfgzja15AOdRQ/AU5yv7jUIUDuyEUyNKO\n"
    "bVmdJtGwoDKvHRJRwQJBAPE+mBSzvX1m25pcgRFwdVuuKaXbINfT++JaPBMm9zC2\n"
    "6TAMfXHcMiJhFnDwT8cxxKJRxFUwxvqocN981VOzCeECQQDwcRQ3iKD+98VTmscI\n"
    "D9SRcinz+GMC0Fkr9+t79oDcaJp3NO+I0HJgojPOWuZXzOatDglHm9mAjPoWKCXg\n"
    "8u1bAkBDv+Vr4vJzVkCUACiLIj8DKU0u8/QsSK8zaU33vviqqKOiR8+u+zzlJMjt\n"
    "nL963IIxZ68wkYs/97ADQ4aRg/VhAkAT5GcVyRn4vir3JcD9q8GcXuOVqaEXZIFc\n"
    "H+C9msFCeuz8m8aNfSFZWVIL6n1QGkWjX5vo7r3p4r/2AVBQ8ggtAkBQsdB7P8z7\n"
    "hT61ytNLmlz16zy0PYy2gvblFoIHuI34arMMF+d5CqoWgjeXZwkv20tb0U+wC9jU\n"
    "7IKgIRMcwCA5\n"
    "-----END PRIVATE KEY-----\n";

static const char  fuzz_ra_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICVjCCAb+gAwIBAgIUW7CFOlib5oKMNTr4/t5Q+OqmsEEwDQYJKoZIhvcNAQEL\n"
    "BQAwPDEgMB4GA1UEAwwXZnV6eiB0aHJvdy1hd2F5IFNDRVAgUkExGDAWBgNVBAoM\n"
    "D25neF9tZG0gZnV6emluZzAgFw0yNjEyMDMwNTU1NTNaGA8yMTI2MTEwOTA1NTU1\n"
    "M1owPDEgMB4GA1UEAwwXZnV6eiB0aHJvdy1hd2F5IFNDRVAgUkExGDAWBgNVBAoM\n"
    "D25neF9tZG0gZnV6emluZzCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkCgYEA4pU+\n"
    "QcK6PuHYc9un+a4HZK6bvTAA0WkxgKydhB7kENh6wWUE3FISrE8u2WC4s1NbpjDx\n"
    "2oLBqsvAAz7ED5xJd4o8Azlg+Ij3lFWkG8EUfLJSeQBrrEN0CCa04fObmSKAErvP\n"
    "51qRhpNtSHSGUk0RX0IdTZ4SOprbVqo7urd7z/sCAwEAAaNTMFEwHQYDVR0OBBYE\n"
    "FE9gY825kezp6jiJMf0W/1ys5FvGMB8GA1UdIwQYMBaAFE9gY825kezp6jiJMf0W\n"
    "/1ys5FvGMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQELBQADgYEApfoUVjsn\n"
    "ezMRXzlXioT0ZmvY9k0VOYa6HFGDDiYgbJpOLPlwa59r1n7D4gRC8vGyEw0eyCL7\n"
    "O0tmJk6azC+57OCGjvHPuaZHQm7LHpVcNaBXtXR1C6Z14N42x4+8FHlnqU2cJX1L\n"
    "LckWUNPCFGXlWiZBLzISETTlgLiDEw4FB4s=\n"
    "-----END CERTIFICATE-----\n";


static mdm_scep_conf_t  fuzz_conf;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    BIO  *b;

    (void) argc;
    (void) argv;

    b = BIO_new_mem_buf(fuzz_ra_key, -1);
    fuzz_conf.ra_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);

    b = BIO_new_mem_buf(fuzz_ra_cert, -1);
    fuzz_conf.ra_cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);

    fuzz_assert(fuzz_conf.ra_key != NULL && fuzz_conf.ra_cert != NULL);
    fuzz_conf.min_rsa_bits = 2048;

    return 0;
}


static void
fuzz_check(int rc, const mdm_scep_req_t *req, int whole)
{
    size_t  i, n;

    fuzz_assert(rc == MDM_SCEP_OK || rc == MDM_SCEP_MALFORMED
                || rc == MDM_SCEP_REFUSED);
    fuzz_assert(memchr(req->challenge, '\0', sizeof(req->challenge))
                != NULL);

    if (rc != MDM_SCEP_OK) {
        fuzz_assert(req->why != NULL && req->why[0] != '\0');
    }

    if (rc == MDM_SCEP_REFUSED) {
        fuzz_assert(req->fail_info >= MDM_SCEP_BAD_ALG
                    && req->fail_info <= MDM_SCEP_BAD_CERT_ID);
        fuzz_assert(mdm_scep_fail_name(req->fail_info) != NULL);
    }

    if (rc == MDM_SCEP_OK) {
        fuzz_assert(req->csr != NULL);
        fuzz_assert(!whole || req->signer != NULL);
    }

    if (whole && rc != MDM_SCEP_MALFORMED) {
        n = strlen(req->transaction_id);
        fuzz_assert(n >= 1 && n <= MDM_SCEP_TXID_MAX);
        for (i = 0; i < n; i++) {
            fuzz_assert(req->transaction_id[i] >= 0x20
                        && req->transaction_id[i] <= 0x7e);
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc, whole;
    mdm_scep_req_t  req;

    if (size < 1) {
        return 0;
    }

    whole = 0;

    switch (data[0]) {
    case 'E':
        rc = mdm_scep_parse_envelope(&fuzz_conf, data + 1, size - 1, &req);
        break;
    case 'C':
        rc = mdm_scep_parse_csr(&fuzz_conf, data + 1, size - 1, &req);
        break;
    default:
        whole = 1;
        rc = mdm_scep_parse(&fuzz_conf, data + 1, size - 1, &req);
        break;
    }

    fuzz_check(rc, &req, whole);
    mdm_scep_req_free(&req);

    return 0;
}
