#ifndef MDM_ACME_CSR_H
#define MDM_ACME_CSR_H

/*
 * The CSR of an ACME finalize (RFC 8555 §7.4): base64url DER PKCS#10 in
 * the payload's `csr`, self-signed, and for device-attest-01 over the
 * very key Apple attested (STEP compares the key fingerprint the
 * authorization recorded; so do we).
 */

#include <openssl/x509.h>

#include "acme/mdm_acme_problem.h"

#define MDM_ACME_CSR_MAX  8192     /* DER bytes */

/* Decodes and checks csr: DER PKCS#10 whose signature verifies, an EC
 * P-256/P-384 or RSA >= 2048 key. 0 with *out (X509_REQ_free), or -1
 * with badCSR (malformed for base64url that is not). */
int mdm_acme_csr_parse(const char *b64url, X509_REQ **out,
    mdm_acme_err_t *err);

/* Whether csr's key is the one whose SubjectPublicKeyInfo SHA-256 (hex)
 * is key_sha256: 0, or -1 with badCSR. */
int mdm_acme_csr_key_is(X509_REQ *csr, const char *key_sha256,
    mdm_acme_err_t *err);

#endif
