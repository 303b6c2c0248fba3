#include <string.h>

#include "mdm_shard.h"
#include "mdm_slot.h"


unsigned
mdm_shard_of(const char *id, size_t len, unsigned shards)
{
    const char  *colon = memchr(id, ':', len);

    if (colon != NULL) {
        len = (size_t) (colon - id);
    }

    return mdm_crc16(id, len) % shards;
}
