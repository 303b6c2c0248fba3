/*
 * Connections: accept, TLS handshake, then an nghttp2 server session fed
 * from SSL_read and drained into SSL_write, batching frames so that one
 * TLS record carries many responses.
 */

#define _GNU_SOURCE /* accept4 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "mdm_buf.h"
#include "mock.h"

#define AM_READ_BUF     16384
#define AM_OUT_FLUSH    65536       /* stop collecting frames past this */
#define AM_CONN_WINDOW  (16 << 20)  /* bodies of 1000 streams in flight */


struct am_conn_s {
    am_server_t        *srv;
    am_conn_t          *prev;
    am_conn_t          *next;
    int                 fd;
    int                 events;
    SSL                *ssl;
    nghttp2_session    *session;
    ev_io               io;
    int                 handshaking;
    int                 topic_ok;
    char                topic[AM_MAX_FIELD + 1];
    am_stream_t        *free_streams;
    am_stream_t        *all_streams;
    unsigned long       streams_done;
    int32_t             last_stream_id;     /* highest answered */
    int32_t             goaway_last;        /* -1 until a GOAWAY is sent */
    mdm_buf_t           out;                /* frames to write */
    size_t              out_off;            /* written of out */
};


static void am_conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void am_conn_new(am_server_t *srv, int fd);
static void am_conn_close(am_conn_t *c);
static void am_conn_want(am_conn_t *c, int events);
static int am_conn_handshake(am_conn_t *c);
static int am_conn_start_h2(am_conn_t *c);
static int am_conn_read(am_conn_t *c);
static int am_conn_fill(am_conn_t *c);
static int am_conn_write(am_conn_t *c);
static void am_conn_respond(am_conn_t *c, am_stream_t *s);
static int am_h2_begin_headers(nghttp2_session *session,
    const nghttp2_frame *frame, void *user_data);
static int am_h2_header(nghttp2_session *session, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value,
    size_t valuelen, uint8_t flags, void *user_data);
static int am_h2_data_chunk(nghttp2_session *session, uint8_t flags,
    int32_t stream_id, const uint8_t *data, size_t len, void *user_data);
static int am_h2_frame_recv(nghttp2_session *session,
    const nghttp2_frame *frame, void *user_data);
static int am_h2_stream_close(nghttp2_session *session, int32_t stream_id,
    uint32_t error_code, void *user_data);
static ssize_t am_h2_read_body(nghttp2_session *session, int32_t stream_id,
    uint8_t *buf, size_t length, uint32_t *data_flags,
    nghttp2_data_source *source, void *user_data);


int
am_conn_init(am_server_t *srv)
{
    nghttp2_session_callbacks  *cb;

    if (nghttp2_session_callbacks_new(&srv->h2_callbacks) != 0
        || nghttp2_option_new(&srv->h2_option) != 0)
    {
        return -1;
    }

    cb = srv->h2_callbacks;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
        am_h2_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, am_h2_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
        am_h2_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
        am_h2_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb,
        am_h2_stream_close);

    /* Closed streams only matter for priority, which APNs ignores. */
    nghttp2_option_set_no_closed_streams(srv->h2_option, 1);

    return 0;
}


void
am_conn_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    am_server_t  *srv = w->data;
    int           fd, one = 1;

    (void) loop;
    (void) revents;

    for ( ;; ) {
        fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                fprintf(stderr, "apns-mock: accept: %s\n", strerror(errno));
            }
            return;
        }

        /* Responses are small; Nagle would only add latency. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        am_conn_new(srv, fd);
    }
}


static void
am_conn_new(am_server_t *srv, int fd)
{
    am_conn_t  *c;

    c = calloc(1, sizeof(am_conn_t));
    if (c == NULL || (c->ssl = SSL_new(srv->ssl_ctx)) == NULL) {
        fprintf(stderr, "apns-mock: out of memory for a connection\n");
        free(c);
        close(fd);
        return;
    }

    c->srv = srv;
    c->fd = fd;
    c->handshaking = 1;
    c->goaway_last = -1;
    SSL_set_fd(c->ssl, fd);
    SSL_set_accept_state(c->ssl);

    c->events = EV_READ;
    ev_io_init(&c->io, am_conn_io_cb, fd, EV_READ);
    c->io.data = c;
    ev_io_start(srv->loop, &c->io);

    c->next = srv->conns;
    if (srv->conns) {
        srv->conns->prev = c;
    }
    srv->conns = c;
    srv->stats.connections++;
}


static void
am_conn_close(am_conn_t *c)
{
    am_server_t  *srv = c->srv;
    am_stream_t  *s;

    ev_io_stop(srv->loop, &c->io);

    if (!c->handshaking) {
        /* Best effort close_notify; the peer may already be gone. */
        SSL_shutdown(c->ssl);
    }
    ERR_clear_error();

    /* The session does not report its open streams as closed here. */
    nghttp2_session_del(c->session);
    while ((s = c->all_streams) != NULL) {
        c->all_streams = s->next_all;
        free(s);
    }

    SSL_free(c->ssl);
    close(c->fd);
    mdm_buf_free(&c->out);

    if (c->prev) {
        c->prev->next = c->next;
    } else {
        srv->conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    free(c);
}


void
am_conn_shutdown(am_server_t *srv)
{
    while (srv->conns) {
        am_conn_close(srv->conns);
    }
    nghttp2_session_callbacks_del(srv->h2_callbacks);
    nghttp2_option_del(srv->h2_option);
}


static void
am_conn_want(am_conn_t *c, int events)
{
    if (c->events == events) {
        return;
    }
    c->events = events;
    ev_io_stop(c->srv->loop, &c->io);
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(c->srv->loop, &c->io);
}


static void
am_conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    am_conn_t  *c = w->data;

    (void) loop;
    (void) revents;

    if (c->handshaking && am_conn_handshake(c) != 0) {
        am_conn_close(c);
        return;
    }
    if (c->handshaking) {
        return;
    }

    if (am_conn_read(c) != 0 || am_conn_write(c) != 0) {
        am_conn_close(c);
        return;
    }

    /* Done once a GOAWAY has been sent and every stream answered. */
    if (!nghttp2_session_want_read(c->session)
        && !nghttp2_session_want_write(c->session)
        && c->out_off == c->out.len)
    {
        am_conn_close(c);
    }
}


static int
am_conn_handshake(am_conn_t *c)
{
    char           err[256], serial[80];
    unsigned long  e;
    int            rc;

    rc = SSL_do_handshake(c->ssl);
    if (rc != 1) {
        switch (SSL_get_error(c->ssl, rc)) {
        case SSL_ERROR_WANT_READ:
            am_conn_want(c, EV_READ);
            return 0;
        case SSL_ERROR_WANT_WRITE:
            am_conn_want(c, EV_READ | EV_WRITE);
            return 0;
        default:
            c->srv->stats.handshake_failures++;
            e = ERR_peek_last_error();
            ERR_error_string_n(e, err, sizeof(err));
            fprintf(stderr, "apns-mock: TLS handshake failed: %s\n",
                    e ? err : "connection closed");
            ERR_clear_error();
            return -1;
        }
    }

    c->handshaking = 0;
    c->topic_ok = am_tls_peer_topic(c->ssl, c->topic, sizeof(c->topic))
                  && strncmp(c->topic, AM_TOPIC_PREFIX,
                             sizeof(AM_TOPIC_PREFIX) - 1) == 0;
    if (am_tls_peer_serial(c->ssl, serial, sizeof(serial))) {
        fprintf(stderr, "apns-mock: connection with certificate serial %s\n",
                serial);
    }
    if (!c->topic_ok) {
        fprintf(stderr, "apns-mock: client certificate has no %s* UID "
                "(got \"%s\"): every push gets 403 BadCertificate\n",
                AM_TOPIC_PREFIX, c->topic);
    }

    return am_conn_start_h2(c);
}


static int
am_conn_start_h2(am_conn_t *c)
{
    const am_config_t  *cfg = &c->srv->cfg;
    nghttp2_settings_entry settings[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->max_streams },
    };

    if (nghttp2_session_server_new2(&c->session, c->srv->h2_callbacks, c,
                                    c->srv->h2_option) != 0
        || nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings,
                                   1) != 0
        || nghttp2_session_set_local_window_size(c->session,
               NGHTTP2_FLAG_NONE, 0, AM_CONN_WINDOW) != 0)
    {
        return -1;
    }

    /*
     * A server that takes the handshake and sends GOAWAY before serving
     * anything (APNs does so with {"reason":"BadCertificate"} and the like):
     * no stream is processed, nghttp2 ignores the client's requests.
     */
    if (cfg->goaway_at_start) {
        char  data[AM_MAX_REASON + 16];
        int   n = snprintf(data, sizeof(data), "{\"reason\":\"%s\"}",
                           cfg->goaway_start_reason);

        c->srv->stats.goaways++;
        if (nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, 0,
                                  cfg->goaway_start_code,
                                  (const uint8_t *) data, (size_t) n) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
am_conn_read(am_conn_t *c)
{
    uint8_t   buf[AM_READ_BUF];
    ssize_t   rv;
    int       n;

    for ( ;; ) {
        n = SSL_read(c->ssl, buf, sizeof(buf));
        if (n <= 0) {
            switch (SSL_get_error(c->ssl, n)) {
            case SSL_ERROR_WANT_READ:
            case SSL_ERROR_WANT_WRITE:
                return 0;
            default:
                ERR_clear_error();
                return -1;
            }
        }

        /* A bad preface or protocol error ends the connection. */
        rv = nghttp2_session_mem_recv(c->session, buf, n);
        if (rv < 0) {
            return -1;
        }

        /* Flushed here so a test sees the line before the response. */
        if (!c->srv->cfg.quiet) {
            fflush(c->srv->log);
        }
        if (am_conn_write(c) != 0) {
            return -1;
        }
    }
}


/* Moves serialized frames from nghttp2 into our output buffer. */
static int
am_conn_fill(am_conn_t *c)
{
    const uint8_t  *data;
    ssize_t         n;

    while (c->out.len < AM_OUT_FLUSH) {
        n = nghttp2_session_mem_send(c->session, &data);
        if (n <= 0) {
            return n < 0 ? -1 : 0;
        }

        if (mdm_buf_append(&c->out, data, (size_t) n) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
am_conn_write(am_conn_t *c)
{
    int  n;

    for ( ;; ) {
        if (c->out_off == c->out.len) {
            c->out_off = 0;
            c->out.len = 0;         /* the room stays for the next frames */
            if (am_conn_fill(c) != 0) {
                return -1;
            }
            if (c->out.len == 0) {
                am_conn_want(c, EV_READ);
                return 0;
            }
        }

        n = SSL_write(c->ssl, c->out.data + c->out_off,
                      (int) (c->out.len - c->out_off));
        if (n <= 0) {
            switch (SSL_get_error(c->ssl, n)) {
            case SSL_ERROR_WANT_WRITE:
                am_conn_want(c, EV_READ | EV_WRITE);
                return 0;
            case SSL_ERROR_WANT_READ:
                return 0;
            default:
                ERR_clear_error();
                return -1;
            }
        }
        c->out_off += n;
    }
}


static void
am_conn_respond(am_conn_t *c, am_stream_t *s)
{
    am_server_t          *srv = c->srv;
    am_answer_t           ans;
    char                  status[4];
    nghttp2_data_provider body = { .source.ptr = s,
                                   .read_callback = am_h2_read_body };
    nghttp2_nv            nv[] = {
        { (uint8_t *) ":status", (uint8_t *) status, 7, 3,
          NGHTTP2_NV_FLAG_NONE },
        { (uint8_t *) "apns-id", (uint8_t *) s->apns_id, 7, AM_UUID_LEN,
          NGHTTP2_NV_FLAG_NONE },
        { (uint8_t *) "content-type", (uint8_t *) "application/json", 12, 16,
          NGHTTP2_NV_FLAG_NONE },
    };
    static const char     goaway[] = "{\"reason\":\"Shutdown\"}";

    s->answered = 1;

    /*
     * A stream opened before the GOAWAY went out but above its last
     * stream ID was, as the GOAWAY tells the client, not processed: it is
     * refused, never answered (RFC 9113 6.8), so the client's retry of it
     * is no duplicate.
     */
    if (c->goaway_last >= 0 && s->id > c->goaway_last) {
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id,
                                  NGHTTP2_REFUSED_STREAM);
        return;
    }

    ans = am_apns_answer(srv, c->topic, c->topic_ok, s);
    srv->stats.status[ans.status]++;
    if (!srv->cfg.quiet) {
        am_apns_log(srv, c->topic, s, ans);
    }

    snprintf(status, sizeof(status), "%03d", ans.status);
    if (ans.status == 200) {
        nghttp2_submit_response(c->session, s->id, nv, 2, NULL);
    } else {
        s->resp_len = snprintf(s->resp, sizeof(s->resp),
                               ans.status == 410
                               ? "{\"reason\":\"%s\",\"timestamp\":%lld}"
                               : "{\"reason\":\"%s\"}",
                               ans.reason,
                               (long long) (ev_now(srv->loop) * 1000));
        nghttp2_submit_response(c->session, s->id, nv, 3, &body);
    }

    if (s->id > c->last_stream_id) {
        c->last_stream_id = s->id;
    }
    if (srv->cfg.goaway_after && ++c->streams_done == srv->cfg.goaway_after) {
        srv->stats.goaways++;
        c->goaway_last = c->last_stream_id;
        nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, c->last_stream_id,
                              NGHTTP2_NO_ERROR, (const uint8_t *) goaway,
                              sizeof(goaway) - 1);
    }
}


static int
am_h2_begin_headers(nghttp2_session *session, const nghttp2_frame *frame,
    void *user_data)
{
    am_conn_t    *c = user_data;
    am_stream_t  *s;

    if (frame->hd.type != NGHTTP2_HEADERS
        || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    {
        return 0;
    }

    /*
     * Requests that arrive in the same read as the GOAWAY's last stream
     * (or before the --goaway-at-start one left) were not processed, as the
     * GOAWAY says: refuse them, so the client may retry them on a new
     * connection.
     */
    if (c->srv->cfg.goaway_at_start
        || (c->srv->cfg.goaway_after
            && c->streams_done >= c->srv->cfg.goaway_after))
    {
        return nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE,
                                         frame->hd.stream_id,
                                         NGHTTP2_REFUSED_STREAM) == 0
               ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
    }

    s = c->free_streams;
    if (s != NULL) {
        c->free_streams = s->next_free;
    } else {
        s = malloc(sizeof(am_stream_t));
        if (s == NULL) {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        s->next_all = c->all_streams;
        c->all_streams = s;
    }

    am_apns_stream_reset(s, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s);
    return 0;
}


static int
am_h2_header(nghttp2_session *session, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value,
    size_t valuelen, uint8_t flags, void *user_data)
{
    am_stream_t  *s;

    (void) flags;
    (void) user_data;

    s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s != NULL && !s->answered) {
        am_apns_header(s, name, namelen, value, valuelen);
    }
    return 0;
}


static int
am_h2_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
    const uint8_t *data, size_t len, void *user_data)
{
    am_stream_t  *s;

    (void) flags;
    (void) user_data;

    s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s != NULL) {
        am_apns_body(s, data, len);
    }
    return 0;
}


static int
am_h2_frame_recv(nghttp2_session *session, const nghttp2_frame *frame,
    void *user_data)
{
    am_stream_t  *s;

    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
    {
        return 0;
    }

    s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s != NULL && !s->answered) {
        am_conn_respond(user_data, s);
    }
    return 0;
}


static int
am_h2_stream_close(nghttp2_session *session, int32_t stream_id,
    uint32_t error_code, void *user_data)
{
    am_conn_t    *c = user_data;
    am_stream_t  *s;

    (void) error_code;

    s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s != NULL) {
        s->next_free = c->free_streams;
        c->free_streams = s;
    }
    return 0;
}


static ssize_t
am_h2_read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
    size_t length, uint32_t *data_flags, nghttp2_data_source *source,
    void *user_data)
{
    am_stream_t  *s = source->ptr;
    size_t        n = s->resp_len - s->resp_sent;

    (void) session;
    (void) stream_id;
    (void) user_data;

    if (n > length) {
        n = length;
    }
    memcpy(buf, s->resp + s->resp_sent, n);
    s->resp_sent += n;
    if (s->resp_sent == s->resp_len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return n;
}
