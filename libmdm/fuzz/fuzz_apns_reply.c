/*
 * libFuzzer target for the worker's reading of an APNs answer: the first
 * two bytes are the HTTP status (mod 1000), the rest the JSON error body
 * as the worker keeps it (truncated to its buffer). The outcome is one of
 * the known ones and the reason a NUL-terminated string.
 */

#include "fuzz.h"
#include "apns.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wk_apns_req_t      req;
    wk_apns_outcome_t  out;

    if (size < 2) {
        return 0;
    }

    memset(&req, 0, sizeof(req));
    req.status = ((data[0] << 8) | data[1]) % 1000;
    req.resp_len = size - 2 < sizeof(req.resp) ? size - 2 : sizeof(req.resp);
    memcpy(req.resp, data + 2, req.resp_len);

    out = wk_apns_reply_outcome(&req);

    fuzz_assert(out >= WK_APNS_OK && out <= WK_APNS_FORBIDDEN);
    fuzz_assert(memchr(req.reason, '\0', sizeof(req.reason)) != NULL);
    fuzz_assert((out == WK_APNS_OK) == (req.status == 200));
    return 0;
}
