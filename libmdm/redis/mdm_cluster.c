/*
 * Redis Cluster client: the slot map, routing, redirections, per-node
 * connection pools. See mdm_cluster.h for the contract.
 *
 * Lifetimes: nodes live as long as the client (a slot map and requests point
 * at them by index or pointer). A request lives until its caller has been
 * answered and no reply for it is outstanding on any connection.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdm_cluster.h"
#include "mdm_cmd_key.h"
#include "mdm_slot.h"

#define NODES_MAX        256
#define NO_NODE          0xffff
#define RETRY_SOON_MS    250      /* map re-read while something is wrong */
#define DELAY_SHIFT_MAX  5


typedef enum {
    CONN_IDLE = 0,
    CONN_CONNECTING,
    CONN_CONNECTED
} conn_state_e;

typedef struct node_s  node_t;

typedef struct {
    node_t              *node;
    redisAsyncContext   *ac;
    conn_state_e         state;
    uint64_t             since;        /* connect started, or last reply */
    unsigned             pending;      /* our replies outstanding */
    unsigned             extra_ms;     /* blocking allowance of those */
} conn_t;

struct node_s {
    mdm_cluster_t       *cl;
    mdm_cluster_addr_t   addr;
    unsigned             index;
    int                  master;       /* serves slots in the current map */
    int                  seed;
    unsigned             failures;     /* consecutive connect failures */
    uint64_t             retry_at;     /* no new connection before */
    unsigned             next;         /* round robin over conns */
    conn_t              *conns;
};

struct mdm_cluster_req_s {
    mdm_cluster_t         *cl;
    mdm_cluster_req_t     *prev, *next;    /* the waiting list */
    char                  *cmd;
    size_t                 len;
    int                    slot;           /* -1: keyless */
    uint64_t               deadline;
    unsigned               extra_ms;
    unsigned               redirects;
    unsigned               retries;
    unsigned               noscript;
    node_t                *ask;            /* ASKING first, to this node */
    conn_t                *pin;            /* resend on this connection */
    uint64_t               retry_at;
    mdm_cluster_reply_pt   cb;
    void                  *data;
    unsigned               inflight:1;
    unsigned               waiting:1;
    unsigned               done:1;
};

struct mdm_cluster_s {
    mdm_cluster_conf_t     conf;
    mdm_cluster_loop_t     loop;
    node_t                *nodes[NODES_MAX];
    unsigned               nnodes;
    uint16_t               slots[MDM_SLOTS];
    unsigned               covered;
    int                    have_map;
    int                    refreshing;
    uint64_t               refresh_at;
    unsigned               next_source;
    unsigned               next_any;
    int                    closing;
    mdm_cluster_status_e   drop_status;    /* for replies failed by a drop */
    mdm_cluster_req_t      waiting;        /* list head */
    mdm_cluster_stats_t    stats;
};


static void conn_connect(conn_t *conn);
static void conn_drop(conn_t *conn, mdm_cluster_status_e status);
static void map_refresh(mdm_cluster_t *cl);
static mdm_cluster_status_e req_dispatch(mdm_cluster_req_t *req);
static void req_complete(mdm_cluster_req_t *req, redisReply *reply,
    mdm_cluster_status_e status);


static uint64_t
now_ms(mdm_cluster_t *cl)
{
    return cl->loop.now(cl->loop.loop);
}


static void
say(mdm_cluster_t *cl, mdm_cluster_event_e ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(mdm_cluster_t *cl, mdm_cluster_event_e ev, const char *fmt, ...)
{
    char     msg[512];
    va_list  ap;

    if (cl->conf.log == NULL) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    cl->conf.log(cl->conf.ctx, ev, msg);
}


static void
count(mdm_cluster_t *cl, mdm_cluster_redirect_e kind)
{
    uint64_t  *n[] = { &cl->stats.moved, &cl->stats.ask, &cl->stats.tryagain,
                       &cl->stats.clusterdown };

    (*n[kind])++;

    if (cl->conf.count != NULL) {
        cl->conf.count(cl->conf.ctx, kind);
    }
}


/* ---- addresses and nodes ------------------------------------------------ */

int
mdm_cluster_parse_addr(const char *s, size_t len, mdm_cluster_addr_t *out,
    const char **err)
{
    const char  *colon = NULL, *host = s;
    size_t       hostlen;
    long         port = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == ':') {
            colon = s + i;
        }
    }

    if (colon == NULL || colon == s) {
        *err = "must be \"host:port\" or \"[ipv6]:port\"";
        return -1;
    }

    hostlen = (size_t) (colon - s);
    if (host[0] == '[') {
        if (hostlen < 3 || host[hostlen - 1] != ']') {
            *err = "has an unterminated \"[\"";
            return -1;
        }
        host++;
        hostlen -= 2;
    }

    if (hostlen >= MDM_CLUSTER_HOST_MAX) {
        *err = "has a host that is too long";
        return -1;
    }

    for (const char *p = colon + 1; p < s + len; p++) {
        if (*p < '0' || *p > '9' || port > 65535) {
            port = -1;
            break;
        }
        port = port * 10 + (*p - '0');
    }

    if (port < 1 || port > 65535) {
        *err = "has an invalid port";
        return -1;
    }

    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    out->port = (int) port;
    return 0;
}


static node_t *
node_get(mdm_cluster_t *cl, const char *host, int port)
{
    node_t    *node;
    conn_t    *conns;

    for (unsigned i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];
        if (node->addr.port == port && strcmp(node->addr.host, host) == 0) {
            return node;
        }
    }

    if (cl->nnodes == NODES_MAX || strlen(host) >= MDM_CLUSTER_HOST_MAX) {
        say(cl, MDM_CLUSTER_EV_ERROR, "cluster: too many nodes, %s:%d ignored",
            host, port);
        return NULL;
    }

    node = calloc(1, sizeof(node_t));
    conns = calloc(cl->conf.pool, sizeof(conn_t));
    if (node == NULL || conns == NULL) {
        free(node);
        free(conns);
        return NULL;
    }

    node->cl = cl;
    strcpy(node->addr.host, host);
    node->addr.port = port;
    node->index = cl->nnodes;
    node->conns = conns;
    for (unsigned i = 0; i < cl->conf.pool; i++) {
        conns[i].node = node;
    }

    cl->nodes[cl->nnodes++] = node;
    return node;
}


static void
node_failed(node_t *node)
{
    mdm_cluster_t  *cl = node->cl;
    uint64_t        delay;

    delay = 100ull << (node->failures < 6 ? node->failures : 6);
    if (delay > cl->conf.backoff_max_ms) {
        delay = cl->conf.backoff_max_ms;
    }

    node->failures++;
    node->retry_at = now_ms(cl) + delay;

    /* a master we cannot reach may have failed over: ask the others */
    if (node->master) {
        cl->refresh_at = 0;
    }
}


static int
conn_usable(const conn_t *conn)
{
    return conn->ac != NULL && conn->state != CONN_IDLE
           && !(conn->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING));
}


/*
 * A connected connection, round robin; else one being made (hiredis buffers
 * commands until it is up); else a new one, unless the node backs off.
 */
static conn_t *
node_conn(node_t *node)
{
    mdm_cluster_t  *cl = node->cl;
    conn_t         *conn, *connecting = NULL, *idle = NULL;

    for (unsigned i = 0; i < cl->conf.pool; i++) {
        conn = &node->conns[node->next++ % cl->conf.pool];

        if (conn->state == CONN_CONNECTED && conn_usable(conn)) {
            return conn;
        }

        if (conn_usable(conn)) {
            if (connecting == NULL) {
                connecting = conn;
            }
        } else if (idle == NULL && conn->ac == NULL) {
            idle = conn;
        }
    }

    if (connecting != NULL) {
        return connecting;
    }

    if (idle == NULL || cl->closing || now_ms(cl) < node->retry_at) {
        return NULL;
    }

    conn_connect(idle);

    return conn_usable(idle) ? idle : NULL;
}


/* Any master with a connection, round robin: for keyless commands. */
static node_t *
any_master(mdm_cluster_t *cl)
{
    node_t  *node;

    for (unsigned i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[cl->next_any++ % cl->nnodes];
        if (node->master && now_ms(cl) >= node->retry_at) {
            return node;
        }
    }

    return NULL;
}


/* ---- connections -------------------------------------------------------- */

static void
conn_script_loaded(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply          *reply = r;
    conn_t              *conn = ac->data;
    const mdm_script_t  *s = privdata;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        /* EVALSHA will meet NOSCRIPT and load again */
        say(conn->node->cl, MDM_CLUSTER_EV_ERROR,
            "cluster node %s:%d: SCRIPT LOAD %s: %s", conn->node->addr.host,
            conn->node->addr.port, s->name, reply->str);
    }
}


/* Queued ahead of every command later sent on this connection. */
static void
conn_load_scripts(conn_t *conn)
{
    const mdm_script_t  *s;
    const char          *argv[3] = { "SCRIPT", "LOAD", NULL };
    size_t               argvlen[3] = { 6, 4, 0 };

    for (s = conn->node->cl->conf.scripts; s != NULL && s->name != NULL; s++) {
        argv[2] = s->src;
        argvlen[2] = s->len;
        redisAsyncCommandArgv(conn->ac, conn_script_loaded, (void *) s, 3,
                              argv, argvlen);
    }
}


static void
conn_on_connect(const redisAsyncContext *ac, int status)
{
    conn_t         *conn = ac->data;
    node_t         *node = conn->node;
    mdm_cluster_t  *cl = node->cl;

    if (status != REDIS_OK) {
        say(cl, MDM_CLUSTER_EV_CONNECT_FAILED,
            "cluster node %s:%d: connect failed: %s", node->addr.host,
            node->addr.port, ac->errstr);
        conn->ac = NULL;                 /* hiredis frees the context */
        conn->state = CONN_IDLE;
        conn->pending = 0;
        node_failed(node);
        return;
    }

    conn->state = CONN_CONNECTED;
    conn->since = now_ms(cl);

    if (node->failures > 0) {
        say(cl, MDM_CLUSTER_EV_INFO, "cluster node %s:%d: connected",
            node->addr.host, node->addr.port);
        node->failures = 0;
    }
}


static void
conn_on_disconnect(const redisAsyncContext *ac, int status)
{
    conn_t         *conn = ac->data;
    node_t         *node = conn->node;
    mdm_cluster_t  *cl = node->cl;

    conn->ac = NULL;
    conn->state = CONN_IDLE;
    conn->pending = 0;

    if (status != REDIS_OK && !cl->closing) {
        say(cl, MDM_CLUSTER_EV_CONNECTION_LOST,
            "cluster node %s:%d: connection lost: %s", node->addr.host,
            node->addr.port, ac->errstr);
        node_failed(node);
    }
}


static void
conn_connect(conn_t *conn)
{
    node_t             *node = conn->node;
    mdm_cluster_t      *cl = node->cl;
    redisAsyncContext  *ac;

    ac = redisAsyncConnect(node->addr.host, node->addr.port);
    if (ac == NULL || ac->err) {
        say(cl, MDM_CLUSTER_EV_CONNECT_FAILED,
            "cluster node %s:%d: connect failed: %s", node->addr.host,
            node->addr.port, ac ? ac->errstr : "out of memory");
        if (ac != NULL) {
            redisAsyncFree(ac);
        }
        node_failed(node);
        return;
    }

    ac->data = conn;

    if (cl->loop.attach(cl->loop.loop, ac) != 0) {
        say(cl, MDM_CLUSTER_EV_CONNECT_FAILED,
            "cluster node %s:%d: connect failed: cannot attach to the loop",
            node->addr.host, node->addr.port);
        redisAsyncFree(ac);
        node_failed(node);
        return;
    }

    conn->ac = ac;
    conn->state = CONN_CONNECTING;
    conn->since = now_ms(cl);
    conn->pending = 0;
    conn->extra_ms = 0;

    redisAsyncSetConnectCallback(ac, conn_on_connect);
    redisAsyncSetDisconnectCallback(ac, conn_on_disconnect);

    conn_load_scripts(conn);
}


/* Closes conn now; the replies it still owed fail with status. */
static void
conn_drop(conn_t *conn, mdm_cluster_status_e status)
{
    mdm_cluster_t      *cl = conn->node->cl;
    redisAsyncContext  *ac = conn->ac;

    if (ac == NULL) {
        return;
    }

    conn->ac = NULL;
    conn->state = CONN_IDLE;
    conn->pending = 0;

    cl->drop_status = status;
    redisAsyncFree(ac);
    cl->drop_status = MDM_CLUSTER_CONNECTION_LOST;
}


/* ---- the slot map ------------------------------------------------------- */

static int
map_node_ok(const redisReply *n)
{
    return n->type == REDIS_REPLY_ARRAY && n->elements >= 2
           && n->element[0]->type == REDIS_REPLY_STRING
           && n->element[1]->type == REDIS_REPLY_INTEGER
           && n->element[1]->integer >= 0 && n->element[1]->integer <= 65535;
}


static int
map_valid(const redisReply *r)
{
    const redisReply  *e;

    if (r->type != REDIS_REPLY_ARRAY) {
        return 0;
    }

    for (size_t i = 0; i < r->elements; i++) {
        e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3
            || e->element[0]->type != REDIS_REPLY_INTEGER
            || e->element[1]->type != REDIS_REPLY_INTEGER
            || e->element[0]->integer < 0
            || e->element[1]->integer >= MDM_SLOTS
            || e->element[0]->integer > e->element[1]->integer
            || !map_node_ok(e->element[2]))
        {
            return 0;
        }
    }

    return 1;
}


/* Masters no longer in the map keep their connections until idle. */
static void
map_mark_masters(mdm_cluster_t *cl)
{
    for (unsigned i = 0; i < cl->nnodes; i++) {
        cl->nodes[i]->master = 0;
    }

    cl->covered = 0;
    for (unsigned s = 0; s < MDM_SLOTS; s++) {
        if (cl->slots[s] != NO_NODE) {
            cl->nodes[cl->slots[s]]->master = 1;
            cl->covered++;
        }
    }
}


static int
map_healthy(mdm_cluster_t *cl)
{
    node_t  *node;
    int      reachable;

    if (cl->covered != MDM_SLOTS) {
        return 0;
    }

    for (unsigned i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];
        if (!node->master) {
            continue;
        }
        reachable = 0;
        for (unsigned c = 0; c < cl->conf.pool; c++) {
            reachable |= conn_usable(&node->conns[c]);
        }
        if (!reachable) {
            return 0;
        }
    }

    return 1;
}


static void
map_apply(mdm_cluster_t *cl, const redisReply *r, node_t *source)
{
    uint16_t           slots[MDM_SLOTS];
    const redisReply  *e, *m;
    const char        *host;
    node_t            *node;
    unsigned           before, masters = 0;
    int                was_ready = cl->have_map, changed;

    for (unsigned s = 0; s < MDM_SLOTS; s++) {
        slots[s] = NO_NODE;
    }

    for (size_t i = 0; i < r->elements; i++) {
        e = r->element[i];
        m = e->element[2];
        host = m->element[0]->str;

        /* "" is the node that answered; "?" an endpoint it does not know */
        if (host[0] == '?') {
            continue;
        }
        if (host[0] == '\0') {
            host = source->addr.host;
        }

        node = node_get(cl, host, (int) m->element[1]->integer);
        if (node == NULL) {
            continue;
        }

        for (long long s = e->element[0]->integer; s <= e->element[1]->integer;
             s++)
        {
            slots[s] = (uint16_t) node->index;
        }
    }

    before = cl->covered;
    changed = memcmp(slots, cl->slots, sizeof(slots)) != 0;
    memcpy(cl->slots, slots, sizeof(slots));
    map_mark_masters(cl);
    cl->have_map = cl->covered > 0;
    cl->stats.map_refreshes++;

    for (unsigned i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];
        if (node->master) {
            masters++;
            node_conn(node);             /* connect early, scripts first */
        }
    }

    if (changed || before != cl->covered) {
        say(cl, cl->covered == MDM_SLOTS ? MDM_CLUSTER_EV_INFO
                                         : MDM_CLUSTER_EV_MAP_ERROR,
            "cluster map from %s:%d: %u masters, %u of %u slots served%s",
            source->addr.host, source->addr.port, masters, cl->covered,
            MDM_SLOTS, cl->covered == MDM_SLOTS ? ""
                       : " (commands for the others fail)");
    }

    if (cl->have_map && !was_ready && cl->conf.ready != NULL) {
        cl->conf.ready(cl->conf.ctx);
    }
}


static void
map_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply     *reply = r;
    node_t         *source = privdata;
    mdm_cluster_t  *cl = source->cl;
    uint64_t        now;

    (void) ac;
    cl->refreshing = 0;

    if (cl->closing) {
        return;
    }

    now = now_ms(cl);
    cl->next_source++;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR
        || !map_valid(reply))
    {
        cl->stats.map_errors++;
        cl->refresh_at = now + RETRY_SOON_MS;
        say(cl, MDM_CLUSTER_EV_MAP_ERROR,
            "cluster node %s:%d: no slot map: %s", source->addr.host,
            source->addr.port,
            reply == NULL ? "no reply (connection failed or lost)"
            : reply->type != REDIS_REPLY_ERROR ? "CLUSTER SLOTS answered "
                                                 "something that is not a "
                                                 "slot map"
            : strstr(reply->str, "cluster support disabled") != NULL
              ? "it is not a cluster node (cluster support disabled)"
            : reply->str);
        return;
    }

    map_apply(cl, reply, source);

    cl->refresh_at = map_healthy(cl)
                     ? (cl->conf.refresh_ms ? now + cl->conf.refresh_ms
                                            : UINT64_MAX)
                     : now + RETRY_SOON_MS;

    /* requests that waited for a map go out now */
    for (mdm_cluster_req_t *q = cl->waiting.next; q != &cl->waiting;
         q = q->next)
    {
        if (q->retry_at == UINT64_MAX) {
            q->retry_at = 0;
        }
    }
}


/* The next source: a connected master, else any known node, seeds last. */
static node_t *
map_source(mdm_cluster_t *cl)
{
    node_t  *node;

    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < cl->nnodes; i++) {
            node = cl->nodes[(cl->next_source + i) % cl->nnodes];
            if (pass == 0 && !node->master) {
                continue;
            }
            for (unsigned c = 0; pass == 0 && c < cl->conf.pool; c++) {
                if (node->conns[c].state == CONN_CONNECTED
                    && conn_usable(&node->conns[c]))
                {
                    return node;
                }
            }
            if (pass == 1 && now_ms(cl) >= node->retry_at) {
                return node;
            }
        }
    }

    return NULL;
}


static void
map_refresh(mdm_cluster_t *cl)
{
    static const char  slots_cmd[] = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";
    node_t            *node;
    conn_t            *conn;

    if (cl->refreshing || cl->closing) {
        return;
    }

    node = map_source(cl);
    conn = node ? node_conn(node) : NULL;

    if (conn == NULL
        || redisAsyncFormattedCommand(conn->ac, map_on_reply, node, slots_cmd,
                                      sizeof(slots_cmd) - 1)
           != REDIS_OK)
    {
        cl->next_source++;
        cl->refresh_at = now_ms(cl) + RETRY_SOON_MS;
        return;
    }

    cl->refreshing = 1;
    cl->refresh_at = UINT64_MAX;
}


/* ---- requests ----------------------------------------------------------- */

static void
req_free(mdm_cluster_req_t *req)
{
    free(req->cmd);
    free(req);
}


static void
req_wait(mdm_cluster_req_t *req, uint64_t at)
{
    mdm_cluster_t  *cl = req->cl;

    req->retry_at = at;
    req->waiting = 1;
    req->prev = cl->waiting.prev;
    req->next = &cl->waiting;
    cl->waiting.prev->next = req;
    cl->waiting.prev = req;
}


static void
req_unwait(mdm_cluster_req_t *req)
{
    req->prev->next = req->next;
    req->next->prev = req->prev;
    req->waiting = 0;
}


/* The caller's answer, once; the request goes when nothing else holds it. */
static void
req_complete(mdm_cluster_req_t *req, redisReply *reply,
    mdm_cluster_status_e status)
{
    if (!req->done) {
        req->done = 1;
        if (status == MDM_CLUSTER_UNAVAILABLE) {
            req->cl->stats.unavailable++;
        } else if (status == MDM_CLUSTER_TIMEOUT) {
            req->cl->stats.timeouts++;
        }
        if (req->cb != NULL) {
            req->cb(req->data, reply, status);
        }
    }

    if (!req->inflight && !req->waiting) {
        req_free(req);
    }
}


static int
error_is(const redisReply *r, const char *prefix)
{
    size_t  n = strlen(prefix);

    return r->len >= n && strncmp(r->str, prefix, n) == 0
           && (r->len == n || r->str[n] == ' ');
}


/* MOVED/ASK "<slot> <host>:<port>": the node, or NULL when malformed. */
static node_t *
redirect_node(mdm_cluster_t *cl, const redisReply *r, const node_t *from,
    long *slot)
{
    const char          *p, *sp, *err;
    char                *end;
    mdm_cluster_addr_t   addr;

    p = strchr(r->str, ' ');
    if (p == NULL) {
        return NULL;
    }

    *slot = strtol(p + 1, &end, 10);
    if (end == p + 1 || *end != ' ' || *slot < 0 || *slot >= MDM_SLOTS) {
        return NULL;
    }

    sp = end + 1;
    if (mdm_cluster_parse_addr(sp, strlen(sp), &addr, &err) != 0) {
        if (sp[0] != ':') {
            return NULL;
        }
        /* ":port": the node that answered, with another port */
        strcpy(addr.host, from->addr.host);
        addr.port = atoi(sp + 1);
    } else if (addr.host[0] == '\0') {
        strcpy(addr.host, from->addr.host);
    }

    return node_get(cl, addr.host, addr.port);
}


static int
req_redirect(mdm_cluster_req_t *req, conn_t *conn, const redisReply *r,
    int ask)
{
    mdm_cluster_t         *cl = req->cl;
    mdm_cluster_status_e   st;
    node_t                *node;
    long                   slot;

    node = redirect_node(cl, r, conn->node, &slot);
    if (node == NULL || ++req->redirects > cl->conf.max_redirects) {
        return 0;
    }

    if (ask) {
        count(cl, MDM_CLUSTER_ASK);
        req->ask = node;

    } else {
        count(cl, MDM_CLUSTER_MOVED);
        cl->slots[slot] = (uint16_t) node->index;
        node->master = 1;
        cl->refresh_at = 0;
    }

    st = req_dispatch(req);
    if (st != MDM_CLUSTER_OK) {
        req_complete(req, NULL, st);
    }

    return 1;
}


/* TRYAGAIN, CLUSTERDOWN: later, doubling, within the deadline. */
static int
req_retry_later(mdm_cluster_req_t *req)
{
    mdm_cluster_t  *cl = req->cl;
    uint64_t        at;
    unsigned        shift;

    shift = req->retries < DELAY_SHIFT_MAX ? req->retries : DELAY_SHIFT_MAX;
    at = now_ms(cl) + ((uint64_t) cl->conf.retry_delay_ms << shift);

    if (at >= req->deadline) {
        return 0;
    }

    req->retries++;
    req_wait(req, at);
    return 1;
}


/* 1 when the error reply was dealt with (the request resent or waits). */
static int
req_on_error(mdm_cluster_req_t *req, conn_t *conn, const redisReply *r)
{
    mdm_cluster_t         *cl = req->cl;
    mdm_cluster_status_e   st;

    if (error_is(r, "MOVED")) {
        return req_redirect(req, conn, r, 0);
    }

    if (error_is(r, "ASK")) {
        return req_redirect(req, conn, r, 1);
    }

    if (error_is(r, "TRYAGAIN")) {
        count(cl, MDM_CLUSTER_TRYAGAIN);
        return req_retry_later(req);
    }

    if (error_is(r, "CLUSTERDOWN")) {
        count(cl, MDM_CLUSTER_CLUSTERDOWN);
        cl->refresh_at = 0;
        return req_retry_later(req);
    }

    if (error_is(r, "NOSCRIPT") && cl->conf.scripts != NULL
        && req->noscript++ == 0)
    {
        cl->stats.noscript++;
        say(cl, MDM_CLUSTER_EV_ERROR,
            "cluster node %s:%d: scripts lost, loading them again",
            conn->node->addr.host, conn->node->addr.port);
        conn_load_scripts(conn);
        req->pin = conn;
        st = req_dispatch(req);
        if (st != MDM_CLUSTER_OK) {
            req_complete(req, NULL, st);
        }
        return 1;
    }

    return 0;
}


static void
req_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply         *reply = r;
    mdm_cluster_req_t  *req = privdata;
    conn_t             *conn = ac->data;
    mdm_cluster_t      *cl = req->cl;

    req->inflight = 0;
    if (conn->pending > 0) {
        conn->pending--;
    }
    conn->since = now_ms(cl);

    if (req->done || req->cb == NULL) {
        req_complete(req, NULL, MDM_CLUSTER_OK);
        return;
    }

    if (reply == NULL) {
        req_complete(req, NULL, cl->drop_status);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR && !cl->closing
        && req_on_error(req, conn, reply))
    {
        return;
    }

    req_complete(req, reply, MDM_CLUSTER_OK);
}


static mdm_cluster_status_e
req_dispatch(mdm_cluster_req_t *req)
{
    static const char   asking[] = "*1\r\n$6\r\nASKING\r\n";
    mdm_cluster_t      *cl = req->cl;
    node_t             *node;
    conn_t             *conn;

    if (req->pin != NULL && conn_usable(req->pin)) {
        conn = req->pin;

    } else {
        node = req->ask ? req->ask
             : req->slot < 0 ? any_master(cl)
             : cl->slots[req->slot] == NO_NODE ? NULL
             : cl->nodes[cl->slots[req->slot]];

        conn = node ? node_conn(node) : NULL;
    }

    req->pin = NULL;

    if (conn == NULL) {
        cl->refresh_at = 0;
        return MDM_CLUSTER_UNAVAILABLE;
    }

    if (req->ask != NULL) {
        req->ask = NULL;
        if (redisAsyncFormattedCommand(conn->ac, NULL, NULL, asking,
                                       sizeof(asking) - 1)
            != REDIS_OK)
        {
            return MDM_CLUSTER_UNAVAILABLE;
        }
    }

    if (redisAsyncFormattedCommand(conn->ac, req_on_reply, req, req->cmd,
                                   req->len)
        != REDIS_OK)
    {
        return MDM_CLUSTER_UNAVAILABLE;
    }

    req->inflight = 1;
    if (conn->pending++ == 0) {
        conn->since = now_ms(cl);
        conn->extra_ms = 0;
    }
    if (req->extra_ms > conn->extra_ms) {
        conn->extra_ms = req->extra_ms;
    }

    return MDM_CLUSTER_OK;
}


mdm_cluster_req_t *
mdm_cluster_send(mdm_cluster_t *cl, char *cmd, size_t len, unsigned extra_ms,
    mdm_cluster_reply_pt cb, void *data)
{
    mdm_cluster_req_t  *req;
    mdm_slice_t         argv[MDM_CMD_KEY_ARGS], key;
    int                 argc;

    if (cl->closing || (!cl->have_map && !cl->refreshing)) {
        free(cmd);
        return NULL;
    }

    argc = mdm_cmd_args(cmd, len, argv, MDM_CMD_KEY_ARGS);
    req = argc < 1 ? NULL : calloc(1, sizeof(mdm_cluster_req_t));
    if (req == NULL) {
        free(cmd);
        return NULL;
    }

    req->cl = cl;
    req->cmd = cmd;
    req->len = len;
    req->slot = mdm_cmd_key(argc, argv, &key)
                ? (int) mdm_key_slot(key.p, key.len) : -1;
    req->extra_ms = extra_ms;
    req->deadline = now_ms(cl) + cl->conf.timeout_ms + extra_ms;
    req->cb = cb;
    req->data = data;

    if (!cl->have_map) {
        req_wait(req, UINT64_MAX);       /* until the map arrives */
        return req;
    }

    if (req_dispatch(req) != MDM_CLUSTER_OK) {
        cl->stats.unavailable++;
        req_free(req);
        return NULL;
    }

    return req;
}


void
mdm_cluster_cancel(mdm_cluster_req_t *req)
{
    req->cb = NULL;
}


/* ---- timers ------------------------------------------------------------- */

static void
tick_waiting(mdm_cluster_t *cl, uint64_t now)
{
    mdm_cluster_req_t     *req, *next;
    mdm_cluster_status_e   st;

    for (req = cl->waiting.next; req != &cl->waiting; req = next) {
        next = req->next;

        if (req->cb == NULL || now >= req->deadline) {
            req_unwait(req);
            req_complete(req, NULL, cl->have_map ? MDM_CLUSTER_TIMEOUT
                                                 : MDM_CLUSTER_UNAVAILABLE);
            continue;
        }

        if (cl->have_map && now >= req->retry_at) {
            req_unwait(req);
            st = req_dispatch(req);
            if (st != MDM_CLUSTER_OK) {
                req_complete(req, NULL, st);
            }
        }
    }
}


static void
tick_conns(mdm_cluster_t *cl, uint64_t now)
{
    node_t  *node;
    conn_t  *conn;

    for (unsigned i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];

        for (unsigned c = 0; c < cl->conf.pool; c++) {
            conn = &node->conns[c];

            if (conn->ac == NULL) {
                continue;
            }

            if (conn->state == CONN_CONNECTING
                && now - conn->since > cl->conf.connect_timeout_ms)
            {
                say(cl, MDM_CLUSTER_EV_CONNECT_FAILED,
                    "cluster node %s:%d: connect failed: timed out",
                    node->addr.host, node->addr.port);
                node_failed(node);
                conn_drop(conn, MDM_CLUSTER_UNAVAILABLE);

            } else if (conn->state == CONN_CONNECTED && conn->pending > 0
                       && now - conn->since
                          > cl->conf.timeout_ms + conn->extra_ms)
            {
                say(cl, MDM_CLUSTER_EV_CONNECTION_LOST,
                    "cluster node %s:%d: no reply for %llu ms, reconnecting",
                    node->addr.host, node->addr.port,
                    (unsigned long long) (now - conn->since));
                node_failed(node);
                conn_drop(conn, MDM_CLUSTER_TIMEOUT);

            } else if (!node->master && conn->pending == 0
                       && conn->state == CONN_CONNECTED && cl->have_map
                       && !cl->refreshing)
            {
                /* a former master (now a replica) or a seed: not used */
                conn_drop(conn, MDM_CLUSTER_CONNECTION_LOST);
            }
        }

        /* masters are kept connected, so a failed one is noticed early */
        if (node->master && now >= node->retry_at) {
            node_conn(node);
        }
    }
}


void
mdm_cluster_tick(mdm_cluster_t *cl)
{
    uint64_t  now;

    if (cl->closing) {
        return;
    }

    now = now_ms(cl);

    tick_conns(cl, now);
    tick_waiting(cl, now);

    if (!cl->refreshing && now >= cl->refresh_at) {
        map_refresh(cl);
    }
}


/* ---- life --------------------------------------------------------------- */

mdm_cluster_t *
mdm_cluster_new(const mdm_cluster_conf_t *conf, const mdm_cluster_loop_t *loop)
{
    mdm_cluster_t  *cl;
    node_t         *node;

    cl = calloc(1, sizeof(mdm_cluster_t));
    if (cl == NULL) {
        return NULL;
    }

    cl->conf = *conf;
    cl->loop = *loop;
    cl->conf.seeds = NULL;
    cl->conf.nseeds = 0;
    if (cl->conf.pool == 0) {
        cl->conf.pool = 1;
    }
    if (cl->conf.backoff_max_ms == 0) {
        cl->conf.backoff_max_ms = 5000;
    }
    cl->drop_status = MDM_CLUSTER_CONNECTION_LOST;
    cl->waiting.next = cl->waiting.prev = &cl->waiting;

    for (unsigned s = 0; s < MDM_SLOTS; s++) {
        cl->slots[s] = NO_NODE;
    }

    for (size_t i = 0; i < conf->nseeds; i++) {
        node = node_get(cl, conf->seeds[i].host, conf->seeds[i].port);
        if (node == NULL) {
            mdm_cluster_free(cl);
            return NULL;
        }
        node->seed = 1;
    }

    map_refresh(cl);

    return cl;
}


void
mdm_cluster_free(mdm_cluster_t *cl)
{
    mdm_cluster_req_t  *req;

    cl->closing = 1;

    while (cl->waiting.next != &cl->waiting) {
        req = cl->waiting.next;
        req_unwait(req);
        req_complete(req, NULL, MDM_CLUSTER_UNAVAILABLE);
    }

    for (unsigned i = 0; i < cl->nnodes; i++) {
        for (unsigned c = 0; c < cl->conf.pool; c++) {
            conn_drop(&cl->nodes[i]->conns[c], MDM_CLUSTER_CONNECTION_LOST);
        }
    }

    for (unsigned i = 0; i < cl->nnodes; i++) {
        free(cl->nodes[i]->conns);
        free(cl->nodes[i]);
    }

    free(cl);
}


int
mdm_cluster_ready(const mdm_cluster_t *cl)
{
    return cl->have_map;
}


const mdm_cluster_stats_t *
mdm_cluster_stats(const mdm_cluster_t *cl)
{
    return &cl->stats;
}
