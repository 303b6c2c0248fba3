/*
 * The Apps and Books token and reply readers (libmdm/vpp/) on Apple's
 * documented bodies (services.md §7.2–7.4) and on what must be refused.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "vpp/mdm_vpp_reply.h"
#include "vpp/mdm_vpp_token.h"
#include "tap.h"


static char *
b64(const char *s)
{
    size_t  n = strlen(s);
    char   *out = malloc(n / 3 * 4 + 8);

    EVP_EncodeBlock((unsigned char *) out, (const unsigned char *) s, (int) n);
    return out;
}


static int
token_refused(const char *json, const char *why)
{
    char             *file = b64(json);
    mdm_vpp_token_t   t;
    mdm_err_t         err;
    int               rc = mdm_vpp_token_parse(file, strlen(file), &t, &err);

    free(file);
    if (rc == MDM_OK) {
        mdm_vpp_token_free(&t);
        return 0;
    }
    if (why != NULL && strstr(err.msg, why) == NULL) {
        diag("message '%s' lacks '%s'", err.msg, why);
        return 0;
    }
    return 1;
}


static void
test_token(void)
{
    const char       *json = "{\"token\":\"VGhpcyBpcyBub3Q=\",\"expDate\":"
                             "\"2027-04-10T16:45:00+0000\",\"orgName\":\"Example School\"}";
    char             *file = b64(json), *wrapped;
    mdm_vpp_token_t   t;
    mdm_err_t         err;
    size_t            n = strlen(file);

    ok(mdm_vpp_token_parse(file, n, &t, &err) == MDM_OK, "a .vpptoken parses");
    is_str(t.token, "VGhpcyBpcyBub3Q=", "token");
    is_str(t.org_name, "Example School", "orgName");
    is_str(t.exp_date, "2027-04-10T16:45:00+0000", "expDate as written");
    is_int(t.expires, 1807375500, "expDate in unix seconds");
    is_str(t.stoken, file, "the Bearer value is the file content");
    mdm_vpp_token_free(&t);

    /* a pasted file with line breaks and a trailing newline */
    wrapped = malloc(n + 8);
    if (wrapped == NULL) {
        ok(0, "malloc");
        free(file);
        return;
    }
    snprintf(wrapped, n + 8, "%.10s\r\n%s\n", file, file + 10);
    ok(mdm_vpp_token_parse(wrapped, strlen(wrapped), &t, &err) == MDM_OK,
       "line breaks in the file are dropped");
    is_str(t.stoken, file, "... also from the Bearer value");
    mdm_vpp_token_free(&t);
    free(wrapped);
    free(file);

    ok(mdm_vpp_token_parse("", 0, &t, &err) == MDM_ERROR && err.reason == MDM_REFUSED_EMPTY,
       "an empty file: refused, empty");
    ok(mdm_vpp_token_parse("!!!!", 4, &t, &err) == MDM_ERROR
       && err.reason == MDM_REFUSED_MALFORMED, "not base64: malformed");
    ok(token_refused("[1,2]", "JSON object"), "base64 of an array");
    ok(token_refused("{\"token\":\"x\",\"expDate\":\"2027-04-10T16:45:00+0000\"}", "orgName"),
       "no orgName");
    ok(token_refused("{\"token\":1,\"expDate\":\"2027-04-10T16:45:00+0000\",\"orgName\":\"o\"}",
                     "token must be a string"), "a numeric token");
    ok(token_refused("{\"token\":\"\",\"expDate\":\"2027-04-10T16:45:00+0000\",\"orgName\":\"o\"}",
                     NULL), "an empty token");
    ok(token_refused("{\"token\":\"x\",\"expDate\":\"next year\",\"orgName\":\"o\"}", "expDate"),
       "an expDate that is no date");
    ok(token_refused("{\"token\":\"x\",\"token\":\"y\",\"expDate\":\"2027-04-10T16:45:00+0000\","
                     "\"orgName\":\"o\"}", NULL), "a duplicated key");
    ok(token_refused("{\"token\":\"a\\u0000b\",\"expDate\":\"2027-04-10T16:45:00+0000\","
                     "\"orgName\":\"o\"}", NULL), "a NUL inside the token");
    {
        char *big = malloc(MDM_VPP_TOKEN_MAX_FILE + 2);

        memset(big, 'A', MDM_VPP_TOKEN_MAX_FILE + 1);
        big[MDM_VPP_TOKEN_MAX_FILE + 1] = '\0';
        ok(mdm_vpp_token_parse(big, MDM_VPP_TOKEN_MAX_FILE + 1, &t, &err) == MDM_ERROR
           && err.reason == MDM_REFUSED_TOO_LARGE, "an oversized file: too large");
        free(big);
    }

    is_int(mdm_vpp_date_parse("2027-04-10T16:45:00Z"), 1807375500, "a Z date");
    is_int(mdm_vpp_date_parse("2027-04-10T18:45:00+02:00"), 1807375500, "an offset with a colon");
    is_int(mdm_vpp_date_parse("2027-04-10T16:45:00.123Z"), 1807375500, "fractional seconds");
    is_int(mdm_vpp_date_parse("2027-13-10T16:45:00Z"), -1, "month 13");
    is_int(mdm_vpp_date_parse("2027-04-10T16:45:00"), -1, "no zone");
    is_int(mdm_vpp_date_parse("2027-04-10T16:45:00Zjunk"), -1, "trailing bytes");
}


static int
parse(const char *body, mdm_vpp_reply_t *r, mdm_err_t *err)
{
    return mdm_vpp_reply_parse(body, strlen(body), r, err);
}


static void
test_assets(void)
{
    /* shaped after Apple's Get Assets example (DM/get-assets-4ski1) */
    const char *body =
        "{\"assets\":[{\"adamId\":\"361309726\",\"assignedCount\":2,\"availableCount\":8,"
        "\"deviceAssignable\":true,\"pricingParam\":\"STDQ\",\"productType\":\"App\","
        "\"retiredCount\":0,\"revocable\":true,\"supportedPlatforms\":[\"iOS\",\"macOS\","
        "\"someday\"],\"totalCount\":10},{\"adamId\":\"408709785\",\"pricingParam\":\"PLUS\"}],"
        "\"currentPageIndex\":0,\"size\":2,\"totalPages\":3,\"versionId\":\"3\","
        "\"tokenExpirationDate\":\"2027-04-10T16:45:00+0000\",\"uId\":\"2049025000431439\"}";
    mdm_vpp_reply_t  r;
    mdm_vpp_asset_t  a;
    mdm_err_t        err;
    json_t          *items;

    ok(parse(body, &r, &err) == MDM_OK, "a Get Assets reply parses");
    is_int(r.error_number, 0, "no errorNumber");
    is_int(r.current_page, 0, "currentPageIndex");
    is_int(r.total_pages, 3, "totalPages");
    is_int(r.next_page, 1, "a next page follows from totalPages without nextPageIndex");
    is_str(r.version_id, "3", "versionId");
    is_str(r.uid, "2049025000431439", "uId");
    is_str(r.token_expiration, "2027-04-10T16:45:00+0000", "tokenExpirationDate");
    ok(mdm_vpp_items(r.root, "assets", &items, &err) == MDM_OK && json_array_size(items) == 2,
       "two assets");
    ok(mdm_vpp_asset_of(json_array_get(items, 0), &a, &err) == MDM_OK, "the first reads");
    is_str(a.adam_id, "361309726", "adamId");
    is_str(a.pricing, "STDQ", "pricingParam");
    is_str(a.product_type, "App", "productType");
    ok(a.total == 10 && a.assigned == 2 && a.available == 8 && a.retired == 0, "counts");
    ok(a.device_assignable && a.revocable, "deviceAssignable, revocable");
    is_int(a.platforms, MDM_VPP_PLATFORM_IOS | MDM_VPP_PLATFORM_MACOS,
           "platforms: the known ones");
    ok(mdm_vpp_asset_of(json_array_get(items, 1), &a, &err) == MDM_OK
       && strcmp(a.pricing, "PLUS") == 0 && !a.device_assignable, "absent fields default");
    mdm_vpp_reply_free(&r);

    ok(parse("{\"assets\":[{\"adamId\":361309726}]}", &r, &err) == MDM_OK
       && mdm_vpp_items(r.root, "assets", &items, &err) == MDM_OK
       && mdm_vpp_asset_of(json_array_get(items, 0), &a, &err) == MDM_ERROR
       && err.reason == MDM_REFUSED_WRONG_TYPE, "a numeric adamId: wrong type");
    mdm_vpp_reply_free(&r);
    ok(parse("{\"assets\":[{\"adamId\":\"12ab\"}]}", &r, &err) == MDM_OK
       && mdm_vpp_asset_of(json_array_get(json_object_get(r.root, "assets"), 0), &a, &err)
          == MDM_ERROR, "an adamId with letters (it would go into a key)");
    mdm_vpp_reply_free(&r);
    ok(parse("{\"assets\":[{\"adamId\":\"1\",\"pricingParam\":\"FREE\"}]}", &r, &err) == MDM_OK
       && mdm_vpp_asset_of(json_array_get(json_object_get(r.root, "assets"), 0), &a, &err)
          == MDM_ERROR, "an unknown pricingParam");
    mdm_vpp_reply_free(&r);
    ok(parse("{\"assets\":{}}", &r, &err) == MDM_OK
       && mdm_vpp_items(r.root, "assets", &items, &err) == MDM_ERROR, "assets not an array");
    mdm_vpp_reply_free(&r);
    ok(parse("{\"assets\":[{\"adamId\":\"1\",\"totalCount\":\"10\"}]}", &r, &err) == MDM_OK
       && mdm_vpp_asset_of(json_array_get(json_object_get(r.root, "assets"), 0), &a, &err)
          == MDM_ERROR && strstr(err.msg, "totalCount") != NULL, "a count as a string");
    mdm_vpp_reply_free(&r);
}


static void
test_errors_and_paging(void)
{
    mdm_vpp_reply_t  r;
    mdm_err_t        err;

    ok(parse("{\"errorNumber\":9625,\"errorMessage\":\"The server has revoked the sToken\"}",
             &r, &err) == MDM_OK, "an ErrorResponse parses");
    is_int(r.error_number, 9625, "errorNumber");
    is_str(r.error_message, "The server has revoked the sToken", "errorMessage");
    ok(mdm_vpp_error_is_token(r.error_number), "9625 is a token error");
    mdm_vpp_reply_free(&r);
    ok(mdm_vpp_error_is_token(9621) && mdm_vpp_error_is_token(9622)
       && !mdm_vpp_error_is_token(9646) && !mdm_vpp_error_is_token(9709),
       "9621/9622 are token errors, 9646/9709 are not");

    ok(parse("{\"currentPageIndex\":1,\"nextPageIndex\":2,\"totalPages\":3,\"versionId\":7}",
             &r, &err) == MDM_OK && r.next_page == 2, "nextPageIndex");
    is_str(r.version_id, "7", "a numeric versionId as its digits");
    mdm_vpp_reply_free(&r);
    ok(parse("{\"currentPageIndex\":2,\"totalPages\":3}", &r, &err) == MDM_OK
       && r.next_page == -1, "the last page has no next");
    mdm_vpp_reply_free(&r);

    ok(parse("", &r, &err) == MDM_ERROR && err.reason == MDM_REFUSED_EMPTY, "empty: refused");
    ok(parse("<html>", &r, &err) == MDM_ERROR && err.reason == MDM_REFUSED_MALFORMED,
       "HTML from a proxy: malformed");
    ok(parse("[]", &r, &err) == MDM_ERROR, "an array: refused");
    ok(parse("{\"errorNumber\":\"9601\"}", &r, &err) == MDM_ERROR, "errorNumber as a string");
    ok(parse("{\"a\":1,\"a\":2}", &r, &err) == MDM_ERROR, "duplicated keys");
    ok(parse("{\"eventId\":\"has space\"}", &r, &err) == MDM_ERROR, "an eventId with a space");
    ok(parse("{\"versionId\":{}}", &r, &err) == MDM_ERROR, "a versionId object");
}


static void
test_assignments_users(void)
{
    const char *body =
        "{\"assignments\":[{\"adamId\":\"1\",\"pricingParam\":\"STDQ\",\"serialNumber\":\"C02X\"},"
        "{\"adamId\":\"2\",\"pricingParam\":\"STDQ\",\"clientUserId\":\"u-1\"},"
        "{\"adamId\":\"3\",\"serialNumber\":\"A\",\"clientUserId\":\"B\"},"
        "{\"adamId\":\"4\"},{\"adamId\":\"5\",\"serialNumber\":\"bad serial\"}],"
        "\"users\":[{\"clientUserId\":\"u-1\",\"email\":\"a@example.com\",\"inviteCode\":\"f551\","
        "\"status\":\"Registered\"},{\"email\":\"x\"}]}";
    mdm_vpp_reply_t       r;
    mdm_vpp_assignment_t  a;
    mdm_vpp_user_t        u;
    mdm_err_t             err;
    json_t               *as, *us;

    ok(parse(body, &r, &err) == MDM_OK, "assignments and users parse");
    mdm_vpp_items(r.root, "assignments", &as, &err);
    mdm_vpp_items(r.root, "users", &us, &err);
    ok(mdm_vpp_assignment_of(json_array_get(as, 0), &a, &err) == MDM_OK
       && strcmp(a.serial, "C02X") == 0 && a.client_user_id == NULL, "a device assignment");
    ok(mdm_vpp_assignment_of(json_array_get(as, 1), &a, &err) == MDM_OK
       && strcmp(a.client_user_id, "u-1") == 0 && a.serial == NULL, "a user assignment");
    ok(mdm_vpp_assignment_of(json_array_get(as, 2), &a, &err) == MDM_ERROR, "both: refused");
    ok(mdm_vpp_assignment_of(json_array_get(as, 3), &a, &err) == MDM_ERROR, "neither: refused");
    ok(mdm_vpp_assignment_of(json_array_get(as, 4), &a, &err) == MDM_ERROR,
       "a serial with a space: refused");
    ok(mdm_vpp_user_of(json_array_get(us, 0), &u, &err) == MDM_OK, "a user");
    ok(strcmp(u.client_user_id, "u-1") == 0 && strcmp(u.email, "a@example.com") == 0
       && strcmp(u.invite_code, "f551") == 0 && strcmp(u.status, "Registered") == 0, "its fields");
    ok(mdm_vpp_user_of(json_array_get(us, 1), &u, &err) == MDM_ERROR
       && err.reason == MDM_REFUSED_MISSING_KEY, "a user without clientUserId");
    mdm_vpp_reply_free(&r);
}


static void
test_status(void)
{
    const char *body =
        "{\"eventStatus\":\"COMPLETE\",\"eventType\":\"ASSOCIATE\",\"numCompleted\":4,"
        "\"numRequested\":6,\"failures\":[{\"errorNumber\":9709,\"errorMessage\":\"Not enough "
        "licenses\",\"errorInfo\":{\"assets\":[{\"adamId\":\"1\",\"pricingParam\":\"STDQ\"}],"
        "\"serialNumbers\":[\"S5\",\"S6\"]}}],\"uId\":\"1\"}";
    mdm_vpp_reply_t    r;
    mdm_vpp_status_t   s;
    mdm_vpp_failure_t  f;
    mdm_err_t          err;

    ok(parse(body, &r, &err) == MDM_OK && mdm_vpp_status_of(&r, &s, &err) == MDM_OK,
       "a StatusResponse");
    is_int(s.status, MDM_VPP_EVENT_COMPLETE, "COMPLETE");
    is_str(s.type, "ASSOCIATE", "eventType");
    ok(s.num_completed == 4 && s.num_requested == 6, "numCompleted, numRequested");
    ok(mdm_vpp_failure_of(json_array_get(s.failures, 0), &f, &err) == MDM_OK, "a failure");
    is_int(f.number, 9709, "its errorNumber");
    is_int(json_array_size(f.serials), 2, "its serials");
    is_str(mdm_vpp_id_at(f.serials, 1), "S6", "read as identifiers");
    ok(f.client_user_ids == NULL, "no clientUserIds");
    mdm_vpp_reply_free(&r);
    ok(parse("{\"eventStatus\":\"DONE\"}", &r, &err) == MDM_OK
       && mdm_vpp_status_of(&r, &s, &err) == MDM_ERROR
       && err.reason == MDM_REFUSED_UNKNOWN_TYPE, "an unknown eventStatus");
    mdm_vpp_reply_free(&r);
    ok(parse("{\"numCompleted\":1}", &r, &err) == MDM_OK
       && mdm_vpp_status_of(&r, &s, &err) == MDM_ERROR, "no eventStatus");
    mdm_vpp_reply_free(&r);
}


static void
test_configs(void)
{
    mdm_vpp_reply_t          r;
    mdm_vpp_client_config_t  c;
    mdm_vpp_limits_t         l;
    mdm_err_t                err;

    ok(parse("{\"countryISO2ACode\":\"US\",\"defaultPlatform\":\"volumestore\","
             "\"locationName\":\"North\",\"mdmInfo\":{\"id\":\"other-mdm\",\"name\":\"Other\"},"
             "\"notificationUrl\":\"https://mdm.example/vpp\",\"uId\":\"9\","
             "\"tokenExpirationDate\":\"2027-04-10T16:45:00+0000\"}", &r, &err) == MDM_OK
       && mdm_vpp_client_config_of(&r, &c, &err) == MDM_OK, "a client config");
    ok(strcmp(c.location_name, "North") == 0 && strcmp(c.country, "US") == 0, "location, country");
    is_str(c.mdm_id, "other-mdm", "mdmInfo.id: who claims the token");
    is_str(c.notification_url, "https://mdm.example/vpp", "notificationUrl");
    mdm_vpp_reply_free(&r);
    ok(parse("{\"locationName\":\"x\"}", &r, &err) == MDM_OK
       && mdm_vpp_client_config_of(&r, &c, &err) == MDM_OK && c.mdm_id == NULL,
       "no mdmInfo: unclaimed");
    mdm_vpp_reply_free(&r);
    ok(parse("{\"mdmInfo\":\"x\"}", &r, &err) == MDM_OK
       && mdm_vpp_client_config_of(&r, &c, &err) == MDM_ERROR, "mdmInfo not an object");
    mdm_vpp_reply_free(&r);

    ok(parse("{\"limits\":{\"maxAssets\":10,\"maxSerialNumbers\":500}}", &r, &err) == MDM_OK
       && mdm_vpp_limits_of(&r, &l, &err) == MDM_OK, "service config limits");
    ok(l.max_assets == 10 && l.max_serials == 500 && l.max_requests_per_second == 15
       && l.max_users == 100, "what it says, the documented values for the rest");
    mdm_vpp_reply_free(&r);
    ok(parse("{\"limits\":{\"maxAssets\":0}}", &r, &err) == MDM_OK
       && mdm_vpp_limits_of(&r, &l, &err) == MDM_ERROR, "a zero limit: refused");
    mdm_vpp_reply_free(&r);
}


static void
test_notifications(void)
{
    const char *body =
        "{\"notification\":{\"assignments\":[{\"adamId\":\"1\",\"pricingParam\":\"STDQ\","
        "\"serialNumber\":\"S1\"}],\"eventId\":\"e-1\",\"result\":\"FAILURE\",\"type\":"
        "\"ASSOCIATE\",\"error\":{\"errorNumber\":9709,\"errorMessage\":\"x\"}},"
        "\"notificationId\":\"0f6b3c56-3d0e-4d3c-9bbc-8f7e2a1b9f00\","
        "\"notificationType\":\"ASSET_MANAGEMENT\",\"uId\":\"9\"}";
    mdm_vpp_notification_t  n;
    mdm_vpp_failure_t       f;
    mdm_err_t               err;

    ok(mdm_vpp_notification_parse(body, strlen(body), &n, &err) == MDM_OK,
       "an ASSET_MANAGEMENT notification");
    is_str(n.id, "0f6b3c56-3d0e-4d3c-9bbc-8f7e2a1b9f00", "notificationId");
    is_str(n.type, "ASSET_MANAGEMENT", "notificationType");
    is_str(n.event_id, "e-1", "eventId");
    is_str(n.result, "FAILURE", "result");
    is_str(n.event_type, "ASSOCIATE", "type");
    is_int(json_array_size(n.items), 1, "its assignments");
    ok(n.error != NULL && mdm_vpp_failure_of(n.error, &f, &err) == MDM_OK && f.number == 9709,
       "its error");
    mdm_vpp_notification_free(&n);

    body = "{\"notification\":{},\"notificationId\":\"t-1\",\"notificationType\":"
           "\"TEST_NOTIFICATION\",\"uId\":\"9\"}";
    ok(mdm_vpp_notification_parse(body, strlen(body), &n, &err) == MDM_OK
       && n.items == NULL && n.event_id == NULL, "TEST_NOTIFICATION");
    mdm_vpp_notification_free(&n);
    body = "{\"notification\":{},\"notificationType\":\"TEST_NOTIFICATION\"}";
    ok(mdm_vpp_notification_parse(body, strlen(body), &n, &err) == MDM_ERROR
       && err.reason == MDM_REFUSED_MISSING_KEY, "no notificationId");
    body = "{\"notification\":[],\"notificationId\":\"a\",\"notificationType\":\"X\"}";
    ok(mdm_vpp_notification_parse(body, strlen(body), &n, &err) == MDM_ERROR,
       "notification not an object");
    body = "{\"notification\":{\"assignments\":5},\"notificationId\":\"a\","
           "\"notificationType\":\"ASSET_MANAGEMENT\"}";
    ok(mdm_vpp_notification_parse(body, strlen(body), &n, &err) == MDM_ERROR,
       "assignments not an array");
    body = "{\"notification\":{},\"notificationId\":\"a b\",\"notificationType\":\"X\"}";
    ok(mdm_vpp_notification_parse(body, strlen(body), &n, &err) == MDM_ERROR,
       "a notificationId with a space");
}


int
main(void)
{
    test_token();
    test_assets();
    test_errors_and_paging();
    test_assignments_users();
    test_status();
    test_configs();
    test_notifications();
    return done_testing();
}
