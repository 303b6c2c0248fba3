#ifndef MDM_IDENTITY_H
#define MDM_IDENTITY_H

/*
 * Device identity per request (protocol.md §4): the device certificate comes
 * from Mdm-Signature (verified over the raw body), from the TLS session or
 * from a proxy header. Its chain verdict and public key are cached by the
 * certificate's bytes, so a device seen before costs one hash lookup plus
 * the signature check. A context belongs to one thread (one nginx worker).
 */

#include <stddef.h>
#include <time.h>

#define MDM_IDENTITY_SHA256_HEX_LEN  64
#define MDM_IDENTITY_CN_MAX          64

typedef struct mdm_identity_s  mdm_identity_t;

/* Why a device's identity was refused: metrics count by it, logs print the
 * text beside it. The order is that of the metric's labels. */
typedef enum {
    MDM_IDENTITY_OK = 0,
    MDM_IDENTITY_NO_CERTIFICATE,
    MDM_IDENTITY_MALFORMED_SIGNATURE,
    MDM_IDENTITY_BAD_SIGNATURE,
    MDM_IDENTITY_DIGEST_MISMATCH,
    MDM_IDENTITY_MALFORMED_CERTIFICATE,
    MDM_IDENTITY_UNTRUSTED_CHAIN,
    MDM_IDENTITY_WRONG_USAGE,
    MDM_IDENTITY_EXPIRED,
    MDM_IDENTITY_NOT_YET_VALID,
    MDM_IDENTITY_BINDING_MISMATCH,
    MDM_IDENTITY_UNBOUND_ENROLLMENT,
    MDM_IDENTITY_UNKNOWN_ENROLLMENT,
    MDM_IDENTITY_REVOKED,
    MDM_IDENTITY_OTHER,          /* our failure: memory, encoding */
    MDM_IDENTITY_REASONS
} mdm_identity_reason_e;

typedef struct {
    size_t       entries;
    size_t       hits;
    size_t       misses;
    size_t       evictions;
} mdm_identity_stats_t;

typedef struct {
    /* SHA-256 of the certificate DER: the enrollment binding key. */
    char         sha256_hex[MDM_IDENTITY_SHA256_HEX_LEN + 1];
    /* Subject CN for logs, truncated, non-printable bytes as '?'. */
    char         cn[MDM_IDENTITY_CN_MAX + 1];
    time_t       not_after;
    /* Static string on failure, NULL on success. */
    const char  *error;
    /* MDM_IDENTITY_OK on success. */
    mdm_identity_reason_e  reason;
} mdm_identity_result_t;

/* Loads the trusted CA(s) from a PEM bundle and allocates a cache of
 * cache_size certificates; NULL with a static reason in *err. */
mdm_identity_t *mdm_identity_create(const char *ca_pem_path,
    size_t cache_size, const char **err);

/* Frees the context, its cache and every cached key. */
void mdm_identity_destroy(mdm_identity_t *id);

/* Mdm-Signature: base64 detached CMS over the raw body, the certificate
 * valid at `now` (nginx passes its cached time); 0 on success, -1 with
 * res->error and res->reason set. */
int mdm_identity_from_signature(mdm_identity_t *id, const char *b64,
    size_t b64_len, const unsigned char *body, size_t body_len, time_t now,
    mdm_identity_result_t *res);

/* A certificate already authenticated by TLS or a trusted proxy: chain and
 * validity at `now` only; 0 on success, -1 with res->error and res->reason
 * set. */
int mdm_identity_from_der(mdm_identity_t *id, const unsigned char *der,
    size_t len, time_t now, mdm_identity_result_t *res);

/* The metric label of a reason, e.g. "no_certificate". */
const char *mdm_identity_reason_name(mdm_identity_reason_e reason);

/* The reason of a refusal text of the binding check in the device scripts
 * (lua/lib/binding.lua, connect.lua, checkin.lua); MDM_IDENTITY_OTHER for
 * any other text. */
mdm_identity_reason_e mdm_identity_script_reason(const char *text);

/* nginx's $ssl_client_escaped_cert (URL-escaped PEM) to DER; `out` holds at
 * least `len` bytes; the DER length on success, -1 on malformed input. */
long mdm_identity_der_from_escaped_pem(const char *in, size_t len,
    unsigned char *out);

/* RFC 9440 Client-Cert (":base64-DER:") to DER; `out` holds at least `len`
 * bytes; the DER length on success, -1 on malformed input. */
long mdm_identity_der_from_client_cert(const char *in, size_t len,
    unsigned char *out);

/* Cache counters since creation, for tests and statistics. */
void mdm_identity_stats(const mdm_identity_t *id, mdm_identity_stats_t *st);

#endif
