#include <stdlib.h>
#include <string.h>

#include "mdm_report.h"
#include "plist_test.h"
#include "tap.h"


#define UUID    STR("CommandUUID", "9F09D114-BCFD-42AD-A974-371AA7D6256E")
#define DEVICE  STR("UDID", "66ADE930-5FDF-5EC4-8429-15640684C489")


static int
decode(const char *body, mdm_report_t *rep, mdm_err_t *err)
{
    err->msg[0] = '\0';

    return mdm_report_decode(body, strlen(body), TEST_MAX_BODY, rep, err);
}


static void
refused(const char *body, const char *want, const char *what)
{
    int           rc;
    mdm_err_t     err;
    mdm_report_t  rep;

    rc = decode(body, &rep, &err);
    ok(rc == MDM_ERROR && rep.root == NULL && strstr(err.msg, want) != NULL,
       "%s is refused: %s", what, err.msg);

    mdm_report_free(&rep);
}


static void
test_fixtures(void)
{
    char          *body;
    size_t         len, i;
    plist_t        node;
    mdm_err_t      err;
    mdm_report_t   rep;

    static const struct {
        const char    *name;
        mdm_status_e   status;
        const char    *uuid;
        const char    *id;
    } fixtures[] = {
        { "devices/report-certificatelist-ack.plist",
          MDM_STATUS_ACKNOWLEDGED, NULL, NULL },
        { "devices/report-deviceinformation-ack.plist",
          MDM_STATUS_ACKNOWLEDGED,
          "76eda240-5488-4989-8339-f2ae160113c4",
          "66ADE930-5FDF-5EC4-8429-15640684C489" },
        { "devices/report-error.plist", MDM_STATUS_ERROR,
          "D053EE3A-EE0E-4E82-87D2-BB3624186694",
          "6362F867-FFF2-4EA6-905C-3C796DF4EF68" },
        { "devices/report-securityinfo-ack.plist",
          MDM_STATUS_ACKNOWLEDGED,
          "53115671-3f45-49f5-b7cb-22ede8b8afdc", NULL },
    };

    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        body = fixture(fixtures[i].name, &len);

        if (body == NULL) {
            ok(0, "fixture %s is readable (MDM_FIXTURES)", fixtures[i].name);
            continue;
        }

        ok(mdm_report_decode(body, len, len, &rep, &err) == MDM_OK,
           "fixture %s decodes: %s", fixtures[i].name, err.msg);
        is_int(rep.status, fixtures[i].status, "%s: status",
               fixtures[i].name);
        ok(rep.command_uuid != NULL, "%s: CommandUUID", fixtures[i].name);

        if (fixtures[i].uuid != NULL) {
            is_str(rep.command_uuid, fixtures[i].uuid, "%s: CommandUUID "
                   "value", fixtures[i].name);
        }

        if (fixtures[i].id != NULL) {
            is_str(rep.enrollment.id, fixtures[i].id, "%s: enrollment ID",
                   fixtures[i].name);
        }

        mdm_report_free(&rep);
        free(body);
    }

    body = fixture("devices/report-error.plist", &len);

    if (body != NULL) {
        ok(mdm_report_decode(body, len, len, &rep, &err) == MDM_OK
           && rep.error_chain != NULL
           && plist_array_get_size(rep.error_chain) == 1,
           "Error report has its ErrorChain");
        node = plist_access_path(rep.error_chain, 2, 0, "ErrorCode");
        ok(node != NULL && plist_get_node_type(node) == PLIST_UINT,
           "ErrorChain item keeps its ErrorCode");
        mdm_report_free(&rep);
        free(body);
    }

    body = fixture("devices/report-deviceinformation-ack.plist", &len);

    if (body != NULL) {
        ok(mdm_report_decode(body, len, len, &rep, &err) == MDM_OK
           && rep.request_type != NULL
           && strcmp(rep.request_type, "DeviceInformation") == 0
           && plist_dict_get_item(rep.root, "QueryResponses") != NULL,
           "result keys and the undocumented RequestType are kept");
        mdm_report_free(&rep);
        free(body);
    }
}


static void
test_statuses(void)
{
    mdm_err_t      err;
    mdm_report_t   rep;

    ok(decode(PLIST(DEVICE STR("Status", "Idle")), &rep, &err) == MDM_OK
       && rep.status == MDM_STATUS_IDLE && rep.command_uuid == NULL,
       "Idle without CommandUUID: %s", err.msg);
    is_str(mdm_status_name(rep.status), "Idle", "status name Idle");
    mdm_report_free(&rep);

    ok(decode(PLIST(DEVICE STR("Status", "Acknowledged") UUID), &rep, &err)
       == MDM_OK && rep.status == MDM_STATUS_ACKNOWLEDGED
       && rep.error_chain == NULL, "Acknowledged");
    mdm_report_free(&rep);

    ok(decode(PLIST(DEVICE STR("Status", "NotNow") UUID), &rep, &err)
       == MDM_OK && rep.status == MDM_STATUS_NOT_NOW, "NotNow");
    is_str(mdm_status_name(rep.status), "NotNow", "status name NotNow");
    mdm_report_free(&rep);

    ok(decode(PLIST(DEVICE STR("Status", "CommandFormatError") UUID), &rep,
              &err) == MDM_OK
       && rep.status == MDM_STATUS_COMMAND_FORMAT_ERROR,
       "CommandFormatError");
    mdm_report_free(&rep);

    ok(decode(PLIST(DEVICE STR("Status", "Error") UUID), &rep, &err)
       == MDM_OK && rep.status == MDM_STATUS_ERROR
       && rep.error_chain == NULL,
       "Error without ErrorChain is taken, so the device stops resending");
    mdm_report_free(&rep);

    ok(decode(PLIST(STR("EnrollmentID", "E1") STR("EnrollmentUserID", "EU1")
                    STR("Status", "Idle")), &rep, &err) == MDM_OK
       && strcmp(rep.enrollment.id, "E1:EU1") == 0
       && strcmp(rep.enrollment.parent, "E1") == 0
       && rep.enrollment.type == MDM_ENROLLMENT_USER_ENROLLMENT,
       "User Enrollment user-channel report resolves its enrollment");
    mdm_report_free(&rep);

    ok(decode(PLIST(DEVICE STR("UserID", MDM_SHARED_IPAD_USER_ID)
                    STR("UserShortName", "ann@example.com")
                    STR("Status", "Idle")), &rep, &err) == MDM_OK
       && rep.enrollment.type == MDM_ENROLLMENT_SHARED_IPAD,
       "Shared iPad user-channel report resolves its enrollment");
    mdm_report_free(&rep);

    ok(decode(PLIST(DEVICE STR("Status", "Idle") INT("RequestType", "1")),
              &rep, &err) == MDM_OK && rep.request_type == NULL,
       "a RequestType that is not a string is ignored");
    mdm_report_free(&rep);
}


static void
test_refusals(void)
{
    refused("", "empty body", "empty body");
    refused("<plist><dict><key>Status</key>", "not a valid XML plist",
            "truncated XML");
    refused("bplist00garbagegarbagegarbagegarbagegarbage",
            "malformed binary plist", "binary garbage");
    refused("<plist><string>Idle</string></plist>", "not a dict",
            "top-level string");
    refused(PLIST(DEVICE UUID), "missing required key Status",
            "no Status");
    refused(PLIST(DEVICE INT("Status", "0")), "key Status must be a string",
            "integer Status");
    refused(PLIST(DEVICE STR("Status", "Done") UUID), "unknown Status \"Done\"",
            "unknown Status");
    refused(PLIST(DEVICE STR("Status", "Acknowledged")),
            "missing required key CommandUUID",
            "Acknowledged without CommandUUID");
    refused(PLIST(DEVICE STR("Status", "NotNow") INT("CommandUUID", "1")),
            "key CommandUUID must be a string", "integer CommandUUID");
    refused(PLIST(DEVICE STR("Status", "Acknowledged")
                  STR("CommandUUID", "")),
            "key CommandUUID must not be empty", "empty CommandUUID");
    refused(PLIST(DEVICE STR("Status", "Acknowledged")
                  STR("CommandUUID", "a}b")),
            "key CommandUUID contains a forbidden character",
            "brace in CommandUUID");
    refused(PLIST(DEVICE STR("Status", "Error") UUID
                  "<key>ErrorChain</key><dict/>"),
            "key ErrorChain must be an array", "dict ErrorChain");
    refused(PLIST(STR("Status", "Idle")), "neither UDID nor EnrollmentID",
            "report without identity");
    refused(PLIST(DEVICE STR("Status", "Idle") STR("Status", "Idle")),
            "duplicated key", "duplicated Status");
}


int
main(void)
{
    test_fixtures();
    test_statuses();
    test_refusals();

    return done_testing();
}
