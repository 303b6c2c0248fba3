#include <stdlib.h>
#include <string.h>

#include "mdm_plist_json.h"
#include "plist_test.h"
#include "tap.h"


/* The compact, key-sorted JSON text of a key of body, or NULL. */
static char *
key_json(const char *body, const char *key)
{
    char    *text;
    json_t  *json;

    json = mdm_plist_key_to_json(body, strlen(body), key);
    if (json == NULL) {
        return NULL;
    }

    text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS
                            | JSON_ENCODE_ANY);
    json_decref(json);

    return text;
}


static void
is_json(const char *body, const char *key, const char *want,
    const char *what)
{
    char  *got;

    got = key_json(body, key);
    is_str(got, want, "%s", what);
    free(got);
}


static void
test_scalars(void)
{
    const char  *body;

    body = PLIST(STR("s", "caf\xc3\xa9 &amp; \"q\"")
                 INT("i", "42")
                 INT("n", "-7")
                 TRUE("t") FALSE("f")
                 "<key>r</key><real>1.5</real>"
                 DATA("d", "AAEC/w==")
                 DATA("empty", "")
                 "<key>date</key><date>2024-02-29T12:34:56Z</date>");

    is_json(body, "s", "\"caf\xc3\xa9 & \\\"q\\\"\"", "string");
    is_json(body, "i", "42", "integer");
    is_json(body, "n", "-7", "negative integer");
    is_json(body, "t", "true", "true");
    is_json(body, "f", "false", "false");
    is_json(body, "r", "1.5", "real");
    is_json(body, "d", "\"AAEC/w==\"", "data as base64");
    is_json(body, "empty", "\"\"", "empty data as an empty string");
    is_json(body, "date", "\"2024-02-29T12:34:56Z\"", "date as RFC 3339");
}


static void
test_error_chain(void)
{
    const char  *body;

    body = PLIST(STR("Status", "Error")
                 STR("UDID", "X")
                 STR("CommandUUID", "C")
                 "<key>ErrorChain</key><array><dict>"
                 INT("ErrorCode", "12021")
                 STR("ErrorDomain", "MCMDMErrorDomain")
                 STR("LocalizedDescription", "Unknown command")
                 STR("USEnglishDescription", "Unknown command")
                 "</dict><dict>"
                 INT("ErrorCode", "4")
                 "<key>Nested</key><array><array/><dict/></array>"
                 "</dict></array>");

    is_json(body, "ErrorChain",
            "[{\"ErrorCode\":12021,\"ErrorDomain\":\"MCMDMErrorDomain\","
            "\"LocalizedDescription\":\"Unknown command\","
            "\"USEnglishDescription\":\"Unknown command\"},"
            "{\"ErrorCode\":4,\"Nested\":[[],{}]}]",
            "ErrorChain array of dicts, nested containers kept");

    ok(key_json(body, "Missing") == NULL, "absent key gives NULL");
    ok(key_json("not a plist", "ErrorChain") == NULL,
       "a body that is no plist gives NULL");
    ok(key_json(PLIST(STR("a", "1") STR("a", "2")), "a") == NULL,
       "a body the strict parser refuses gives NULL");
}


static void
test_node(void)
{
    char    *text;
    json_t  *json;
    plist_t  dict;

    dict = plist_new_dict();
    plist_dict_set_item(dict, "bad", plist_new_string("ok"));
    plist_dict_set_item(dict, "uid", plist_new_uid(9));

    json = mdm_plist_to_json(dict);
    text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);
    is_str(text, "{\"bad\":\"ok\",\"uid\":9}", "tree built in memory, UID");

    free(text);
    json_decref(json);
    plist_free(dict);
}


int
main(void)
{
    test_scalars();
    test_error_chain();
    test_node();

    return done_testing();
}
