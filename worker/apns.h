#ifndef WK_APNS_H
#define WK_APNS_H

/*
 * APNs client: one HTTP/2 connection (nghttp2 over non-blocking OpenSSL) per
 * push topic, authenticated with that topic's push certificate from Redis
 * (`mdm:pushcert:<topic>`). Requests beyond the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS wait in the topic's queue. A connection
 * that fails is reopened with backoff; requests refused by a GOAWAY are
 * resent on the next connection (the third refusal of one request ends its
 * attempt as WK_APNS_RETRY); requests lost with a connection
 * complete as WK_APNS_RETRY for the caller to back off.
 */

#include <stdint.h>

#include <ev.h>

#include "config.h"
#include "redis.h"

typedef enum {
    WK_APNS_OK = 0,
    WK_APNS_RETRY,        /* 429, 5xx, transport: try again later */
    WK_APNS_DEAD_TOKEN,   /* 410, BadDeviceToken, DeviceTokenNotForTopic */
    WK_APNS_REJECTED,     /* any other error: not retried as is */
    WK_APNS_FORBIDDEN     /* 403: the topic is stopped until a reload */
} wk_apns_outcome_t;

#define WK_APNS_PATH_MAX   (sizeof("/3/device/") + 2 * 256)
#define WK_APNS_BODY_MAX   1024
#define WK_APNS_TOPIC_MAX  256

typedef struct wk_apns_req_s wk_apns_req_t;
typedef struct wk_apns_s wk_apns_t;

typedef void (*wk_apns_done_cb)(wk_apns_req_t *req, wk_apns_outcome_t out,
                                void *data);

/* One push; the caller owns it and embeds it in its own job struct. */
struct wk_apns_req_s {
    char            topic[WK_APNS_TOPIC_MAX];
    char            path[WK_APNS_PATH_MAX];
    char            body[WK_APNS_BODY_MAX];
    size_t          body_len;

    /* Filled by the client. */
    int             status;           /* HTTP status, 0 if none */
    char            apns_id[40];
    char            reason[64];       /* from the JSON error body */
    long long       timestamp;        /* ms, from a 410 body */

    /* Private to the client. */
    size_t          body_sent;
    unsigned        refusals;         /* REFUSED_STREAMs of this attempt */
    double          submitted;        /* ev_now() when put on a stream */
    int32_t         stream_id;
    char            resp[256];        /* error body, truncated */
    size_t          resp_len;
    void           *conn;
    wk_apns_req_t  *next, *prev;
};

/* Creates the client; done runs exactly once per wk_apns_send(). */
wk_apns_t *wk_apns_new(struct ev_loop *loop, const wk_config_t *cf,
                       wk_redis_t *redis, wk_apns_done_cb done, void *data);

/* Queues a request on its topic's connection, connecting if needed. */
void wk_apns_send(wk_apns_t *a, wk_apns_req_t *req);

/* Before sleep: moves every queued request toward the wire; the frames
 * of one loop turn leave in one TLS write per connection. */
void wk_apns_flush(wk_apns_t *a);

/* Reloads every topic's push certificate; stopped (403) topics resume. */
void wk_apns_reload(wk_apns_t *a);

/* An answered request's outcome from its status and the JSON error body in
 * resp (sets reason and timestamp); the fuzz target's entry point. */
wk_apns_outcome_t wk_apns_reply_outcome(wk_apns_req_t *req);

/* What a GOAWAY's debug data says (APNs: the JSON of an error response). */
typedef struct {
    char            reason[64];       /* "" when there is none */
    char            debug[256];       /* the data, printable ASCII, cut */
} wk_apns_goaway_t;

/* Fills out from the debug data; 1 when its reason stops the topic (a 403
 * reason), else 0. The fuzz target's entry point. */
int wk_apns_goaway_parse(const uint8_t *data, size_t len,
                         wk_apns_goaway_t *out);

/* Number of requests queued or on the wire. */
size_t wk_apns_pending(const wk_apns_t *a);

/* Closes every connection: queued requests complete as WK_APNS_RETRY. */
void wk_apns_free(wk_apns_t *a);

#endif
