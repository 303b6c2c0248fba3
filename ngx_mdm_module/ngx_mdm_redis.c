/*
 * hiredis async contexts on nginx connections.
 *
 * hiredis owns the socket: it connects, reads, writes and finally closes it.
 * nginx only lends a connection object so the fd joins nginx's event loop.
 * Events are registered level-triggered because redisAsyncHandleRead() reads
 * at most 16 KiB per call: with edge-triggered epoll the rest of a large reply
 * would wait for the next packet.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "mdm_script.h"
#include "ngx_mdm_redis.h"
#include "ngx_mdm_redis_cluster.h"


typedef enum {
    NGX_MDM_REDIS_IDLE = 0,
    NGX_MDM_REDIS_CONNECTING,
    NGX_MDM_REDIS_CONNECTED
} ngx_mdm_redis_state_e;


typedef struct {
    ngx_mdm_redis_t            *rd;
    redisAsyncContext          *ac;
    ngx_connection_t           *c;
    ngx_mdm_redis_state_e       state;
    ngx_msec_t                  backoff;
    ngx_event_t                 retry;
    ngx_event_t                 connect_timer;
    ngx_uint_t                  loading;    /* SCRIPT LOADs unanswered */
} ngx_mdm_redis_conn_t;


struct ngx_mdm_redis_s {
    ngx_mdm_redis_conf_t       *conf;
    ngx_log_t                  *log;
    ngx_mdm_redis_conn_t       *conns;
    ngx_uint_t                  next;
    ngx_flag_t                  exiting;
    time_t                      last_error_log;
    ngx_uint_t                  suppressed;
    char                      (*shas)[MDM_SHA1_HEX_LEN + 1];
    ngx_mdm_redis_cluster_t     cluster;     /* cluster.cl NULL: one Redis */
};


static void ngx_mdm_redis_connect(ngx_mdm_redis_conn_t *conn);
static void ngx_mdm_redis_retry_handler(ngx_event_t *ev);
static void ngx_mdm_redis_connect_timeout(ngx_event_t *ev);
static void ngx_mdm_redis_on_connect(const redisAsyncContext *ac, int status);
static void ngx_mdm_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_mdm_redis_load_scripts(ngx_mdm_redis_conn_t *conn);
static void ngx_mdm_redis_script_loaded(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_mdm_redis_attach(ngx_mdm_redis_conn_t *conn);
static void ngx_mdm_redis_add_read(void *privdata);
static void ngx_mdm_redis_del_read(void *privdata);
static void ngx_mdm_redis_add_write(void *privdata);
static void ngx_mdm_redis_del_write(void *privdata);
static void ngx_mdm_redis_cleanup(void *privdata);
static void ngx_mdm_redis_read_handler(ngx_event_t *ev);
static void ngx_mdm_redis_write_handler(ngx_event_t *ev);
static ngx_mdm_redis_conn_t *ngx_mdm_redis_pick(ngx_mdm_redis_t *rd);
static void ngx_mdm_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_mdm_redis_cmd_timeout(ngx_event_t *ev);
static void ngx_mdm_redis_log_error(ngx_mdm_redis_t *rd, const char *what,
    const char *detail);
static void ngx_mdm_redis_observe(ngx_mdm_redis_t *rd,
    ngx_mdm_redis_event_e event, uint64_t sent);
static uint64_t ngx_mdm_redis_usec(void);
static ngx_int_t ngx_mdm_redis_cluster_create(ngx_mdm_redis_t *rd);
static void ngx_mdm_redis_cluster_log(void *ctx, mdm_cluster_event_e ev,
    const char *msg);
static void ngx_mdm_redis_cluster_count(void *ctx,
    mdm_cluster_redirect_e kind);
static ngx_mdm_redis_cmd_t *ngx_mdm_redis_cluster_send(ngx_mdm_redis_t *rd,
    int argc, const char **argv, const size_t *argvlen,
    ngx_mdm_redis_handler_pt handler, void *data);
static void ngx_mdm_redis_cluster_reply(void *data, redisReply *reply,
    mdm_cluster_status_e status);


/* One address of u as a numeric host (no brackets) and a port. */
static char *
ngx_mdm_redis_numeric(ngx_pool_t *pool, ngx_addr_t *a, ngx_str_t *host,
    in_port_t *port)
{
    u_char  text[NGX_SOCKADDR_STRLEN];
    size_t  len;

    len = ngx_sock_ntop(a->sockaddr, a->socklen, text, NGX_SOCKADDR_STRLEN, 0);

    host->data = ngx_pnalloc(pool, len + 1);
    if (host->data == NULL) {
        return "out of memory";
    }

    ngx_cpystrn(host->data, text, len + 1);
    host->len = len;
    *port = ngx_inet_get_port(a->sockaddr);

    return NULL;
}


/*
 * Host names are resolved here, at configuration time, so that hiredis only
 * ever sees numeric addresses: its own getaddrinfo() would block a worker.
 */
static char *
ngx_mdm_redis_parse_url(ngx_pool_t *pool, ngx_str_t *value, ngx_url_t *u)
{
    ngx_memzero(u, sizeof(ngx_url_t));
    u->url = *value;
    u->no_resolve = 0;

    if (ngx_parse_url(pool, u) != NGX_OK) {
        return u->err ? u->err : "is invalid";
    }

    if (u->no_port || u->port == 0) {
        return "needs a port";
    }

    if (u->family == AF_UNIX || u->naddrs == 0) {
        return "must be \"host:port\" or \"[ipv6]:port\"";
    }

    return NULL;
}


char *
ngx_mdm_redis_parse_addr(ngx_pool_t *pool, ngx_str_t *value,
    ngx_mdm_redis_conf_t *conf)
{
    ngx_url_t  u;
    char      *err;

    conf->addr = *value;

    if (value->len > 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {
        conf->host.len = value->len - 5;
        conf->host.data = ngx_pnalloc(pool, conf->host.len + 1);
        if (conf->host.data == NULL) {
            return "out of memory";
        }
        ngx_cpystrn(conf->host.data, value->data + 5, conf->host.len + 1);
        conf->port = 0;
        return NULL;
    }

    err = ngx_mdm_redis_parse_url(pool, value, &u);
    if (err != NULL) {
        return err;
    }

    /* a name with several addresses: the first, as upstream servers do */
    return ngx_mdm_redis_numeric(pool, &u.addrs[0], &conf->host, &conf->port);
}


char *
ngx_mdm_redis_add_seed(ngx_pool_t *pool, ngx_str_t *value,
    ngx_mdm_redis_conf_t *conf)
{
    ngx_url_t            u;
    ngx_str_t            host;
    in_port_t            port;
    ngx_uint_t           i;
    mdm_cluster_addr_t  *seed;
    char                *err;

    if (value->len > 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {
        return "cannot be a unix socket: cluster nodes announce TCP addresses";
    }

    err = ngx_mdm_redis_parse_url(pool, value, &u);
    if (err != NULL) {
        return err;
    }

    if (conf->seeds == NULL) {
        conf->seeds = ngx_array_create(pool, 4, sizeof(mdm_cluster_addr_t));
        if (conf->seeds == NULL) {
            return "out of memory";
        }
    }

    for (i = 0; i < u.naddrs; i++) {
        err = ngx_mdm_redis_numeric(pool, &u.addrs[i], &host, &port);
        if (err != NULL) {
            return err;
        }
        if (host.len >= MDM_CLUSTER_HOST_MAX) {
            return "has an address that is too long";
        }

        seed = ngx_array_push(conf->seeds);
        if (seed == NULL) {
            return "out of memory";
        }
        ngx_cpystrn((u_char *) seed->host, host.data, host.len + 1);
        seed->port = port;
    }

    return NULL;
}


ngx_mdm_redis_t *
ngx_mdm_redis_create(ngx_cycle_t *cycle, ngx_mdm_redis_conf_t *conf)
{
    ngx_uint_t              i, n;
    ngx_mdm_redis_t        *rd;
    ngx_mdm_redis_conn_t   *conn;

    rd = ngx_pcalloc(cycle->pool, sizeof(ngx_mdm_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->conf = conf;
    rd->log = cycle->log;

    for (n = 0; mdm_scripts[n].name != NULL; n++) { /* count */ }

    rd->shas = ngx_pcalloc(cycle->pool, (n + 1) * sizeof(*rd->shas));
    rd->conns = ngx_pcalloc(cycle->pool,
                            conf->pool_size * sizeof(ngx_mdm_redis_conn_t));
    if (rd->shas == NULL || rd->conns == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        mdm_script_sha1_hex(&mdm_scripts[i], rd->shas[i]);
    }

    if (conf->seeds != NULL) {
        return ngx_mdm_redis_cluster_create(rd) == NGX_OK ? rd : NULL;
    }

    for (i = 0; i < conf->pool_size; i++) {
        conn = &rd->conns[i];
        conn->rd = rd;
        conn->retry.handler = ngx_mdm_redis_retry_handler;
        conn->retry.data = conn;
        conn->retry.log = rd->log;
        conn->retry.cancelable = 1;
        conn->connect_timer.handler = ngx_mdm_redis_connect_timeout;
        conn->connect_timer.data = conn;
        conn->connect_timer.log = rd->log;
        conn->connect_timer.cancelable = 1;

        ngx_mdm_redis_connect(conn);
    }

    return rd;
}


void
ngx_mdm_redis_destroy(ngx_mdm_redis_t *rd)
{
    ngx_uint_t              i;
    ngx_mdm_redis_conn_t   *conn;

    rd->exiting = 1;

    if (rd->cluster.cl != NULL) {
        ngx_mdm_redis_cluster_stop(&rd->cluster);
        return;
    }

    for (i = 0; i < rd->conf->pool_size; i++) {
        conn = &rd->conns[i];

        if (conn->retry.timer_set) {
            ngx_del_timer(&conn->retry);
        }

        if (conn->connect_timer.timer_set) {
            ngx_del_timer(&conn->connect_timer);
        }

        if (conn->ac != NULL) {
            redisAsyncFree(conn->ac);
        }
    }
}


static void
ngx_mdm_redis_connect(ngx_mdm_redis_conn_t *conn)
{
    ngx_mdm_redis_t       *rd = conn->rd;
    ngx_mdm_redis_conf_t  *conf = rd->conf;
    redisAsyncContext     *ac;

    if (conf->port == 0) {
        ac = redisAsyncConnectUnix((char *) conf->host.data);
    } else {
        ac = redisAsyncConnect((char *) conf->host.data, conf->port);
    }

    if (ac == NULL || ac->err) {
        ngx_mdm_redis_observe(rd, NGX_MDM_REDIS_CONNECT_FAILED, 0);
        ngx_mdm_redis_log_error(rd, "connect failed",
                                ac ? ac->errstr : "out of memory");
        if (ac != NULL) {
            redisAsyncFree(ac);
        }
        conn->state = NGX_MDM_REDIS_IDLE;
        ngx_mdm_redis_cleanup(conn);
        return;
    }

    conn->ac = ac;
    ac->data = conn;

    if (ngx_mdm_redis_attach(conn) != NGX_OK) {
        ngx_mdm_redis_log_error(rd, "connect failed",
                                "no free nginx connection");
        /* no cleanup callback is installed yet: do its work here */
        redisAsyncFree(ac);
        conn->ac = NULL;
        ngx_mdm_redis_cleanup(conn);
        return;
    }

    conn->state = NGX_MDM_REDIS_CONNECTING;

    /* Setting the connect callback arms the first write event. */
    redisAsyncSetConnectCallback(ac, ngx_mdm_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_mdm_redis_on_disconnect);

    /*
     * Queued now, the scripts reach Redis ahead of any command a request
     * sends on this connection, even one sent before it is established.
     */
    ngx_mdm_redis_load_scripts(conn);

    ngx_add_timer(&conn->connect_timer, conf->connect_timeout);
}


static ngx_int_t
ngx_mdm_redis_attach(ngx_mdm_redis_conn_t *conn)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac = conn->ac;

    c = ngx_get_connection(ac->c.fd, conn->rd->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = conn;
    c->read->handler = ngx_mdm_redis_read_handler;
    c->write->handler = ngx_mdm_redis_write_handler;
    c->read->log = conn->rd->log;
    c->write->log = conn->rd->log;
    conn->c = c;

    ac->ev.data = conn;
    ac->ev.addRead = ngx_mdm_redis_add_read;
    ac->ev.delRead = ngx_mdm_redis_del_read;
    ac->ev.addWrite = ngx_mdm_redis_add_write;
    ac->ev.delWrite = ngx_mdm_redis_del_write;
    ac->ev.cleanup = ngx_mdm_redis_cleanup;

    return NGX_OK;
}


static void
ngx_mdm_redis_add_read(void *privdata)
{
    ngx_mdm_redis_conn_t  *conn = privdata;

    if (conn->c != NULL && !conn->c->read->active) {
        ngx_add_event(conn->c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_mdm_redis_del_read(void *privdata)
{
    ngx_mdm_redis_conn_t  *conn = privdata;

    if (conn->c != NULL && conn->c->read->active) {
        ngx_del_event(conn->c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_mdm_redis_add_write(void *privdata)
{
    ngx_mdm_redis_conn_t  *conn = privdata;

    if (conn->c != NULL && !conn->c->write->active) {
        ngx_add_event(conn->c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_mdm_redis_del_write(void *privdata)
{
    ngx_mdm_redis_conn_t  *conn = privdata;

    if (conn->c != NULL && conn->c->write->active) {
        ngx_del_event(conn->c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis is done with the context and is about to close the fd itself:
 * release the nginx connection without closing it, and plan a reconnect.
 */
static void
ngx_mdm_redis_cleanup(void *privdata)
{
    ngx_mdm_redis_conn_t  *conn = privdata;
    ngx_mdm_redis_t       *rd = conn->rd;
    ngx_connection_t      *c = conn->c;

    if (c != NULL) {
        ngx_mdm_redis_del_read(conn);
        ngx_mdm_redis_del_write(conn);

        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        /* hiredis closes the fd: nginx must not think it is still open */
        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
        conn->c = NULL;
    }

    conn->ac = NULL;
    conn->state = NGX_MDM_REDIS_IDLE;
    conn->loading = 0;

    if (conn->connect_timer.timer_set) {
        ngx_del_timer(&conn->connect_timer);
    }

    if (rd->exiting || conn->retry.timer_set) {
        return;
    }

    conn->backoff = conn->backoff ? ngx_min(conn->backoff * 2,
                                            rd->conf->backoff_max)
                                  : 100;
    ngx_add_timer(&conn->retry, conn->backoff);
}


static void
ngx_mdm_redis_retry_handler(ngx_event_t *ev)
{
    ngx_mdm_redis_conn_t  *conn = ev->data;

    if (!conn->rd->exiting && conn->ac == NULL) {
        ngx_mdm_redis_connect(conn);
    }
}


static void
ngx_mdm_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_mdm_redis_conn_t  *conn = ev->data;

    ngx_mdm_redis_observe(conn->rd, NGX_MDM_REDIS_CONNECT_FAILED, 0);
    ngx_mdm_redis_log_error(conn->rd, "connect failed", "timed out");

    if (conn->ac != NULL) {
        redisAsyncFree(conn->ac);
    }
}


static void
ngx_mdm_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_mdm_redis_conn_t  *conn = ac->data;
    ngx_mdm_redis_t       *rd = conn->rd;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this; cleanup plans the retry */
        ngx_mdm_redis_observe(rd, NGX_MDM_REDIS_CONNECT_FAILED, 0);
        ngx_mdm_redis_log_error(rd, "connect failed", ac->errstr);
        return;
    }

    if (conn->connect_timer.timer_set) {
        ngx_del_timer(&conn->connect_timer);
    }

    if (rd->suppressed || rd->last_error_log) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "mdm redis %V: connected", &rd->conf->addr);
        rd->last_error_log = 0;
        rd->suppressed = 0;
    }

    conn->state = NGX_MDM_REDIS_CONNECTED;
    conn->backoff = 0;
}


static void
ngx_mdm_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_mdm_redis_conn_t  *conn = ac->data;

    if (status != REDIS_OK && !conn->rd->exiting) {
        ngx_mdm_redis_observe(conn->rd, NGX_MDM_REDIS_CONNECTION_LOST, 0);
        ngx_mdm_redis_log_error(conn->rd, "connection lost", ac->errstr);
    }
}


/*
 * Scripts are loaded on every new connection, ahead of any EVALSHA sent on
 * it: Redis may have restarted and forgotten them. A NOSCRIPT reply later
 * (SCRIPT FLUSH) loads them again on that connection.
 */
static void
ngx_mdm_redis_load_scripts(ngx_mdm_redis_conn_t *conn)
{
    const mdm_script_t  *s;
    const char          *argv[3];
    size_t               argvlen[3];

    if (conn->loading) {
        return;
    }

    argv[0] = "SCRIPT";
    argvlen[0] = 6;
    argv[1] = "LOAD";
    argvlen[1] = 4;

    for (s = mdm_scripts; s->name != NULL; s++) {
        argv[2] = s->src;
        argvlen[2] = s->len;
        if (redisAsyncCommandArgv(conn->ac, ngx_mdm_redis_script_loaded,
                                  (void *) s, 3, argv, argvlen)
            == REDIS_OK)
        {
            conn->loading++;
        }
    }
}


/*
 * A script that did not load (Redis still loading its data set, out of
 * memory) makes the connection useless: it is dropped and, after the
 * backoff, made again, scripts first.
 */
static void
ngx_mdm_redis_script_loaded(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply            *reply = r;
    const mdm_script_t    *s = privdata;
    ngx_mdm_redis_conn_t  *conn = ac->data;

    conn->loading--;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        ngx_mdm_redis_log_error(conn->rd, "SCRIPT LOAD failed", reply->str);
        ngx_log_debug1(NGX_LOG_DEBUG_CORE, conn->rd->log, 0,
                       "mdm redis: script %s not loaded", s->name);
        redisAsyncDisconnect(ac);
    }
}


static void
ngx_mdm_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c = ev->data;
    ngx_mdm_redis_conn_t  *conn = c->data;

    redisAsyncHandleRead(conn->ac);
}


static void
ngx_mdm_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c = ev->data;
    ngx_mdm_redis_conn_t  *conn = c->data;

    redisAsyncHandleWrite(conn->ac);
}


static ngx_mdm_redis_conn_t *
ngx_mdm_redis_pick(ngx_mdm_redis_t *rd)
{
    ngx_uint_t              i, n;
    ngx_mdm_redis_conn_t   *conn, *connecting;

    n = rd->conf->pool_size;
    connecting = NULL;

    for (i = 0; i < n; i++) {
        conn = &rd->conns[rd->next++ % n];

        if (conn->state == NGX_MDM_REDIS_CONNECTED) {
            return conn;
        }

        if (conn->state == NGX_MDM_REDIS_CONNECTING && connecting == NULL) {
            connecting = conn;
        }
    }

    /* hiredis buffers commands until the connection is up */
    return connecting;
}


ngx_mdm_redis_cmd_t *
ngx_mdm_redis_send(ngx_mdm_redis_t *rd, int argc, const char **argv,
    const size_t *argvlen, ngx_mdm_redis_handler_pt handler, void *data)
{
    ngx_mdm_redis_cmd_t   *cmd;
    ngx_mdm_redis_conn_t  *conn;

    if (rd->cluster.cl != NULL) {
        return ngx_mdm_redis_cluster_send(rd, argc, argv, argvlen, handler,
                                          data);
    }

    conn = ngx_mdm_redis_pick(rd);
    if (conn == NULL) {
        ngx_mdm_redis_observe(rd, NGX_MDM_REDIS_UNAVAILABLE, 0);
        ngx_mdm_redis_log_error(rd, "unavailable", "no connection");
        return NULL;
    }

    /* outlives the request that asked: freed when Redis answers */
    cmd = ngx_calloc(sizeof(ngx_mdm_redis_cmd_t), rd->log);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->data = data;
    cmd->rd = rd;
    cmd->handler = handler;
    cmd->conn = conn;
    cmd->timer.handler = ngx_mdm_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = rd->log;
    cmd->sent = rd->conf->observe ? ngx_mdm_redis_usec() : 0;

    if (redisAsyncCommandArgv(conn->ac, ngx_mdm_redis_reply, cmd, argc,
                              argv, argvlen)
        != REDIS_OK)
    {
        ngx_mdm_redis_observe(rd, NGX_MDM_REDIS_UNAVAILABLE, 0);
        ngx_free(cmd);
        return NULL;
    }

    ngx_add_timer(&cmd->timer, rd->conf->timeout);

    return cmd;
}


void
ngx_mdm_redis_cancel(ngx_mdm_redis_cmd_t *cmd)
{
    cmd->handler = NULL;
}


static void
ngx_mdm_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply            *reply = r;
    ngx_mdm_redis_cmd_t   *cmd = privdata;
    ngx_mdm_redis_conn_t  *conn = cmd->conn;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (reply != NULL) {
        ngx_mdm_redis_observe(conn->rd, reply->type == REDIS_REPLY_ERROR
                                        ? NGX_MDM_REDIS_ERROR_REPLY
                                        : NGX_MDM_REDIS_REPLY,
                              cmd->sent);

        if (reply->type == REDIS_REPLY_ERROR
            && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
        {
            ngx_mdm_redis_log_error(conn->rd, "scripts lost", reply->str);
            ngx_mdm_redis_load_scripts(conn);
        }
    }

    if (!cmd->done && cmd->handler != NULL) {
        cmd->done = 1;
        cmd->handler(cmd->data, r);
    }

    ngx_free(cmd);
}


/*
 * A command that got no answer in time: the requester gets its failure now,
 * and the connection, which is stalled or dead, is dropped and reconnected.
 * Dropping it completes this command, so cmd must not be used afterwards.
 */
static void
ngx_mdm_redis_cmd_timeout(ngx_event_t *ev)
{
    ngx_mdm_redis_cmd_t   *cmd = ev->data;
    ngx_mdm_redis_conn_t  *conn = cmd->conn;

    ngx_mdm_redis_observe(conn->rd, NGX_MDM_REDIS_TIMEOUT, 0);
    ngx_mdm_redis_log_error(conn->rd, "command failed", "timed out");

    if (!cmd->done && cmd->handler != NULL) {
        cmd->done = 1;
        cmd->handler(cmd->data, NULL);
    }

    cmd->done = 1;

    if (conn->ac != NULL) {
        redisAsyncFree(conn->ac);
    }
}


/* One error line per interval, however many requests hit the outage. */
static void
ngx_mdm_redis_log_error(ngx_mdm_redis_t *rd, const char *what,
    const char *detail)
{
    time_t  now = ngx_time();

    if (rd->last_error_log
        && now - rd->last_error_log
           < (time_t) (rd->conf->error_log_interval / 1000))
    {
        rd->suppressed++;
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "mdm redis %V: %s: %s (%ui similar errors suppressed)",
                  &rd->conf->addr, what, detail, rd->suppressed);

    rd->last_error_log = now;
    rd->suppressed = 0;
}


/* Tells the observer, if any; a reply's latency is measured from sent. */
static void
ngx_mdm_redis_observe(ngx_mdm_redis_t *rd, ngx_mdm_redis_event_e event,
    uint64_t sent)
{
    if (rd->conf->observe != NULL) {
        rd->conf->observe(event, sent ? ngx_mdm_redis_usec() - sent : 0);
    }
}


/*
 * nginx's cached time moves once per event loop turn, in milliseconds: too
 * coarse for replies that take a fraction of one.
 */
static uint64_t
ngx_mdm_redis_usec(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


const char *
ngx_mdm_redis_script_sha(ngx_mdm_redis_t *rd, const char *name)
{
    const mdm_script_t  *s;

    s = mdm_script_find(name);

    return s ? rd->shas[s - mdm_scripts] : NULL;
}


/* ---- Redis Cluster, through libmdm's client on nginx events ------------- */

static ngx_int_t
ngx_mdm_redis_cluster_create(ngx_mdm_redis_t *rd)
{
    ngx_mdm_redis_conf_t  *conf = rd->conf;
    mdm_cluster_conf_t     cc;

    ngx_memzero(&cc, sizeof(mdm_cluster_conf_t));
    cc.seeds = conf->seeds->elts;
    cc.nseeds = conf->seeds->nelts;
    cc.pool = conf->pool_size;
    cc.timeout_ms = conf->timeout;
    cc.connect_timeout_ms = conf->connect_timeout;
    cc.max_redirects = 16;
    cc.retry_delay_ms = 25;
    cc.refresh_ms = 10000;
    cc.backoff_max_ms = conf->backoff_max;
    cc.scripts = mdm_scripts;
    cc.log = ngx_mdm_redis_cluster_log;
    cc.count = ngx_mdm_redis_cluster_count;
    cc.ctx = rd;

    if (ngx_mdm_redis_cluster_start(&rd->cluster, rd->log, &cc) == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_mdm_redis_cluster_log(void *ctx, mdm_cluster_event_e ev, const char *msg)
{
    ngx_mdm_redis_t  *rd = ctx;

    switch (ev) {

    case MDM_CLUSTER_EV_INFO:
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0, "mdm redis %V: %s",
                      &rd->conf->addr, msg);
        return;

    case MDM_CLUSTER_EV_CONNECT_FAILED:
        ngx_mdm_redis_observe(rd, NGX_MDM_REDIS_CONNECT_FAILED, 0);
        break;

    case MDM_CLUSTER_EV_CONNECTION_LOST:
        ngx_mdm_redis_observe(rd, NGX_MDM_REDIS_CONNECTION_LOST, 0);
        break;

    default:
        break;
    }

    ngx_mdm_redis_log_error(rd, "cluster", msg);
}


static void
ngx_mdm_redis_cluster_count(void *ctx, mdm_cluster_redirect_e kind)
{
    static const ngx_mdm_redis_event_e  events[] = {
        NGX_MDM_REDIS_MOVED, NGX_MDM_REDIS_ASK, NGX_MDM_REDIS_TRYAGAIN,
        NGX_MDM_REDIS_CLUSTERDOWN
    };

    ngx_mdm_redis_observe(ctx, events[kind], 0);
}


static ngx_mdm_redis_cmd_t *
ngx_mdm_redis_cluster_send(ngx_mdm_redis_t *rd, int argc, const char **argv,
    const size_t *argvlen, ngx_mdm_redis_handler_pt handler, void *data)
{
    char                 *fmt;
    long long             len;
    ngx_mdm_redis_cmd_t  *cmd;

    len = redisFormatCommandArgv(&fmt, argc, argv, argvlen);
    if (len < 0) {
        return NULL;
    }

    /* outlives the request that asked: freed when the client answers */
    cmd = ngx_calloc(sizeof(ngx_mdm_redis_cmd_t), rd->log);
    if (cmd == NULL) {
        free(fmt);
        return NULL;
    }

    cmd->data = data;
    cmd->rd = rd;
    cmd->handler = handler;
    cmd->sent = rd->conf->observe ? ngx_mdm_redis_usec() : 0;

    /* the client owns fmt from here, whatever it answers */
    cmd->conn = mdm_cluster_send(rd->cluster.cl, fmt, (size_t) len, 0,
                                 ngx_mdm_redis_cluster_reply, cmd);
    if (cmd->conn == NULL) {
        ngx_mdm_redis_observe(rd, NGX_MDM_REDIS_UNAVAILABLE, 0);
        ngx_mdm_redis_log_error(rd, "unavailable",
                                "no reachable master for the command's slot");
        ngx_free(cmd);
        return NULL;
    }

    return cmd;
}


static void
ngx_mdm_redis_cluster_reply(void *data, redisReply *reply,
    mdm_cluster_status_e status)
{
    ngx_mdm_redis_cmd_t  *cmd = data;
    ngx_mdm_redis_t      *rd = cmd->rd;

    switch (status) {

    case MDM_CLUSTER_OK:
        ngx_mdm_redis_observe(rd, reply->type == REDIS_REPLY_ERROR
                                  ? NGX_MDM_REDIS_ERROR_REPLY
                                  : NGX_MDM_REDIS_REPLY,
                              cmd->sent);
        break;

    case MDM_CLUSTER_TIMEOUT:
        ngx_mdm_redis_observe(rd, NGX_MDM_REDIS_TIMEOUT, 0);
        ngx_mdm_redis_log_error(rd, "command failed", "timed out");
        break;

    case MDM_CLUSTER_CONNECTION_LOST:
        ngx_mdm_redis_observe(rd, NGX_MDM_REDIS_CONNECTION_LOST, 0);
        break;

    default:
        ngx_mdm_redis_observe(rd, NGX_MDM_REDIS_UNAVAILABLE, 0);
        ngx_mdm_redis_log_error(rd, "unavailable",
                                "no reachable master for the command's slot");
    }

    if (!cmd->done && cmd->handler != NULL) {
        cmd->done = 1;
        cmd->handler(cmd->data, reply);
    }

    ngx_free(cmd);
}
