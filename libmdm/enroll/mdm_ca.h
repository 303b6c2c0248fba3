#ifndef MDM_CA_H
#define MDM_CA_H

/*
 * The issuing device CA: a certificate, its key and the chain above it
 * (PEM), loaded once at configuration time, and the issuance of a device
 * certificate from a PKCS#10 request. SCEP uses it today, ACME later.
 */

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define MDM_CA_SERIAL_HEX_MAX  40     /* 128-bit serial: at most 33 digits */

/* subjectAltName types a CSR may carry into the certificate */
#define MDM_CA_SAN_DNS         0x01
#define MDM_CA_SAN_EMAIL       0x02
#define MDM_CA_SAN_URI         0x04
#define MDM_CA_SAN_IP          0x08
#define MDM_CA_SAN_MAX         16     /* names per request */
#define MDM_CA_SAN_LEN_MAX     255    /* bytes per name */

typedef struct mdm_ca_s  mdm_ca_t;

typedef struct {
    long         validity_secs;       /* not_after = now + this */
    long         backdate_secs;       /* not_before = now - this (clock skew) */
    unsigned     key_usage;           /* KU_DIGITAL_SIGNATURE | ... */
    unsigned     san_types;           /* MDM_CA_SAN_* copied from the CSR */
} mdm_ca_opts_t;

typedef struct {
    X509        *cert;                /* owned by the caller */
    char         serial_hex[MDM_CA_SERIAL_HEX_MAX + 1];   /* lowercase */
    char         sha256_hex[65];      /* of the DER */
    time_t       not_before;
    time_t       not_after;
} mdm_ca_issued_t;

/* Loads cert + key (and an optional chain PEM, NULL for none); the key must
 * match the certificate and the certificate must be a CA. NULL with a
 * reason in err. */
mdm_ca_t *mdm_ca_load(const char *cert_path, const char *key_path,
    const char *chain_path, char *err, size_t errlen);

/* An RA (RFC 8894 §2.1): a non-CA certificate + key issued by ca that
 * decrypts requests and signs replies in the CA's stead. */
mdm_ca_t *mdm_ca_load_ra(const mdm_ca_t *ca, const char *cert_path,
    const char *key_path, char *err, size_t errlen);

void mdm_ca_free(mdm_ca_t *ca);

/* Accessors; the objects stay owned by the CA. */
X509 *mdm_ca_cert(const mdm_ca_t *ca);
EVP_PKEY *mdm_ca_key(const mdm_ca_t *ca);
STACK_OF(X509) *mdm_ca_chain(const mdm_ca_t *ca);

/* The subjectAltName names of csr's extensionRequest whose types are in
 * allowed (MDM_CA_SAN_*): *out is NULL when there are none, else owned by
 * the caller (GENERAL_NAMES_free); *dropped counts the names of other
 * types. -1 with err for an extension that does not parse, more than
 * MDM_CA_SAN_MAX names, or a name that is empty, too long or not what its
 * type says (a DNS name with a space, an address of 5 bytes). */
int mdm_ca_csr_sans(X509_REQ *csr, unsigned allowed, GENERAL_NAMES **out,
    int *dropped, char *err, size_t errlen);

/* Issues a certificate for csr (already verified by the caller): random
 * 128-bit serial, subject and public key from the CSR, the CSR's
 * subjectAltName names of opts->san_types, validity and key usage from
 * opts, EKU clientAuth, SKI/AKI. 0 on success, -1 with err. */
int mdm_ca_issue(const mdm_ca_t *ca, X509_REQ *csr, const mdm_ca_opts_t *opts,
    time_t now, mdm_ca_issued_t *out, char *err, size_t errlen);

/* Whether the certificate's key usage allows what an RA does (sign
 * replies, receive key transport): absent, or digitalSignature and
 * keyEncipherment both. Strict SCEP clients check it. */
int mdm_ca_can_be_ra(const mdm_ca_t *ca);

/* Whether cert was signed by this CA (issuer name and signature). */
int mdm_ca_issued_by(const mdm_ca_t *ca, X509 *cert);

/* Lowercase hex SHA-256 of the certificate's DER into out[65]; 0 or -1. */
int mdm_ca_cert_sha256(X509 *cert, char out[65]);

#endif
