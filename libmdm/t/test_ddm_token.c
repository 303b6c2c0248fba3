#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "mdm_hex.h"
#include "mdm_plist.h"
#include "ddm/mdm_ddm_document.h"
#include "ddm/mdm_ddm_token.h"
#include "tap.h"


static mdm_ddm_error_t  e;


static void
sha1_hex(const char *s, char out[41])
{
    unsigned int   n;
    unsigned char  d[EVP_MAX_MD_SIZE];

    EVP_Digest(s, strlen(s), d, &n, EVP_sha1(), NULL);
    mdm_hex_encode(d, n, out);
}


static void
test_canonical(void)
{
    char    *s;
    size_t   len;
    json_t  *v;

    v = json_loads("{ \"b\": [1, 2.5, {\"z\": null, \"a\": \"\\u00e9\\n\"}],"
                   "  \"a\": true, \"B\": false }", 0, NULL);
    s = mdm_ddm_canonical(v, &len);
    is_str(s, "{\"B\":false,\"a\":true,\"b\":[1,2.5,{\"a\":\"\xc3\xa9\\n\","
           "\"z\":null}]}", "canonical JSON: keys by bytes, compact, UTF-8");
    is_int(len, strlen(s), "length returned");
    free(s);
    json_decref(v);
}


static void
test_server_token(void)
{
    char  a[MDM_DDM_SERVER_TOKEN_LEN + 1], b[MDM_DDM_SERVER_TOKEN_LEN + 1];
    char  c[MDM_DDM_SERVER_TOKEN_LEN + 1];

    ok(mdm_ddm_server_token("{}", 2, 0, a) == MDM_OK, "token of {}");
    /* SHA-256("{}") = 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c06
     * 0f61caaff8a, its first 32 digits */
    is_str(a, "44136fa355b3678a1146ad16f7e8649e",
           "ServerToken is SHA-256 of the canonical content, 32 digits");
    mdm_ddm_server_token("{}", 2, 0, b);
    is_str(a, b, "deterministic");
    mdm_ddm_server_token("{}", 2, 1, c);
    ok(strcmp(a, c) != 0, "touch 1 differs");
    mdm_ddm_server_token("{}\n1", 4, 0, b);
    is_str(c, b, "touch N hashes content \\n N");
}


static void
test_declarations_token(void)
{
    char            t1[41], t2[41], want[41];
    mdm_ddm_item_t  items[3] = {
        { MDM_DDM_CONFIGURATION, "cfg-b", "22" },
        { MDM_DDM_ACTIVATION, "act", "11" },
        { MDM_DDM_CONFIGURATION, "cfg-a", "33" },
    };
    mdm_ddm_item_t  reversed[3];
    mdm_ddm_item_t  dup[2] = {
        { MDM_DDM_CONFIGURATION, "x", "1" },
        { MDM_DDM_ASSET, "x", "2" },
    };
    mdm_ddm_item_t  bad = { MDM_DDM_ASSET, "a\nb", "1" };

    ok(mdm_ddm_declarations_token(items, 3, t1, &e) == MDM_OK, "token");
    sha1_hex("act\n11\ncfg-a\n33\ncfg-b\n22\n", want);
    is_str(t1, want, "SHA-1 over Identifier\\nServerToken\\n sorted by "
           "Identifier (what redis.sha1hex computes)");

    reversed[0] = items[2];
    reversed[1] = items[0];
    reversed[2] = items[1];
    mdm_ddm_declarations_token(reversed, 3, t2, &e);
    is_str(t1, t2, "order of the input does not matter");

    items[1].server_token = "12";
    mdm_ddm_declarations_token(items, 3, t2, &e);
    ok(strcmp(t1, t2) != 0, "a changed ServerToken changes it");

    mdm_ddm_declarations_token(items, 2, t2, &e);
    ok(strcmp(t1, t2) != 0, "a removed declaration changes it");

    mdm_ddm_declarations_token(items, 0, t2, &e);
    is_str(t2, "da39a3ee5e6b4b0d3255bfef95601890afd80709",
           "no declarations: SHA-1 of nothing");

    ok(mdm_ddm_declarations_token(dup, 2, t2, &e) == MDM_ERROR
       && strcmp(e.rule, "duplicate") == 0, "duplicate Identifier refused");
    ok(mdm_ddm_declarations_token(&bad, 1, t2, &e) == MDM_ERROR,
       "Identifier with a newline refused");
}


static void
test_tokens_document(void)
{
    char    *s;
    size_t   len;

    /* 2026-11-30T12:00:00Z */
    s = mdm_ddm_tokens_document("abc", 1796040000, &len);
    is_str(s, "{\"SyncTokens\":{\"DeclarationsToken\":\"abc\","
           "\"Timestamp\":\"2026-11-30T12:00:00Z\"}}", "TokensResponse");
    is_int(len, strlen(s), "length");
    free(s);

    s = mdm_ddm_tokens_document("abc", (time_t) 1 << 60, NULL);
    ok(s != NULL && strstr(s, "\"Timestamp\":\"1970-01-01T00:00:00Z\"") != NULL,
       "a time beyond year 9999 gives a well-formed timestamp");
    free(s);
}


static void
test_items_document(void)
{
    char            token[41], t2[41], want[512], *s, *s2;
    size_t          len;
    json_t         *doc, *decls;
    mdm_ddm_item_t  items[4] = {
        { MDM_DDM_CONFIGURATION, "cfg-b", "22" },
        { MDM_DDM_ACTIVATION, "act", "11" },
        { MDM_DDM_CONFIGURATION, "cfg-a", "33" },
        { MDM_DDM_MANAGEMENT, "props", "44" },
    };
    mdm_ddm_item_t  dup[2] = {
        { MDM_DDM_CONFIGURATION, "x", "1" },
        { MDM_DDM_ASSET, "x", "2" },
    };

    mdm_ddm_declarations_token(items, 4, t2, &e);
    snprintf(want, sizeof(want), "{\"Declarations\":{"
             "\"Activations\":[{\"Identifier\":\"act\",\"ServerToken\":"
             "\"11\"}],\"Assets\":[],"
             "\"Configurations\":[{\"Identifier\":\"cfg-a\",\"ServerToken\":"
             "\"33\"},{\"Identifier\":\"cfg-b\",\"ServerToken\":\"22\"}],"
             "\"Management\":[{\"Identifier\":\"props\",\"ServerToken\":"
             "\"44\"}]},\"DeclarationsToken\":\"%s\"}", t2);

    s = mdm_ddm_items_document(items, 4, token, &len, &e);
    is_str(s, want, "DeclarationItemsResponse: four arrays, sorted, token");
    is_int(len, strlen(want), "length");
    is_str(token, t2, "its token is the items' DeclarationsToken");

    doc = json_loads(s, 0, NULL);
    is_str(json_string_value(json_object_get(doc, "DeclarationsToken")), t2,
           "and it is in the document");
    json_decref(doc);

    s2 = mdm_ddm_items_document(items, 4, NULL, NULL, &e);
    is_str(s, s2, "same items, same bytes");
    free(s);
    free(s2);

    s = mdm_ddm_items_document(NULL, 0, token, &len, &e);
    doc = json_loads(s, 0, NULL);
    decls = json_object_get(doc, "Declarations");
    ok(json_is_array(json_object_get(decls, "Activations"))
       && json_is_array(json_object_get(decls, "Assets"))
       && json_is_array(json_object_get(decls, "Configurations"))
       && json_is_array(json_object_get(decls, "Management"))
       && json_object_size(decls) == 4,
       "no declarations: all four arrays present, empty");
    json_decref(doc);
    free(s);

    ok(mdm_ddm_items_document(dup, 2, token, &len, &e) == NULL,
       "duplicate Identifier: no document");
}


static void
test_kinds(void)
{
    is_int(mdm_ddm_kind_of_type("com.apple.configuration.passcode.settings"),
           MDM_DDM_CONFIGURATION, "configuration");
    is_int(mdm_ddm_kind_of_type("com.apple.asset.data"), MDM_DDM_ASSET,
           "asset");
    is_int(mdm_ddm_kind_of_type("com.apple.activations.simple"),
           MDM_DDM_NKINDS, "plural is no kind");
    is_int(mdm_ddm_kind_of_type("com.example.configuration.x"),
           MDM_DDM_NKINDS, "not com.apple");
    is_int(mdm_ddm_kind_from_name("management", 10), MDM_DDM_MANAGEMENT,
           "URL word management");
    is_int(mdm_ddm_kind_from_name("manage", 6), MDM_DDM_NKINDS,
           "prefix of a word is none");
    is_str(mdm_ddm_kind_manifest(MDM_DDM_ASSET), "Assets", "manifest name");
    is_str(mdm_ddm_kind_status(MDM_DDM_ASSET), "assets", "status name");
}


int
main(void)
{
    test_canonical();
    test_server_token();
    test_declarations_token();
    test_tokens_document();
    test_items_document();
    test_kinds();

    return done_testing();
}
