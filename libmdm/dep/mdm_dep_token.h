#ifndef MDM_DEP_TOKEN_H
#define MDM_DEP_TOKEN_H

/*
 * The server token of the Device Assignment service (services.md 5.1): the
 * `.p7m` an admin downloads from Apple Business/School Manager is S/MIME
 * (MIME headers, blank line, base64 of a CMS EnvelopedData to the MDM's
 * certificate). Decrypted, it is a MIME text whose body holds, between
 * `-----BEGIN MESSAGE-----` and `-----END MESSAGE-----`, the JSON
 * {consumer_key, consumer_secret, access_token, access_secret,
 * access_token_expiry}. Also the token PKI: the key pair and self-signed
 * certificate the admin uploads.
 */

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mdm_plist.h"

#define MDM_DEP_TOKEN_MAX       (64 * 1024)   /* a .p7m is about 4 KiB */
#define MDM_DEP_TOKEN_FIELD_MAX 255

typedef struct {
    char     consumer_key[MDM_DEP_TOKEN_FIELD_MAX + 1];
    char     consumer_secret[MDM_DEP_TOKEN_FIELD_MAX + 1];
    char     access_token[MDM_DEP_TOKEN_FIELD_MAX + 1];
    char     access_secret[MDM_DEP_TOKEN_FIELD_MAX + 1];
    int64_t  expiry;                 /* unix seconds */
    char     expiry_text[32];        /* as Apple wrote it */
} mdm_dep_token_t;

/*
 * Decrypts a .p7m with the MDM's key and certificate and parses the tokens.
 * Refused: more than MDM_DEP_TOKEN_MAX bytes, anything that is not S/MIME
 * CMS EnvelopedData, a .p7m for another key, no MESSAGE block, JSON that is
 * not an object of the five strings (each 1..255 printable characters) or
 * an expiry that is not RFC 3339. MDM_OK or MDM_ERROR with err.
 */
int mdm_dep_token_decrypt(const char *p7m, size_t len, EVP_PKEY *key,
    X509 *cert, mdm_dep_token_t *tok, mdm_err_t *err);

/* The second half alone: the decrypted text to the tokens. */
int mdm_dep_token_unwrap(const char *text, size_t len, mdm_dep_token_t *tok,
    mdm_err_t *err);

/* The JSON alone (as stored, sealed, in Redis). */
int mdm_dep_token_parse_json(const char *json, size_t len,
    mdm_dep_token_t *tok, mdm_err_t *err);

/* The tokens as JSON, malloc'd (NULL on no memory). */
char *mdm_dep_token_to_json(const mdm_dep_token_t *tok);

/* Wipes the secrets. */
void mdm_dep_token_clear(mdm_dep_token_t *tok);

/*
 * The token PKI: an RSA-2048 key and a self-signed certificate (CN cn,
 * keyEncipherment + digitalSignature, `days` days) as PEM, malloc'd.
 * 0 or -1.
 */
int mdm_dep_tokenpki_make(const char *cn, int days, char **cert_pem,
    char **key_pem);

#endif
