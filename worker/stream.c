/*
 * Consumer groups over a list of stream keys (stream.h). Layers, top down:
 * creating the group, reading, claiming (XAUTOCLAIM and the refresh of
 * what we hold), holding and acknowledging, draining and leaving.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mdm_script.h"
#include "stream.h"

#define ACK_CHUNK   500             /* ids per XACK / XDEL / XCLAIM */

typedef char wk_stream_id_t[WK_STREAM_ID_MAX];

typedef struct {
    wk_stream_id_t     *ids;
    size_t              n, cap;
} stream_ids_t;

typedef struct {
    wk_stream_group_t  *g;
    unsigned            index;
    char               *name;
    char                start[4];
    int                 delete_on_ack;
    wk_dict_t           held;       /* wk_stream_entry_t by id */
    stream_ids_t        acks;       /* queued for the next flush */
    char                cursor[WK_STREAM_ID_MAX];   /* XAUTOCLAIM's */
    int                 claiming;
} stream_key_t;

struct wk_stream_group_s {
    struct ev_loop         *loop;
    char                   *group;
    char                   *consumer;
    char                   *label;
    char                   *unit;
    long                    block_ms;
    long                    claim_idle_ms;
    wk_redis_t             *reader;
    wk_redis_t             *cmd;
    const wk_stream_ops_t  *ops;
    void                   *data;

    stream_key_t           *keys;
    unsigned                nkeys;
    int                     ready;          /* created on every key */
    unsigned                creating;       /* XGROUP CREATEs in flight */
    int                     create_failed;
    int                     reading;
    int                     draining;
    size_t                  held;
    unsigned                acks_in_flight;
    ev_timer                claim;

    void                  (*drained)(void *);
    void                   *drained_data;
};

static void stream_check_drained(wk_stream_group_t *g);


static int
ids_add(stream_ids_t *l, const char *id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        wk_stream_id_t *ids = realloc(l->ids, cap * sizeof(*ids));
        if (ids == NULL) {
            return -1;
        }
        l->ids = ids;
        l->cap = cap;
    }
    snprintf(l->ids[l->n++], WK_STREAM_ID_MAX, "%s", id);
    return 0;
}


/* Entries to ask each key for: the consumer's room, shared by the keys. */
static size_t
stream_count(const wk_stream_group_t *g)
{
    size_t room = g->ops->room(g->data);

    return room ? (room + g->nkeys - 1) / g->nkeys : 0;
}


/* ---- creating the group ---- */

static void
stream_on_created(wk_redis_t *link, redisReply *r, void *data)
{
    stream_key_t *k = data;
    wk_stream_group_t *g = k->g;
    (void) link;

    g->creating--;
    if (r == NULL) {
        g->create_failed = 1;           /* on_ready or the timer retries */
    } else if (r->type == REDIS_REPLY_ERROR
               && strncmp(r->str, "BUSYGROUP", 9) != 0)
    {
        wk_redis_error("%s: XGROUP CREATE %s %s: %s", g->label, k->name,
                       g->group, r->str);
        g->create_failed = 1;
    }
    if (g->creating == 0 && !g->create_failed) {
        g->ready = 1;
        wk_stream_read(g);
    }
}


static void
stream_create(wk_stream_group_t *g)
{
    if (g->creating || g->draining) {
        return;
    }
    g->ready = 0;
    g->create_failed = 0;
    for (unsigned i = 0; i < g->nkeys; i++) {
        stream_key_t *k = &g->keys[i];
        const char *argv[] = { "XGROUP", "CREATE", k->name, g->group,
                               k->start, "MKSTREAM" };
        if (wk_redis_cmdargv(g->reader, stream_on_created, k, 6, argv, NULL)
            == 0)
        {
            g->creating++;
        } else {
            g->create_failed = 1;
        }
    }
}


/* ---- reading ---- */

/* Entries trimmed (MAXLEN, XDEL) while pending: nobody can finish them. */
static void
stream_warn_lost(wk_stream_group_t *g, stream_key_t *k, size_t n)
{
    wk_warn("%s: %zu pending entries of %s were deleted before they were "
            "finished; lost", g->label, n, k->name);
}


/* Hands the consumer every entry of one key's reply array. */
static void
stream_entries(wk_stream_group_t *g, stream_key_t *k,
               const redisReply *entries, int claimed, size_t *units)
{
    size_t gone = 0;

    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING)
        {
            continue;
        }
        const redisReply *id = e->element[0], *fields = e->element[1];
        if (id->len >= WK_STREAM_ID_MAX) {
            wk_warn("%s: entry %.64s of %s: id too long, ignored", g->label,
                    id->str, k->name);
            continue;
        }
        if (fields->type != REDIS_REPLY_ARRAY) {
            /* Redis 6.2 claims deleted entries with no fields: done. */
            wk_stream_ack_id(g, k->index, id->str);
            gone++;
            continue;
        }
        if (claimed
            && wk_dict_find(&k->held, id->str, id->len,
                            wk_dict_hash(id->str, id->len)) != NULL)
        {
            continue;                   /* ours already: a late refresh */
        }
        *units += g->ops->entry(g->data, k->index, id->str, fields, claimed);
    }
    if (gone) {
        stream_warn_lost(g, k, gone);
    }
}


static stream_key_t *
stream_key_named(wk_stream_group_t *g, const redisReply *name)
{
    for (unsigned i = 0; name->type == REDIS_REPLY_STRING && i < g->nkeys;
         i++)
    {
        if (strcmp(g->keys[i].name, name->str) == 0) {
            return &g->keys[i];
        }
    }
    return NULL;
}


static void
stream_on_read(wk_redis_t *link, redisReply *r, void *data)
{
    wk_stream_group_t *g = data;
    size_t units = 0;
    (void) link;

    g->reading = 0;
    if (r == NULL || g->draining) {
        return;                 /* a reconnect reads again; drained: pending */
    }
    if (r->type == REDIS_REPLY_ERROR) {
        wk_redis_error("%s: XREADGROUP: %s", g->label, r->str);
        if (strncmp(r->str, "NOGROUP", 7) == 0) {
            stream_create(g);
        }
        return;
    }
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *s = r->element[i];
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2
            || s->element[1]->type != REDIS_REPLY_ARRAY)
        {
            continue;
        }
        stream_key_t *k = stream_key_named(g, s->element[0]);
        if (k) {
            stream_entries(g, k, s->element[1], 0, &units);
        }
    }
    g->ops->batch(g->data, 0, units);
    /* The next read goes out before the loop sleeps, after the acks. */
}


void
wk_stream_read(wk_stream_group_t *g)
{
    if (g->reading || g->draining || !g->ready || !g->reader->connected) {
        return;
    }
    size_t count = stream_count(g);
    if (count == 0) {
        return;
    }
    const char **argv = malloc((2 * g->nkeys + 9) * sizeof(*argv));
    char cnt[24], block[24];
    int argc = 0;

    if (argv == NULL) {
        return;                         /* the next turn tries again */
    }
    snprintf(cnt, sizeof(cnt), "%zu", count);
    snprintf(block, sizeof(block), "%ld", g->block_ms);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = g->group;
    argv[argc++] = g->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = cnt;
    argv[argc++] = "BLOCK";
    argv[argc++] = block;
    argv[argc++] = "STREAMS";
    for (unsigned i = 0; i < g->nkeys; i++) {
        argv[argc++] = g->keys[i].name;
    }
    for (unsigned i = 0; i < g->nkeys; i++) {
        argv[argc++] = ">";
    }
    if (wk_redis_cmdargv(g->reader, stream_on_read, g, argc, argv, NULL)
        == 0)
    {
        g->reading = 1;
    }
    free(argv);
}


/* ---- claiming ---- */

static void
stream_on_autoclaim(wk_redis_t *link, redisReply *r, void *data)
{
    stream_key_t *k = data;
    wk_stream_group_t *g = k->g;
    size_t units = 0;
    (void) link;

    k->claiming = 0;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_ARRAY)
    {
        if (r && r->type == REDIS_REPLY_ERROR) {
            wk_redis_error("%s: XAUTOCLAIM %s: %s", g->label, k->name,
                           r->str);
        }
        return;
    }
    if (g->draining) {
        return;
    }
    snprintf(k->cursor, sizeof(k->cursor), "%s", r->element[0]->str);
    stream_entries(g, k, r->element[1], 1, &units);
    /* Redis 7: pending entries deleted from the stream, now out of the
     * group too; nobody will ever finish them. */
    if (r->elements > 2 && r->element[2]->type == REDIS_REPLY_ARRAY
        && r->element[2]->elements > 0)
    {
        stream_warn_lost(g, k, r->element[2]->elements);
    }
    if (units) {
        wk_info("%s: claimed %zu %s idle for more than %ld ms", g->label,
                units, g->unit, g->claim_idle_ms);
    }
    g->ops->batch(g->data, 1, units);
}


static void
stream_send_ids(wk_stream_group_t *g, stream_key_t *k, const char *verb,
                const wk_stream_id_t *ids, size_t n, wk_redis_cb cb);


/* Renews our claim on what we have held for a third of the idle time, so
 * that no other consumer takes it while we are alive (XCLAIM ... JUSTID). */
static void
stream_refresh(wk_stream_group_t *g, stream_key_t *k)
{
    ev_tstamp now = ev_now(g->loop);
    double after = g->claim_idle_ms / 3000.0;
    stream_ids_t ids = { NULL, 0, 0 };
    wk_dict_node_t *n, *pos = NULL;
    size_t cursor = 0;

    while ((n = wk_dict_next(&k->held, &cursor, &pos)) != NULL) {
        wk_stream_entry_t *e = wk_dict_entry(n, wk_stream_entry_t, node);
        if (now - e->claimed >= after && ids_add(&ids, e->id) == 0) {
            e->claimed = now;
        }
    }
    for (size_t i = 0; i < ids.n; i += ACK_CHUNK) {
        size_t m = ids.n - i < ACK_CHUNK ? ids.n - i : ACK_CHUNK;
        stream_send_ids(g, k, "XCLAIM", ids.ids + i, m, NULL);
    }
    free(ids.ids);
}


static void
stream_claim(wk_stream_group_t *g, stream_key_t *k, size_t count)
{
    char idle[24], cnt[24];
    const char *argv[] = { "XAUTOCLAIM", k->name, g->group, g->consumer,
                           idle, k->cursor, "COUNT", cnt };

    if (k->claiming || count == 0) {
        return;
    }
    snprintf(idle, sizeof(idle), "%ld", g->claim_idle_ms);
    snprintf(cnt, sizeof(cnt), "%zu", count);
    if (wk_redis_cmdargv(g->cmd, stream_on_autoclaim, k, 8, argv, NULL) == 0) {
        k->claiming = 1;
    }
}


static void
stream_on_claim_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_stream_group_t *g = w->data;
    (void) loop;
    (void) revents;

    if (g->draining) {
        return;
    }
    if (!g->ready) {
        stream_create(g);               /* a create refused (LOADING...) */
        return;
    }
    size_t count = stream_count(g);
    for (unsigned i = 0; i < g->nkeys; i++) {
        stream_refresh(g, &g->keys[i]);
        stream_claim(g, &g->keys[i], count);
    }
}


/* ---- holding and acknowledging ---- */

int
wk_stream_hold(wk_stream_group_t *g, wk_stream_entry_t *e, unsigned key,
               const char *id)
{
    stream_key_t *k = &g->keys[key];
    size_t len = strlen(id);
    uint64_t h = wk_dict_hash(id, len);

    if (len >= WK_STREAM_ID_MAX || wk_dict_find(&k->held, id, len, h)) {
        return -1;
    }
    memcpy(e->id, id, len + 1);
    e->key = key;
    e->claimed = ev_now(g->loop);
    wk_dict_node_set(&e->node, e->id, len, h);
    wk_dict_add(&k->held, &e->node);
    g->held++;
    return 0;
}


static void
stream_forget(wk_stream_group_t *g, wk_stream_entry_t *e)
{
    wk_dict_delete(&g->keys[e->key].held, &e->node);
    g->held--;
}


void
wk_stream_ack_id(wk_stream_group_t *g, unsigned key, const char *id)
{
    if (ids_add(&g->keys[key].acks, id) != 0) {
        wk_error("%s: out of memory, entry %s stays pending", g->label, id);
    }
}


void
wk_stream_ack(wk_stream_group_t *g, wk_stream_entry_t *e)
{
    wk_stream_ack_id(g, e->key, e->id);
    stream_forget(g, e);
    stream_check_drained(g);
}


void
wk_stream_release(wk_stream_group_t *g, wk_stream_entry_t *e)
{
    stream_forget(g, e);
    stream_check_drained(g);
}


size_t
wk_stream_held(const wk_stream_group_t *g)
{
    return g->held;
}


static void
stream_on_acked(wk_redis_t *link, redisReply *r, void *data)
{
    wk_stream_group_t *g = data;
    (void) link;

    g->acks_in_flight--;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        /* Still pending: a claim after the idle time redoes them. */
        wk_redis_error("%s: XACK failed: %s", g->label,
                       r ? r->str : "Redis connection lost");
    }
    stream_check_drained(g);
}


/* verb: XACK, XDEL, or XCLAIM (JUSTID: only renews the idle time). */
static void
stream_send_ids(wk_stream_group_t *g, stream_key_t *k, const char *verb,
                const wk_stream_id_t *ids, size_t n, wk_redis_cb cb)
{
    const char *argv[ACK_CHUNK + 8];
    int argc = 0;
    int del = strcmp(verb, "XDEL") == 0;
    int claim = strcmp(verb, "XCLAIM") == 0;

    argv[argc++] = verb;
    argv[argc++] = k->name;
    if (!del) {
        argv[argc++] = g->group;
    }
    if (claim) {
        argv[argc++] = g->consumer;
        argv[argc++] = "0";
    }
    for (size_t i = 0; i < n; i++) {
        argv[argc++] = ids[i];
    }
    if (claim) {
        argv[argc++] = "JUSTID";
    }
    if (wk_redis_cmdargv(g->cmd, cb, g, argc, argv, NULL) == 0) {
        g->acks_in_flight += cb != NULL;
    } else if (cb) {
        wk_error("%s: %s of %zu %s lost: Redis is down; they will be "
                 "claimed again", g->label, verb, n, g->unit);
    }
}


void
wk_stream_flush(wk_stream_group_t *g)
{
    for (unsigned i = 0; i < g->nkeys; i++) {
        stream_key_t *k = &g->keys[i];
        for (size_t j = 0; j < k->acks.n; j += ACK_CHUNK) {
            size_t n = k->acks.n - j < ACK_CHUNK ? k->acks.n - j : ACK_CHUNK;
            stream_send_ids(g, k, "XACK", k->acks.ids + j, n,
                            stream_on_acked);
            /* no other group reads it: an entry done is gone for good,
             * and the stream stays as short as the backlog */
            if (k->delete_on_ack) {
                stream_send_ids(g, k, "XDEL", k->acks.ids + j, n,
                                stream_on_acked);
            }
        }
        k->acks.n = 0;
    }
    stream_check_drained(g);
}


/* ---- draining ---- */

static void
stream_check_drained(wk_stream_group_t *g)
{
    if (!g->draining || g->drained == NULL || g->held
        || g->acks_in_flight)
    {
        return;
    }
    for (unsigned i = 0; i < g->nkeys; i++) {
        if (g->keys[i].acks.n) {
            return;
        }
    }
    void (*cb)(void *) = g->drained;
    g->drained = NULL;
    cb(g->drained_data);
}


void
wk_stream_drain(wk_stream_group_t *g, void (*done)(void *), void *data)
{
    g->draining = 1;
    g->drained = done;
    g->drained_data = data;
    ev_timer_stop(g->loop, &g->claim);
    wk_stream_flush(g);
}


int
wk_stream_draining(const wk_stream_group_t *g)
{
    return g->draining;
}


/* ---- leaving ---- */

void
wk_stream_leave_begin(wk_stream_leave_t *lv, void (*done)(void *),
                      void *data)
{
    memset(lv, 0, sizeof(*lv));
    lv->done = done;
    lv->data = data;
}


static void
stream_leave_check(wk_stream_leave_t *lv)
{
    if (!lv->sealed || lv->pending) {
        return;
    }
    if (!lv->failed) {
        wk_info("left %lld consumer group(s); stayed in %lld that hold "
                "entries of ours for another worker to claim", lv->left,
                lv->kept);
    }
    lv->sealed = 0;
    lv->done(lv->data);
}


static void
stream_on_left(wk_redis_t *link, redisReply *r, void *data)
{
    wk_stream_leave_t *lv = data;
    (void) link;

    lv->pending--;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        wk_error("leaving the consumer groups: %s",
                 r ? r->str : "Redis connection lost");
        lv->failed = 1;
    } else {
        lv->left += wk_reply_int(r, 0);
        lv->kept += wk_reply_int(r, 1);
    }
    stream_leave_check(lv);
}


/* One call per key: each is one slot, as a Cluster wants it. Rare (once
 * per run), so plain EVAL: no SHA bookkeeping here. */
void
wk_stream_leave(wk_stream_group_t *g, wk_stream_leave_t *lv)
{
    const mdm_script_t *script = mdm_script_find("leave_groups");

    if (script == NULL) {
        wk_error("cannot leave the consumer groups: leave_groups.lua not "
                 "built in");
        lv->failed = 1;
        return;
    }
    for (unsigned i = 0; i < g->nkeys; i++) {
        const char *argv[] = { "EVAL", script->src, "1", g->keys[i].name,
                               g->consumer, g->group };
        if (wk_redis_cmdargv(g->cmd, stream_on_left, lv, 6, argv, NULL)
            == 0)
        {
            lv->pending++;
        } else if (!lv->failed) {
            wk_error("cannot leave the consumer groups: Redis is down");
            lv->failed = 1;
        }
    }
}


void
wk_stream_leave_end(wk_stream_leave_t *lv)
{
    lv->sealed = 1;
    stream_leave_check(lv);
}


/* ---- life cycle ---- */

wk_stream_group_t *
wk_stream_group_new(struct ev_loop *loop, const wk_stream_conf_t *conf,
                    const wk_stream_ops_t *ops, void *data)
{
    wk_stream_group_t *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        return NULL;
    }
    g->loop = loop;
    g->ops = ops;
    g->data = data;
    g->reader = conf->reader;
    g->cmd = conf->cmd;
    g->block_ms = conf->block_ms;
    g->claim_idle_ms = conf->claim_idle_ms;
    g->group = strdup(conf->group);
    g->consumer = strdup(conf->consumer);
    g->label = strdup(conf->label);
    g->unit = strdup(conf->unit);
    g->keys = calloc(conf->nkeys, sizeof(*g->keys));
    if (g->group == NULL || g->consumer == NULL || g->label == NULL
        || g->unit == NULL || g->keys == NULL)
    {
        wk_stream_group_free(g);
        return NULL;
    }
    for (unsigned i = 0; i < conf->nkeys; i++) {
        stream_key_t *k = &g->keys[i];
        k->g = g;
        k->index = i;
        k->delete_on_ack = conf->keys[i].delete_on_ack;
        snprintf(k->start, sizeof(k->start), "%s", conf->keys[i].start);
        strcpy(k->cursor, "0-0");
        g->nkeys++;
        if ((k->name = strdup(conf->keys[i].name)) == NULL
            || wk_dict_init(&k->held, 64) != 0)
        {
            wk_stream_group_free(g);
            return NULL;
        }
    }
    g->reader->block_extra = conf->block_ms / 1000.0;

    double every = conf->claim_interval_ms / 1000.0;
    if (every > conf->claim_idle_ms / 3000.0) {
        every = conf->claim_idle_ms / 3000.0;
    }
    ev_timer_init(&g->claim, stream_on_claim_timer, every, every);
    g->claim.data = g;
    ev_timer_start(loop, &g->claim);
    return g;
}


void
wk_stream_group_on_ready(wk_stream_group_t *g)
{
    if (g->draining) {
        return;
    }
    if (!g->ready) {
        stream_create(g);
    }
    wk_stream_read(g);
}


void
wk_stream_group_free(wk_stream_group_t *g)
{
    if (g == NULL) {
        return;
    }
    ev_timer_stop(g->loop, &g->claim);
    for (unsigned i = 0; i < g->nkeys; i++) {
        free(g->keys[i].name);
        free(g->keys[i].acks.ids);
        wk_dict_free(&g->keys[i].held);
    }
    free(g->keys);
    free(g->group);
    free(g->consumer);
    free(g->label);
    free(g->unit);
    free(g);
}
