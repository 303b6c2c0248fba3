#ifndef WK_VPP_H
#define WK_VPP_H

/*
 * The Apps and Books client (docs/vpp.md): every vpp_interval_ms, one
 * round over the locations of mdm:vpp:locations, one location at a time
 * and only under its lease (one worker per location): the token checked
 * with /client/config (and our notification URL set), the assets synced
 * page by page, the API's assign/unassign jobs turned into
 * /assets/associate|disassociate events, and the events polled on
 * /status (at once when a notification names them) until Apple completes
 * them; then InstallApplication is queued for the licensed enrollments
 * through enqueue.lua. Off when vpp_url is empty.
 */

#include <ev.h>

#include "config.h"
#include "redis.h"

typedef struct wk_vpp_s wk_vpp_t;

/* NULL when off or (with *failed set) when the settings are unusable. */
wk_vpp_t *wk_vpp_new(struct ev_loop *loop, const wk_config_t *cf,
                     wk_redis_t *redis, int *failed);

void wk_vpp_on_redis_ready(wk_vpp_t *v);
void wk_vpp_stop(wk_vpp_t *v);
void wk_vpp_free(wk_vpp_t *v);

#endif
