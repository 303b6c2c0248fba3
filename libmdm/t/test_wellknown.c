/*
 * Account-driven enrollment discovery (libmdm/enroll/mdm_wellknown.c): the
 * domain of a user-identifier, model families, rule order, and the two
 * documents as Apple names their keys (services.md §4.1, §4.2).
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "enroll/mdm_wellknown.h"
#include "tap.h"


static int
domain(const char *user, char *out)
{
    return mdm_wellknown_domain(user, strlen(user), out, 256);
}


static void
test_domain(void)
{
    char  d[256];

    is_int(domain("alice@Example.COM", d), 0, "an address");
    is_str(d, "example.com", "its domain, lowercased");
    is_int(domain("a@b@corp.example", d), 0, "the last @ splits");
    is_str(d, "corp.example", "... the domain after it");
    is_int(domain("alice", d), -1, "no @: refused");
    is_int(domain("@example.com", d), -1, "no local part: refused");
    is_int(domain("alice@", d), -1, "no domain: refused");
    is_int(domain("al ice@example.com", d), -1, "a space: refused");
    is_int(domain("alice@exa_mple.com", d), -1, "an underscore in the domain: refused");
    is_int(domain("alice@.example.com", d), -1, "a leading dot: refused");
    is_int(domain("alice@example..com", d), -1, "two dots: refused");
    is_int(domain("alice@{x}.com", d), -1, "braces: refused");
    is_int(mdm_wellknown_domain("", 0, d, 256), -1, "empty: refused");

    {
        char  big[400];

        memset(big, 'a', sizeof(big));
        big[10] = '@';
        is_int(mdm_wellknown_domain(big, sizeof(big), d, 256), -1,
               "longer than 320 bytes: refused");
    }
}


static void
test_match(void)
{
    unsigned                     phone, mac, watch;
    const mdm_wellknown_rule_t  *m;
    mdm_wellknown_rule_t         rules[3];

    phone = mdm_wellknown_family("iPhone", 6);
    mac = mdm_wellknown_family("Mac", 3);
    watch = mdm_wellknown_family("Watch", 5);
    ok(phone && mac && watch && phone != mac, "model families have bits");
    is_int(mdm_wellknown_family("iphone", 6), 0, "names are case-sensitive");
    is_int(mdm_wellknown_family("Toaster", 7), 0, "unknown family: 0");

    rules[0] = (mdm_wellknown_rule_t) { "example.com", "mdm-adde",
        "https://mdm.example.com/adde", mac };
    rules[1] = (mdm_wellknown_rule_t) { "example.com", "mdm-byod",
        "https://mdm.example.com/byod", 0 };
    rules[2] = (mdm_wellknown_rule_t) { "*", "mdm-byod",
        "https://mdm.example.com/other", phone };

    m = mdm_wellknown_match(rules, 3, "example.com", mac);
    ok(m == &rules[0], "a Mac of example.com: the ADDE rule");
    m = mdm_wellknown_match(rules, 3, "example.com", phone);
    ok(m == &rules[1], "an iPhone of example.com: the BYOD rule (any family)");
    m = mdm_wellknown_match(rules, 3, "example.com", 0);
    ok(m == &rules[1], "no family: only a rule for any family");
    m = mdm_wellknown_match(rules, 3, "other.org", phone);
    ok(m == &rules[2], "another domain's iPhone: the * rule");
    m = mdm_wellknown_match(rules, 3, "other.org", watch);
    ok(m == NULL, "another domain's Watch: none");
}


static void
test_json(void)
{
    char                  *s;
    json_t                *o, *srv;
    mdm_wellknown_rule_t   rule = { "example.com", "mdm-byod",
                                    "https://mdm.example.com/byod", 0 };

    s = mdm_wellknown_servers_json(&rule);
    o = json_loads(s, 0, NULL);
    srv = json_array_get(json_object_get(o, "Servers"), 0);
    is_int(json_array_size(json_object_get(o, "Servers")), 1,
           "Servers has one entry");
    is_str(json_string_value(json_object_get(srv, "Version")), "mdm-byod",
           "Version");
    is_str(json_string_value(json_object_get(srv, "BaseURL")),
           "https://mdm.example.com/byod", "BaseURL");
    json_decref(o);
    free(s);

    s = mdm_wellknown_failed_json("no server", "Ask IT");
    o = json_loads(s, 0, NULL);
    is_str(json_string_value(json_object_get(o, "code")),
           "com.apple.well-known.failed", "ErrorWellKnownFailed code");
    is_str(json_string_value(json_object_get(o, "description")), "no server",
           "description");
    is_str(json_string_value(json_object_get(o, "message")), "Ask IT",
           "message");
    json_decref(o);
    free(s);

    s = mdm_wellknown_failed_json(NULL, NULL);
    o = json_loads(s, 0, NULL);
    ok(json_object_size(o) == 1, "without description and message: code alone");
    json_decref(o);
    free(s);
}


int
main(void)
{
    test_domain();
    test_match();
    test_json();

    return done_testing();
}
