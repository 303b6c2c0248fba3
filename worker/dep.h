#ifndef WK_DEP_H
#define WK_DEP_H

/*
 * Device Assignment sync (docs/dep.md): for every `dep_token` of the
 * configuration, the devices Apple Business/School Manager assigned to this
 * MDM server: first a fetch of all of them (POST /server/devices, paged),
 * then a sync of the changes every dep_interval_ms (POST /devices/sync).
 * Each page is stored with the cursor after it in one script call
 * (dep_page.lua), so that a worker killed mid-sync is resumed by the next
 * from the stored cursor; a lease (dep_lease.lua) lets one worker at a time
 * sync a token. After each page, each serial's DEP link
 * (mdm:dep:serial:{<serial>}) is written in its own one-slot step, and a
 * dep.FetchDevices / dep.SyncDevices event is added to mdm:events.
 */

#include <ev.h>

#include "config.h"
#include "redis.h"

typedef struct wk_deps_s wk_deps_t;

/* NULL with *failed = 1 if the settings are unusable (no dep_seal_key
 * with tokens configured); a token whose files are bad is logged and left
 * out, the others run. Nothing runs without dep_token lines. */
wk_deps_t *wk_deps_new(struct ev_loop *loop, const wk_config_t *cf,
                       wk_redis_t *redis, int *failed);

void wk_deps_on_redis_ready(wk_deps_t *d);

/* Stops syncing and gives the leases back (SIGTERM). */
void wk_deps_stop(wk_deps_t *d);

/* After Redis is closed. */
void wk_deps_free(wk_deps_t *d);

#endif
