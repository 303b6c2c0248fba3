/*
 * Inventory from command results: the real DeviceInformation and
 * SecurityInfo reports of t/fixtures, application and profile lists, and
 * reports that carry no facts.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "plist_test.h"

#include "inventory/mdm_inventory.h"


static void
test_kinds(void)
{
    ok(mdm_inventory_kind("DeviceInformation") == MDM_INV_DEVICE_INFORMATION
       && mdm_inventory_kind("SecurityInfo") == MDM_INV_SECURITY_INFO
       && mdm_inventory_kind("InstalledApplicationList")
          == MDM_INV_APPLICATIONS
       && mdm_inventory_kind("ProfileList") == MDM_INV_PROFILES,
       "the four kinds by RequestType");
    ok(mdm_inventory_kind("InstallProfile") == MDM_INV_NONE
       && mdm_inventory_kind(NULL) == MDM_INV_NONE, "others are none");
    is_str(mdm_inventory_request_type(MDM_INV_PROFILES), "ProfileList",
           "and back");
}


static void
test_fixtures(void)
{
    char             *raw;
    size_t            len;
    mdm_err_t         err;
    mdm_inventory_t   inv;

    raw = fixture("devices/report-deviceinformation-ack.plist", &len);
    ok(raw != NULL, "the DeviceInformation fixture");
    ok(raw && mdm_inventory_parse(MDM_INV_DEVICE_INFORMATION, raw, len, &inv,
                                  &err) == MDM_OK,
       "DeviceInformation parsed");
    is_str(json_string_value(json_object_get(inv.facts, "UDID")),
           "66ADE930-5FDF-5EC4-8429-15640684C489", "its UDID");
    is_str(json_string_value(json_object_get(inv.facts, "HostName")),
           "fruit.example.com", "its HostName");
    mdm_inventory_free(&inv);
    free(raw);

    raw = fixture("devices/report-securityinfo-ack.plist", &len);
    ok(raw && mdm_inventory_parse(MDM_INV_SECURITY_INFO, raw, len, &inv,
                                  &err) == MDM_OK,
       "SecurityInfo parsed");
    ok(json_is_false(json_object_get(inv.facts, "FDE_Enabled")),
       "FDE_Enabled false");
    ok(json_is_object(json_object_get(inv.facts, "FirewallSettings")),
       "nested dicts kept as objects");
    ok(json_is_string(json_object_get(inv.facts,
                      "BootstrapTokenAllowedForAuthentication")),
       "a value of an unexpected type kept as it came");
    mdm_inventory_free(&inv);

    ok(mdm_inventory_parse(MDM_INV_DEVICE_INFORMATION, raw, len, &inv, &err)
       == MDM_ERROR && err.reason == MDM_REFUSED_MISSING_KEY,
       "a SecurityInfo report is no DeviceInformation (%s)", err.msg);
    free(raw);
}


static void
test_lists(void)
{
    mdm_err_t        err;
    mdm_inventory_t  inv;
    char             digest[65];
    const char      *apps = PLIST(
        STR("CommandUUID", "C-1") STR("Status", "Acknowledged")
        "<key>InstalledApplicationList</key><array>"
        "<dict>" STR("Identifier", "com.apple.mobilesafari")
        STR("Name", "Safari") STR("ShortVersion", "17.4") "</dict>"
        "<dict>" STR("Identifier", "com.example.app") STR("Name", "App")
        INT("BundleSize", "1024") TRUE("IsValidated")
        STR("SomethingNew", "kept") "</dict>"
        "</array>");
    const char      *same = PLIST(
        STR("Status", "Acknowledged") STR("CommandUUID", "C-2")
        "<key>InstalledApplicationList</key><array>"
        "<dict>" STR("Name", "Safari") STR("Identifier",
        "com.apple.mobilesafari") STR("ShortVersion", "17.4") "</dict>"
        "<dict>" STR("Identifier", "com.example.app") STR("Name", "App")
        INT("BundleSize", "1024") TRUE("IsValidated")
        STR("SomethingNew", "kept") "</dict>"
        "</array>");
    const char      *profiles = PLIST(
        STR("Status", "Acknowledged")
        "<key>ProfileList</key><array>"
        "<dict>" STR("PayloadIdentifier", "com.example.wifi")
        STR("PayloadUUID", "U-1") TRUE("IsManaged")
        "<key>PayloadContent</key><array><dict>"
        STR("PayloadType", "com.apple.wifi.managed") "</dict></array>"
        "</dict></array>");

    ok(mdm_inventory_parse(MDM_INV_APPLICATIONS, apps, strlen(apps), &inv,
                           &err) == MDM_OK, "an application list");
    is_int(json_array_size(inv.list), 2, "two apps");
    is_str(json_string_value(json_object_get(json_array_get(inv.list, 1),
                                             "SomethingNew")),
           "kept", "a key Apple may add later is kept");
    is_int(strlen(inv.digest), 64, "a SHA-256 digest");
    memcpy(digest, inv.digest, sizeof(digest));
    mdm_inventory_free(&inv);

    ok(mdm_inventory_parse(MDM_INV_APPLICATIONS, same, strlen(same), &inv,
                           &err) == MDM_OK, "the same list in another order "
       "of keys");
    is_str(inv.digest, digest, "the same digest: nothing changed");
    mdm_inventory_free(&inv);

    ok(mdm_inventory_parse(MDM_INV_PROFILES, profiles, strlen(profiles),
                           &inv, &err) == MDM_OK, "a profile list");
    ok(json_object_get(json_array_get(inv.list, 0), "PayloadContent") == NULL,
       "without the per-payload summaries");
    is_str(json_string_value(json_object_get(json_array_get(inv.list, 0),
                                             "PayloadUUID")),
           "U-1", "with its PayloadUUID");
    mdm_inventory_free(&inv);

    ok(mdm_inventory_parse(MDM_INV_PROFILES,
                           PLIST("<key>ProfileList</key><array><dict>"
                                 STR("PayloadUUID", "U") "</dict></array>"),
                           strlen(PLIST("<key>ProfileList</key><array><dict>"
                                        STR("PayloadUUID", "U")
                                        "</dict></array>")), &inv, &err)
       == MDM_ERROR, "a listed profile without PayloadIdentifier: refused");
    ok(mdm_inventory_parse(MDM_INV_APPLICATIONS,
                           PLIST("<key>InstalledApplicationList</key>"
                                 "<array><string>x</string></array>"),
                           strlen(PLIST("<key>InstalledApplicationList</key>"
                                        "<array><string>x</string></array>")),
                           &inv, &err) == MDM_ERROR
       && err.reason == MDM_REFUSED_WRONG_TYPE, "an app that is no dict");
    ok(mdm_inventory_parse(MDM_INV_APPLICATIONS,
                           PLIST("<key>InstalledApplicationList</key>"
                                 "<dict/>"),
                           strlen(PLIST("<key>InstalledApplicationList</key>"
                                        "<dict/>")), &inv, &err)
       == MDM_ERROR && err.reason == MDM_REFUSED_WRONG_TYPE,
       "a list that is a dict");
    ok(mdm_inventory_parse(MDM_INV_DEVICE_INFORMATION, "not a plist", 11,
                           &inv, &err) == MDM_ERROR, "not a plist");
    ok(mdm_inventory_parse(MDM_INV_NONE, apps, strlen(apps), &inv, &err)
       == MDM_ERROR, "no kind");
    ok(inv.facts == NULL && inv.list == NULL && inv.list_json == NULL,
       "nothing left behind");
}


int
main(void)
{
    test_kinds();
    test_fixtures();
    test_lists();

    return done_testing();
}
