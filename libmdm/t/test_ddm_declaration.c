#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mdm_plist.h"
#include "ddm/mdm_ddm_declaration.h"
#include "ddm/mdm_ddm_schema.h"
#include "ddm/mdm_ddm_validate.h"
#include "tap.h"


/* Apple's YAML release the committed table was generated from: 43 files,
 * less declarationbase.yaml and the four credential documents. */
#define YAML_DECLARATIONS  38

#define YAML_DIR  "../shared/apple-device-management/declarative/declarations"


static mdm_ddm_error_t  e;


/* Parses expecting success; the caller frees d. */
static int
accept(const char *json, unsigned flags, mdm_ddm_declaration_t *d)
{
    if (mdm_ddm_declaration_parse(json, strlen(json), flags, d, &e)
        != MDM_OK)
    {
        diag("refused: %s (%s at %s)", e.msg, e.rule, e.path);
        return 0;
    }

    return 1;
}


/* Parses expecting a refusal; returns "rule path" (static). */
static const char *
refuse(const char *json, unsigned flags)
{
    static char            buf[MDM_DDM_PATH_MAX + 32];
    mdm_ddm_declaration_t  d;

    if (mdm_ddm_declaration_parse(json, strlen(json), flags, &d, &e)
        == MDM_OK)
    {
        mdm_ddm_declaration_free(&d);
        return "(accepted)";
    }

    if (d.root != NULL || d.document != NULL || d.refs.refs != NULL) {
        return "(refused, but the declaration is not empty)";
    }

    snprintf(buf, sizeof(buf), "%s %s", e.rule, e.path);

    return buf;
}


static int
count_yaml_dir(const char *path)
{
    int             n;
    size_t          len;
    char            sub[1024];
    DIR            *dir;
    struct dirent  *de;

    dir = opendir(path);
    if (dir == NULL) {
        return -1;
    }

    n = 0;

    while ((de = readdir(dir)) != NULL) {
        len = strlen(de->d_name);

        if (de->d_name[0] == '.') {
            continue;
        }

        if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0) {
            n++;
            continue;
        }

        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        if (strcmp(de->d_name, "credentials") != 0) {
            len = (size_t) count_yaml_dir(sub);
            n += (int) len > 0 ? (int) len : 0;
        }
    }

    closedir(dir);

    return n;
}


static void
test_table(void)
{
    int                      n, sorted, ranges, kinds;
    size_t                   i;
    const mdm_ddm_key_t     *k;
    const mdm_ddm_schema_t  *s;

    is_int(mdm_ddm_nschemas, YAML_DECLARATIONS,
           "table has one row per declaration type of the release");

    /* every YAML but declarationbase.yaml and assets/credentials/ */
    n = count_yaml_dir(YAML_DIR);
    if (n < 0) {
        diag("skipping YAML count: %s not found", YAML_DIR);

    } else {
        is_int(mdm_ddm_nschemas, n - 1, "table covers every YAML file");
    }

    sorted = 1;
    kinds = 1;

    for (i = 0; i < mdm_ddm_nschemas; i++) {
        s = &mdm_ddm_schemas[i];

        if (i > 0 && strcmp(s[-1].type, s->type) >= 0) {
            sorted = 0;
        }

        if (mdm_ddm_schema_find(s->type) != s
            || mdm_ddm_kind_of_type(s->type) != s->kind
            || s->keys + s->nkeys > mdm_ddm_nkeys)
        {
            kinds = 0;
        }
    }

    ok(sorted, "types sorted");
    ok(kinds, "every type found, its kind the word after com.apple.");
    ok(mdm_ddm_schemas[mdm_ddm_nschemas].type == NULL, "sentinel at the end");

    ranges = 1;

    for (i = 0; i < mdm_ddm_nkeys; i++) {
        k = &mdm_ddm_keys[i];

        if (k->name == NULL || k->type > MDM_KEY_ANY
            || k->subkeys + k->nsubkeys > mdm_ddm_nkeys
            || k->values + k->nvalues > mdm_ddm_nvalues
            || k->assettypes + k->nassettypes > mdm_ddm_nvalues
            || (k->has_range && k->min > k->max))
        {
            ranges = 0;
        }
    }

    ok(ranges, "every key's subkeys, values and ranges are in range");

    s = mdm_ddm_schema_find("com.apple.configuration.passcode.settings");
    ok(s != NULL && s->kind == MDM_DDM_CONFIGURATION
       && strcmp(s->file, "configurations/passcode.settings.yaml") == 0,
       "passcode.settings is a configuration from its YAML file");
    ok(mdm_ddm_schema_find("com.apple.credential.scep") == NULL,
       "credential documents are not declarations");
    ok(mdm_ddm_schema_find("com.apple.configuration.nope") == NULL,
       "unknown type not found");
}


static void
test_envelope(void)
{
    mdm_ddm_declaration_t  d;
    char                   json[512];

    ok(accept("{\"Type\":\"com.apple.activation.simple\",\"Identifier\":\"a\","
              "\"Payload\":{\"StandardConfigurations\":[]}}", 0, &d),
       "minimal activation accepted");
    is_int(d.kind, MDM_DDM_ACTIVATION, "kind activation");
    is_str(d.identifier, "a", "Identifier kept");
    is_int(strlen(d.server_token), MDM_DDM_SERVER_TOKEN_LEN,
           "ServerToken computed");
    mdm_ddm_declaration_free(&d);

    is_str(refuse("[1]", 0), "type ", "an array is not a declaration");
    is_str(refuse("{\"Type\":", 0), "json ", "broken JSON: rule json");
    is_str(refuse("{\"Identifier\":\"a\",\"Payload\":{}}", 0), "required Type",
           "Type required");
    is_str(refuse("{\"Type\":1,\"Identifier\":\"a\",\"Payload\":{}}", 0),
           "type Type", "Type must be a string");
    is_str(refuse("{\"Type\":\"com.apple.configuration.nope\","
                  "\"Identifier\":\"a\",\"Payload\":{}}", 0),
           "unknown-type Type", "unknown Type refused");
    is_str(refuse("{\"Type\":\"com.example.thing\",\"Identifier\":\"a\","
                  "\"Payload\":{}}", MDM_DDM_ALLOW_UNKNOWN_TYPES),
           "unknown-type Type", "non-Apple Type refused even with the flag");
    is_str(refuse("{\"Type\":\"com.apple.management\",\"Identifier\":\"a\","
                  "\"Payload\":{}}", MDM_DDM_ALLOW_UNKNOWN_TYPES),
           "unknown-type Type", "a bare kind is no Type");

    ok(accept("{\"Type\":\"com.apple.configuration.future\","
              "\"Identifier\":\"f\",\"Payload\":{\"Anything\":1}}",
              MDM_DDM_ALLOW_UNKNOWN_TYPES, &d),
       "unknown com.apple Type accepted with the flag");
    ok(d.schema == NULL && d.kind == MDM_DDM_CONFIGURATION,
       "its kind from the Type, no schema");
    mdm_ddm_declaration_free(&d);

    is_str(refuse("{\"Type\":\"com.apple.management.properties\","
                  "\"Payload\":{}}", 0),
           "required Identifier", "Identifier required");
    is_str(refuse("{\"Type\":\"com.apple.management.properties\","
                  "\"Identifier\":\"\",\"Payload\":{}}", 0),
           "length Identifier", "empty Identifier refused");
    is_str(refuse("{\"Type\":\"com.apple.management.properties\","
                  "\"Identifier\":\"a\\nb\",\"Payload\":{}}", 0),
           "length Identifier", "control character in Identifier refused");
    is_str(refuse("{\"Type\":\"com.apple.management.properties\","
                  "\"Identifier\":\"}x\",\"Payload\":{}}", 0),
           "length Identifier", "brace in Identifier refused (Redis hash tag)");
    ok(!mdm_ddm_id_valid("a{b", 3) && !mdm_ddm_id_valid("}", 1),
       "no brace anywhere in an Identifier or a set name");

    snprintf(json, sizeof(json), "{\"Type\":\"com.apple.management."
             "properties\",\"Identifier\":\"%064d\",\"Payload\":{}}", 7);
    ok(accept(json, 0, &d), "64-octet Identifier accepted");
    mdm_ddm_declaration_free(&d);

    snprintf(json, sizeof(json), "{\"Type\":\"com.apple.management."
             "properties\",\"Identifier\":\"%065d\",\"Payload\":{}}", 7);
    is_str(refuse(json, 0), "length Identifier",
           "65-octet Identifier refused");

    is_str(refuse("{\"Type\":\"com.apple.management.properties\","
                  "\"Identifier\":\"a\"}", 0),
           "required Payload", "Payload required");
    is_str(refuse("{\"Type\":\"com.apple.management.properties\","
                  "\"Identifier\":\"a\",\"Payload\":[]}", 0),
           "type Payload", "Payload must be a dictionary");
    is_str(refuse("{\"Type\":\"com.apple.management.properties\","
                  "\"Identifier\":\"a\",\"Payload\":{},\"Extra\":1}", 0),
           "unknown-key Extra", "unknown top-level key refused");
    is_str(refuse("{\"Type\":\"com.apple.management.properties\","
                  "\"Identifier\":\"a\",\"Identifier\":\"b\",\"Payload\":{}}",
                  0), "json ", "duplicate keys refused");
}


static void
test_payload_rules(void)
{
    mdm_ddm_declaration_t  d;

#define PASSCODE(p)                                                         \
    "{\"Type\":\"com.apple.configuration.passcode.settings\","              \
    "\"Identifier\":\"pc\",\"Payload\":{" p "}}"

    ok(accept(PASSCODE("\"RequirePasscode\":true,\"MinimumLength\":6"), 0,
              &d), "passcode settings accepted");
    mdm_ddm_declaration_free(&d);

    is_str(refuse(PASSCODE("\"MinimumLength\":17"), 0),
           "range Payload.MinimumLength", "integer above its range");
    ok(strstr(e.msg, "0..16") != NULL, "message names the range: %s", e.msg);
    is_str(refuse(PASSCODE("\"MaximumFailedAttempts\":1"), 0),
           "range Payload.MaximumFailedAttempts", "integer below its range");
    is_str(refuse(PASSCODE("\"MinimumLength\":\"6\""), 0),
           "type Payload.MinimumLength", "string where an integer belongs");
    ok(strstr(e.msg, "must be an integer") != NULL, "message: %s", e.msg);
    is_str(refuse(PASSCODE("\"MinimumLength\":6.5"), 0),
           "type Payload.MinimumLength", "real where an integer belongs");
    is_str(refuse(PASSCODE("\"RequirePasscode\":1"), 0),
           "type Payload.RequirePasscode", "integer where a boolean belongs");
    is_str(refuse(PASSCODE("\"RequirePasscode\":null"), 0),
           "type Payload.RequirePasscode", "null is no boolean");
    is_str(refuse(PASSCODE("\"Requirepasscode\":true"), 0),
           "unknown-key Payload.Requirepasscode", "unknown payload key");
    ok(accept(PASSCODE("\"Requirepasscode\":true"),
              MDM_DDM_ALLOW_UNKNOWN_KEYS, &d),
       "unknown payload key accepted with the flag");
    mdm_ddm_declaration_free(&d);

    /* nested dictionary: CustomRegex {Regex R, Description {ANY: string}} */
    ok(accept(PASSCODE("\"CustomRegex\":{\"Regex\":\"^.{8,}$\","
                       "\"Description\":{\"default\":\"8+\",\"fr\":\"8+\"}}"),
              0, &d), "nested dictionary with a wildcard accepted");
    mdm_ddm_declaration_free(&d);
    is_str(refuse(PASSCODE("\"CustomRegex\":{\"Description\":{}}"), 0),
           "required Payload.CustomRegex.Regex", "nested required key");
    is_str(refuse(PASSCODE("\"CustomRegex\":{\"Regex\":\"x\","
                           "\"Description\":{\"default\":5}}"), 0),
           "type Payload.CustomRegex.Description.default",
           "wildcard key's type checked");
    is_str(refuse(PASSCODE("\"CustomRegex\":[]"), 0),
           "type Payload.CustomRegex", "array where a dictionary belongs");

    /* allowed values: Authentication.Type is MDM or None */
#define DATA_ASSET(p)                                                       \
    "{\"Type\":\"com.apple.asset.data\",\"Identifier\":\"as\","             \
    "\"Payload\":{" p "}}"

    ok(accept(DATA_ASSET("\"Reference\":{\"DataURL\":\"https://x/a\","
                         "\"Size\":3},\"Authentication\":{\"Type\":\"MDM\"}"),
              0, &d), "data asset accepted");
    mdm_ddm_declaration_free(&d);
    is_str(refuse(DATA_ASSET("\"Reference\":{\"DataURL\":\"https://x/a\"},"
                             "\"Authentication\":{\"Type\":\"Basic\"}"), 0),
           "value Payload.Authentication.Type", "value not in the rangelist");
    is_str(refuse(DATA_ASSET("\"Reference\":{}"), 0),
           "required Payload.Reference.DataURL", "required nested string");
    is_str(refuse(DATA_ASSET(""), 0), "required Payload.Reference",
           "required top-level payload key");

    /* arrays: elements checked by their form */
    is_str(refuse("{\"Type\":\"com.apple.activation.simple\","
                  "\"Identifier\":\"a\",\"Payload\":{"
                  "\"StandardConfigurations\":[\"c1\",2]}}", 0),
           "type Payload.StandardConfigurations[1]",
           "array element of the wrong type, with its index");
    is_str(refuse("{\"Type\":\"com.apple.activation.simple\","
                  "\"Identifier\":\"a\",\"Payload\":{"
                  "\"StandardConfigurations\":\"c1\"}}", 0),
           "type Payload.StandardConfigurations", "string where an array");

    /* <any>: properties takes any key with any non-null value */
    ok(accept("{\"Type\":\"com.apple.management.properties\","
              "\"Identifier\":\"p\",\"Payload\":{\"a\":1,\"b\":[{}],"
              "\"c\":\"x\"}}", 0, &d), "management.properties is free-form");
    mdm_ddm_declaration_free(&d);
    is_str(refuse("{\"Type\":\"com.apple.management.properties\","
                  "\"Identifier\":\"p\",\"Payload\":{\"a\":null}}", 0),
           "type Payload.a", "null is not a value a device can hold");

    /* a dictionary the schema leaves open (no subkeys) takes anything */
    ok(accept("{\"Type\":\"com.apple.management.server-capabilities\","
              "\"Identifier\":\"s\",\"Payload\":{\"Version\":\"1\","
              "\"SupportedFeatures\":{\"x\":{\"y\":1}}}}", 0, &d),
       "server-capabilities with features");
    mdm_ddm_declaration_free(&d);

#undef PASSCODE
#undef DATA_ASSET
}


static void
test_deep(void)
{
    int     i;
    char    json[4096];
    size_t  n;

    /* 40 levels of Description dictionaries are not in any schema: the
     * walk stops at the first unknown key instead of recursing */
    n = (size_t) snprintf(json, sizeof(json), "{\"Type\":\"com.apple."
                          "management.server-capabilities\",\"Identifier\":"
                          "\"s\",\"Payload\":{\"Version\":\"1\","
                          "\"SupportedFeatures\":");
    for (i = 0; i < 40; i++) {
        n += (size_t) snprintf(json + n, sizeof(json) - n, "{\"a\":");
    }
    n += (size_t) snprintf(json + n, sizeof(json) - n, "1");
    for (i = 0; i < 40; i++) {
        n += (size_t) snprintf(json + n, sizeof(json) - n, "}");
    }
    snprintf(json + n, sizeof(json) - n, "}}");

    ok(strcmp(refuse(json, 0), "(accepted)") == 0,
       "an open dictionary is not walked, so depth is no concern there");

    ok(strcmp(refuse("{\"Type\":\"com.apple.management.properties\","
                     "\"Identifier\":\"p\",\"Payload\":{}}", 0),
              "(accepted)") == 0, "empty properties accepted");
}


static void
test_refs(void)
{
    size_t                 i;
    mdm_ddm_declaration_t  d;
    int                    found;

    ok(accept("{\"Type\":\"com.apple.activation.simple\",\"Identifier\":\"a\","
              "\"Payload\":{\"StandardConfigurations\":[\"c1\",\"c2\"],"
              "\"Predicate\":\"TRUEPREDICATE\"}}", 0, &d),
       "activation with two configurations");
    is_int(d.refs.n, 2, "two references");
    ok(d.refs.n == 2 && d.refs.refs[0].kind == MDM_DDM_CONFIGURATION
       && strcmp(d.refs.refs[0].identifier, "c1") == 0
       && strcmp(d.refs.refs[1].identifier, "c2") == 0,
       "both are configurations, in order");
    is_str(d.refs.n ? d.refs.refs[1].path : "",
           "Payload.StandardConfigurations[1]", "reference path");
    mdm_ddm_declaration_free(&d);

    ok(accept("{\"Type\":\"com.apple.configuration.account.mail\","
              "\"Identifier\":\"m\",\"Payload\":{\"UserIdentityAssetReference\""
              ":\"uid\",\"IncomingServer\":{\"ServerType\":\"IMAP\","
              "\"HostName\":\"h\",\"AuthenticationMethod\":\"Password\","
              "\"AuthenticationCredentialsAssetReference\":\"cred\"},"
              "\"OutgoingServer\":{\"HostName\":\"h\",\"AuthenticationMethod\":"
              "\"None\"}}}", 0, &d),
       "mail account with asset references");

    found = 0;
    for (i = 0; i < d.refs.n; i++) {
        if (d.refs.refs[i].kind == MDM_DDM_ASSET
            && strcmp(d.refs.refs[i].identifier, "cred") == 0
            && strcmp(d.refs.refs[i].path, "Payload.IncomingServer."
                      "AuthenticationCredentialsAssetReference") == 0
            && mdm_ddm_ref_accepts(&d.refs.refs[i],
                                   "com.apple.asset.credential.userpassword")
            && !mdm_ddm_ref_accepts(&d.refs.refs[i], "com.apple.asset.data"))
        {
            found++;
        }
    }

    is_int(d.refs.n, 2, "two asset references");
    is_int(found, 1, "nested credential reference, its path and asset types");
    mdm_ddm_declaration_free(&d);

    ok(accept("{\"Type\":\"com.apple.configuration.watch.enrollment\","
              "\"Identifier\":\"w\",\"Payload\":{\"EnrollmentProfileURL\":"
              "\"https://x\",\"AnchorCertificateAssetReferences\":[\"c1\","
              "\"c2\"]}}", 0, &d),
       "watch enrollment with an array of asset references");
    ok(d.refs.n == 2 && d.refs.refs[1].kind == MDM_DDM_ASSET
       && strcmp(d.refs.refs[1].path,
                 "Payload.AnchorCertificateAssetReferences[1]") == 0,
       "array elements are the references");
    mdm_ddm_declaration_free(&d);
}


/* A catalogue of three: a configuration, a credential and a data asset. */
static const char *
lookup(void *ctx, const char *identifier)
{
    (void) ctx;

    if (strcmp(identifier, "c1") == 0) {
        return "com.apple.configuration.passcode.settings";
    }

    if (strcmp(identifier, "cred") == 0) {
        return "com.apple.asset.credential.userpassword";
    }

    if (strcmp(identifier, "data") == 0) {
        return "com.apple.asset.data";
    }

    return NULL;
}


static void
test_warnings(void)
{
    char                  *s;
    json_t                *w;
    mdm_ddm_declaration_t  d;

    ok(accept("{\"Type\":\"com.apple.activation.simple\",\"Identifier\":\"a\","
              "\"Payload\":{\"StandardConfigurations\":[\"c1\",\"nope\","
              "\"cred\"]}}", 0, &d), "activation naming three");
    w = mdm_ddm_refs_warnings(&d.refs, lookup, NULL);
    s = json_dumps(w, JSON_COMPACT);
    is_str(s, "[{\"path\":\"Payload.StandardConfigurations[1]\","
           "\"identifier\":\"nope\",\"warning\":\"missing\"},"
           "{\"path\":\"Payload.StandardConfigurations[2]\","
           "\"identifier\":\"cred\",\"warning\":\"kind\"}]",
           "missing configuration and an asset named as one are warned about");
    free(s);
    json_decref(w);
    mdm_ddm_declaration_free(&d);

    ok(accept("{\"Type\":\"com.apple.configuration.account.caldav\","
              "\"Identifier\":\"cal\",\"Payload\":{\"HostName\":\"h\","
              "\"AuthenticationCredentialsAssetReference\":\"data\"}}", 0,
              &d), "caldav account referencing a data asset");
    w = mdm_ddm_refs_warnings(&d.refs, lookup, NULL);
    ok(json_array_size(w) == 1
       && strcmp(json_string_value(json_object_get(json_array_get(w, 0),
                 "warning")), "type") == 0,
       "an asset of a Type the key does not take");
    json_decref(w);
    mdm_ddm_declaration_free(&d);

    ok(accept("{\"Type\":\"com.apple.configuration.account.caldav\","
              "\"Identifier\":\"cal\",\"Payload\":{\"HostName\":\"h\","
              "\"AuthenticationCredentialsAssetReference\":\"cred\"}}", 0,
              &d), "caldav account referencing its credential");
    w = mdm_ddm_refs_warnings(&d.refs, lookup, NULL);
    is_int(json_array_size(w), 0, "no warning");
    ok(json_is_array(w), "an empty array");
    json_decref(w);
    mdm_ddm_declaration_free(&d);
}


static void
test_document(void)
{
    char                   token[MDM_DDM_SERVER_TOKEN_LEN + 1];
    json_t                *doc;
    mdm_ddm_declaration_t  a, b;

    ok(accept("{\"Type\":\"com.apple.configuration.passcode.settings\","
              "\"Identifier\":\"pc\",\"ServerToken\":\"mine\","
              "\"Payload\":{\"MinimumLength\":6,\"RequirePasscode\":true}}",
              0, &a), "with a client ServerToken");
    ok(accept(" { \"Payload\" : { \"RequirePasscode\" : true ,"
              " \"MinimumLength\" : 6 } , \"Identifier\" : \"pc\" ,"
              " \"Type\" : \"com.apple.configuration.passcode.settings\" }",
              0, &b), "same content, other order and spacing, no token");

    is_str(a.server_token, b.server_token,
           "ServerToken ignores the client's token, order and spacing");
    ok(a.document_len == b.document_len
       && memcmp(a.document, b.document, a.document_len) == 0,
       "documents are the same bytes");
    is_str(a.canonical, "{\"Identifier\":\"pc\",\"Payload\":{\"MinimumLength\""
           ":6,\"RequirePasscode\":true},\"Type\":\"com.apple.configuration."
           "passcode.settings\"}", "canonical content: sorted, compact");

    doc = json_loads(a.document, 0, NULL);
    is_str(json_string_value(json_object_get(doc, "ServerToken")),
           a.server_token, "document carries the computed ServerToken");
    ok(strstr(a.document, "mine") == NULL, "client token gone");
    json_decref(doc);

    memcpy(token, a.server_token, sizeof(token));
    ok(mdm_ddm_declaration_touch(&a, 1, &e) == MDM_OK, "touch");
    ok(strcmp(token, a.server_token) != 0, "touch changes the ServerToken");
    ok(strstr(a.document, a.server_token) != NULL,
       "document rendered with the new token");
    ok(mdm_ddm_declaration_touch(&a, 0, &e) == MDM_OK
       && strcmp(token, a.server_token) == 0, "touch 0 is the untouched one");
    mdm_ddm_declaration_free(&a);
    mdm_ddm_declaration_free(&b);

    ok(accept("{\"Type\":\"com.apple.configuration.passcode.settings\","
              "\"Identifier\":\"pc\",\"Payload\":{\"MinimumLength\":7}}",
              0, &a), "other content");
    ok(strcmp(token, a.server_token) != 0, "other content, other token");
    mdm_ddm_declaration_free(&a);
}


static void
test_error_json(void)
{
    char    *s;
    json_t  *j;

    refuse("{\"Type\":\"com.apple.configuration.passcode.settings\","
           "\"Identifier\":\"pc\",\"Payload\":{\"MinimumLength\":99}}", 0);
    j = mdm_ddm_error_json(&e);
    s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    is_str(s, "{\"error\":\"Payload.MinimumLength: 99 is outside 0..16\","
           "\"path\":\"Payload.MinimumLength\",\"rule\":\"range\"}",
           "the API's 400 body names path and rule");
    free(s);
    json_decref(j);
}


int
main(void)
{
    test_table();
    test_envelope();
    test_payload_rules();
    test_deep();
    test_refs();
    test_warnings();
    test_document();
    test_error_json();

    return done_testing();
}
