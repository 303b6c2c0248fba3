#ifndef AM_MOCK_H
#define AM_MOCK_H

/*
 * apns-mock: a local APNs (protocol.md §5) for tests and benchmarks.
 * One process, one libev loop, one thread; every connection is a
 * non-blocking TLS socket driving an nghttp2 server session.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ev.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#define AM_MAX_PAYLOAD     4096     /* APNs limit for MDM pushes */
#define AM_MAX_FIELD       256      /* longest header value we keep */
#define AM_MAX_TOKEN       200      /* hex digits; real tokens have 64 */
#define AM_MAX_REASON      64
#define AM_MAX_COLLAPSE_ID 64
#define AM_UUID_LEN        36
#define AM_STATUS_MAX      600
#define AM_TOPIC_PREFIX    "com.apple.mgmt."
#define AM_DEFAULT_STREAMS 1000


typedef struct {
    const char     *listen_addr;    /* IPv4 literal */
    int             port;
    const char     *cert;
    const char     *key;
    const char     *ca;
    const char     *script_file;
    const char     *log_file;
    unsigned long   fail_every;
    unsigned long   burst_after;
    unsigned long   burst_len;
    unsigned long   goaway_after;
    int             goaway_at_start;    /* --goaway-at-start given */
    uint32_t        goaway_start_code;  /* its HTTP/2 error code */
    const char     *goaway_start_reason;
    uint32_t        max_streams;
    int             quiet;
} am_config_t;


typedef struct {
    unsigned long   connections;
    unsigned long   handshake_failures;
    unsigned long   requests;
    unsigned long   goaways;
    unsigned long   status[AM_STATUS_MAX];
} am_stats_t;


/* Request headers we look at; each is kept once per stream. */
enum {
    AM_H_METHOD,
    AM_H_PATH,
    AM_H_TOPIC,
    AM_H_PUSH_TYPE,
    AM_H_PRIORITY,
    AM_H_EXPIRATION,
    AM_H_ID,
    AM_H_COLLAPSE_ID,
    AM_H_COUNT
};


typedef struct {
    uint16_t        len;
    uint8_t         count;          /* >1 means a duplicated header */
    uint8_t         truncated;
    char            v[AM_MAX_FIELD + 1];
} am_field_t;


/*
 * Streams are recycled through a per-connection free list, so that a
 * steady flood of pushes costs no allocation of ours.
 */
typedef struct am_stream_s am_stream_t;

struct am_stream_s {
    am_stream_t    *next_free;
    am_stream_t    *next_all;       /* owner list: freed with the conn */
    int32_t         id;
    int             answered;
    am_field_t      hdr[AM_H_COUNT];
    size_t          body_len;
    int             body_overflow;
    char            body[AM_MAX_PAYLOAD];
    char            apns_id[AM_UUID_LEN + 1];
    size_t          resp_len;
    size_t          resp_sent;
    char            resp[128];      /* {"reason":…,"timestamp":…} */
};


typedef struct am_server_s am_server_t;
typedef struct am_conn_s   am_conn_t;
typedef struct am_script_s am_script_t;


struct am_server_s {
    am_config_t     cfg;
    am_stats_t      stats;
    struct ev_loop *loop;
    SSL_CTX        *ssl_ctx;
    am_script_t    *script;
    FILE           *log;
    int             listen_fd;
    ev_io           accept_w;
    ev_signal       term_w;
    ev_signal       int_w;
    ev_signal       usr1_w;
    am_conn_t      *conns;
    nghttp2_session_callbacks *h2_callbacks;
    nghttp2_option *h2_option;
    char            uuid_prefix[25];
    uint64_t        uuid_seq;
};


/* The outcome of one push: what the mock answers. */
typedef struct {
    int             status;
    const char     *reason;         /* NULL for 200 */
} am_answer_t;


/* tls.c */
SSL_CTX *am_tls_ctx_new(const am_config_t *cfg);
/* Copies the client certificate's subject UID into topic; 0 if absent. */
int am_tls_peer_topic(SSL *ssl, char *topic, size_t size);
int am_tls_peer_serial(SSL *ssl, char *hex, size_t size);

/* conn.c */
int am_conn_init(am_server_t *srv);
void am_conn_accept_cb(struct ev_loop *loop, ev_io *w, int revents);
/* Closes every connection and frees what am_conn_init made. */
void am_conn_shutdown(am_server_t *srv);

/* apns.c */
void am_apns_stream_reset(am_stream_t *s, int32_t id);
void am_apns_header(am_stream_t *s, const uint8_t *name, size_t namelen,
    const uint8_t *value, size_t valuelen);
void am_apns_body(am_stream_t *s, const uint8_t *data, size_t len);
am_answer_t am_apns_answer(am_server_t *srv, const char *topic,
    int topic_ok, am_stream_t *s);
void am_apns_log(am_server_t *srv, const char *topic, const am_stream_t *s,
    am_answer_t ans);

/* payload.c */
/* Is body a JSON object whose top-level "mdm" member is a string? */
int am_payload_is_mdm(const char *body, size_t len);

/* script.c */
am_script_t *am_script_load(const char *path);
/* Scripted answer for a hex token (any case), consuming one use. */
int am_script_take(am_script_t *sc, const char *token, size_t len,
    am_answer_t *ans);
void am_script_free(am_script_t *sc);

#endif
