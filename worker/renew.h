#ifndef WK_RENEW_H
#define WK_RENEW_H

/*
 * Identity renewal (docs/ade.md): every renew_interval_ms, the certificates
 * our CA issued (mdm:ca:index, sha256 -> not_after) that expire within
 * renew_window and are still bound to an enrollment get a fresh enrollment
 * profile (same PayloadIdentifier, a new one-time challenge whose record
 * carries renew = the enrollment ID) queued as InstallProfile with a push,
 * through enqueue.lua. Once per certificate (field renew_queued of its
 * issuance record, set with HSETNX before anything is queued), at most
 * renew_batch certificates per tick, paging through the window by offset.
 */

#include <ev.h>

#include "config.h"
#include "redis.h"

typedef struct wk_renew_s wk_renew_t;

/* NULL with a logged reason if the renewal settings are unusable; a
 * renewer that does nothing when renew_interval_ms is 0. */
wk_renew_t *wk_renew_new(struct ev_loop *loop, const wk_config_t *cf,
                         wk_redis_t *redis, int *failed);

void wk_renew_on_redis_ready(wk_renew_t *rn);
void wk_renew_stop(wk_renew_t *rn);
void wk_renew_free(wk_renew_t *rn);

#endif
