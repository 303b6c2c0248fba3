#ifndef MDM_SHARD_H
#define MDM_SHARD_H

/*
 * Device shards (docs/redis-schema.md, "Redis Cluster"): every key a device
 * request touches carries the hash tag {s<n>}, n the shard of the device
 * channel, so that one request is one slot on Redis Cluster and a user
 * channel lives beside its device. The shard count is fixed when a
 * deployment is bootstrapped and recorded in mdm:schema.
 */

#include <stddef.h>

#define MDM_SHARDS_DEFAULT  16
#define MDM_SHARDS_MAX      1024

/* The shard of an enrollment ID: CRC16 of its device channel (the part
 * before the first ':', which a device channel's ID never holds) mod
 * shards. shards is 1..MDM_SHARDS_MAX. */
unsigned mdm_shard_of(const char *id, size_t len, unsigned shards);

#endif
