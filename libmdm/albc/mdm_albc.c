/*
 * Activation Lock bypass codes: the 5-bit symbol form and the escrow hash.
 */

#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mdm_hex.h"
#include "albc/mdm_albc.h"


static const char  mdm_albc_alphabet[] = "0123456789ACDEFGHJKLMNPQRTUVWXYZ";


int
mdm_albc_generate(unsigned char raw[MDM_ALBC_RAW_LEN])
{
    return RAND_bytes(raw, MDM_ALBC_RAW_LEN) == 1 ? 0 : -1;
}


/* bit i of raw, most significant first */
static unsigned
mdm_albc_bit(const unsigned char *raw, unsigned i)
{
    return (raw[i / 8] >> (7 - i % 8)) & 1;
}


void
mdm_albc_encode(const unsigned char raw[MDM_ALBC_RAW_LEN],
    char code[MDM_ALBC_CODE_LEN + 1])
{
    char      *p;
    unsigned   s, b, v, width;

    p = code;

    /* 25 symbols of 5 bits, then the 3 bits left over as a number */
    for (s = 0; s < 26; s++) {
        width = (s < 25) ? 5 : 3;
        v = 0;

        for (b = 0; b < width; b++) {
            v = (v << 1) | mdm_albc_bit(raw, s * 5 + b);
        }

        *p++ = mdm_albc_alphabet[v];

        if (s == 4 || s == 9 || s == 13 || s == 17 || s == 21) {
            *p++ = '-';
        }
    }

    *p = '\0';
}


int
mdm_albc_decode(const char *code, size_t len,
    unsigned char raw[MDM_ALBC_RAW_LEN])
{
    char         c;
    size_t       i;
    unsigned     n, v, b, width, bit;
    const char  *at;

    memset(raw, 0, MDM_ALBC_RAW_LEN);
    n = 0;
    bit = 0;

    for (i = 0; i < len; i++) {
        c = code[i];

        if (c == '-') {
            continue;
        }

        if (c >= 'a' && c <= 'z') {
            c = (char) (c - 'a' + 'A');
        }

        at = (c != '\0') ? strchr(mdm_albc_alphabet, c) : NULL;

        if (at == NULL || n == 26) {
            return -1;
        }

        v = (unsigned) (at - mdm_albc_alphabet);
        width = (n < 25) ? 5 : 3;

        if (width == 3 && v > 7) {
            return -1;                  /* more than the 3 bits left */
        }

        for (b = 0; b < width; b++, bit++) {
            if ((v >> (width - 1 - b)) & 1) {
                raw[bit / 8] |= (unsigned char) (0x80 >> (bit % 8));
            }
        }

        n++;
    }

    return n == 26 ? 0 : -1;
}


int
mdm_albc_hash(const unsigned char raw[MDM_ALBC_RAW_LEN],
    char hash[MDM_ALBC_HASH_LEN + 1])
{
    unsigned char        out[32];
    static const unsigned char  salt[4] = { 0, 0, 0, 0 };

    if (PKCS5_PBKDF2_HMAC((const char *) raw, MDM_ALBC_RAW_LEN, salt,
                          sizeof(salt), 50000, EVP_sha256(), sizeof(out),
                          out) != 1)
    {
        return -1;
    }

    mdm_hex_encode(out, sizeof(out), hash);

    return 0;
}
