#ifndef MDMSIM_HTTP_H
#define MDMSIM_HTTP_H

/*
 * A non-blocking HTTP/1.1 client connection on a libev loop: one request at
 * a time, keep-alive, Content-Length or chunked responses, plain TCP or TLS
 * with an optional per-device client certificate.
 */

#include <netdb.h>
#include <sys/socket.h>
#include <ev.h>
#include <openssl/ssl.h>

#include "mdm_buf.h"
#include "mdmsim.h"


struct mdmsim_url {
    int                      tls;
    char                     host[256];
    char                     port[8];
    char                     authority[300];
    char                     path[1024];
    struct sockaddr_storage  addr;
    socklen_t                addr_len;
};

enum mdmsim_http_error {
    MDMSIM_HTTP_OK = 0,
    MDMSIM_HTTP_CONNECT,
    MDMSIM_HTTP_TLS,
    MDMSIM_HTTP_IO,
    MDMSIM_HTTP_TIMEOUT,
    MDMSIM_HTTP_PROTOCOL,
    MDMSIM_HTTP_NERRORS
};

struct mdmsim_response {
    int                      status;
    const char              *body;
    size_t                   body_len;
    int                      close;
};

struct mdmsim_conn;

typedef void (*mdmsim_conn_done_pt)(struct mdmsim_conn *c,
    enum mdmsim_http_error error, const struct mdmsim_response *resp);

struct mdmsim_request {
    const struct mdmsim_url     *url;
    struct mdmsim_device        *identity;   /* TLS client cert, or NULL */
    struct mdmsim_device        *device;     /* whose TLS session resumes */
    const char                  *content_type;
    const char                  *signature;  /* Mdm-Signature, or NULL */
    const char                  *body;
    size_t                       body_len;
};

struct mdmsim_conn {
    ev_io                        io;
    ev_timer                     timer;
    struct ev_loop              *loop;
    SSL_CTX                     *ctx;
    SSL                         *ssl;
    int                          fd;
    int                          state;
    int                          connect_errno;
    int                          reused;
    int                          retried;
    const struct mdmsim_url     *url;
    struct mdmsim_device        *identity;
    struct mdmsim_device        *device;     /* NULL: the slot's session */
    SSL_SESSION                 *session;    /* resumable, no device */
    int                          resume;
    long                         handshakes;
    long                         resumed;
    mdm_buf_t                    out;        /* the request */
    size_t                       out_off;    /* written of out */
    mdm_buf_t                    in;         /* the response as read */
    mdm_buf_t                    chunked;    /* its decoded chunked body */
    double                       timeout;
    int                          verbose;
    mdmsim_conn_done_pt          done;
    void                        *data;
};


/* Parses http(s)://host[:port]/path and resolves host once, up front. */
int mdmsim_url_parse(const char *s, struct mdmsim_url *url);

/* The client TLS context: verify with ca_file unless insecure. */
SSL_CTX *mdmsim_tls_ctx(const char *ca_file, int insecure);

void mdmsim_conn_init(struct mdmsim_conn *c, struct ev_loop *loop,
    SSL_CTX *ctx, double timeout, mdmsim_conn_done_pt done, void *data);

/* Sends a PUT, reusing the open connection when target and identity match. */
void mdmsim_conn_put(struct mdmsim_conn *c, const struct mdmsim_request *req);

void mdmsim_conn_close(struct mdmsim_conn *c);

const char *mdmsim_http_error_name(enum mdmsim_http_error error);

#endif /* MDMSIM_HTTP_H */
