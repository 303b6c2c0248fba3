#ifndef WK_PUSH_H
#define WK_PUSH_H

/*
 * Push consumer: reads jobs from the stream `mdm:push` in consumer group
 * `pushers` (stream.h), looks up each enrollment, sends one APNs push per
 * enrollment (jobs for an enrollment whose push has not left yet are
 * coalesced into it) and acks the jobs only once the push has a final
 * outcome. Jobs left pending by a dead worker are claimed by the group.
 */

#include <ev.h>

#include "apns.h"
#include "config.h"
#include "redis.h"
#include "stream.h"

typedef struct wk_consumer_s wk_consumer_t;

/* Uses `reader` for the blocking XREADGROUP only, `cmd` for the rest. */
wk_consumer_t *wk_consumer_new(struct ev_loop *loop, const wk_config_t *cf,
                               wk_redis_t *reader, wk_redis_t *cmd);

/* Call from the Redis links' on_ready. */
void wk_consumer_on_redis_ready(wk_consumer_t *c);

/* The APNs client, for the before-sleep flush. */
wk_apns_t *wk_consumer_apns(wk_consumer_t *c);

/* Before sleep: turns held IDs into pushes, sends the turn's acks. */
void wk_consumer_flush(wk_consumer_t *c);

/* Before sleep, after every flush: the next read, if there is room. */
void wk_consumer_read(wk_consumer_t *c);

/* The `pushers` group, to leave it on exit. */
wk_stream_group_t *wk_consumer_group(wk_consumer_t *c);

/* SIGHUP: reload every push certificate. */
void wk_consumer_reload(wk_consumer_t *c);

/*
 * SIGTERM: stop taking jobs, finish pushes on the wire, leave jobs waiting
 * for a retry pending for another worker; drained() runs once done.
 */
void wk_consumer_drain(wk_consumer_t *c, void (*drained)(void *), void *data);

/* Logs the totals and frees everything. */
void wk_consumer_free(wk_consumer_t *c);

#endif
