#ifndef MDM_ACME_JWS_H
#define MDM_ACME_JWS_H

/*
 * The JWS of an ACME request (RFC 8555 §6.2): the flattened JSON
 * serialization only, one signature, a protected header with `alg`
 * (ES256, ES384 or RS256; never none nor a MAC), `nonce`, `url`, and
 * exactly one of `jwk` (newAccount, revokeCert by certificate key) and
 * `kid` (the account URL, everything else). No unprotected header.
 * Parsing checks all of that and the URL the request came to; the
 * signature is verified by libjose (the account key is only known once
 * the caller looked the kid up). The nonce is checked by the caller,
 * which is where nonces live (one Redis DEL, single use).
 */

#include <stddef.h>

#include <jansson.h>
#include <jose/cfg.h>

#include "acme/mdm_acme_problem.h"

#define MDM_ACME_BODY_MAX        65536
#define MDM_ACME_NONCE_MAX       64      /* base64url characters */
#define MDM_ACME_THUMBPRINT_LEN  43      /* base64url of SHA-256 */
#define MDM_ACME_RSA_MIN_BITS    2048

typedef enum {
    MDM_ACME_ALG_NONE = 0,
    MDM_ACME_ALG_ES256,
    MDM_ACME_ALG_ES384,
    MDM_ACME_ALG_RS256
} mdm_acme_alg_e;

typedef struct {
    json_t          *body;        /* the parsed request, owned */
    json_t          *header;      /* the decoded protected header, owned */
    mdm_acme_alg_e   alg;
    const char      *nonce;       /* in header */
    const char      *url;
    const char      *kid;         /* NULL when the request has a jwk */
    json_t          *jwk;         /* borrowed from header, or NULL */
    unsigned char   *payload;     /* decoded, malloc'd, NUL-terminated */
    size_t           payload_len; /* 0: POST-as-GET (RFC 8555 §6.3) */
    json_t          *payload_json;  /* payload parsed when not empty */
} mdm_acme_jws_t;

/* The name of alg ("ES256"), or NULL. */
const char *mdm_acme_alg_name(mdm_acme_alg_e alg);

/*
 * Parses body (len bytes) and checks it is for url (the request's
 * absolute URL, as the directory spells it). On success 0 and *jws filled
 * (mdm_acme_jws_free); -1 with the problem in err (malformed,
 * badSignatureAlgorithm, badNonce for a missing/invalid nonce, unauthorized
 * for another url, badPublicKey for a jwk unfit for alg). A payload that
 * is not empty must be a JSON object.
 */
int mdm_acme_jws_parse(const char *body, size_t len, const char *url,
    mdm_acme_jws_t *jws, mdm_acme_err_t *err);

/* Verifies jws's signature with jwk (the header's, or the account's):
 * 0, or -1 with malformed ("signature does not verify") or badPublicKey. */
int mdm_acme_jws_verify(const mdm_acme_jws_t *jws, const json_t *jwk,
    mdm_acme_err_t *err);

void mdm_acme_jws_free(mdm_acme_jws_t *jws);

/*
 * Whether jwk is a public key fit for alg: EC P-256 for ES256, EC P-384
 * for ES384, RSA of at least MDM_ACME_RSA_MIN_BITS for RS256, and no
 * private member. 0 or -1 (badPublicKey, or badSignatureAlgorithm when
 * the key type does not go with alg).
 */
int mdm_acme_jwk_check(const json_t *jwk, mdm_acme_alg_e alg,
    mdm_acme_err_t *err);

/* The RFC 7638 SHA-256 thumbprint of jwk, base64url, into out (44 bytes
 * with the NUL); 0 or -1. Accounts are named by it. */
int mdm_acme_jwk_thumbprint(const json_t *jwk,
    char out[MDM_ACME_THUMBPRINT_LEN + 1]);

/* Whether s (len bytes) is unpadded base64url of at most max characters
 * and at least one: what nonces, tokens and IDs are made of. */
int mdm_acme_b64url_ok(const char *s, size_t len, size_t max);

/* Random bytes as unpadded base64url into out (at least 4*n/3+2 bytes):
 * nonces, tokens and IDs. 0 or -1. */
int mdm_acme_random_id(char *out, size_t size, size_t n);

/* libjose's configuration with errors silenced (the caller logs them),
 * made on first use: shared by libmdm's JOSE calls */
jose_cfg_t *mdm_acme_jose_cfg(void);

#endif
