#include <stdlib.h>
#include <string.h>

#include "mdm_checkin.h"
#include "plist_test.h"
#include "tap.h"


#define UDID      "663b07bb783e9ade1dae4fbb92ea12afc0ce5b69"
#define TOPIC     STR("Topic", "com.apple.mgmt.External.e0bd1eac")
#define TOKEN     DATA("Token", "R+juwGLC9ynsFwPBs+GPGXHYXwC+dkRdNAgLqnAbX1E=")
#define DEVICE    STR("UDID", UDID)


static int
decode(const char *body, mdm_checkin_t *ci, mdm_err_t *err)
{
    err->msg[0] = '\0';

    return mdm_checkin_decode(body, strlen(body), TEST_MAX_BODY, ci, err);
}


/* Decodes a body expected to be refused with a message containing want. */
/* Decodes a body expected to be refused for reason (what metrics count). */
static void
refused_as(const char *body, mdm_refused_e reason, const char *what)
{
    mdm_err_t      err;
    mdm_checkin_t  ci;

    ok(decode(body, &ci, &err) == MDM_ERROR && err.reason == reason,
       "%s is refused as %s (got %s: %s)", what, mdm_refused_name(reason),
       mdm_refused_name(err.reason), err.msg);

    mdm_checkin_free(&ci);
}


static void
refused(const char *body, const char *want, const char *what)
{
    int            rc;
    mdm_err_t      err;
    mdm_checkin_t  ci;

    rc = decode(body, &ci, &err);
    ok(rc == MDM_ERROR && ci.root == NULL && strstr(err.msg, want) != NULL,
       "%s is refused: %s", what, err.msg);

    mdm_checkin_free(&ci);
}


static void
test_fixtures(void)
{
    char           *body;
    size_t          len;
    mdm_err_t       err;
    mdm_checkin_t   ci;

    body = fixture("devices/ios-authenticate.plist", &len);
    ok(body != NULL, "Authenticate fixture is readable (MDM_FIXTURES)");

    if (body != NULL) {
        ok(mdm_checkin_decode(body, len, len, &ci, &err) == MDM_OK,
           "iOS Authenticate decodes: %s", err.msg);
        is_int(ci.type, MDM_CHECKIN_AUTHENTICATE, "type is Authenticate");
        is_str(ci.topic,
               "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9",
               "Topic");
        is_str(ci.enrollment.id, UDID, "enrollment ID is the UDID");
        is_str(mdm_enrollment_type_name(ci.enrollment.type), "Device",
               "enrollment type Device");
        is_str(ci.enrollment.parent, "", "a device channel has no parent");
        is_str(ci.serial_number, "F5JM992LF193", "SerialNumber");
        is_str(ci.product_name, "iPad2,5", "ProductName");
        is_str(ci.os_version, "9.3.5", "OSVersion");
        is_str(ci.build_version, "13G36", "BuildVersion");
        ok(ci.model == NULL && ci.imei == NULL && ci.device_name == NULL,
           "absent device facts are NULL");
        mdm_checkin_free(&ci);
        free(body);
    }

    body = fixture("devices/ios-tokenupdate.plist", &len);
    ok(body != NULL, "TokenUpdate fixture is readable (MDM_FIXTURES)");

    if (body != NULL) {
        ok(mdm_checkin_decode(body, len, len, &ci, &err) == MDM_OK,
           "iOS TokenUpdate decodes: %s", err.msg);
        is_int(ci.type, MDM_CHECKIN_TOKEN_UPDATE, "type is TokenUpdate");
        is_int(ci.token.len, 32, "Token is 32 bytes");
        ok(ci.token.data[0] == 0x47 && ci.token.data[31] == 0x51,
           "Token bytes decoded from multi-line base64");
        ok(ci.unlock_token.len > 500, "UnlockToken decoded (%zu bytes)",
           ci.unlock_token.len);
        is_str(ci.push_magic, "CEFDF0BD-E342-4A27-8742-E930EA116B0A",
               "PushMagic");
        is_int(ci.awaiting_configuration, 0, "AwaitingConfiguration false");
        is_str(ci.enrollment.id, UDID, "enrollment ID is the UDID");
        mdm_checkin_free(&ci);
        mdm_checkin_free(&ci);
        ok(1, "freeing twice is harmless");
        free(body);
    }
}


static void
test_message_types(void)
{
    size_t          i;
    mdm_err_t       err;
    mdm_checkin_t   ci;

    static const struct {
        mdm_checkin_type_e   type;
        const char          *body;
    } minimal[] = {
        { MDM_CHECKIN_AUTHENTICATE,
          PLIST(STR("MessageType", "Authenticate") DEVICE TOPIC) },
        { MDM_CHECKIN_TOKEN_UPDATE,
          PLIST(STR("MessageType", "TokenUpdate") DEVICE TOPIC TOKEN
                STR("PushMagic", "m")) },
        { MDM_CHECKIN_CHECK_OUT,
          PLIST(STR("MessageType", "CheckOut") DEVICE TOPIC) },
        { MDM_CHECKIN_USER_AUTHENTICATE,
          PLIST(STR("MessageType", "UserAuthenticate") DEVICE
                STR("UserID", "u")) },
        { MDM_CHECKIN_SET_BOOTSTRAP_TOKEN,
          PLIST(STR("MessageType", "SetBootstrapToken") DEVICE) },
        { MDM_CHECKIN_GET_BOOTSTRAP_TOKEN,
          PLIST(STR("MessageType", "GetBootstrapToken") DEVICE) },
        { MDM_CHECKIN_DECLARATIVE_MANAGEMENT,
          PLIST(STR("MessageType", "DeclarativeManagement") DEVICE
                STR("Endpoint", "tokens")) },
        { MDM_CHECKIN_GET_TOKEN,
          PLIST(STR("MessageType", "GetToken") DEVICE
                STR("TokenServiceType", "com.apple.maid")) },
        { MDM_CHECKIN_RETURN_TO_SERVICE,
          PLIST(STR("MessageType", "ReturnToService") DEVICE) },
    };

    for (i = 0; i < sizeof(minimal) / sizeof(minimal[0]); i++) {
        ok(decode(minimal[i].body, &ci, &err) == MDM_OK
           && ci.type == minimal[i].type,
           "minimal %s decodes: %s", mdm_checkin_type_name(minimal[i].type),
           err.msg);
        is_str(ci.message_type, mdm_checkin_type_name(minimal[i].type),
               "MessageType string kept");
        mdm_checkin_free(&ci);
    }

    ok(decode(PLIST(STR("MessageType", "TokenUpdate") DEVICE TOPIC TOKEN
                    STR("PushMagic", "m") DATA("UnlockToken", "AAEC")
                    TRUE("AwaitingConfiguration") TRUE("NotOnConsole")
                    STR("UserID", "B3B3-USER") STR("UserLongName", "Ann Lee")
                    STR("UserShortName", "ann")),
              &ci, &err) == MDM_OK, "full macOS user TokenUpdate decodes");
    ok(ci.unlock_token.len == 3 && ci.unlock_token.data[2] == 2,
       "UnlockToken");
    ok(ci.awaiting_configuration == 1 && ci.not_on_console == 1,
       "AwaitingConfiguration and NotOnConsole");
    is_str(ci.id_keys.user_long_name, "Ann Lee", "UserLongName");
    is_str(ci.enrollment.id, UDID ":B3B3-USER", "user channel enrollment ID");
    mdm_checkin_free(&ci);

    ok(decode(PLIST(STR("MessageType", "UserAuthenticate") DEVICE
                    STR("UserID", "u") STR("DigestResponse", "abc")),
              &ci, &err) == MDM_OK && ci.digest_response != NULL
       && strcmp(ci.digest_response, "abc") == 0,
       "second UserAuthenticate carries DigestResponse");
    mdm_checkin_free(&ci);

    ok(decode(PLIST(STR("MessageType", "UserAuthenticate") DEVICE
                    STR("UserID", "u")), &ci, &err) == MDM_OK
       && ci.digest_response == NULL,
       "first UserAuthenticate has no DigestResponse");
    mdm_checkin_free(&ci);

    ok(decode(PLIST(STR("MessageType", "SetBootstrapToken") DEVICE
                    DATA("BootstrapToken", "AAEC")
                    FALSE("AwaitingConfiguration")), &ci, &err) == MDM_OK
       && ci.bootstrap_token.len == 3, "SetBootstrapToken with a token");
    mdm_checkin_free(&ci);

    ok(decode(PLIST(STR("MessageType", "SetBootstrapToken") DEVICE),
              &ci, &err) == MDM_OK && ci.bootstrap_token.data == NULL
       && ci.bootstrap_token.len == 0,
       "SetBootstrapToken without a token (delete)");
    mdm_checkin_free(&ci);

    ok(decode(PLIST(STR("MessageType", "DeclarativeManagement") DEVICE
                    STR("Endpoint", "status") DATA("Data", "e30=")),
              &ci, &err) == MDM_OK && strcmp(ci.endpoint, "status") == 0
       && ci.data.len == 2 && memcmp(ci.data.data, "{}", 2) == 0,
       "DeclarativeManagement with Endpoint and Data");
    mdm_checkin_free(&ci);

    ok(decode(PLIST(STR("MessageType", "GetToken") DEVICE
                    STR("TokenServiceType", "com.apple.watch.pairing")
                    "<key>TokenParameters</key><dict>"
                    STR("PhoneUDID", "p") STR("WatchUDID", "w")
                    STR("SecurityToken", "s") "</dict>"),
              &ci, &err) == MDM_OK && ci.token_parameters != NULL
       && plist_dict_get_size(ci.token_parameters) == 3,
       "GetToken with TokenParameters");
    mdm_checkin_free(&ci);

    ok(decode(PLIST(STR("MessageType", "Authenticate") DEVICE TOPIC
                    STR("Challenge", "x") INT("FutureKey", "1")
                    "<key>Nested</key><dict>" STR("a", "b") "</dict>"),
              &ci, &err) == MDM_OK, "unknown extra keys are ignored");
    mdm_checkin_free(&ci);

    ok(decode(PLIST(STR("MessageType", "Authenticate") DEVICE TOPIC
                    STR("Model", "MacBookPro18,3")
                    STR("ModelName", "MacBook Pro")
                    STR("DeviceName", "Ann's Mac") STR("IMEI", "35 1")
                    STR("MEID", "A1")), &ci, &err) == MDM_OK
       && strcmp(ci.model, "MacBookPro18,3") == 0
       && strcmp(ci.model_name, "MacBook Pro") == 0
       && strcmp(ci.device_name, "Ann's Mac") == 0
       && strcmp(ci.imei, "35 1") == 0 && strcmp(ci.meid, "A1") == 0,
       "macOS Authenticate device facts");
    mdm_checkin_free(&ci);
}


static void
test_enrollment_shapes(void)
{
    size_t          i;
    mdm_err_t       err;
    mdm_checkin_t   ci;

    static const struct {
        const char  *what;
        const char  *body;
        const char  *id;
        const char  *type;
        const char  *parent;
    } shapes[] = {
        { "device channel",
          PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "D1")),
          "D1", "Device", "" },
        { "User Enrollment device channel",
          PLIST(STR("MessageType", "CheckOut") TOPIC
                STR("EnrollmentID", "E1")),
          "E1", "User Enrollment (Device)", "" },
        { "macOS user channel",
          PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "D1")
                STR("UserID", "U1") STR("UserShortName", "ann")),
          "D1:U1", "User", "D1" },
        { "Shared iPad user channel",
          PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "D1")
                STR("UserID", MDM_SHARED_IPAD_USER_ID)
                STR("UserShortName", "ann@example.com")),
          "D1:ann@example.com", "Shared iPad", "D1" },
        { "User Enrollment user channel",
          PLIST(STR("MessageType", "CheckOut") TOPIC
                STR("EnrollmentID", "E1") STR("EnrollmentUserID", "EU1")),
          "E1:EU1", "User Enrollment", "E1" },
        { "UDID and EnrollmentID (UDID wins)",
          PLIST(STR("MessageType", "CheckOut") TOPIC
                STR("EnrollmentID", "E1") STR("UDID", "D1")),
          "D1", "Device", "" },
    };

    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        ok(decode(shapes[i].body, &ci, &err) == MDM_OK, "%s decodes: %s",
           shapes[i].what, err.msg);
        is_str(ci.enrollment.id, shapes[i].id, "%s: ID", shapes[i].what);
        is_str(mdm_enrollment_type_name(ci.enrollment.type), shapes[i].type,
               "%s: type", shapes[i].what);
        is_str(ci.enrollment.parent, shapes[i].parent, "%s: parent",
               shapes[i].what);
        mdm_checkin_free(&ci);
    }
}


static void
test_bad_identity(void)
{
    char  body[2048], long_udid[300];

    refused(PLIST(STR("MessageType", "CheckOut") TOPIC),
            "neither UDID nor EnrollmentID", "no UDID nor EnrollmentID");
    refused(PLIST(STR("MessageType", "CheckOut") TOPIC
                  STR("UserID", "U1")),
            "neither UDID nor EnrollmentID", "UserID alone");
    refused(PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "")),
            "key UDID must not be empty", "empty UDID");
    refused(PLIST(STR("MessageType", "CheckOut") TOPIC
                  INT("UDID", "12")), "key UDID must be a string",
            "integer UDID");
    refused(PLIST(STR("MessageType", "CheckOut") TOPIC
                  STR("EnrollmentID", "E{1}")),
            "key EnrollmentID contains a forbidden character",
            "brace in EnrollmentID");
    refused(PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "D1")
                  STR("UserID", "U}")),
            "key UserID contains a forbidden character", "brace in UserID");
    refused(PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "D\t1")),
            "key UDID contains a forbidden character 0x09", "tab in UDID");
    refused(PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "D&#x7f;")),
            "key UDID contains a forbidden character 0x7F", "DEL in UDID");
    refused(PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "D:1")),
            "key UDID must not contain ':'", "colon in UDID");
    refused(PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "D1")
                  STR("UserID", MDM_SHARED_IPAD_USER_ID)),
            "Shared iPad UserID without UserShortName",
            "Shared iPad UserID without a short name");

    memset(long_udid, 'A', 257);
    long_udid[257] = '\0';
    snprintf(body, sizeof(body),
             PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "%s")),
             long_udid);
    refused(body, "key UDID is longer than 256", "257-byte UDID");

    long_udid[256] = '\0';
    snprintf(body, sizeof(body),
             PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "%s")
                   STR("UserID", "U")), long_udid);
    refused(body, "enrollment ID longer than 256", "user channel ID of 258 "
            "bytes");
}


static void
test_bad_keys(void)
{
    refused("", "empty body", "empty body");
    refused("<plist><dict>", "not a valid XML plist", "malformed XML");
    refused("\x89PNG\r\n\x1a\n", "not a valid", "binary garbage");
    refused("<plist><array/></plist>", "not a dict", "top-level array");
    refused(PLIST(DEVICE TOPIC), "missing required key MessageType",
            "no MessageType");
    refused(PLIST(INT("MessageType", "1") DEVICE),
            "key MessageType must be a string", "integer MessageType");
    refused(PLIST(STR("MessageType", "Hello") DEVICE),
            "unknown MessageType \"Hello\"", "unknown MessageType");
    refused(PLIST(STR("MessageType", "authenticate") DEVICE TOPIC),
            "unknown MessageType", "MessageType in the wrong case");
    refused(PLIST(STR("MessageType", "Authenticate") DEVICE),
            "missing required key Topic", "Authenticate without Topic");
    refused(PLIST(STR("MessageType", "Authenticate") DEVICE TOPIC
                  INT("SerialNumber", "5")),
            "key SerialNumber must be a string", "integer SerialNumber");
    refused(PLIST(STR("MessageType", "TokenUpdate") DEVICE TOPIC
                  STR("PushMagic", "m")),
            "missing required key Token", "TokenUpdate without Token");
    refused(PLIST(STR("MessageType", "TokenUpdate") DEVICE TOPIC
                  STR("Token", "abc") STR("PushMagic", "m")),
            "key Token must be data", "string Token");
    refused(PLIST(STR("MessageType", "TokenUpdate") DEVICE TOPIC TOKEN),
            "missing required key PushMagic", "TokenUpdate without PushMagic");
    refused(PLIST(STR("MessageType", "TokenUpdate") DEVICE TOPIC TOKEN
                  STR("PushMagic", "m") STR("AwaitingConfiguration", "no")),
            "key AwaitingConfiguration must be a boolean",
            "string AwaitingConfiguration");
    refused(PLIST(STR("MessageType", "TokenUpdate") DEVICE TOPIC TOKEN
                  STR("PushMagic", "m") STR("UnlockToken", "x")),
            "key UnlockToken must be data", "string UnlockToken");
    refused(PLIST(STR("MessageType", "CheckOut") DEVICE),
            "missing required key Topic", "CheckOut without Topic");

    refused_as("", MDM_REFUSED_EMPTY, "an empty body");
    refused_as("<plist><dict>", MDM_REFUSED_MALFORMED, "malformed XML");
    refused_as(PLIST(DEVICE TOPIC), MDM_REFUSED_MISSING_KEY, "no MessageType");
    refused_as(PLIST(STR("MessageType", "CheckOut") DEVICE),
               MDM_REFUSED_MISSING_KEY, "CheckOut without Topic");
    refused_as(PLIST(INT("MessageType", "1") DEVICE), MDM_REFUSED_WRONG_TYPE,
               "an integer MessageType");
    refused_as(PLIST(STR("MessageType", "Hello") DEVICE),
               MDM_REFUSED_UNKNOWN_TYPE, "MessageType Hello");
    refused_as(PLIST(STR("MessageType", "CheckOut") TOPIC STR("UDID", "D:1")),
               MDM_REFUSED_INVALID, "a UDID with ':'");
    refused_as(PLIST(STR("MessageType", "CheckOut") TOPIC),
               MDM_REFUSED_MISSING_KEY, "no UDID nor EnrollmentID");
    refused(PLIST(STR("MessageType", "UserAuthenticate") DEVICE
                  STR("UserID", "u") DATA("DigestResponse", "AA==")),
            "key DigestResponse must be a string", "data DigestResponse");
    refused(PLIST(STR("MessageType", "UserAuthenticate") DEVICE),
            "missing required key UserID", "UserAuthenticate without UserID");
    refused(PLIST(STR("MessageType", "SetBootstrapToken") DEVICE
                  STR("BootstrapToken", "x")),
            "key BootstrapToken must be data", "string BootstrapToken");
    refused(PLIST(STR("MessageType", "DeclarativeManagement") DEVICE),
            "missing required key Endpoint", "DeclarativeManagement without "
            "Endpoint");
    refused(PLIST(STR("MessageType", "DeclarativeManagement") DEVICE
                  STR("Endpoint", "status") STR("Data", "{}")),
            "key Data must be data", "string Data");
    refused(PLIST(STR("MessageType", "GetToken") DEVICE),
            "missing required key TokenServiceType",
            "GetToken without TokenServiceType");
    refused(PLIST(STR("MessageType", "GetToken") DEVICE
                  STR("TokenServiceType", "com.apple.maid")
                  "<key>TokenParameters</key><array/>"),
            "key TokenParameters must be a dict", "array TokenParameters");
    refused(PLIST(STR("MessageType", "Authenticate") DEVICE TOPIC
                  STR("Topic", "other")),
            "duplicated key", "duplicated Topic");
}


static void
test_binary_checkin(void)
{
    char            *bin;
    uint32_t         len;
    plist_t          dict;
    mdm_err_t        err;
    mdm_checkin_t    ci;
    const char      *xml;

    xml = PLIST(STR("MessageType", "TokenUpdate") DEVICE TOPIC TOKEN
                STR("PushMagic", "m"));
    dict = NULL;
    plist_from_xml(xml, strlen(xml), &dict);
    bin = NULL;
    plist_to_bin(dict, &bin, &len);
    plist_free(dict);

    ok(mdm_checkin_decode(bin, len, len, &ci, &err) == MDM_OK
       && ci.type == MDM_CHECKIN_TOKEN_UPDATE && ci.token.len == 32,
       "binary TokenUpdate decodes: %s", err.msg);
    mdm_checkin_free(&ci);

    ok(mdm_checkin_decode(bin, len, len - 1, &ci, &err) == MDM_ERROR
       && strstr(err.msg, "exceeds the limit") != NULL,
       "binary TokenUpdate over the limit is refused");
    free(bin);
}


int
main(void)
{
    test_fixtures();
    test_message_types();
    test_enrollment_shapes();
    test_bad_identity();
    test_bad_keys();
    test_binary_checkin();

    return done_testing();
}
