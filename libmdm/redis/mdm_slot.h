#ifndef MDM_SLOT_H
#define MDM_SLOT_H

/*
 * Redis Cluster's hash slot of a key (Redis src/cluster.c keyHashSlot):
 * CRC16-XMODEM of the key, or of its hash tag, modulo 16384. The tag is the
 * part between the first '{' and the first '}' after it, when not empty.
 */

#include <stddef.h>
#include <stdint.h>

#define MDM_SLOTS 16384

/* CRC16 as Redis computes it (XMODEM: polynomial 0x1021, initial 0). */
uint16_t mdm_crc16(const char *buf, size_t len);

/* The slot of key: 0..16383. */
unsigned mdm_key_slot(const char *key, size_t len);

#endif
