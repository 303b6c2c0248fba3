/*
 * libFuzzer target for the worker's reading of an APNs GOAWAY frame's
 * debug data (worker/apns.c): APNs's bytes, the JSON of an error response
 * when it says why. The log copy is printable ASCII and terminated, the
 * reason terminated, and only a 403 reason stops the topic.
 */

#include "fuzz.h"
#include "apns.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               forbidden;
    size_t            i;
    wk_apns_goaway_t  why;

    forbidden = wk_apns_goaway_parse(size ? data : NULL, size, &why);

    fuzz_assert(memchr(why.reason, '\0', sizeof(why.reason)) != NULL);
    fuzz_assert(memchr(why.debug, '\0', sizeof(why.debug)) != NULL);
    for (i = 0; why.debug[i]; i++) {
        fuzz_assert(why.debug[i] >= 0x20 && why.debug[i] < 0x7f);
    }
    fuzz_assert(strlen(why.debug) == (size < sizeof(why.debug) - 1
                                      ? size : sizeof(why.debug) - 1));
    fuzz_assert(forbidden == (strcmp(why.reason, "BadCertificate") == 0
                || strcmp(why.reason, "BadCertificateEnvironment") == 0
                || strcmp(why.reason, "Forbidden") == 0));
    return 0;
}
