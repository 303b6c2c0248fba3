/*
 * libFuzzer target for the bypass code reader (what mdm-worker runs on a
 * device's ActivationLockBypassCode result): mdm_albc_decode, and for a
 * code it takes, the round trip through mdm_albc_encode. Built by
 * `make fuzz`.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "albc/mdm_albc.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           code[MDM_ALBC_CODE_LEN + 1];
    unsigned char  raw[MDM_ALBC_RAW_LEN], again[MDM_ALBC_RAW_LEN];

    if (mdm_albc_decode((const char *) data, size, raw) != 0) {
        return 0;
    }

    /* a code taken is 26 symbols: its canonical form reads the same bytes */
    mdm_albc_encode(raw, code);
    fuzz_assert(strlen(code) == MDM_ALBC_CODE_LEN);
    fuzz_assert(mdm_albc_decode(code, strlen(code), again) == 0);
    fuzz_assert(memcmp(raw, again, sizeof(raw)) == 0);

    return 0;
}
