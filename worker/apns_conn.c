/*
 * One TLS + HTTP/2 connection to APNs for one topic (apns_conn.h): a
 * non-blocking socket (glibc's getaddrinfo_a for names), OpenSSL's
 * handshake against the client's trust store, and nghttp2 on top. The
 * frames of one loop turn leave in one TLS write; a stream left unanswered
 * is reset, a silent connection dropped, an idle one PINGed.
 */

#define _GNU_SOURCE   /* getaddrinfo_a: resolving without blocking the loop */

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "apns_conn.h"
#include "log.h"

/*
 * Bytes gathered from nghttp2 before one SSL_write: one TLS record carries
 * many small HEADERS+DATA frames, which is most of the per-push CPU saving.
 */
#define WBUF_SOFT_MAX  (64 * 1024)

/*
 * A request refused this many times in one attempt (REFUSED_STREAM, or
 * above a GOAWAY's last_stream_id) spends the attempt: a server that
 * refuses everything must not keep it going round for ever.
 */
#define REFUSALS_PER_ATTEMPT  3

/* A name being resolved (getaddrinfo_a), and the addresses left to try. */
struct wk_resolve_s {
    struct gaicb     cb;
    struct addrinfo  hints;
    char             host[256];
    char             port[8];
    struct addrinfo *next;          /* address to try if this one fails */
};

static void conn_fail(wk_apns_conn_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void conn_connect_next(wk_apns_conn_t *c);


/* ---- streams in flight ---- */

static void
conn_inflight_add(wk_apns_conn_t *c, wk_apns_req_t *req)
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
conn_inflight_remove(wk_apns_conn_t *c, wk_apns_req_t *req)
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


/* ---- nghttp2 callbacks: they record; the caller acts afterwards ---- */

static int
conn_on_header(nghttp2_session *session, const nghttp2_frame *frame,
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
conn_on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
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


static int
conn_on_stream_close(nghttp2_session *session, int32_t stream_id,
                uint32_t error_code, void *user_data)
{
    wk_apns_conn_t *c = user_data;
    wk_apns_req_t *req = nghttp2_session_get_stream_user_data(session,
                                                              stream_id);
    if (req == NULL || c->closing) {
        return 0;
    }
    conn_inflight_remove(c, req);

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
            wk_apns_topic_requeue(c->topic, req);
            return 0;
        }
        if (error_code == NGHTTP2_REFUSED_STREAM) {
            snprintf(req->reason, sizeof(req->reason), "refused %u times",
                     req->refusals);
            wk_apns_req_complete(c->apns, req, WK_APNS_RETRY);
            return 0;
        }
        snprintf(req->reason, sizeof(req->reason), "stream reset: %s",
                 nghttp2_http2_strerror(error_code));
        wk_apns_req_complete(c->apns, req, WK_APNS_RETRY);
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
    if (out == WK_APNS_FORBIDDEN
        && !wk_apns_topic_stop(c->topic, c->gen, "403", req->reason))
    {
        out = WK_APNS_RETRY;
    }
    wk_apns_req_complete(c->apns, req, out);
    return 0;
}


/*
 * APNs may say why it sends GOAWAY in the debug data, as the JSON of an
 * error response: a 403 reason stops the topic as a 403 answer does.
 */
static void
conn_on_goaway(wk_apns_conn_t *c, const nghttp2_goaway *goaway)
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
        wk_apns_topic_stop(c->topic, c->gen, "GOAWAY", why.reason);
    }
}


static int
conn_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
              void *user_data)
{
    wk_apns_conn_t *c = user_data;
    (void) session;

    switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
            c->settings = 1;
        }
        break;
    case NGHTTP2_GOAWAY:
        conn_on_goaway(c, &frame->goaway);
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
conn_read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
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


nghttp2_session_callbacks *
wk_apns_conn_callbacks_new(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        return NULL;
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, conn_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, conn_on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, conn_on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs,
                                                         conn_on_frame_recv);
    return cbs;
}


/* ---- TLS and socket I/O ---- */

void
wk_apns_conn_ssl_error(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, len, "%s", errno ? strerror(errno) : "unknown error");
    } else {
        ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
}


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
        wk_apns_conn_ssl_error(msg, sizeof(msg));
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
        int n = SSL_read(c->ssl, buf, WK_APNS_RBUF_SIZE);
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
        wk_apns_conn_ssl_error(msg, sizeof(msg));
        conn_fail(c, "read: %s", msg);
        return -1;
    }
}


/* ---- streams: from the topic's queue onto the wire ---- */

/*
 * One stream until the server said how many it takes: nghttp2 assumes
 * 100 before its SETTINGS arrive, and APNs may allow fewer (a pile of
 * streams sent on that guess would all be refused, or all meet a 403
 * that one was enough to learn).
 */
static size_t
conn_stream_limit(wk_apns_conn_t *c)
{
    if (!c->settings) {
        return 1;
    }
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

    nghttp2_data_provider body = {
        .source.ptr = req, .read_callback = conn_read_body
    };
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
    conn_inflight_add(c, req);
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
        wk_apns_req_t *req = wk_apns_topic_next(t);
        if (conn_submit(c, req) != 0) {
            wk_apns_topic_requeue(t, req);
            c->draining = 1;
            break;
        }
    }
}


/* ---- ending a connection ---- */

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
void
wk_apns_conn_close(wk_apns_conn_t *c)
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
        wk_apns_topic_backoff(t);
    }
    c->closing = 1;
    c->inflight = NULL;
    conn_free(c);

    while (lost) {
        wk_apns_req_t *req = lost;
        lost = req->next;
        req->next = req->prev = NULL;
        snprintf(req->reason, sizeof(req->reason), "connection lost");
        wk_apns_req_complete(a, req, WK_APNS_RETRY);
    }
    wk_apns_topic_kick(t);
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
void
wk_apns_conn_process(wk_apns_conn_t *c)
{
    if (c->failed || c->closed) {
        wk_apns_conn_close(c);
        return;
    }
    if (c->state != CONN_READY) {
        return;
    }
    if (c->draining && c->topic->conn == c) {
        c->topic->conn = NULL;            /* new requests: a new connection */
    }
    if (c->draining && c->ninflight == 0) {
        wk_apns_conn_close(c);
        return;
    }
    conn_pump(c);
    if (conn_flush(c) != 0
        || (!nghttp2_session_want_read(c->h2)
            && !nghttp2_session_want_write(c->h2)))
    {
        wk_apns_conn_close(c);
        return;
    }
    if (c->topic->conn == NULL && c->topic->qhead) {
        wk_apns_topic_kick(c->topic);
    }
}


/* ---- connecting: name, TCP, TLS, then HTTP/2 ---- */

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
        wk_apns_conn_ssl_error(msg, sizeof(msg));
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
    wk_apns_conn_process(c);
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
conn_resolve_start(wk_apns_conn_t *c)
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
conn_resolve_poll(wk_apns_conn_t *c)
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


/* ---- timeouts, PINGs; opening ---- */

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
        conn_resolve_poll(c);
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
    wk_apns_conn_process(c);
}


void
wk_apns_conn_open(wk_apns_topic_t *t)
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
        if (conn_resolve_start(c) != 0) {
            conn_fail(c, "cannot start resolving %s", a->host);
        }
    }
    wk_apns_conn_process(c);
}
