#include "mdm_slot.h"


uint16_t
mdm_crc16(const char *buf, size_t len)
{
    uint16_t  crc = 0;

    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t) ((unsigned char) buf[i] << 8);
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc;
}


unsigned
mdm_key_slot(const char *key, size_t len)
{
    size_t  open, close;

    for (open = 0; open < len && key[open] != '{'; open++) { /* find */ }

    if (open < len) {
        for (close = open + 1; close < len && key[close] != '}'; close++) {
            /* find */
        }

        /* "{}" or no '}': the whole key is hashed, as Redis does */
        if (close < len && close > open + 1) {
            key += open + 1;
            len = close - open - 1;
        }
    }

    return mdm_crc16(key, len) & (MDM_SLOTS - 1);
}
