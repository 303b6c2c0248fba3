#ifndef MDM_SCEP_H
#define MDM_SCEP_H

/*
 * SCEP messages (RFC 8894) without transport: a pkiMessage from raw bytes to
 * a verified, decrypted request, who may authorise it, and the CertRep
 * answers. The module does HTTP and Redis; everything a client controls is
 * parsed here (mdm_scep_parse is the fuzz entry point).
 */

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "enroll/mdm_ca.h"

#define MDM_SCEP_TXID_MAX        128
#define MDM_SCEP_NONCE_MAX       64
#define MDM_SCEP_CHALLENGE_MAX   255

/* messageType (§3.2.1.2) */
#define MDM_SCEP_CERTREP         3
#define MDM_SCEP_RENEWALREQ      17
#define MDM_SCEP_PKCSREQ         19
#define MDM_SCEP_CERTPOLL        20
#define MDM_SCEP_GETCERT         21
#define MDM_SCEP_GETCRL          22

/* failInfo (§3.2.1.4) */
#define MDM_SCEP_BAD_ALG             0
#define MDM_SCEP_BAD_MESSAGE_CHECK   1
#define MDM_SCEP_BAD_REQUEST         2
#define MDM_SCEP_BAD_TIME            3
#define MDM_SCEP_BAD_CERT_ID         4

/* mdm_scep_parse results */
#define MDM_SCEP_OK              0
#define MDM_SCEP_MALFORMED      -1    /* not a pkiMessage at all: HTTP 400 */
#define MDM_SCEP_REFUSED         1    /* answer CertRep FAILURE, fail_info */

/* how a parsed request must be authorised (mdm_scep_authorise) */
#define MDM_SCEP_BY_CHALLENGE    2    /* self-signed signer, challenge */
#define MDM_SCEP_BY_CERTIFICATE  3    /* signed by a certificate we issued */

typedef struct {
    int                 message_type;
    char                transaction_id[MDM_SCEP_TXID_MAX + 1];
    unsigned char       sender_nonce[MDM_SCEP_NONCE_MAX];
    size_t              sender_nonce_len;
    X509               *signer;        /* owned; NULL if none was found */
    const EVP_MD       *md;            /* the requester's digest */
    const EVP_CIPHER   *cipher;        /* the requester's content cipher */
    X509_REQ           *csr;           /* owned; NULL before decryption */
    char                challenge[MDM_SCEP_CHALLENGE_MAX + 1];  /* "" none */
    int                 fail_info;     /* with MDM_SCEP_REFUSED */
    const char         *why;           /* static, for the log */
} mdm_scep_req_t;

typedef struct {
    X509               *ra_cert;       /* decrypts requests, signs replies */
    EVP_PKEY           *ra_key;
    int                 min_rsa_bits;  /* of the CSR key */
} mdm_scep_conf_t;

/* Parses, verifies the SignedData, decrypts the EnvelopedData and checks
 * the CSR. req is filled as far as parsing got (transaction ID and nonce
 * for a FAILURE answer); free it with mdm_scep_req_free in every case. */
int mdm_scep_parse(const mdm_scep_conf_t *conf, const unsigned char *der,
    size_t len, mdm_scep_req_t *req);

void mdm_scep_req_free(mdm_scep_req_t *req);

/* The inner layers of mdm_scep_parse on their own, for the fuzz target
 * (the signature over the outer SignedData keeps a mutated envelope or CSR
 * from ever reaching them): the pkcsPKIEnvelope (EnvelopedData DER)
 * decrypted and its CSR checked, or a CSR (DER) checked. */
int mdm_scep_parse_envelope(const mdm_scep_conf_t *conf,
    const unsigned char *der, size_t len, mdm_scep_req_t *req);
int mdm_scep_parse_csr(const mdm_scep_conf_t *conf,
    const unsigned char *der, size_t len, mdm_scep_req_t *req);

/* After MDM_SCEP_OK: MDM_SCEP_BY_CHALLENGE or MDM_SCEP_BY_CERTIFICATE, or
 * MDM_SCEP_REFUSED with req->fail_info/why (a renewal signed by a foreign
 * or expired certificate, a PKCSReq whose signer key is not the CSR's). */
int mdm_scep_authorise(const mdm_ca_t *ca, mdm_scep_req_t *req, time_t now);

/* CertRep SUCCESS: SignedData by the RA over EnvelopedData to the signer
 * containing a degenerate PKCS#7 with issued. *der is OPENSSL_malloc'ed. */
int mdm_scep_reply_success(const mdm_scep_conf_t *conf,
    const mdm_scep_req_t *req, X509 *issued, unsigned char **der,
    size_t *len);

/* CertRep FAILURE with fail_info. */
int mdm_scep_reply_failure(const mdm_scep_conf_t *conf,
    const mdm_scep_req_t *req, int fail_info, unsigned char **der,
    size_t *len);

/* GetCACert: the CA as DER when ra is NULL, else CA + RA (+ chain) as a
 * degenerate PKCS#7; *is_pkcs7 says which. */
int mdm_scep_ca_certs(const mdm_ca_t *ca, X509 *ra, unsigned char **der,
    size_t *len, int *is_pkcs7);

/* A degenerate (certificates-only) PKCS#7 of certs, DER. */
int mdm_scep_degenerate(STACK_OF(X509) *certs, unsigned char **der,
    size_t *len);

/* "badAlg", ... for logs and metrics. */
const char *mdm_scep_fail_name(int fail_info);

#endif
