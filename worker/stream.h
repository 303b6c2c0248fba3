#ifndef WK_STREAM_H
#define WK_STREAM_H

/*
 * Consumer groups: the one layer between the worker's consumers (push
 * delivery, webhooks, and whatever reads a stream next) and Redis streams.
 *
 * A group reads a LIST of stream keys (one XREADGROUP names them all), so
 * a stream split per shard is a longer list, not more code. The layer
 * creates the group on every key (MKSTREAM; BUSYGROUP is fine), reads
 * (blocking, on its own link), takes over what dead consumers left
 * pending (XAUTOCLAIM per key, with the IDs Redis 7 says were deleted
 * meanwhile), keeps what the consumer holds from looking idle to the others
 * (XCLAIM ... JUSTID), acknowledges in batches, once per loop turn (XACK,
 * and XDEL on keys no other group reads), drains on SIGTERM and leaves the
 * group on a clean exit (libmdm/lua/leave_groups.lua, one call per key).
 *
 * The consumer registers every entry it takes (wk_stream_hold) and ends it
 * exactly once: acked (final) or released (left pending for another
 * consumer). What it holds is what the layer refreshes and what a drain
 * waits for.
 */

#include <ev.h>

#include "dict.h"
#include "redis.h"

#define WK_STREAM_ID_MAX  48       /* "<ms>-<seq>": two 20-digit numbers */

typedef struct wk_stream_group_s wk_stream_group_t;

/* One entry held; the consumer embeds it in its own struct. */
typedef struct {
    wk_dict_node_t      node;      /* in its key's held dict */
    char                id[WK_STREAM_ID_MAX];
    unsigned            key;       /* index in the group's list of keys */
    ev_tstamp           claimed;   /* last time our claim was renewed */
} wk_stream_entry_t;

typedef struct {
    const char         *name;      /* the stream key */
    const char         *start;     /* a new group starts at "0" or "$" */
    int                 delete_on_ack;  /* no other group reads it: XDEL */
} wk_stream_key_t;

typedef struct {
    const char             *group;
    const char             *consumer;
    const char             *label;      /* log lines: "push", "webhook x" */
    const char             *unit;       /* log lines: "jobs", "events" */
    const wk_stream_key_t  *keys;       /* copied */
    unsigned                nkeys;
    long                    block_ms;   /* XREADGROUP BLOCK */
    long                    claim_idle_ms;
    long                    claim_interval_ms;
    wk_redis_t             *reader;     /* creates and reads: it may block */
    wk_redis_t             *cmd;        /* claims, acks */
} wk_stream_conf_t;

typedef struct {
    /*
     * One entry read or claimed: `fields` is the [field, value...] array.
     * Returns how many units (jobs, events) it made, for the claim line;
     * the entry is the consumer's to hold, ack or leave pending.
     */
    size_t  (*entry)(void *data, unsigned key, const char *id,
                     const redisReply *fields, int claimed);
    /* After every batch of entries (read or claimed; `units` from entry). */
    void    (*batch)(void *data, int claimed, size_t units);
    /* Entries the consumer can take now (0: none); a read asks for that. */
    size_t  (*room)(void *data);
} wk_stream_ops_t;

/* Starts the claim timer; the group is created once the reader is ready. */
wk_stream_group_t *wk_stream_group_new(struct ev_loop *loop,
                                       const wk_stream_conf_t *conf,
                                       const wk_stream_ops_t *ops,
                                       void *data);

/* From the reader link's on_ready: (re)creates the group, then reads. */
void wk_stream_group_on_ready(wk_stream_group_t *g);

/* Sends a read if none is in flight and the consumer has room. */
void wk_stream_read(wk_stream_group_t *g);

/* The consumer takes an entry (id as read); 0, or -1 if it is held. */
int wk_stream_hold(wk_stream_group_t *g, wk_stream_entry_t *e, unsigned key,
                   const char *id);

/* Final: XACK (and XDEL) go out at the next flush; e is forgotten. */
void wk_stream_ack(wk_stream_group_t *g, wk_stream_entry_t *e);

/* Final for an entry never held (no use in it, a skip). */
void wk_stream_ack_id(wk_stream_group_t *g, unsigned key, const char *id);

/* Left pending for another consumer to claim; e is forgotten. */
void wk_stream_release(wk_stream_group_t *g, wk_stream_entry_t *e);

/* Sends the acks queued since the last flush, in batches (before sleep). */
void wk_stream_flush(wk_stream_group_t *g);

/* Entries held by the consumer. */
size_t wk_stream_held(const wk_stream_group_t *g);

/*
 * SIGTERM: no more reads or claims; done(data) runs once the consumer
 * holds nothing more (it acks or releases every entry) and every ack has
 * its answer.
 */
void wk_stream_drain(wk_stream_group_t *g, void (*done)(void *), void *data);

int wk_stream_draining(const wk_stream_group_t *g);

/* Leaving groups on a clean exit: one tally for all of them. */
typedef struct {
    unsigned    pending;
    long long   left, kept;
    int         failed, sealed;
    void      (*done)(void *);
    void       *data;
} wk_stream_leave_t;

void wk_stream_leave_begin(wk_stream_leave_t *lv, void (*done)(void *),
                           void *data);
/* Deletes our consumer on every key where it holds nothing pending. */
void wk_stream_leave(wk_stream_group_t *g, wk_stream_leave_t *lv);
/* No more groups: logs the tally and runs done once every answer is in. */
void wk_stream_leave_end(wk_stream_leave_t *lv);

/* Stops the timers and forgets every entry (they stay pending). */
void wk_stream_group_free(wk_stream_group_t *g);

#endif
