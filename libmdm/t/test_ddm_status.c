#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdm_plist.h"
#include "ddm/mdm_ddm_status.h"
#include "plist_test.h"
#include "tap.h"


/* plist_test.h's fixture() reads $MDM_FIXTURES/<name> (default
 * t/fixtures); the DDM reports are in its ddm/ folder */
#define DDM_FIXTURES  "ddm"


static mdm_ddm_error_t  e;


static const char *
value_at(const mdm_ddm_status_t *st, const char *path)
{
    size_t  i;

    for (i = 0; i < st->nvalues; i++) {
        if (strcmp(st->values[i].path, path) == 0) {
            return st->values[i].value ? st->values[i].value : "(removed)";
        }
    }

    return NULL;
}


static mdm_ddm_status_rc_e
parse(const char *json, mdm_ddm_status_t *st)
{
    return mdm_ddm_status_parse(json, strlen(json), 0, st, &e);
}


static void
test_first_report(void)
{
    char              *body;
    size_t             len;
    mdm_ddm_status_t   st;

    body = fixture(DDM_FIXTURES "/status-report-first.json", &len);
    ok(body != NULL, "status-report-first.json is readable");
    if (body == NULL) {
        return;
    }

    is_int(mdm_ddm_status_parse(body, len, 0, &st, &e), MDM_DDM_STATUS_OK,
           "first report of a Mac parses");
    is_int(st.full_report, 0, "no FullReport: incremental");
    is_int(st.ndeclarations, 0, "no declarations yet");
    is_int(st.nerrors, 0, "no Errors");

    is_str(value_at(&st, "device.operating-system.version"), "\"13.3.1\"",
           "device.operating-system.version by path, as JSON");
    is_str(value_at(&st, "device.identifier.serial-number"),
           "\"ZRMXJQTTFX\"", "serial number");
    is_str(value_at(&st, "device.operating-system.supplemental."
                    "extra-version"), "\"(a)\"", "four levels deep");
    is_str(value_at(&st, "management.client-capabilities."
                    "supported-versions"), "[\"1.0.0\"]",
           "an array of strings is one value");
    is_str(value_at(&st, "management.client-capabilities."
                    "supported-features"), "{}",
           "an empty dictionary is kept as one value");
    is_str(value_at(&st, "management.client-capabilities.supported-payloads."
                    "declarations.assets"), "[]", "an empty array too");
    ok(value_at(&st, "management.declarations") == NULL
       && value_at(&st, "management.declarations.activations") == NULL,
       "management.declarations is not a value");
    is_int(st.nvalues, 14, "fourteen values in the report");

    mdm_ddm_status_free(&st);
    free(body);
}


static void
test_error_report(void)
{
    char                         *body;
    size_t                        len;
    mdm_ddm_status_t              st;
    const mdm_ddm_decl_status_t  *d;

    body = fixture(DDM_FIXTURES "/status-report-error.json", &len);
    ok(body != NULL, "status-report-error.json is readable");
    if (body == NULL) {
        return;
    }

    is_int(mdm_ddm_status_parse(body, len, 0, &st, &e), MDM_DDM_STATUS_OK,
           "report of an unreferenced configuration parses");
    is_int(st.ndeclarations, 1, "one declaration");

    d = st.ndeclarations ? &st.declarations[0] : NULL;
    ok(d != NULL && d->kind == MDM_DDM_CONFIGURATION, "a configuration");
    is_str(d ? d->identifier : NULL, "com.example.test", "identifier");
    is_str(d ? d->server_token : NULL, "7c6d85989e823101", "server-token");
    is_int(d ? d->active : 9, 0, "not active");
    is_int(d ? d->valid : 9, MDM_DDM_VALID_UNKNOWN, "valid unknown");
    is_str(mdm_ddm_valid_name(d ? d->valid : 0), "unknown", "its name");
    ok(d != NULL && json_array_size(d->reasons) == 1
       && strcmp(json_string_value(json_object_get(
              json_array_get(d->reasons, 0), "code")),
              "Info.NotReferencedByActivation") == 0,
       "its reason code");
    is_int(d ? d->is_error : 9, 1, "inactive and not valid is an error");
    is_int(st.nvalues, 0, "no other status item");

    mdm_ddm_status_free(&st);
    free(body);
}


static void
test_every_fixture(void)
{
    int               n, parsed;
    char              name[300], *body;
    size_t            len;
    DIR              *dir;
    const char       *fixtures;
    struct dirent    *de;
    mdm_ddm_status_t  st;

    fixtures = getenv("MDM_FIXTURES");
    snprintf(name, sizeof(name), "%s/" DDM_FIXTURES,
             fixtures ? fixtures : MDM_TEST_FIXTURES);

    dir = opendir(name);
    ok(dir != NULL, "fixtures folder %s", name);
    if (dir == NULL) {
        return;
    }

    n = 0;
    parsed = 0;

    while ((de = readdir(dir)) != NULL) {
        len = strlen(de->d_name);

        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0) {
            continue;
        }

        snprintf(name, sizeof(name), DDM_FIXTURES "/%s", de->d_name);
        body = fixture(name, &len);
        n++;

        if (body != NULL
            && mdm_ddm_status_parse(body, len, 0, &st, &e)
               == MDM_DDM_STATUS_OK)
        {
            parsed++;
            mdm_ddm_status_free(&st);

        } else {
            diag("%s: %s", de->d_name, body ? e.msg : "unreadable");
        }

        free(body);
    }

    closedir(dir);

    ok(n >= 2, "%d reports in the fixtures", n);
    is_int(parsed, n, "every real report parses");
}


static void
test_incremental(void)
{
    mdm_ddm_status_t  st;

    is_int(parse("{\"StatusItems\":{\"app\":{\"managed\":{\"list\":["
                 "{\"identifier\":\"com.example.a\",\"state\":\"managed\"},"
                 "{\"identifier\":\"com.example.b\",\"_removed\":true}]}},"
                 "\"passcode\":{\"is-present\":true}},"
                 "\"Errors\":[],\"FullReport\":false}", &st),
           MDM_DDM_STATUS_OK, "incremental report with a keyed array");
    is_str(value_at(&st, "app.managed.list[com.example.a]"),
           "{\"identifier\":\"com.example.a\",\"state\":\"managed\"}",
           "keyed element stored at path[identifier]");
    is_str(value_at(&st, "app.managed.list[com.example.b]"), "(removed)",
           "_removed element is a removed entry");
    is_str(value_at(&st, "passcode.is-present"), "true", "boolean value");
    is_int(st.full_report, 0, "incremental");
    mdm_ddm_status_free(&st);

    is_int(parse("{\"StatusItems\":{\"management\":{\"declarations\":{"
                 "\"activations\":[{\"identifier\":\"act\","
                 "\"server-token\":\"t1\",\"active\":true,\"valid\":\"valid\"}],"
                 "\"assets\":[{\"identifier\":\"as\",\"active\":false,"
                 "\"valid\":\"invalid\",\"reasons\":[{\"code\":"
                 "\"Error.AssetCannotBeDownloaded\"}]}],"
                 "\"management\":[{\"identifier\":\"gone\",\"_removed\":true}]"
                 "}}},\"Errors\":[{\"StatusItem\":\"device.model.family\","
                 "\"Reasons\":[{\"Code\":\"Error.Unknown\"}]}],"
                 "\"FullReport\":true}", &st),
           MDM_DDM_STATUS_OK, "full report with declarations and Errors");
    is_int(st.full_report, 1, "FullReport");
    is_int(st.ndeclarations, 3, "three declarations");
    ok(st.ndeclarations == 3 && st.declarations[0].kind == MDM_DDM_ACTIVATION
       && st.declarations[0].active == 1
       && st.declarations[0].valid == MDM_DDM_VALID_VALID
       && st.declarations[0].is_error == 0,
       "active valid activation is no error");
    ok(st.ndeclarations == 3 && st.declarations[1].kind == MDM_DDM_ASSET
       && st.declarations[1].server_token == NULL
       && st.declarations[1].valid == MDM_DDM_VALID_INVALID
       && st.declarations[1].is_error == 1, "invalid asset is an error");
    ok(st.ndeclarations == 3 && st.declarations[2].removed == 1
       && st.declarations[2].active == -1
       && st.declarations[2].valid == MDM_DDM_VALID_ABSENT,
       "_removed declaration, nothing else reported");
    is_int(st.nerrors, 1, "one top-level Error");
    ok(st.nerrors == 1
       && strcmp(st.errors[0].status_item, "device.model.family") == 0
       && json_array_size(st.errors[0].reasons) == 1,
       "its StatusItem and Reasons");
    mdm_ddm_status_free(&st);

    is_int(parse("{\"StatusItems\":{}}", &st), MDM_DDM_STATUS_OK,
           "report without Errors: the same as an empty array");
    mdm_ddm_status_free(&st);

    is_int(parse("{\"StatusItems\":{\"x\":{\"list\":[{\"identifier\":\"a\"},"
                 "{\"name\":\"b\"}]}}}", &st), MDM_DDM_STATUS_OK,
           "array not keyed throughout");
    is_str(value_at(&st, "x.list"), "[{\"identifier\":\"a\"},{\"name\":"
           "\"b\"}]", "is one value");
    mdm_ddm_status_free(&st);

    is_int(parse("{\"StatusItems\":{\"management\":{\"declarations\":{"
                 "\"configurations\":[{\"identifier\":\"c\",\"valid\":"
                 "\"someday\"}]}}}}", &st), MDM_DDM_STATUS_OK,
           "valid value newer than Apple's three");
    ok(st.ndeclarations == 1 && st.declarations[0].valid
       == MDM_DDM_VALID_UNKNOWN
       && strcmp(st.declarations[0].valid_text, "someday") == 0,
       "counted unknown, kept as text");
    mdm_ddm_status_free(&st);
}


static void
test_refusals(void)
{
    int               i;
    char              big[8192];
    size_t            n;
    mdm_ddm_status_t  st;

#define REFUSED(json, code, rule_, path_, name)                             \
    do {                                                                    \
        mdm_ddm_status_rc_e rc_ = parse(json, &st);                         \
        ok(rc_ == (code) && strcmp(e.rule, rule_) == 0                      \
           && strcmp(e.path, path_) == 0 && st.root == NULL                 \
           && st.nvalues == 0 && st.values == NULL, name);                  \
        if (rc_ != (code)) {                                                \
            diag("got %s", mdm_ddm_status_rc_name(rc_));                    \
        } else if (strcmp(e.path, path_) != 0                               \
                   || strcmp(e.rule, rule_) != 0) {                         \
            diag("got %s at '%s': %s", e.rule, e.path, e.msg);              \
        }                                                                   \
    } while (0)

    REFUSED("{\"StatusItems\":", MDM_DDM_STATUS_NOT_JSON, "json", "",
            "truncated JSON: not-json");
    REFUSED("", MDM_DDM_STATUS_NOT_JSON, "json", "", "empty body");
    REFUSED("[]", MDM_DDM_STATUS_NOT_JSON, "type", "", "array at the top");
    REFUSED("{\"Errors\":[]}", MDM_DDM_STATUS_SHAPE, "required",
            "StatusItems", "StatusItems missing");
    REFUSED("{\"StatusItems\":[]}", MDM_DDM_STATUS_SHAPE, "type",
            "StatusItems", "StatusItems not a dictionary");
    REFUSED("{\"StatusItems\":{},\"FullReport\":\"yes\"}",
            MDM_DDM_STATUS_SHAPE, "type", "FullReport",
            "FullReport not a boolean");
    REFUSED("{\"StatusItems\":{},\"Errors\":{}}", MDM_DDM_STATUS_SHAPE,
            "type", "Errors", "Errors not an array");
    REFUSED("{\"StatusItems\":{},\"Errors\":[{\"Reasons\":[]}]}",
            MDM_DDM_STATUS_SHAPE, "type", "Errors[0]",
            "Error without StatusItem");
    REFUSED("{\"StatusItems\":{\"management\":{\"declarations\":[]}}}",
            MDM_DDM_STATUS_SHAPE, "type",
            "StatusItems.management.declarations",
            "declarations not a dictionary");
    REFUSED("{\"StatusItems\":{\"management\":{\"declarations\":{"
            "\"assets\":{}}}}}", MDM_DDM_STATUS_SHAPE, "type",
            "StatusItems.management.declarations.assets",
            "declarations.assets not an array");
    REFUSED("{\"StatusItems\":{\"management\":{\"declarations\":{"
            "\"assets\":[{\"active\":true}]}}}}", MDM_DDM_STATUS_SHAPE,
            "required", "StatusItems.management.declarations.assets[0]",
            "declaration status without identifier");
    REFUSED("{\"StatusItems\":{\"management\":{\"declarations\":{"
            "\"assets\":[{\"identifier\":\"a\",\"active\":\"yes\"}]}}}}",
            MDM_DDM_STATUS_SHAPE, "type",
            "StatusItems.management.declarations.assets[0]",
            "active not a boolean");
    REFUSED("{\"StatusItems\":{},\"StatusItems\":{}}",
            MDM_DDM_STATUS_NOT_JSON, "json", "", "duplicate keys");

    ok(mdm_ddm_status_parse("{\"StatusItems\":{}}", 18, 10, &st, &e)
       == MDM_DDM_STATUS_TOO_LARGE && strcmp(e.rule, "size") == 0,
       "over the caller's limit: too-large");

    /* 40 nested dictionaries */
    n = (size_t) snprintf(big, sizeof(big), "{\"StatusItems\":");
    for (i = 0; i < 40; i++) {
        n += (size_t) snprintf(big + n, sizeof(big) - n, "{\"a\":");
    }
    n += (size_t) snprintf(big + n, sizeof(big) - n, "1");
    for (i = 0; i < 41; i++) {
        n += (size_t) snprintf(big + n, sizeof(big) - n, "}");
    }
    ok(parse(big, &st) == MDM_DDM_STATUS_TOO_MANY
       && strcmp(e.rule, "depth") == 0, "too deep: too-many (depth)");

    /* a 300-byte item name */
    n = (size_t) snprintf(big, sizeof(big), "{\"StatusItems\":{\"");
    memset(big + n, 'x', 300);
    n += 300;
    snprintf(big + n, sizeof(big) - n, "\":1}}");
    ok(parse(big, &st) == MDM_DDM_STATUS_TOO_MANY
       && strcmp(e.rule, "length") == 0, "path too long: too-many (length)");

    is_str(mdm_ddm_status_rc_name(MDM_DDM_STATUS_NOT_JSON), "not-json",
           "code names for logs and metrics");

#undef REFUSED
}


static void
test_too_many_values(void)
{
    char             *body;
    size_t            n, i, cap;
    mdm_ddm_status_t  st;

    cap = 16 + (size_t) (MDM_DDM_STATUS_VALUES_MAX + 1) * 16;
    body = malloc(cap);
    n = (size_t) snprintf(body, cap, "{\"StatusItems\":{");

    for (i = 0; i <= MDM_DDM_STATUS_VALUES_MAX; i++) {
        n += (size_t) snprintf(body + n, cap - n, "%s\"k%zu\":1",
                               i ? "," : "", i);
    }

    snprintf(body + n, cap - n, "}}");

    ok(parse(body, &st) == MDM_DDM_STATUS_TOO_MANY
       && strcmp(e.rule, "count") == 0, "more than %d values refused",
       MDM_DDM_STATUS_VALUES_MAX);
    ok(st.values == NULL, "nothing left behind");
    free(body);
}


int
main(void)
{
    test_first_report();
    test_error_report();
    test_every_fixture();
    test_incremental();
    test_refusals();
    test_too_many_values();

    return done_testing();
}
