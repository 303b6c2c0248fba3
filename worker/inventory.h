#ifndef WK_INVENTORY_H
#define WK_INVENTORY_H

/*
 * Command results into state (inventory.c, docs/profiles.md): the consumer
 * group "inventory" on mdm:events stores the outcome of InstallProfile and
 * RemoveProfile, and the inventory of DeviceInformation, SecurityInfo,
 * InstalledApplicationList and ProfileList results, per enrollment; a
 * ProfileList lacking an installed profile of the desired state queues it
 * again.
 */

#include <ev.h>

#include "config.h"
#include "redis.h"
#include "stream.h"

typedef struct wk_inventory_s wk_inventory_t;

/* Its own reader (a blocked read must not delay other links); NULL on
 * failure (logged). */
wk_inventory_t *wk_inventory_new(struct ev_loop *loop, const wk_config_t *cf,
    wk_redis_t *cmd);

/* Once the key layout is checked (main.c's on_schema): reads begin. */
void wk_inventory_start(wk_inventory_t *inv);

/* Before sleep: the acks of this loop turn, then the next read. */
void wk_inventory_flush(wk_inventory_t *inv);
void wk_inventory_read(wk_inventory_t *inv);

/* SIGTERM: no more reads; drained() once every report held is done. */
void wk_inventory_drain(wk_inventory_t *inv, void (*drained)(void *),
    void *data);

/* On a clean exit: leaves the group (stream.h). */
void wk_inventory_leave(wk_inventory_t *inv, wk_stream_leave_t *lv);

void wk_inventory_free(wk_inventory_t *inv);

#endif
