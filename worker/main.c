/*
 * mdm-worker: delivers the APNs pushes that the nginx module queues in Redis.
 *
 *   mdm-worker [-c FILE] [--key value ...]
 *
 * main() reads the configuration, then init → loop → shutdown. Signals only
 * set state that the loop acts on (ev_signal): SIGTERM/SIGINT drain and exit
 * 0, SIGHUP reloads the push certificates. Work that gathers during a loop
 * turn leaves in one place, before the loop sleeps (before_sleep).
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "config.h"
#include "dep.h"
#include "inventory.h"
#include "log.h"
#include "mdm_version.h"
#include "metrics.h"
#include "migrate.h"
#include "push.h"
#include "redis.h"
#include "schema.h"
#include "sweep.h"
#include "renew.h"
#include "vpp.h"
#include "stream.h"
#include "webhook.h"

typedef struct {
    struct ev_loop  *loop;
    wk_config_t      cf;
    wk_redis_t       reader;
    wk_redis_t       cmd;
    wk_consumer_t   *consumer;
    wk_sweep_t      *sweep;
    wk_renew_t      *renew;
    wk_vpp_t        *vpp;
    wk_deps_t       *deps;
    wk_webhooks_t   *webhooks;
    wk_inventory_t  *inventory;
    int              draining;        /* push consumer, webhooks, inventory
                                         left */
    wk_stream_leave_t leave;
    ev_prepare       before_sleep;
    ev_signal        sigterm, sigint, sighup;
    ev_timer         drain_deadline;
    int              stopping;
    int              schema;          /* 0 unknown, 1 checked, -1 refused */
    int              checking;
    int              exit_code;
} wk_worker_t;


static void
usage(void)
{
    fprintf(stderr,
            "usage: mdm-worker [-t|--check-config|--migrate] [-c FILE] "
            "[--KEY VALUE ...]\n"
            "  -t, --check-config: report every configuration problem, "
            "exit 1 if any\n"
            "  --migrate: bring Redis to this build's key layout, then exit "
            "(old processes stopped)\n"
            "  every key of the config file is also a flag, '_' written '-':\n"
            "  --redis 127.0.0.1:6379 --apns-url https://host:port "
            "--apns-ca FILE --name NAME --log-level debug\n");
}


static void on_redis_ready(wk_redis_t *link, void *data);


/* Nothing reads or writes the streams before the key layout is known. */
static void
on_schema(int ok, void *data)
{
    wk_worker_t *w = data;

    w->checking = 0;
    if (ok < 0) {
        return;                        /* the reconnect's on_ready retries */
    }
    if (ok == 0) {
        w->schema = -1;
        w->exit_code = 1;
        ev_break(w->loop, EVBREAK_ALL);
        return;
    }
    w->schema = 1;
    if (w->reader.connected) {
        on_redis_ready(&w->reader, w);
    }
    on_redis_ready(&w->cmd, w);
}


static void
on_redis_ready(wk_redis_t *link, void *data)
{
    wk_worker_t *w = data;

    if (w->schema != 1) {
        if (w->schema == 0 && !w->checking && w->cmd.connected) {
            w->checking = 1;
            wk_schema_check(&w->cmd, on_schema, w);
        }
        return;
    }
    if (w->consumer) {
        wk_consumer_on_redis_ready(w->consumer);
    }
    wk_inventory_start(w->inventory);
    if (w->sweep && link == &w->cmd) {
        wk_sweep_on_redis_ready(w->sweep);
    }
    if (w->renew && link == &w->cmd) {
        wk_renew_on_redis_ready(w->renew);
    }
    if (w->vpp && link == &w->cmd) {
        wk_vpp_on_redis_ready(w->vpp);
    }
    if (w->deps && link == &w->cmd) {
        wk_deps_on_redis_ready(w->deps);
    }
}


/*
 * Once per loop turn, before it blocks, in this order (Redis's beforeSleep):
 * the APNs frames of the turn leave in one TLS write per connection; the
 * pushes' and the webhooks' acks leave in one XACK per stream; then the
 * reads, which may block for push_block_ms, go out last so that they never
 * wait behind this turn's work.
 */
static void
before_sleep(struct ev_loop *loop, ev_prepare *p, int revents)
{
    wk_worker_t *w = p->data;
    (void) loop;
    (void) revents;

    wk_apns_flush(wk_consumer_apns(w->consumer));
    wk_consumer_flush(w->consumer);
    wk_webhooks_flush(w->webhooks);
    wk_inventory_flush(w->inventory);
    wk_consumer_read(w->consumer);
    wk_webhooks_read(w->webhooks);
    wk_inventory_read(w->inventory);
}


static void
on_groups_left(void *data)
{
    wk_worker_t *w = data;
    ev_break(w->loop, EVBREAK_ALL);
}


static void
on_drained(void *data)
{
    wk_worker_t *w = data;
    if (--w->draining > 0) {
        return;
    }
    wk_info("drained, exiting");
    /* Only a clean drain leaves the groups: after the deadline, jobs may
     * still be ours (the script keeps such groups anyway). */
    wk_stream_leave_begin(&w->leave, on_groups_left, w);
    wk_stream_leave(wk_consumer_group(w->consumer), &w->leave);
    wk_webhooks_leave(w->webhooks, &w->leave);
    wk_inventory_leave(w->inventory, &w->leave);
    wk_stream_leave_end(&w->leave);
}


static void
on_drain_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void) t;
    (void) revents;
    wk_warn("drain took too long, exiting with pushes in flight; "
            "their jobs stay pending for another worker");
    ev_break(loop, EVBREAK_ALL);
}


static void
on_sigterm(struct ev_loop *loop, ev_signal *s, int revents)
{
    wk_worker_t *w = s->data;
    (void) revents;

    if (w->stopping) {
        return;
    }
    w->stopping = 1;
    wk_info("signal %d: draining", s->signum);
    /* Pushes on the wire get one response timeout, then we go anyway. */
    long timeout_ms = w->cf.apns_timeout_ms > w->cf.webhook_timeout_ms
                      ? w->cf.apns_timeout_ms : w->cf.webhook_timeout_ms;
    ev_timer_init(&w->drain_deadline, on_drain_deadline,
                  timeout_ms / 1000.0 + 1.0, 0.);
    ev_timer_start(loop, &w->drain_deadline);
    wk_sweep_stop(w->sweep);
    wk_renew_stop(w->renew);
    wk_vpp_stop(w->vpp);
    wk_deps_stop(w->deps);
    w->draining = 3;
    wk_webhooks_drain(w->webhooks, on_drained, w);
    wk_inventory_drain(w->inventory, on_drained, w);
    wk_consumer_drain(w->consumer, on_drained, w);
}


static void
on_sighup(struct ev_loop *loop, ev_signal *s, int revents)
{
    wk_worker_t *w = s->data;
    (void) loop;
    (void) revents;
    wk_consumer_reload(w->consumer);
}


static int
worker_init(wk_worker_t *w)
{
    w->loop = EV_DEFAULT;
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned) time(NULL) ^ (unsigned) getpid());

    double timeout = w->cf.redis_timeout_ms / 1000.0;
    wk_redis_error_interval = w->cf.redis_error_log_interval_ms / 1000.0;
    if (wk_redis_init(&w->cmd, w->loop, w->cf.redis, "cmd", timeout,
                      on_redis_ready, w) != 0
        || wk_redis_init(&w->reader, w->loop, w->cf.redis, "reader", timeout,
                         on_redis_ready, w) != 0)
    {
        return -1;
    }
    w->consumer = wk_consumer_new(w->loop, &w->cf, &w->reader, &w->cmd);
    if (w->consumer == NULL) {
        return -1;
    }
    w->sweep = wk_sweep_new(w->loop, &w->cf, &w->cmd);
    if (w->sweep == NULL) {
        return -1;
    }
    int renew_failed;
    w->renew = wk_renew_new(w->loop, &w->cf, &w->cmd, &renew_failed);
    if (renew_failed) {
        return -1;
    }
    int vpp_failed;
    w->vpp = wk_vpp_new(w->loop, &w->cf, &w->cmd, &vpp_failed);
    if (vpp_failed) {
        return -1;
    }
    int dep_failed;
    w->deps = wk_deps_new(w->loop, &w->cf, &w->cmd, &dep_failed);
    if (dep_failed) {
        return -1;
    }
    wk_metrics_start(w->loop, &w->cf, &w->cmd);
    w->webhooks = wk_webhooks_new(w->loop, &w->cf, &w->cmd);
    if (w->webhooks == NULL) {
        return -1;
    }
    w->inventory = wk_inventory_new(w->loop, &w->cf, &w->cmd);
    if (w->inventory == NULL) {
        return -1;
    }

    ev_prepare_init(&w->before_sleep, before_sleep);
    w->before_sleep.data = w;
    ev_prepare_start(w->loop, &w->before_sleep);

    ev_signal_init(&w->sigterm, on_sigterm, SIGTERM);
    ev_signal_init(&w->sigint, on_sigterm, SIGINT);
    ev_signal_init(&w->sighup, on_sighup, SIGHUP);
    w->sigterm.data = w->sigint.data = w->sighup.data = w;
    ev_signal_start(w->loop, &w->sigterm);
    ev_signal_start(w->loop, &w->sigint);
    ev_signal_start(w->loop, &w->sighup);
    return 0;
}


static void
worker_shutdown(wk_worker_t *w)
{
    if (w->loop) {
        ev_prepare_stop(w->loop, &w->before_sleep);
    }
    /* Redis first: pending callbacks must find the consumer alive. */
    wk_redis_close(&w->reader);
    wk_redis_close(&w->cmd);
    if (w->consumer) {
        wk_consumer_free(w->consumer);
    }
    wk_sweep_free(w->sweep);
    wk_renew_free(w->renew);
    wk_vpp_free(w->vpp);
    wk_deps_free(w->deps);
    wk_webhooks_free(w->webhooks);
    wk_inventory_free(w->inventory);
    wk_metrics_stop();
}


int
main(int argc, char **argv)
{
    static wk_worker_t w;
    char err[512];

    if (argc > 1 && (strcmp(argv[1], "-h") == 0
                     || strcmp(argv[1], "--help") == 0))
    {
        usage();
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-t") == 0
            || strcmp(argv[i], "--check-config") == 0)
        {
            return wk_config_check(argc, argv) == 0 ? 0 : 1;
        }
    }
    /* --migrate is a mode, not a setting: the rest is the configuration */
    int migrate = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--migrate") == 0) {
            migrate = 1;
            memmove(&argv[i], &argv[i + 1], (argc - i) * sizeof(char *));
            argc--;
            i--;
        }
    }
    wk_config_defaults(&w.cf);
    if (wk_config_from_args(&w.cf, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "mdm-worker: %s\n", err);
        usage();
        return 2;
    }
    wk_log_level = (wk_log_level_t) wk_log_level_parse(w.cf.log_level);
    if (migrate) {
        return wk_migrate(&w.cf);
    }

    wk_info("mdm-worker %s starting: consumer %s, redis %s, apns %s",
            MDM_VERSION, w.cf.name, w.cf.redis, w.cf.apns_url);
    if (worker_init(&w) != 0) {
        wk_alert("initialisation failed");
        worker_shutdown(&w);
        return 1;
    }
    ev_run(w.loop, 0);
    worker_shutdown(&w);
    wk_info("stopped");
    return w.exit_code;
}
