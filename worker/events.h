#ifndef WK_EVENTS_H
#define WK_EVENTS_H

/*
 * Events mdm-worker itself adds to `mdm:events` (docs/redis-schema.md), in
 * the msgpack shape of libmdm/mdm_event.h, for webhooks and other readers.
 */

#include "config.h"
#include "redis.h"

/*
 * mdm.PushFailed: a push reached a final failure. `status` is the HTTP
 * status (0: none, e.g. attempts spent on lost connections), `reason` the
 * APNs reason or the worker's own; it goes in `params` as reason=<reason>.
 */
void wk_event_push_failed(wk_redis_t *redis, const wk_config_t *cf,
                          const char *id, int status, const char *reason);

#endif
