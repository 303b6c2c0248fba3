/*
 * The webhook body (worker/webhook_json.c) without a running stack: exact
 * bytes for one check-in (the field order and JSON types NanoMDM's
 * microwebhook gives), then the rules of docs/webhooks.md one by one.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tap.h"
#include "webhook_json.h"


static json_t *
render(const mdm_event_t *ev, const char *tally, char *err, size_t errlen)
{
    char *body = wk_webhook_json(ev, "1764471600123-0", tally,
                                 1764471600999LL, err, errlen);
    json_t *root = body ? json_loads(body, 0, NULL) : NULL;

    free(body);
    return root;
}


static const char *
str_at(json_t *root, const char *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(root, obj), key));
}


static void
test_checkin_golden(void)
{
    static const unsigned char raw[] = "abc";
    mdm_event_t ev = {
        .topic = "mdm.TokenUpdate", .id = "UDID-1", .type = "Device",
        .udid = "UDID-1", .params = "tenant=acme&tenant=other&x=a%20b+c",
        .raw = raw, .raw_len = 3, .ts_ms = 1764471600123LL
    };
    char err[128];
    char *body = wk_webhook_json(&ev, "1764471600123-0", "2", 0, err,
                                 sizeof(err));

    is_str(body,
           "{\"topic\":\"mdm.TokenUpdate\",\"event_id\":\"1764471600123-0\","
           "\"created_at\":\"2025-11-30T03:00:00.123Z\",\"checkin_event\":"
           "{\"udid\":\"UDID-1\",\"url_params\":{\"tenant\":\"acme\","
           "\"x\":\"a b c\"},\"raw_payload\":\"YWJj\","
           "\"token_update_tally\":2,\"ids\":{\"id\":\"UDID-1\","
           "\"type\":\"Device\"}}}",
           "a TokenUpdate renders byte for byte as NanoMDM's checkin_event "
           "(first value of a repeated key, %%XX and + decoded)");
    free(body);
}


static void
test_checkin_rules(void)
{
    mdm_event_t ev = {
        .topic = "mdm.Authenticate", .id = "UDID-2:USER", .parent = "UDID-2",
        .enrollment_id = "E-1"
    };
    char err[128];
    json_t *root = render(&ev, NULL, err, sizeof(err));
    json_t *b = json_object_get(root, "checkin_event");

    ok(root != NULL, "an Authenticate renders");
    is_str(json_string_value(json_object_get(root, "created_at")),
           "2025-11-30T03:00:00.999Z",
           "without ts, created_at is the entry's time");
    ok(json_is_object(json_object_get(b, "url_params"))
       && json_object_size(json_object_get(b, "url_params")) == 0,
       "no query string: url_params is {} on a checkin_event");
    ok(json_is_null(json_object_get(b, "raw_payload")),
       "no raw body: raw_payload is null, as Go's nil []byte");
    ok(json_object_get(b, "udid") == NULL,
       "an absent udid is left out (omitempty)");
    is_str(str_at(root, "checkin_event", "enrollment_id"), "E-1",
           "enrollment_id is kept");
    ok(json_object_get(b, "token_update_tally") == NULL,
       "no tally: no token_update_tally");
    is_str(json_string_value(json_object_get(json_object_get(b, "ids"),
                                             "parent_id")),
           "UDID-2", "ids.parent_id names the device of a user channel");
    json_decref(root);
}


static void
test_acknowledge(void)
{
    mdm_event_t idle = {
        .topic = "mdm.Connect", .id = "UDID-3", .udid = "UDID-3",
        .status = "Idle", .ts_ms = 1
    };
    mdm_event_t expired = {
        .topic = "mdm.CommandExpired", .id = "UDID-3",
        .command_uuid = "C-1", .params = "a=1", .ts_ms = 1
    };
    char err[128];
    json_t *root = render(&idle, NULL, err, sizeof(err));
    json_t *b = json_object_get(root, "acknowledge_event");

    ok(b != NULL, "mdm.Connect has an acknowledge_event");
    is_str(str_at(root, "acknowledge_event", "status"), "Idle",
           "... with the report's status");
    ok(json_object_get(b, "command_uuid") == NULL
       && json_object_get(b, "url_params") == NULL,
       "... no command_uuid for Idle, no empty url_params (omitempty)");
    json_decref(root);

    root = render(&expired, NULL, err, sizeof(err));
    is_str(str_at(root, "acknowledge_event", "status"), "Expired",
           "mdm.CommandExpired: status Expired");
    is_str(str_at(root, "acknowledge_event", "command_uuid"), "C-1",
           "... and the command's UUID");
    is_str(json_string_value(json_object_get(json_object_get(
               json_object_get(root, "acknowledge_event"), "url_params"),
               "a")), "1", "... url_params kept when there are some");
    json_decref(root);
}


static void
test_push_event(void)
{
    mdm_event_t ev = {
        .topic = "mdm.PushFailed", .id = "UDID-4", .status = "410",
        .params = "reason=Unregistered", .ts_ms = 1
    };
    mdm_event_t none = {
        .topic = "mdm.PushFailed", .id = "UDID-4", .ts_ms = 1
    };
    char err[128];
    json_t *root = render(&ev, NULL, err, sizeof(err));
    json_t *b = json_object_get(root, "push_event");

    ok(json_is_integer(json_object_get(b, "status"))
       && json_integer_value(json_object_get(b, "status")) == 410,
       "mdm.PushFailed: push_event.status is the APNs status, a number");
    is_str(str_at(root, "push_event", "reason"), "Unregistered",
           "... reason from params");
    json_decref(root);

    root = render(&none, NULL, err, sizeof(err));
    b = json_object_get(root, "push_event");
    ok(json_integer_value(json_object_get(b, "status")) == 0
       && strcmp(json_string_value(json_object_get(b, "reason")), "") == 0,
       "no status, no reason: 0 and \"\"");
    json_decref(root);
}


static void
test_not_utf8(void)
{
    mdm_event_t ev = {
        .topic = "mdm.Authenticate", .id = "UDID-5", .udid = "\xff\xfe",
        .ts_ms = 1
    };
    char err[128] = "";
    char *body = wk_webhook_json(&ev, "1-0", NULL, 0, err, sizeof(err));

    ok(body == NULL, "a string that is not UTF-8 makes no body");
    ok(strstr(err, "UTF-8") != NULL, "... and says why: %s", err);
    free(body);
}


int
main(void)
{
    test_checkin_golden();
    test_checkin_rules();
    test_acknowledge();
    test_push_event();
    test_not_utf8();
    return done_testing();
}
