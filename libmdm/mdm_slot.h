#ifndef MDM_SLOT_H
#define MDM_SLOT_H

/*
 * Redis Cluster's key slots (the cluster specification: CRC16/XMODEM of the
 * hash tag, or of the whole key without one, mod 16384), so that libmdm can
 * say which slot a key lives in and the tests can check that a script call
 * stays in one.
 */

#include <stddef.h>
#include <stdint.h>

#define MDM_SLOTS  16384

uint16_t mdm_crc16(const void *p, size_t len);

/* The slot of a key, as Redis's keyHashSlot() computes it */
unsigned mdm_key_slot(const char *key, size_t len);

#endif
