#ifndef WK_WEBHOOK_H
#define WK_WEBHOOK_H

/*
 * Webhook delivery (docs/webhooks.md): every configured webhook reads
 * mdm:events (and its own retry stream mdm:webhook:retry:<name>) in its own
 * consumer group webhook:<name> (stream.h), POSTs each wanted event as
 * NanoMDM-style JSON, retries with backoff for webhook_retry_for seconds,
 * then moves the event to mdm:webhook:dead:<name>. An entry is acked only
 * once delivered, skipped or dead-lettered; events of one enrollment go out
 * in order.
 */

#include <ev.h>

#include "config.h"
#include "redis.h"
#include "stream.h"

typedef struct wk_webhooks_s wk_webhooks_t;

/* Parses the `webhook` lines and starts a Redis reader per webhook; NULL
 * when a line is invalid (logged). With no webhooks it does nothing. */
wk_webhooks_t *wk_webhooks_new(struct ev_loop *loop, const wk_config_t *cf,
                               wk_redis_t *cmd);

/* SIGTERM: stop reading, finish the POSTs on the wire, leave events that
 * wait for a retry pending for another worker; drained() runs once done. */
void wk_webhooks_drain(wk_webhooks_t *wh, void (*drained)(void *),
                       void *data);

/* Before sleep: every webhook's acks of this loop turn. */
void wk_webhooks_flush(wk_webhooks_t *wh);

/* Before sleep, after every flush: each webhook's next read. */
void wk_webhooks_read(wk_webhooks_t *wh);

/* On a clean exit: leaves every webhook's group (stream.h). */
void wk_webhooks_leave(wk_webhooks_t *wh, wk_stream_leave_t *lv);

/* Logs the totals and frees everything (events held stay pending). */
void wk_webhooks_free(wk_webhooks_t *wh);

#endif
