#define _GNU_SOURCE   /* getaddrinfo_a: resolving without blocking the loop */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "apns.h"
#include "log.h"
#include "mdm_keys.h"

/*
 * Bytes gathered from nghttp2 before one SSL_write: one TLS record carries
 * many small HEADERS+DATA frames, which is most of the per-push CPU saving.
 */
#define WBUF_SOFT_MAX  (64 * 1024)
#define RBUF_SIZE      (64 * 1024)

/*
 * A request refused this many times in one attempt (REFUSED_STREAM, or
 * above a GOAWAY's last_stream_id) spends the attempt: a server that
 * refuses everything must not keep it going round for ever.
 */
#define REFUSALS_PER_ATTEMPT  3

typedef struct wk_apns_topic_s wk_apns_topic_t;
typedef struct wk_apns_conn_s  wk_apns_conn_t;

typedef enum {
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_HANDSHAKE,
    CONN_READY
} conn_state_t;

typedef struct {
    struct gaicb     cb;
    struct addrinfo  hints;
    char             host[256];
    char             port[8];
    struct addrinfo *next;          /* address to try if this one fails */
} wk_resolve_t;

struct wk_apns_conn_s {
    wk_apns_t        *apns;
    wk_apns_topic_t  *topic;
    conn_state_t      state;
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
    int               draining;         /* GOAWAY or a new cert: no new streams */
    int               in_recv;          /* inside nghttp2_session_mem_recv */
    int               closing;          /* streams already completed */
    int               goaway;           /* a GOAWAY arrived */
    int               closed;           /* the server closed after it */
    uint32_t          goaway_error;     /* its HTTP/2 error code */
    unsigned          answered;         /* streams with an HTTP status */
    int               delivered;        /* a 200 came on this connection */
    unsigned          gen;              /* topic->gen when opened */
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
    ev_prepare          flush;
    nghttp2_session_callbacks *callbacks;
    unsigned char       rbuf[RBUF_SIZE];
};

static void topic_kick(wk_apns_topic_t *t);
static void conn_fail(wk_apns_conn_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void conn_process(wk_apns_conn_t *c);
static void conn_connect_next(wk_apns_conn_t *c);


/* ---- requests ---- */

static void
req_complete(wk_apns_t *a, wk_apns_req_t *req, wk_apns_outcome_t out)
{
    req->conn = NULL;
    a->pending--;
    a->done(req, out, a->data);
}


static void
queue_push_back(wk_apns_topic_t *t, wk_apns_req_t *req)
{
    req->next = NULL;
    req->prev = t->qtail;
    if (t->qtail) {
        t->qtail->next = req;
    } else {
        t->qhead = req;
    }
    t->qtail = req;
}


static void
queue_push_front(wk_apns_topic_t *t, wk_apns_req_t *req)
{
    req->prev = NULL;
    req->next = t->qhead;
    if (t->qhead) {
        t->qhead->prev = req;
    } else {
        t->qtail = req;
    }
    t->qhead = req;
}


static wk_apns_req_t *
queue_pop(wk_apns_topic_t *t)
{
    wk_apns_req_t *req = t->qhead;
    if (req) {
        t->qhead = req->next;
        if (t->qhead) {
            t->qhead->prev = NULL;
        } else {
            t->qtail = NULL;
        }
        req->next = req->prev = NULL;
    }
    return req;
}


/* Completes every queued request of the topic with one outcome. */
static void
queue_fail_all(wk_apns_topic_t *t, wk_apns_outcome_t out)
{
    wk_apns_req_t *req;
    while ((req = queue_pop(t)) != NULL) {
        req_complete(t->apns, req, out);
    }
}


static void
inflight_add(wk_apns_conn_t *c, wk_apns_req_t *req)
{
    req->conn = c;
    req->prev = NULL;
    req->next = c->inflight;
    if (c->inflight) {
        c->inflight->prev = req;
    }
    c->inflight = req;
    c->ninflight++;
}


static void
inflight_remove(wk_apns_conn_t *c, wk_apns_req_t *req)
{
    if (req->prev) {
        req->prev->next = req->next;
    } else {
        c->inflight = req->next;
    }
    if (req->next) {
        req->next->prev = req->prev;
    }
    req->next = req->prev = NULL;
    c->ninflight--;
}


static wk_apns_outcome_t
classify(int status, const char *reason)
{
    switch (status) {
    case 200:
        return WK_APNS_OK;
    case 410:
        /* protocol.md §5: an unknown reason must not cost the token */
        if (strcmp(reason, "Unregistered") == 0
            || strcmp(reason, "ExpiredToken") == 0)
        {
            return WK_APNS_DEAD_TOKEN;
        }
        return WK_APNS_REJECTED;
    case 400:
        if (strcmp(reason, "BadDeviceToken") == 0
            || strcmp(reason, "DeviceTokenNotForTopic") == 0)
        {
            return WK_APNS_DEAD_TOKEN;
        }
        return WK_APNS_REJECTED;
    case 403:
        return WK_APNS_FORBIDDEN;
    case 429:
    case 500:
    case 503:
        return WK_APNS_RETRY;
    default:
        return WK_APNS_REJECTED;
    }
}


static void
parse_error_body(wk_apns_req_t *req)
{
    json_error_t jerr;
    json_t *root = json_loadb(req->resp, req->resp_len, 0, &jerr);
    if (root == NULL) {
        return;
    }
    const char *reason = json_string_value(json_object_get(root, "reason"));
    if (reason) {
        snprintf(req->reason, sizeof(req->reason), "%s", reason);
    }
    json_t *ts = json_object_get(root, "timestamp");
    if (json_is_integer(ts)) {
        req->timestamp = json_integer_value(ts);
    }
    json_decref(root);
}


wk_apns_outcome_t
wk_apns_reply_outcome(wk_apns_req_t *req)
{
    parse_error_body(req);
    return classify(req->status, req->reason);
}


/* ---- nghttp2 callbacks: they only record; the caller acts afterwards ---- */

static int
on_header(nghttp2_session *session, const nghttp2_frame *frame,
          const uint8_t *name, size_t namelen, const uint8_t *value,
          size_t valuelen, uint8_t flags, void *user_data)
{
    (void) flags;
    (void) user_data;
    if (frame->hd.type != NGHTTP2_HEADERS) {
        return 0;
    }
    wk_apns_req_t *req = nghttp2_session_get_stream_user_data(
        session, frame->hd.stream_id);
    if (req == NULL) {
        return 0;
    }
    if (namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3) {
        req->status = (value[0] - '0') * 100 + (value[1] - '0') * 10
                      + (value[2] - '0');
    } else if (namelen == 7 && memcmp(name, "apns-id", 7) == 0
               && valuelen < sizeof(req->apns_id))
    {
        memcpy(req->apns_id, value, valuelen);
        req->apns_id[valuelen] = '\0';
    }
    return 0;
}


static int
on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
              const uint8_t *data, size_t len, void *user_data)
{
    (void) flags;
    (void) user_data;
    wk_apns_req_t *req = nghttp2_session_get_stream_user_data(session,
                                                              stream_id);
    if (req == NULL) {
        return 0;
    }
    size_t room = sizeof(req->resp) - req->resp_len;
    if (len > room) {
        len = room;
    }
    memcpy(req->resp + req->resp_len, data, len);
    req->resp_len += len;
    return 0;
}


/*
 * A 403 (an answer, or a GOAWAY with a 403 reason) stops the topic, unless
 * it came over a connection made with a certificate that has been replaced
 * since: then the new one gets a chance. 1 if the topic is stopped.
 */
static int
topic_stop(wk_apns_conn_t *c, const char *what, const char *reason)
{
    wk_apns_topic_t *t = c->topic;

    if (c->gen != t->gen) {
        return 0;
    }
    if (!t->stopped) {
        wk_alert("apns %s: %s %s: topic stopped until the push "
                 "certificate is reloaded (SIGHUP or a new `updated`)",
                 t->name, what, reason);
    }
    t->stopped = 1;
    return 1;
}


/* The reasons APNs gives with a 403: the push certificate is refused. */
static int
reason_is_forbidden(const char *reason)
{
    return strcmp(reason, "BadCertificate") == 0
           || strcmp(reason, "BadCertificateEnvironment") == 0
           || strcmp(reason, "Forbidden") == 0;
}


static int
on_stream_close(nghttp2_session *session, int32_t stream_id,
                uint32_t error_code, void *user_data)
{
    wk_apns_conn_t *c = user_data;
    wk_apns_req_t *req = nghttp2_session_get_stream_user_data(session,
                                                              stream_id);
    if (req == NULL || c->closing) {
        return 0;
    }
    inflight_remove(c, req);

    if (req->status == 0) {
        /*
         * REFUSED_STREAM (also what nghttp2 reports for streams above a
         * GOAWAY's last_stream_id) guarantees the server did nothing:
         * resend at once, without spending an attempt — up to a point.
         */
        if (error_code == NGHTTP2_REFUSED_STREAM
            && ++req->refusals < REFUSALS_PER_ATTEMPT)
        {
            req->body_sent = 0;
            queue_push_front(c->topic, req);
            return 0;
        }
        if (error_code == NGHTTP2_REFUSED_STREAM) {
            snprintf(req->reason, sizeof(req->reason), "refused %u times",
                     req->refusals);
            req_complete(c->apns, req, WK_APNS_RETRY);
            return 0;
        }
        snprintf(req->reason, sizeof(req->reason), "stream reset: %s",
                 nghttp2_http2_strerror(error_code));
        req_complete(c->apns, req, WK_APNS_RETRY);
        return 0;
    }

    c->answered++;
    if (req->status == 200 && !c->delivered) {
        /*
         * Only a delivered push proves the server works: a server that
         * takes the handshake and then drops or refuses everything keeps
         * the reconnect backoff growing.
         */
        c->delivered = 1;
        c->topic->failures = 0;
    }
    wk_apns_outcome_t out = wk_apns_reply_outcome(req);
    if (out == WK_APNS_FORBIDDEN && !topic_stop(c, "403", req->reason)) {
        out = WK_APNS_RETRY;
    }
    req_complete(c->apns, req, out);
    return 0;
}


/*
 * APNs may say why it sends GOAWAY in the debug data, as the JSON of an
 * error response. The bytes are APNs's: only printable ASCII of them goes
 * into the log line.
 */
int
wk_apns_goaway_parse(const uint8_t *data, size_t len, wk_apns_goaway_t *out)
{
    size_t i, n;

    memset(out, 0, sizeof(*out));
    n = len < sizeof(out->debug) - 1 ? len : sizeof(out->debug) - 1;
    for (i = 0; i < n; i++) {
        out->debug[i] = data[i] >= 0x20 && data[i] < 0x7f ? data[i] : '?';
    }

    json_t *root = len == 0 ? NULL
                   : json_loadb((const char *) data, len, 0, NULL);
    const char *reason = json_string_value(json_object_get(root, "reason"));
    if (reason) {
        snprintf(out->reason, sizeof(out->reason), "%s", reason);
    }
    json_decref(root);

    return reason != NULL && reason_is_forbidden(out->reason);
}


/* A 403 reason in the debug data stops the topic as a 403 answer does. */
static void
on_goaway(wk_apns_conn_t *c, const nghttp2_goaway *goaway)
{
    int clean = goaway->error_code == NGHTTP2_NO_ERROR;
    wk_apns_goaway_t why;
    int forbidden = wk_apns_goaway_parse(goaway->opaque_data,
                                         goaway->opaque_data_len, &why);

    wk_log(clean ? WK_LOG_INFO : WK_LOG_ERROR,
           "apns %s: GOAWAY last_stream_id=%d error=%s %s",
           c->topic->name, goaway->last_stream_id,
           nghttp2_http2_strerror(goaway->error_code), why.debug);
    c->goaway = 1;
    c->goaway_error = goaway->error_code;
    c->draining = 1;
    if (forbidden) {
        topic_stop(c, "GOAWAY", why.reason);
    }
}


static int
on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
              void *user_data)
{
    wk_apns_conn_t *c = user_data;
    (void) session;

    switch (frame->hd.type) {
    case NGHTTP2_GOAWAY:
        on_goaway(c, &frame->goaway);
        break;
    case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
            c->ping_sent = 0;
        }
        break;
    default:
        break;
    }
    return 0;
}


static ssize_t
read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
          size_t length, uint32_t *data_flags, nghttp2_data_source *source,
          void *user_data)
{
    wk_apns_req_t *req = source->ptr;
    (void) session;
    (void) stream_id;
    (void) user_data;

    size_t n = req->body_len - req->body_sent;
    if (n > length) {
        n = length;
    }
    memcpy(buf, req->body + req->body_sent, n);
    req->body_sent += n;
    if (req->body_sent == req->body_len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t) n;
}


static nghttp2_session_callbacks *
callbacks_new(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        return NULL;
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
                                                              on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
                                                           on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    return cbs;
}


/* ---- TLS ---- */

static void
ssl_error_string(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, len, "%s", errno ? strerror(errno) : "unknown error");
    } else {
        ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
}


static int
ctx_use_pem(SSL_CTX *ctx, const char *cert, size_t cert_len, const char *key,
            size_t key_len)
{
    int ok = 0;
    BIO *bio = BIO_new_mem_buf(cert, (int) cert_len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    if (x && SSL_CTX_use_certificate(ctx, x) == 1) {
        /* Intermediates may follow the leaf in the same PEM. */
        X509 *chain;
        while ((chain = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            SSL_CTX_add0_chain_cert(ctx, chain);
        }
        ERR_clear_error();
        ok = 1;
    }
    X509_free(x);
    BIO_free(bio);
    if (!ok) {
        return -1;
    }

    bio = BIO_new_mem_buf(key, (int) key_len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                         : NULL;
    ok = pkey && SSL_CTX_use_PrivateKey(ctx, pkey) == 1
         && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return ok ? 0 : -1;
}


/*
 * The trust store is read once, at start: certificate reloads then cost no
 * file I/O on the loop, and a bad apns_ca fails at start, not at first push.
 */
static X509_STORE *
ca_store_new(const char *ca_file)
{
    X509_STORE *store = X509_STORE_new();
    if (store == NULL) {
        return NULL;
    }
    int ok = ca_file[0] ? X509_STORE_load_file(store, ca_file)
                        : X509_STORE_set_default_paths(store);
    if (ok != 1) {
        char msg[160];
        ssl_error_string(msg, sizeof(msg));
        wk_alert("apns_ca \"%s\": %s", ca_file[0] ? ca_file : "(system)", msg);
        X509_STORE_free(store);
        return NULL;
    }
    return store;
}


static SSL_CTX *
ctx_new(X509_STORE *store, const char *cert, size_t cert_len,
        const char *key, size_t key_len, char *err, size_t errlen)
{
    static const unsigned char alpn[] = "\x02h2";
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ssl_error_string(err, errlen);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set1_cert_store(ctx, store);
    if (ctx_use_pem(ctx, cert, cert_len, key, key_len) != 0) {
        char ssl_err[160];
        ssl_error_string(ssl_err, sizeof(ssl_err));
        snprintf(err, errlen, "push certificate or key: %s", ssl_err);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    return ctx;
}


/* ---- connection I/O ---- */

static void
conn_set_events(wk_apns_conn_t *c, int events)
{
    if ((c->io.events & (EV_READ | EV_WRITE)) == events
        && ev_is_active(&c->io))
    {
        return;
    }
    ev_io_stop(c->apns->loop, &c->io);
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(c->apns->loop, &c->io);
}


/* Gathers frames from nghttp2 and writes them; -1 after a failure. */
static int
conn_flush(wk_apns_conn_t *c)
{
    for (;;) {
        if (c->woff == c->wlen) {
            c->woff = c->wlen = 0;
            while (c->wlen < WBUF_SOFT_MAX) {
                const uint8_t *data;
                ssize_t n = nghttp2_session_mem_send(c->h2, &data);
                if (n < 0) {
                    conn_fail(c, "nghttp2: %s", nghttp2_strerror((int) n));
                    return -1;
                }
                if (n == 0) {
                    break;
                }
                if (c->wlen + (size_t) n > c->wcap) {
                    size_t cap = (c->wlen + (size_t) n) * 2;
                    unsigned char *p = realloc(c->wbuf, cap);
                    if (p == NULL) {
                        conn_fail(c, "out of memory");
                        return -1;
                    }
                    c->wbuf = p;
                    c->wcap = cap;
                }
                memcpy(c->wbuf + c->wlen, data, (size_t) n);
                c->wlen += (size_t) n;
            }
            if (c->wlen == 0) {
                conn_set_events(c, EV_READ);
                return 0;
            }
        }

        int n = SSL_write(c->ssl, c->wbuf + c->woff, (int) (c->wlen - c->woff));
        if (n > 0) {
            c->woff += (size_t) n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE) {
            conn_set_events(c, EV_READ | EV_WRITE);
            return 0;
        }
        if (e == SSL_ERROR_WANT_READ) {
            conn_set_events(c, EV_READ);
            return 0;
        }
        char msg[160];
        ssl_error_string(msg, sizeof(msg));
        conn_fail(c, "write: %s", msg);
        return -1;
    }
}


/* Reads and feeds nghttp2 until the socket is drained; -1 after a failure. */
static int
conn_read(wk_apns_conn_t *c)
{
    unsigned char *buf = c->apns->rbuf;

    for (;;) {
        int n = SSL_read(c->ssl, buf, RBUF_SIZE);
        if (n > 0) {
            c->last_read = ev_now(c->apns->loop);
            c->in_recv = 1;
            ssize_t rv = nghttp2_session_mem_recv(c->h2, buf, (size_t) n);
            c->in_recv = 0;
            if (rv < 0) {
                conn_fail(c, "nghttp2: %s", nghttp2_strerror((int) rv));
                return -1;
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            return 0;
        }
        if (e == SSL_ERROR_ZERO_RETURN
            || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
        {
            if (c->goaway) {
                /* announced: conn_close judges it by the GOAWAY */
                c->closed = 1;
                return -1;
            }
            conn_fail(c, "closed by the server");
            return -1;
        }
        char msg[160];
        ssl_error_string(msg, sizeof(msg));
        conn_fail(c, "read: %s", msg);
        return -1;
    }
}


static size_t
conn_stream_limit(wk_apns_conn_t *c)
{
    return nghttp2_session_get_remote_settings(
        c->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}


static int
conn_submit(wk_apns_conn_t *c, wk_apns_req_t *req)
{
    wk_apns_t *a = c->apns;
    char expiration[24], length[24];
    long exp = a->cf->apns_expiration
               ? (long) ev_now(a->loop) + a->cf->apns_expiration : 0;
    snprintf(expiration, sizeof(expiration), "%ld", exp);
    snprintf(length, sizeof(length), "%zu", req->body_len);

#define NV(n, v, f)                                                          \
    { (uint8_t *) (n), (uint8_t *) (v), sizeof(n) - 1, strlen(v),            \
      NGHTTP2_NV_FLAG_NO_COPY_NAME | (f) }
    const nghttp2_nv nva[] = {
        NV(":method", "POST", NGHTTP2_NV_FLAG_NO_COPY_VALUE),
        NV(":scheme", "https", NGHTTP2_NV_FLAG_NO_COPY_VALUE),
        NV(":authority", a->host, NGHTTP2_NV_FLAG_NO_COPY_VALUE),
        /* Apple: the path is unique per device, do not fill HPACK with it. */
        NV(":path", req->path,
           NGHTTP2_NV_FLAG_NO_COPY_VALUE | NGHTTP2_NV_FLAG_NO_INDEX),
        NV("apns-topic", req->topic, NGHTTP2_NV_FLAG_NO_COPY_VALUE),
        NV("apns-push-type", "mdm", NGHTTP2_NV_FLAG_NO_COPY_VALUE),
        NV("apns-priority", "10", NGHTTP2_NV_FLAG_NO_COPY_VALUE),
        NV("apns-expiration", expiration, 0),
        NV("content-type", "application/json", NGHTTP2_NV_FLAG_NO_COPY_VALUE),
        NV("content-length", length, 0),
    };
#undef NV

    nghttp2_data_provider body = { .source.ptr = req, .read_callback = read_body };
    req->body_sent = 0;
    req->status = 0;
    req->resp_len = 0;
    req->reason[0] = '\0';
    req->apns_id[0] = '\0';
    req->timestamp = 0;

    int32_t id = nghttp2_submit_request(c->h2, NULL, nva,
                                        sizeof(nva) / sizeof(nva[0]), &body,
                                        req);
    if (id < 0) {
        return -1;
    }
    req->stream_id = id;
    req->submitted = ev_now(a->loop);
    inflight_add(c, req);
    return 0;
}


/* Moves queued requests onto streams while the server allows more. */
static void
conn_pump(wk_apns_conn_t *c)
{
    wk_apns_topic_t *t = c->topic;
    size_t limit = conn_stream_limit(c);

    /*
     * While a certificate reload is pending, requests wait for its result;
     * once a 403 of this turn stopped the topic, they must not go out.
     */
    while (t->qhead && c->ninflight < limit && !c->draining && !t->loading
           && !t->stopped
           && nghttp2_session_check_request_allowed(c->h2))
    {
        wk_apns_req_t *req = queue_pop(t);
        if (conn_submit(c, req) != 0) {
            queue_push_front(t, req);
            c->draining = 1;
            break;
        }
    }
}


static void
conn_free(wk_apns_conn_t *c)
{
    wk_apns_t *a = c->apns;

    ev_io_stop(a->loop, &c->io);
    ev_timer_stop(a->loop, &c->tick);
    if (c->resolve && gai_cancel(&c->resolve->cb) == EAI_NOTCANCELED) {
        /* glibc still writes into it: leave it to the resolver thread. */
        c->resolve = NULL;
    }
    if (c->resolve) {
        freeaddrinfo(c->resolve->cb.ar_result);
        free(c->resolve);
    }
    if (c->h2) {
        nghttp2_session_del(c->h2);
    }
    if (c->ssl) {
        SSL_free(c->ssl);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->wbuf);

    if (c->prev) {
        c->prev->next = c->next;
    } else {
        a->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    free(c);
}


static void
topic_start_backoff(wk_apns_topic_t *t)
{
    const wk_config_t *cf = t->apns->cf;
    unsigned shift = t->failures < 16 ? t->failures : 16;
    double delay = cf->backoff_base_ms / 1000.0 * (1u << shift);

    if (delay > cf->backoff_max_ms / 1000.0) {
        delay = cf->backoff_max_ms / 1000.0;
    }
    /* Jitter, so that many workers do not reconnect in step. */
    delay = delay / 2 + delay / 2 * (rand() / (double) RAND_MAX);
    t->failures++;
    ev_timer_set(&t->backoff, delay, 0.);
    ev_timer_start(t->apns->loop, &t->backoff);
}


/*
 * A GOAWAY is how APNs rotates connections: reconnect at once. But one with
 * an error code, or on a connection that answered nothing, is a server in
 * trouble: reconnecting at once would make a tight loop.
 */
static int
conn_goaway_failed(const wk_apns_conn_t *c)
{
    return c->goaway
           && (c->goaway_error != NGHTTP2_NO_ERROR || c->answered == 0);
}


/*
 * Ends a connection. Its streams complete as WK_APNS_RETRY (the server may
 * or may not have delivered them); the topic reconnects, after a backoff if
 * the connection failed.
 */
static void
conn_close(wk_apns_conn_t *c)
{
    wk_apns_topic_t *t = c->topic;
    wk_apns_t *a = c->apns;
    wk_apns_req_t *lost = c->inflight;
    int failed = c->failed;

    if (!failed && !a->closing && conn_goaway_failed(c)) {
        wk_error("apns %s: connection to %s:%s ended by GOAWAY %s after %u "
                 "answers: reconnecting after a backoff", t->name, a->host,
                 a->port, nghttp2_http2_strerror(c->goaway_error),
                 c->answered);
        failed = 1;
    }

    if (t->conn == c) {
        t->conn = NULL;
    }
    if (failed && !ev_is_active(&t->backoff)) {
        topic_start_backoff(t);
    }
    c->closing = 1;
    c->inflight = NULL;
    conn_free(c);

    while (lost) {
        wk_apns_req_t *req = lost;
        lost = req->next;
        req->next = req->prev = NULL;
        snprintf(req->reason, sizeof(req->reason), "connection lost");
        req_complete(a, req, WK_APNS_RETRY);
    }
    topic_kick(t);
}


static void
conn_fail(wk_apns_conn_t *c, const char *fmt, ...)
{
    if (c->failed) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fail_reason, sizeof(c->fail_reason), fmt, ap);
    va_end(ap);
    c->failed = 1;
    wk_error("apns %s: connection to %s:%s: %s", c->topic->name,
             c->apns->host, c->apns->port, c->fail_reason);
    /* The caller unwinds first; conn_process then closes. */
}


/* After any I/O: close what is finished, start what is waiting, write. */
static void
conn_process(wk_apns_conn_t *c)
{
    if (c->failed || c->closed) {
        conn_close(c);
        return;
    }
    if (c->state != CONN_READY) {
        return;
    }
    if (c->draining && c->topic->conn == c) {
        c->topic->conn = NULL;            /* new requests: a new connection */
    }
    if (c->draining && c->ninflight == 0) {
        conn_close(c);
        return;
    }
    conn_pump(c);
    if (conn_flush(c) != 0
        || (!nghttp2_session_want_read(c->h2)
            && !nghttp2_session_want_write(c->h2)))
    {
        conn_close(c);
        return;
    }
    if (c->topic->conn == NULL && c->topic->qhead) {
        topic_kick(c->topic);
    }
}


static void
conn_on_ready(wk_apns_conn_t *c)
{
    const unsigned char *proto = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(c->ssl, &proto, &len);
    if (len != 2 || memcmp(proto, "h2", 2) != 0) {
        conn_fail(c, "server did not select ALPN h2, refusing");
        return;
    }

    if (nghttp2_session_client_new(&c->h2, c->apns->callbacks, c) != 0) {
        conn_fail(c, "nghttp2: out of memory");
        return;
    }
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 },
    };
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2);

    c->state = CONN_READY;
    c->last_read = ev_now(c->apns->loop);
    wk_info("apns %s: connected to %s:%s (%s)", c->topic->name,
            c->apns->host, c->apns->port, SSL_get_version(c->ssl));
}


static void
conn_handshake(wk_apns_conn_t *c)
{
    ERR_clear_error();
    int rc = SSL_connect(c->ssl);
    if (rc == 1) {
        conn_on_ready(c);
        return;
    }
    int e = SSL_get_error(c->ssl, rc);
    if (e == SSL_ERROR_WANT_READ) {
        conn_set_events(c, EV_READ);
    } else if (e == SSL_ERROR_WANT_WRITE) {
        conn_set_events(c, EV_WRITE);
    } else {
        char msg[160];
        long v = SSL_get_verify_result(c->ssl);
        ssl_error_string(msg, sizeof(msg));
        conn_fail(c, "TLS handshake: %s%s%s", msg,
                  v != X509_V_OK ? ": " : "",
                  v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
    }
}


static void
conn_start_tls(wk_apns_conn_t *c)
{
    wk_apns_t *a = c->apns;
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
        if (c->resolve && c->resolve->next) {
            /* localhost may be ::1 first while the server is on 127.0.0.1 */
            conn_connect_next(c);
            return;
        }
        conn_fail(c, "connect: %s", strerror(err ? err : errno));
        return;
    }
    c->ssl = SSL_new(c->topic->ctx);
    if (c->ssl == NULL) {
        conn_fail(c, "SSL_new failed");
        return;
    }
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    if (a->host_is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), a->host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, a->host);
        SSL_set1_host(c->ssl, a->host);
    }
    c->state = CONN_HANDSHAKE;
    conn_handshake(c);
}


static void
conn_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    wk_apns_conn_t *c = w->data;
    (void) loop;

    switch (c->state) {
    case CONN_CONNECTING:
        conn_start_tls(c);
        break;
    case CONN_HANDSHAKE:
        conn_handshake(c);
        break;
    case CONN_READY:
        if (revents & EV_READ) {
            conn_read(c);
        }
        break;
    case CONN_RESOLVING:
        break;
    }
    conn_process(c);
}


static void
conn_connect(wk_apns_conn_t *c, const struct sockaddr *sa, socklen_t salen)
{
    c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   0);
    if (c->fd < 0) {
        conn_fail(c, "socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, sa, salen) != 0 && errno != EINPROGRESS) {
        if (c->resolve && c->resolve->next) {
            conn_connect_next(c);
            return;
        }
        conn_fail(c, "connect: %s", strerror(errno));
        return;
    }
    c->state = CONN_CONNECTING;
    ev_io_init(&c->io, conn_on_io, c->fd, EV_WRITE);
    c->io.data = c;
    ev_io_start(c->apns->loop, &c->io);
}


static void
conn_connect_next(wk_apns_conn_t *c)
{
    struct addrinfo *ai = c->resolve->next;

    c->resolve->next = ai->ai_next;
    if (c->fd >= 0) {
        ev_io_stop(c->apns->loop, &c->io);
        close(c->fd);
        c->fd = -1;
    }
    conn_connect(c, ai->ai_addr, ai->ai_addrlen);
}


static int
resolve_start(wk_apns_conn_t *c)
{
    wk_resolve_t *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return -1;
    }
    snprintf(r->host, sizeof(r->host), "%s", c->apns->host);
    snprintf(r->port, sizeof(r->port), "%s", c->apns->port);
    r->hints.ai_socktype = SOCK_STREAM;
    r->cb.ar_name = r->host;
    r->cb.ar_service = r->port;
    r->cb.ar_request = &r->hints;
    struct gaicb *list[1] = { &r->cb };
    /* glibc resolves on its own thread; the tick timer polls the result. */
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0) {
        free(r);
        return -1;
    }
    c->resolve = r;
    return 0;
}


static void
resolve_poll(wk_apns_conn_t *c)
{
    int rc = gai_error(&c->resolve->cb);
    if (rc == EAI_INPROGRESS) {
        return;
    }
    if (rc != 0) {
        conn_fail(c, "resolve %s: %s", c->apns->host, gai_strerror(rc));
        return;
    }
    c->resolve->next = c->resolve->cb.ar_result;
    conn_connect_next(c);
    c->tick.repeat = 1.;
    ev_timer_again(c->apns->loop, &c->tick);
}


/*
 * A stream the server never answers while it answers others would hold its
 * jobs for ever: reset it, and it completes as WK_APNS_RETRY.
 */
static void
conn_reset_stale_streams(wk_apns_conn_t *c, ev_tstamp now, double timeout)
{
    for (wk_apns_req_t *req = c->inflight; req; req = req->next) {
        if (now - req->submitted > timeout) {
            nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE,
                                      req->stream_id, NGHTTP2_CANCEL);
            req->submitted = now;           /* one reset is enough */
        }
    }
}


/* Once a second: timeouts and the idle PING. */
static void
conn_on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_apns_conn_t *c = w->data;
    double timeout = c->apns->cf->apns_timeout_ms / 1000.0;
    ev_tstamp now = ev_now(loop);
    (void) revents;

    if (c->state == CONN_RESOLVING) {
        resolve_poll(c);
    }
    if (c->state != CONN_READY) {
        if (!c->failed && now - c->started > timeout) {
            conn_fail(c, "connect timed out");
        }
    } else if (c->ping_sent && now - c->ping_sent > timeout) {
        conn_fail(c, "no PING answer in %.1f s", timeout);
    } else if (c->ninflight && now - c->last_read > timeout) {
        conn_fail(c, "no response in %.1f s", timeout);
    } else if (c->ninflight) {
        conn_reset_stale_streams(c, now, timeout);
    } else if (!c->ping_sent
               && now - c->last_read > c->apns->cf->apns_ping_idle)
    {
        nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL);
        c->ping_sent = now;
    }
    conn_process(c);
}


static void
conn_open(wk_apns_topic_t *t)
{
    wk_apns_t *a = t->apns;
    wk_apns_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        wk_error("apns %s: out of memory", t->name);
        return;
    }
    c->apns = a;
    c->topic = t;
    c->fd = -1;
    c->started = ev_now(a->loop);
    c->gen = t->gen;
    c->next = a->conns;
    if (a->conns) {
        a->conns->prev = c;
    }
    a->conns = c;
    t->conn = c;

    ev_init(&c->tick, conn_on_tick);
    c->tick.data = c;

    if (a->host_is_ip) {
        struct sockaddr_storage ss;
        socklen_t len;
        memset(&ss, 0, sizeof(ss));
        struct sockaddr_in *in4 = (struct sockaddr_in *) &ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;
        if (inet_pton(AF_INET, a->host, &in4->sin_addr) == 1) {
            in4->sin_family = AF_INET;
            in4->sin_port = htons((uint16_t) atoi(a->port));
            len = sizeof(*in4);
        } else {
            inet_pton(AF_INET6, a->host, &in6->sin6_addr);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons((uint16_t) atoi(a->port));
            len = sizeof(*in6);
        }
        ev_timer_set(&c->tick, 1., 1.);
        ev_timer_start(a->loop, &c->tick);
        conn_connect(c, (struct sockaddr *) &ss, len);
    } else {
        /* A fresh lookup per connection, as Apple asks. */
        c->state = CONN_RESOLVING;
        ev_timer_set(&c->tick, 0.005, 0.005);
        ev_timer_start(a->loop, &c->tick);
        if (resolve_start(c) != 0) {
            conn_fail(c, "cannot start resolving %s", a->host);
        }
    }
    conn_process(c);
}


/* ---- topics and push certificates ---- */

static void
topic_set_ctx(wk_apns_topic_t *t, SSL_CTX *ctx, const char *updated)
{
    if (t->ctx) {
        SSL_CTX_free(t->ctx);
        /* Streams in flight finish on the old connection; new ones wait. */
        if (t->conn) {
            t->conn->draining = 1;
            t->conn = NULL;
        }
    }
    t->ctx = ctx;
    t->gen++;
    snprintf(t->updated, sizeof(t->updated), "%s", updated);
}


static const redisReply *
hash_field(const redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type == REDIS_REPLY_STRING
            && strcmp(r->element[i]->str, name) == 0)
        {
            return r->element[i + 1]->type == REDIS_REPLY_STRING
                   ? r->element[i + 1] : NULL;
        }
    }
    return NULL;
}


/* Applies a pushcert hash; 0 if the topic has a usable SSL_CTX after it. */
static int
topic_apply_cert(wk_apns_topic_t *t, const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        wk_redis_error("apns %s: cannot read the push certificate: %s", t->name,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "no Redis");
        return t->ctx ? 0 : -1;
    }
    const redisReply *cert = hash_field(r, "cert");
    const redisReply *key = hash_field(r, "key");
    const redisReply *upd = hash_field(r, "updated");
    const char *updated = upd ? upd->str : "";
    if (cert == NULL || key == NULL) {
        wk_error("apns %s: no push certificate in " MDM_KEY_PUSHCERT "%s",
                 t->name, t->name);
        return -1;
    }
    if (t->ctx && !t->force && strcmp(updated, t->updated) == 0) {
        return 0;
    }

    char err[512];
    SSL_CTX *ctx = ctx_new(t->apns->ca_store, cert->str, cert->len, key->str,
                           key->len, err, sizeof(err));
    if (ctx == NULL) {
        wk_error("apns %s: %s", t->name, err);
        return t->ctx ? 0 : -1;
    }
    wk_info("apns %s: push certificate loaded (updated %s)", t->name,
            updated[0] ? updated : "-");
    topic_set_ctx(t, ctx, updated);
    return 0;
}


static void
topic_on_cert(wk_redis_t *link, redisReply *r, void *data)
{
    wk_apns_topic_t *t = data;
    (void) link;

    t->loading = 0;
    if (r == NULL) {
        /* Redis went away (or we are stopping): try again with the jobs. */
        queue_fail_all(t, WK_APNS_RETRY);
        return;
    }
    if (topic_apply_cert(t, r) != 0) {
        /* Without a certificate nothing can be sent: let the jobs back off. */
        queue_fail_all(t, WK_APNS_RETRY);
        return;
    }
    t->force = 0;
    if (t->conn == NULL && t->qhead && !t->stopped) {
        conn_open(t);
    } else {
        topic_kick(t);
    }
}


static void
topic_load_cert(wk_apns_topic_t *t)
{
    if (t->loading) {
        return;
    }
    char key[MDM_KEY_MAX];
    const char *argv[] = { "HGETALL", key };

    mdm_key_pushcert(key, t->name);
    if (wk_redis_cmdargv(t->apns->redis, topic_on_cert, t, 2, argv, NULL)
        != 0)
    {
        wk_error("apns %s: Redis is down, cannot load the push certificate",
                 t->name);
        queue_fail_all(t, WK_APNS_RETRY);
        return;
    }
    t->loading = 1;
}


/* Gets queued requests moving: pump, or connect after loading the cert. */
static void
topic_kick(wk_apns_topic_t *t)
{
    if (t->apns->closing) {
        return;
    }
    if (t->stopped) {
        queue_fail_all(t, WK_APNS_FORBIDDEN);
        return;
    }
    if (t->loading) {
        return;                 /* a reload may replace the connection */
    }
    if (t->conn) {
        if (t->conn->state == CONN_READY && !t->conn->in_recv) {
            conn_process(t->conn);
        }
        return;
    }
    if (t->qhead == NULL || ev_is_active(&t->backoff)) {
        return;
    }
    /* Every new connection rereads the certificate: it may have changed. */
    topic_load_cert(t);
}


static void
topic_on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void) loop;
    (void) revents;
    topic_kick(w->data);
}


static wk_apns_topic_t *
topic_get(wk_apns_t *a, const char *name)
{
    wk_apns_topic_t *t;
    for (t = a->topics; t; t = t->next) {
        if (strcmp(t->name, name) == 0) {
            return t;
        }
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->apns = a;
    snprintf(t->name, sizeof(t->name), "%s", name);
    ev_init(&t->backoff, topic_on_backoff);
    t->backoff.data = t;
    t->next = a->topics;
    a->topics = t;
    return t;
}


/* ---- periodic certificate check ---- */

static void
topic_on_updated(wk_redis_t *link, redisReply *r, void *data)
{
    wk_apns_topic_t *t = data;
    (void) link;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        return;
    }
    const char *updated = r->type == REDIS_REPLY_STRING ? r->str : "";
    if (strcmp(updated, t->updated) != 0) {
        wk_info("apns %s: push certificate changed in Redis, reloading",
                t->name);
        t->stopped = 0;
        topic_load_cert(t);
    }
}


static void
apns_on_cert_check(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_apns_t *a = w->data;
    (void) loop;
    (void) revents;

    for (wk_apns_topic_t *t = a->topics; t; t = t->next) {
        if (t->ctx && !t->loading) {
            char key[MDM_KEY_MAX];
            const char *argv[] = { "HGET", key, "updated" };
            mdm_key_pushcert(key, t->name);
            wk_redis_cmdargv(a->redis, topic_on_updated, t, 3, argv, NULL);
        }
    }
}


/* Before the loop blocks: move every queued request toward the wire. */
static void
apns_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    wk_apns_t *a = w->data;
    (void) loop;
    (void) revents;

    for (wk_apns_topic_t *t = a->topics; t; t = t->next) {
        if (t->qhead) {
            topic_kick(t);
        }
    }
}


/* ---- public API ---- */

static int
parse_url(wk_apns_t *a, const char *url)
{
    const char *p = url;
    if (strncmp(p, "https://", 8) != 0) {
        return -1;
    }
    p += 8;
    const char *end = p + strcspn(p, "/");
    const char *host = p, *host_end, *port = NULL;

    if (*p == '[') {                           /* [IPv6]:port */
        host = p + 1;
        host_end = memchr(p, ']', (size_t) (end - p));
        if (host_end == NULL) {
            return -1;
        }
        if (host_end + 1 < end && host_end[1] == ':') {
            port = host_end + 2;
        }
    } else {
        host_end = memchr(p, ':', (size_t) (end - p));
        if (host_end) {
            port = host_end + 1;
        } else {
            host_end = end;
        }
    }
    size_t hlen = (size_t) (host_end - host);
    size_t plen = port ? (size_t) (end - port) : 0;
    if (hlen == 0 || hlen >= sizeof(a->host) || plen >= sizeof(a->port)) {
        return -1;
    }
    memcpy(a->host, host, hlen);
    a->host[hlen] = '\0';
    if (port) {
        memcpy(a->port, port, plen);
        a->port[plen] = '\0';
    } else {
        strcpy(a->port, "443");
    }
    if (atoi(a->port) <= 0 || atoi(a->port) > 65535) {
        return -1;
    }
    unsigned char buf[sizeof(struct in6_addr)];
    a->host_is_ip = inet_pton(AF_INET, a->host, buf) == 1
                    || inet_pton(AF_INET6, a->host, buf) == 1;
    return 0;
}


wk_apns_t *
wk_apns_new(struct ev_loop *loop, const wk_config_t *cf, wk_redis_t *redis,
            wk_apns_done_cb done, void *data)
{
    wk_apns_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return NULL;
    }
    a->loop = loop;
    a->cf = cf;
    a->redis = redis;
    a->done = done;
    a->data = data;
    if (parse_url(a, cf->apns_url) != 0) {
        wk_error("apns_url \"%s\": expected https://host[:port]", cf->apns_url);
        free(a);
        return NULL;
    }
    a->ca_store = ca_store_new(cf->apns_ca);
    a->callbacks = callbacks_new();
    if (a->ca_store == NULL || a->callbacks == NULL) {
        X509_STORE_free(a->ca_store);
        if (a->callbacks) {
            nghttp2_session_callbacks_del(a->callbacks);
        }
        free(a);
        return NULL;
    }
    ev_timer_init(&a->cert_check, apns_on_cert_check,
                  (double) cf->cert_check_interval,
                  (double) cf->cert_check_interval);
    a->cert_check.data = a;
    ev_timer_start(loop, &a->cert_check);
    ev_prepare_init(&a->flush, apns_on_prepare);
    a->flush.data = a;
    ev_prepare_start(loop, &a->flush);
    return a;
}


void
wk_apns_send(wk_apns_t *a, wk_apns_req_t *req)
{
    wk_apns_topic_t *t = topic_get(a, req->topic);

    a->pending++;
    req->refusals = 0;
    if (t == NULL) {
        snprintf(req->reason, sizeof(req->reason), "out of memory");
        req_complete(a, req, WK_APNS_RETRY);
        return;
    }
    /* Sent from on_prepare: one TLS write carries this turn's requests. */
    queue_push_back(t, req);
}


void
wk_apns_reload(wk_apns_t *a)
{
    for (wk_apns_topic_t *t = a->topics; t; t = t->next) {
        t->stopped = 0;
        t->force = 1;
        t->failures = 0;
        topic_load_cert(t);
    }
}


size_t
wk_apns_pending(const wk_apns_t *a)
{
    return a->pending;
}


void
wk_apns_free(wk_apns_t *a)
{
    ev_timer_stop(a->loop, &a->cert_check);
    ev_prepare_stop(a->loop, &a->flush);
    a->closing = 1;
    while (a->conns) {
        wk_apns_conn_t *c = a->conns;
        c->failed = 0;
        conn_close(c);
    }
    while (a->topics) {
        wk_apns_topic_t *t = a->topics;
        a->topics = t->next;
        queue_fail_all(t, WK_APNS_RETRY);
        ev_timer_stop(a->loop, &t->backoff);
        SSL_CTX_free(t->ctx);
        free(t);
    }
    nghttp2_session_callbacks_del(a->callbacks);
    X509_STORE_free(a->ca_store);
    free(a);
}
