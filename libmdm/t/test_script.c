#include <string.h>

#include "mdm_script.h"
#include "tap.h"


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

    return done_testing();
}
