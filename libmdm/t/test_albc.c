/*
 * Activation Lock bypass codes against the published vector (services.md
 * §8.1): the human form, the escrow hash, and the decoder's refusals.
 */

#include <stdio.h>
#include <string.h>

#include "tap.h"

#include "mdm_hex.h"
#include "albc/mdm_albc.h"


int
main(void)
{
    int            i, round;
    char           code[MDM_ALBC_CODE_LEN + 1], hash[MDM_ALBC_HASH_LEN + 1];
    char           hex[33];
    unsigned char  raw[MDM_ALBC_RAW_LEN], back[MDM_ALBC_RAW_LEN];
    static const unsigned char  vector[MDM_ALBC_RAW_LEN] = {
        0x1e, 0xa8, 0x41, 0xdb, 0x5e, 0xdf, 0xaf, 0xe6,
        0x07, 0x5b, 0x5a, 0xe0, 0xd8, 0x45, 0xd2, 0x54
    };

    mdm_albc_encode(vector, code);
    is_str(code, "3UM43-PUYVY-QYD1-UVCC-HEHJ-FKA4", "the vector's human form");

    ok(mdm_albc_hash(vector, hash) == 0, "hashed");
    ok(strncmp(hash, "6ab40d5e", 8) == 0
       && strcmp(hash + 58, "0014b5") == 0 && strlen(hash) == 64,
       "the vector's escrow hash (6ab40d5e...0014b5): %s", hash);

    ok(mdm_albc_decode(code, strlen(code), back) == 0
       && memcmp(back, vector, sizeof(back)) == 0, "decoded back");
    ok(mdm_albc_decode("3um43puyvyqyd1uvcchehjfka4", 26, back) == 0
       && memcmp(back, vector, sizeof(back)) == 0,
       "without dashes, in lower case");

    ok(mdm_albc_decode("3UM43-PUYVY-QYD1-UVCC-HEHJ-FKA", 30, back) != 0,
       "refused: a symbol short");
    ok(mdm_albc_decode("3UM43-PUYVY-QYD1-UVCC-HEHJ-FKA44", 32, back) != 0,
       "refused: a symbol too many");
    ok(mdm_albc_decode("3UM43-PUYVY-QYD1-UVCC-HEHJ-FKAB", 31, back) != 0,
       "refused: B is not in the alphabet");
    ok(mdm_albc_decode("3UM43-PUYVY-QYD1-UVCC-HEHJ-FKA9", 31, back) != 0,
       "refused: a last symbol over 3 bits");
    ok(mdm_albc_decode("3UM43-PUYVY-QY\0" "1-UVCC-HEHJ-FKA4", 31, back) != 0,
       "refused: a NUL inside");

    for (round = 0, i = 0; round < 200; round++) {
        ok(round > 0 || mdm_albc_generate(raw) == 0, "generated");
        mdm_albc_generate(raw);
        mdm_albc_encode(raw, code);
        i += strlen(code) == MDM_ALBC_CODE_LEN
             && mdm_albc_decode(code, strlen(code), back) == 0
             && memcmp(back, raw, sizeof(raw)) == 0;
    }

    is_int(i, 200, "200 random codes encode and decode to their bytes");
    mdm_hex_encode(raw, sizeof(raw), hex);
    diag("last: %s %s", hex, code);

    return done_testing();
}
