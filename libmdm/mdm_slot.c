#include <string.h>

#include "mdm_slot.h"


/* CRC16/XMODEM (poly 0x1021, init 0), the one Redis Cluster uses */
uint16_t
mdm_crc16(const void *p, size_t len)
{
    uint16_t        crc = 0;
    const uint8_t  *s = p;

    while (len--) {
        crc ^= (uint16_t) *s++ << 8;
        for (int i = 0; i < 8; i++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc;
}


unsigned
mdm_key_slot(const char *key, size_t len)
{
    const char  *open, *close;

    /* the first '{' and the first '}' after it, with something between */
    open = memchr(key, '{', len);
    if (open != NULL) {
        close = memchr(open + 1, '}', len - (open + 1 - key));
        if (close != NULL && close > open + 1) {
            return mdm_crc16(open + 1, close - open - 1) & (MDM_SLOTS - 1);
        }
    }

    return mdm_crc16(key, len) & (MDM_SLOTS - 1);
}
