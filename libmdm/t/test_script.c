#include <string.h>

#include "mdm_script.h"
#include "tap.h"


/*
 * Known answers: a digest compared with itself proves nothing, so these
 * come from elsewhere (FIPS 180-2 appendix A for "abc", sha1sum for the
 * others). The script text is what EVALSHA would be sent for: Redis's
 * SCRIPT LOAD answers the same hex for it.
 */
static void
test_sha1_vectors(void)
{
    char  sha[MDM_SHA1_HEX_LEN + 1];
    size_t i;

    static const struct {
        const char  *src;
        const char  *hex;
    } v[] = {
        { "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
        { "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
        { "return redis.call(\"PING\")",
          "dc9acaa27306c368e1f1eb390e9b0dc9ec7314ee" },
    };

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        mdm_script_t  s = { "kat", v[i].src, strlen(v[i].src) };

        mdm_script_sha1_hex(&s, sha);
        is_str(sha, v[i].hex, "SHA-1 of \"%s\"", v[i].src);
    }
}


int
main(void)
{
    const mdm_script_t *s;
    char                sha[MDM_SHA1_HEX_LEN + 1];

    ok(mdm_scripts[0].name != NULL, "at least one script is embedded");

    for (s = mdm_scripts; s->name != NULL; s++) {
        ok(s->len == strlen(s->src), "script %s embedded whole", s->name);
        ok(mdm_script_find(s->name) == s, "script %s found by name", s->name);
    }

    ok(mdm_script_find("no-such-script") == NULL, "unknown script not found");

    s = mdm_scripts;
    mdm_script_sha1_hex(s, sha);
    is_int(strlen(sha), 40, "SHA-1 hex is 40 digits");
    ok(strspn(sha, "0123456789abcdef") == 40, "SHA-1 hex is lowercase hex");

    test_sha1_vectors();

    return done_testing();
}
