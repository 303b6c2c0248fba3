#ifndef _NGX_MDM_REDIS_H_INCLUDED_
#define _NGX_MDM_REDIS_H_INCLUDED_

/*
 * Asynchronous Redis on nginx's own event loop: hiredis async contexts driven
 * by nginx connections and timers, a small pool per worker process, commands
 * pipelined on each connection, reconnect with backoff. Nothing here blocks.
 *
 * Two modes behind one ngx_mdm_redis_send(): one Redis (the default: a
 * command is one write on a pooled connection, nothing more), or a Redis
 * Cluster through libmdm's cluster client (redis/mdm_cluster.h), which
 * routes each command by the slot of its first key.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "redis/mdm_cluster.h"


typedef struct ngx_mdm_redis_s  ngx_mdm_redis_t;

/*
 * Called exactly once per command: with the reply, or with NULL when the
 * command timed out or the connection was lost. The reply is freed by hiredis
 * after the handler returns.
 */
typedef void (*ngx_mdm_redis_handler_pt)(void *data, redisReply *reply);


/* What an observer is told, for metrics; usec only with the replies. */
typedef enum {
    NGX_MDM_REDIS_REPLY = 0,
    NGX_MDM_REDIS_ERROR_REPLY,
    NGX_MDM_REDIS_TIMEOUT,
    NGX_MDM_REDIS_UNAVAILABLE,
    NGX_MDM_REDIS_CONNECTION_LOST,
    NGX_MDM_REDIS_CONNECT_FAILED,
    /* a cluster's replies the client followed: not failures */
    NGX_MDM_REDIS_MOVED,
    NGX_MDM_REDIS_ASK,
    NGX_MDM_REDIS_TRYAGAIN,
    NGX_MDM_REDIS_CLUSTERDOWN
} ngx_mdm_redis_event_e;

typedef void (*ngx_mdm_redis_observe_pt)(ngx_mdm_redis_event_e event,
    uint64_t usec);


typedef struct {
    ngx_str_t                   addr;        /* as configured, for logs */
    ngx_str_t                   host;        /* ip, or unix socket path */
    in_port_t                   port;        /* 0 for a unix socket */
    ngx_array_t                *seeds;       /* mdm_cluster_addr_t; cluster */
    ngx_uint_t                  pool_size;
    ngx_msec_t                  timeout;
    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  backoff_max;
    ngx_msec_t                  error_log_interval;
    ngx_mdm_redis_observe_pt    observe;     /* NULL: nobody listens */
} ngx_mdm_redis_conf_t;


typedef struct {
    void                       *data;
    ngx_mdm_redis_t            *rd;
    ngx_mdm_redis_handler_pt    handler;
    ngx_event_t                 timer;
    ngx_flag_t                  done;
    void                       *conn;
    uint64_t                    sent;        /* usec, when observed */
} ngx_mdm_redis_cmd_t;


/*
 * Parses "host:port", "[ipv6]:port" or "unix:/path" into conf, resolving a
 * host name now (configuration time, ngx_parse_url): an error message or
 * NULL.
 */
char *ngx_mdm_redis_parse_addr(ngx_pool_t *pool, ngx_str_t *value,
    ngx_mdm_redis_conf_t *conf);

/*
 * Adds one cluster seed "host:port" or "[ipv6]:port" to conf->seeds, every
 * address a host name resolves to: an error message or NULL.
 */
char *ngx_mdm_redis_add_seed(ngx_pool_t *pool, ngx_str_t *value,
    ngx_mdm_redis_conf_t *conf);

/* Creates the per-process pool and starts connecting. */
ngx_mdm_redis_t *ngx_mdm_redis_create(ngx_cycle_t *cycle,
    ngx_mdm_redis_conf_t *conf);
void ngx_mdm_redis_destroy(ngx_mdm_redis_t *rd);

/*
 * Sends one command; the handler runs later (never from inside this call).
 * Returns NULL when no connection is usable: the caller answers 503 at once.
 * The returned command can be detached with ngx_mdm_redis_cancel() when its
 * owner goes away first.
 */
ngx_mdm_redis_cmd_t *ngx_mdm_redis_send(ngx_mdm_redis_t *rd, int argc,
    const char **argv, const size_t *argvlen,
    ngx_mdm_redis_handler_pt handler, void *data);

/* Stops the handler from being called; the command still completes. */
void ngx_mdm_redis_cancel(ngx_mdm_redis_cmd_t *cmd);

/* Lowercase hex SHA-1 of a named libmdm Lua script, for EVALSHA. */
const char *ngx_mdm_redis_script_sha(ngx_mdm_redis_t *rd, const char *name);

#endif /* _NGX_MDM_REDIS_H_INCLUDED_ */
