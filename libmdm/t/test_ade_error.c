#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <plist/plist.h>

#include "enroll/mdm_ade_error.h"
#include "tap.h"


static json_t *
as_json(const mdm_ade_error_t *e)
{
    char     *s;
    size_t    n;
    json_t   *j;

    if (mdm_ade_error_build(e, MDM_ADE_FMT_JSON, &s, &n) != 0) {
        return NULL;
    }
    j = json_loadb(s, n, 0, NULL);
    free(s);
    return j;
}


int
main(void)
{
    char             *s;
    size_t            n;
    json_t           *j;
    plist_t           p, d;
    char             *v;
    mdm_ade_error_t   e;

    memset(&e, 0, sizeof(e));
    e.code = MDM_ADE_ERR_SOFTWARE_UPDATE;
    e.os_version = "26.1";
    e.build_version = "25B78";
    e.message = "Update first";
    j = as_json(&e);
    ok(j != NULL, "softwareupdate.required as JSON");
    is_str(json_string_value(json_object_get(j, "code")),
           "com.apple.softwareupdate.required", "its code");
    is_str(json_string_value(json_object_get(json_object_get(j, "details"),
           "OSVersion")), "26.1", "details.OSVersion");
    is_str(json_string_value(json_object_get(json_object_get(j, "details"),
           "BuildVersion")), "25B78", "details.BuildVersion");
    is_str(json_string_value(json_object_get(j, "message")), "Update first",
           "message");
    json_decref(j);

    e.os_version = NULL;
    ok(mdm_ade_error_build(&e, MDM_ADE_FMT_JSON, &s, &n) == -1,
       "OSVersion is required");

    memset(&e, 0, sizeof(e));
    e.code = MDM_ADE_ERR_UNRECOGNIZED;
    ok(mdm_ade_error_build(&e, MDM_ADE_FMT_PLIST, &s, &n) == 0,
       "unrecognized.device as plist");
    p = NULL;
    plist_from_xml(s, (uint32_t) n, &p);
    free(s);
    ok(p != NULL && plist_get_node_type(p) == PLIST_DICT, "a plist dict");
    v = NULL;
    plist_get_string_val(plist_dict_get_item(p, "code"), &v);
    is_str(v ? v : "", "com.apple.unrecognized.device", "its code");
    ok(plist_dict_get_item(p, "details") == NULL, "no details");
    free(v);
    plist_free(p);

    memset(&e, 0, sizeof(e));
    e.code = MDM_ADE_ERR_PAIRING_TOKEN;
    e.security_token = "4E0C4FB0-0D36-4B5B-9F36-6B7A8E0F7E2A";
    j = as_json(&e);
    is_str(json_string_value(json_object_get(json_object_get(j, "details"),
           "security-token")), "4E0C4FB0-0D36-4B5B-9F36-6B7A8E0F7E2A",
           "details.security-token");
    json_decref(j);

    memset(&e, 0, sizeof(e));
    e.code = MDM_ADE_ERR_PSSO;
    e.auth_url = "https://idp.example.org/auth";
    e.profile_url = "https://mdm.example.org/psso.mobileconfig";
    e.manifest_url = "https://mdm.example.org/psso.plist";
    ok(mdm_ade_error_build(&e, MDM_ADE_FMT_PLIST, &s, &n) == 0,
       "psso.required as plist");
    p = NULL;
    plist_from_xml(s, (uint32_t) n, &p);
    free(s);
    d = p ? plist_dict_get_item(p, "details") : NULL;
    v = NULL;
    plist_get_string_val(plist_dict_get_item(plist_dict_get_item(d,
                         "Package"), "ManifestURL"), &v);
    is_str(v ? v : "", "https://mdm.example.org/psso.plist",
           "details.Package.ManifestURL");
    free(v);
    plist_free(p);
    e.manifest_url = NULL;
    ok(mdm_ade_error_build(&e, MDM_ADE_FMT_JSON, &s, &n) == -1,
       "Package.ManifestURL is required");

    is_int(mdm_ade_error_format(NULL, 0, NULL, 0), MDM_ADE_FMT_JSON,
           "no hint: JSON");
    is_int(mdm_ade_error_format("application/x-plist", 19, NULL, 0),
           MDM_ADE_FMT_PLIST, "Accept plist");
    is_int(mdm_ade_error_format("application/json, application/xml", 33,
           NULL, 0), MDM_ADE_FMT_JSON, "Accept: the first named wins");
    is_int(mdm_ade_error_format("*/*", 3, "application/xml", 15),
           MDM_ADE_FMT_PLIST, "Content-Type decides when Accept does not");
    is_int(mdm_ade_error_format("*/*", 3, "application/pkcs7-signature", 27),
           MDM_ADE_FMT_JSON, "a pkcs7 body: JSON");

    return done_testing();
}
