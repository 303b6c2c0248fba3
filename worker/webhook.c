/*
 * Webhook delivery. Each webhook is independent: its own consumer group,
 * its own Redis reader (a blocked XREADGROUP of one must not delay
 * another), its own held events; they share the command link, the HTTP
 * client and the timers.
 *
 * Held events sit in one list per webhook in stream order. Only the first
 * held event of an enrollment may be sent, so an event waiting for a retry
 * holds back its enrollment's later events and no one else's.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "backoff.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "mdm_event.h"
#include "mdm_keys.h"
#include "stream.h"
#include "webhook.h"
#include "webhook_conf.h"
#include "webhook_json.h"

#define NAME_MAX_LEN   WK_WEBHOOK_NAME_MAX
#define DEAD_MAXLEN    "100000"    /* dead letters kept per webhook */
#define SIG_MAX        64          /* base64 of 32 bytes is 44 */

typedef enum {
    D_WAITING,                      /* due at next_at */
    D_SENDING,                      /* POST in flight */
    D_DEAD                          /* XADD to the dead stream in flight */
} delivery_state_t;

typedef struct wk_hook_s wk_hook_t;
typedef struct wk_delivery_s wk_delivery_t;

struct wk_delivery_s {
    wk_stream_entry_t   se;         /* held in the hook's group */
    wk_hook_t          *hook;
    char               *m;          /* the stream fields, kept verbatim */
    size_t              m_len;
    char               *tally;
    char               *event_id;
    char               *topic;
    char               *enrollment;
    wk_dict_node_t      seen;       /* in the hook's dispatch walk */
    char               *body;
    size_t              body_len;
    char                signature[SIG_MAX];
    unsigned            attempts;
    double              deadline;   /* wall s: dead-letter after a failure */
    ev_tstamp           next_at;
    delivery_state_t    state;
    char                error[256];
    wk_delivery_t      *next, *prev;
};

typedef struct {
    unsigned long   delivered, retried, dead, skipped, claimed;
} wk_hook_stats_t;

struct wk_hook_s {
    wk_webhooks_t      *wh;
    wk_webhook_conf_t   conf;       /* its configuration line */
    char                group[NAME_MAX_LEN + 16];
    char                retry_stream[NAME_MAX_LEN + 32];
    char                dead_stream[NAME_MAX_LEN + 32];
    char                label[NAME_MAX_LEN + 16];

    wk_redis_t          reader;     /* its own: a blocked read of one hook
                                       must not delay another */
    int                 reader_open;
    wk_stream_group_t  *sg;

    wk_delivery_t      *head, *tail;
    size_t              held, sending;
    wk_dict_t           seen;       /* enrollments met in one dispatch */
    ev_timer            wake;
    wk_totals_t         totals;
    wk_hook_stats_t     stats, logged;
};

struct wk_webhooks_s {
    struct ev_loop     *loop;
    const wk_config_t  *cf;
    wk_redis_t         *cmd;
    wk_http_t          *http;
    wk_hook_t          *hooks;
    size_t              nhooks;
    int                 draining;
    size_t              hooks_draining;
    void              (*drained)(void *);
    void               *drained_data;
};

static void hook_dispatch(wk_hook_t *k);


/* ---- configuration ---- */

/* "<name> <url> [topics=a,b|all] [skip_idle=1] [hmac_key=K] [ca=FILE]" */
static int
hook_parse(wk_hook_t *k, const char *line, const wk_config_t *cf)
{
    char err[256];

    if (wk_webhook_conf_parse(line, cf, &k->conf, err, sizeof(err)) != 0) {
        wk_alert("webhook \"%s\": %s", line, err);
        return -1;
    }

    const char *name = k->conf.name;
    const char *p[] = { name };   /* names are short: NAME_MAX_LEN */

    snprintf(k->group, sizeof(k->group), "webhook:%s", name);
    mdm_schema_key(k->retry_stream, sizeof(k->retry_stream),
                   MDM_K_WEBHOOK_RETRY, p, 1);
    mdm_schema_key(k->dead_stream, sizeof(k->dead_stream),
                   MDM_K_WEBHOOK_DEAD, p, 1);
    snprintf(k->label, sizeof(k->label), "webhook %s", name);
    return 0;
}


/* ---- held events ---- */

static void
delivery_free(wk_delivery_t *d)
{
    free(d->m);
    free(d->tally);
    free(d->event_id);
    free(d->topic);
    free(d->enrollment);
    free(d->body);
    free(d);
}


/* The delivery is over: acked (delivered, skipped, dead-lettered) or left
 * pending for another worker. */
static void
delivery_end(wk_delivery_t *d, int ack)
{
    wk_hook_t *k = d->hook;

    if (d->prev) d->prev->next = d->next; else k->head = d->next;
    if (d->next) d->next->prev = d->prev; else k->tail = d->prev;
    k->held--;
    if (ack) {
        wk_stream_ack(k->sg, &d->se);
    } else {
        wk_stream_release(k->sg, &d->se);
    }
    delivery_free(d);
}


static long long
entry_ms(const char *entry)
{
    return strtoll(entry, NULL, 10);
}


static int
entry_before(const char *a, const char *b)
{
    long long am = entry_ms(a), bm = entry_ms(b);
    if (am != bm) {
        return am < bm;
    }
    const char *as = strchr(a, '-'), *bs = strchr(b, '-');
    return (as ? strtoll(as + 1, NULL, 10) : 0)
           < (bs ? strtoll(bs + 1, NULL, 10) : 0);
}


/* Stream order within one stream: a claimed older entry goes before the
 * newer ones read already, so that it keeps its place for its enrollment. */
static void
delivery_insert(wk_hook_t *k, wk_delivery_t *d)
{
    wk_delivery_t *after = k->tail;

    while (after && after->se.key == d->se.key
           && entry_before(d->se.id, after->se.id))
    {
        after = after->prev;
    }
    d->prev = after;
    d->next = after ? after->next : k->head;
    if (d->next) d->next->prev = d; else k->tail = d;
    if (after) after->next = d; else k->head = d;
    k->held++;
}


static void
sign(wk_delivery_t *d)
{
    const char *key = d->hook->conf.hmac_key;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    d->signature[0] = '\0';
    if (*key == '\0'
        || HMAC(EVP_sha256(), key, (int) strlen(key),
                (const unsigned char *) d->body, d->body_len, md, &len)
           == NULL)
    {
        return;
    }
    EVP_EncodeBlock((unsigned char *) d->signature, md, (int) len);
}


static double
hook_backoff(const wk_hook_t *k, unsigned attempts)
{
    const wk_config_t *cf = k->wh->cf;

    return wk_backoff(cf->webhook_backoff_base_ms, cf->webhook_backoff_max_ms,
                      attempts);
}


/* ---- dead letters ---- */

static void
on_dead_lettered(wk_redis_t *link, redisReply *r, void *data)
{
    wk_delivery_t *d = data;
    wk_hook_t *k = d->hook;
    (void) link;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        /* Still pending: claimed again later, it fails or goes out then. */
        wk_redis_error("webhook %s: event %s not dead-lettered: %s", k->conf.name,
                 d->se.id, r ? r->str : "Redis connection lost");
        delivery_end(d, 0);
    } else {
        k->stats.dead++;
        wk_metric_add(WK_M_WEBHOOK_DEAD, 1);
        delivery_end(d, 1);
    }
    if (!k->wh->draining) {
        hook_dispatch(k);
    }
}


static void
dead_letter(wk_delivery_t *d, const char *why)
{
    wk_hook_t *k = d->hook;
    char attempts[24];
    const char *argv[24];
    size_t argvlen[24];
    int argc = 0;

#define ARG(s, l) (argv[argc] = (s), argvlen[argc++] = (l))
    ARG("XADD", 4);
    ARG(k->dead_stream, strlen(k->dead_stream));
    ARG("MAXLEN", 6);
    ARG("~", 1);
    ARG(DEAD_MAXLEN, strlen(DEAD_MAXLEN));
    ARG("*", 1);
    ARG("m", 1);
    ARG(d->m, d->m_len);
    if (d->tally) {
        ARG("tally", 5);
        ARG(d->tally, strlen(d->tally));
    }
    ARG("event_id", 8);
    ARG(d->event_id, strlen(d->event_id));
    if (d->topic) {
        ARG("topic", 5);
        ARG(d->topic, strlen(d->topic));
    }
    if (d->enrollment) {
        ARG("id", 2);
        ARG(d->enrollment, strlen(d->enrollment));
    }
    if (why != d->error) {
        snprintf(d->error, sizeof(d->error), "%s", why);
    }
    ARG("error", 5);
    ARG(d->error, strlen(d->error));
    snprintf(attempts, sizeof(attempts), "%u", d->attempts);
    ARG("attempts", 8);
    ARG(attempts, strlen(attempts));
#undef ARG

    wk_error("webhook %s: event %s (%s, %s) dead-lettered after %u "
             "attempts: %s", k->conf.name, d->event_id,
             d->topic ? d->topic : "?", d->enrollment ? d->enrollment : "?",
             d->attempts, why);
    d->state = D_DEAD;
    if (wk_redis_cmdargv(k->wh->cmd, on_dead_lettered, d, argc, argv,
                         argvlen) == 0)
    {
        return;
    }
    /* Kept, never freed here (callers still hold d): tried again later. */
    wk_error("webhook %s: Redis is down, event %s not dead-lettered yet",
             k->conf.name, d->se.id);
    d->state = D_WAITING;
    d->next_at = ev_now(k->wh->loop) + hook_backoff(k, d->attempts + 1);
}


/* ---- sending ---- */

static void
delivery_failed(wk_delivery_t *d, const char *why)
{
    wk_hook_t *k = d->hook;
    struct ev_loop *loop = k->wh->loop;

    if (ev_now(loop) >= d->deadline) {
        dead_letter(d, why);
        return;
    }
    double delay = hook_backoff(k, d->attempts);
    wk_warn("webhook %s: event %s (%s, %s): %s; attempt %u, retry in %.1fs",
            k->conf.name, d->event_id, d->topic ? d->topic : "?",
            d->enrollment ? d->enrollment : "?", why, d->attempts, delay);
    snprintf(d->error, sizeof(d->error), "%s", why);
    d->state = D_WAITING;
    d->next_at = ev_now(loop) + delay;
    k->stats.retried++;
    wk_metric_add(WK_M_WEBHOOK_RETRIED, 1);
}


static void
on_http_done(void *data, long status, const char *error)
{
    wk_delivery_t *d = data;
    wk_hook_t *k = d->hook;
    char why[300];

    k->sending--;
    if (status >= 200 && status < 300) {
        wk_debug("webhook %s: event %s (%s, %s) delivered: %ld", k->conf.name,
                 d->event_id, d->topic, d->enrollment, status);
        k->stats.delivered++;
        wk_metric_add(WK_M_WEBHOOK_DELIVERED, 1);
        delivery_end(d, 1);
    } else if (k->wh->draining) {
        delivery_end(d, 0);           /* pending, for another worker */
    } else {
        if (status) {
            snprintf(why, sizeof(why), "HTTP status %ld", status);
        } else {
            snprintf(why, sizeof(why), "%s", error);
        }
        delivery_failed(d, why);
    }
    if (!k->wh->draining) {
        hook_dispatch(k);
    }
}


static void
delivery_send(wk_delivery_t *d)
{
    wk_hook_t *k = d->hook;
    char sig_header[SIG_MAX + 32];
    const char *headers[3] = {
        "Content-Type: application/json; charset=utf-8", NULL, NULL
    };

    if (d->body == NULL) {
        dead_letter(d, d->error);     /* undeliverable, Redis was down */
        return;
    }
    if (d->signature[0]) {
        snprintf(sig_header, sizeof(sig_header), "X-Hmac-Signature: %s",
                 d->signature);
        headers[1] = sig_header;
    }
    d->attempts++;
    d->state = D_SENDING;
    if (wk_http_post(k->wh->http, k->conf.url, d->body, d->body_len, headers,
                     k->conf.ca, k->wh->cf->webhook_timeout_ms, on_http_done, d)
        != 0)
    {
        delivery_failed(d, "could not start the HTTP request");
        return;
    }
    k->sending++;
}


/* 1 if d's enrollment already had an earlier event in this walk. */
static int
seen_before(wk_hook_t *k, wk_delivery_t *d)
{
    const char *id = d->enrollment ? d->enrollment : "";
    size_t len = strlen(id);
    uint64_t h = wk_dict_hash(id, len);

    if (wk_dict_find(&k->seen, id, len, h)) {
        return 1;
    }
    wk_dict_node_set(&d->seen, id, len, h);
    wk_dict_add(&k->seen, &d->seen);
    return 0;
}


/* Sends every due event that is the first held of its enrollment, within
 * webhook_concurrency, and wakes up for the next one due. */
static void
hook_dispatch(wk_hook_t *k)
{
    struct ev_loop *loop = k->wh->loop;
    ev_tstamp now = ev_now(loop), wake = 0;

    wk_delivery_t *d = k->head;
    while (d && k->sending < (size_t) k->wh->cf->webhook_concurrency) {
        wk_delivery_t *next = d->next;
        if (!seen_before(k, d) && d->state == D_WAITING) {
            if (d->next_at <= now) {
                delivery_send(d);
            }
            /* still waiting: not due, or the POST could not even start */
            if (d->state == D_WAITING && (wake == 0 || d->next_at < wake)) {
                wake = d->next_at;
            }
        }
        d = next;
    }
    wk_dict_clear(&k->seen);

    ev_timer_stop(loop, &k->wake);
    if (wake > 0) {
        ev_timer_set(&k->wake, wake - now, 0.);
        ev_timer_start(loop, &k->wake);
    }
}


static void
on_wake(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_hook_t *k = w->data;
    (void) loop;
    (void) revents;

    if (!k->wh->draining) {
        hook_dispatch(k);
    }
}


/* ---- reading events ---- */

static char *
dup_reply(const redisReply *r)
{
    if (r == NULL) {
        return NULL;
    }
    char *s = malloc(r->len + 1);
    if (s) {
        memcpy(s, r->str, r->len);
        s[r->len] = '\0';
    }
    return s;
}


/* Decodes the event and renders its body; 0 to deliver, 1 to skip, -1 when
 * it can never be delivered (why in err). */
static int
delivery_prepare(wk_delivery_t *d, char *err, size_t errlen)
{
    mdm_event_t ev;
    mdm_buf_t store;

    if (mdm_event_decode(d->m, d->m_len, &ev, &store) != 0) {
        snprintf(err, errlen, "field m is not a valid event");
        return -1;
    }
    d->topic = strdup(ev.topic);
    d->enrollment = strdup(ev.id);
    int rc = 1;
    if (wk_webhook_conf_wants(&d->hook->conf, ev.topic, ev.status)) {
        d->body = wk_webhook_json(&ev, d->event_id, d->tally,
                                  entry_ms(d->se.id), err, errlen);
        rc = d->body ? 0 : -1;
        if (d->body) {
            d->body_len = strlen(d->body);
            sign(d);
        }
    }
    mdm_buf_free(&store);
    if (d->topic == NULL || d->enrollment == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return rc;
}


static wk_delivery_t *
delivery_new(wk_hook_t *k, const char *id, const redisReply *fields)
{
    const redisReply *m = wk_reply_field(fields, "m");
    wk_delivery_t *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        return NULL;
    }
    d->hook = k;
    d->m = m ? dup_reply(m) : strdup("");
    d->m_len = m ? m->len : 0;
    d->tally = dup_reply(wk_reply_field(fields, "tally"));
    const redisReply *event_id = wk_reply_field(fields, "event_id");
    d->event_id = event_id ? dup_reply(event_id) : strdup(id);
    if (d->m == NULL || d->event_id == NULL) {
        delivery_free(d);
        return NULL;
    }
    /* The budget counts from when the event (or its replay) was written. */
    d->deadline = entry_ms(id) / 1000.0 + k->wh->cf->webhook_retry_for;
    return d;
}


/* One event read or claimed (stream.h); 1 if it was taken. */
static size_t
hook_on_entry(void *data, unsigned key, const char *id,
              const redisReply *fields, int claimed)
{
    wk_hook_t *k = data;
    char err[256];
    (void) claimed;

    wk_delivery_t *d = delivery_new(k, id, fields);
    if (d == NULL || wk_stream_hold(k->sg, &d->se, key, id) != 0) {
        wk_error("webhook %s: out of memory, event %s left pending",
                 k->conf.name, id);
        if (d) {
            delivery_free(d);
        }
        return 0;
    }
    delivery_insert(k, d);
    int rc = delivery_prepare(d, err, sizeof(err));
    if (rc > 0) {
        k->stats.skipped++;
        wk_metric_add(WK_M_WEBHOOK_SKIPPED, 1);
        delivery_end(d, 1);
    } else if (rc < 0) {
        dead_letter(d, err);
    } else {
        d->state = D_WAITING;
        d->next_at = 0;
    }
    return 1;
}


static void
hook_on_batch(void *data, int claimed, size_t events)
{
    wk_hook_t *k = data;

    if (claimed) {
        k->stats.claimed += events;
    }
    if (!k->wh->draining) {
        hook_dispatch(k);
    }
}


static size_t
hook_room(void *data)
{
    const wk_hook_t *k = data;
    size_t most = (size_t) k->wh->cf->webhook_max_held;

    return k->held < most ? most - k->held : 0;
}


static const wk_stream_ops_t hook_stream_ops = {
    hook_on_entry, hook_on_batch, hook_room
};


static void
on_reader_ready(wk_redis_t *link, void *data)
{
    wk_hook_t *k = data;
    (void) link;

    wk_stream_group_on_ready(k->sg);
}


/* ---- statistics ---- */

static void
hook_totals_line(const void *counts, const char *when, void *data)
{
    const wk_hook_stats_t *s = counts;
    const wk_hook_t *k = data;

    wk_info("webhook %s%s: delivered=%lu retried=%lu dead=%lu skipped=%lu "
            "claimed=%lu", k->conf.name, when, s->delivered, s->retried, s->dead,
            s->skipped, s->claimed);
}


/* ---- public API ---- */

static int
hooks_parse(wk_webhooks_t *wh)
{
    const wk_config_t *cf = wh->cf;

    wh->hooks = calloc(cf->nwebhooks, sizeof(*wh->hooks));
    if (wh->hooks == NULL) {
        return -1;
    }
    for (int i = 0; i < cf->nwebhooks; i++) {
        wk_hook_t *k = &wh->hooks[i];
        k->wh = wh;
        if (hook_parse(k, cf->webhooks[i], cf) != 0) {
            return -1;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(wh->hooks[j].conf.name, k->conf.name) == 0) {
                wk_alert("webhook %s: configured twice", k->conf.name);
                return -1;
            }
        }
        wh->nhooks++;
    }
    return 0;
}


/*
 * Its group reads the event stream(s) and its own retry stream. A new
 * webhook starts with the events written from now on ($); its retry
 * stream is read from its start and, read by no one else, loses an entry
 * once done.
 */
static int
hook_start(wk_hook_t *k)
{
    wk_webhooks_t *wh = k->wh;
    const wk_config_t *cf = wh->cf;
    /* One event key today; one per shard once the events are split. */
    const wk_stream_key_t keys[] = {
        { MDM_KEY_EVENTS, "$", 0 },
        { k->retry_stream, "0", 1 }
    };
    wk_stream_conf_t sc = {
        k->group, cf->name, k->label, "events", keys,
        sizeof(keys) / sizeof(keys[0]), cf->webhook_block_ms,
        cf->webhook_claim_idle_ms, cf->webhook_claim_interval_ms,
        &k->reader, wh->cmd
    };

    if (wk_dict_init(&k->seen, 64) != 0) {
        return -1;
    }
    ev_timer_init(&k->wake, on_wake, 0., 0.);
    k->wake.data = k;
    wk_redis_init(&k->reader, wh->loop, cf->redis, k->label,
                  cf->redis_timeout_ms / 1000.0, on_reader_ready, k);
    k->reader_open = 1;
    k->sg = wk_stream_group_new(wh->loop, &sc, &hook_stream_ops, k);
    if (k->sg == NULL) {
        return -1;
    }
    wk_totals_start(&k->totals, wh->loop, &k->stats, &k->logged,
                    sizeof(k->stats), hook_totals_line, k);
    wk_info("webhook %s: %s, topics %s%s%s", k->conf.name, k->conf.url,
            k->conf.topics[0] ? k->conf.topics : "all",
            k->conf.skip_idle ? ", Idle reports skipped" : "",
            k->conf.hmac_key[0] ? ", signed" : "");
    return 0;
}


wk_webhooks_t *
wk_webhooks_new(struct ev_loop *loop, const wk_config_t *cf, wk_redis_t *cmd)
{
    wk_webhooks_t *wh = malloc(sizeof(*wh));

    if (wh == NULL) {
        return NULL;
    }
    *wh = (wk_webhooks_t) { .loop = loop, .cf = cf, .cmd = cmd };
    if (hooks_parse(wh) != 0) {
        wk_webhooks_free(wh);
        return NULL;
    }
    if (wh->nhooks == 0) {
        return wh;
    }
    wh->http = wk_http_new(loop);
    if (wh->http == NULL) {
        wk_webhooks_free(wh);
        return NULL;
    }
    for (size_t i = 0; i < wh->nhooks; i++) {
        if (hook_start(&wh->hooks[i]) != 0) {
            wk_webhooks_free(wh);
            return NULL;
        }
    }
    return wh;
}


void
wk_webhooks_flush(wk_webhooks_t *wh)
{
    for (size_t i = 0; wh && i < wh->nhooks; i++) {
        wk_stream_flush(wh->hooks[i].sg);
    }
}


void
wk_webhooks_read(wk_webhooks_t *wh)
{
    for (size_t i = 0; wh && i < wh->nhooks; i++) {
        wk_stream_read(wh->hooks[i].sg);
    }
}


static void
hook_stop_reading(wk_hook_t *k)
{
    ev_timer_stop(k->wh->loop, &k->wake);
    if (k->reader_open) {
        k->reader_open = 0;
        wk_redis_close(&k->reader);
    }
}


static void
webhooks_drain_step(wk_webhooks_t *wh)
{
    if (--wh->hooks_draining == 0 && wh->drained) {
        void (*cb)(void *) = wh->drained;
        wh->drained = NULL;
        cb(wh->drained_data);
    }
}


static void
hook_drained(void *data)
{
    wk_hook_t *k = data;

    webhooks_drain_step(k->wh);
}


void
wk_webhooks_drain(wk_webhooks_t *wh, void (*drained)(void *), void *data)
{
    size_t sending = 0;

    wh->draining = 1;
    wh->drained = drained;
    wh->drained_data = data;
    /* one more than the hooks: none may finish the drain while we loop */
    wh->hooks_draining = wh->nhooks + 1;
    for (size_t i = 0; i < wh->nhooks; i++) {
        wk_hook_t *k = &wh->hooks[i];
        hook_stop_reading(k);
        /* Waiting events are not ours to finish: left pending. */
        for (wk_delivery_t *d = k->head, *next; d; d = next) {
            next = d->next;
            if (d->state == D_WAITING) {
                delivery_end(d, 0);
            }
        }
        sending += k->sending;
        wk_stream_drain(k->sg, hook_drained, k);
    }
    if (wh->nhooks) {
        wk_info("webhooks draining: %zu POSTs in flight", sending);
    }
    webhooks_drain_step(wh);
}


void
wk_webhooks_leave(wk_webhooks_t *wh, wk_stream_leave_t *lv)
{
    for (size_t i = 0; wh && i < wh->nhooks; i++) {
        wk_stream_leave(wh->hooks[i].sg, lv);
    }
}


void
wk_webhooks_free(wk_webhooks_t *wh)
{
    if (wh == NULL) {
        return;
    }
    wh->draining = 1;
    wh->drained = NULL;
    wk_http_free(wh->http);
    for (size_t i = 0; i < wh->nhooks; i++) {
        wk_hook_t *k = &wh->hooks[i];
        hook_stop_reading(k);
        wk_totals_stop(&k->totals, wh->loop);
        while (k->head) {
            delivery_end(k->head, 0);
        }
        wk_stream_group_free(k->sg);
        wk_dict_free(&k->seen);
    }
    free(wh->hooks);
    free(wh);
}
