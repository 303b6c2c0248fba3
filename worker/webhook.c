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

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "mdm_event.h"
#include "mdm_keys.h"
#include "webhook.h"
#include "webhook_conf.h"
#include "webhook_json.h"

#define NAME_MAX_LEN   WK_WEBHOOK_NAME_MAX
#define ENTRY_ID_MAX   48          /* "<ms>-<seq>" */
#define ACK_CHUNK      500         /* ids per XACK / XDEL / XCLAIM */
#define DEAD_MAXLEN    "100000"    /* dead letters kept per webhook */
#define SIG_MAX        64          /* base64 of 32 bytes is 44 */

enum { FROM_EVENTS = 0, FROM_RETRY = 1, NSTREAMS = 2 };

typedef enum {
    D_WAITING,                      /* due at next_at */
    D_SENDING,                      /* POST in flight */
    D_DEAD                          /* XADD to the dead stream in flight */
} delivery_state_t;

typedef struct wk_hook_s wk_hook_t;
typedef struct wk_delivery_s wk_delivery_t;

struct wk_delivery_s {
    wk_hook_t          *hook;
    int                 from;       /* FROM_EVENTS or FROM_RETRY */
    char                entry[ENTRY_ID_MAX];
    char               *m;          /* the stream fields, kept verbatim */
    size_t              m_len;
    char               *tally;
    char               *event_id;
    char               *topic;
    char               *enrollment;
    uint64_t            key;        /* hash of the enrollment ID, never 0 */
    char               *body;
    size_t              body_len;
    char                signature[SIG_MAX];
    unsigned            attempts;
    double              deadline;   /* wall s: dead-letter after a failure */
    ev_tstamp           next_at;
    ev_tstamp           claimed;
    delivery_state_t    state;
    char                error[256];
    wk_delivery_t      *next, *prev;
};

typedef struct {
    unsigned long   delivered, retried, dead, skipped, claimed;
} wk_hook_stats_t;

typedef struct {
    char    (*ids)[ENTRY_ID_MAX];
    size_t    n, cap;
} wk_id_list_t;

struct wk_hook_s {
    wk_webhooks_t      *wh;
    wk_webhook_conf_t   conf;       /* its configuration line */
    char                group[NAME_MAX_LEN + 16];
    char                streams[NSTREAMS][NAME_MAX_LEN + 32];
    char                dead_stream[NAME_MAX_LEN + 32];
    char                reader_name[NAME_MAX_LEN + 16];

    wk_redis_t          reader;
    int                 reader_open;
    int                 group_ready;
    int                 groups_pending;
    int                 group_failed;
    int                 reading;
    int                 claiming[NSTREAMS];
    struct wk_claim_s {
        wk_hook_t      *hook;
        int             from;
    }                   claim_ctx[NSTREAMS];
    char                claim_cursor[NSTREAMS][ENTRY_ID_MAX];

    wk_delivery_t      *head, *tail;
    size_t              held, sending, dead_letters;
    ev_timer            wake;
    wk_id_list_t        acks[NSTREAMS];
    wk_hook_stats_t     stats, logged;
};

struct wk_webhooks_s {
    struct ev_loop     *loop;
    const wk_config_t  *cf;
    wk_redis_t         *cmd;
    wk_http_t          *http;
    wk_hook_t          *hooks;
    size_t              nhooks;
    unsigned            acks_in_flight;
    int                 draining;
    void              (*drained)(void *);
    void               *drained_data;
    ev_prepare          flush;
    ev_timer            claim;
    ev_timer            stats_timer;
};

static void hook_read(wk_hook_t *k);
static double backoff(const wk_config_t *cf, unsigned attempts);
static void hook_dispatch(wk_hook_t *k);
static void check_drained(wk_webhooks_t *wh);


/* ---- configuration ---- */

static int
hook_parse(wk_hook_t *k, const char *line, const wk_config_t *cf)
{
    char err[256];

    if (wk_webhook_conf_parse(line, cf, &k->conf, err, sizeof(err)) != 0) {
        wk_alert("webhook \"%s\": %s", line, err);
        return -1;
    }

    const char *name = k->conf.name;

    snprintf(k->group, sizeof(k->group), "webhook:%s", name);
    snprintf(k->streams[FROM_EVENTS], sizeof(k->streams[0]), "%s",
             MDM_KEY_EVENTS);
    snprintf(k->streams[FROM_RETRY], sizeof(k->streams[0]),
             "mdm:webhook:retry:%s", name);
    snprintf(k->dead_stream, sizeof(k->dead_stream), "mdm:webhook:dead:%s",
             name);
    snprintf(k->reader_name, sizeof(k->reader_name), "webhook %s", name);
    strcpy(k->claim_cursor[FROM_EVENTS], "0-0");
    strcpy(k->claim_cursor[FROM_RETRY], "0-0");
    return 0;
}


/* ---- acknowledgements ---- */

static void
on_ack_reply(wk_redis_t *link, redisReply *r, void *data)
{
    wk_webhooks_t *wh = data;
    (void) link;

    wh->acks_in_flight--;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        /* The events stay pending; a claim redelivers them (at least once). */
        wk_redis_error("webhook XACK failed: %s",
                 r ? r->str : "Redis connection lost");
    }
    check_drained(wh);
}


/* verb: XACK, XDEL or XCLAIM (JUSTID, resetting the idle time). */
static void
send_ids(wk_hook_t *k, int from, const char *verb, char (*ids)[ENTRY_ID_MAX],
         size_t n)
{
    wk_webhooks_t *wh = k->wh;
    const char *argv[ACK_CHUNK + 8];
    int argc = 0;
    int del = strcmp(verb, "XDEL") == 0;
    int claim = strcmp(verb, "XCLAIM") == 0;

    argv[argc++] = verb;
    argv[argc++] = k->streams[from];
    if (!del) {
        argv[argc++] = k->group;
    }
    if (claim) {
        argv[argc++] = wh->cf->name;
        argv[argc++] = "0";
    }
    for (size_t i = 0; i < n; i++) {
        argv[argc++] = ids[i];
    }
    if (claim) {
        argv[argc++] = "JUSTID";
    }
    if (wk_redis_cmdargv(wh->cmd, claim ? NULL : on_ack_reply, wh, argc, argv,
                         NULL) == 0)
    {
        wh->acks_in_flight += !claim;
    } else if (!claim) {
        wk_error("webhook %s: %s of %zu events lost: Redis is down; they "
                 "will be claimed and delivered again", k->conf.name, verb, n);
    }
}


static void
flush_acks(wk_hook_t *k)
{
    for (int from = 0; from < NSTREAMS; from++) {
        wk_id_list_t *l = &k->acks[from];
        for (size_t i = 0; i < l->n; i += ACK_CHUNK) {
            size_t n = l->n - i < ACK_CHUNK ? l->n - i : ACK_CHUNK;
            send_ids(k, from, "XACK", l->ids + i, n);
            /* a retry entry has no other reader: it goes once done */
            if (from == FROM_RETRY) {
                send_ids(k, from, "XDEL", l->ids + i, n);
            }
        }
        l->n = 0;
    }
}


static int
id_list_add(wk_id_list_t *l, const char *id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char (*ids)[ENTRY_ID_MAX] = realloc(l->ids, cap * sizeof(*ids));
        if (ids == NULL) {
            return -1;
        }
        l->ids = ids;
        l->cap = cap;
    }
    snprintf(l->ids[l->n++], ENTRY_ID_MAX, "%s", id);
    return 0;
}


static void
queue_ack(wk_hook_t *k, int from, const char *entry)
{
    if (id_list_add(&k->acks[from], entry) != 0) {
        wk_error("webhook %s: out of memory, event %s stays pending",
                 k->conf.name, entry);
    }
}


/* Once per loop turn, before blocking: one XACK per stream. */
static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    wk_webhooks_t *wh = w->data;
    (void) loop;
    (void) revents;

    for (size_t i = 0; i < wh->nhooks; i++) {
        flush_acks(&wh->hooks[i]);
    }
    check_drained(wh);
}


/* ---- held events ---- */

static uint64_t
hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++) {
        h = (h ^ (unsigned char) *s) * 1099511628211ULL;
    }
    return h ? h : 1;
}


static void
delivery_free(wk_delivery_t *d)
{
    wk_hook_t *k = d->hook;

    if (d->prev) d->prev->next = d->next; else k->head = d->next;
    if (d->next) d->next->prev = d->prev; else k->tail = d->prev;
    k->held--;
    free(d->m);
    free(d->tally);
    free(d->event_id);
    free(d->topic);
    free(d->enrollment);
    free(d->body);
    free(d);
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

    while (after && after->from == d->from
           && entry_before(d->entry, after->entry))
    {
        after = after->prev;
    }
    d->prev = after;
    d->next = after ? after->next : k->head;
    if (d->next) d->next->prev = d; else k->tail = d;
    if (after) after->next = d; else k->head = d;
    k->held++;
}


static int
is_held(const wk_hook_t *k, int from, const char *entry)
{
    for (const wk_delivery_t *d = k->head; d; d = d->next) {
        if (d->from == from && strcmp(d->entry, entry) == 0) {
            return 1;
        }
    }
    return 0;
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


/* ---- dead letters ---- */

static void
on_dead_lettered(wk_redis_t *link, redisReply *r, void *data)
{
    wk_delivery_t *d = data;
    wk_hook_t *k = d->hook;
    (void) link;

    k->dead_letters--;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        /* Still pending: claimed again later, it fails or goes out then. */
        wk_redis_error("webhook %s: event %s not dead-lettered: %s",
                       k->conf.name, d->entry,
                       r ? r->str : "Redis connection lost");
    } else {
        queue_ack(k, d->from, d->entry);
        k->stats.dead++;
        wk_metric_add(WK_M_WEBHOOK_DEAD, 1);
    }
    delivery_free(d);
    if (!k->wh->draining) {
        hook_dispatch(k);
        hook_read(k);
    }
    check_drained(k->wh);
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
        k->dead_letters++;
        return;
    }
    /* Kept, never freed here (callers still hold d): tried again later. */
    wk_error("webhook %s: Redis is down, event %s not dead-lettered yet",
             k->conf.name, d->entry);
    d->state = D_WAITING;
    d->next_at = ev_now(k->wh->loop) + backoff(k->wh->cf, d->attempts + 1);
}


/* ---- sending ---- */

static double
backoff(const wk_config_t *cf, unsigned attempts)
{
    double d = (double) cf->webhook_backoff_base_ms;

    for (unsigned i = 1; i < attempts && d < cf->webhook_backoff_max_ms; i++) {
        d *= 2;
    }
    if (d > cf->webhook_backoff_max_ms) {
        d = (double) cf->webhook_backoff_max_ms;
    }
    /* half of it random, so that many failed events do not come back at once */
    return (d / 2 + d / 2 * ((double) rand() / RAND_MAX)) / 1000.0;
}


static void
delivery_failed(wk_delivery_t *d, const char *why)
{
    wk_hook_t *k = d->hook;
    struct ev_loop *loop = k->wh->loop;

    if (ev_now(loop) >= d->deadline) {
        dead_letter(d, why);
        return;
    }
    double delay = backoff(k->wh->cf, d->attempts);
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
        queue_ack(k, d->from, d->entry);
        delivery_free(d);
    } else if (k->wh->draining) {
        delivery_free(d);             /* pending, for another worker */
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
        hook_read(k);
    }
    check_drained(k->wh);
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


/* Hashes of the enrollments met so far in one walk of the held list. */
typedef struct {
    uint64_t   *slots;
    size_t      mask;
} seen_set_t;


/* 1 if key was already in the set (or the set is unusable). */
static int
seen_add(seen_set_t *s, uint64_t key)
{
    if (s->slots == NULL) {
        return 1;
    }
    for (size_t i = key & s->mask; ; i = (i + 1) & s->mask) {
        if (s->slots[i] == key) {
            return 1;
        }
        if (s->slots[i] == 0) {
            s->slots[i] = key;
            return 0;
        }
    }
}


/* Sends every due event that is the first held of its enrollment, within
 * webhook_concurrency, and wakes up for the next one due. */
static void
hook_dispatch(wk_hook_t *k)
{
    struct ev_loop *loop = k->wh->loop;
    ev_tstamp now = ev_now(loop), wake = 0;
    size_t size = 16;
    seen_set_t seen;

    while (size < 2 * k->held) {
        size *= 2;
    }
    seen.slots = calloc(size, sizeof(*seen.slots));
    seen.mask = size - 1;

    wk_delivery_t *d = k->head;
    while (d && k->sending < (size_t) k->wh->cf->webhook_concurrency) {
        wk_delivery_t *next = d->next;
        if (!seen_add(&seen, d->key) && d->state == D_WAITING) {
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
    free(seen.slots);

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

static const redisReply *
field(const redisReply *fields, const char *name)
{
    for (size_t j = 0; j + 1 < fields->elements; j += 2) {
        const redisReply *f = fields->element[j];
        if (f->type == REDIS_REPLY_STRING && strcmp(f->str, name) == 0
            && fields->element[j + 1]->type == REDIS_REPLY_STRING)
        {
            return fields->element[j + 1];
        }
    }
    return NULL;
}


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
    d->key = hash_id(ev.id);
    int rc = 1;
    if (wk_webhook_conf_wants(&d->hook->conf, ev.topic, ev.status)) {
        d->body = wk_webhook_json(&ev, d->event_id, d->tally,
                                  entry_ms(d->entry), err, errlen);
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
delivery_new(wk_hook_t *k, int from, const redisReply *id,
             const redisReply *fields)
{
    const redisReply *m = field(fields, "m");
    wk_delivery_t *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        return NULL;
    }
    d->hook = k;
    d->from = from;
    snprintf(d->entry, sizeof(d->entry), "%s", id->str);
    d->m = m ? dup_reply(m) : strdup("");
    d->m_len = m ? m->len : 0;
    d->tally = dup_reply(field(fields, "tally"));
    d->event_id = field(fields, "event_id")
                  ? dup_reply(field(fields, "event_id")) : strdup(id->str);
    if (d->m == NULL || d->event_id == NULL) {
        free(d->m);
        free(d->tally);
        free(d->event_id);
        free(d);
        return NULL;
    }
    /* The budget counts from when the event (or its replay) was written. */
    d->deadline = entry_ms(d->entry) / 1000.0 + k->wh->cf->webhook_retry_for;
    d->claimed = ev_now(k->wh->loop);
    return d;
}


/* claimed: the entry may be one we hold already (a claim we were slow to
 * refresh); new entries (XREADGROUP >) cannot be. */
static void
event_add(wk_hook_t *k, int from, const redisReply *e, int claimed)
{
    char err[256];

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
        || e->element[0]->type != REDIS_REPLY_STRING
        || e->element[0]->len >= ENTRY_ID_MAX)
    {
        return;
    }
    const redisReply *id = e->element[0], *fields = e->element[1];
    if (fields->type != REDIS_REPLY_ARRAY) {
        queue_ack(k, from, id->str);          /* trimmed while pending */
        return;
    }
    if (claimed && is_held(k, from, id->str)) {
        return;
    }
    wk_delivery_t *d = delivery_new(k, from, id, fields);
    if (d == NULL) {
        wk_error("webhook %s: out of memory, event %s left pending",
                 k->conf.name, id->str);
        return;
    }
    delivery_insert(k, d);
    int rc = delivery_prepare(d, err, sizeof(err));
    if (rc > 0) {
        k->stats.skipped++;
        wk_metric_add(WK_M_WEBHOOK_SKIPPED, 1);
        queue_ack(k, from, d->entry);
        delivery_free(d);
    } else if (rc < 0) {
        dead_letter(d, err);
    } else {
        d->state = D_WAITING;
        d->next_at = 0;
    }
}


static size_t
events_add(wk_hook_t *k, int from, const redisReply *entries, int claimed)
{
    size_t before = k->stats.skipped;
    size_t held = k->held;

    for (size_t i = 0; i < entries->elements; i++) {
        event_add(k, from, entries->element[i], claimed);
    }
    return k->held - held + (k->stats.skipped - before);
}


static int
stream_index(const wk_hook_t *k, const redisReply *name)
{
    for (int from = 0; from < NSTREAMS; from++) {
        if (name->type == REDIS_REPLY_STRING
            && strcmp(name->str, k->streams[from]) == 0)
        {
            return from;
        }
    }
    return -1;
}


static void create_groups(wk_hook_t *k);


static void
on_read(wk_redis_t *link, redisReply *r, void *data)
{
    wk_hook_t *k = data;
    (void) link;

    k->reading = 0;
    if (r == NULL || k->wh->draining) {
        return;                       /* a reconnect calls on_ready again */
    }
    if (r->type == REDIS_REPLY_ERROR) {
        wk_redis_error("webhook %s: XREADGROUP: %s", k->conf.name, r->str);
        if (strncmp(r->str, "NOGROUP", 7) == 0) {
            create_groups(k);
        }
        return;
    }
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *s = r->element[i];
        if (s->type == REDIS_REPLY_ARRAY && s->elements == 2
            && s->element[1]->type == REDIS_REPLY_ARRAY)
        {
            int from = stream_index(k, s->element[0]);
            if (from >= 0) {
                events_add(k, from, s->element[1], 0);
            }
        }
    }
    hook_dispatch(k);
    hook_read(k);
}


static void
hook_read(wk_hook_t *k)
{
    const wk_config_t *cf = k->wh->cf;

    if (k->reading || k->wh->draining || !k->group_ready
        || !k->reader.connected || k->held >= (size_t) cf->webhook_max_held)
    {
        return;
    }
    char count[24], block[24];
    snprintf(count, sizeof(count), "%zu",
             (size_t) cf->webhook_max_held - k->held);
    snprintf(block, sizeof(block), "%ld", cf->push_block_ms);
    const char *argv[] = {
        "XREADGROUP", "GROUP", k->group, cf->name, "COUNT", count,
        "BLOCK", block, "STREAMS", k->streams[FROM_EVENTS],
        k->streams[FROM_RETRY], ">", ">"
    };
    if (wk_redis_cmdargv(&k->reader, on_read, k, 13, argv, NULL) == 0) {
        k->reading = 1;
    }
}


static void
on_group_created(wk_redis_t *link, redisReply *r, void *data)
{
    wk_hook_t *k = data;
    (void) link;

    k->groups_pending--;
    if (r == NULL) {
        k->group_failed = 1;                 /* on_ready tries again */
    } else if (r->type == REDIS_REPLY_ERROR
               && strncmp(r->str, "BUSYGROUP", 9) != 0)
    {
        wk_redis_error("webhook %s: XGROUP CREATE: %s", k->conf.name, r->str);
        k->group_failed = 1;
    }
    if (k->groups_pending == 0 && !k->group_failed) {
        k->group_ready = 1;
        hook_read(k);
    }
}


/* A new webhook starts with the events written from now on ($); its retry
 * stream is read from its start. */
static void
create_groups(wk_hook_t *k)
{
    k->group_ready = 0;
    k->group_failed = 0;
    if (k->groups_pending) {
        return;
    }
    for (int from = 0; from < NSTREAMS; from++) {
        if (wk_redis_cmd(&k->reader, on_group_created, k,
                         "XGROUP CREATE %s %s %s MKSTREAM", k->streams[from],
                         k->group, from == FROM_EVENTS ? "$" : "0") == 0)
        {
            k->groups_pending++;
        }
    }
}


static void
on_reader_ready(wk_redis_t *link, void *data)
{
    wk_hook_t *k = data;
    (void) link;

    if (!k->wh->draining) {
        create_groups(k);
    }
}


/* ---- claiming ---- */

static void
on_autoclaim(wk_redis_t *link, redisReply *r, void *data)
{
    struct wk_claim_s *ctx = data;
    wk_hook_t *k = ctx->hook;
    int from = ctx->from;
    (void) link;

    k->claiming[from] = 0;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_ARRAY)
    {
        if (r && r->type == REDIS_REPLY_ERROR) {
            wk_redis_error("webhook %s: XAUTOCLAIM: %s", k->conf.name, r->str);
        }
        return;
    }
    if (k->wh->draining) {
        return;
    }
    size_t n = events_add(k, from, r->element[1], 1);
    if (r->elements > 2 && r->element[2]->type == REDIS_REPLY_ARRAY
        && r->element[2]->elements > 0)
    {
        /* trimmed by MAXLEN while pending: nothing left to deliver */
        wk_warn("webhook %s: %zu pending events were trimmed from %s before "
                "delivery; lost", k->conf.name, r->element[2]->elements,
                k->streams[from]);
        for (size_t i = 0; i < r->element[2]->elements; i++) {
            queue_ack(k, from, r->element[2]->element[i]->str);
        }
    }
    if (n) {
        wk_info("webhook %s: claimed %zu events idle for more than %ld ms",
                k->conf.name, n, k->wh->cf->push_claim_idle_ms);
        k->stats.claimed += n;
    }
    snprintf(k->claim_cursor[from], ENTRY_ID_MAX, "%s", r->element[0]->str);
    hook_dispatch(k);
}


/* Keeps the events we hold (some for long, backing off) from looking idle
 * to the other workers. */
static void
refresh_claims(wk_hook_t *k)
{
    ev_tstamp now = ev_now(k->wh->loop);
    double after = k->wh->cf->push_claim_idle_ms / 3000.0;
    wk_id_list_t ids[NSTREAMS];

    memset(ids, 0, sizeof(ids));
    for (wk_delivery_t *d = k->head; d; d = d->next) {
        if (now - d->claimed >= after && id_list_add(&ids[d->from], d->entry)
                                         == 0)
        {
            d->claimed = now;
        }
    }
    for (int from = 0; from < NSTREAMS; from++) {
        for (size_t i = 0; i < ids[from].n; i += ACK_CHUNK) {
            size_t n = ids[from].n - i;
            send_ids(k, from, "XCLAIM", ids[from].ids + i,
                     n < ACK_CHUNK ? n : ACK_CHUNK);
        }
        free(ids[from].ids);
    }
}


static void
hook_claim(wk_hook_t *k)
{
    const wk_config_t *cf = k->wh->cf;
    char idle[24], count[24];

    refresh_claims(k);
    if (k->claiming[FROM_EVENTS] || k->claiming[FROM_RETRY]
        || k->held >= (size_t) cf->webhook_max_held)
    {
        return;
    }
    snprintf(idle, sizeof(idle), "%ld", cf->push_claim_idle_ms);
    snprintf(count, sizeof(count), "%ld", cf->webhook_max_held);
    for (int from = 0; from < NSTREAMS; from++) {
        k->claim_ctx[from].hook = k;
        k->claim_ctx[from].from = from;
        if (wk_redis_cmd(k->wh->cmd, on_autoclaim, &k->claim_ctx[from],
                         "XAUTOCLAIM %s %s %s %s %s COUNT %s",
                         k->streams[from], k->group, cf->name, idle,
                         k->claim_cursor[from], count) == 0)
        {
            k->claiming[from] = 1;
        }
    }
}


static void
on_claim_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_webhooks_t *wh = w->data;
    (void) loop;
    (void) revents;

    for (size_t i = 0; i < wh->nhooks && !wh->draining; i++) {
        if (wh->hooks[i].group_ready) {
            hook_claim(&wh->hooks[i]);
        }
    }
}


/* ---- statistics ---- */

static void
log_stats(wk_hook_t *k, const char *when)
{
    wk_hook_stats_t *s = &k->stats;
    wk_info("webhook %s%s: delivered=%lu retried=%lu dead=%lu skipped=%lu "
            "claimed=%lu", k->conf.name, when, s->delivered, s->retried,
            s->dead, s->skipped, s->claimed);
    k->logged = *s;
}


static void
on_stats_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_webhooks_t *wh = w->data;
    (void) loop;
    (void) revents;

    for (size_t i = 0; i < wh->nhooks; i++) {
        wk_hook_t *k = &wh->hooks[i];
        if (memcmp(&k->stats, &k->logged, sizeof(k->stats)) != 0) {
            log_stats(k, "");
        }
    }
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


static void
hook_start(wk_hook_t *k)
{
    wk_webhooks_t *wh = k->wh;
    const wk_config_t *cf = wh->cf;

    ev_timer_init(&k->wake, on_wake, 0., 0.);
    k->wake.data = k;
    wk_redis_init(&k->reader, wh->loop, cf->redis, k->reader_name,
                  cf->redis_timeout_ms / 1000.0, on_reader_ready, k);
    k->reader.block_extra = cf->push_block_ms / 1000.0;
    k->reader_open = 1;
    wk_info("webhook %s: %s, topics %s%s%s", k->conf.name, k->conf.url,
            k->conf.topics[0] ? k->conf.topics : "all",
            k->conf.skip_idle ? ", Idle reports skipped" : "",
            k->conf.hmac_key[0] ? ", signed" : "");
}


wk_webhooks_t *
wk_webhooks_new(struct ev_loop *loop, const wk_config_t *cf, wk_redis_t *cmd)
{
    wk_webhooks_t *wh = calloc(1, sizeof(*wh));
    if (wh == NULL) {
        return NULL;
    }
    wh->loop = loop;
    wh->cf = cf;
    wh->cmd = cmd;
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
        hook_start(&wh->hooks[i]);
    }

    ev_prepare_init(&wh->flush, on_prepare);
    wh->flush.data = wh;
    ev_prepare_start(loop, &wh->flush);

    double every = cf->push_claim_interval_ms / 1000.0;
    if (every > cf->push_claim_idle_ms / 3000.0) {
        every = cf->push_claim_idle_ms / 3000.0;
    }
    ev_timer_init(&wh->claim, on_claim_timer, every, every);
    wh->claim.data = wh;
    ev_timer_start(loop, &wh->claim);

    ev_timer_init(&wh->stats_timer, on_stats_timer, 60., 60.);
    wh->stats_timer.data = wh;
    ev_timer_start(loop, &wh->stats_timer);
    return wh;
}


static void
check_drained(wk_webhooks_t *wh)
{
    if (!wh->draining || wh->drained == NULL || wh->acks_in_flight) {
        return;
    }
    for (size_t i = 0; i < wh->nhooks; i++) {
        wk_hook_t *k = &wh->hooks[i];
        if (k->sending || k->dead_letters || k->acks[0].n || k->acks[1].n) {
            return;
        }
    }
    void (*cb)(void *) = wh->drained;
    wh->drained = NULL;
    cb(wh->drained_data);
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


void
wk_webhooks_drain(wk_webhooks_t *wh, void (*drained)(void *), void *data)
{
    size_t sending = 0;

    wh->draining = 1;
    wh->drained = drained;
    wh->drained_data = data;
    ev_timer_stop(wh->loop, &wh->claim);
    for (size_t i = 0; i < wh->nhooks; i++) {
        wk_hook_t *k = &wh->hooks[i];
        hook_stop_reading(k);
        /* Waiting events are not ours to finish: left pending. */
        for (wk_delivery_t *d = k->head, *next; d; d = next) {
            next = d->next;
            if (d->state == D_WAITING) {
                delivery_free(d);
            }
        }
        sending += k->sending;
        flush_acks(k);
    }
    if (wh->nhooks) {
        wk_info("webhooks draining: %zu POSTs in flight", sending);
    }
    check_drained(wh);
}


void
wk_webhooks_each_group(const wk_webhooks_t *wh,
                       void (*fn)(const char *stream, const char *group,
                                  void *data),
                       void *data)
{
    for (size_t i = 0; wh && i < wh->nhooks; i++) {
        const wk_hook_t *k = &wh->hooks[i];
        for (int from = 0; from < NSTREAMS; from++) {
            fn(k->streams[from], k->group, data);
        }
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
    if (wh->nhooks) {
        ev_prepare_stop(wh->loop, &wh->flush);
        ev_timer_stop(wh->loop, &wh->claim);
        ev_timer_stop(wh->loop, &wh->stats_timer);
    }
    wk_http_free(wh->http);
    for (size_t i = 0; i < wh->nhooks; i++) {
        wk_hook_t *k = &wh->hooks[i];
        hook_stop_reading(k);
        log_stats(k, " total");
        while (k->head) {
            delivery_free(k->head);
        }
        free(k->acks[0].ids);
        free(k->acks[1].ids);
    }
    free(wh->hooks);
    free(wh);
}
