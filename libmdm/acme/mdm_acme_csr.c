/*
 * ACME finalize CSRs (mdm_acme_csr.h).
 */

#include <stdlib.h>
#include <string.h>

#include <jose/b64.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "acme/mdm_acme_attest.h"
#include "acme/mdm_acme_csr.h"


static int
mdm_acme_csr_key_ok(EVP_PKEY *key)
{
    char  curve[32];

    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        return EVP_PKEY_get_bits(key) >= 2048;
    case EVP_PKEY_EC:
        if (!EVP_PKEY_get_utf8_string_param(key, "group", curve,
                                            sizeof(curve), NULL))
        {
            return 0;
        }
        return strcmp(curve, "prime256v1") == 0
               || strcmp(curve, "secp384r1") == 0;
    default:
        return 0;
    }
}


int
mdm_acme_csr_parse(const char *b64url, X509_REQ **out, mdm_acme_err_t *err)
{
    size_t                n, len;
    X509_REQ             *req;
    EVP_PKEY             *key;
    unsigned char        *der;
    const unsigned char  *p;

    *out = NULL;

    if (b64url == NULL) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED, "finalize without csr");
    }

    len = strlen(b64url);
    n = jose_b64_dec_buf(b64url, len, NULL, 0);
    if (n == SIZE_MAX || n == 0 || n > MDM_ACME_CSR_MAX) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "csr is not base64url of at most %d bytes",
                             MDM_ACME_CSR_MAX);
    }

    der = malloc(n);
    if (der == NULL || jose_b64_dec_buf(b64url, len, der, n) != n) {
        free(der);
        return mdm_acme_fail(err, MDM_ACME_MALFORMED, "csr is not base64url");
    }

    p = der;
    req = d2i_X509_REQ(NULL, &p, (long) n);
    len = p - der;
    free(der);

    if (req == NULL || len != n) {
        X509_REQ_free(req);
        return mdm_acme_fail(err, MDM_ACME_BAD_CSR, "csr is not DER PKCS#10");
    }

    key = X509_REQ_get0_pubkey(req);
    if (key == NULL || !mdm_acme_csr_key_ok(key)) {
        X509_REQ_free(req);
        return mdm_acme_fail(err, MDM_ACME_BAD_CSR, "csr key is not EC "
                             "P-256/P-384 or RSA of 2048 bits or more");
    }

    if (X509_REQ_verify(req, key) != 1) {
        X509_REQ_free(req);
        return mdm_acme_fail(err, MDM_ACME_BAD_CSR,
                             "csr signature does not verify");
    }

    *out = req;

    return 0;
}


int
mdm_acme_csr_key_is(X509_REQ *csr, const char *key_sha256,
    mdm_acme_err_t *err)
{
    char  have[65];

    if (mdm_acme_key_sha256(X509_REQ_get0_pubkey(csr), have) != 0
        || key_sha256 == NULL || strlen(key_sha256) != 64
        || CRYPTO_memcmp(have, key_sha256, 64) != 0)
    {
        return mdm_acme_fail(err, MDM_ACME_BAD_CSR,
                             "csr key is not the attested key");
    }

    return 0;
}
