/*
 * Standard base64 (RFC 4648 section 4), decoded strictly: padding may be
 * left off but must be right when present, nothing may follow it, and 6
 * leftover bits are refused. A table and a fast path for whole quanta,
 * because Mdm-Signature headers are decoded on every device request.
 */

#include <stdint.h>

#include "mdm_base64.h"


long
mdm_base64_decode(const char *in, size_t len, unsigned char *out, int flags)
{
    int                   v;
    size_t                i, n, pad;
    uint32_t              acc;
    unsigned              bits;
    const unsigned char  *p;

    static const unsigned char  sextet[256] = {
        64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
        64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
        64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 64, 64, 63,
        52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64,
        64,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
        15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 64,
        64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64,
        64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
        64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
        64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
        64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
        64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
        64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
        64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
        64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64
    };

    p = (const unsigned char *) in;
    n = 0;

    /* Whole quanta first, the bulk of a header, without per-bit state;
     * padding, whitespace and bad bytes drop to the careful loop. */
    for (i = 0; i + 4 <= len; i += 4) {
        if ((sextet[p[i]] | sextet[p[i + 1]] | sextet[p[i + 2]]
             | sextet[p[i + 3]]) & 64)
        {
            break;
        }

        acc = (uint32_t) sextet[p[i]] << 18 | (uint32_t) sextet[p[i + 1]] << 12
              | (uint32_t) sextet[p[i + 2]] << 6 | sextet[p[i + 3]];

        out[n] = (unsigned char) (acc >> 16);
        out[n + 1] = (unsigned char) (acc >> 8);
        out[n + 2] = (unsigned char) acc;
        n += 3;
    }

    acc = 0;
    bits = 0;
    pad = 0;

    for ( /* void */ ; i < len; i++) {
        v = p[i];

        if ((flags & MDM_BASE64_SPACE)
            && (v == '\n' || v == '\r' || v == ' ' || v == '\t'))
        {
            continue;
        }

        if (v == '=') {
            pad++;
            continue;
        }

        v = sextet[v];

        /* Data after padding, or a byte outside the alphabet. */
        if (v == 64 || pad > 0) {
            return -1;
        }

        acc = (acc << 6) | v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (acc >> bits);
        }
    }

    /* 6 leftover bits cannot end a byte string; padding must complete a
     * quantum exactly. */
    if (bits == 6 || (pad > 0 && pad != bits / 2)) {
        return -1;
    }

    return n;
}
