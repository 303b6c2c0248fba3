#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enroll/mdm_machineinfo.h"
#include "tap.h"
#include "testcert.h"


#define MI_HEAD \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
    "<plist version=\"1.0\"><dict>\n"
#define MI_FACTS \
    "<key>UDID</key><string>00008101-000A1B2C3D4E5F60</string>\n" \
    "<key>SERIAL</key><string>C02XK1ADE001</string>\n" \
    "<key>PRODUCT</key><string>Mac14,3</string>\n" \
    "<key>VERSION</key><string>25A354</string>\n" \
    "<key>OS_VERSION</key><string>26.0</string>\n"
#define MI_TAIL "</dict></plist>\n"


static X509_STORE *
store_of(X509 *anchor)
{
    char        path[] = "/tmp/test_machineinfo_XXXXXX";
    int         fd = mkstemp(path);
    char       *pem = tc_pem(anchor);
    mdm_err_t   err;
    X509_STORE *s;

    tc_check(fd >= 0 && write(fd, pem, strlen(pem)) == (ssize_t) strlen(pem),
             "anchor file");
    close(fd);
    s = mdm_machineinfo_anchors_load(path, &err);
    unlink(path);
    free(pem);
    tc_check(s != NULL, "anchors load");
    return s;
}


static void
test_plist(void)
{
    mdm_err_t          err;
    mdm_machineinfo_t  mi;
    const char        *full = MI_HEAD MI_FACTS
        "<key>IMEI</key><string>35 209900 176148 1</string>\n"
        "<key>MEID</key><string>35209900176148</string>\n"
        "<key>LANGUAGE</key><string>de-CH</string>\n"
        "<key>SOFTWARE_UPDATE_DEVICE_ID</key><string>J314sAP</string>\n"
        "<key>PAIRING_TOKEN</key><data>AAECAw==</data>\n"
        "<key>MDM_CAN_REQUEST_SOFTWARE_UPDATE</key><true/>\n"
        "<key>MDM_CAN_REQUEST_PSSO_CONFIG</key><true/>\n"
        "<key>MANDATORY_SOFTWARE_UPDATE_REQUIRED</key><false/>\n"
        MI_TAIL;
    char               big[2 * MDM_MACHINEINFO_STR_MAX + 512];

    is_int(mdm_machineinfo_from_plist(full, strlen(full), &mi, &err), MDM_OK,
           "every fact read");
    is_str(mi.udid, "00008101-000A1B2C3D4E5F60", "UDID");
    is_str(mi.serial, "C02XK1ADE001", "SERIAL");
    is_str(mi.product, "Mac14,3", "PRODUCT");
    is_str(mi.version, "25A354", "VERSION");
    is_str(mi.os_version, "26.0", "OS_VERSION");
    is_str(mi.imei, "35 209900 176148 1", "IMEI");
    is_str(mi.meid, "35209900176148", "MEID");
    is_str(mi.language, "de-CH", "LANGUAGE");
    is_str(mi.software_update_device_id, "J314sAP",
           "SOFTWARE_UPDATE_DEVICE_ID");
    ok(mi.has_pairing_token && mi.pairing_token_len == 4
       && memcmp(mi.pairing_token, "\0\1\2\3", 4) == 0, "PAIRING_TOKEN data");
    ok(mi.can_request_software_update, "MDM_CAN_REQUEST_SOFTWARE_UPDATE");
    ok(mi.can_request_psso_config, "MDM_CAN_REQUEST_PSSO_CONFIG");
    ok(!mi.mandatory_software_update_required,
       "MANDATORY_SOFTWARE_UPDATE_REQUIRED false");

    const char *min = MI_HEAD MI_FACTS MI_TAIL;
    is_int(mdm_machineinfo_from_plist(min, strlen(min), &mi, &err), MDM_OK,
           "required facts alone");
    ok(!mi.can_request_software_update && !mi.has_pairing_token
       && mi.imei[0] == '\0', "absent flags are false, absent strings empty");

    const char *no_serial = MI_HEAD
        "<key>UDID</key><string>00008101-1</string>\n"
        "<key>PRODUCT</key><string>iPhone14,2</string>\n"
        "<key>VERSION</key><string>21A1</string>\n" MI_TAIL;
    is_int(mdm_machineinfo_from_plist(no_serial, strlen(no_serial), &mi,
           &err), MDM_ERROR, "SERIAL missing refused");
    ok(strstr(err.msg, "SERIAL") != NULL, "the reason names SERIAL: %s",
       err.msg);

    const char *brace = MI_HEAD
        "<key>UDID</key><string>00008101-1</string>\n"
        "<key>SERIAL</key><string>C02{x}</string>\n"
        "<key>PRODUCT</key><string>iPhone14,2</string>\n"
        "<key>VERSION</key><string>21A1</string>\n" MI_TAIL;
    is_int(mdm_machineinfo_from_plist(brace, strlen(brace), &mi, &err),
           MDM_ERROR, "a serial that would break a hash tag is refused");

    const char *typed = MI_HEAD MI_FACTS
        "<key>MDM_CAN_REQUEST_SOFTWARE_UPDATE</key><string>yes</string>\n"
        MI_TAIL;
    is_int(mdm_machineinfo_from_plist(typed, strlen(typed), &mi, &err),
           MDM_ERROR, "a flag that is not a boolean is refused");

    const char *tok = MI_HEAD MI_FACTS
        "<key>PAIRING_TOKEN</key><string>abc</string>\n" MI_TAIL;
    is_int(mdm_machineinfo_from_plist(tok, strlen(tok), &mi, &err),
           MDM_ERROR, "a PAIRING_TOKEN that is not data is refused");

    memset(big, 0, sizeof(big));
    strcpy(big, MI_HEAD MI_FACTS "<key>LANGUAGE</key><string>");
    memset(big + strlen(big), 'a', MDM_MACHINEINFO_STR_MAX + 1);
    strcat(big, "</string>" MI_TAIL);
    is_int(mdm_machineinfo_from_plist(big, strlen(big), &mi, &err),
           MDM_ERROR, "a string over %d bytes is refused",
           MDM_MACHINEINFO_STR_MAX);

    is_int(mdm_machineinfo_from_plist("garbage", 7, &mi, &err), MDM_ERROR,
           "garbage refused");
}


static void
test_signed(void)
{
    EVP_PKEY           *root_key = tc_rsa_key(), *int_key = tc_rsa_key();
    EVP_PKEY           *dev_key = tc_rsa_key(), *evil_key = tc_rsa_key();
    X509               *root, *inter, *dev, *evil_root, *evil_dev;
    X509_STORE         *store;
    unsigned char      *der;
    size_t              len;
    mdm_err_t           err;
    mdm_machineinfo_t   mi;
    const char         *plist = MI_HEAD MI_FACTS
        "<key>MDM_CAN_REQUEST_SOFTWARE_UPDATE</key><true/>\n" MI_TAIL;

    root = tc_cert("Test Apple Root CA", root_key, NULL, NULL, -TC_DAY,
                   3650 * TC_DAY, 1, NULL);
    inter = tc_cert("Test Apple iPhone Device CA", int_key, root, root_key,
                    -TC_DAY, 3650 * TC_DAY, 1, NULL);
    dev = tc_cert("00008101-000A1B2C3D4E5F60", dev_key, inter, int_key,
                  -TC_DAY, 365 * TC_DAY, 0, NULL);
    evil_root = tc_cert("Test Apple Root CA", evil_key, NULL, NULL, -TC_DAY,
                        3650 * TC_DAY, 1, NULL);
    evil_dev = tc_cert("00008101-000A1B2C3D4E5F60", dev_key, evil_root,
                       evil_key, -TC_DAY, 365 * TC_DAY, 0, NULL);
    store = store_of(root);

    der = tc_sign(dev, dev_key, inter, EVP_sha256(), plist, strlen(plist),
                  0, &len);
    is_int(mdm_machineinfo_parse(der, len, store, &mi, &err), MDM_OK,
           "signed MachineInfo chaining to the anchor accepted: %s",
           err.msg);
    is_str(mi.serial, "C02XK1ADE001", "its SERIAL");
    ok(mi.can_request_software_update, "its flag");

    /* one flipped byte inside the attached content */
    {
        unsigned char  *p = memmem(der, len, "C02XK1ADE001", 12);
        ok(p != NULL, "content found in the SignedData");
        if (p) {
            p[0] = 'D';
            is_int(mdm_machineinfo_parse(der, len, store, &mi, &err),
                   MDM_ERROR, "altered content: signature refused (%s)",
                   err.msg);
            ok(mi.serial[0] == '\0', "no facts from a refused message");
        }
    }
    free(der);

    der = tc_sign(dev, dev_key, NULL, EVP_sha256(), plist, strlen(plist),
                  0, &len);
    is_int(mdm_machineinfo_parse(der, len, store, &mi, &err), MDM_ERROR,
           "signer without its intermediate does not chain: refused");
    free(der);

    der = tc_sign(evil_dev, dev_key, evil_root, EVP_sha256(), plist,
                  strlen(plist), 0, &len);
    is_int(mdm_machineinfo_parse(der, len, store, &mi, &err), MDM_ERROR,
           "signer from another CA of the same name refused (%s)", err.msg);
    free(der);

    der = tc_sign(dev, dev_key, inter, EVP_sha256(), plist, strlen(plist),
                  CMS_DETACHED, &len);
    is_int(mdm_machineinfo_parse(der, len, store, &mi, &err), MDM_ERROR,
           "detached SignedData refused");
    ok(strstr(err.msg, "attached") != NULL, "reason: %s", err.msg);
    free(der);

    is_int(mdm_machineinfo_parse((const unsigned char *) "\x30\x03\x02\x01",
           4, store, &mi, &err), MDM_ERROR, "truncated DER refused");
    {
        unsigned char *huge = calloc(1, MDM_MACHINEINFO_MAX + 1);
        is_int(mdm_machineinfo_parse(huge, MDM_MACHINEINFO_MAX + 1, store,
               &mi, &err), MDM_ERROR, "oversized body refused");
        free(huge);
    }

    X509_STORE_free(store);
    X509_free(root); X509_free(inter); X509_free(dev);
    X509_free(evil_root); X509_free(evil_dev);
    EVP_PKEY_free(root_key); EVP_PKEY_free(int_key);
    EVP_PKEY_free(dev_key); EVP_PKEY_free(evil_key);
}


static void
test_version(void)
{
    char  fam[16];

    ok(mdm_machineinfo_version_cmp("17.4.1", "17.5") < 0, "17.4.1 < 17.5");
    ok(mdm_machineinfo_version_cmp("17.10", "17.9") > 0, "17.10 > 17.9");
    ok(mdm_machineinfo_version_cmp("17", "17.0") == 0, "17 == 17.0");
    ok(mdm_machineinfo_version_cmp("16.1 (a)", "16.1") == 0,
       "suffix ignored");
    ok(mdm_machineinfo_version_cmp("26.0.1", "26.0") > 0, "26.0.1 > 26.0");
    ok(mdm_machineinfo_version_cmp("", "1") < 0, "empty < 1");

    mdm_machineinfo_family("iPhone14,2", fam, sizeof(fam));
    is_str(fam, "iPhone", "family of iPhone14,2");
    mdm_machineinfo_family("Mac14,3", fam, sizeof(fam));
    is_str(fam, "Mac", "family of Mac14,3");
    mdm_machineinfo_family("RealityDeviceXXXXXXXXXXXXX1,1", fam, 8);
    is_str(fam, "Reality", "family bounded by its buffer");
}


int
main(void)
{
    test_plist();
    test_signed();
    test_version();
    return done_testing();
}
