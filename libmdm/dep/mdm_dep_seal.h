#ifndef MDM_DEP_SEAL_H
#define MDM_DEP_SEAL_H

/*
 * Secrets at rest in Redis (the server token's OAuth secrets, the token
 * PKI's private key): AES-256-GCM under a 32-byte key from the worker's
 * configuration, with a context (e.g. "dep-token:<name>") as additional
 * data, so a sealed value copied to another key does not open. The text
 * form is "v1:" + base64(12-byte nonce || ciphertext || 16-byte tag).
 */

#include <stddef.h>

#define MDM_DEP_SEAL_KEY_LEN  32
#define MDM_DEP_SEAL_MAX      (1024 * 1024)

/* 64 hex digits into key; 0 or -1. */
int mdm_dep_seal_key_hex(const char *hex, unsigned char key[MDM_DEP_SEAL_KEY_LEN]);

/* The sealed text of len bytes of plain, malloc'd and NUL-terminated, or
 * NULL (no memory, over MDM_DEP_SEAL_MAX). */
char *mdm_dep_seal(const unsigned char key[MDM_DEP_SEAL_KEY_LEN],
    const char *context, const void *plain, size_t len);

/* The plain bytes of a sealed text, malloc'd with a NUL after them and
 * their length in *out_len, or NULL when the text is malformed, was sealed
 * under another key or context, or was altered. */
unsigned char *mdm_dep_unseal(const unsigned char key[MDM_DEP_SEAL_KEY_LEN],
    const char *context, const char *sealed, size_t sealed_len,
    size_t *out_len);

#endif
