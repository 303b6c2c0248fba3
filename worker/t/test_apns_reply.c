/*
 * APNs response classification (protocol.md §5, docs/worker.md
 * "Outcomes") without a connection: status + error body -> outcome,
 * reason and timestamp.
 */

#include <string.h>

#include "apns.h"
#include "tap.h"


static wk_apns_outcome_t
answer(wk_apns_req_t *req, int status, const char *body)
{
    memset(req, 0, sizeof(*req));
    req->status = status;
    req->resp_len = strlen(body);
    memcpy(req->resp, body, req->resp_len);
    return wk_apns_reply_outcome(req);
}


static void
test_table(void)
{
    static const struct {
        int                 status;
        const char         *reason;
        wk_apns_outcome_t   want;
        const char         *why;
    } cases[] = {
        { 200, NULL, WK_APNS_OK, "200 is delivered" },
        { 410, "Unregistered", WK_APNS_DEAD_TOKEN,
          "410 Unregistered: the token is dead" },
        { 410, "ExpiredToken", WK_APNS_DEAD_TOKEN,
          "410 ExpiredToken: the token is dead" },
        { 410, "SomethingNew", WK_APNS_REJECTED,
          "410 with an unknown reason keeps the token" },
        { 400, "BadDeviceToken", WK_APNS_DEAD_TOKEN,
          "400 BadDeviceToken: the token is dead" },
        { 400, "DeviceTokenNotForTopic", WK_APNS_DEAD_TOKEN,
          "400 DeviceTokenNotForTopic: the token is dead" },
        { 400, "BadTopic", WK_APNS_REJECTED,
          "another 400 is rejected, not retried" },
        { 403, "BadCertificate", WK_APNS_FORBIDDEN,
          "403 stops the topic" },
        { 404, "BadPath", WK_APNS_REJECTED, "404 is rejected" },
        { 405, "MethodNotAllowed", WK_APNS_REJECTED, "405 is rejected" },
        { 413, "PayloadTooLarge", WK_APNS_REJECTED, "413 is rejected" },
        { 429, "TooManyRequests", WK_APNS_RETRY, "429 is retried" },
        { 500, "InternalServerError", WK_APNS_RETRY, "500 is retried" },
        { 503, "ServiceUnavailable", WK_APNS_RETRY, "503 is retried" },
        { 502, "BadGateway", WK_APNS_REJECTED,
          "a status APNs does not document is rejected" },
    };
    wk_apns_req_t req;
    char body[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].reason) {
            snprintf(body, sizeof(body), "{\"reason\":\"%s\"}",
                     cases[i].reason);
        } else {
            body[0] = '\0';
        }
        is_int(answer(&req, cases[i].status, body), cases[i].want, "%s",
               cases[i].why);
        if (cases[i].reason) {
            is_str(req.reason, cases[i].reason, "... reason %s read",
                   cases[i].reason);
        }
    }
}


static void
test_bodies(void)
{
    wk_apns_req_t req;

    answer(&req, 410, "{\"reason\":\"Unregistered\","
                      "\"timestamp\":1764471600123}");
    is_int(req.timestamp, 1764471600123LL, "a 410's timestamp is read");

    is_int(answer(&req, 400, "not json"), WK_APNS_REJECTED,
           "a body that is not JSON: a 400 without reason is rejected");
    is_str(req.reason, "", "... with an empty reason");

    is_int(answer(&req, 410, "{\"reason\":\"Unreg"), WK_APNS_REJECTED,
           "a truncated body keeps the token");

    is_int(answer(&req, 410, "{\"reason\":42}"), WK_APNS_REJECTED,
           "a reason that is not a string is none");

    char reason[151], body[256];
    memset(reason, 'R', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"reason\":\"%s\"}", reason);
    answer(&req, 400, body);
    ok(strlen(req.reason) == sizeof(req.reason) - 1,
       "a reason longer than its buffer is cut, NUL-terminated");
}


int
main(void)
{
    test_table();
    test_bodies();
    return done_testing();
}
