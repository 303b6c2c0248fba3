#include <stdlib.h>

#include "log.h"
#include "mdm_keys.h"
#include "metrics.h"

/* Field names as the module exports them: metric name, then labels. */
static const char *const names[WK_M_COUNT] = {
    [WK_M_PUSH_200]         = "pushes_total{result=\"200\"}",
    [WK_M_PUSH_400]         = "pushes_total{result=\"400\"}",
    [WK_M_PUSH_403]         = "pushes_total{result=\"403\"}",
    [WK_M_PUSH_410]         = "pushes_total{result=\"410\"}",
    [WK_M_PUSH_429]         = "pushes_total{result=\"429\"}",
    [WK_M_PUSH_5XX]         = "pushes_total{result=\"5xx\"}",
    [WK_M_PUSH_OTHER]       = "pushes_total{result=\"other\"}",
    [WK_M_PUSH_TRANSPORT]   = "pushes_total{result=\"transport\"}",
    [WK_M_PUSH_RETRIES]     = "push_retries_total",
    [WK_M_PUSH_FAILED]      = "push_failures_total",
    [WK_M_PUSH_COALESCED]   = "pushes_coalesced_total",
    [WK_M_COMMANDS_EXPIRED] = "commands_expired_total",
    [WK_M_REPUSH_SILENT]    = "repushes_total{reason=\"silent\"}",
    [WK_M_REPUSH_NOTNOW]    = "repushes_total{reason=\"notnow\"}",
    [WK_M_WEBHOOK_DELIVERED] = "webhook_deliveries_total",
    [WK_M_WEBHOOK_RETRIED]  = "webhook_retries_total",
    [WK_M_WEBHOOK_DEAD]     = "webhook_dead_letters_total",
    [WK_M_WEBHOOK_SKIPPED]  = "webhook_skipped_total",
    [WK_M_VPP_REQUESTS]     = "vpp_requests_total",
    [WK_M_VPP_ERRORS]       = "vpp_errors_total",
    [WK_M_VPP_BACKOFFS]     = "vpp_backoffs_total",
    [WK_M_VPP_EVENTS_DONE]  = "vpp_events_completed_total",
    [WK_M_VPP_LICENSES_FAILED] = "vpp_licenses_failed_total",
    [WK_M_VPP_INSTALLS_QUEUED] = "vpp_installs_queued_total",
    [WK_M_DEP_CALLS]        = "dep_calls_total",
    [WK_M_DEP_SESSIONS]     = "dep_sessions_total",
    [WK_M_DEP_PAGES]        = "dep_pages_total",
    [WK_M_DEP_DEVICES]      = "dep_devices_synced_total",
    [WK_M_DEP_RETRIES]      = "dep_retries_total",
    [WK_M_DEP_CURSOR_RESETS] = "dep_cursor_resets_total",
    [WK_M_DEP_STOPPED]      = "dep_stopped_total",
};

typedef struct {
    wk_metric_t    m;
    unsigned long  n;
} wk_metric_flush_t;

/* Counts not yet added to Redis, including those of a flush in flight. */
static unsigned long  unflushed[WK_M_COUNT];
static struct ev_loop *metrics_loop;
static wk_redis_t     *metrics_redis;
static ev_timer        metrics_timer;


void
wk_metric_add(wk_metric_t m, unsigned long n)
{
    unflushed[m] += n;
}


void
wk_metric_push_status(int status)
{
    wk_metric_t m;

    switch (status) {
    case 0:   m = WK_M_PUSH_TRANSPORT; break;
    case 200: m = WK_M_PUSH_200; break;
    case 400: m = WK_M_PUSH_400; break;
    case 403: m = WK_M_PUSH_403; break;
    case 410: m = WK_M_PUSH_410; break;
    case 429: m = WK_M_PUSH_429; break;
    default:
        m = status >= 500 && status <= 599 ? WK_M_PUSH_5XX : WK_M_PUSH_OTHER;
    }
    unflushed[m]++;
}


static void
on_flushed(wk_redis_t *link, redisReply *r, void *data)
{
    wk_metric_flush_t *f = data;
    (void) link;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        /* Counted again at the next flush: a blip loses nothing. */
        unflushed[f->m] += f->n;
        if (r) {
            wk_redis_error("HINCRBY %s: %s", MDM_KEY_WORKER_METRICS, r->str);
        }
    }
    free(f);
}


static void
metrics_flush(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void) loop;
    (void) t;
    (void) revents;

    for (int m = 0; m < WK_M_COUNT; m++) {
        if (unflushed[m] == 0) {
            continue;
        }
        wk_metric_flush_t *f = malloc(sizeof(*f));
        if (f == NULL) {
            return;
        }
        f->m = (wk_metric_t) m;
        f->n = unflushed[m];
        /* hiredis writes the whole batch at once: one pipelined round trip */
        if (wk_redis_cmd(metrics_redis, on_flushed, f, "HINCRBY %s %s %lu",
                         MDM_KEY_WORKER_METRICS, names[m], f->n) != 0)
        {
            free(f);
            return;                        /* Redis down: try next time */
        }
        unflushed[m] = 0;
    }
}


void
wk_metrics_start(struct ev_loop *loop, const wk_config_t *cf,
                 wk_redis_t *redis)
{
    double every = cf->metrics_interval_ms / 1000.0;

    metrics_loop = loop;
    metrics_redis = redis;
    ev_timer_init(&metrics_timer, metrics_flush, every, every);
    ev_timer_start(loop, &metrics_timer);
    ev_unref(loop);                  /* counting alone keeps no loop alive */
}


void
wk_metrics_stop(void)
{
    if (metrics_loop == NULL) {
        return;
    }
    ev_ref(metrics_loop);
    ev_timer_stop(metrics_loop, &metrics_timer);
    metrics_loop = NULL;
}
