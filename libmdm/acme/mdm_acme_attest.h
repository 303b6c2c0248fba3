#ifndef MDM_ACME_ATTEST_H
#define MDM_ACME_ATTEST_H

/*
 * The device-attest-01 challenge response (draft-acme-device-attest,
 * Apple's `DM/acmecertificate`; services.md §3.3): the device posts
 * {"attObj": base64url(CBOR)} where the CBOR is a WebAuthn-style
 * attestation object {"fmt": "apple", "attStmt": {"x5c": [leaf DER,
 * intermediate DER, ...]}}. The leaf is issued by Apple's Enterprise
 * Attestation Root CA through the intermediates and carries, as
 * extensions whose OCTET STRING holds the raw value, the device's serial
 * (1.2.840.113635.100.8.9.1), UDID (.8.9.2), OS and sepOS versions
 * (.8.10.1, .8.10.2) and the freshness code (.8.11.1) = SHA-256 of the
 * challenge token. Its public key is the hardware-bound key the CSR
 * must carry at finalize.
 */

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "acme/mdm_acme_problem.h"

#define MDM_ACME_ATTEST_MAX      16384   /* CBOR bytes */
#define MDM_ACME_ATTEST_CHAIN    8       /* certificates in x5c */

#define MDM_ACME_OID_SERIAL      "1.2.840.113635.100.8.9.1"
#define MDM_ACME_OID_UDID        "1.2.840.113635.100.8.9.2"
#define MDM_ACME_OID_OS_VERSION  "1.2.840.113635.100.8.10.1"
#define MDM_ACME_OID_SEPOS       "1.2.840.113635.100.8.10.2"
#define MDM_ACME_OID_FRESHNESS   "1.2.840.113635.100.8.11.1"

typedef struct {
    char    serial[65];          /* "" when the leaf has none */
    char    udid[129];
    char    os_version[33];
    char    sepos_version[33];
    char    key_sha256[65];      /* hex SHA-256 of the leaf's
                                    SubjectPublicKeyInfo DER */
} mdm_acme_attest_t;

/*
 * Verifies the attestation object cbor (len bytes) for the challenge
 * token and the order's identifier, against roots at now: CBOR that
 * decodes to the map above (`malformed` otherwise), fmt "apple", a chain
 * from x5c[0] through x5c[1..] to one of roots (valid at now), the
 * freshness code equal to SHA-256(token) (constant time), the identifier
 * equal to the leaf's serial or UDID. 0 with *out, or -1 with
 * badAttestationStatement (err->identifier set for an identifier that
 * does not match).
 */
int mdm_acme_attest_verify(const unsigned char *cbor, size_t len,
    X509_STORE *roots, const char *token, const char *identifier,
    time_t now, mdm_acme_attest_t *out, mdm_acme_err_t *err);

/* The attObj member of a challenge payload, base64url-decoded into a
 * malloc'd buffer; 0, or -1 with malformed. */
int mdm_acme_attest_payload(const char *attobj, unsigned char **cbor,
    size_t *len, mdm_acme_err_t *err);

/* Hex SHA-256 of a public key's SubjectPublicKeyInfo DER into out[65],
 * the attested key as finalize compares it to the CSR's; 0 or -1. */
int mdm_acme_key_sha256(EVP_PKEY *key, char out[65]);

#endif
