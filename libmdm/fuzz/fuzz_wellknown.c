/*
 * libFuzzer target for the user-identifier of account-driven discovery
 * (mdm_wellknown_domain, then the rule match with a model family from the
 * first byte): an accepted domain is lowercase letters, digits, '-' and
 * '.', no longer than what came in, and a match is one of the rules.
 * Built by `make fuzz` from the repository root.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/mdm_wellknown.h"
#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                         d[256];
    size_t                       i, n;
    unsigned                     family;
    const mdm_wellknown_rule_t  *m;
    static const mdm_wellknown_rule_t  rules[] = {
        { "example.com", "mdm-adde", "https://mdm.example.com/a", 0x08 },
        { "*", "mdm-byod", "https://mdm.example.com/b", 0x04 },
    };

    if (size == 0) {
        return 0;
    }

    /* 0..5: one family's bit, else none */
    family = data[0] < MDM_WELLKNOWN_FAMILIES ? 1u << data[0] : 0;

    if (mdm_wellknown_domain((const char *) data + 1, size - 1, d,
                             sizeof(d)) != 0)
    {
        return 0;
    }

    n = strlen(d);
    fuzz_assert(n > 0 && n < size);
    for (i = 0; i < n; i++) {
        fuzz_assert((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= '0' && d[i] <= '9')
                    || d[i] == '-' || d[i] == '.');
    }

    m = mdm_wellknown_match(rules, 2, d, family);
    fuzz_assert(m == NULL || m == &rules[0] || m == &rules[1]);

    return 0;
}
