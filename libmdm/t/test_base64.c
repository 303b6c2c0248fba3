#include <string.h>

#include "mdm_base64.h"
#include "tap.h"


/* Decodes s; the result as a NUL-terminated string, or NULL on -1. */
static const char *
dec(const char *s, int flags)
{
    long         n;
    static char  out[64];

    n = mdm_base64_decode(s, strlen(s), (unsigned char *) out, flags);
    if (n < 0) {
        return NULL;
    }

    out[n] = '\0';

    return out;
}


int
main(void)
{
    char  buf[32];
    long  n;

    /* RFC 4648 section 10 */
    is_str(dec("", 0), "", "empty");
    is_str(dec("Zg==", 0), "f", "f");
    is_str(dec("Zm8=", 0), "fo", "fo");
    is_str(dec("Zm9v", 0), "foo", "foo");
    is_str(dec("Zm9vYg==", 0), "foob", "foob");
    is_str(dec("Zm9vYmE=", 0), "fooba", "fooba");
    is_str(dec("Zm9vYmFy", 0), "foobar", "foobar");

    is_str(dec("Zm9vYg", 0), "foob", "padding may be left off");
    ok(dec("Zm9vYg=", 0) == NULL, "but must be complete when present");
    ok(dec("Zm9v=", 0) == NULL, "padding after a whole quantum is refused");
    ok(dec("Zg==Zg==", 0) == NULL, "data after padding is refused");
    ok(dec("Zm9vY", 0) == NULL, "6 leftover bits are refused");
    ok(dec("Zm9v!A==", 0) == NULL, "a byte outside the alphabet is refused");
    ok(dec("Zm9v\nYmFy", 0) == NULL, "whitespace is refused by default");
    is_str(dec("Zm9v\r\n YmFy\t", MDM_BASE64_SPACE), "foobar",
           "and skipped with MDM_BASE64_SPACE");
    is_str(dec("+/+/", 0), "\xfb\xff\xbf", "+ and / are the last two digits");

    strcpy(buf, "Zm9vYmFy");
    n = mdm_base64_decode(buf, 8, (unsigned char *) buf, 0);
    ok(n == 6 && memcmp(buf, "foobar", 6) == 0, "decodes in place");

    return done_testing();
}
