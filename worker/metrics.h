#ifndef WK_METRICS_H
#define WK_METRICS_H

/*
 * mdm-worker's counters for Prometheus: counted in memory, added to the
 * Redis hash `mdm:metrics:worker` (HINCRBY, shared by all workers) every
 * metrics_interval_ms as one pipelined batch, and exported by the nginx
 * module as `mdm_worker_<field>` (docs/metrics.md).
 */

#include <ev.h>

#include "config.h"
#include "redis.h"

typedef enum {
    WK_M_PUSH_200 = 0,
    WK_M_PUSH_400,
    WK_M_PUSH_403,
    WK_M_PUSH_410,
    WK_M_PUSH_429,
    WK_M_PUSH_5XX,
    WK_M_PUSH_OTHER,
    WK_M_PUSH_TRANSPORT,
    WK_M_PUSH_RETRIES,
    WK_M_PUSH_FAILED,
    WK_M_PUSH_COALESCED,
    WK_M_COMMANDS_EXPIRED,
    WK_M_REPUSH_SILENT,
    WK_M_REPUSH_NOTNOW,
    WK_M_WEBHOOK_DELIVERED,
    WK_M_WEBHOOK_RETRIED,
    WK_M_WEBHOOK_DEAD,
    WK_M_WEBHOOK_SKIPPED,
    WK_M_VPP_REQUESTS,
    WK_M_VPP_ERRORS,
    WK_M_VPP_BACKOFFS,
    WK_M_VPP_EVENTS_DONE,
    WK_M_VPP_LICENSES_FAILED,
    WK_M_VPP_INSTALLS_QUEUED,
    WK_M_DEP_CALLS,
    WK_M_DEP_SESSIONS,
    WK_M_DEP_PAGES,
    WK_M_DEP_DEVICES,
    WK_M_DEP_RETRIES,
    WK_M_DEP_CURSOR_RESETS,
    WK_M_DEP_STOPPED,
    WK_M_COUNT
} wk_metric_t;

void wk_metric_add(wk_metric_t m, unsigned long n);

/* Counts one APNs answer by HTTP status; 0 = no answer (transport). */
void wk_metric_push_status(int status);

/* Starts the flush timer; flushes go through `redis`. */
void wk_metrics_start(struct ev_loop *loop, const wk_config_t *cf,
                      wk_redis_t *redis);

void wk_metrics_stop(void);

#endif
