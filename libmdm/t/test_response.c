#include <stdlib.h>
#include <string.h>

#include <plist/plist.h>

#include "mdm_response.h"
#include "arena.h"
#include "tap.h"


static test_arena_t  arena;


static plist_t
parse(mdm_buf_t *b)
{
    plist_t  p = NULL;

    plist_from_xml(b->data, b->len, &p);
    mdm_buf_free(b);

    return p;
}


int
main(void)
{
    mdm_buf_t    b;
    plist_t      p, v;
    mdm_alloc_t  a = { test_arena_alloc, &arena };
    char        *s = NULL;
    uint64_t     n = 0;
    uint8_t      flag = 1;

    ok(mdm_response_bootstrap_token((const unsigned char *) "tok", 3, NULL,
                                    &b) == 0,
       "bootstrap token response builds");
    p = parse(&b);
    v = plist_dict_get_item(p, "BootstrapToken");
    ok(v != NULL && plist_get_node_type(v) == PLIST_DATA,
       "BootstrapToken is data");
    plist_get_data_val(v, &s, &n);
    ok(n == 3 && memcmp(s, "tok", 3) == 0, "BootstrapToken bytes kept");
    free(s);
    plist_free(p);

    ok(mdm_response_digest_challenge("", NULL, &b) == 0,
       "digest challenge builds");
    p = parse(&b);
    v = plist_dict_get_item(p, "DigestChallenge");
    ok(v != NULL && plist_get_node_type(v) == PLIST_STRING,
       "DigestChallenge is a string");
    plist_free(p);

    ok(mdm_response_return_to_service(0, NULL, &b) == 0, "RTS response builds");
    p = parse(&b);
    v = plist_dict_get_item(plist_dict_get_item(p, "ReturnToService"),
                            "Enabled");
    ok(v != NULL && plist_get_node_type(v) == PLIST_BOOLEAN,
       "ReturnToService.Enabled is a boolean");
    plist_get_bool_val(v, &flag);
    is_int(flag, 0, "Enabled is false");
    plist_free(p);

    ok(mdm_response_return_to_service(1, &a, &b) == 0
       && test_arena_has(&arena, b.data) && b.data[b.len] == '\0',
       "a response is written into the caller's allocator");
    p = NULL;
    plist_from_xml(b.data, b.len, &p);
    ok(p != NULL, "... and parses");
    v = plist_dict_get_item(plist_dict_get_item(p, "ReturnToService"),
                            "Enabled");
    plist_get_bool_val(v, &flag);
    is_int(flag, 1, "... Enabled true");
    plist_free(p);

    return done_testing();
}
