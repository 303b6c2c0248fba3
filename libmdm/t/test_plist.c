#include <stdlib.h>
#include <string.h>

#include "mdm_plist.h"
#include "plist_test.h"
#include "tap.h"


static int
parse(const char *body, size_t len, plist_t *dict, mdm_err_t *err)
{
    err->msg[0] = '\0';

    return mdm_plist_parse(body, len, TEST_MAX_BODY, dict, err);
}


/* Parses a string expected to be refused with a message containing want. */
static void
refused_max(const char *body, size_t len, size_t max_len, const char *want,
    const char *what)
{
    int        rc;
    plist_t    dict;
    mdm_err_t  err;

    err.msg[0] = '\0';
    rc = mdm_plist_parse(body, len, max_len, &dict, &err);
    ok(rc == MDM_ERROR && dict == NULL && strstr(err.msg, want) != NULL,
       "%s is refused: %s", what, err.msg);

    if (rc == MDM_OK) {
        plist_free(dict);
    }
}


static void
refused(const char *body, size_t len, const char *want, const char *what)
{
    refused_max(body, len, TEST_MAX_BODY, want, what);
}


static char *
nest(const char *open, const char *close, size_t depth, size_t *len)
{
    char    *buf, *p;
    size_t   i, size;

    size = depth * (strlen(open) + strlen(close)) + 64;
    buf = malloc(size);
    if (buf == NULL) {
        abort();
    }

    p = stpcpy(buf, "<plist><dict><key>a</key>");

    for (i = 0; i < depth; i++) {
        p = stpcpy(p, open);
    }

    for (i = 0; i < depth; i++) {
        p = stpcpy(p, close);
    }

    p = stpcpy(p, "</dict></plist>");
    *len = p - buf;

    return buf;
}


static void
test_refusals(void)
{
    char         *body;
    size_t        len;
    const char   *s;
    mdm_err_t     err;
    plist_t       dict;

    refused("", 0, "empty body", "empty body");
    refused("   \n", 4, "not a valid XML plist", "whitespace body");
    refused("hello world", 11, "not a valid", "text garbage");
    refused("\x01\x02\xff\xfe", 4, "not a valid", "binary garbage");
    refused("bplist00\x01\x02", 10, "malformed binary plist",
            "bplist magic followed by garbage");
    refused("{\"a\":1}", 7, "not a valid", "JSON");

    s = "<plist><dict><key>a</key><string>1</dict></plist>";
    refused(s, strlen(s), "not a valid XML plist", "mismatched XML tags");
    s = "<plist><dict><key>a</key><string>1</string>";
    refused(s, strlen(s), "not a valid XML plist", "truncated XML");
    s = "<plist><dict><key>a</key><string>&bogus;</string></dict></plist>";
    refused(s, strlen(s), "not a valid XML plist", "unknown XML entity");
    s = "<?xml version=\"1.0\"?><!DOCTYPE plist [<!ENTITY x \"y\">]>"
        "<plist><dict/></plist>";
    refused(s, strlen(s), "unsupported XML declaration", "internal DTD");
    s = "<plist><dict><!-- x </dict></plist>";
    refused(s, strlen(s), "unterminated XML comment", "open comment");

    s = "<plist><array><string>a</string></array></plist>";
    refused(s, strlen(s), "top level of the plist is not a dict",
            "top-level array");
    s = "<plist><string>a</string></plist>";
    refused(s, strlen(s), "not a dict", "top-level string");

    s = PLIST(STR("a", "1") STR("a", "2"));
    refused(s, strlen(s), "duplicated key", "duplicated XML key");
    s = PLIST(STR("a", "1") STR("&#97;", "2"));
    refused(s, strlen(s), "duplicated key",
            "duplicated XML key spelled with a character reference");
    s = PLIST("<key>d</key><dict>" STR("x", "1") STR("x", "1") "</dict>");
    refused(s, strlen(s), "duplicated key", "duplicated key in a nested dict");
    s = PLIST("<key>l</key><array><dict>" STR("x", "1") STR("x", "2")
              "</dict></array>");
    refused(s, strlen(s), "duplicated key", "duplicated key in an array item");
    s = PLIST(STR("a", "1") "<key\n>a</key><string>2</string>");
    refused(s, strlen(s), "duplicated key", "duplicated key in a spaced tag");
    s = PLIST(STR("a", "1") "<key>b</key>");
    refused(s, strlen(s), "key without a value", "key without a value");
    s = PLIST("<key>l</key><array><key>x</key></array>");
    refused(s, strlen(s), "key without a value", "key inside an array");

    s = PLIST(STR("a", "x\0y"));
    refused(s, sizeof(PLIST(STR("a", "x\0y"))) - 1, "NUL byte",
            "NUL byte inside an XML string");

    s = PLIST(STR("a", "1"));
    ok(mdm_plist_parse(s, strlen(s), strlen(s) - 1, &dict, &err)
       == MDM_ERROR && strstr(err.msg, "exceeds the limit") != NULL,
       "body one byte over the limit is refused: %s", err.msg);
    ok(mdm_plist_parse(s, strlen(s), strlen(s), &dict, &err) == MDM_OK,
       "body exactly at the limit is taken");
    plist_free(dict);

    body = nest("<array>", "</array>", 100000, &len);
    refused_max(body, len, len, "nested deeper", "100000 nested XML arrays");
    free(body);

    body = nest("<dict><key>a</key>", "</dict>", 100000, &len);
    refused_max(body, len, len, "nested deeper", "100000 nested XML dicts");
    free(body);

    /* the top dict is level 1, so 31 arrays inside it make 32 */
    body = nest("<array>", "</array>", MDM_PLIST_MAX_DEPTH - 1, &len);
    ok(parse(body, len, &dict, &err) == MDM_OK,
       "%d levels of nesting are taken", MDM_PLIST_MAX_DEPTH);
    plist_free(dict);
    free(body);

    body = nest("<array>", "</array>", MDM_PLIST_MAX_DEPTH, &len);
    refused(body, len, "nested deeper", "one level too deep (XML)");
    free(body);

    body = nest("<array>", "</array>", MDM_PLIST_MAX_DEPTH + 2, &len);
    refused(body, len, "nested deeper", "three levels too deep (XML)");
    free(body);

    /* markup that a naive scan reads differently from libplist */
    body = nest("<array a=\"/>\">", "</array>", 40, &len);
    refused(body, len, "nested deeper", "a quoted '/>' does not close a tag");
    free(body);

    body = nest("<array>", "</array>", 40, &len);
    memcpy(body + 25, "<?x ></></></></></>?>", 22);
    refused(body, len, "", "closers hidden in a processing instruction");
    free(body);

    s = "<plist><dict><key>a</key><string>x</string></dict></plist>"
        "</array></array><array><array>";
    refused(s, strlen(s), "", "stray closing tags do not buy depth");
}


static void
test_binary(void)
{
    size_t     len, i;
    uint32_t   refs[8], top;
    plist_t    dict;
    mdm_err_t  err;
    bplist_t  *bp;

    bp = calloc(1, sizeof(bplist_t));

    /* {a: [d, d, ... d]}: one 4 KB data object referenced 2,000 times,
     * which libplist would copy 2,000 times (8 MB from a 12 KB body) */
    {
        uint32_t  *many;
        uint32_t   data, arr, key;

        many = calloc(2000, sizeof(uint32_t));
        key = bp_ascii(bp, "a");
        data = bp_begin(bp);
        bp->buf[bp->len++] = 0x4F;
        bp->buf[bp->len++] = 0x11;
        bp->buf[bp->len++] = 0x10;
        bp->buf[bp->len++] = 0x00;
        memset(bp->buf + bp->len, 'z', 4096);
        bp->len += 4096;
        for (i = 0; i < 2000; i++) {
            many[i] = data;
        }
        arr = bp_coll(bp, 0xA0, many, 2000);
        refs[0] = key;
        refs[1] = arr;
        top = bp_coll(bp, 0xD0, refs, 2);
        len = bp_finish(bp, top);
        refused((char *) bp->buf, len, "expands to too many bytes",
                "one data object referenced 2,000 times");
        free(many);
        memset(bp, 0, sizeof(bplist_t));
    }

    /* {a: x, b: y} parses; keys and values are shared objects */
    refs[0] = bp_ascii(bp, "a");
    refs[1] = bp_ascii(bp, "b");
    refs[2] = bp_ascii(bp, "x");
    refs[3] = refs[2];
    top = bp_coll(bp, 0xD0, refs, 4);
    len = bp_finish(bp, top);
    ok(parse((char *) bp->buf, len, &dict, &err) == MDM_OK,
       "binary dict with shared objects parses");
    plist_free(dict);

    memset(bp, 0, sizeof(bplist_t));
    refs[0] = bp_ascii(bp, "a");
    refs[1] = refs[0];
    refs[2] = bp_ascii(bp, "x");
    refs[3] = bp_ascii(bp, "y");
    top = bp_coll(bp, 0xD0, refs, 4);
    len = bp_finish(bp, top);
    refused((char *) bp->buf, len, "duplicated key \"a\"",
            "binary dict with one key object used twice");

    memset(bp, 0, sizeof(bplist_t));
    refs[0] = bp_ascii(bp, "a");
    refs[1] = bp_ascii(bp, "a");
    refs[2] = bp_ascii(bp, "x");
    refs[3] = bp_ascii(bp, "y");
    top = bp_coll(bp, 0xD0, refs, 4);
    len = bp_finish(bp, top);
    refused((char *) bp->buf, len, "duplicated key \"a\"",
            "binary dict with two equal key objects");

    /* a dict holding itself */
    memset(bp, 0, sizeof(bplist_t));
    refs[0] = bp_ascii(bp, "a");
    refs[1] = refs[0] + 1;
    top = bp_coll(bp, 0xD0, refs, 2);
    len = bp_finish(bp, top);
    refused((char *) bp->buf, len, "nested deeper", "binary reference cycle");

    /* 3000 nested arrays: libplist alone recurses until the stack ends */
    memset(bp, 0, sizeof(bplist_t));
    refs[0] = bp_ascii(bp, "a");
    refs[1] = bp_ascii(bp, "x");

    for (i = 0; i < 3000; i++) {
        refs[1] = bp_coll(bp, 0xA0, &refs[1], 1);
    }

    top = bp_coll(bp, 0xD0, refs, 2);
    len = bp_finish(bp, top);
    refused((char *) bp->buf, len, "nested deeper", "3000 nested binary arrays");

    /* 30 levels of arrays holding the level below twice: 2^30 leaves */
    memset(bp, 0, sizeof(bplist_t));
    refs[0] = bp_ascii(bp, "a");
    refs[1] = bp_ascii(bp, "x");

    for (i = 0; i < 30; i++) {
        refs[2] = refs[1];
        refs[1] = bp_coll(bp, 0xA0, &refs[1], 2);
    }

    top = bp_coll(bp, 0xD0, refs, 2);
    len = bp_finish(bp, top);
    refused((char *) bp->buf, len, "too many objects",
            "binary plist that expands exponentially");

    /* a reference past the object table */
    memset(bp, 0, sizeof(bplist_t));
    refs[0] = bp_ascii(bp, "a");
    refs[1] = 77;
    top = bp_coll(bp, 0xD0, refs, 2);
    len = bp_finish(bp, top);
    refused((char *) bp->buf, len, "malformed binary plist object",
            "binary reference out of range");

    /* a count larger than the bytes that follow */
    memset(bp, 0, sizeof(bplist_t));
    refs[0] = bp_ascii(bp, "a");
    top = bp_coll(bp, 0xA0, refs, 1);
    bp->buf[bp->len - 5] = 0xAE;
    len = bp_finish(bp, top);
    refused((char *) bp->buf, len, "malformed binary plist object",
            "binary array count beyond the body");

    /* libplist 2.2 aborts on a NUL in a key or string it hands out */
    memset(bp, 0, sizeof(bplist_t));
    refs[0] = bp_ascii(bp, "a?b");
    bp->buf[bp->offsets[refs[0]] + 2] = '\0';
    refs[1] = bp_ascii(bp, "x");
    top = bp_coll(bp, 0xD0, refs, 2);
    len = bp_finish(bp, top);
    refused((char *) bp->buf, len, "contains a NUL", "NUL inside a binary key");

    memset(bp, 0, sizeof(bplist_t));
    refs[0] = bp_ascii(bp, "a");
    refs[1] = bp_ascii(bp, "x?");
    bp->buf[bp->offsets[refs[1]] + 2] = '\0';
    top = bp_coll(bp, 0xD0, refs, 2);
    len = bp_finish(bp, top);
    refused((char *) bp->buf, len, "contains a NUL",
            "NUL inside a binary string");

    memset(bp, 0, sizeof(bplist_t));
    refs[0] = bp_ascii(bp, "a");
    refs[1] = bp_begin(bp);
    memcpy(bp->buf + bp->len, "\x62\x00\x61\x00\x00", 5);
    bp->len += 5;
    top = bp_coll(bp, 0xD0, refs, 2);
    len = bp_finish(bp, top);
    refused((char *) bp->buf, len, "contains a NUL",
            "NUL inside a binary UTF-16 string");

    memset(bp, 0, sizeof(bplist_t));
    refs[0] = bp_ascii(bp, "a");
    refs[1] = bp_ascii(bp, "xyz");
    bp->buf[bp->offsets[refs[1]]] = 0x5F;
    top = bp_coll(bp, 0xD0, refs, 2);
    len = bp_finish(bp, top);
    refused((char *) bp->buf, len, "malformed binary plist object",
            "binary string length beyond the body");

    free(bp);
}


static void
test_values(void)
{
    int           b;
    int64_t       i;
    plist_t       dict, sub;
    mdm_err_t     err;
    mdm_bytes_t   data;
    const char   *s, *str;

    s = PLIST(DATA("d", "\n\t  QUJD\n  REVG\n") DATA("e", "")
              STR("u", "J\xc3\xbcrgen \xe2\x98\x83")
              STR("ent", "&lt;a&gt; &amp; &quot;&apos; &#x2603;&#65;")
              INT("neg", "-909") INT("big", "9223372036854775807")
              TRUE("t") FALSE("f")
              "<key>dict</key><dict/><key>arr</key><array/>"
              "<!-- a comment with <key>x</key> in it -->"
              STR("cdata", "<![CDATA[<key>y</key>]]>"));

    if (parse(s, strlen(s), &dict, &err) != MDM_OK) {
        ok(0, "value plist parses: %s", err.msg);
        return;
    }

    ok(mdm_plist_get_data(dict, "d", &data, &err) == MDM_OK
       && data.len == 6 && memcmp(data.data, "ABCDEF", 6) == 0,
       "base64 data split by whitespace and newlines decodes");
    ok(mdm_plist_get_data(dict, "e", &data, &err) == MDM_OK
       && data.len == 0 && data.data != NULL,
       "empty data is present with length 0");
    ok(mdm_plist_get_string(dict, "u", &str, &err) == MDM_OK
       && strcmp(str, "J\xc3\xbcrgen \xe2\x98\x83") == 0,
       "UTF-8 string comes back byte for byte");
    is_str(mdm_plist_get_string(dict, "ent", &str, &err) == MDM_OK
           ? str : NULL, "<a> & \"' \xe2\x98\x83" "A",
           "predefined entities and character references decode");
    ok(mdm_plist_get_integer(dict, "neg", &i, &err) == MDM_OK && i == -909,
       "negative integer");
    ok(mdm_plist_get_integer(dict, "big", &i, &err) == MDM_OK
       && i == INT64_MAX, "largest integer");
    ok(mdm_plist_get_bool(dict, "t", &b, &err) == MDM_OK && b == 1, "true");
    ok(mdm_plist_get_bool(dict, "f", &b, &err) == MDM_OK && b == 0, "false");
    ok(mdm_plist_get_dict(dict, "dict", &sub, &err) == MDM_OK && sub != NULL,
       "dict value");
    ok(mdm_plist_get_array(dict, "arr", &sub, &err) == MDM_OK && sub != NULL,
       "array value");
    is_str(mdm_plist_get_string(dict, "cdata", &str, &err) == MDM_OK
           ? str : NULL, "<key>y</key>",
           "markup in CDATA and comments is not counted as keys");

    ok(mdm_plist_get_string(dict, "nope", &str, &err) == MDM_ABSENT,
       "absent key is MDM_ABSENT");
    ok(mdm_plist_get_string(dict, "d", &str, &err) == MDM_ERROR,
       "data read as a string is an error");
    is_str(err.msg, "key d must be a string", "error names the key and type");
    ok(mdm_plist_get_data(dict, "u", &data, &err) == MDM_ERROR, "string "
       "read as data is an error");
    is_str(err.msg, "key u must be data", "error names the key and type");
    ok(mdm_plist_get_bool(dict, "neg", &b, &err) == MDM_ERROR,
       "integer read as a boolean is an error");
    ok(mdm_plist_get_integer(dict, "t", &i, &err) == MDM_ERROR,
       "boolean read as an integer is an error");
    ok(mdm_plist_get_dict(dict, "arr", &sub, &err) == MDM_ERROR
       && sub == NULL, "array read as a dict is an error");
    ok(mdm_plist_get_array(dict, "dict", &sub, &err) == MDM_ERROR
       && sub == NULL, "dict read as an array is an error");

    plist_free(dict);
}


static void
test_fixtures_as_binary(void)
{
    char         *body, *bin, *xml_text, *bin_text;
    size_t        len, n;
    uint32_t      bin_len, text_len;
    plist_t       dict, xml;
    mdm_err_t     err;
    const char  **name;

    static const char  *names[] = {
        "devices/ios-authenticate.plist", "devices/ios-tokenupdate.plist",
        "devices/report-certificatelist-ack.plist",
        "devices/report-deviceinformation-ack.plist",
        "devices/report-error.plist",
        "devices/report-securityinfo-ack.plist", NULL
    };

    for (name = names; *name != NULL; name++) {
        body = fixture(*name, &len);

        if (body == NULL) {
            ok(0, "fixture %s is readable (set MDM_FIXTURES)", *name);
            continue;
        }

        ok(parse(body, len, &xml, &err) == MDM_OK, "fixture %s parses: %s",
           *name, err.msg);

        bin = NULL;
        plist_to_bin(xml, &bin, &bin_len);
        n = bin_len;
        ok(parse(bin, n, &dict, &err) == MDM_OK, "fixture %s parses as a "
           "binary plist: %s", *name, err.msg);

        xml_text = NULL;
        bin_text = NULL;
        plist_to_xml(xml, &xml_text, &text_len);
        plist_to_xml(dict, &bin_text, &text_len);
        is_str(bin_text, xml_text, "fixture %s reads the same from XML and "
               "binary", *name);

        free(xml_text);
        free(bin_text);
        plist_free(dict);
        plist_free(xml);
        free(bin);
        free(body);
    }
}


int
main(void)
{
    test_refusals();
    test_binary();
    test_values();
    test_fixtures_as_binary();

    return done_testing();
}
