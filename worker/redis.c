#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/adapters/libev.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "mdm_script.h"
#include "redis.h"
#include "redis/mdm_cluster_ev.h"

typedef struct {
    wk_redis_t  *link;
    wk_redis_cb  cb;
    void        *data;
} wk_redis_call_t;

/* A command formatted while the link backs off from error replies. */
struct wk_redis_held_s {
    wk_redis_held_t  *next;
    wk_redis_call_t  *call;
    char             *cmd;
    size_t            len;
};

double wk_redis_error_interval = 10.0;

static void redis_connect(wk_redis_t *link);
static void redis_on_reply(redisAsyncContext *ac, void *r, void *privdata);
static void redis_held_fail(wk_redis_t *link);
static void redis_note_reply(wk_redis_t *link, const redisReply *r);


void
wk_redis_error(const char *fmt, ...)
{
    static double    last = -1e9;
    static unsigned  skipped;
    struct timespec  ts;
    char             msg[512];
    va_list          ap;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = ts.tv_sec + ts.tv_nsec / 1e9;
    if (now - last < wk_redis_error_interval) {
        skipped++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (skipped) {
        wk_error("%s (%u more Redis errors in the last %.0f s not logged)",
                 msg, skipped, now - last);
    } else {
        wk_error("%s", msg);
    }
    last = now;
    skipped = 0;
}


static void
redis_schedule_reconnect(wk_redis_t *link)
{
    if (link->closing) {
        return;
    }
    /* 0.1 s, doubling up to 5 s: fast after a blip, quiet during an outage. */
    double delay = 0.1 * (1u << (link->failures < 6 ? link->failures : 6));
    if (delay > 5.0) {
        delay = 5.0;
    }
    link->failures++;
    ev_timer_set(&link->reconnect, delay, 0.);
    ev_timer_start(link->loop, &link->reconnect);
}


static void
redis_on_connect(const redisAsyncContext *ac, int status)
{
    wk_redis_t *link = ac->data;

    if (status != REDIS_OK) {
        if (link->failures == 0) {
            wk_error("redis %s: cannot connect to %s: %s", link->name,
                     link->addr, ac->errstr);
        }
        link->ac = NULL;                 /* hiredis frees the context */
        redis_schedule_reconnect(link);
        return;
    }
    wk_info("redis %s: connected to %s", link->name, link->addr);
    link->connected = 1;
    link->failures = 0;
    link->pending = 0;
    link->last_reply = ev_now(link->loop);
    link->on_ready(link, link->data);
}


static void
redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    wk_redis_t *link = ac->data;

    if (status != REDIS_OK && !link->closing) {
        wk_error("redis %s: connection lost: %s", link->name, ac->errstr);
    }
    link->ac = NULL;
    link->connected = 0;
    link->pending = 0;
    redis_held_fail(link);
    redis_schedule_reconnect(link);
}


static void
redis_connect(wk_redis_t *link)
{
    redisAsyncContext *ac;

    if (link->where.path != NULL) {
        ac = redisAsyncConnectUnix(link->where.path);
    } else {
        /* numeric, resolved once at init: nothing here can block */
        ac = redisAsyncConnect(link->where.nodes[0].host,
                               link->where.nodes[0].port);
    }

    if (ac == NULL || ac->err) {
        wk_error("redis %s: %s", link->name, ac ? ac->errstr : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }
        redis_schedule_reconnect(link);
        return;
    }
    ac->data = link;
    link->ac = ac;
    redisLibevAttach(link->loop, ac);
    redisAsyncSetConnectCallback(ac, redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
}


static void
redis_on_reconnect_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void) loop;
    (void) revents;
    redis_connect(w->data);
}


static void
redis_on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_redis_t *link = w->data;
    (void) revents;

    if (link->ac == NULL || link->pending == 0) {
        return;
    }
    double waited = ev_now(loop) - link->last_reply;
    if (waited > link->timeout + link->block_extra) {
        wk_error("redis %s: no reply for %.1f s, reconnecting", link->name,
                 waited);
        /* Fails every pending callback with NULL, then reconnects. */
        redisAsyncFree(link->ac);
    }
}


/* ---- Redis Cluster: libmdm's client on this loop ------------------------ */

static void
redis_cluster_log(void *ctx, mdm_cluster_event_e ev, const char *msg)
{
    wk_redis_t *link = ctx;

    if (ev == MDM_CLUSTER_EV_INFO) {
        wk_info("redis %s: %s", link->name, msg);
    } else {
        wk_redis_error("redis %s: %s", link->name, msg);
    }
}


/* The map is known: the link counts as connected from now on. */
static void
redis_cluster_ready(void *ctx)
{
    wk_redis_t *link = ctx;

    link->connected = 1;
    link->on_ready(link, link->data);
}


static void
redis_cluster_reply(void *data, redisReply *r, mdm_cluster_status_e status)
{
    wk_redis_call_t *call = data;
    wk_redis_t *link = call->link;

    (void) status;                       /* NULL says enough to callers */
    redis_note_reply(link, r);
    if (call->cb) {
        call->cb(link, r, call->data);
    }
    free(call);
}


static int
redis_cluster_start(wk_redis_t *link)
{
    mdm_cluster_conf_t conf;

    memset(&conf, 0, sizeof(conf));
    conf.seeds = link->where.nodes;
    conf.nseeds = link->where.nnodes;
    conf.pool = 1;
    conf.timeout_ms = (unsigned) (link->timeout * 1000);
    conf.connect_timeout_ms = conf.timeout_ms;
    conf.max_redirects = 16;
    conf.retry_delay_ms = 25;
    conf.refresh_ms = 10000;
    conf.backoff_max_ms = 5000;
    conf.scripts = mdm_scripts;
    conf.log = redis_cluster_log;
    conf.ready = redis_cluster_ready;
    conf.ctx = link;

    link->cluster = calloc(1, sizeof(*link->cluster));
    if (link->cluster == NULL
        || mdm_cluster_ev_start(link->cluster, link->loop, &conf) == NULL)
    {
        wk_error("redis %s: out of memory", link->name);
        free(link->cluster);
        link->cluster = NULL;
        return -1;
    }
    wk_info("redis %s: cluster, %zu seed%s", link->name, link->where.nnodes,
            link->where.nnodes == 1 ? "" : "s");
    return 0;
}


/*
 * Sends a formatted command (taking cmd) on the connection, or through the
 * cluster client by the slot of its first key; -1 when it cannot go out.
 */
static int
redis_submit(wk_redis_t *link, wk_redis_call_t *call, char *cmd, size_t len)
{
    if (link->cluster != NULL) {
        unsigned extra = (unsigned) (link->block_extra * 1000);
        return mdm_cluster_send(link->cluster->cl, cmd, len, extra,
                                redis_cluster_reply, call) ? 0 : -1;
    }

    int rc = redisAsyncFormattedCommand(link->ac, redis_on_reply, call, cmd,
                                        len);
    redisFreeCommand(cmd);
    if (rc != REDIS_OK) {
        return -1;
    }
    if (link->pending++ == 0) {
        link->last_reply = ev_now(link->loop);
    }
    return 0;
}


/* Commands that waited out an error backoff go out, in order. */
static void
redis_held_flush(wk_redis_t *link)
{
    while (link->held != NULL && (link->ac != NULL || link->cluster)
           && ev_now(link->loop) >= link->err_until)
    {
        wk_redis_held_t *h = link->held;
        link->held = h->next;
        if (link->held == NULL) {
            link->held_tail = &link->held;
        }
        wk_redis_call_t *call = h->call;
        if (redis_submit(link, call, h->cmd, h->len) != 0) {
            if (call->cb) {
                call->cb(link, NULL, call->data);
            }
            free(call);
        }
        free(h);
    }
}


/* The connection went away: held commands fail as sent ones do. */
static void
redis_held_fail(wk_redis_t *link)
{
    ev_timer_stop(link->loop, &link->err_timer);
    while (link->held != NULL) {
        wk_redis_held_t *h = link->held;
        link->held = h->next;
        if (h->call->cb) {
            h->call->cb(link, NULL, h->call->data);
        }
        free(h->call);
        redisFreeCommand(h->cmd);
        free(h);
    }
    link->held_tail = &link->held;
}


static void
redis_on_err_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void) loop;
    (void) revents;
    redis_held_flush(w->data);
}


/*
 * An error reply (LOADING, BUSY, MASTERDOWN, OOM...) backs the link off:
 * 0.1 s, doubling up to 5 s; any other reply ends it.
 */
static void
redis_note_reply(wk_redis_t *link, const redisReply *r)
{
    if (r == NULL) {
        return;
    }
    /* BUSYGROUP answers every XGROUP CREATE after the first start */
    if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "BUSYGROUP", 9) == 0) {
        link->err_delay = 0;
        return;
    }
    link->err_delay = link->err_delay == 0 ? 0.1 : link->err_delay * 2;
    if (link->err_delay > 5.0) {
        link->err_delay = 5.0;
    }
    link->err_until = ev_now(link->loop) + link->err_delay;
}


int
wk_redis_init(wk_redis_t *link, struct ev_loop *loop, const char *addr,
              const char *name, double timeout, wk_redis_ready_cb on_ready,
              void *data)
{
    char err[256];

    memset(link, 0, sizeof(*link));
    link->loop = loop;
    link->addr = addr;
    link->name = name;
    link->timeout = timeout;
    link->on_ready = on_ready;
    link->data = data;

    ev_timer_init(&link->reconnect, redis_on_reconnect_timer, 0., 0.);
    link->reconnect.data = link;
    ev_timer_init(&link->err_timer, redis_on_err_timer, 0., 0.);
    link->err_timer.data = link;
    link->held_tail = &link->held;
    ev_timer_init(&link->watchdog, redis_on_watchdog, 1., 1.);
    link->watchdog.data = link;

    if (wk_redis_addr_parse(addr, &link->where, err, sizeof(err)) != 0) {
        wk_error("redis %s: %s", name, err);
        link->closing = 1;
        return -1;
    }

    if (link->where.cluster) {
        return redis_cluster_start(link);
    }

    ev_timer_start(loop, &link->watchdog);
    ev_unref(loop);                      /* the watchdog alone keeps no loop */

    redis_connect(link);
    return 0;
}


static void
redis_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    wk_redis_call_t *call = privdata;
    wk_redis_t *link = call->link;

    (void) ac;
    if (link->pending > 0) {
        link->pending--;
    }
    link->last_reply = ev_now(link->loop);
    redis_note_reply(link, r);
    if (call->cb) {
        call->cb(link, r, call->data);
    }
    free(call);
}


static wk_redis_call_t *
redis_call_new(wk_redis_t *link, wk_redis_cb cb, void *data)
{
    if (!link->connected || (link->ac == NULL && link->cluster == NULL)) {
        return NULL;
    }
    wk_redis_call_t *call = malloc(sizeof(*call));
    if (call == NULL) {
        return NULL;
    }
    call->link = link;
    call->cb = cb;
    call->data = data;
    return call;
}


/* Sends a formatted command now, or holds it while the link backs off. */
static int
redis_send(wk_redis_t *link, wk_redis_call_t *call, char *cmd, long long len)
{
    if (len < 0) {
        free(call);
        return -1;
    }
    double now = ev_now(link->loop);
    if (link->held == NULL && now >= link->err_until) {
        if (redis_submit(link, call, cmd, (size_t) len) != 0) {
            free(call);
            return -1;
        }
        return 0;
    }
    wk_redis_held_t *h = malloc(sizeof(*h));
    if (h == NULL) {
        redisFreeCommand(cmd);
        free(call);
        return -1;
    }
    h->next = NULL;
    h->call = call;
    h->cmd = cmd;
    h->len = (size_t) len;
    *link->held_tail = h;
    link->held_tail = &h->next;
    if (!ev_is_active(&link->err_timer)) {
        ev_timer_set(&link->err_timer,
                     link->err_until > now ? link->err_until - now : 0., 0.);
        ev_timer_start(link->loop, &link->err_timer);
    }
    return 0;
}


int
wk_redis_cmd(wk_redis_t *link, wk_redis_cb cb, void *data, const char *fmt,
             ...)
{
    wk_redis_call_t *call = redis_call_new(link, cb, data);
    if (call == NULL) {
        return -1;
    }
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    return redis_send(link, call, cmd, len);
}


int
wk_redis_cmdargv(wk_redis_t *link, wk_redis_cb cb, void *data, int argc,
                 const char **argv, const size_t *argvlen)
{
    wk_redis_call_t *call = redis_call_new(link, cb, data);
    if (call == NULL) {
        return -1;
    }
    char *cmd = NULL;
    long long len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    return redis_send(link, call, cmd, len);
}


void
wk_redis_close(wk_redis_t *link)
{
    int was_closing = link->closing;

    link->closing = 1;
    ev_timer_stop(link->loop, &link->reconnect);
    if (link->cluster != NULL) {
        redis_held_fail(link);
        mdm_cluster_ev_stop(link->cluster);
        free(link->cluster);
        link->cluster = NULL;
        link->connected = 0;
        return;
    }
    if (!was_closing && ev_is_active(&link->watchdog)) {
        ev_ref(link->loop);
    }
    ev_timer_stop(link->loop, &link->watchdog);
    redis_held_fail(link);
    if (link->ac) {
        redisAsyncFree(link->ac);
        link->ac = NULL;
    }
    link->connected = 0;
}


long long
wk_reply_int(const redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements
        || r->element[i]->type != REDIS_REPLY_INTEGER)
    {
        return 0;
    }
    return r->element[i]->integer;
}


const char *
wk_reply_str(const redisReply *r, size_t i, size_t *len)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements
        || r->element[i]->type != REDIS_REPLY_STRING
        || r->element[i]->len == 0)
    {
        *len = 0;
        return NULL;
    }
    *len = r->element[i]->len;
    return r->element[i]->str;
}


const redisReply *
wk_reply_field(const redisReply *r, const char *name)
{
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
         i += 2)
    {
        if (r->element[i]->type == REDIS_REPLY_STRING
            && strcmp(r->element[i]->str, name) == 0)
        {
            return r->element[i + 1]->type == REDIS_REPLY_STRING
                   ? r->element[i + 1] : NULL;
        }
    }
    return NULL;
}
