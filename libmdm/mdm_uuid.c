#include <openssl/rand.h>

#include "mdm_uuid.h"


int
mdm_uuid_generate(char *out)
{
    size_t                i;
    unsigned char         b[16];
    static const char     hex[] = "0123456789ABCDEF";

    if (RAND_bytes(b, sizeof(b)) != 1) {
        return -1;
    }

    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;

    for (i = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *out++ = '-';
        }

        *out++ = hex[b[i] >> 4];
        *out++ = hex[b[i] & 0x0f];
    }

    *out = '\0';

    return 0;
}
