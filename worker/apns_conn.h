#ifndef WK_APNS_CONN_H
#define WK_APNS_CONN_H

/*
 * The APNs client's inside, shared by its two layers (apns.h is the
 * outside):
 *
 *   apns.c       topics, push certificates, queueing, response
 *                classification: what to send, on which certificate, and
 *                what an answer means;
 *   apns_conn.c  one TLS + HTTP/2 connection: resolving, connecting, the
 *                handshake, nghttp2's frames, timeouts and PINGs.
 *
 * A connection takes requests from its topic's queue and gives each back
 * once, through wk_apns_req_complete(); what the topic does with a GOAWAY,
 * a 403 or a failed connection is decided in apns.c.
 */

#include <ev.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "apns.h"

#define WK_APNS_RBUF_SIZE  (64 * 1024)

typedef struct wk_apns_topic_s wk_apns_topic_t;
typedef struct wk_apns_conn_s  wk_apns_conn_t;

typedef enum {
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_HANDSHAKE,
    CONN_READY
} wk_apns_conn_state_t;

typedef struct wk_resolve_s wk_resolve_t;   /* apns_conn.c's */

struct wk_apns_conn_s {
    wk_apns_t        *apns;
    wk_apns_topic_t  *topic;
    wk_apns_conn_state_t state;
    int               fd;
    SSL              *ssl;
    nghttp2_session  *h2;
    wk_resolve_t     *resolve;
    ev_io             io;
    ev_timer          tick;
    ev_tstamp         started;
    ev_tstamp         last_read;
    ev_tstamp         ping_sent;        /* 0: no PING outstanding */
    wk_apns_req_t    *inflight;         /* doubly linked, by req->next/prev */
    size_t            ninflight;
    int               draining;         /* GOAWAY, new cert: no new streams */
    int               in_recv;          /* inside nghttp2_session_mem_recv */
    int               closing;          /* streams already completed */
    int               goaway;           /* a GOAWAY arrived */
    int               closed;           /* the server closed after it */
    uint32_t          goaway_error;     /* its HTTP/2 error code */
    unsigned          answered;         /* streams with an HTTP status */
    int               delivered;        /* a 200 came on this connection */
    unsigned          gen;              /* topic->gen when opened */
    int               settings;         /* the server's SETTINGS arrived */
    int               failed;
    char              fail_reason[160];
    unsigned char    *wbuf;
    size_t            wlen, woff, wcap;
    wk_apns_conn_t   *next, *prev;      /* all connections of the client */
};

struct wk_apns_topic_s {
    wk_apns_t        *apns;
    char              name[WK_APNS_TOPIC_MAX];
    SSL_CTX          *ctx;
    char              updated[64];
    wk_apns_req_t    *qhead, *qtail;    /* waiting for a stream */
    wk_apns_conn_t   *conn;             /* the one taking new streams */
    unsigned          failures;
    ev_timer          backoff;
    int               loading;          /* pushcert HGETALL in flight */
    int               stopped;          /* 403: nothing until a reload */
    int               force;            /* rebuild the SSL_CTX on next load */
    unsigned          gen;              /* bumped with every new SSL_CTX */
    wk_apns_topic_t  *next;
};

struct wk_apns_s {
    struct ev_loop     *loop;
    const wk_config_t  *cf;
    wk_redis_t         *redis;
    wk_apns_done_cb     done;
    void               *data;
    char                host[256];
    char                port[8];
    int                 host_is_ip;
    wk_apns_topic_t    *topics;
    wk_apns_conn_t     *conns;
    size_t              pending;
    int                 closing;        /* wk_apns_free: no new connections */
    X509_STORE         *ca_store;       /* shared by every topic's SSL_CTX */
    ev_timer            cert_check;
    nghttp2_session_callbacks *callbacks;
    unsigned char       rbuf[WK_APNS_RBUF_SIZE];
};


/* ---- apns_conn.c: one connection ---- */

/* The nghttp2 callbacks every connection uses (one set per client). */
nghttp2_session_callbacks *wk_apns_conn_callbacks_new(void);

/* Opens a connection for the topic (t->conn), resolving first if needed. */
void wk_apns_conn_open(wk_apns_topic_t *t);

/* After any I/O: closes what is finished, starts what waits, writes. */
void wk_apns_conn_process(wk_apns_conn_t *c);

/* Ends the connection: its streams complete as WK_APNS_RETRY. */
void wk_apns_conn_close(wk_apns_conn_t *c);

/* OpenSSL's last error (or errno) as text, clearing the error queue. */
void wk_apns_conn_ssl_error(char *buf, size_t len);

/* ---- apns.c: what a connection tells its topic ---- */

/* A request's final answer for this attempt, to the client's user. */
void wk_apns_req_complete(wk_apns_t *a, wk_apns_req_t *req,
                          wk_apns_outcome_t out);

/* The next request waiting for a stream, or NULL. */
wk_apns_req_t *wk_apns_topic_next(wk_apns_topic_t *t);

/* A request that must go first again (refused, or not submitted). */
void wk_apns_topic_requeue(wk_apns_topic_t *t, wk_apns_req_t *req);

/* A 403 over a connection made with certificate generation `gen`: 1 if
 * the topic is stopped (the certificate was not replaced since). */
int wk_apns_topic_stop(wk_apns_topic_t *t, unsigned gen, const char *what,
                       const char *reason);

/* The reasons that come with a 403: the push certificate is refused. */
int wk_apns_reason_forbidden(const char *reason);

/* A connection failed: the next one waits (jittered, growing). */
void wk_apns_topic_backoff(wk_apns_topic_t *t);

/* Gets the topic's queue moving: pump, or connect after the certificate. */
void wk_apns_topic_kick(wk_apns_topic_t *t);

#endif
