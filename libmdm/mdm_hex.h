#ifndef MDM_HEX_H
#define MDM_HEX_H

#include <stddef.h>

/* Writes 2*len lowercase hex digits and a NUL to out. */
void mdm_hex_encode(const unsigned char *in, size_t len, char *out);

#endif
