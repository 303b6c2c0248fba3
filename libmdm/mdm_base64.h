#ifndef MDM_BASE64_H
#define MDM_BASE64_H

/*
 * The one base64 decoder of libmdm (device signatures, certificate headers,
 * data values of JSON commands). Encoding is OpenSSL's EVP_EncodeBlock.
 */

#include <stddef.h>

/* flags: skip whitespace (PEM lines, pasted profiles) */
#define MDM_BASE64_SPACE  0x01

/* Decodes len bytes of in into out, which holds at least len / 4 * 3 + 3
 * bytes; writes never overtake reads, so in == out works. The length, or
 * -1 on anything but base64. */
long mdm_base64_decode(const char *in, size_t len, unsigned char *out,
    int flags);

#endif
