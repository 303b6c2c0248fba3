/*
 * How a device answers commands: result keys shaped like real iOS reports
 * (see the fixtures), NotNow for a configurable share, and an Error with an
 * ErrorChain for anything it does not implement.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <plist/plist.h>

#include "mdmsim.h"


typedef void (*mdmsim_result_pt)(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, plist_t command, plist_t report);

struct mdmsim_handler {
    const char        *request_type;
    mdmsim_result_pt   result;
};

/* Static answers to DeviceInformation queries; per-device keys are below. */
struct mdmsim_info_value {
    const char  *key;
    char         type;    /* s string, b bool, r real, i integer */
    const char  *value;
};


static void mdmsim_device_information(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, plist_t command, plist_t report);
static void mdmsim_security_info(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, plist_t command, plist_t report);
static void mdmsim_profile_list(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, plist_t command, plist_t report);
static void mdmsim_certificate_list(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, plist_t command, plist_t report);
static void mdmsim_installed_apps(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, plist_t command, plist_t report);
static void mdmsim_acknowledge(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, plist_t command, plist_t report);
static void mdmsim_declarative_management(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, plist_t command, plist_t report);
static plist_t mdmsim_info_value(const struct mdmsim_device *dev,
    const char *key);
static void mdmsim_error_chain(plist_t report, const char *request_type);
static const char *mdmsim_plist_string(plist_t dict, const char *key);
static plist_t mdmsim_mac(const struct mdmsim_device *dev, unsigned kind);
static plist_t mdmsim_profile(const char *identifier, const char *uuid,
    const char *name, const char *type);
static plist_t mdmsim_certificate(X509 *cert, const char *name, int identity);
static const char *mdmsim_fill_report(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, plist_t command, const char *request_type,
    plist_t report);


static const struct mdmsim_handler  mdmsim_handlers[] = {
    { "DeviceInformation",        mdmsim_device_information },
    { "SecurityInfo",             mdmsim_security_info },
    { "ProfileList",              mdmsim_profile_list },
    { "CertificateList",          mdmsim_certificate_list },
    { "InstalledApplicationList", mdmsim_installed_apps },
    { "InstallProfile",           mdmsim_acknowledge },
    { "RemoveProfile",            mdmsim_acknowledge },
    { "DeclarativeManagement",    mdmsim_declarative_management },
    { NULL, NULL }
};

static const struct mdmsim_info_value  mdmsim_info_values[] = {
    { "DeviceName",               's', "Simulated iPhone" },
    { "OSVersion",                's', "17.5.1" },
    { "BuildVersion",             's', "21F90" },
    { "ModelName",                's', "iPhone" },
    { "Model",                    's', "MQ9T3LL/A" },
    { "ModelNumber",              's', "MQ9T3" },
    { "ProductName",              's', "iPhone15,2" },
    { "DeviceCapacity",           'r', "119.20" },
    { "AvailableDeviceCapacity",  'r', "71.53" },
    { "BatteryLevel",             'r', "0.82" },
    { "CellularTechnology",       'i', "3" },
    { "IsSupervised",             'b', "1" },
    { "IsDeviceLocatorServiceEnabled", 'b', "1" },
    { "IsActivationLockEnabled",  'b', "0" },
    { "IsDoNotDisturbInEffect",   'b', "0" },
    { "IsCloudBackupEnabled",     'b', "1" },
    { "IsMDMLostModeEnabled",     'b', "0" },
    { "AwaitingConfiguration",    'b', "0" },
    { "ModemFirmwareVersion",     's', "2.60.02" },
    { "CarrierSettingsVersion",   's', "59.0" },
    { "CurrentCarrierNetwork",    's', "Simulated Carrier" },
    { "IsRoaming",                'b', "0" },
    { "PersonalHotspotEnabled",   'b', "0" },
    { "TimeZone",                 's', "Europe/Paris" },
    { "SupplementalBuildVersion", 's', "21F90" },
    { NULL, 0, NULL }
};


static const char *
mdmsim_plist_string(plist_t dict, const char *key)
{
    plist_t  node = plist_dict_get_item(dict, key);

    if (node == NULL || plist_get_node_type(node) != PLIST_STRING) {
        return NULL;
    }
    return plist_get_string_ptr(node, NULL);
}


static plist_t
mdmsim_mac(const struct mdmsim_device *dev, unsigned kind)
{
    char  mac[18];

    snprintf(mac, sizeof(mac), "f0:%02x:%02x:%02x:%02x:%02x", kind,
             dev->token[0], dev->token[1], dev->token[2], dev->token[3]);
    return plist_new_string(mac);
}


/* NULL for keys this device does not know: real devices omit them too. */
/* The sync itself runs after the session (runner.c), as a device syncs
 * beside its command channel; Data, when present, are its tokens. */
static void
mdmsim_declarative_management(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, plist_t command, plist_t report)
{
    plist_t      data;
    const char  *bytes;
    uint64_t     len;

    (void) fleet;
    (void) report;
    free(dev->ddm_data);
    dev->ddm_data = NULL;
    dev->ddm_data_len = 0;
    dev->ddm_due = 1;
    data = plist_dict_get_item(command, "Data");
    if (data != NULL && plist_get_node_type(data) == PLIST_DATA) {
        bytes = plist_get_data_ptr(data, &len);
        dev->ddm_data = malloc(len + 1);
        if (dev->ddm_data != NULL) {
            memcpy(dev->ddm_data, bytes, len);
            dev->ddm_data[len] = '\0';
            dev->ddm_data_len = len;
        }
    }
}


static plist_t
mdmsim_info_value(const struct mdmsim_device *dev, const char *key)
{
    const struct mdmsim_info_value  *v;
    char                             imei[48];

    if (strcmp(key, "UDID") == 0) {
        return plist_new_string(dev->udid);
    }
    if (strcmp(key, "SerialNumber") == 0) {
        return plist_new_string(dev->serial);
    }
    if (strcmp(key, "WiFiMAC") == 0) {
        return mdmsim_mac(dev, 0x18);
    }
    if (strcmp(key, "BluetoothMAC") == 0) {
        return mdmsim_mac(dev, 0x19);
    }
    if (strcmp(key, "IMEI") == 0) {
        snprintf(imei, sizeof(imei), "35 %06ld %06ld 0",
                 dev->index / 1000000 % 1000000, dev->index % 1000000);
        return plist_new_string(imei);
    }
    for (v = mdmsim_info_values; v->key != NULL; v++) {
        if (strcmp(key, v->key) != 0) {
            continue;
        }
        switch (v->type) {
        case 'b':
            return plist_new_bool(v->value[0] == '1');
        case 'r':
            return plist_new_real(strtod(v->value, NULL));
        case 'i':
            return plist_new_uint(strtoull(v->value, NULL, 10));
        default:
            return plist_new_string(v->value);
        }
    }
    return NULL;
}


static void
mdmsim_device_information(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, plist_t command, plist_t report)
{
    static const char  *defaults[] = {
        "UDID", "DeviceName", "OSVersion", "BuildVersion", "ModelName",
        "Model", "ProductName", "SerialNumber", "DeviceCapacity",
        "AvailableDeviceCapacity", "IMEI", "WiFiMAC", "BluetoothMAC",
        "IsSupervised", NULL
    };
    plist_t      queries = plist_dict_get_item(command, "Queries");
    plist_t      responses = plist_new_dict();
    plist_t      value;
    const char  *key, **d;
    uint32_t     i, n;

    (void) fleet;
    n = (queries && plist_get_node_type(queries) == PLIST_ARRAY)
        ? plist_array_get_size(queries) : 0;
    for (i = 0; i < n; i++) {
        plist_t  q = plist_array_get_item(queries, i);

        key = plist_get_node_type(q) == PLIST_STRING
              ? plist_get_string_ptr(q, NULL) : NULL;
        if (key != NULL && (value = mdmsim_info_value(dev, key)) != NULL) {
            plist_dict_set_item(responses, key, value);
        }
    }
    /* Without Queries a device answers a default set of keys. */
    for (d = defaults; n == 0 && *d != NULL; d++) {
        plist_dict_set_item(responses, *d, mdmsim_info_value(dev, *d));
    }
    plist_dict_set_item(report, "QueryResponses", responses);
}


static void
mdmsim_security_info(struct mdmsim_fleet *fleet, struct mdmsim_device *dev,
    plist_t command, plist_t report)
{
    plist_t  info = plist_new_dict(), status = plist_new_dict();

    (void) fleet;
    (void) dev;
    (void) command;
    plist_dict_set_item(info, "HardwareEncryptionCaps", plist_new_uint(3));
    plist_dict_set_item(info, "PasscodePresent", plist_new_bool(1));
    plist_dict_set_item(info, "PasscodeCompliant", plist_new_bool(1));
    plist_dict_set_item(info, "PasscodeCompliantWithProfiles",
                        plist_new_bool(1));
    plist_dict_set_item(info, "PasscodeLockGracePeriodEnforced",
                        plist_new_uint(0));
    plist_dict_set_item(status, "EnrolledViaDEP", plist_new_bool(0));
    plist_dict_set_item(status, "IsActivationLockManageable",
                        plist_new_bool(0));
    plist_dict_set_item(status, "IsUserEnrollment", plist_new_bool(0));
    plist_dict_set_item(status, "UserApprovedEnrollment", plist_new_bool(1));
    plist_dict_set_item(info, "ManagementStatus", status);
    plist_dict_set_item(report, "SecurityInfo", info);
}


static plist_t
mdmsim_profile(const char *identifier, const char *uuid, const char *name,
    const char *type)
{
    plist_t  profile = plist_new_dict(), content = plist_new_array();
    plist_t  payload = plist_new_dict();
    char     id[160];

    snprintf(id, sizeof(id), "%s.payload", identifier);
    plist_dict_set_item(payload, "PayloadType", plist_new_string(type));
    plist_dict_set_item(payload, "PayloadIdentifier", plist_new_string(id));
    plist_dict_set_item(payload, "PayloadVersion", plist_new_uint(1));
    plist_dict_set_item(payload, "PayloadDisplayName", plist_new_string(name));
    plist_array_append_item(content, payload);

    plist_dict_set_item(profile, "PayloadIdentifier",
                        plist_new_string(identifier));
    plist_dict_set_item(profile, "PayloadUUID", plist_new_string(uuid));
    plist_dict_set_item(profile, "PayloadDisplayName", plist_new_string(name));
    plist_dict_set_item(profile, "PayloadOrganization",
                        plist_new_string("mdmsim"));
    plist_dict_set_item(profile, "PayloadVersion", plist_new_uint(1));
    plist_dict_set_item(profile, "PayloadRemovalDisallowed",
                        plist_new_bool(0));
    plist_dict_set_item(profile, "IsManaged", plist_new_bool(1));
    plist_dict_set_item(profile, "IsEncrypted", plist_new_bool(0));
    plist_dict_set_item(profile, "PayloadContent", content);
    return profile;
}


static void
mdmsim_profile_list(struct mdmsim_fleet *fleet, struct mdmsim_device *dev,
    plist_t command, plist_t report)
{
    plist_t  list = plist_new_array();

    (void) fleet;
    (void) dev;
    (void) command;
    plist_array_append_item(list,
        mdmsim_profile("com.example.mdm.enroll",
                       "6D4D8FA1-6C48-4E8A-9D5A-0A6F0B1C2D3E",
                       "MDM Enrollment", "com.apple.mdm"));
    plist_array_append_item(list,
        mdmsim_profile("com.example.wifi",
                       "0B7E3C52-91A4-4F0D-B8E6-2C5D7A9F1E30",
                       "Office Wi-Fi", "com.apple.wifi.managed"));
    plist_array_append_item(list,
        mdmsim_profile("com.example.restrictions",
                       "A83F61D9-4E27-4C15-9B02-7D6E5F4C3B21",
                       "Restrictions", "com.apple.applicationaccess"));
    plist_dict_set_item(report, "ProfileList", list);
}


static plist_t
mdmsim_certificate(X509 *cert, const char *name, int identity)
{
    plist_t         item = plist_new_dict();
    unsigned char  *der = NULL;
    int             len = i2d_X509(cert, &der);

    plist_dict_set_item(item, "CommonName", plist_new_string(name));
    plist_dict_set_item(item, "Data",
                        plist_new_data((char *) der, len > 0 ? len : 0));
    plist_dict_set_item(item, "IsIdentity", plist_new_bool(identity));
    OPENSSL_free(der);
    return item;
}


static void
mdmsim_certificate_list(struct mdmsim_fleet *fleet, struct mdmsim_device *dev,
    plist_t command, plist_t report)
{
    plist_t  list = plist_new_array();

    (void) command;
    if (dev->cert != NULL) {
        plist_array_append_item(list,
                                mdmsim_certificate(dev->cert, dev->udid, 1));
    }
    if (fleet->ca_cert != NULL) {
        plist_array_append_item(list,
                                mdmsim_certificate(fleet->ca_cert,
                                                   "mdmsim CA", 0));
    }
    plist_dict_set_item(report, "CertificateList", list);
}


static void
mdmsim_installed_apps(struct mdmsim_fleet *fleet, struct mdmsim_device *dev,
    plist_t command, plist_t report)
{
    static const char  *names[] = {
        "Safari", "Mail", "Maps", "Notes", "Pages", "Numbers", "Keynote",
        "Slack", "Teams", "Outlook", "Zoom", "Chrome", "Authenticator",
        "Salesforce", "Workday", "Concur", "Box", "Dropbox", "Jira",
        "Confluence"
    };
    plist_t   list = plist_new_array(), app;
    char      id[96], name[96], version[32];
    long      i;

    (void) dev;
    (void) command;
    for (i = 0; i < fleet->opts->apps; i++) {
        snprintf(name, sizeof(name), "%s%s",
                 names[i % (sizeof(names) / sizeof(names[0]))],
                 i < (long) (sizeof(names) / sizeof(names[0])) ? "" : " Pro");
        snprintf(id, sizeof(id), "com.vendor%02ld.app%ld", i % 37, i);
        snprintf(version, sizeof(version), "%ld.%ld.%ld", 1 + i % 9, i % 13,
                 i % 4);
        app = plist_new_dict();
        plist_dict_set_item(app, "Identifier", plist_new_string(id));
        plist_dict_set_item(app, "Name", plist_new_string(name));
        plist_dict_set_item(app, "Version", plist_new_string(version));
        plist_dict_set_item(app, "ShortVersion", plist_new_string(version));
        plist_dict_set_item(app, "BundleSize",
                            plist_new_uint(20000000 + i * 1733331));
        plist_dict_set_item(app, "DynamicSize",
                            plist_new_uint(1000000 + i * 377777));
        plist_dict_set_item(app, "ExternalVersionIdentifier",
                            plist_new_uint(860000000 + i));
        plist_dict_set_item(app, "IsValidated", plist_new_bool(1));
        plist_dict_set_item(app, "Installing", plist_new_bool(0));
        plist_dict_set_item(app, "AppStoreVendable", plist_new_bool(1));
        plist_dict_set_item(app, "DeviceBasedVPP", plist_new_bool(0));
        plist_dict_set_item(app, "HasUpdateAvailable", plist_new_bool(0));
        plist_array_append_item(list, app);
    }
    plist_dict_set_item(report, "InstalledApplicationList", list);
}


static void
mdmsim_acknowledge(struct mdmsim_fleet *fleet, struct mdmsim_device *dev,
    plist_t command, plist_t report)
{
    (void) fleet;
    (void) dev;
    (void) command;
    (void) report;
}


static void
mdmsim_error_chain(plist_t report, const char *request_type)
{
    plist_t  chain = plist_new_array(), error = plist_new_dict();
    char     text[160];

    snprintf(text, sizeof(text), "The MDM command \xe2\x80\x9c%s\xe2\x80\x9d "
             "is not supported.", request_type);
    plist_dict_set_item(error, "ErrorCode", plist_new_uint(12021));
    plist_dict_set_item(error, "ErrorDomain",
                        plist_new_string("MCMDMErrorDomain"));
    plist_dict_set_item(error, "LocalizedDescription", plist_new_string(text));
    plist_dict_set_item(error, "USEnglishDescription", plist_new_string(text));
    plist_array_append_item(chain, error);
    plist_dict_set_item(report, "ErrorChain", chain);
}


static const char *
mdmsim_fill_report(struct mdmsim_fleet *fleet, struct mdmsim_device *dev,
    plist_t command, const char *request_type, plist_t report)
{
    const struct mdmsim_handler  *h;
    double                        draw;

    if (command == NULL || request_type == NULL) {
        return "CommandFormatError";
    }
    draw = (double) (mdmsim_rng_next(&fleet->rng) >> 11) / 9007199254740992.0;
    if (draw < fleet->opts->notnow_share) {
        return "NotNow";
    }
    for (h = mdmsim_handlers; h->request_type != NULL; h++) {
        if (strcmp(h->request_type, request_type) == 0) {
            h->result(fleet, dev, command, report);
            return "Acknowledged";
        }
    }
    mdmsim_error_chain(report, request_type);
    return "Error";
}


int
mdmsim_answer_command(struct mdmsim_fleet *fleet, struct mdmsim_device *dev,
    const char *cmd, size_t len, struct mdmsim_body *body,
    struct mdmsim_answer *answer)
{
    plist_t      root = NULL, command = NULL, report;
    const char  *uuid = NULL, *type = NULL;
    int          rc;

    plist_from_memory(cmd, (uint32_t) len, &root);
    if (root != NULL && plist_get_node_type(root) == PLIST_DICT) {
        uuid = mdmsim_plist_string(root, "CommandUUID");
        command = plist_dict_get_item(root, "Command");
        if (command != NULL && plist_get_node_type(command) != PLIST_DICT) {
            command = NULL;
        }
        type = command ? mdmsim_plist_string(command, "RequestType") : NULL;
    }
    snprintf(answer->command_uuid, sizeof(answer->command_uuid), "%s",
             uuid ? uuid : "");
    snprintf(answer->request_type, sizeof(answer->request_type), "%s",
             type ? type : "");

    report = plist_new_dict();
    answer->status = mdmsim_fill_report(fleet, dev, uuid ? command : NULL,
                                        type, report);
    if (uuid != NULL) {
        plist_dict_set_item(report, "CommandUUID", plist_new_string(uuid));
    }
    if (type != NULL && strcmp(answer->status, "Acknowledged") == 0) {
        plist_dict_set_item(report, "RequestType", plist_new_string(type));
    }
    plist_dict_set_item(report, "Status", plist_new_string(answer->status));
    plist_dict_set_item(report, "UDID", plist_new_string(dev->udid));

    rc = mdmsim_plist_body(report, body);
    plist_free(report);
    if (root != NULL) {
        plist_free(root);
    }
    return rc;
}
