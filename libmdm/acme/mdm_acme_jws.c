/*
 * ACME request JWS (mdm_acme_jws.h): structure and header checks here,
 * signatures and thumbprints by libjose, key sizes by OpenSSL.
 */

#include <stdlib.h>
#include <string.h>

#include <stdarg.h>

#include <jose/b64.h>
#include <jose/cfg.h>
#include <jose/jwk.h>
#include <jose/jws.h>
#include <jose/openssl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "acme/mdm_acme_jws.h"


/* libjose's default error handler writes to stderr; the caller logs the
 * problem itself, once */
static void
mdm_acme_jose_quiet(void *misc, const char *file, int line, uint64_t err,
    const char *fmt, va_list ap)
{
    (void) misc; (void) file; (void) line; (void) err; (void) fmt; (void) ap;
}


jose_cfg_t *
mdm_acme_jose_cfg(void)
{
    static jose_cfg_t  *cfg;

    if (cfg == NULL) {
        cfg = jose_cfg();
        if (cfg != NULL) {
            jose_cfg_set_err_func(cfg, mdm_acme_jose_quiet, NULL);
        }
    }

    return cfg;
}


static const char  *mdm_acme_alg_names[] = {
    [MDM_ACME_ALG_NONE]  = NULL,
    [MDM_ACME_ALG_ES256] = "ES256",
    [MDM_ACME_ALG_ES384] = "ES384",
    [MDM_ACME_ALG_RS256] = "RS256",
};


const char *
mdm_acme_alg_name(mdm_acme_alg_e alg)
{
    if ((unsigned) alg > MDM_ACME_ALG_RS256) {
        return NULL;
    }

    return mdm_acme_alg_names[alg];
}


static mdm_acme_alg_e
mdm_acme_alg_of(const char *name)
{
    int  a;

    for (a = MDM_ACME_ALG_ES256; a <= MDM_ACME_ALG_RS256; a++) {
        if (strcmp(name, mdm_acme_alg_names[a]) == 0) {
            return (mdm_acme_alg_e) a;
        }
    }

    return MDM_ACME_ALG_NONE;
}


int
mdm_acme_b64url_ok(const char *s, size_t len, size_t max)
{
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


int
mdm_acme_random_id(char *out, size_t size, size_t n)
{
    unsigned char  raw[64];

    if (n > sizeof(raw) || RAND_bytes(raw, (int) n) != 1) {
        return -1;
    }

    n = jose_b64_enc_buf(raw, n, out, size - 1);
    if (n == SIZE_MAX || n >= size) {
        return -1;
    }

    out[n] = '\0';

    return 0;
}


/* a base64url member of o, decoded into a malloc'd NUL-terminated buffer */
static int
mdm_acme_b64_member(const json_t *o, const char *name, unsigned char **out,
    size_t *len)
{
    size_t         n;
    json_t        *v;
    unsigned char *buf;

    v = json_object_get(o, name);
    if (!json_is_string(v)) {
        return -1;
    }

    /* libjose accepts base64url without padding only */
    n = jose_b64_dec(v, NULL, 0);
    if (n == SIZE_MAX) {
        return -1;
    }

    buf = malloc(n + 1);
    if (buf == NULL) {
        return -1;
    }

    if (n > 0 && jose_b64_dec(v, buf, n) != n) {
        free(buf);
        return -1;
    }

    buf[n] = '\0';
    *out = buf;
    *len = n;

    return 0;
}


int
mdm_acme_jwk_check(const json_t *jwk, mdm_acme_alg_e alg,
    mdm_acme_err_t *err)
{
    int           rc = -1, type;
    const char   *kty, *crv, *want_crv = NULL;
    EVP_PKEY     *pkey;
    static const char  *secret[] = { "d", "p", "q", "dp", "dq", "qi", "oth",
                                     "k" };

    if (!json_is_object(jwk)) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED, "jwk is not an object");
    }

    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
        if (json_object_get(jwk, secret[i]) != NULL) {
            return mdm_acme_fail(err, MDM_ACME_BAD_PUBLIC_KEY,
                                 "jwk carries private member \"%s\"",
                                 secret[i]);
        }
    }

    kty = json_string_value(json_object_get(jwk, "kty"));
    crv = json_string_value(json_object_get(jwk, "crv"));

    if (kty == NULL) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED, "jwk without kty");
    }

    switch (alg) {
    case MDM_ACME_ALG_ES256: want_crv = "P-256"; /* fall through */
    case MDM_ACME_ALG_ES384:
        if (want_crv == NULL) {
            want_crv = "P-384";
        }
        if (strcmp(kty, "EC") != 0) {
            return mdm_acme_fail(err, MDM_ACME_BAD_SIGNATURE_ALGORITHM,
                                 "%s with a %s key", mdm_acme_alg_name(alg),
                                 kty);
        }
        if (crv == NULL || strcmp(crv, want_crv) != 0) {
            return mdm_acme_fail(err, MDM_ACME_BAD_PUBLIC_KEY,
                                 "%s needs curve %s", mdm_acme_alg_name(alg),
                                 want_crv);
        }
        break;
    case MDM_ACME_ALG_RS256:
        if (strcmp(kty, "RSA") != 0) {
            return mdm_acme_fail(err, MDM_ACME_BAD_SIGNATURE_ALGORITHM,
                                 "RS256 with a %s key", kty);
        }
        break;
    default:
        return mdm_acme_fail(err, MDM_ACME_BAD_SIGNATURE_ALGORITHM,
                             "no algorithm");
    }

    pkey = jose_openssl_jwk_to_EVP_PKEY(mdm_acme_jose_cfg(), jwk);
    if (pkey == NULL) {
        return mdm_acme_fail(err, MDM_ACME_BAD_PUBLIC_KEY,
                             "jwk is not a valid %s key", kty);
    }

    type = EVP_PKEY_get_base_id(pkey);

    if (alg == MDM_ACME_ALG_RS256) {
        if (type != EVP_PKEY_RSA
            || EVP_PKEY_get_bits(pkey) < MDM_ACME_RSA_MIN_BITS)
        {
            mdm_acme_fail(err, MDM_ACME_BAD_PUBLIC_KEY,
                          "RSA key of %d bits, at least %d wanted",
                          EVP_PKEY_get_bits(pkey), MDM_ACME_RSA_MIN_BITS);
            goto done;
        }
    } else if (type != EVP_PKEY_EC) {
        mdm_acme_fail(err, MDM_ACME_BAD_PUBLIC_KEY, "jwk is not an EC key");
        goto done;
    }

    rc = 0;

done:

    EVP_PKEY_free(pkey);

    return rc;
}


int
mdm_acme_jwk_thumbprint(const json_t *jwk,
    char out[MDM_ACME_THUMBPRINT_LEN + 1])
{
    size_t   n;
    uint8_t  hash[32];

    if (jose_jwk_thp_buf(mdm_acme_jose_cfg(), jwk, "S256", hash, sizeof(hash))
        != sizeof(hash))
    {
        return -1;
    }

    n = jose_b64_enc_buf(hash, sizeof(hash), out, MDM_ACME_THUMBPRINT_LEN);
    if (n != MDM_ACME_THUMBPRINT_LEN) {
        return -1;
    }

    out[n] = '\0';

    return 0;
}


/* the protected header's members (RFC 8555 §6.2) */
static int
mdm_acme_jws_header(mdm_acme_jws_t *jws, const char *url,
    mdm_acme_err_t *err)
{
    json_t      *h = jws->header, *kid, *jwk, *alg;
    const char  *nonce;

    alg = json_object_get(h, "alg");
    if (!json_is_string(alg)) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "protected header without alg");
    }

    jws->alg = mdm_acme_alg_of(json_string_value(alg));
    if (jws->alg == MDM_ACME_ALG_NONE) {
        return mdm_acme_fail(err, MDM_ACME_BAD_SIGNATURE_ALGORITHM,
                             "algorithm \"%.32s\" not allowed",
                             json_string_value(alg));
    }

    kid = json_object_get(h, "kid");
    jwk = json_object_get(h, "jwk");

    if ((kid == NULL) == (jwk == NULL)) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "protected header needs exactly one of jwk "
                             "and kid");
    }

    if (kid != NULL) {
        if (!json_is_string(kid) || json_string_length(kid) == 0) {
            return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                                 "kid is not a string");
        }
        jws->kid = json_string_value(kid);
    } else {
        if (mdm_acme_jwk_check(jwk, jws->alg, err) != 0) {
            return -1;
        }
        jws->jwk = jwk;
    }

    nonce = json_string_value(json_object_get(h, "nonce"));
    if (nonce == NULL
        || !mdm_acme_b64url_ok(nonce, strlen(nonce), MDM_ACME_NONCE_MAX))
    {
        return mdm_acme_fail(err, MDM_ACME_BAD_NONCE,
                             "protected header without a valid nonce");
    }
    jws->nonce = nonce;

    jws->url = json_string_value(json_object_get(h, "url"));
    if (jws->url == NULL) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "protected header without url");
    }

    if (strcmp(jws->url, url) != 0) {
        return mdm_acme_fail(err, MDM_ACME_UNAUTHORIZED,
                             "JWS is for another URL");
    }

    return 0;
}


int
mdm_acme_jws_parse(const char *body, size_t len, const char *url,
    mdm_acme_jws_t *jws, mdm_acme_err_t *err)
{
    size_t          hlen;
    json_error_t    jerr;
    unsigned char  *hdr = NULL;

    memset(jws, 0, sizeof(*jws));

    if (len == 0 || len > MDM_ACME_BODY_MAX) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "body of %zu bytes", len);
    }

    jws->body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(jws->body)) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED, "body is not a JSON "
                             "object");
    }

    if (json_object_get(jws->body, "signatures") != NULL
        || json_object_get(jws->body, "header") != NULL)
    {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED, "only the flattened "
                             "JWS serialization without unprotected header "
                             "is accepted");
    }

    if (!json_is_string(json_object_get(jws->body, "signature"))
        || !json_is_string(json_object_get(jws->body, "payload")))
    {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "JWS without payload or signature");
    }

    if (mdm_acme_b64_member(jws->body, "protected", &hdr, &hlen) != 0) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "protected header is not base64url");
    }

    jws->header = json_loadb((char *) hdr, hlen, JSON_REJECT_DUPLICATES,
                             &jerr);
    free(hdr);

    if (!json_is_object(jws->header)) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "protected header is not a JSON object");
    }

    if (mdm_acme_jws_header(jws, url, err) != 0) {
        return -1;
    }

    if (mdm_acme_b64_member(jws->body, "payload", &jws->payload,
                            &jws->payload_len)
        != 0)
    {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "payload is not base64url");
    }

    if (jws->payload_len > 0) {
        jws->payload_json = json_loadb((char *) jws->payload,
                                       jws->payload_len,
                                       JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(jws->payload_json)) {
            return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                                 "payload is not a JSON object");
        }
    }

    return 0;
}


int
mdm_acme_jws_verify(const mdm_acme_jws_t *jws, const json_t *jwk,
    mdm_acme_err_t *err)
{
    if (jws->jwk == NULL && mdm_acme_jwk_check(jwk, jws->alg, err) != 0) {
        return -1;
    }

    if (!jose_jws_ver(mdm_acme_jose_cfg(), jws->body, NULL, jwk, false)) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "JWS signature does not verify");
    }

    return 0;
}


void
mdm_acme_jws_free(mdm_acme_jws_t *jws)
{
    json_decref(jws->payload_json);
    free(jws->payload);
    json_decref(jws->header);
    json_decref(jws->body);
    memset(jws, 0, sizeof(*jws));
}
