#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <plist/plist.h>

#include "mdm_command.h"
#include "mdm_command_schema.h"
#include "arena.h"
#include "tap.h"


/* Apple's YAML release the committed table was generated from. */
#define YAML_COMMANDS  66

/* Where the YAML sits next to a checkout; CI may not have it. */
#define YAML_DIR  "../shared/apple-device-management/mdm/commands"


static mdm_err_t  e;
static char      *err = e.msg;


/* Builds a command from JSON, expecting success; returns its plist. */
static plist_t
build(const char *json, mdm_command_t *cmd)
{
    int      rc;
    plist_t  plist;

    rc = mdm_command_from_json(json, strlen(json), cmd, &e);
    if (rc != MDM_OK) {
        diag("from_json failed: %s", err);
        return NULL;
    }

    plist = NULL;
    plist_from_xml(cmd->plist, (uint32_t) cmd->plist_len, &plist);

    return plist;
}


/* Runs from_json expecting it to refuse; returns the message. */
static const char *
refuse(const char *json)
{
    int            rc;
    mdm_command_t  cmd;

    rc = mdm_command_from_json(json, strlen(json), &cmd, &e);
    if (rc != MDM_ERROR) {
        diag("from_json returned %d for %s", rc, json);
        mdm_command_free(&cmd);
        return "(accepted)";
    }

    if (cmd.uuid != NULL || cmd.request_type != NULL || cmd.plist != NULL) {
        return "(refused, but the command is not empty)";
    }

    return err;
}


static const char *
string_at(plist_t plist, const char *a, const char *b)
{
    plist_t  node;

    node = b ? plist_access_path(plist, 2, a, b)
             : plist_access_path(plist, 1, a);

    return plist_get_string_ptr(node, NULL);
}


static int
count_yaml(void)
{
    int             n;
    size_t          len;
    DIR            *dir;
    struct dirent  *de;

    dir = opendir(YAML_DIR);
    if (dir == NULL) {
        return -1;
    }

    n = 0;

    while ((de = readdir(dir)) != NULL) {
        len = strlen(de->d_name);

        if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0) {
            n++;
        }
    }

    closedir(dir);

    return n;
}


static int
key_ranges_ok(void)
{
    size_t                    i;
    const mdm_command_key_t  *k;

    for (i = 0; i < mdm_command_nkeys; i++) {
        k = &mdm_command_keys[i];

        if (k->name == NULL || k->type > MDM_KEY_ANY
            || k->subkeys + k->nsubkeys > mdm_command_nkeys
            || k->values + k->nvalues > mdm_command_nvalues)
        {
            diag("bad key %zu", i);
            return 0;
        }
    }

    return 1;
}


static void
test_table(void)
{
    int                          n, sorted, found;
    size_t                       i;
    const mdm_command_schema_t  *s;

    is_int(mdm_command_nschemas, YAML_COMMANDS,
           "table has one command per YAML file of the release");

    n = count_yaml();
    if (n < 0) {
        diag("skipping YAML count: %s not found", YAML_DIR);

    } else {
        is_int(mdm_command_nschemas, n, "table covers every YAML file");
    }

    sorted = 1;
    found = 1;

    for (i = 0; i < mdm_command_nschemas; i++) {
        s = &mdm_command_schemas[i];

        if (i > 0 && strcmp(s[-1].request_type, s->request_type) >= 0) {
            sorted = 0;
        }

        if (mdm_command_schema_find(s->request_type) != s
            || s->keys + s->nkeys > mdm_command_nkeys)
        {
            found = 0;
        }
    }

    ok(sorted, "commands sorted by RequestType");
    ok(found, "every command found by RequestType");
    ok(mdm_command_schemas[mdm_command_nschemas].request_type == NULL,
       "command table ends with a sentinel");
    ok(key_ranges_ok(), "every key's subkeys and values are in range");
    ok(mdm_command_schema_find("NoSuchCommand") == NULL,
       "unknown RequestType not found");

    s = mdm_command_schema_find("DeviceInformation");
    is_str(s->os[MDM_OS_IOS].introduced, "4.0", "DeviceInformation iOS 4.0");
    is_str(s->os[MDM_OS_MACOS].introduced, "10.7",
           "DeviceInformation macOS 10.7");
    is_int(s->os[MDM_OS_MACOS].user_channel, 1,
           "DeviceInformation on the macOS user channel");
    is_int(s->os[MDM_OS_TVOS].device_channel, -1,
           "tvOS channel flag not stated");

    s = mdm_command_schema_find("EnableLostMode");
    ok(s->os[MDM_OS_MACOS].introduced == NULL, "EnableLostMode not on macOS");
    is_int(s->os[MDM_OS_IOS].supervised, 1, "EnableLostMode supervised");
}


static void
test_device_information(void)
{
    plist_t        plist, queries;
    mdm_command_t  cmd;

    plist = build("{\"request_type\": \"DeviceInformation\","
                  " \"command_uuid\": \"9F09D114-BCFD-42AD-A974\","
                  " \"Queries\": [\"SerialNumber\", \"OSVersion\"]}", &cmd);

    ok(plist != NULL, "DeviceInformation plist parses back");
    is_str(cmd.uuid, "9F09D114-BCFD-42AD-A974", "given CommandUUID returned");
    is_str(cmd.request_type, "DeviceInformation", "RequestType returned");
    is_int(strlen(cmd.plist), cmd.plist_len, "plist_len is the XML length");

    is_int(plist_dict_get_size(plist), 2, "top level has two keys");
    is_str(string_at(plist, "CommandUUID", NULL), "9F09D114-BCFD-42AD-A974",
           "CommandUUID beside Command");
    is_int(plist_dict_get_size(plist_dict_get_item(plist, "Command")), 2,
           "Command has RequestType and Queries only");
    is_str(string_at(plist, "Command", "RequestType"), "DeviceInformation",
           "Command.RequestType");

    queries = plist_access_path(plist, 2, "Command", "Queries");
    is_int(plist_get_node_type(queries), PLIST_ARRAY, "Queries is an array");
    is_int(plist_array_get_size(queries), 2, "two queries");
    is_str(plist_get_string_ptr(plist_array_get_item(queries, 1), NULL),
           "OSVersion", "queries keep their order");

    plist_free(plist);
    mdm_command_free(&cmd);
    ok(cmd.plist == NULL && cmd.uuid == NULL, "free zeroes the command");
}


static void
test_generated_uuid(void)
{
    plist_t        plist;
    const char    *u;
    mdm_command_t  cmd, cmd2;

    plist = build("{\"request_type\": \"SecurityInfo\"}", &cmd);
    u = cmd.uuid;

    ok(u != NULL && strlen(u) == 36, "generated CommandUUID is 36 chars");
    ok(u != NULL && strspn(u, "0123456789ABCDEF-") == 36,
       "generated CommandUUID is upper case");
    ok(u != NULL && u[8] == '-' && u[13] == '-' && u[14] == '4'
       && u[18] == '-' && strchr("89AB", u[19]) != NULL && u[23] == '-',
       "generated CommandUUID is a version 4 UUID");
    is_str(string_at(plist, "CommandUUID", NULL), u,
           "generated CommandUUID is in the plist");

    plist_free(plist);
    plist = build("{\"request_type\": \"SecurityInfo\"}", &cmd2);
    ok(strcmp(cmd.uuid, cmd2.uuid) != 0, "two commands get different UUIDs");

    plist_free(plist);
    mdm_command_free(&cmd);
    mdm_command_free(&cmd2);
}


static void
test_install_profile(void)
{
    plist_t        plist, payload;
    uint64_t       len;
    const char    *bytes;
    mdm_command_t  cmd;

    /* "<?xml" then the bytes 0x00 0xff, to see binary survive */
    plist = build("{\"request_type\": \"InstallProfile\","
                  " \"Payload\": \"PD94bWwA/w==\"}", &cmd);

    payload = plist_access_path(plist, 2, "Command", "Payload");
    is_int(plist_get_node_type(payload), PLIST_DATA, "Payload is data");

    bytes = plist_get_data_ptr(payload, &len);
    ok(len == 7 && bytes != NULL && memcmp(bytes, "<?xml\0\377", 7) == 0,
       "Payload holds the decoded bytes");

    plist_free(plist);
    mdm_command_free(&cmd);

    plist = build("{\"request_type\": \"InstallProfile\","
                  " \"Payload\": \"PD94\\nbWwA/w\"}", &cmd);
    payload = plist_access_path(plist, 2, "Command", "Payload");
    plist_get_data_ptr(payload, &len);
    is_int(len, 7, "wrapped, unpadded base64 decodes too");

    plist_free(plist);
    mdm_command_free(&cmd);

    is_str(refuse("{\"request_type\": \"InstallProfile\","
                  " \"Payload\": \"PD94b!==\"}"),
           "Payload: invalid base64", "bad base64 refused");
    is_str(refuse("{\"request_type\": \"InstallProfile\","
                  " \"Payload\": \"PD9=4bWw\"}"),
           "Payload: invalid base64", "data after padding refused");
    is_str(refuse("{\"request_type\": \"InstallProfile\", \"Payload\": 5}"),
           "Payload: expected data (a base64 string), got integer",
           "non-string Payload refused with the JSON spelling of data");
}


static void
test_settings(void)
{
    plist_t        plist, item, image;
    mdm_command_t  cmd;

    plist = build("{\"request_type\": \"Settings\", \"Settings\": ["
                  " {\"Item\": \"DeviceName\", \"DeviceName\": \"kiosk-1\"},"
                  " {\"Item\": \"Wallpaper\", \"Image\": \"iVBORw==\","
                  "  \"Where\": 3},"
                  " {\"Item\": \"MDMOptions\", \"MDMOptions\":"
                  "  {\"ActivationLockAllowedWhileSupervised\": true}}]}",
                  &cmd);

    ok(plist != NULL, "Settings with three items builds");

    item = plist_access_path(plist, 3, "Command", "Settings", 0);
    is_str(string_at(item, "DeviceName", NULL), "kiosk-1",
           "Settings[0].DeviceName");

    image = plist_access_path(plist, 4, "Command", "Settings", 1, "Image");
    is_int(plist_get_node_type(image), PLIST_DATA,
           "Wallpaper Image picked by Item and decoded to data");

    item = plist_access_path(plist, 5, "Command", "Settings", 2, "MDMOptions",
                             "ActivationLockAllowedWhileSupervised");
    is_int(plist_get_node_type(item), PLIST_BOOLEAN,
           "nested MDMOptions boolean");

    plist_free(plist);
    mdm_command_free(&cmd);

    is_str(refuse("{\"request_type\": \"Settings\", \"Settings\":"
                  " [{\"Item\": \"DeviceName\", \"DeviceName\": \"a\"},"
                  "  {\"Item\": 5}]}"),
           "Settings[1].Item: expected string, got integer",
           "wrong type named by its path");
    is_str(refuse("{\"request_type\": \"Settings\", \"Settings\":"
                  " [{\"Item\": \"DeviceName\", \"DeviceName\": true}]}"),
           "Settings[0].DeviceName: expected string, got boolean",
           "wrong type inside an item");
    is_str(refuse("{\"request_type\": \"Settings\", \"Settings\":"
                  " [{\"Item\": \"Wallpaper\", \"Where\": 1}]}"),
           "missing required key Settings[0].Image",
           "missing required key inside an item");
    is_str(refuse("{\"request_type\": \"Settings\", \"Settings\":"
                  " [{\"Item\": \"Wallpaper\", \"Image\": \"\","
                  "  \"Where\": 4}]}"),
           "Settings[0].Where: 4 is not one of: 1, 2, 3",
           "integer outside its allowed values");
    is_str(refuse("{\"request_type\": \"Settings\", \"Settings\":"
                  " [{\"DeviceName\": \"a\"}]}"),
           "missing required key Settings[0].Item",
           "item without Item refused");
    is_str(refuse("{\"request_type\": \"Settings\", \"Settings\": [7]}"),
           "Settings[0]: expected dictionary, got integer",
           "item that is not a dictionary refused");
    ok(strncmp(refuse("{\"request_type\": \"Settings\", \"Settings\":"
                      " [{\"Item\": \"Toaster\"}]}"),
               "Settings[0].Item: Toaster is not one of: Wallpaper, ", 50)
       == 0, "unknown Item lists the allowed ones");
}


static void
test_erase_device(void)
{
    plist_t        plist, rts;
    mdm_command_t  cmd;

    plist = build("{\"request_type\": \"EraseDevice\", \"PIN\": \"123456\","
                  " \"ObliterationBehavior\": \"DoNotObliterate\","
                  " \"ReturnToService\": {\"Enabled\": true,"
                  "  \"WiFiProfileData\": \"AAEC\"}}", &cmd);

    rts = plist_access_path(plist, 2, "Command", "ReturnToService");
    is_int(plist_get_node_type(rts), PLIST_DICT, "ReturnToService is a dict");
    ok(plist_bool_val_is_true(plist_dict_get_item(rts, "Enabled")),
       "ReturnToService.Enabled is true");
    is_int(plist_get_node_type(plist_dict_get_item(rts, "WiFiProfileData")),
           PLIST_DATA, "ReturnToService.WiFiProfileData is data");

    plist_free(plist);
    mdm_command_free(&cmd);

    is_str(refuse("{\"request_type\": \"EraseDevice\","
                  " \"ReturnToService\": {\"WiFiProfileData\": \"AAEC\"}}"),
           "missing required key ReturnToService.Enabled",
           "nested required key");
    is_str(refuse("{\"request_type\": \"EraseDevice\","
                  " \"ReturnToService\": {\"Enabled\": true, \"Foo\": 1}}"),
           "unknown key ReturnToService.Foo", "nested unknown key");
    is_str(refuse("{\"request_type\": \"EraseDevice\","
                  " \"ObliterationBehavior\": \"Sometimes\"}"),
           "ObliterationBehavior: Sometimes is not one of: Default, "
           "DoNotObliterate, ObliterateWithWarning, Always",
           "string outside its allowed values");
}


static void
test_other_keys(void)
{
    plist_t        plist;
    mdm_command_t  cmd;

    is_str(refuse("{\"request_type\": \"InstallApplication\","
                  " \"iTunesStoreID\": 361309726,"
                  " \"Configuration\": {\"anything\": [1, {\"x\": null}]}}"),
           "Configuration.anything[1].x: null is not allowed",
           "null refused even where anything goes, named by its path");

    plist = build("{\"request_type\": \"InstallApplication\","
                  " \"iTunesStoreID\": 361309726, \"ManagementFlags\": 5,"
                  " \"Configuration\": {\"server\": \"a\", \"n\": [1, 2.5]}}",
                  &cmd);
    ok(plist != NULL, "free-form Configuration (ANY) accepted");
    plist_free(plist);
    mdm_command_free(&cmd);

    ok(strstr(refuse("{\"request_type\": \"InstallApplication\","
                     " \"Configuration\": {\"a\": [[[[[[[[[[[[[[[[[[[[[[[["
                     "[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}"),
              "nested deeper than 32 levels") != NULL,
       "JSON nested deeper than a queued plist may be refused");

    is_str(refuse("{\"request_type\": \"InstallApplication\","
                  " \"ManagementFlags\": 2}"),
           "ManagementFlags: 2 is not one of: 1, 4, 5",
           "integer allowed values");

    plist = build("{\"request_type\": \"ProfileList\","
                  " \"RequestRequiresNetworkTether\": false}", &cmd);
    ok(plist != NULL, "RequestRequiresNetworkTether allowed on any command");
    plist_free(plist);
    mdm_command_free(&cmd);

    is_str(refuse("{\"request_type\": \"ProfileList\","
                  " \"RequestRequiresNetworkTether\": \"yes\"}"),
           "RequestRequiresNetworkTether: expected boolean, got string",
           "RequestRequiresNetworkTether must be boolean");
}


static void
test_refusals(void)
{
    is_str(refuse("{\"request_type\": \"FormatHardDrive\"}"),
           "unknown RequestType FormatHardDrive", "unknown RequestType");
    is_int(e.reason, MDM_REFUSED_UNKNOWN_TYPE, "... for reason unknown_type");
    refuse("{\"request_type\": \"DeviceInformation\"}");
    is_int(e.reason, MDM_REFUSED_MISSING_KEY, "a missing key: missing_key");
    refuse("{\"request_type\": \"DeviceInformation\", \"Queries\": 3}");
    is_int(e.reason, MDM_REFUSED_WRONG_TYPE, "a wrong type: wrong_type");
    refuse("{\"request_type\": ");
    is_int(e.reason, MDM_REFUSED_MALFORMED, "broken JSON: malformed");
    is_str(refuse("{\"Queries\": []}"), "missing request_type",
           "missing request_type");
    is_str(refuse("{\"request_type\": 7}"), "request_type must be a string",
           "request_type not a string");
    is_str(refuse("{\"request_type\": \"DeviceInformation\","
                  " \"Querys\": [\"UDID\"]}"),
           "unknown key Querys", "unknown key named");
    is_str(refuse("{\"request_type\": \"SecurityInfo\", \"Force\": true}"),
           "unknown key Force", "key on a command with no keys");
    is_str(refuse("{\"request_type\": \"DeviceInformation\","
                  " \"RequestType\": \"EraseDevice\", \"Queries\": []}"),
           "unknown key RequestType", "RequestType in the payload refused");
    is_str(refuse("{\"request_type\": \"DeviceInformation\","
                  " \"Queries\": \"UDID\"}"),
           "Queries: expected array, got string", "wrong type named");
    is_str(refuse("{\"request_type\": \"DeviceInformation\","
                  " \"Queries\": [\"UDID\", 3]}"),
           "Queries[1]: expected string, got integer",
           "wrong element type named by index");
    is_str(refuse("{\"request_type\": \"DeviceInformation\"}"),
           "missing required key Queries", "missing required key");
    is_str(refuse("{\"request_type\": \"DeviceInformation\","
                  " \"command_uuid\": \"\", \"Queries\": []}"),
           "command_uuid must be a string of 1 to 128 bytes without "
           "control characters or braces", "empty command_uuid");
    is_str(refuse("{\"request_type\": \"DeviceInformation\","
                  " \"command_uuid\": \"a\\nb\", \"Queries\": []}"),
           "command_uuid must be a string of 1 to 128 bytes without "
           "control characters or braces", "command_uuid with a newline");
    is_str(refuse("{\"request_type\": \"DeviceInformation\","
                  " \"command_uuid\": \"a}b\", \"Queries\": []}"),
           "command_uuid must be a string of 1 to 128 bytes without "
           "control characters or braces", "command_uuid with a brace");

    ok(strncmp(refuse("{\"request_type\": \"DeviceInformation\","), 
               "invalid JSON: ", 14) == 0, "malformed JSON");
    ok(strncmp(refuse("{\"request_type\": \"SecurityInfo\","
                      " \"request_type\": \"EraseDevice\"}"),
               "invalid JSON: duplicate", 23) == 0, "duplicate keys refused");
    is_str(refuse("[\"DeviceInformation\"]"), "command must be a JSON object",
           "JSON array refused");
    is_str(refuse("\"DeviceInformation\""), "command must be a JSON object",
           "JSON string refused");
}


static void
test_messages_are_safe(void)
{
    int            rc;
    char           json[600], *p;
    size_t         i;
    json_t        *s;
    mdm_command_t  cmd;

    p = json + sprintf(json, "{\"request_type\": \"SecurityInfo\", \"");
    for (i = 0; i < 150; i++) {
        p += sprintf(p, "\xc3\xa9");
    }
    sprintf(p, "\": 1}");

    rc = mdm_command_from_json(json, strlen(json), &cmd, &e);
    is_int(rc, MDM_ERROR, "long unknown key refused");
    s = json_string(err);
    ok(s != NULL, "cut message is still valid UTF-8");
    json_decref(s);

    is_int(strlen(err), MDM_ERR_LEN - 1, "cut message fills the buffer");
}


static const char  good_plist[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<plist version=\"1.0\"><dict>"
    "<key>CommandUUID</key><string>abc-1</string>"
    "<key>Command</key><dict>"
    "<key>RequestType</key><string>DeviceInformation</string>"
    "<key>Queries</key><array><string>UDID</string></array>"
    "</dict></dict></plist>";


static int
check_plist(const char *body, int validate)
{
    int            rc;
    mdm_command_t  cmd;

    if (validate) {
        rc = mdm_command_validate_plist(body, strlen(body), &cmd, &e);
    } else {
        rc = mdm_command_check_plist(body, strlen(body), &cmd, &e);
    }

    if (rc != MDM_OK) {
        ok(cmd.uuid == NULL, "refused plist leaves no strings");
    }

    mdm_command_free(&cmd);

    return rc;
}


#define WRAP(cmd_dict)                                                       \
    "<plist version=\"1.0\"><dict><key>CommandUUID</key>"                   \
    "<string>u-1</string><key>Command</key>" cmd_dict "</dict></plist>"


static void
test_check_plist(void)
{
    int            rc;
    mdm_command_t  cmd;

    rc = mdm_command_check_plist(good_plist, strlen(good_plist), &cmd, &e);
    is_int(rc, MDM_OK, "raw plist accepted");
    is_str(cmd.uuid, "abc-1", "raw plist CommandUUID returned");
    is_str(cmd.request_type, "DeviceInformation",
           "raw plist RequestType returned");
    ok(cmd.plist == NULL, "raw plist is not copied");
    mdm_command_free(&cmd);

    is_int(check_plist(good_plist, 1), MDM_OK,
           "raw plist passes validation");

    is_int(check_plist("not a plist", 0), MDM_ERROR, "garbage");
    is_str(err, "body is not a valid XML plist", "garbage message");
    is_int(check_plist("", 0), MDM_ERROR, "empty body");

    check_plist("<plist version=\"1.0\"><array/></plist>", 0);
    is_str(err, "top level of the plist is not a dict", "array plist refused");

    check_plist("<plist version=\"1.0\"><dict><key>Command</key><dict>"
                "<key>RequestType</key><string>X</string></dict></dict>"
                "</plist>", 0);
    is_str(err, "missing CommandUUID", "missing CommandUUID");

    check_plist("<plist version=\"1.0\"><dict><key>CommandUUID</key>"
                "<string></string><key>Command</key><dict/></dict></plist>",
                0);
    is_str(err, "CommandUUID must be 1 to 128 bytes without control "
           "characters or braces", "empty CommandUUID");

    check_plist("<plist version=\"1.0\"><dict><key>CommandUUID</key>"
                "<integer>5</integer></dict></plist>", 0);
    is_str(err, "key CommandUUID must be a string", "integer CommandUUID");

    check_plist("<plist version=\"1.0\"><dict><key>CommandUUID</key>"
                "<string>u-1</string></dict></plist>", 0);
    is_str(err, "missing Command", "missing Command");

    check_plist(WRAP("<string>DeviceInformation</string>"), 0);
    is_str(err, "key Command must be a dict", "Command not a dict");

    check_plist(WRAP("<dict/>"), 0);
    is_str(err, "missing Command.RequestType", "missing RequestType");

    check_plist(WRAP("<dict><key>RequestType</key><true/></dict>"), 0);
    is_str(err, "key RequestType must be a string",
           "RequestType not a string");

    check_plist(WRAP("<dict><key>RequestType</key><string></string></dict>"),
                0);
    is_str(err, "Command.RequestType is empty", "empty RequestType");

    check_plist("<plist version=\"1.0\"><dict><key>CommandUUID</key>"
                "<string>a</string><key>CommandUUID</key><string>b</string>"
                "</dict></plist>", 0);
    ok(strstr(err, "duplicated key") != NULL,
       "duplicated key refused by the strict plist intake");

    /* what NanoMDM users send may be newer than our schema */
    is_int(check_plist(WRAP("<dict><key>RequestType</key>"
                            "<string>FutureCommand</string></dict>"), 0),
           MDM_OK, "check accepts an unknown RequestType");
    is_int(check_plist(WRAP("<dict><key>RequestType</key><string>"
                            "DeviceInformation</string><key>NewKey</key>"
                            "<true/><key>Queries</key><array/></dict>"), 0),
           MDM_OK, "check accepts an unknown key");

    is_int(check_plist(WRAP("<dict><key>RequestType</key>"
                            "<string>FutureCommand</string></dict>"), 1),
           MDM_ERROR, "validate refuses an unknown RequestType");
    is_str(err, "unknown RequestType FutureCommand", "its message");

    check_plist(WRAP("<dict><key>RequestType</key><string>"
                     "DeviceInformation</string><key>NewKey</key>"
                     "<true/><key>Queries</key><array/></dict>"), 1);
    is_str(err, "unknown key NewKey", "validate names an unknown key");

    check_plist(WRAP("<dict><key>RequestType</key><string>"
                     "InstallProfile</string><key>Payload</key>"
                     "<string>PD94</string></dict>"), 1);
    is_str(err, "Payload: expected data, got string",
           "validate names a wrong plist type");

    is_int(check_plist(WRAP("<dict><key>RequestType</key><string>"
                            "EraseDevice</string></dict>"), 1),
           MDM_OK, "validate accepts a command without keys");
}


/* What from_json builds must pass the raw-plist validation unchanged. */
static void
test_round_trip(void)
{
    int            rc;
    mdm_command_t  cmd, back;
    const char    *json = "{\"request_type\": \"Settings\", \"Settings\":"
                          " [{\"Item\": \"Wallpaper\", \"Image\": \"iVBORw==\","
                          " \"Where\": 1}]}";

    rc = mdm_command_from_json(json, strlen(json), &cmd, &e);
    is_int(rc, MDM_OK, "Settings built for the round trip");

    rc = mdm_command_validate_plist(cmd.plist, cmd.plist_len, &back, &e);
    is_int(rc, MDM_OK, "built plist validates as a raw plist");
    is_str(back.uuid, cmd.uuid, "round trip keeps the CommandUUID");

    mdm_command_free(&back);
    mdm_command_free(&cmd);
}



/* The API's path: the tree it parsed, its "ids" handed back, the results
 * in its pool. */
static void
test_build(void)
{
    json_t               *root, *ids;
    mdm_alloc_t           a;
    mdm_command_t         cmd;
    static test_arena_t   arena;

    a.alloc = test_arena_alloc;
    a.ctx = &arena;

    root = json_loads("{\"ids\": [\"A\", \"B\"], \"command_uuid\": \"C-9\","
                      " \"request_type\": \"DeviceInformation\","
                      " \"Queries\": [\"SerialNumber\"]}", 0, NULL);
    ok(mdm_command_build(root, &a, &cmd, &ids, &e) == MDM_OK,
       "a parsed command with ids builds");
    ok(json_is_array(ids) && json_array_size(ids) == 2,
       "the ids are handed back");
    ok(json_object_get(root, "ids") == NULL, "... and are not in the command");
    is_str(cmd.uuid, "C-9", "CommandUUID");
    is_str(cmd.request_type, "DeviceInformation", "RequestType");
    ok(test_arena_has(&arena, cmd.uuid) && test_arena_has(&arena, cmd.plist)
       && test_arena_has(&arena, cmd.request_type),
       "the strings are in the caller's allocator");
    ok(cmd.plist != NULL
       && strstr(cmd.plist, "<string>DeviceInformation</string>") != NULL
       && cmd.plist[cmd.plist_len] == '\0', "the plist is built");
    mdm_command_free(&cmd);
    ok(cmd.plist == NULL, "free of a pooled command only forgets it");
    json_decref(ids);
    json_decref(root);

    root = json_loads("{\"ids\": [\"A\"], \"request_type\": \"NoSuchThing\"}",
                      0, NULL);
    ok(mdm_command_build(root, &a, &cmd, &ids, &e) == MDM_ERROR
       && cmd.plist == NULL, "a refused command builds nothing");
    json_decref(ids);
    json_decref(root);
}

int
main(void)
{
    test_table();
    test_device_information();
    test_generated_uuid();
    test_install_profile();
    test_settings();
    test_erase_device();
    test_other_keys();
    test_refusals();
    test_messages_are_safe();
    test_check_plist();
    test_round_trip();
    test_build();

    return done_testing();
}
