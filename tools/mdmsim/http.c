/*
 * The HTTP/1.1 client under every mode of mdmsim. Sockets are non-blocking
 * and every step (connect, TLS handshake, write, read) resumes from the libev
 * watcher, so one process keeps thousands of device connections busy.
 */

#define _GNU_SOURCE  /* memmem */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "http.h"


#define MDMSIM_READ_CHUNK  16384

enum {
    MDMSIM_CONN_CLOSED,
    MDMSIM_CONN_CONNECTING,
    MDMSIM_CONN_HANDSHAKE,
    MDMSIM_CONN_WRITING,
    MDMSIM_CONN_READING,
    MDMSIM_CONN_READY
};


static void mdmsim_conn_io(struct ev_loop *loop, ev_io *w, int revents);
static void mdmsim_conn_timeout(struct ev_loop *loop, ev_timer *w,
    int revents);
static void mdmsim_conn_watch(struct mdmsim_conn *c, int events);
static void mdmsim_conn_connect(struct mdmsim_conn *c);
static void mdmsim_conn_connected(struct mdmsim_conn *c);
static void mdmsim_conn_handshake(struct mdmsim_conn *c);
static void mdmsim_conn_write(struct mdmsim_conn *c);
static void mdmsim_conn_read(struct mdmsim_conn *c);
static void mdmsim_conn_fail(struct mdmsim_conn *c,
    enum mdmsim_http_error error);
static void mdmsim_conn_keep_session(struct mdmsim_conn *c);
static void mdmsim_conn_finish(struct mdmsim_conn *c,
    struct mdmsim_response *resp);
static int mdmsim_conn_retry(struct mdmsim_conn *c);
static int mdmsim_tls_result(struct mdmsim_conn *c, int rc);
static int mdmsim_parse_response(struct mdmsim_conn *c, int eof,
    struct mdmsim_response *resp);
static int mdmsim_parse_chunked(struct mdmsim_conn *c, const char *p,
    const char *end);
static int mdmsim_header_is(const char *line, const char *name,
    const char **value);
static int mdmsim_format_head(char *buf, size_t size,
    const struct mdmsim_request *req);


static const char  *mdmsim_http_error_names[] = {
    "ok", "connect", "tls", "io", "timeout", "protocol"
};


const char *
mdmsim_http_error_name(enum mdmsim_http_error error)
{
    return mdmsim_http_error_names[error];
}


int
mdmsim_url_parse(const char *s, struct mdmsim_url *url)
{
    struct addrinfo   hints, *res;
    const char       *host, *end, *colon, *slash;
    size_t            len;

    memset(url, 0, sizeof(*url));
    if (strncmp(s, "https://", 8) == 0) {
        url->tls = 1;
        host = s + 8;
    } else if (strncmp(s, "http://", 7) == 0) {
        host = s + 7;
    } else {
        fprintf(stderr, "mdmsim: %s: not an http(s) URL\n", s);
        return -1;
    }
    slash = strchr(host, '/');
    end = slash ? slash : host + strlen(host);
    colon = memchr(host, ':', end - host);
    len = (colon ? colon : end) - host;
    if (len == 0 || len >= sizeof(url->host)
        || (colon && (size_t) (end - colon - 1) >= sizeof(url->port))
        || strlen(slash ? slash : "/") >= sizeof(url->path))
    {
        fprintf(stderr, "mdmsim: %s: bad URL\n", s);
        return -1;
    }
    memcpy(url->host, host, len);
    if (colon) {
        memcpy(url->port, colon + 1, end - colon - 1);
    } else {
        strcpy(url->port, url->tls ? "443" : "80");
    }
    snprintf(url->authority, sizeof(url->authority), "%.*s",
             (int) (end - host), host);
    strcpy(url->path, slash ? slash : "/");

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(url->host, url->port, &hints, &res) != 0) {
        fprintf(stderr, "mdmsim: cannot resolve %s\n", url->host);
        return -1;
    }
    memcpy(&url->addr, res->ai_addr, res->ai_addrlen);
    url->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}


SSL_CTX *
mdmsim_tls_ctx(const char *ca_file, int insecure)
{
    SSL_CTX  *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if ((ca_file && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
        || (!ca_file && SSL_CTX_set_default_verify_paths(ctx) != 1))
    {
        fprintf(stderr, "mdmsim: cannot load CA file %s\n",
                ca_file ? ca_file : "(system default)");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}


void
mdmsim_conn_init(struct mdmsim_conn *c, struct ev_loop *loop, SSL_CTX *ctx,
    double timeout, mdmsim_conn_done_pt done, void *data)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->ctx = ctx;
    c->fd = -1;
    c->timeout = timeout;
    c->done = done;
    c->data = data;
    ev_init(&c->io, mdmsim_conn_io);
    ev_init(&c->timer, mdmsim_conn_timeout);
    c->io.data = c;
    c->timer.data = c;
}


/* User-Agent as sent by iOS and macOS for MDM requests. */
static int
mdmsim_format_head(char *buf, size_t size, const struct mdmsim_request *req)
{
    return snprintf(buf, size, "PUT %s HTTP/1.1\r\nHost: %s\r\n"
                    "User-Agent: MDM/1.0\r\nContent-Type: %s\r\n"
                    "Content-Length: %zu\r\n%s%s%s\r\n",
                    req->url->path, req->url->authority, req->content_type,
                    req->body_len, req->signature ? "Mdm-Signature: " : "",
                    req->signature ? req->signature : "",
                    req->signature ? "\r\n" : "");
}


void
mdmsim_conn_put(struct mdmsim_conn *c, const struct mdmsim_request *req)
{
    int   n;
    int   same;

    n = mdmsim_format_head(NULL, 0, req);
    c->out.len = 0;
    if (mdm_buf_reserve(&c->out, n + req->body_len) != 0) {
        mdmsim_conn_fail(c, MDMSIM_HTTP_IO);
        return;
    }
    mdmsim_format_head(c->out.data, n + 1, req);
    memcpy(c->out.data + n, req->body, req->body_len);
    c->out.len = n + req->body_len;
    c->out_off = 0;
    c->in.len = 0;
    c->retried = 0;

    ev_timer_set(&c->timer, c->timeout, 0.);
    ev_timer_start(c->loop, &c->timer);

    same = c->state == MDMSIM_CONN_READY && c->url != NULL
           && c->url->tls == req->url->tls
           && strcmp(c->url->host, req->url->host) == 0
           && strcmp(c->url->port, req->url->port) == 0
           && c->identity == req->identity;
    c->url = req->url;
    c->identity = req->identity;
    c->device = req->identity ? req->identity : req->device;
    if (same) {
        c->reused = 1;
        c->state = MDMSIM_CONN_WRITING;
        mdmsim_conn_write(c);
        return;
    }
    mdmsim_conn_close(c);
    mdmsim_conn_connect(c);
}


void
mdmsim_conn_close(struct mdmsim_conn *c)
{
    ev_io_stop(c->loop, &c->io);
    if (c->ssl != NULL) {
        /*
         * OpenSSL marks the session of a connection freed without a
         * close_notify as not resumable; one non-blocking call sends it.
         */
        if (c->state == MDMSIM_CONN_READY) {
            SSL_shutdown(c->ssl);
        }
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->state = MDMSIM_CONN_CLOSED;
}


static void
mdmsim_conn_watch(struct mdmsim_conn *c, int events)
{
    if (ev_is_active(&c->io) && (c->io.events & (EV_READ | EV_WRITE))
        == events)
    {
        return;
    }
    ev_io_stop(c->loop, &c->io);
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(c->loop, &c->io);
}


/*
 * A connect that fails at once is reported from the loop, not from here:
 * the caller may be a completion callback, and failing inline would recurse
 * once per request while the server is down.
 */
static void
mdmsim_conn_connect(struct mdmsim_conn *c)
{
    int  one = 1;

    c->reused = 0;
    c->connect_errno = 0;
    c->fd = socket(c->url->addr.ss_family,
                   SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        c->connect_errno = errno;
        c->fd = -1;
    } else {
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(c->fd, (struct sockaddr *) &c->url->addr,
                    c->url->addr_len) != 0 && errno != EINPROGRESS)
        {
            c->connect_errno = errno;
        }
    }
    c->state = MDMSIM_CONN_CONNECTING;
    if (c->fd < 0) {
        ev_feed_event(c->loop, &c->io, EV_WRITE);
        return;
    }
    mdmsim_conn_watch(c, EV_WRITE);
}


static void
mdmsim_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct mdmsim_conn  *c = w->data;
    socklen_t            len = sizeof(int);
    int                  err = 0;

    (void) loop;
    (void) revents;
    switch (c->state) {
    case MDMSIM_CONN_CONNECTING:
        if (c->connect_errno == 0 && c->fd >= 0) {
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            c->connect_errno = err;
        }
        if (c->connect_errno != 0) {
            if (c->verbose) {
                fprintf(stderr, "mdmsim: connect %s: %s\n",
                        c->url->authority, strerror(c->connect_errno));
            }
            mdmsim_conn_fail(c, MDMSIM_HTTP_CONNECT);
            return;
        }
        mdmsim_conn_connected(c);
        return;
    case MDMSIM_CONN_HANDSHAKE:
        mdmsim_conn_handshake(c);
        return;
    case MDMSIM_CONN_WRITING:
        mdmsim_conn_write(c);
        return;
    case MDMSIM_CONN_READING:
        mdmsim_conn_read(c);
        return;
    default:
        /* A ready keep-alive connection is not watched. */
        ev_io_stop(c->loop, &c->io);
    }
}


static void
mdmsim_conn_connected(struct mdmsim_conn *c)
{
    const struct mdmsim_url  *url = c->url;
    unsigned char             ip[sizeof(struct in6_addr)];
    SSL_SESSION              *session;
    int                       is_ip;

    if (!url->tls) {
        c->state = MDMSIM_CONN_WRITING;
        mdmsim_conn_write(c);
        return;
    }
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        mdmsim_conn_fail(c, MDMSIM_HTTP_TLS);
        return;
    }
    is_ip = inet_pton(AF_INET, url->host, ip) == 1
            || inet_pton(AF_INET6, url->host, ip) == 1;
    if (is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), url->host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, url->host);
        SSL_set1_host(c->ssl, url->host);
    }
    if (c->identity != NULL
        && (SSL_use_certificate(c->ssl, c->identity->cert) != 1
            || SSL_use_PrivateKey(c->ssl, c->identity->key) != 1))
    {
        mdmsim_conn_fail(c, MDMSIM_HTTP_TLS);
        return;
    }
    if (c->resume) {
        session = c->device ? c->device->tls_session : c->session;
        if (session != NULL) {
            SSL_set_session(c->ssl, session);
        }
    }
    SSL_set_connect_state(c->ssl);
    c->state = MDMSIM_CONN_HANDSHAKE;
    mdmsim_conn_handshake(c);
}


/* Maps an SSL call's result to: 1 done, 0 wait (watch set), -1 failed. */
static int
mdmsim_tls_result(struct mdmsim_conn *c, int rc)
{
    unsigned long  e;
    char           buf[256];

    if (rc > 0) {
        return 1;
    }
    switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        mdmsim_conn_watch(c, EV_READ);
        return 0;
    case SSL_ERROR_WANT_WRITE:
        mdmsim_conn_watch(c, EV_WRITE);
        return 0;
    default:
        if (c->verbose && (e = ERR_peek_error()) != 0) {
            ERR_error_string_n(e, buf, sizeof(buf));
            fprintf(stderr, "mdmsim: TLS %s: %s\n", c->url->authority, buf);
        }
        ERR_clear_error();
        return -1;
    }
}


static void
mdmsim_conn_handshake(struct mdmsim_conn *c)
{
    int  rc = mdmsim_tls_result(c, SSL_do_handshake(c->ssl));

    if (rc < 0) {
        mdmsim_conn_fail(c, MDMSIM_HTTP_TLS);
    } else if (rc > 0) {
        c->handshakes++;
        c->resumed += SSL_session_reused(c->ssl) == 1;
        c->state = MDMSIM_CONN_WRITING;
        mdmsim_conn_write(c);
    }
}


static void
mdmsim_conn_write(struct mdmsim_conn *c)
{
    ssize_t  n;
    int      rc;

    while (c->out_off < c->out.len) {
        if (c->ssl != NULL) {
            n = SSL_write(c->ssl, c->out.data + c->out_off,
                          (int) (c->out.len - c->out_off));
            rc = mdmsim_tls_result(c, (int) n);
            if (rc == 0) {
                return;
            }
            if (rc < 0) {
                goto failed;
            }
        } else {
            n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                     MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                mdmsim_conn_watch(c, EV_WRITE);
                return;
            }
            if (n < 0) {
                goto failed;
            }
        }
        c->out_off += n;
    }
    c->state = MDMSIM_CONN_READING;
    mdmsim_conn_watch(c, EV_READ);
    return;

failed:
    if (!mdmsim_conn_retry(c)) {
        mdmsim_conn_fail(c, MDMSIM_HTTP_IO);
    }
}


/*
 * The server may close an idle keep-alive connection just as we reuse it:
 * that is not a failure of the request, so it is sent once more on a fresh
 * connection, as HTTP clients do for idempotent requests.
 */
static int
mdmsim_conn_retry(struct mdmsim_conn *c)
{
    if (!c->reused || c->retried || c->in.len > 0) {
        return 0;
    }
    mdmsim_conn_close(c);
    c->retried = 1;
    c->out_off = 0;
    mdmsim_conn_connect(c);
    return 1;
}


static void
mdmsim_conn_read(struct mdmsim_conn *c)
{
    struct mdmsim_response  resp;
    ssize_t                 n;
    int                     eof = 0, rc;

    for ( ;; ) {
        if (mdm_buf_reserve(&c->in, MDMSIM_READ_CHUNK) != 0) {
            mdmsim_conn_fail(c, MDMSIM_HTTP_IO);
            return;
        }
        /* read into the room, keeping the NUL after what was read */
        if (c->ssl != NULL) {
            n = SSL_read(c->ssl, c->in.data + c->in.len,
                         (int) (c->in.cap - c->in.len - 1));
            if (n <= 0 && SSL_get_error(c->ssl, (int) n)
                          == SSL_ERROR_ZERO_RETURN)
            {
                eof = 1;
            } else if (n <= 0) {
                rc = mdmsim_tls_result(c, (int) n);
                if (rc == 0) {
                    return;
                }
                eof = 1;
            }
        } else {
            n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1,
                     0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                return;
            }
            eof = n <= 0;
        }
        if (!eof) {
            c->in.len += n;
            c->in.data[c->in.len] = '\0';
        }

        rc = mdmsim_parse_response(c, eof, &resp);
        if (rc > 0) {
            mdmsim_conn_finish(c, &resp);
            return;
        }
        if (rc < 0) {
            mdmsim_conn_fail(c, MDMSIM_HTTP_PROTOCOL);
            return;
        }
        if (eof) {
            if (!mdmsim_conn_retry(c)) {
                mdmsim_conn_fail(c, MDMSIM_HTTP_IO);
            }
            return;
        }
    }
}


static void
mdmsim_conn_finish(struct mdmsim_conn *c, struct mdmsim_response *resp)
{
    ev_timer_stop(c->loop, &c->timer);
    if (c->resume && c->ssl != NULL) {
        mdmsim_conn_keep_session(c);
    }
    ev_io_stop(c->loop, &c->io);
    c->state = MDMSIM_CONN_READY;
    if (resp->close) {
        mdmsim_conn_close(c);
    }
    c->done(c, MDMSIM_HTTP_OK, resp);
}


/*
 * A TLS 1.3 ticket arrives after the handshake, so the session is taken
 * once a response has been read. A session belongs to its device (bound to
 * its client certificate, or one it resumes as a device would), not to the
 * connection that happened to carry it.
 */
static void
mdmsim_conn_keep_session(struct mdmsim_conn *c)
{
    SSL_SESSION  **kept, *session = SSL_get1_session(c->ssl);

    if (session == NULL || !SSL_SESSION_is_resumable(session)) {
        SSL_SESSION_free(session);
        return;
    }
    kept = c->device ? &c->device->tls_session : &c->session;
    SSL_SESSION_free(*kept);
    *kept = session;
}


static void
mdmsim_conn_fail(struct mdmsim_conn *c, enum mdmsim_http_error error)
{
    ev_timer_stop(c->loop, &c->timer);
    mdmsim_conn_close(c);
    c->done(c, error, NULL);
}


static void
mdmsim_conn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void) loop;
    (void) revents;
    mdmsim_conn_fail(w->data, MDMSIM_HTTP_TIMEOUT);
}


/* Returns 1 with the whole chunked body decoded, 0 if incomplete, -1 bad. */
static int
mdmsim_parse_chunked(struct mdmsim_conn *c, const char *p, const char *end)
{
    const char     *eol;
    char           *num_end;
    unsigned long   size;

    c->chunked.len = 0;
    for ( ;; ) {
        eol = memmem(p, end - p, "\r\n", 2);
        if (eol == NULL) {
            return 0;
        }
        size = strtoul(p, &num_end, 16);
        if (num_end == p) {
            return -1;
        }
        p = eol + 2;
        if (size == 0) {
            break;
        }
        if ((size_t) (end - p) < size + 2) {
            return 0;
        }
        if (mdm_buf_append(&c->chunked, p, size) != 0) {
            return -1;
        }
        p += size + 2;
    }
    /* Trailer fields, if any, then the empty line. */
    for ( ;; ) {
        eol = memmem(p, end - p, "\r\n", 2);
        if (eol == NULL) {
            return 0;
        }
        if (eol == p) {
            return 1;
        }
        p = eol + 2;
    }
}


static int
mdmsim_header_is(const char *line, const char *name, const char **value)
{
    size_t  n = strlen(name);

    if (strncasecmp(line, name, n) != 0 || line[n] != ':') {
        return 0;
    }
    *value = line + n + 1;
    while (**value == ' ' || **value == '\t') {
        (*value)++;
    }
    return 1;
}


static int
mdmsim_parse_response(struct mdmsim_conn *c, int eof,
    struct mdmsim_response *resp)
{
    const char  *head = c->in.data, *end = c->in.data + c->in.len;
    const char  *hdr_end, *line;
    const char  *eol, *value;
    long         length = -1;
    int          chunked = 0, minor, rc;

    hdr_end = memmem(head, c->in.len, "\r\n\r\n", 4);
    if (hdr_end == NULL) {
        return c->in.len > 65536 ? -1 : 0;
    }
    memset(resp, 0, sizeof(*resp));
    if (sscanf(head, "HTTP/1.%d %3d", &minor, &resp->status) != 2) {
        return -1;
    }
    resp->close = minor == 0;

    line = (const char *) memmem(head, hdr_end + 2 - head, "\r\n", 2) + 2;
    for ( /* void */ ; line < hdr_end; line = eol + 2) {
        eol = memmem(line, hdr_end + 2 - line, "\r\n", 2);
        if (mdmsim_header_is(line, "Content-Length", &value)) {
            length = strtol(value, NULL, 10);
        } else if (mdmsim_header_is(line, "Transfer-Encoding", &value)) {
            chunked = strncasecmp(value, "chunked", 7) == 0;
        } else if (mdmsim_header_is(line, "Connection", &value)) {
            resp->close = strncasecmp(value, "close", 5) == 0;
        }
    }
    hdr_end += 4;

    if (resp->status == 204 || resp->status == 304) {
        resp->body = hdr_end;
        return 1;
    }
    if (chunked) {
        rc = mdmsim_parse_chunked(c, hdr_end, end);
        resp->body = c->chunked.data;
        resp->body_len = c->chunked.len;
        return rc;
    }
    resp->body = hdr_end;
    if (length >= 0) {
        resp->body_len = length;
        return end - hdr_end >= length;
    }
    /* Neither length nor chunked: the body ends when the server closes. */
    resp->body_len = end - hdr_end;
    resp->close = 1;
    return eof;
}
