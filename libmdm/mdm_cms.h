#ifndef MDM_CMS_H
#define MDM_CMS_H

/*
 * Detached CMS SignedData as Apple devices send it in Mdm-Signature.
 *
 * OpenSSL's d2i_CMS decodes every included certificate into an X509, which
 * costs far more than the signature check itself. This parser walks the
 * DER/BER bytes once and only points at what verification needs: the signer
 * certificate's raw DER (decoded by the caller, once per certificate, and
 * cached), the algorithms, the signed attributes and the signature.
 *
 * Strict: every length is bounds-checked, no trailing bytes, exactly one
 * SignerInfo, no encapsulated content. BER indefinite lengths are accepted
 * on constructed values; the signer certificate and the signed attributes
 * must carry definite lengths because their bytes are hashed as they are.
 */

#include <stddef.h>

#include <openssl/evp.h>

typedef enum {
    MDM_CMS_MD_SHA1 = 1,
    MDM_CMS_MD_SHA256,
    MDM_CMS_MD_SHA384,
    MDM_CMS_MD_SHA512
} mdm_cms_md_e;

typedef enum {
    MDM_CMS_SIG_RSA = 1,         /* RSASSA-PKCS1-v1_5 */
    MDM_CMS_SIG_ECDSA
} mdm_cms_sig_e;

/* Every pointer points into the buffer given to mdm_cms_parse(). */
typedef struct {
    const unsigned char *cert;          /* signer certificate, whole DER */
    size_t               cert_len;
    mdm_cms_md_e         md;
    mdm_cms_sig_e        sig;
    const unsigned char *signed_attrs;  /* [0] IMPLICIT TLV, or NULL */
    size_t               signed_attrs_len;
    const unsigned char *message_digest;
    size_t               message_digest_len;
    const unsigned char *signature;
    size_t               signature_len;
} mdm_cms_t;

/*
 * Verification state kept next to a cached public key: a context set up
 * for the algorithms last seen. Zero it, set pkey (borrowed, must outlive
 * it), and release it with mdm_cms_verifier_free().
 */
typedef struct {
    EVP_PKEY      *pkey;
    EVP_PKEY_CTX  *ctx;
    mdm_cms_md_e   md;
    mdm_cms_sig_e  sig;
} mdm_cms_verifier_t;

/* Parses `der` into `cms`; 0 on success, -1 with a static reason in *err. */
int mdm_cms_parse(const unsigned char *der, size_t len, mdm_cms_t *cms,
    const char **err);

/* Why mdm_cms_verify*() refused (0: the signature verified), with a static
 * reason in *err as well: the caller counts by the code, logs the text. */
#define MDM_CMS_FAILED           -1   /* no memory, or the digest failed */
#define MDM_CMS_DIGEST_MISMATCH  -2   /* the body is not what was signed */
#define MDM_CMS_BAD_SIGNATURE    -3   /* or a key that cannot verify it */

/* Checks that `cms` signs `body` with `pkey` (the signer certificate's
 * public key); 0 or MDM_CMS_*. */
int mdm_cms_verify(const mdm_cms_t *cms, const unsigned char *body,
    size_t body_len, EVP_PKEY *pkey, const char **err);

/* The same with a reusable verifier and digest context (md_ctx may be
 * NULL): the per-request path for a known certificate. */
int mdm_cms_verify_with(const mdm_cms_t *cms, const unsigned char *body,
    size_t body_len, mdm_cms_verifier_t *v, EVP_MD_CTX *md_ctx,
    const char **err);

/* Frees the verifier's context (not its pkey); it may be used again. */
void mdm_cms_verifier_free(mdm_cms_verifier_t *v);

/* The OpenSSL digest for `md` (a static object, not to be freed). */
const EVP_MD *mdm_cms_md(mdm_cms_md_e md);

#endif
