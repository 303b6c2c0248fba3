#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apns.h"
#include "backoff.h"
#include "events.h"
#include "log.h"
#include "mdm_hex.h"
#include "mdm_keys.h"
#include "mdm_script.h"
#include "metrics.h"
#include "push.h"
#include "recent.h"
#include "stream.h"

#define TOKEN_MAX      256         /* bytes; APNs tokens are 32 today */
#define SPARE_MAX      4096        /* pushes kept for reuse */

/*
 * One stream entry: it carries one or more enrollment IDs (field `id`,
 * repeated) and makes one job per ID. Its jobs share it; it is acked once
 * every one of them reached a final outcome. A job left pending (SIGTERM
 * backoff, out of memory) leaves the whole entry pending: another worker
 * claims it and redoes all its IDs (at-least-once).
 */
typedef struct wk_entry_s wk_entry_t;

struct wk_entry_s {
    wk_stream_entry_t se;           /* held in the group until final */
    size_t          remaining;      /* jobs not final yet, started or not */
    int             abandoned;      /* a job was left pending: never acked */
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
    wk_dict_node_t  node;           /* in the coalescing table, key id */
    wk_entry_t    **entries;        /* one per job this push answers */
    size_t          nentries, cap;
    unsigned        attempts;
    ev_tstamp       sent;           /* when this attempt went to APNs */
    ev_tstamp       after;          /* the delivered push it waits behind */
    ev_timer        retry;
    int             in_table;
    wk_push_t      *next, *prev;    /* every live push */
};

typedef struct {
    unsigned long   delivered, dead, rejected, retried, gave_up, skipped,
                    coalesced, claimed;
} wk_push_stats_t;

struct wk_consumer_s {
    struct ev_loop     *loop;
    const wk_config_t  *cf;
    wk_redis_t         *cmd;
    wk_apns_t          *apns;
    wk_recent_t        *recent;     /* delivered pushes, push_coalesce_ms */
    wk_stream_group_t  *group;      /* `pushers` on the push stream(s) */
    int                 draining;

    /* Pushes not yet on the wire, by enrollment ID: where new jobs join. */
    wk_dict_t           table;
    wk_push_t          *all;
    size_t              held;       /* jobs held (started or not), not final */
    size_t              in_progress;/* pushes in LOOKUP or SENDING */
    size_t              npushes;    /* live pushes */
    size_t              per_entry;  /* most IDs in one entry of the last read */
    size_t              batch_most; /* most IDs in one entry of this batch */

    wk_entry_t         *todo, *todo_tail; /* entries with IDs not started */

    wk_push_t          *spare;      /* freed pushes kept for reuse */
    size_t              nspare;

    wk_totals_t         totals;
    wk_push_stats_t     stats, logged;
};

static void push_lookup(wk_push_t *p);
static void jobs_start(wk_consumer_t *c);


/* ---- coalescing table ---- */

static wk_push_t *
table_find(wk_consumer_t *c, const char *id, size_t len, uint64_t h)
{
    wk_dict_node_t *n = wk_dict_find(&c->table, id, len, h);

    return n ? wk_dict_entry(n, wk_push_t, node) : NULL;
}


static void
table_insert(wk_consumer_t *c, wk_push_t *p)
{
    wk_dict_add(&c->table, &p->node);
    p->in_table = 1;
}


static void
table_remove(wk_consumer_t *c, wk_push_t *p)
{
    if (p->in_table) {
        wk_dict_delete(&c->table, &p->node);
        p->in_table = 0;
    }
}


/* ---- stream entries ---- */

/* The entry's last job is done: acked if every job was final. */
static void
entry_free(wk_consumer_t *c, wk_entry_t *en)
{
    if (en->abandoned) {
        wk_stream_release(c->group, &en->se);
    } else {
        wk_stream_ack(c->group, &en->se);
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
    if (--en->remaining == 0) {
        entry_free(c, en);
    }
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
push_new(wk_consumer_t *c, const char *id, size_t len, uint64_t h)
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
    wk_dict_node_set(&p->node, p->id, len, h);
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
                       : table_find(c, p->id, p->id_len, p->node.hash);

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

    double delay = wk_backoff(cf->backoff_base_ms, cf->backoff_max_ms,
                              p->attempts);
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


/* HMGET fields: token, push_magic, topic, enabled, push_dead, last_seen. */
static const char *
push_prepare(wk_push_t *p, const redisReply *r)
{
    size_t tlen, mlen, toplen, elen, dlen;
    const char *token = wk_reply_str(r, 0, &tlen);
    const char *magic = wk_reply_str(r, 1, &mlen);
    const char *topic = wk_reply_str(r, 2, &toplen);
    const char *enabled = wk_reply_str(r, 3, &elen);

    if (enabled == NULL || elen != 1 || enabled[0] != '1') {
        return "not enabled";
    }
    if (token == NULL) {
        return "no token";
    }
    if (wk_reply_str(r, 4, &dlen) != NULL) {
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
        wk_recent_mark(c->recent, p->id, p->id_len, p->node.hash, p->sent,
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
    uint64_t h = wk_dict_hash(id, len);
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
 * One entry read or claimed (stream.h): field `id` once or repeated, one
 * job per ID. Returns the number of jobs taken.
 */
static size_t
push_on_entry(void *data, unsigned key, const char *eid,
              const redisReply *f, int claimed)
{
    wk_consumer_t *c = data;
    size_t count = 0, bytes = 0;
    (void) claimed;

    for (size_t j = 0; j + 1 < f->elements; j += 2) {
        if (job_id_ok(f->element[j], f->element[j + 1])) {
            count++;
            bytes += f->element[j + 1]->len + 1;
        }
    }
    if (count == 0) {
        wk_warn("job %s: no enrollment id, dropped", eid);
        wk_stream_ack_id(c->group, key, eid);
        return 0;
    }
    wk_entry_t *en = malloc(sizeof(*en) + bytes);
    if (en == NULL || wk_stream_hold(c->group, &en->se, key, eid) != 0) {
        wk_error("job %s: out of memory, left pending", eid);
        free(en);
        return 0;
    }
    en->remaining = en->todo = count;
    en->abandoned = 0;
    en->off = 0;
    char *out = en->ids;
    for (size_t j = 0; j + 1 < f->elements; j += 2) {
        if (job_id_ok(f->element[j], f->element[j + 1])) {
            const redisReply *v = f->element[j + 1];
            memcpy(out, v->str, v->len);
            out[v->len] = '\0';
            out += v->len + 1;
        }
    }
    en->qnext = NULL;
    if (c->todo_tail) {
        c->todo_tail->qnext = en;
    } else {
        c->todo = en;
    }
    c->todo_tail = en;
    c->held += count;
    if (count > c->batch_most) {
        c->batch_most = count;
    }
    return count;
}


static void
push_on_batch(void *data, int claimed, size_t jobs)
{
    wk_consumer_t *c = data;

    if (c->batch_most) {
        c->per_entry = c->batch_most;
        c->batch_most = 0;
    }
    if (claimed) {
        c->stats.claimed += jobs;
    }
    jobs_start(c);
}


/* Entries to ask for: room for push_max_inflight jobs, at push_batch most. */
static size_t
push_room(void *data)
{
    const wk_consumer_t *c = data;

    if (c->held >= (size_t) c->cf->push_max_inflight) {
        return 0;
    }
    size_t room = (size_t) c->cf->push_max_inflight - c->held;
    size_t count = room / (c->per_entry ? c->per_entry : 1);

    if (count == 0) {
        count = 1;
    }
    return count < (size_t) c->cf->push_batch
           ? count : (size_t) c->cf->push_batch;
}


static const wk_stream_ops_t push_stream_ops = {
    push_on_entry, push_on_batch, push_room
};


/* ---- statistics ---- */

static void
push_totals_line(const void *counts, const char *when, void *data)
{
    const wk_push_stats_t *s = counts;
    (void) data;

    wk_info("pushes%s: delivered=%lu dead=%lu rejected=%lu skipped=%lu "
            "retried=%lu gave_up=%lu coalesced=%lu claimed=%lu", when,
            s->delivered, s->dead, s->rejected, s->skipped, s->retried,
            s->gave_up, s->coalesced, s->claimed);
}


/* ---- public API ---- */

wk_consumer_t *
wk_consumer_new(struct ev_loop *loop, const wk_config_t *cf,
                wk_redis_t *reader, wk_redis_t *cmd)
{
    /* One key today; one per shard once the push stream is split. */
    const wk_stream_key_t keys[] = {   /* copied by wk_stream_group_new */
        { MDM_KEY_PUSH, "0", 1 }    /* from 0: jobs queued before any
                                       worker ever ran count too; only
                                       `pushers` reads it: XDEL on ack */
    };
    wk_stream_conf_t sc = {
        MDM_GROUP_PUSHERS, cf->name, "push", "jobs", keys,
        sizeof(keys) / sizeof(keys[0]), cf->push_block_ms,
        cf->push_claim_idle_ms, cf->push_claim_interval_ms, reader, cmd
    };
    wk_consumer_t *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->loop = loop;
    c->cf = cf;
    c->cmd = cmd;
    c->per_entry = 1;
    c->apns = wk_apns_new(loop, cf, cmd, push_on_done, c);
    c->recent = wk_recent_new(cf->push_coalesce_ms / 1000.0);
    c->group = wk_stream_group_new(loop, &sc, &push_stream_ops, c);
    if (wk_dict_init(&c->table, 1024) != 0 || c->apns == NULL
        || c->recent == NULL || c->group == NULL)
    {
        wk_consumer_free(c);
        return NULL;
    }
    wk_totals_start(&c->totals, loop, &c->stats, &c->logged,
                    sizeof(c->stats), push_totals_line, c);
    return c;
}


void
wk_consumer_on_redis_ready(wk_consumer_t *c)
{
    wk_stream_group_on_ready(c->group);
}


wk_apns_t *
wk_consumer_apns(wk_consumer_t *c)
{
    return c->apns;
}


void
wk_consumer_flush(wk_consumer_t *c)
{
    jobs_start(c);
    wk_stream_flush(c->group);
}


void
wk_consumer_read(wk_consumer_t *c)
{
    wk_stream_read(c->group);
}


wk_stream_group_t *
wk_consumer_group(wk_consumer_t *c)
{
    return c->group;
}


void
wk_consumer_reload(wk_consumer_t *c)
{
    wk_info("reloading push certificates");
    wk_apns_reload(c->apns);
}


void
wk_consumer_drain(wk_consumer_t *c, void (*drained)(void *), void *data)
{
    c->draining = 1;
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
    wk_stream_drain(c->group, drained, data);
}


void
wk_consumer_free(wk_consumer_t *c)
{
    c->draining = 1;
    if (c->apns) {
        wk_apns_free(c->apns);
    }
    while (c->all) {
        push_free(c->all, 0);
    }
    entries_drop_todo(c);
    wk_totals_stop(&c->totals, c->loop);
    while (c->spare) {
        wk_push_t *p = c->spare;
        c->spare = p->next;
        free(p->entries);
        free(p);
    }
    wk_recent_free(c->recent);
    wk_stream_group_free(c->group);
    wk_dict_free(&c->table);
    free(c);
}
