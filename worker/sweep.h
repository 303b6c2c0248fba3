#ifndef WK_SWEEP_H
#define WK_SWEEP_H

/*
 * The command lifecycle's timers (docs/worker.md): every sweep_interval_ms,
 * one Lua call expires commands past their TTL (libmdm/lua/expire.lua) and
 * one queues re-pushes for silent devices and after NotNow
 * (libmdm/lua/sweep_pending.lua). Each call is atomic and bounded, so any
 * number of workers may sweep at once.
 */

#include <ev.h>

#include "config.h"
#include "redis.h"

typedef struct wk_sweep_s wk_sweep_t;

wk_sweep_t *wk_sweep_new(struct ev_loop *loop, const wk_config_t *cf,
                         wk_redis_t *redis);

/* Call after every (re)connect of `redis`: loads the scripts. */
void wk_sweep_on_redis_ready(wk_sweep_t *s);

/* SIGTERM: no new sweeps (a call in flight is atomic either way). */
void wk_sweep_stop(wk_sweep_t *s);

void wk_sweep_free(wk_sweep_t *s);

#endif
