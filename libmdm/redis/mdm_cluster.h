#ifndef MDM_CLUSTER_H
#define MDM_CLUSTER_H

/*
 * A Redis Cluster client on hiredis's async API, for any event loop.
 *
 * The slot map comes from CLUSTER SLOTS, read from a seed at start and again
 * whenever the cluster says it changed (MOVED, CLUSTERDOWN, a master lost)
 * and every refresh_ms. A command goes to the master serving the slot of its
 * first key (mdm_cmd_key.h); keyless commands go to any master. Replicas are
 * never sent a command: only CLUSTER SLOTS goes to a seed that may be one.
 *
 * Redirections are followed within one command's deadline: MOVED updates the
 * slot and resends, ASK sends ASKING and the command to the importing node,
 * TRYAGAIN and CLUSTERDOWN wait (retry_delay_ms, doubling) and resend. None
 * of those replies means the command ran, so resending is safe. A lost
 * connection does not say whether it ran: such a command fails (status
 * CONNECTION_LOST) and is never resent.
 *
 * Every new connection loads the scripts first (SCRIPT LOAD, pipelined ahead
 * of any command); a NOSCRIPT reply loads them again on that connection and
 * resends once.
 *
 * The event loop is an adapter: attach() hooks a new hiredis context into
 * the loop (ac->ev), now() reads its clock, and the loop calls
 * mdm_cluster_tick() every few tens of milliseconds for timers (connect and
 * command timeouts, delayed retries, map refreshes). The nginx module and
 * the worker each have a thin one.
 *
 * No nginx types, no globals. hiredis is the only I/O.
 */

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "mdm_script.h"

typedef struct mdm_cluster_s      mdm_cluster_t;
typedef struct mdm_cluster_req_s  mdm_cluster_req_t;

#define MDM_CLUSTER_HOST_MAX  64       /* numeric IPv4 or IPv6, no brackets */

typedef struct {
    char  host[MDM_CLUSTER_HOST_MAX];
    int   port;
} mdm_cluster_addr_t;

typedef struct {
    int       (*attach)(void *loop, redisAsyncContext *ac);   /* 0 or -1 */
    uint64_t  (*now)(void *loop);                              /* ms */
    void       *loop;
} mdm_cluster_loop_t;

typedef enum {
    MDM_CLUSTER_OK = 0,              /* reply set (maybe an error reply) */
    MDM_CLUSTER_TIMEOUT,             /* no reply within the timeout */
    MDM_CLUSTER_CONNECTION_LOST,     /* sent, connection lost: ran or not */
    MDM_CLUSTER_UNAVAILABLE          /* no master for the slot reachable */
} mdm_cluster_status_e;

/* What the log hook is told, so the caller can count it too. */
typedef enum {
    MDM_CLUSTER_EV_INFO = 0,
    MDM_CLUSTER_EV_CONNECT_FAILED,
    MDM_CLUSTER_EV_CONNECTION_LOST,
    MDM_CLUSTER_EV_MAP_ERROR,        /* CLUSTER SLOTS refused or garbled */
    MDM_CLUSTER_EV_ERROR
} mdm_cluster_event_e;

typedef void (*mdm_cluster_log_pt)(void *ctx, mdm_cluster_event_e ev,
    const char *msg);

/* Replies the client followed, for the caller's counters. */
typedef enum {
    MDM_CLUSTER_MOVED = 0,
    MDM_CLUSTER_ASK,
    MDM_CLUSTER_TRYAGAIN,
    MDM_CLUSTER_CLUSTERDOWN
} mdm_cluster_redirect_e;

typedef void (*mdm_cluster_count_pt)(void *ctx, mdm_cluster_redirect_e kind);

/* Called with reply NULL unless status is OK; the reply is freed after. */
typedef void (*mdm_cluster_reply_pt)(void *data, redisReply *reply,
    mdm_cluster_status_e status);

/* The map became usable (first time, or again after being lost). */
typedef void (*mdm_cluster_ready_pt)(void *ctx);

typedef struct {
    const mdm_cluster_addr_t  *seeds;
    size_t                     nseeds;
    unsigned                   pool;              /* connections per master */
    unsigned                   timeout_ms;        /* per command, all hops */
    unsigned                   connect_timeout_ms;
    unsigned                   max_redirects;     /* MOVED + ASK per command */
    unsigned                   retry_delay_ms;    /* TRYAGAIN, CLUSTERDOWN */
    unsigned                   refresh_ms;        /* 0: only on change */
    unsigned                   backoff_max_ms;    /* reconnects */
    const mdm_script_t        *scripts;           /* NULL-terminated, or NULL */
    mdm_cluster_log_pt         log;
    mdm_cluster_ready_pt       ready;
    mdm_cluster_count_pt       count;             /* NULL: nobody counts */
    void                      *ctx;               /* for the three hooks */
} mdm_cluster_conf_t;

typedef struct {
    uint64_t  moved;
    uint64_t  ask;
    uint64_t  tryagain;
    uint64_t  clusterdown;
    uint64_t  noscript;
    uint64_t  map_refreshes;        /* CLUSTER SLOTS replies applied */
    uint64_t  map_errors;
    uint64_t  unavailable;
    uint64_t  timeouts;
} mdm_cluster_stats_t;

/* Copies conf (seeds included) and starts reading the map; NULL: no memory. */
mdm_cluster_t *mdm_cluster_new(const mdm_cluster_conf_t *conf,
    const mdm_cluster_loop_t *loop);

/* Closes every connection: pending callbacks run with CONNECTION_LOST. */
void mdm_cluster_free(mdm_cluster_t *cl);

/*
 * Sends a RESP-formatted command (redisFormatCommand*), taking ownership of
 * cmd (freed with free()) in every case. extra_ms lengthens the timeout for
 * a blocking command (XREADGROUP BLOCK). The callback runs later, never from
 * inside this call; NULL when the command cannot be sent now (no master for
 * its slot is reachable, no map and none being read): the callback is then
 * never called.
 */
mdm_cluster_req_t *mdm_cluster_send(mdm_cluster_t *cl, char *cmd, size_t len,
    unsigned extra_ms, mdm_cluster_reply_pt cb, void *data);

/* The callback of req will not be called; the command still completes. */
void mdm_cluster_cancel(mdm_cluster_req_t *req);

/* Timers: the loop calls it every MDM_CLUSTER_TICK_MS or so. */
#define MDM_CLUSTER_TICK_MS  25
void mdm_cluster_tick(mdm_cluster_t *cl);

/* 1 once a map is known (and some slot is served). */
int mdm_cluster_ready(const mdm_cluster_t *cl);

const mdm_cluster_stats_t *mdm_cluster_stats(const mdm_cluster_t *cl);

/*
 * Splits "host:port" or "[v6]:port" (or Redis's own "v6:port", split at the
 * last colon) into host (brackets removed) and port; -1 and a message in err
 * when malformed. Nothing is resolved here.
 */
int mdm_cluster_parse_addr(const char *s, size_t len, mdm_cluster_addr_t *out,
    const char **err);

#endif
