#include <stddef.h>

#include "mdm_utf8.h"


/* Length of the well-formed sequence at p (RFC 3629), or 0. */
static size_t
mdm_utf8_sequence(const unsigned char *p)
{
    unsigned char  lo, hi;
    size_t         need, i;

    lo = 0x80;
    hi = 0xbf;

    if (*p < 0x80) {
        return 1;

    } else if (*p >= 0xc2 && *p <= 0xdf) {
        need = 1;

    } else if (*p >= 0xe0 && *p <= 0xef) {
        need = 2;
        lo = (*p == 0xe0) ? 0xa0 : 0x80;    /* no overlong forms */
        hi = (*p == 0xed) ? 0x9f : 0xbf;    /* no surrogates */

    } else if (*p >= 0xf0 && *p <= 0xf4) {
        need = 3;
        lo = (*p == 0xf0) ? 0x90 : 0x80;
        hi = (*p == 0xf4) ? 0x8f : 0xbf;    /* nothing above U+10FFFF */

    } else {
        return 0;
    }

    for (i = 1; i <= need; i++) {
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf)) {
            return 0;
        }
    }

    return need + 1;
}


int
mdm_utf8_valid(const char *s)
{
    const unsigned char  *p = (const unsigned char *) s;
    size_t                n;

    while (*p != '\0') {
        n = mdm_utf8_sequence(p);
        if (n == 0) {
            return 0;
        }
        p += n;
    }

    return 1;
}


void
mdm_utf8_sanitize(char *s)
{
    unsigned char  *p = (unsigned char *) s;
    size_t          n;

    while (*p != '\0') {
        n = mdm_utf8_sequence(p);
        if (n == 0) {
            *p++ = '?';
        } else {
            p += n;
        }
    }
}
