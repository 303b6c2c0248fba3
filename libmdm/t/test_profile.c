/*
 * Configuration profiles: intake (XML, binary, CMS-signed), the identity
 * rules, the schema walk, the supportedOS check against a target, and a
 * sweep over every payload type of the generated tables: a payload made
 * from the table's own rules is accepted, and each way of breaking one of
 * them is refused with the rule it broke.
 */

#define _GNU_SOURCE                     /* memmem */

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "testcert.h"

#include "enroll/mdm_enroll_profile.h"
#include "profile/mdm_profile.h"


#define TOP_BEGIN                                                          \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                         \
    "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "              \
    "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"                \
    "<plist version=\"1.0\"><dict>"                                        \
    "<key>PayloadIdentifier</key><string>com.example.wifi</string>"        \
    "<key>PayloadUUID</key><string>6C7A1D6E-0000-4000-8000-000000000001"   \
    "</string>"                                                            \
    "<key>PayloadType</key><string>Configuration</string>"                 \
    "<key>PayloadVersion</key><integer>1</integer>"                        \
    "<key>PayloadDisplayName</key><string>Wi-Fi</string>"

#define WIFI(uuid, id)                                                     \
    "<dict><key>PayloadType</key><string>com.apple.wifi.managed</string>"  \
    "<key>PayloadVersion</key><integer>1</integer>"                        \
    "<key>PayloadIdentifier</key><string>" id "</string>"                  \
    "<key>PayloadUUID</key><string>" uuid "</string>"                      \
    "<key>SSID_STR</key><string>office</string>"                           \
    "<key>EncryptionType</key><string>WPA2</string></dict>"

#define WIFI1  WIFI("6C7A1D6E-0000-4000-8000-000000000002", "com.example.w1")

#define PROFILE(items)                                                     \
    TOP_BEGIN "<key>PayloadContent</key><array>" items "</array>"          \
    "</dict></plist>\n"


static mdm_profile_problems_t  probs;


static int
parse(const char *xml, mdm_profile_t *p, mdm_err_t *err)
{
    return mdm_profile_parse((const unsigned char *) xml, strlen(xml),
                             MDM_PROFILE_MAX, 0, p, &probs, err);
}


/* whether the problems hold one of rule (at path, when not NULL) */
static int
has(const char *rule, const char *path)
{
    size_t  i;

    for (i = 0; i < probs.n; i++) {
        if (strcmp(probs.items[i].rule, rule) == 0
            && (path == NULL || strcmp(probs.items[i].path, path) == 0))
        {
            return 1;
        }
    }

    return 0;
}


static void
show(void)
{
    size_t  i;

    for (i = 0; i < probs.n; i++) {
        diag("%s %s %s: %s", probs.items[i].severity ? "warning" : "error",
             probs.items[i].rule, probs.items[i].path, probs.items[i].msg);
    }
}


static void
refused(const char *xml, const char *rule, const char *path, const char *what)
{
    int            rc;
    mdm_err_t      err;
    mdm_profile_t  p;

    rc = parse(xml, &p, &err);
    ok(rc == MDM_ERROR && has(rule, path) && p.root == NULL,
       "refused: %s (%s at %s)", what, rule, path ? path : "any path");

    if (rc != MDM_ERROR || !has(rule, path)) {
        show();
    }

    mdm_profile_free(&p);
}


static void
test_accepts(void)
{
    int             rc;
    char           *bin;
    uint32_t        bin_len;
    plist_t         tree;
    mdm_err_t       err;
    mdm_profile_t   p;
    json_t         *j;

    rc = parse(PROFILE(WIFI1), &p, &err);
    ok(rc == MDM_OK, "a Wi-Fi profile is accepted");
    show();
    is_str(p.identifier, "com.example.wifi", "its PayloadIdentifier");
    is_str(p.uuid, "6C7A1D6E-0000-4000-8000-000000000001", "its PayloadUUID");
    is_str(p.display_name, "Wi-Fi", "its PayloadDisplayName");
    is_int(p.npayloads, 1, "one payload");
    is_str(p.payloads[0].type, "com.apple.wifi.managed", "its type");
    ok(p.payloads[0].schema != NULL, "known to the schema");
    is_int(probs.errors, 0, "no errors");
    is_int(strlen(p.sha256), 64, "content hash in hex");
    ok(!p.is_signed, "not signed");

    /* the same profile as a binary plist */
    tree = NULL;
    bin = NULL;
    plist_from_xml(PROFILE(WIFI1), strlen(PROFILE(WIFI1)), &tree);
    plist_to_bin(tree, &bin, &bin_len);
    plist_free(tree);
    mdm_profile_free(&p);

    rc = mdm_profile_parse((unsigned char *) bin, bin_len, MDM_PROFILE_MAX,
                           0, &p, &probs, &err);
    ok(rc == MDM_OK && p.npayloads == 1, "a binary plist is accepted too");
    mdm_profile_free(&p);
    free(bin);

    rc = parse(PROFILE(
        "<dict><key>PayloadType</key><string>com.example.app</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>com.example.app.1</string>"
        "<key>PayloadUUID</key><string>U-2</string>"
        "<key>AnyKey</key><integer>7</integer></dict>"), &p, &err);
    ok(rc == MDM_OK && has("custom-type", "PayloadContent[0].PayloadType")
       && probs.warnings == 1,
       "a custom preference domain passes with one warning");
    mdm_profile_free(&p);

    rc = parse(PROFILE(
        "<dict><key>PayloadType</key><string>com.apple.wifi.managed</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>com.example.w1</string>"
        "<key>PayloadUUID</key><string>U-2</string>"
        "<key>SSID_STR</key><string>x</string>"
        "<key>NotAWifiKey</key><true/></dict>"), &p, &err);
    ok(rc == MDM_OK
       && has("unknown-key", "PayloadContent[0].NotAWifiKey"),
       "an unknown key is a warning with its path");

    j = mdm_profile_problems_json(&probs);
    ok(j != NULL && json_array_size(j) == 1
       && strcmp(json_string_value(json_object_get(json_array_get(j, 0),
                                                   "severity")),
                 "warning") == 0
       && strcmp(json_string_value(json_object_get(json_array_get(j, 0),
                                                   "rule")),
                 "unknown-key") == 0,
       "problems as JSON: severity, rule, path, message");
    json_decref(j);
    mdm_profile_free(&p);

    rc = parse(TOP_BEGIN "<key>IsEncrypted</key><true/>"
               "<key>EncryptedPayloadContent</key><data>MIIB</data>"
               "</dict></plist>", &p, &err);
    ok(rc == MDM_OK && p.encrypted && p.npayloads == 0,
       "an encrypted profile needs no PayloadContent");
    mdm_profile_free(&p);

    rc = parse(PROFILE(
        "<dict><key>PayloadType</key>"
        "<string>com.apple.mobiledevice.passwordpolicy</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>com.example.pc</string>"
        "<key>PayloadUUID</key><string>U-3</string>"
        "<key>maxFailedAttempts</key><integer>11</integer>"
        "<key>minLength</key><integer>0</integer></dict>"), &p, &err);
    ok(rc == MDM_OK, "integers at the ends of their ranges");
    mdm_profile_free(&p);

    rc = parse(PROFILE(WIFI1
                       WIFI("6C7A1D6E-0000-4000-8000-000000000003",
                            "com.example.w2")), &p, &err);
    ok(rc == MDM_OK && p.npayloads == 2, "two payloads of a type");
    mdm_profile_free(&p);

    /* Home Screen layout: a recursive schema (folders of pages of icons) */
    rc = parse(PROFILE(
        "<dict><key>PayloadType</key>"
        "<string>com.apple.homescreenlayout</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>com.example.hs</string>"
        "<key>PayloadUUID</key><string>U-4</string>"
        "<key>Pages</key><array><array>"
        "<dict><key>Type</key><string>Folder</string>"
        "<key>DisplayName</key><string>Work</string>"
        "<key>Pages</key><array><array>"
        "<dict><key>Type</key><string>App</string>"
        "<key>BundleID</key><string>com.apple.mobilesafari</string></dict>"
        "</array></array></dict>"
        "</array></array></dict>"), &p, &err);
    ok(rc == MDM_OK, "a folder inside the Home Screen (recursive schema)");
    show();
    mdm_profile_free(&p);
}


static void
test_refuses(void)
{
    int            rc;
    char          *big;
    mdm_err_t      err;
    mdm_profile_t  p;

    rc = mdm_profile_parse((const unsigned char *) "", 0, MDM_PROFILE_MAX, 0,
                           &p, &probs, &err);
    ok(rc == MDM_ERROR && has("plist", ""), "refused: an empty body");

    refused("this is not a profile", "plist", "", "not a plist");
    refused("<?xml version=\"1.0\"?><plist><array/></plist>", "plist", "",
            "a plist that is not a dict");
    refused("<plist><dict><key>a</key><string>1</string>"
            "<key>a</key><string>2</string></dict></plist>", "plist", "",
            "a duplicated key");

    refused(PROFILE(WIFI1 "<string>not a dict</string>"), "type",
            "PayloadContent[1]", "a payload that is not a dict");
    refused(TOP_BEGIN "<key>PayloadContent</key><dict/></dict></plist>",
            "type", "PayloadContent", "PayloadContent not an array");
    refused(TOP_BEGIN "</dict></plist>", "required", "PayloadContent",
            "no PayloadContent");
    refused("<plist><dict><key>PayloadType</key><string>Configuration"
            "</string><key>PayloadVersion</key><integer>1</integer>"
            "<key>PayloadUUID</key><string>x</string><key>PayloadContent"
            "</key><array/></dict></plist>", "required", "PayloadIdentifier",
            "no PayloadIdentifier");
    refused("<plist><dict><key>PayloadType</key><string>Profile</string>"
            "<key>PayloadVersion</key><integer>1</integer>"
            "<key>PayloadIdentifier</key><string>a.b</string>"
            "<key>PayloadUUID</key><string>x</string><key>PayloadContent"
            "</key><array/></dict></plist>", "value", "PayloadType",
            "a top-level PayloadType other than Configuration");
    refused("<plist><dict><key>PayloadType</key><string>Configuration"
            "</string><key>PayloadVersion</key><integer>2</integer>"
            "<key>PayloadIdentifier</key><string>a.b</string>"
            "<key>PayloadUUID</key><string>x</string><key>PayloadContent"
            "</key><array/></dict></plist>", "value", "PayloadVersion",
            "PayloadVersion 2");
    refused("<plist><dict><key>PayloadType</key><string>Configuration"
            "</string><key>PayloadVersion</key><string>1</string>"
            "<key>PayloadIdentifier</key><string>a.b</string>"
            "<key>PayloadUUID</key><string>x</string><key>PayloadContent"
            "</key><array/></dict></plist>", "type", "PayloadVersion",
            "PayloadVersion as a string");
    refused("<plist><dict><key>PayloadType</key><string>Configuration"
            "</string><key>PayloadVersion</key><integer>1</integer>"
            "<key>PayloadIdentifier</key><string>has space</string>"
            "<key>PayloadUUID</key><string>x</string><key>PayloadContent"
            "</key><array/></dict></plist>", "identifier",
            "PayloadIdentifier", "a PayloadIdentifier with a space");
    refused("<plist><dict><key>PayloadType</key><string>Configuration"
            "</string><key>PayloadVersion</key><integer>1</integer>"
            "<key>PayloadIdentifier</key><string>a{b}</string>"
            "<key>PayloadUUID</key><string>x</string><key>PayloadContent"
            "</key><array/></dict></plist>", "identifier",
            "PayloadIdentifier", "a PayloadIdentifier with braces");
    refused("<plist><dict><key>PayloadType</key><string>Configuration"
            "</string><key>PayloadVersion</key><integer>1</integer>"
            "<key>PayloadIdentifier</key><string>a.b</string>"
            "<key>PayloadUUID</key><string></string><key>PayloadContent"
            "</key><array/></dict></plist>", "identifier", "PayloadUUID",
            "an empty PayloadUUID");
    refused(TOP_BEGIN "<key>IsEncrypted</key><true/></dict></plist>",
            "encrypted", "EncryptedPayloadContent",
            "IsEncrypted without EncryptedPayloadContent");
    refused(TOP_BEGIN "<key>TargetDeviceType</key><integer>9</integer>"
            "<key>PayloadContent</key><array/></dict></plist>", "value",
            "TargetDeviceType", "TargetDeviceType 9");
    refused(TOP_BEGIN "<key>PayloadScope</key><string>Everyone</string>"
            "<key>PayloadContent</key><array/></dict></plist>", "value",
            "PayloadScope", "PayloadScope not System or User");

    refused(PROFILE(
        "<dict><key>PayloadType</key><string>Bogus</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string></dict>"), "unknown-type",
        "PayloadContent[0].PayloadType", "a payload type that is no domain");
    refused(PROFILE(
        "<dict><key>PayloadType</key><string>com.apple.nosuchthing</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string></dict>"), "unknown-type",
        "PayloadContent[0].PayloadType", "a com.apple type Apple lacks");
    refused(PROFILE(
        "<dict><key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string></dict>"), "required",
        "PayloadContent[0].PayloadType", "a payload without PayloadType");
    refused(PROFILE(
        "<dict><key>PayloadType</key><string>com.apple.wifi.managed</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>SSID_STR</key><string>x</string></dict>"), "required",
        "PayloadContent[0].PayloadUUID", "a payload without PayloadUUID");
    refused(PROFILE(
        "<dict><key>PayloadType</key><string>com.apple.wifi.managed</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string>"
        "<key>SSID_STR</key><integer>5</integer></dict>"), "type",
        "PayloadContent[0].SSID_STR", "SSID_STR as an integer");
    refused(PROFILE(
        "<dict><key>PayloadType</key><string>com.apple.wifi.managed</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string>"
        "<key>EncryptionType</key><string>WPA9</string></dict>"), "value",
        "PayloadContent[0].EncryptionType", "EncryptionType WPA9");
    refused(PROFILE(
        "<dict><key>PayloadType</key><string>com.apple.wifi.managed</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string>"
        "<key>PayloadCertificateUUID</key><string>not-a-uuid</string>"
        "</dict>"), "format", "PayloadContent[0].PayloadCertificateUUID",
        "a PayloadCertificateUUID of the wrong format");
    refused(PROFILE(
        "<dict><key>PayloadType</key>"
        "<string>com.apple.mobiledevice.passwordpolicy</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string>"
        "<key>maxFailedAttempts</key><integer>12</integer></dict>"), "range",
        "PayloadContent[0].maxFailedAttempts", "maxFailedAttempts 12");
    refused(PROFILE(
        "<dict><key>PayloadType</key>"
        "<string>com.apple.mobiledevice.passwordpolicy</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string>"
        "<key>minLength</key><integer>-1</integer></dict>"), "range",
        "PayloadContent[0].minLength", "a negative minLength");
    refused(PROFILE(
        "<dict><key>PayloadType</key><string>com.apple.webClip.managed"
        "</string><key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string>"
        "<key>URL</key><string>https://example.com/</string></dict>"),
        "required", "PayloadContent[0].Label", "a web clip without Label");
    refused(PROFILE(WIFI1 WIFI("6C7A1D6E-0000-4000-8000-000000000002",
                               "com.example.w2")),
            "duplicate-uuid", "PayloadContent[1]",
            "two payloads with one PayloadUUID");
    refused(PROFILE(WIFI("6C7A1D6E-0000-4000-8000-000000000001",
                         "com.example.w1")),
            "duplicate-uuid", "PayloadContent[0]",
            "a payload with the profile's PayloadUUID");
    refused(PROFILE(WIFI1 WIFI("6C7A1D6E-0000-4000-8000-000000000009",
                               "com.example.w1")),
            "duplicate-identifier", "PayloadContent[1]",
            "two payloads with one PayloadIdentifier");
    refused(PROFILE(
        "<dict><key>PayloadType</key><string>com.apple.homescreenlayout"
        "</string><key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string>"
        "<key>Pages</key><array><array><dict><key>Type</key>"
        "<string>Folder</string><key>Pages</key><array><array><dict>"
        "<key>Type</key><string>Widget</string></dict></array></array>"
        "</dict></array></array></dict>"), "value",
        "PayloadContent[0].Pages[0][0].Pages[0][0].Type",
        "a bad value deep inside a recursive schema");

    /* every problem at once, not only the first */
    rc = parse(PROFILE(
        "<dict><key>PayloadType</key><string>com.apple.wifi.managed</string>"
        "<key>PayloadVersion</key><integer>3</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string>"
        "<key>SSID_STR</key><true/>"
        "<key>EncryptionType</key><string>WPA9</string></dict>"), &p, &err);
    ok(rc == MDM_ERROR && probs.errors == 3
       && has("value", "PayloadContent[0].PayloadVersion")
       && has("type", "PayloadContent[0].SSID_STR")
       && has("value", "PayloadContent[0].EncryptionType"),
       "three problems listed together");
    ok(err.msg[0] != '\0' && err.reason != MDM_REFUSED_MALFORMED,
       "the first one in err (%s)", err.msg);
    mdm_profile_free(&p);

    big = malloc(MDM_PROFILE_MAX + 2);
    memset(big, ' ', MDM_PROFILE_MAX + 1);
    big[MDM_PROFILE_MAX + 1] = '\0';
    rc = parse(big, &p, &err);
    ok(rc == MDM_ERROR && has("size", "")
       && err.reason == MDM_REFUSED_TOO_LARGE,
       "refused: larger than MDM_PROFILE_MAX");
    free(big);

    /* bounded problem list */
    {
        char    *many;
        size_t   i, off;

        many = malloc(200 * 128 + 1024);
        off = (size_t) sprintf(many, "%s", TOP_BEGIN
                               "<key>PayloadContent</key><array>");

        for (i = 0; i < 200; i++) {
            off += (size_t) sprintf(many + off, "<integer>%zu</integer>", i);
        }

        sprintf(many + off, "</array></dict></plist>");
        rc = parse(many, &p, &err);
        ok(rc == MDM_ERROR && probs.n == MDM_PROFILE_PROBLEMS_MAX
           && probs.dropped == 200 - MDM_PROFILE_PROBLEMS_MAX
           && probs.errors == 200,
           "200 broken payloads: %d listed, the rest counted",
           MDM_PROFILE_PROBLEMS_MAX);
        free(many);
    }
}


static void
test_target(void)
{
    int                   rc;
    mdm_err_t             err;
    mdm_profile_t         p;
    mdm_profile_target_t  t;
    const char           *hs = PROFILE(
        "<dict><key>PayloadType</key><string>com.apple.homescreenlayout"
        "</string><key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>a.b.c</string>"
        "<key>PayloadUUID</key><string>U</string>"
        "<key>Pages</key><array/></dict>");

    rc = parse(hs, &p, &err);
    ok(rc == MDM_OK, "a Home Screen layout");

    memset(&t, 0, sizeof(t));
    t.os = MDM_OS_IOS;
    t.version = "17.4";
    t.supervised = 1;
    memset(&probs, 0, sizeof(probs));
    ok(mdm_profile_check_target(&p, &t, &probs) == MDM_OK,
       "applies to a supervised iPhone on 17.4");
    show();

    t.supervised = 0;
    memset(&probs, 0, sizeof(probs));
    ok(mdm_profile_check_target(&p, &t, &probs) == MDM_ERROR
       && has("supervised", "PayloadContent[0]"),
       "not to an unsupervised one");

    t.supervised = 1;
    t.user_enrollment = 1;
    memset(&probs, 0, sizeof(probs));
    ok(mdm_profile_check_target(&p, &t, &probs) == MDM_ERROR
       && has("user-enrollment", "PayloadContent[0]"),
       "not to a User Enrollment");

    t.user_enrollment = 0;
    t.version = "8.0";
    memset(&probs, 0, sizeof(probs));
    ok(mdm_profile_check_target(&p, &t, &probs) == MDM_ERROR
       && has("os-version", "PayloadContent[0]"), "not to iOS 8");

    t.os = MDM_OS_MACOS;
    t.version = "14.0";
    memset(&probs, 0, sizeof(probs));
    ok(mdm_profile_check_target(&p, &t, &probs) == MDM_ERROR
       && has("os", "PayloadContent[0]"), "not to a Mac");
    mdm_profile_free(&p);

    rc = parse(PROFILE(
        "<dict><key>PayloadType</key><string>com.apple.dock</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>d.1</string>"
        "<key>PayloadUUID</key><string>U1</string></dict>"
        "<dict><key>PayloadType</key><string>com.apple.dock</string>"
        "<key>PayloadVersion</key><integer>1</integer>"
        "<key>PayloadIdentifier</key><string>d.2</string>"
        "<key>PayloadUUID</key><string>U2</string></dict>"), &p, &err);
    memset(&probs, 0, sizeof(probs));
    ok(rc == MDM_OK && mdm_profile_check_target(&p, &t, &probs) == MDM_ERROR
       && has("multiple", "PayloadContent[0]") && probs.errors == 1,
       "two Dock payloads where one is allowed: one error");
    mdm_profile_free(&p);

    rc = parse(TOP_BEGIN "<key>PayloadRemovalDisallowed</key><true/>"
               "<key>PayloadContent</key><array>" WIFI1 "</array>"
               "</dict></plist>", &p, &err);
    t.os = MDM_OS_IOS;
    t.version = "17.0";
    t.supervised = 0;
    memset(&probs, 0, sizeof(probs));
    ok(rc == MDM_OK && mdm_profile_check_target(&p, &t, &probs) == MDM_OK
       && has("supervised", "PayloadRemovalDisallowed")
       && probs.warnings == 1,
       "a key with its own rules (PayloadRemovalDisallowed): a warning");
    mdm_profile_free(&p);

    ok(mdm_profile_version_cmp("17.4", "17.4") == 0
       && mdm_profile_version_cmp("17", "17.0") == 0
       && mdm_profile_version_cmp("17.4", "17.4.1") < 0
       && mdm_profile_version_cmp("10.15", "10.7") > 0
       && mdm_profile_version_cmp("9.3", "10.0") < 0,
       "versions compare part by part");
}


static void
test_signed(void)
{
    int              rc;
    char             dir[] = "/tmp/test_profile.XXXXXX", path[128], cmd[512];
    FILE            *f;
    X509            *cert;
    size_t           der_len, len, got_len;
    EVP_PKEY        *key;
    mdm_err_t        err;
    mdm_profile_t    p;
    unsigned char   *der, *got;
    const char      *xml = PROFILE(WIFI1);

    key = tc_ec_key();
    cert = tc_cert("Profile Signer", key, NULL, NULL, -TC_DAY, TC_DAY, 0,
                   NULL);
    len = strlen(xml);

    rc = mdm_enroll_profile_sign((const unsigned char *) xml, len, cert, key,
                                 NULL, &der, &der_len, &err);
    ok(rc == MDM_OK, "signed");

    ok(mdm_profile_is_cms(der, der_len), "told apart from a plist");
    ok(!mdm_profile_is_cms((const unsigned char *) xml, len),
       "and a plist from CMS");

    rc = mdm_profile_parse(der, der_len, MDM_PROFILE_MAX, 0, &p, &probs,
                           &err);
    ok(rc == MDM_OK && p.is_signed && p.content_len == len
       && memcmp(p.content, xml, len) == 0,
       "a signed profile: the content taken out byte for byte");
    ok(strstr(p.signer_subject, "Profile Signer") != NULL
       && strlen(p.signer_sha256) == 64, "the signer kept (%s)",
       p.signer_subject);
    mdm_profile_free(&p);

    /* `openssl cms -verify` takes what we sign */
    tc_check(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof(path), "%s/signed.mobileconfig", dir);
    f = fopen(path, "wb");
    tc_check(f != NULL && fwrite(der, 1, der_len, f) == der_len, "write");
    fclose(f);
    snprintf(path, sizeof(path), "%s/signer.pem", dir);
    f = fopen(path, "w");
    tc_check(f != NULL && PEM_write_X509(f, cert) == 1, "write PEM");
    fclose(f);
    snprintf(cmd, sizeof(cmd), "openssl cms -verify -binary -inform DER "
             "-in %s/signed.mobileconfig -CAfile %s/signer.pem "
             "-purpose any -out %s/content.plist 2>%s/verify.log",
             dir, dir, dir, dir);
    ok(system(cmd) == 0, "openssl cms -verify accepts it");
    snprintf(path, sizeof(path), "%s/content.plist", dir);
    f = fopen(path, "rb");
    got = malloc(len + 16);
    got_len = f ? fread(got, 1, len + 16, f) : 0;

    if (f != NULL) {
        fclose(f);
    }

    ok(got_len == len && memcmp(got, xml, len) == 0,
       "and gives back the profile byte for byte");
    free(got);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    tc_check(system(cmd) == 0, "rm");

    /* a flipped byte in the signature: refused as a bad signature */
    der[der_len - 5] ^= 0x01;
    rc = mdm_profile_parse(der, der_len, MDM_PROFILE_MAX, 0, &p, &probs,
                           &err);
    ok(rc == MDM_ERROR && has("signature", ""),
       "refused: a signature that does not verify");
    der[der_len - 5] ^= 0x01;

    /* a flipped byte in the content: also the signature's failure */
    {
        unsigned char  *at = memmem(der, der_len, "office", 6);

        tc_check(at != NULL, "content inside");
        at[0] = 'O';
        rc = mdm_profile_parse(der, der_len, MDM_PROFILE_MAX, 0, &p, &probs,
                               &err);
        ok(rc == MDM_ERROR && has("signature", ""),
           "refused: signed content changed");
        at[0] = 'o';
    }

    rc = mdm_profile_parse(der, der_len / 2, MDM_PROFILE_MAX, 0, &p, &probs,
                           &err);
    ok(rc == MDM_ERROR && has("cms", ""), "refused: a truncated CMS");

    {
        size_t          clen;
        unsigned char  *cder = tc_der(cert, &clen);

        rc = mdm_profile_parse(cder, clen, MDM_PROFILE_MAX, 0, &p, &probs,
                               &err);
        ok(rc == MDM_ERROR && has("cms", ""),
           "refused: DER that is not CMS (a certificate)");
        free(cder);
    }

    /* a signed profile whose content is broken: the content's problems */
    OPENSSL_free(der);
    xml = PROFILE("<string>x</string>");
    rc = mdm_enroll_profile_sign((const unsigned char *) xml, strlen(xml),
                                 cert, key, NULL, &der, &der_len, &err);
    rc = mdm_profile_parse(der, der_len, MDM_PROFILE_MAX, 0, &p, &probs,
                           &err);
    ok(rc == MDM_ERROR && has("type", "PayloadContent[0]"),
       "refused: a well-signed profile with a broken payload");
    OPENSSL_free(der);

    X509_free(cert);
    EVP_PKEY_free(key);
}


/*
 * The sweep: a payload of every type built from its table's rules. Values
 * are chosen to satisfy them: the first allowed value, the lower end of a
 * range, a string matching the format, the minimum repetition.
 */

static plist_t make_value(const mdm_profile_key_t *key, int depth);


static const char *
string_for(const mdm_profile_key_t *key)
{
    size_t       i;
    regex_t      re;
    int          m;
    static const char *candidates[] = {
        "6C7A1D6E-0000-4000-8000-00000000000A", "00:11:22:33:44:55",
        "https://example.com/", "123456", "ABCDEF", "x", NULL
    };

    if (key->nvalues) {
        return mdm_profile_values[key->values];
    }

    if (key->format == NULL) {
        return "x";
    }

    for (i = 0; candidates[i] != NULL; i++) {
        tc_check(regcomp(&re, key->format, REG_EXTENDED | REG_NOSUB) == 0,
                 "regcomp");
        m = regexec(&re, candidates[i], 0, NULL, 0) == 0;
        regfree(&re);

        if (m) {
            return candidates[i];
        }
    }

    return "x";
}


static void
fill_dict(plist_t dict, unsigned first, unsigned n, int depth)
{
    unsigned                  i;
    const mdm_profile_key_t  *k;

    for (i = 0; i < n; i++) {
        k = &mdm_profile_keys[first + i];

        if (k->required && strcmp(k->name, MDM_KEY_WILDCARD) != 0
            && plist_dict_get_item(dict, k->name) == NULL)
        {
            plist_dict_set_item(dict, k->name, make_value(k, depth + 1));
        }
    }
}


static plist_t
make_value(const mdm_profile_key_t *key, int depth)
{
    unsigned  i;
    plist_t   v;

    switch (key->type) {

    case MDM_KEY_STRING:
        return plist_new_string(string_for(key));

    case MDM_KEY_INTEGER:
        return plist_new_uint(key->nvalues
                              ? strtoull(mdm_profile_values[key->values],
                                         NULL, 10)
                              : key->has_range ? (uint64_t) (long) key->min
                              : 1);

    case MDM_KEY_REAL:
        return plist_new_real(key->nvalues
                              ? strtod(mdm_profile_values[key->values], NULL)
                              : key->has_range ? key->min : 1.0);

    case MDM_KEY_BOOLEAN:
        return plist_new_bool(1);

    case MDM_KEY_DATA:
        return plist_new_data("\x30\x00", 2);

    case MDM_KEY_DATE:
        return plist_new_date(0, 0);

    case MDM_KEY_ARRAY:
        v = plist_new_array();

        for (i = 0; key->nsubkeys && depth < 12 && i < key->rep_min; i++) {
            plist_array_append_item(v, make_value(
                &mdm_profile_keys[key->subkeys], depth + 1));
        }

        return v;

    case MDM_KEY_DICT:
        v = plist_new_dict();

        if (depth < 12) {
            fill_dict(v, key->subkeys, key->nsubkeys, depth);
        }

        return v;

    default:
        return plist_new_string("any");
    }
}


static plist_t
make_payload(const mdm_profile_schema_t *s)
{
    plist_t  d;

    d = plist_new_dict();
    plist_dict_set_item(d, "PayloadType", plist_new_string(s->type));
    plist_dict_set_item(d, "PayloadVersion", plist_new_uint(1));
    plist_dict_set_item(d, "PayloadIdentifier",
                        plist_new_string("com.example.sweep.p"));
    plist_dict_set_item(d, "PayloadUUID",
                        plist_new_string("6C7A1D6E-0000-4000-8000-0000000000BB"));
    fill_dict(d, s->keys, s->nkeys, 0);

    return d;
}


/* the profile around payload, validated; payload is consumed */
static int
sweep_parse(plist_t payload)
{
    int            rc;
    char          *xml;
    uint32_t       len;
    plist_t        top, arr;
    mdm_err_t      err;
    mdm_profile_t  p;

    top = plist_new_dict();
    plist_dict_set_item(top, "PayloadType", plist_new_string("Configuration"));
    plist_dict_set_item(top, "PayloadVersion", plist_new_uint(1));
    plist_dict_set_item(top, "PayloadIdentifier",
                        plist_new_string("com.example.sweep"));
    plist_dict_set_item(top, "PayloadUUID",
                        plist_new_string("6C7A1D6E-0000-4000-8000-0000000000AA"));
    arr = plist_new_array();
    plist_array_append_item(arr, payload);
    plist_dict_set_item(top, "PayloadContent", arr);

    xml = NULL;
    plist_to_xml(top, &xml, &len);
    plist_free(top);

    rc = mdm_profile_parse((unsigned char *) xml, len, MDM_PROFILE_MAX, 0,
                           &p, &probs, &err);
    mdm_profile_free(&p);
    free(xml);

    return rc;
}


/* the first top-level key of s, other than the common ones, that matches */
static const mdm_profile_key_t *
first_key(const mdm_profile_schema_t *s, int (*pick)(const mdm_profile_key_t *))
{
    unsigned                  i;
    const mdm_profile_key_t  *k;

    for (i = 0; i < s->nkeys; i++) {
        k = &mdm_profile_keys[s->keys + i];

        if (strcmp(k->name, MDM_KEY_WILDCARD) != 0
            && strncmp(k->name, "Payload", 7) != 0 && pick(k))
        {
            return k;
        }
    }

    return NULL;
}


static int pick_required(const mdm_profile_key_t *k) { return k->required; }
static int pick_typed(const mdm_profile_key_t *k)
{
    return k->type != MDM_KEY_ANY && k->type != MDM_KEY_REAL;
}
static int pick_valued(const mdm_profile_key_t *k)
{
    return k->nvalues != 0 && k->type == MDM_KEY_STRING;
}
static int pick_ranged(const mdm_profile_key_t *k)
{
    return k->has_range && k->type == MDM_KEY_INTEGER && k->max < 1e9;
}


static void
test_sweep(void)
{
    size_t                       i, valid, required, typed, valued, ranged;
    size_t                       n_req, n_typ, n_val, n_rng;
    plist_t                      pl;
    const mdm_profile_key_t     *k;
    const mdm_profile_schema_t  *s;

    valid = required = typed = valued = ranged = 0;
    n_req = n_typ = n_val = n_rng = 0;

    for (i = 0; i < mdm_profile_nschemas; i++) {
        s = &mdm_profile_schemas[i];
        ok(mdm_profile_schema_find(s->type) == s, "%s is found", s->type);

        if (sweep_parse(make_payload(s)) == MDM_OK) {
            valid++;

        } else {
            diag("%s: a payload made from its rules is refused", s->type);
            show();
        }

        if ((k = first_key(s, pick_required)) != NULL) {
            pl = make_payload(s);
            plist_dict_remove_item(pl, k->name);
            n_req++;
            required += sweep_parse(pl) == MDM_ERROR && has("required", NULL);
        } else {
            required++;
        }

        if ((k = first_key(s, pick_typed)) != NULL) {
            pl = make_payload(s);
            /* a string where anything else is asked, else an integer */
            plist_dict_set_item(pl, k->name, k->type == MDM_KEY_STRING
                                ? plist_new_uint(7)
                                : plist_new_string("seven"));
            n_typ++;
            typed += sweep_parse(pl) == MDM_ERROR && has("type", NULL);
        } else {
            typed++;
        }

        if ((k = first_key(s, pick_valued)) != NULL) {
            pl = make_payload(s);
            plist_dict_set_item(pl, k->name,
                                plist_new_string("not-an-allowed-value"));
            n_val++;
            valued += sweep_parse(pl) == MDM_ERROR && has("value", NULL);
        } else {
            valued++;
        }

        if ((k = first_key(s, pick_ranged)) != NULL) {
            pl = make_payload(s);
            plist_dict_set_item(pl, k->name,
                                plist_new_uint((uint64_t) (long) k->max + 1));
            n_rng++;
            ranged += sweep_parse(pl) == MDM_ERROR && has("range", NULL);
        } else {
            ranged++;
        }
    }

    is_int(valid, mdm_profile_nschemas,
           "every payload type: a payload made from its rules is accepted");
    is_int(required, mdm_profile_nschemas,
           "without a required key, refused (%zu types have one)", n_req);
    is_int(typed, mdm_profile_nschemas,
           "a key of the wrong type, refused (%zu types)", n_typ);
    is_int(valued, mdm_profile_nschemas,
           "a string outside its rangelist, refused (%zu types)", n_val);
    is_int(ranged, mdm_profile_nschemas,
           "an integer above its range, refused (%zu types)", n_rng);
    ok(n_req > 40 && n_typ > 100 && n_val > 15 && n_rng > 5,
       "the sweep reached most types");
    ok(mdm_profile_schema_find("com.apple.nosuchthing") == NULL
       && mdm_profile_schema_find("") == NULL, "unknown types are not found");
    ok(mdm_profile_nschemas >= 100, "%zu payload types in the tables",
       mdm_profile_nschemas);
}


static void
test_commands(void)
{
    plist_t         top, cmd, payload;
    mdm_buf_t       out;
    const char     *bytes = "<plist>\0binary\xff</plist>";
    char           *data;
    uint64_t        len;

    ok(mdm_profile_install_command("U-1", (const unsigned char *) bytes, 24,
                                   &out) == 0, "InstallProfile built");
    top = NULL;
    plist_from_xml(out.data, (uint32_t) out.len, &top);
    cmd = top ? plist_dict_get_item(top, "Command") : NULL;
    payload = cmd ? plist_dict_get_item(cmd, "Payload") : NULL;
    data = NULL;
    len = 0;

    if (payload != NULL) {
        plist_get_data_val(payload, &data, &len);
    }

    ok(top != NULL && strcmp(plist_get_string_ptr(plist_dict_get_item(top,
                             "CommandUUID"), NULL), "U-1") == 0,
       "its CommandUUID");
    ok(cmd != NULL && strcmp(plist_get_string_ptr(plist_dict_get_item(cmd,
                             "RequestType"), NULL), "InstallProfile") == 0,
       "its RequestType");
    ok(len == 24 && memcmp(data, bytes, 24) == 0,
       "the profile's bytes as its Payload data, NUL and all");
    free(data);
    plist_free(top);
    mdm_buf_free(&out);

    ok(mdm_profile_remove_command("U-2", "com.example.wifi", &out) == 0,
       "RemoveProfile built");
    top = NULL;
    plist_from_xml(out.data, (uint32_t) out.len, &top);
    cmd = top ? plist_dict_get_item(top, "Command") : NULL;
    ok(cmd != NULL && strcmp(plist_get_string_ptr(plist_dict_get_item(cmd,
                             "Identifier"), NULL), "com.example.wifi") == 0,
       "naming the profile's PayloadIdentifier");
    plist_free(top);
    mdm_buf_free(&out);

    ok(mdm_profile_identifier_valid("com.example.wifi", 16)
       && !mdm_profile_identifier_valid("a b", 3)
       && !mdm_profile_identifier_valid("a{b", 3)
       && !mdm_profile_identifier_valid("ab\0c", 4)
       && !mdm_profile_identifier_valid("", 0),
       "identifiers as a path names them");
}


int
main(void)
{
    test_commands();
    test_accepts();
    test_refuses();
    test_target();
    test_signed();
    test_sweep();

    return done_testing();
}
