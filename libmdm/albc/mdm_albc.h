#ifndef MDM_ALBC_H
#define MDM_ALBC_H

/*
 * Activation Lock bypass codes (services.md §8.1): 16 random bytes; the
 * human form people type (and escrowKeyUnlock takes) is the bytes as 5-bit
 * symbols, most significant first, over 0123456789ACDEFGHJKLMNPQRTUVWXYZ,
 * the 3 bits left over as a 26th symbol, dashes after symbols 5, 10, 14,
 * 18 and 22: XXXXX-XXXXX-XXXX-XXXX-XXXX-XXXX. What Device Assignment's
 * escrow_key takes is the hash: hex of PBKDF2-HMAC-SHA256 over the 16 bytes
 * with 4 zero bytes of salt, 50 000 iterations, 32 bytes.
 */

#include <stddef.h>

#define MDM_ALBC_RAW_LEN    16
#define MDM_ALBC_CODE_LEN   31          /* 26 symbols and 5 dashes */
#define MDM_ALBC_HASH_LEN   64          /* hex */

/* 16 random bytes; 0, or -1 when the random generator fails. */
int mdm_albc_generate(unsigned char raw[MDM_ALBC_RAW_LEN]);

/* The human form of raw, NUL-terminated. */
void mdm_albc_encode(const unsigned char raw[MDM_ALBC_RAW_LEN],
    char code[MDM_ALBC_CODE_LEN + 1]);

/* The bytes of a human form (dashes optional, either case); 0, or -1 when
 * it is not one. */
int mdm_albc_decode(const char *code, size_t len,
    unsigned char raw[MDM_ALBC_RAW_LEN]);

/* The escrow hash of raw, hex and NUL-terminated; 0 or -1. */
int mdm_albc_hash(const unsigned char raw[MDM_ALBC_RAW_LEN],
    char hash[MDM_ALBC_HASH_LEN + 1]);

#endif
