#include <string.h>

#include "mdm_utf8.h"
#include "tap.h"


int
main(void)
{
    char  s[32];

    ok(mdm_utf8_valid("plain ASCII"), "ASCII is valid");
    ok(mdm_utf8_valid("Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x8d\x8e"),
       "two-, three- and four-byte sequences are valid");
    ok(!mdm_utf8_valid("\xff\xfe"), "0xFF is not UTF-8");
    ok(!mdm_utf8_valid("\xc0\xaf"), "an overlong form is refused");
    ok(!mdm_utf8_valid("\xed\xa0\x80"), "a surrogate is refused");
    ok(!mdm_utf8_valid("\xf4\x90\x80\x80"), "above U+10FFFF is refused");
    ok(!mdm_utf8_valid("ab\xe2\x82"), "a cut sequence is refused");

    strcpy(s, "a\xffz\xe2\x82");
    mdm_utf8_sanitize(s);
    is_str(s, "a?z??", "sanitize replaces every bad byte");

    strcpy(s, "\xe2\x82\xac");
    mdm_utf8_sanitize(s);
    is_str(s, "\xe2\x82\xac", "sanitize keeps good sequences");

    return done_testing();
}
