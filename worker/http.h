#ifndef WK_HTTP_H
#define WK_HTTP_H

/*
 * Non-blocking HTTP requests on the libev loop: libcurl's multi interface with
 * its sockets and timer driven by ev_io/ev_timer watchers. One client keeps
 * its connections alive and shares them between requests to the same host.
 */

#include <stddef.h>

#include <ev.h>

typedef struct wk_http_s wk_http_t;

/* status: the HTTP status, 0 when there was no response (error says why). */
typedef void (*wk_http_done_cb)(void *data, long status, const char *error);

/* NULL on failure (logged). */
wk_http_t *wk_http_new(struct ev_loop *loop);

/*
 * POSTs body (not copied: it must live until done runs) with the given
 * header lines; an https server is verified against ca_file (NULL or "":
 * the system CAs) and the URL's host. done runs exactly once, from the
 * loop, never from inside this call. -1 if the request could not start.
 */
int wk_http_post(wk_http_t *h, const char *url, const char *body, size_t len,
                 const char *const *headers, const char *ca_file,
                 long timeout_ms, wk_http_done_cb done, void *data);

/*
 * What wk_http_request hands its callback: the status (0: no response,
 * error says why), the body (NUL-terminated, NULL when empty or over
 * max_body) and Retry-After in seconds (-1 when absent or not a number).
 */
typedef struct {
    long         status;
    const char  *error;
    const char  *body;
    size_t       len;
    long         retry_after;
    int          truncated;          /* the body was over max_body */
    const char  *headers;            /* "Name: value\r\n" lines, as sent */
    size_t       headers_len;
} wk_http_reply_t;

typedef void (*wk_http_reply_cb)(void *data, const wk_http_reply_t *reply);

/*
 * A GET (body NULL) or POST (body copied) whose reply body is kept, up to
 * max_body bytes. The same rules as wk_http_post otherwise.
 */
int wk_http_request(wk_http_t *h, const char *url, const char *body,
                    size_t len, const char *const *headers,
                    const char *ca_file, long timeout_ms, size_t max_body,
                    wk_http_reply_cb done, void *data);

/* The value of header `name` (case-insensitive) of a reply, trimmed, its
 * length in *len; NULL when absent (X-ADM-Auth-Session, for instance). */
const char *wk_http_reply_header(const wk_http_reply_t *r, const char *name,
                                 size_t *len);

/* Requests in flight. */
unsigned wk_http_active(const wk_http_t *h);

/* Aborts whatever is in flight without calling done, and frees h. */
void wk_http_free(wk_http_t *h);

#endif
