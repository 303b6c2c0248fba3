#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apns.h"
#include "events.h"
#include "log.h"
#include "mdm_hex.h"
#include "mdm_keys.h"
#include "mdm_script.h"
#include "metrics.h"
#include "push.h"
#include "recent.h"

#define PUSH_STREAM    MDM_KEY_PUSH
#define PUSH_GROUP     MDM_GROUP_PUSHERS
#define ENTRY_ID_MAX   48          /* "<ms>-<seq>": two 20-digit numbers */
#define TOKEN_MAX      256         /* bytes; APNs tokens are 32 today */
#define ACK_CHUNK      1000        /* ids per XACK / XCLAIM command */
#define SPARE_MAX      4096        /* pushes kept for reuse */

typedef char wk_entry_id_t[ENTRY_ID_MAX];

/*
 * One stream entry: it carries one or more enrollment IDs (field `id`,
 * repeated) and makes one job per ID. Its jobs share it; it is acked once
 * every one of them reached a final outcome. A job left pending (SIGTERM
 * backoff, out of memory) leaves the whole entry pending: another worker
 * claims it and redoes all its IDs (at-least-once).
 */
typedef struct wk_entry_s wk_entry_t;

struct wk_entry_s {
    wk_entry_id_t   eid;
    size_t          remaining;      /* jobs not final yet, started or not */
    int             abandoned;      /* a job was left pending: never acked */
    ev_tstamp       claimed;        /* last time our claim was refreshed */
    wk_entry_t     *next, *prev;    /* every entry held */
    wk_entry_t     *qnext;          /* entries with IDs not started yet */
    size_t          todo;           /* IDs not started yet */
    size_t          off;            /* where the next one is in ids */
    char            ids[];          /* the IDs, each NUL-terminated */
};

typedef enum {
    PUSH_LOOKUP,                    /* reading the enrollment */
    PUSH_SENDING,                   /* handed to the APNs client */
    PUSH_WAITING                    /* backing off before another attempt */
} push_state_t;

typedef struct wk_push_s wk_push_t;

struct wk_push_s {
    wk_apns_req_t   req;            /* first: done callbacks get &req */
    wk_consumer_t  *consumer;
    push_state_t    state;
    char           *id;             /* enrollment ID */
    size_t          id_len;
    uint32_t        hash;
    wk_entry_t    **entries;        /* one per job this push answers */
    size_t          nentries, cap;
    unsigned        attempts;
    ev_tstamp       sent;           /* when this attempt went to APNs */
    ev_tstamp       after;          /* the delivered push it waits behind */
    ev_timer        retry;
    int             in_table;
    wk_push_t      *hnext;          /* coalescing table chain */
    wk_push_t      *next, *prev;    /* every live push */
};

typedef struct {
    unsigned long   delivered, dead, rejected, retried, gave_up, skipped,
                    coalesced, claimed;
} wk_push_stats_t;

struct wk_consumer_s {
    struct ev_loop     *loop;
    const wk_config_t  *cf;
    wk_redis_t         *reader;
    wk_redis_t         *cmd;
    wk_apns_t          *apns;
    wk_recent_t        *recent;     /* delivered pushes, push_coalesce_ms */

    int                 group_ready;
    int                 creating_group;
    int                 reading;
    int                 claiming;
    int                 draining;
    char                claim_cursor[ENTRY_ID_MAX];

    /* Pushes not yet on the wire, by enrollment ID: where new jobs join. */
    wk_push_t         **buckets;
    size_t              nbuckets, nitems;
    wk_push_t          *all;
    size_t              held;       /* jobs held (started or not), not final */
    size_t              in_progress;/* pushes in LOOKUP or SENDING */
    size_t              npushes;    /* live pushes */
    size_t              per_entry;  /* most IDs in one entry of the last read */

    wk_entry_t         *entries;    /* every stream entry held */
    wk_entry_t         *todo, *todo_tail; /* entries with IDs not started */

    wk_push_t          *spare;      /* freed pushes kept for reuse */
    size_t              nspare;

    wk_entry_id_t      *acks;       /* XACKs gathered for one loop turn */
    size_t              nacks, acks_cap;
    unsigned            acks_in_flight;

    ev_prepare          flush;
    ev_timer            claim;
    ev_timer            stats_timer;
    wk_push_stats_t     stats, logged;

    void              (*drained)(void *);
    void               *drained_data;
};

static void push_lookup(wk_push_t *p);
static void consumer_read(wk_consumer_t *c);
static void jobs_start(wk_consumer_t *c);
static void consumer_check_drained(wk_consumer_t *c);


/* ---- coalescing table ---- */

static uint32_t
hash_id(const char *s, size_t len)
{
    uint32_t h = 2166136261u;                /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char) s[i]) * 16777619u;
    }
    return h;
}


static wk_push_t *
table_find(wk_consumer_t *c, const char *id, size_t len, uint32_t h)
{
    for (wk_push_t *p = c->buckets[h & (c->nbuckets - 1)]; p; p = p->hnext) {
        if (p->hash == h && p->id_len == len && memcmp(p->id, id, len) == 0) {
            return p;
        }
    }
    return NULL;
}


static void
table_grow(wk_consumer_t *c)
{
    size_t n = c->nbuckets * 2;
    wk_push_t **b = calloc(n, sizeof(*b));
    if (b == NULL) {
        return;                              /* longer chains, still right */
    }
    for (size_t i = 0; i < c->nbuckets; i++) {
        wk_push_t *p = c->buckets[i];
        while (p) {
            wk_push_t *next = p->hnext;
            p->hnext = b[p->hash & (n - 1)];
            b[p->hash & (n - 1)] = p;
            p = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}


static void
table_insert(wk_consumer_t *c, wk_push_t *p)
{
    if (c->nitems >= c->nbuckets) {
        table_grow(c);
    }
    wk_push_t **b = &c->buckets[p->hash & (c->nbuckets - 1)];
    p->hnext = *b;
    *b = p;
    p->in_table = 1;
    c->nitems++;
}


static void
table_remove(wk_consumer_t *c, wk_push_t *p)
{
    if (!p->in_table) {
        return;
    }
    wk_push_t **pp = &c->buckets[p->hash & (c->nbuckets - 1)];
    while (*pp != p) {
        pp = &(*pp)->hnext;
    }
    *pp = p->hnext;
    p->hnext = NULL;
    p->in_table = 0;
    c->nitems--;
}


/* ---- acknowledgements ---- */

static void
on_ack_reply(wk_redis_t *link, redisReply *r, void *data)
{
    wk_consumer_t *c = data;
    (void) link;

    c->acks_in_flight--;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        /* The jobs stay pending; a claim after push_claim_idle_ms redoes them. */
        wk_redis_error("XACK failed: %s", r ? r->str : "Redis connection lost");
    }
    consumer_check_drained(c);
}


/* Sends `n` entry ids as one command: XACK or XCLAIM ... JUSTID. */
static void
send_ids(wk_consumer_t *c, const char *verb, const wk_entry_id_t *ids,
         size_t n)
{
    const char *argv[ACK_CHUNK + 8];
    int argc = 0;

    argv[argc++] = verb;
    argv[argc++] = PUSH_STREAM;
    argv[argc++] = PUSH_GROUP;
    int claim = strcmp(verb, "XCLAIM") == 0;
    if (claim) {
        argv[argc++] = c->cf->name;
        argv[argc++] = "0";
    }
    for (size_t i = 0; i < n; i++) {
        argv[argc++] = ids[i];
    }
    if (claim) {
        argv[argc++] = "JUSTID";
    }

    if (wk_redis_cmdargv(c->cmd, claim ? NULL : on_ack_reply, c, argc, argv,
                         NULL) == 0 && !claim)
    {
        c->acks_in_flight++;
    } else if (!claim && !c->cmd->connected) {
        wk_error("XACK of %zu jobs lost: Redis is down; they will be "
                 "claimed again", n);
    }
}


/*
 * `pushers` is the only group reading mdm:push, so an acknowledged job is
 * done for good: deleting it keeps the stream as short as the backlog.
 */
static void
delete_jobs(wk_consumer_t *c, const wk_entry_id_t *ids, size_t n)
{
    const char *argv[ACK_CHUNK + 2];
    int argc = 0;

    argv[argc++] = "XDEL";
    argv[argc++] = PUSH_STREAM;
    for (size_t i = 0; i < n; i++) {
        argv[argc++] = ids[i];
    }

    wk_redis_cmdargv(c->cmd, NULL, c, argc, argv, NULL);
}


static void
flush_acks(wk_consumer_t *c)
{
    for (size_t i = 0; i < c->nacks; i += ACK_CHUNK) {
        size_t n = c->nacks - i < ACK_CHUNK ? c->nacks - i : ACK_CHUNK;
        send_ids(c, "XACK", c->acks + i, n);
        delete_jobs(c, c->acks + i, n);
    }
    c->nacks = 0;
}


/* Runs once per loop turn, before blocking: one XACK for all final pushes. */
static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    wk_consumer_t *c = w->data;
    (void) loop;
    (void) revents;

    jobs_start(c);
    if (c->nacks) {
        flush_acks(c);
    }
    consumer_read(c);
}


static void
queue_ack(wk_consumer_t *c, const wk_entry_id_t id)
{
    if (c->nacks == c->acks_cap) {
        size_t cap = c->acks_cap ? c->acks_cap * 2 : 1024;
        wk_entry_id_t *a = realloc(c->acks, cap * sizeof(*a));
        if (a == NULL) {
            flush_acks(c);
            if (c->nacks == c->acks_cap) {
                return;
            }
        } else {
            c->acks = a;
            c->acks_cap = cap;
        }
    }
    memcpy(c->acks[c->nacks++], id, ENTRY_ID_MAX);
}


/* ---- stream entries ---- */

static void
entry_free(wk_consumer_t *c, wk_entry_t *en)
{
    if (en->prev) {
        en->prev->next = en->next;
    } else {
        c->entries = en->next;
    }
    if (en->next) {
        en->next->prev = en->prev;
    }
    free(en);
}


/* One job of `en` is final (`ack`) or left pending: the last one acks it. */
static void
entry_done(wk_consumer_t *c, wk_entry_t *en, int ack)
{
    c->held--;
    if (!ack) {
        en->abandoned = 1;
    }
    if (--en->remaining > 0) {
        return;
    }
    if (!en->abandoned) {
        queue_ack(c, en->eid);
    }
    entry_free(c, en);
}


/* IDs not started yet stay pending (draining): their entries are not acked. */
static void
entries_drop_todo(wk_consumer_t *c)
{
    wk_entry_t *en;

    while ((en = c->todo) != NULL) {
        c->todo = en->qnext;
        en->qnext = NULL;
        c->held -= en->todo;
        en->remaining -= en->todo;
        en->todo = 0;
        en->abandoned = 1;
        if (en->remaining == 0) {
            entry_free(c, en);
        }
    }
    c->todo_tail = NULL;
}


/* ---- pushes ---- */

static void
push_release(wk_consumer_t *c, wk_push_t *p)
{
    if (c->nspare < SPARE_MAX && !c->draining) {
        p->next = c->spare;
        c->spare = p;
        c->nspare++;
        return;
    }
    free(p->entries);
    free(p);
}


static wk_push_t *
push_new(wk_consumer_t *c, const char *id, size_t len, uint32_t h)
{
    /*
     * A push is 2 KB: reusing them spares malloc the large-chunk path
     * (and its fastbin consolidation) for every job.
     */
    wk_push_t *p = c->spare;
    if (p) {
        c->spare = p->next;
        c->nspare--;
        wk_entry_t **entries = p->entries;
        size_t cap = p->cap;
        memset(p, 0, offsetof(wk_push_t, req.path));
        memset(&p->consumer, 0, sizeof(*p) - offsetof(wk_push_t, consumer));
        /* the previous push's answer must not speak for this one */
        p->req.status = 0;
        p->req.apns_id[0] = '\0';
        p->req.reason[0] = '\0';
        p->req.timestamp = 0;
        p->entries = entries;
        p->cap = cap;
    } else if ((p = calloc(1, sizeof(*p))) == NULL) {
        return NULL;
    }
    if ((p->id = malloc(len + 1)) == NULL) {
        push_release(c, p);
        return NULL;
    }
    memcpy(p->id, id, len);
    p->id[len] = '\0';
    p->id_len = len;
    p->hash = h;
    p->consumer = c;
    ev_init(&p->retry, NULL);
    p->retry.data = p;

    p->next = c->all;
    if (c->all) {
        c->all->prev = p;
    }
    c->all = p;
    c->npushes++;
    return p;
}


/* The push answers one more job, of stream entry `en`. */
static int
push_add_entry(wk_push_t *p, wk_entry_t *en)
{
    if (p->nentries == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 2;
        wk_entry_t **e = realloc(p->entries, cap * sizeof(*e));
        if (e == NULL) {
            return -1;
        }
        p->entries = e;
        p->cap = cap;
    }
    p->entries[p->nentries++] = en;
    return 0;
}


/* Forgets a push; its jobs are final if `ack`, else left pending. */
static void
push_free(wk_push_t *p, int ack)
{
    wk_consumer_t *c = p->consumer;

    for (size_t i = 0; i < p->nentries; i++) {
        entry_done(c, p->entries[i], ack);
    }
    p->nentries = 0;
    c->npushes--;
    table_remove(c, p);
    ev_timer_stop(c->loop, &p->retry);
    if (p->prev) {
        p->prev->next = p->next;
    } else {
        c->all = p->next;
    }
    if (p->next) {
        p->next->prev = p->prev;
    }
    free(p->id);
    push_release(c, p);
    consumer_check_drained(c);
}


static void
push_on_retry_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_push_t *p = w->data;
    (void) loop;
    (void) revents;
    push_lookup(p);
}


/* Jobs that arrived during the attempt go with this push: 1 if it merged. */
static int
push_join_waiting(wk_push_t *p)
{
    wk_consumer_t *c = p->consumer;
    wk_push_t *other = p->in_table ? NULL
                       : table_find(c, p->id, p->id_len, p->hash);

    if (other) {
        for (size_t i = 0; i < p->nentries; i++) {
            if (push_add_entry(other, p->entries[i]) != 0) {
                entry_done(c, p->entries[i], 0);
            }
        }
        p->nentries = 0;
        push_free(p, 0);
        return 1;
    }
    if (!p->in_table) {
        table_insert(c, p);
    }
    return 0;
}


/* A final failure: counted, and an mdm.PushFailed event for the readers. */
static void
push_failed(wk_push_t *p, int status, const char *reason)
{
    wk_consumer_t *c = p->consumer;

    wk_metric_add(WK_M_PUSH_FAILED, 1);
    wk_event_push_failed(c->cmd, c->cf, p->id, status, reason);
}


/* Waits before the next attempt, or gives up when attempts are spent. */
static void
push_retry(wk_push_t *p, const char *why)
{
    wk_consumer_t *c = p->consumer;
    const wk_config_t *cf = c->cf;

    c->in_progress--;
    if (++p->attempts >= (unsigned) cf->max_attempts) {
        wk_error("push %s: giving up after %u attempts: %s", p->id,
                 p->attempts, why);
        c->stats.gave_up++;
        push_failed(p, p->req.status,
                    p->req.reason[0] ? p->req.reason : "AttemptsExhausted");
        push_free(p, 1);
        return;
    }
    if (c->draining) {
        push_free(p, 0);                      /* another worker claims it */
        return;
    }
    c->stats.retried++;
    wk_metric_add(WK_M_PUSH_RETRIES, 1);
    if (push_join_waiting(p)) {
        return;
    }

    unsigned shift = p->attempts - 1 < 20 ? p->attempts - 1 : 20;
    double delay = cf->backoff_base_ms / 1000.0 * (double) (1u << shift);
    if (delay > cf->backoff_max_ms / 1000.0) {
        delay = cf->backoff_max_ms / 1000.0;
    }
    /* Half fixed, half random: spreads a burst of 429s over time. */
    delay = delay / 2 + delay / 2 * (rand() / (double) RAND_MAX);
    wk_debug("push %s: attempt %u failed (%s), next in %.2f s", p->id,
             p->attempts, why, delay);
    p->state = PUSH_WAITING;
    ev_set_cb(&p->retry, push_on_retry_timer);
    ev_timer_set(&p->retry, delay, 0.);
    ev_timer_start(c->loop, &p->retry);
}


static void
push_final(wk_push_t *p)
{
    p->consumer->in_progress--;
    push_free(p, 1);
}


/* Writes `{"mdm":"<magic>"}`; -1 if it does not fit. */
static int
build_body(wk_apns_req_t *req, const char *magic, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *out = req->body, *end = req->body + sizeof(req->body) - 3;

    out += sprintf(out, "{\"mdm\":\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char) magic[i];
        if (out + 6 > end) {
            return -1;
        }
        if (ch == '"' || ch == '\\') {
            *out++ = '\\';
            *out++ = (char) ch;
        } else if (ch < 0x20) {
            out += sprintf(out, "\\u00%c%c", hex[ch >> 4], hex[ch & 15]);
        } else {
            *out++ = (char) ch;
        }
    }
    *out++ = '"';
    *out++ = '}';
    *out = '\0';
    req->body_len = (size_t) (out - req->body);
    return 0;
}


static const char *
reply_str(const redisReply *r, size_t i, size_t *len)
{
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_STRING || e->len == 0) {
        *len = 0;
        return NULL;
    }
    *len = e->len;
    return e->str;
}


/* HMGET fields: token, push_magic, topic, enabled, push_dead, last_seen. */
static const char *
push_prepare(wk_push_t *p, const redisReply *r)
{
    size_t tlen, mlen, toplen, elen, dlen;
    const char *token = reply_str(r, 0, &tlen);
    const char *magic = reply_str(r, 1, &mlen);
    const char *topic = reply_str(r, 2, &toplen);
    const char *enabled = reply_str(r, 3, &elen);

    if (enabled == NULL || elen != 1 || enabled[0] != '1') {
        return "not enabled";
    }
    if (token == NULL) {
        return "no token";
    }
    if (reply_str(r, 4, &dlen) != NULL) {
        return "token is dead (push_dead)";
    }
    if (magic == NULL || topic == NULL) {
        return "no push magic or topic";
    }
    if (tlen > TOKEN_MAX || toplen >= sizeof(p->req.topic)) {
        return "token or topic too long";
    }
    memcpy(p->req.topic, topic, toplen);
    p->req.topic[toplen] = '\0';
    memcpy(p->req.path, "/3/device/", 10);
    mdm_hex_encode((const unsigned char *) token, tlen, p->req.path + 10);
    if (build_body(&p->req, magic, mlen) != 0) {
        return "push magic too long";
    }
    return NULL;
}


/*
 * A push deferred behind one delivered moments ago is not needed while the
 * device has not been heard of since that one left: answering it, the
 * device fetches the whole queue, this job's command included. last_seen
 * is in whole seconds, so the same second counts as heard of.
 */
static int
push_answered_by_earlier(const wk_push_t *p, const redisReply *last_seen)
{
    if (p->after == 0) {
        return 0;
    }
    long seen = last_seen->type == REDIS_REPLY_STRING
                ? strtol(last_seen->str, NULL, 10) : 0;
    return seen < (long) p->after;
}


static void
push_on_lookup(wk_redis_t *link, redisReply *r, void *data)
{
    wk_push_t *p = data;
    wk_consumer_t *c = p->consumer;
    (void) link;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
        push_retry(p, r && r->type == REDIS_REPLY_ERROR ? r->str
                                                        : "Redis lookup failed");
        return;
    }
    const char *skip = push_prepare(p, r);
    if (skip) {
        wk_debug("push %s: skipped, %s", p->id, skip);
        c->stats.skipped++;
        push_final(p);
        return;
    }
    if (push_answered_by_earlier(p, r->element[5])) {
        wk_debug("push %s: coalesced with the one delivered %.0f ms "
                 "before, not yet answered by the device", p->id,
                 (ev_now(c->loop) - p->after) * 1000);
        c->stats.coalesced++;
        wk_metric_add(WK_M_PUSH_COALESCED, 1);
        push_final(p);
        return;
    }
    /* From here on new jobs need a new push: this one may beat them. */
    table_remove(c, p);
    p->state = PUSH_SENDING;
    p->sent = ev_now(c->loop);
    p->req.status = 0;                  /* no stale status in the counts */
    wk_apns_send(c->apns, &p->req);
}


static void
push_lookup(wk_push_t *p)
{
    wk_consumer_t *c = p->consumer;

    char key[MDM_KEY_MAX];
    const char *argv[] = { "HMGET", key, "token", "push_magic", "topic",
                           "enabled", "push_dead", "last_seen" };

    p->state = PUSH_LOOKUP;
    c->in_progress++;
    if (mdm_key_enrollment(key, p->id) == 0) {
        c->in_progress--;
        wk_error("push %.64s...: enrollment ID too long, job dropped", p->id);
        push_free(p, 1);
        return;
    }
    if (wk_redis_cmdargv(c->cmd, push_on_lookup, p, 8, argv, NULL) != 0) {
        push_retry(p, "Redis is down");
    }
}


static void
push_log_dead(wk_push_t *p)
{
    wk_consumer_t *c = p->consumer;
    const mdm_script_t *script = mdm_script_find("push_dead");
    char now[24], key[MDM_KEY_MAX];
    const char *token = p->req.path + sizeof("/3/device/") - 1;

    /* rare (only refused tokens), so plain EVAL: no SHA bookkeeping here */
    const char *argv[] = { "EVAL", script->src, "1", key, token, now };
    size_t argvlen[] = { 4, script->len, 1, 0, strlen(token), 0 };

    snprintf(now, sizeof(now), "%ld", (long) time(NULL));
    argvlen[3] = mdm_key_enrollment(key, p->id);
    argvlen[5] = strlen(now);
    wk_info("push %s: APNs %d %s: token marked dead", p->id, p->req.status,
            p->req.reason);
    if (wk_redis_cmdargv(c->cmd, NULL, NULL, 6, argv, argvlen) != 0) {
        wk_error("push %s: cannot set push_dead: Redis is down", p->id);
    }
}


static void
push_on_done(wk_apns_req_t *req, wk_apns_outcome_t out, void *data)
{
    wk_push_t *p = (wk_push_t *) req;
    wk_consumer_t *c = data;

    /* A stopped topic fails its pushes without asking APNs: still a 403. */
    wk_metric_push_status(out == WK_APNS_FORBIDDEN ? 403 : req->status);
    switch (out) {
    case WK_APNS_OK:
        wk_debug("push %s: delivered, apns-id %s", p->id, req->apns_id);
        c->stats.delivered++;
        wk_recent_mark(c->recent, p->id, p->id_len, p->hash, p->sent,
                       ev_now(c->loop));
        break;
    case WK_APNS_DEAD_TOKEN:
        push_log_dead(p);
        c->stats.dead++;
        push_failed(p, req->status, req->reason);
        break;
    case WK_APNS_REJECTED:
        wk_error("push %s: APNs %d %s: not retried", p->id, req->status,
                 req->reason[0] ? req->reason : "(no reason)");
        c->stats.rejected++;
        push_failed(p, req->status, req->reason);
        break;
    case WK_APNS_FORBIDDEN:
        wk_debug("push %s: topic %s stopped (403)", p->id, req->topic);
        c->stats.rejected++;
        push_failed(p, 403, req->reason[0] ? req->reason : "TopicStopped");
        break;
    case WK_APNS_RETRY: {
        char why[96];
        snprintf(why, sizeof(why), "%d %s", req->status, req->reason);
        push_retry(p, why);
        return;
    }
    }
    push_final(p);
}


/*
 * A push was delivered to this enrollment within push_coalesce_ms: wait
 * for the window to pass (jobs that come meanwhile join), then push only if
 * the device has been heard of since.
 */
static void
push_defer(wk_push_t *p, ev_tstamp sent)
{
    wk_consumer_t *c = p->consumer;
    double delay = sent + c->cf->push_coalesce_ms / 1000.0 - ev_now(c->loop);

    p->after = sent;
    p->state = PUSH_WAITING;
    ev_set_cb(&p->retry, push_on_retry_timer);
    ev_timer_set(&p->retry, delay > 0 ? delay : 0., 0.);
    ev_timer_start(c->loop, &p->retry);
}


/* A job from the stream: join a push that has not left yet, or start one. */
static void
job_add(wk_consumer_t *c, wk_entry_t *en, const char *id, size_t len)
{
    uint32_t h = hash_id(id, len);
    wk_push_t *p = table_find(c, id, len, h);

    if (p) {
        if (push_add_entry(p, en) == 0) {
            c->stats.coalesced++;
        } else {
            wk_error("push %s: out of memory, job left pending", id);
            entry_done(c, en, 0);
        }
        return;
    }
    p = push_new(c, id, len, h);
    if (p == NULL || push_add_entry(p, en) != 0) {
        wk_error("push %s: out of memory, job left pending", id);
        if (p) {
            push_free(p, 0);
        }
        entry_done(c, en, 0);
        return;
    }
    table_insert(c, p);
    ev_tstamp sent = wk_recent_get(c->recent, id, len, h, ev_now(c->loop));
    if (sent > 0) {
        push_defer(p, sent);
        return;
    }
    push_lookup(p);
}


/*
 * Turns the IDs of the entries held into jobs, while fewer than
 * push_max_inflight pushes are live: a read of entries with 1000 IDs each
 * holds them as compact strings, not as pushes.
 */
static void
jobs_start(wk_consumer_t *c)
{
    while (c->todo && !c->draining
           && c->npushes < (size_t) c->cf->push_max_inflight)
    {
        wk_entry_t *en = c->todo;
        const char *id = en->ids + en->off;
        size_t len = strlen(id);

        en->off += len + 1;
        if (--en->todo == 0) {
            c->todo = en->qnext;
            if (c->todo == NULL) {
                c->todo_tail = NULL;
            }
            en->qnext = NULL;
        }
        job_add(c, en, id, len);        /* may free en: not used after */
    }
}


static int
job_id_ok(const redisReply *field, const redisReply *value)
{
    return field->type == REDIS_REPLY_STRING && field->len == 2
           && memcmp(field->str, "id", 2) == 0
           && value->type == REDIS_REPLY_STRING && value->len > 0
           && memchr(value->str, '\0', value->len) == NULL;
}


/*
 * Entries as XREADGROUP and XAUTOCLAIM return them: [id, [field, value…]],
 * field `id` once or repeated. Returns the number of jobs (IDs) taken.
 */
static size_t
jobs_add(wk_consumer_t *c, const redisReply *entries)
{
    size_t n = 0, most = 0;

    if (c->draining) {
        return 0;                            /* left pending for the others */
    }
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING)
        {
            continue;                        /* deleted from the stream */
        }
        const redisReply *eid = e->element[0];
        const redisReply *f = e->element[1];
        if (eid->len >= ENTRY_ID_MAX) {
            wk_warn("job %.64s: entry id too long, ignored", eid->str);
            continue;
        }
        size_t count = 0, bytes = 0;
        for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements;
             j += 2)
        {
            if (job_id_ok(f->element[j], f->element[j + 1])) {
                count++;
                bytes += f->element[j + 1]->len + 1;
            }
        }
        if (count == 0) {
            wk_warn("job %s: no enrollment id, dropped", eid->str);
            wk_entry_id_t drop = "";
            memcpy(drop, eid->str, eid->len + 1);
            queue_ack(c, drop);
            continue;
        }
        wk_entry_t *en = malloc(sizeof(*en) + bytes);
        if (en == NULL) {
            wk_error("job %s: out of memory, left pending", eid->str);
            continue;
        }
        memcpy(en->eid, eid->str, eid->len + 1);
        en->remaining = en->todo = count;
        en->abandoned = 0;
        en->off = 0;
        en->claimed = ev_now(c->loop);
        char *out = en->ids;
        for (size_t j = 0; j + 1 < f->elements; j += 2) {
            if (job_id_ok(f->element[j], f->element[j + 1])) {
                const redisReply *v = f->element[j + 1];
                memcpy(out, v->str, v->len);
                out[v->len] = '\0';
                out += v->len + 1;
            }
        }
        en->prev = NULL;
        en->next = c->entries;
        if (c->entries) {
            c->entries->prev = en;
        }
        c->entries = en;
        en->qnext = NULL;
        if (c->todo_tail) {
            c->todo_tail->qnext = en;
        } else {
            c->todo = en;
        }
        c->todo_tail = en;
        c->held += count;
        n += count;
        if (count > most) {
            most = count;
        }
    }
    if (most) {
        c->per_entry = most;
    }
    jobs_start(c);
    return n;
}


/* Entries to ask for: room for push_max_inflight jobs, at push_batch most. */
static size_t
read_count(const wk_consumer_t *c)
{
    size_t room = (size_t) c->cf->push_max_inflight - c->held;
    size_t count = room / (c->per_entry ? c->per_entry : 1);

    if (count == 0) {
        count = 1;
    }
    return count < (size_t) c->cf->push_batch
           ? count : (size_t) c->cf->push_batch;
}


/* ---- stream reading ---- */

static void
on_group_created(wk_redis_t *link, redisReply *r, void *data)
{
    wk_consumer_t *c = data;
    (void) link;

    c->creating_group = 0;
    if (r == NULL) {
        return;                              /* on_ready will try again */
    }
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        wk_redis_error("XGROUP CREATE %s %s: %s", PUSH_STREAM, PUSH_GROUP, r->str);
        return;
    }
    c->group_ready = 1;
    consumer_read(c);
}


static void
consumer_create_group(wk_consumer_t *c)
{
    if (c->creating_group) {
        return;
    }
    /* From 0: jobs written before the first worker ever started count too. */
    if (wk_redis_cmd(c->cmd, on_group_created, c,
                     "XGROUP CREATE %s " PUSH_GROUP " 0 MKSTREAM",
                     PUSH_STREAM) == 0)
    {
        c->creating_group = 1;
    }
}


static void
on_read(wk_redis_t *link, redisReply *r, void *data)
{
    wk_consumer_t *c = data;
    (void) link;

    c->reading = 0;
    if (r == NULL) {
        return;                              /* reconnect calls us again */
    }
    if (r->type == REDIS_REPLY_ERROR) {
        wk_redis_error("XREADGROUP: %s", r->str);
        if (strncmp(r->str, "NOGROUP", 7) == 0) {
            c->group_ready = 0;
            consumer_create_group(c);
        }
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        const redisReply *s = r->element[0];
        if (s->type == REDIS_REPLY_ARRAY && s->elements == 2
            && s->element[1]->type == REDIS_REPLY_ARRAY)
        {
            jobs_add(c, s->element[1]);
        }
    }
    /* The next read goes out from on_prepare, after this turn's XACKs. */
}


static void
consumer_read(wk_consumer_t *c)
{
    if (c->reading || c->draining || !c->group_ready || !c->reader->connected
        || c->held >= (size_t) c->cf->push_max_inflight)
    {
        return;
    }
    char cnt[24], block[24];
    snprintf(cnt, sizeof(cnt), "%zu", read_count(c));
    snprintf(block, sizeof(block), "%ld", c->cf->push_block_ms);

    if (wk_redis_cmd(c->reader, on_read, c,
                     "XREADGROUP GROUP " PUSH_GROUP " %s COUNT %s BLOCK %s "
                     "STREAMS %s >", c->cf->name, cnt, block, PUSH_STREAM) == 0)
    {
        c->reading = 1;
    }
}


/* ---- claiming ---- */

static void
on_autoclaim(wk_redis_t *link, redisReply *r, void *data)
{
    wk_consumer_t *c = data;
    (void) link;

    c->claiming = 0;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_ARRAY)
    {
        if (r && r->type == REDIS_REPLY_ERROR) {
            wk_redis_error("XAUTOCLAIM: %s", r->str);
        }
        return;
    }
    size_t n = jobs_add(c, r->element[1]);
    if (n) {
        wk_info("claimed %zu jobs idle for more than %ld ms", n,
                c->cf->push_claim_idle_ms);
        c->stats.claimed += n;
    }
    snprintf(c->claim_cursor, sizeof(c->claim_cursor), "%s",
             r->element[0]->str);
}


/* Keeps the jobs we hold from looking idle to the other workers. */
static void
refresh_claims(wk_consumer_t *c)
{
    ev_tstamp now = ev_now(c->loop);
    double after = c->cf->push_claim_idle_ms / 3000.0;
    wk_entry_id_t *ids = NULL;
    size_t n = 0, cap = 0;

    for (wk_entry_t *en = c->entries; en; en = en->next) {
        if (now - en->claimed < after) {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            wk_entry_id_t *grown = realloc(ids, cap * sizeof(*ids));
            if (grown == NULL) {
                break;
            }
            ids = grown;
        }
        en->claimed = now;
        memcpy(ids[n++], en->eid, ENTRY_ID_MAX);
    }
    for (size_t i = 0; i < n; i += ACK_CHUNK) {
        send_ids(c, "XCLAIM", ids + i, n - i < ACK_CHUNK ? n - i : ACK_CHUNK);
    }
    free(ids);
}


static void
on_claim_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_consumer_t *c = w->data;
    (void) loop;
    (void) revents;

    if (c->draining || !c->group_ready) {
        return;
    }
    refresh_claims(c);
    if (c->claiming || c->held >= (size_t) c->cf->push_max_inflight) {
        return;
    }
    char idle[24], count[24];
    snprintf(idle, sizeof(idle), "%ld", c->cf->push_claim_idle_ms);
    snprintf(count, sizeof(count), "%zu", read_count(c));
    if (wk_redis_cmd(c->cmd, on_autoclaim, c,
                     "XAUTOCLAIM %s " PUSH_GROUP " %s %s %s "
                     "COUNT %s", PUSH_STREAM, c->cf->name, idle,
                     c->claim_cursor, count) == 0)
    {
        c->claiming = 1;
    }
}


/* ---- statistics ---- */

static void
log_stats(wk_consumer_t *c, const char *when)
{
    wk_push_stats_t *s = &c->stats;
    wk_info("pushes%s: delivered=%lu dead=%lu rejected=%lu skipped=%lu "
            "retried=%lu gave_up=%lu coalesced=%lu claimed=%lu", when,
            s->delivered, s->dead, s->rejected, s->skipped, s->retried,
            s->gave_up, s->coalesced, s->claimed);
    c->logged = *s;
}


static void
on_stats_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_consumer_t *c = w->data;
    (void) loop;
    (void) revents;

    if (memcmp(&c->stats, &c->logged, sizeof(c->stats)) != 0) {
        log_stats(c, "");
    }
}


/* ---- public API ---- */

wk_consumer_t *
wk_consumer_new(struct ev_loop *loop, const wk_config_t *cf,
                wk_redis_t *reader, wk_redis_t *cmd)
{
    wk_consumer_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->loop = loop;
    c->cf = cf;
    c->reader = reader;
    c->cmd = cmd;
    strcpy(c->claim_cursor, "0-0");
    c->per_entry = 1;
    c->nbuckets = 1024;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    c->apns = wk_apns_new(loop, cf, cmd, push_on_done, c);
    c->recent = wk_recent_new(cf->push_coalesce_ms / 1000.0);
    if (c->buckets == NULL || c->apns == NULL || c->recent == NULL) {
        wk_recent_free(c->recent);
        free(c->buckets);
        free(c);
        return NULL;
    }
    reader->block_extra = cf->push_block_ms / 1000.0;

    ev_prepare_init(&c->flush, on_prepare);
    c->flush.data = c;
    ev_prepare_start(loop, &c->flush);

    double every = cf->push_claim_interval_ms / 1000.0;
    if (every > cf->push_claim_idle_ms / 3000.0) {
        every = cf->push_claim_idle_ms / 3000.0;
    }
    ev_timer_init(&c->claim, on_claim_timer, every, every);
    c->claim.data = c;
    ev_timer_start(loop, &c->claim);

    ev_timer_init(&c->stats_timer, on_stats_timer, 60., 60.);
    c->stats_timer.data = c;
    ev_timer_start(loop, &c->stats_timer);
    return c;
}


void
wk_consumer_on_redis_ready(wk_consumer_t *c)
{
    if (c->draining) {
        return;
    }
    if (!c->group_ready) {
        consumer_create_group(c);
    }
    consumer_read(c);
}


void
wk_consumer_reload(wk_consumer_t *c)
{
    wk_info("reloading push certificates");
    wk_apns_reload(c->apns);
}


static void
consumer_check_drained(wk_consumer_t *c)
{
    if (c->draining && c->drained && c->in_progress == 0 && c->nacks == 0
        && c->acks_in_flight == 0)
    {
        void (*cb)(void *) = c->drained;
        c->drained = NULL;
        cb(c->drained_data);
    }
}


void
wk_consumer_drain(wk_consumer_t *c, void (*drained)(void *), void *data)
{
    c->draining = 1;
    c->drained = drained;
    c->drained_data = data;
    ev_timer_stop(c->loop, &c->claim);
    entries_drop_todo(c);

    /* Backing-off pushes are not ours to finish: leave them pending. */
    wk_push_t *p = c->all;
    while (p) {
        wk_push_t *next = p->next;
        if (p->state == PUSH_WAITING) {
            push_free(p, 0);
        }
        p = next;
    }
    wk_info("draining: %zu pushes in progress", c->in_progress);
    if (c->nacks) {
        flush_acks(c);
    }
    consumer_check_drained(c);
}


void
wk_consumer_free(wk_consumer_t *c)
{
    c->drained = NULL;
    c->draining = 1;
    ev_prepare_stop(c->loop, &c->flush);
    ev_timer_stop(c->loop, &c->claim);
    ev_timer_stop(c->loop, &c->stats_timer);
    wk_apns_free(c->apns);
    while (c->all) {
        push_free(c->all, 0);
    }
    entries_drop_todo(c);
    while (c->entries) {
        entry_free(c, c->entries);
    }
    log_stats(c, " total");
    while (c->spare) {
        wk_push_t *p = c->spare;
        c->spare = p->next;
        free(p->entries);
        free(p);
    }
    wk_recent_free(c->recent);
    free(c->acks);
    free(c->buckets);
    free(c);
}
