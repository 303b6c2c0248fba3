/*
 * One EVP cipher context per call: sealing happens when a token is stored
 * or loaded, not per request.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mdm_base64.h"
#include "mdm_dep_seal.h"

#define PREFIX   "v1:"
#define IV_LEN   12
#define TAG_LEN  16


static int
hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}


int
mdm_dep_seal_key_hex(const char *hex, unsigned char key[MDM_DEP_SEAL_KEY_LEN])
{
    size_t  i;
    int     hi, lo;

    if (hex == NULL || strlen(hex) != 2 * MDM_DEP_SEAL_KEY_LEN) {
        return -1;
    }
    for (i = 0; i < MDM_DEP_SEAL_KEY_LEN; i++) {
        hi = hexval(hex[2 * i]);
        lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        key[i] = (unsigned char) (hi << 4 | lo);
    }
    return 0;
}


char *
mdm_dep_seal(const unsigned char key[MDM_DEP_SEAL_KEY_LEN],
    const char *context, const void *plain, size_t len)
{
    EVP_CIPHER_CTX  *c;
    unsigned char   *raw = NULL;
    char            *out = NULL;
    int              n, m, ok;

    if (len > MDM_DEP_SEAL_MAX
        || (raw = malloc(IV_LEN + len + TAG_LEN)) == NULL
        || (c = EVP_CIPHER_CTX_new()) == NULL)
    {
        free(raw);
        return NULL;
    }
    ok = RAND_bytes(raw, IV_LEN) == 1
         && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, raw) == 1
         && EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *) context,
                              (int) strlen(context)) == 1
         && EVP_EncryptUpdate(c, raw + IV_LEN, &n, plain, (int) len) == 1
         && EVP_EncryptFinal_ex(c, raw + IV_LEN + n, &m) == 1
         && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
                                raw + IV_LEN + len) == 1;
    EVP_CIPHER_CTX_free(c);
    if (ok) {
        n = (int) (IV_LEN + len + TAG_LEN);
        out = malloc(sizeof(PREFIX) + (size_t) (n + 2) / 3 * 4 + 1);
        if (out != NULL) {
            memcpy(out, PREFIX, sizeof(PREFIX) - 1);
            EVP_EncodeBlock((unsigned char *) out + sizeof(PREFIX) - 1, raw, n);
        }
    }
    OPENSSL_cleanse(raw, IV_LEN + len + TAG_LEN);
    free(raw);
    return out;
}


unsigned char *
mdm_dep_unseal(const unsigned char key[MDM_DEP_SEAL_KEY_LEN],
    const char *context, const char *sealed, size_t sealed_len,
    size_t *out_len)
{
    EVP_CIPHER_CTX  *c;
    unsigned char   *raw, *plain = NULL;
    long             n;
    int              m, k, ok;
    size_t           b64 = sealed_len - (sizeof(PREFIX) - 1);

    if (sealed_len < sizeof(PREFIX) - 1
        || memcmp(sealed, PREFIX, sizeof(PREFIX) - 1) != 0
        || b64 > MDM_DEP_SEAL_MAX * 2
        || (raw = malloc(b64 / 4 * 3 + 3)) == NULL)
    {
        return NULL;
    }
    n = mdm_base64_decode(sealed + sizeof(PREFIX) - 1, b64, raw, 0);
    if (n < IV_LEN + TAG_LEN || (c = EVP_CIPHER_CTX_new()) == NULL) {
        free(raw);
        return NULL;
    }
    m = (int) (n - IV_LEN - TAG_LEN);
    plain = malloc((size_t) m + 1);
    ok = plain != NULL
         && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, raw) == 1
         && EVP_DecryptUpdate(c, NULL, &k, (const unsigned char *) context,
                              (int) strlen(context)) == 1
         && EVP_DecryptUpdate(c, plain, &k, raw + IV_LEN, m) == 1
         && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
                                raw + IV_LEN + m) == 1
         && EVP_DecryptFinal_ex(c, plain + k, &k) == 1;
    EVP_CIPHER_CTX_free(c);
    free(raw);
    if (!ok) {
        if (plain != NULL) {
            OPENSSL_cleanse(plain, (size_t) m);
        }
        free(plain);
        return NULL;
    }
    plain[m] = '\0';
    *out_len = (size_t) m;
    return plain;
}
