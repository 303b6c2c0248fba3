#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"
#include "mdm_store.h"
#include "mdm_script.h"
#include "metrics.h"
#include "sweep.h"

typedef struct {
    const mdm_script_t  *script;
    char                 sha[MDM_SHA1_HEX_LEN + 1];
} wk_script_t;

struct wk_sweep_s {
    struct ev_loop     *loop;
    const wk_config_t  *cf;
    wk_redis_t         *redis;
    wk_script_t         expire, pending, qgc;
    int                 expiring;       /* an expire.lua call in flight */
    int                 collecting;     /* a queue_gc.lua call in flight */
    int                 repushing;      /* a sweep_pending.lua call in flight */
    int                 stopped;
    int                 ready;          /* scripts loaded once (on_ready) */
    long long           skipped;        /* items the scripts skipped ... */
    char                skip_error[160];/* ... and the first one's error */
    ev_timer            timer;
};

static void sweep_expire(wk_sweep_t *s);
static void sweep_queues(wk_sweep_t *s);


static int
script_init(wk_script_t *sc, const char *name)
{
    sc->script = mdm_script_find(name);
    if (sc->script == NULL) {
        wk_alert("Lua script %s.lua is not built in", name);
        return -1;
    }
    mdm_script_sha1_hex(sc->script, sc->sha);
    return 0;
}


static void
on_script_loaded(wk_redis_t *link, redisReply *r, void *data)
{
    wk_script_t *sc = data;
    (void) link;

    if (r && r->type == REDIS_REPLY_ERROR) {
        wk_redis_error("SCRIPT LOAD %s: %s", sc->script->name, r->str);
    } else if (r && (r->type != REDIS_REPLY_STRING
                     || strcmp(r->str, sc->sha) != 0))
    {
        wk_error("SCRIPT LOAD %s: unexpected SHA", sc->script->name);
    }
}


static void
script_load(wk_sweep_t *s, wk_script_t *sc)
{
    const char *argv[] = { "SCRIPT", "LOAD", sc->script->src };
    const size_t argvlen[] = { 6, 4, sc->script->len };

    wk_redis_cmdargv(s->redis, on_script_loaded, sc, 3, argv, argvlen);
}


/* An error reply; NOSCRIPT (a SCRIPT FLUSH) reloads for the next tick. */
static int
script_failed(wk_sweep_t *s, wk_script_t *sc, const redisReply *r)
{
    if (r == NULL) {
        return 1;                  /* connection lost: on_ready reloads */
    }
    if (r->type != REDIS_REPLY_ERROR) {
        return 0;
    }
    wk_redis_error("%s.lua: %s", sc->script->name, r->str);
    if (strncmp(r->str, "NOSCRIPT", 8) == 0) {
        script_load(s, sc);
    }
    return 1;
}


/*
 * Items the scripts skipped because Redis refused an operation on them
 * (WRONGTYPE…): gathered over a tick, logged once at its start.
 */
static void
note_skipped(wk_sweep_t *s, const redisReply *r, size_t i)
{
    long long n = wk_reply_int(r, i);

    if (n <= 0) {
        return;
    }
    if (s->skipped == 0 && i + 1 < r->elements
        && r->element[i + 1]->type == REDIS_REPLY_STRING)
    {
        snprintf(s->skip_error, sizeof(s->skip_error), "%s",
                 r->element[i + 1]->str);
    }
    s->skipped += n;
}


static void
log_skipped(wk_sweep_t *s)
{
    if (s->skipped) {
        wk_warn("sweep: skipped %lld item(s) on a Redis error, taken out of "
                "the sweep (first error: %s)", s->skipped,
                s->skip_error);
        s->skipped = 0;
    }
}


static void
on_expired(wk_redis_t *link, redisReply *r, void *data)
{
    wk_sweep_t *s = data;
    (void) link;

    s->expiring = 0;
    if (script_failed(s, &s->expire, r)) {
        return;
    }
    long long targets = wk_reply_int(r, 0), done = wk_reply_int(r, 1);
    note_skipped(s, r, 3);
    if (targets || done) {
        wk_info("expired %lld queued command(s); %lld command(s) past "
                "their TTL finished", targets, done);
        wk_metric_add(WK_M_COMMANDS_EXPIRED, (unsigned long) targets);
    }
    /* A backlog is worked off call after call, each one bounded. */
    if (wk_reply_int(r, 2) && !s->stopped) {
        sweep_expire(s);
    }
}


static void
on_queues_swept(wk_redis_t *link, redisReply *r, void *data)
{
    wk_sweep_t *s = data;
    (void) link;

    s->collecting = 0;
    if (script_failed(s, &s->qgc, r)) {
        return;
    }
    long long entries = wk_reply_int(r, 0), queues = wk_reply_int(r, 1);
    if (entries || queues) {
        wk_info("deleted %lld queue entr%s of %lld retired queue(s)",
                entries, entries == 1 ? "y" : "ies", queues);
    }
    if (wk_reply_int(r, 2) && !s->stopped) {
        sweep_queues(s);
    }
}


/* Queues retired by Authenticate (queue_gc.lua), sweep_batch entries a call */
static void
sweep_queues(wk_sweep_t *s)
{
    const char *argv[MDM_STORE_QUEUE_GC_ARGC];
    size_t argvlen[MDM_STORE_QUEUE_GC_ARGC];
    char buf[MDM_STORE_BUF(MDM_STORE_QUEUE_GC_KEYS)];
    mdm_argv_t a;

    mdm_argv_init(&a, argv, argvlen, MDM_STORE_QUEUE_GC_ARGC, buf,
                  sizeof(buf));
    if (mdm_store_queue_gc_argv((int64_t) ev_now(s->loop),
                                s->cf->sweep_batch, &a) != 0)
    {
        return;
    }
    mdm_argv_set_sha(&a, s->qgc.sha);
    if (wk_redis_cmdargv(s->redis, on_queues_swept, s, a.argc, argv, argvlen)
        == 0)
    {
        s->collecting = 1;
    }
}


static void
on_repushed(wk_redis_t *link, redisReply *r, void *data)
{
    wk_sweep_t *s = data;
    (void) link;

    s->repushing = 0;
    if (script_failed(s, &s->pending, r)) {
        return;
    }
    long long silent = wk_reply_int(r, 0), notnow = wk_reply_int(r, 1);
    note_skipped(s, r, 2);
    if (silent || notnow) {
        wk_info("re-push: %lld silent device(s), %lld after NotNow",
                silent, notnow);
        wk_metric_add(WK_M_REPUSH_SILENT, (unsigned long) silent);
        wk_metric_add(WK_M_REPUSH_NOTNOW, (unsigned long) notnow);
    }
}


static void
sweep_expire(wk_sweep_t *s)
{
    struct timeval tv;
    const char *argv[MDM_STORE_EXPIRE_ARGC];
    size_t argvlen[MDM_STORE_EXPIRE_ARGC];
    char buf[MDM_STORE_BUF(MDM_STORE_EXPIRE_KEYS)];
    mdm_argv_t a;

    gettimeofday(&tv, NULL);
    mdm_argv_init(&a, argv, argvlen, MDM_STORE_EXPIRE_ARGC, buf, sizeof(buf));
    if (mdm_store_expire_argv((int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000,
                              s->cf->sweep_batch, s->cf->result_retention,
                              s->cf->events_maxlen, &a) != 0)
    {
        return;
    }
    mdm_argv_set_sha(&a, s->expire.sha);
    if (wk_redis_cmdargv(s->redis, on_expired, s, a.argc, argv, argvlen) == 0) {
        s->expiring = 1;
    }
}


static void
sweep_repush(wk_sweep_t *s)
{
    const char *argv[MDM_STORE_SWEEP_PENDING_ARGC];
    size_t argvlen[MDM_STORE_SWEEP_PENDING_ARGC];
    char buf[MDM_STORE_BUF(MDM_STORE_SWEEP_PENDING_KEYS)];
    mdm_argv_t a;

    if (s->cf->repush_silent_after == 0 && s->cf->repush_notnow_after == 0) {
        return;
    }
    mdm_argv_init(&a, argv, argvlen, MDM_STORE_SWEEP_PENDING_ARGC, buf,
                  sizeof(buf));
    if (mdm_store_sweep_pending_argv((int64_t) ev_now(s->loop),
                                     s->cf->repush_silent_after,
                                     s->cf->repush_notnow_after,
                                     s->cf->sweep_batch, &a) != 0)
    {
        return;
    }
    mdm_argv_set_sha(&a, s->pending.sha);

    if (wk_redis_cmdargv(s->redis, on_repushed, s, a.argc, argv, argvlen) == 0) {
        s->repushing = 1;
    }
}


static void
on_sweep_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    wk_sweep_t *s = t->data;
    (void) loop;
    (void) revents;

    if (!s->ready) {
        return;                  /* the key layout is not checked yet */
    }
    log_skipped(s);
    /* A slow Redis gets no second call on top of one it has not answered. */
    if (!s->expiring) {
        sweep_expire(s);
    }
    if (!s->repushing) {
        sweep_repush(s);
    }
    if (!s->collecting) {
        sweep_queues(s);
    }
}


wk_sweep_t *
wk_sweep_new(struct ev_loop *loop, const wk_config_t *cf, wk_redis_t *redis)
{
    wk_sweep_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->loop = loop;
    s->cf = cf;
    s->redis = redis;
    if (script_init(&s->expire, "expire") != 0
        || script_init(&s->pending, "sweep_pending") != 0
        || script_init(&s->qgc, "queue_gc") != 0)
    {
        free(s);
        return NULL;
    }
    double every = cf->sweep_interval_ms / 1000.0;
    ev_timer_init(&s->timer, on_sweep_timer, every, every);
    s->timer.data = s;
    ev_timer_start(loop, &s->timer);
    ev_unref(loop);                      /* the timer alone keeps no loop */
    return s;
}


void
wk_sweep_on_redis_ready(wk_sweep_t *s)
{
    /* Sent first on the new connection, so ahead of any EVALSHA. */
    s->ready = 1;
    script_load(s, &s->expire);
    script_load(s, &s->pending);
    script_load(s, &s->qgc);
}


void
wk_sweep_stop(wk_sweep_t *s)
{
    if (s == NULL || s->stopped) {
        return;
    }
    s->stopped = 1;
    ev_ref(s->loop);
    ev_timer_stop(s->loop, &s->timer);
}


void
wk_sweep_free(wk_sweep_t *s)
{
    if (s == NULL) {
        return;
    }
    wk_sweep_stop(s);
    free(s);
}
