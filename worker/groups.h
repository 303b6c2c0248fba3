#ifndef WK_GROUPS_H
#define WK_GROUPS_H

/*
 * Leaving the consumer groups on a clean exit (libmdm/lua/leave_groups.lua):
 * the worker's consumer is deleted from `pushers` and from every webhook's
 * group where it holds no pending entry, so that consumers named
 * <host>-<pid> do not pile up run after run.
 */

#include "config.h"
#include "redis.h"
#include "webhook.h"

/* Leaves the groups; done(data) runs once Redis answered (or cannot). */
void wk_groups_leave(wk_redis_t *cmd, const wk_config_t *cf,
                     const wk_webhooks_t *wh, void (*done)(void *),
                     void *data);

#endif
