/*
 * libcurl's multi interface on libev: curl tells which sockets to watch
 * (socket callback) and when to call it back (timer callback); the
 * watchers call curl_multi_socket_action, and finished transfers are
 * collected after each call. wk_http_post discards the response body (a
 * webhook's answer is its status); wk_http_request keeps it (Apple's
 * services answer JSON).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http.h"
#include "log.h"
#include "mdm_version.h"

typedef struct wk_http_sock_s wk_http_sock_t;
typedef struct wk_http_req_s wk_http_req_t;

struct wk_http_sock_s {
    ev_io            io;
    wk_http_t       *http;
    curl_socket_t    fd;
    wk_http_sock_t  *next, *prev;
};

struct wk_http_req_s {
    CURL                *easy;
    struct curl_slist   *headers;
    wk_http_done_cb      done;
    wk_http_reply_cb     reply;      /* wk_http_request: instead of done */
    void                *data;
    char                *post;       /* wk_http_request's copy of the body */
    char                *body;       /* the reply body, when kept */
    size_t               body_len, max_body;
    int                  truncated;
    long                 retry_after;
    char                *hdrs;       /* the reply's header lines, kept */
    size_t               hdrs_len;
    char                 error[CURL_ERROR_SIZE];
    wk_http_req_t       *next, *prev;
};

struct wk_http_s {
    struct ev_loop  *loop;
    CURLM           *multi;
    ev_timer         timer;
    wk_http_req_t   *reqs;
    wk_http_sock_t  *socks;
    unsigned         active;
};

#define LINK(head, x)                                                        \
    do {                                                                     \
        (x)->prev = NULL;                                                    \
        (x)->next = (head);                                                  \
        if (head) (head)->prev = (x);                                        \
        (head) = (x);                                                        \
    } while (0)

#define UNLINK(head, x)                                                      \
    do {                                                                     \
        if ((x)->prev) (x)->prev->next = (x)->next; else (head) = (x)->next; \
        if ((x)->next) (x)->next->prev = (x)->prev;                          \
    } while (0)


static void
req_free(wk_http_t *h, wk_http_req_t *req)
{
    UNLINK(h->reqs, req);
    curl_multi_remove_handle(h->multi, req->easy);
    curl_easy_cleanup(req->easy);
    curl_slist_free_all(req->headers);
    free(req->post);
    free(req->body);
    free(req->hdrs);
    free(req);
    h->active--;
}


/* Finished transfers: each one's done runs after it is freed, so that a
 * callback may start a new request or free the client. */
static void
collect_done(wk_http_t *h)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        wk_http_req_t *req;
        long status = 0;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
        CURLcode rc = msg->data.result;
        if (rc == CURLE_OK) {
            curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
        }
        char error[CURL_ERROR_SIZE + 64];
        snprintf(error, sizeof(error), "%s",
                 rc == CURLE_OK ? ""
                 : req->error[0] ? req->error : curl_easy_strerror(rc));
        if (req->reply) {
            wk_http_reply_t out = {
                .status = status, .error = error,
                .body = req->body_len ? req->body : NULL,
                .len = req->body_len, .retry_after = req->retry_after,
                .truncated = req->truncated,
                .headers = req->hdrs ? req->hdrs : "",
                .headers_len = req->hdrs_len,
            };
            wk_http_reply_cb cb = req->reply;
            void *rdata = req->data;
            char *body = req->body, *hdrs = req->hdrs;

            /* body and headers outlive the request for the callback */
            req->body = req->hdrs = NULL;
            req_free(h, req);
            cb(rdata, &out);
            free(body);
            free(hdrs);
            continue;
        }
        wk_http_done_cb done = req->done;
        void *data = req->data;
        req_free(h, req);
        done(data, status, error);
    }
}


static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    wk_http_sock_t *s = (wk_http_sock_t *) w;
    wk_http_t *h = s->http;
    int running;
    (void) loop;

    int action = ((revents & EV_READ) ? CURL_CSELECT_IN : 0)
                 | ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(h->multi, s->fd, action, &running);
    collect_done(h);
}


static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_http_t *h = w->data;
    int running;
    (void) loop;
    (void) revents;

    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect_done(h);
}


static int
on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
               void *socketp)
{
    wk_http_t *h = userp;
    wk_http_sock_t *s = socketp;
    (void) easy;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            ev_io_stop(h->loop, &s->io);
            UNLINK(h->socks, s);
            free(s);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            return -1;
        }
        s->http = h;
        s->fd = fd;
        LINK(h->socks, s);
        curl_multi_assign(h->multi, fd, s);
    }
    int events = ((what & CURL_POLL_IN) ? EV_READ : 0)
                 | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    ev_io_stop(h->loop, &s->io);
    ev_io_init(&s->io, on_io, fd, events);
    ev_io_start(h->loop, &s->io);
    return 0;
}


/* curl asks to be called back after timeout_ms; -1 cancels. A 0 still goes
 * through the loop: curl must not be re-entered from its own callback. */
static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    wk_http_t *h = userp;
    (void) multi;

    ev_timer_stop(h->loop, &h->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&h->timer, timeout_ms / 1000.0, 0.);
        ev_timer_start(h->loop, &h->timer);
    }
    return 0;
}


static size_t
discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void) ptr;
    (void) userdata;
    return size * nmemb;
}


static size_t
keep_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    wk_http_req_t *req = userdata;
    size_t n = size * nmemb;

    if (req->truncated || req->body_len + n > req->max_body) {
        req->truncated = 1;          /* read on, keep nothing more */
        return n;
    }
    char *more = realloc(req->body, req->body_len + n + 1);
    if (more == NULL) {
        return 0;                    /* curl fails the transfer */
    }
    memcpy(more + req->body_len, ptr, n);
    req->body = more;
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return n;
}


/* Retry-After in seconds (the HTTP-date form is not used by Apple's
 * services and is taken as absent). */
static size_t
read_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    wk_http_req_t *req = userdata;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";

    /* every line is kept for wk_http_reply_header; each response (after a
     * 100 Continue or a redirect) starts them anew */
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        req->hdrs_len = 0;
    }
    if (req->hdrs_len + n <= 64 * 1024) {
        char *b = realloc(req->hdrs, req->hdrs_len + n + 1);
        if (b != NULL) {
            memcpy(b + req->hdrs_len, ptr, n);
            req->hdrs_len += n;
            b[req->hdrs_len] = '\0';
            req->hdrs = b;
        }
    }

    if (n > sizeof(name) - 1 && strncasecmp(ptr, name, sizeof(name) - 1) == 0) {
        char buf[32];
        size_t len = n - (sizeof(name) - 1);
        if (len >= sizeof(buf)) {
            len = sizeof(buf) - 1;
        }
        memcpy(buf, ptr + sizeof(name) - 1, len);
        buf[len] = '\0';
        char *end;
        long v = strtol(buf, &end, 10);
        while (*end == ' ' || *end == '\r' || *end == '\n') {
            end++;
        }
        req->retry_after = (*end == '\0' && end != buf && v >= 0) ? v : -1;
    }
    return n;
}


wk_http_t *
wk_http_new(struct ev_loop *loop)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        wk_alert("curl_global_init failed");
        return NULL;
    }
    wk_http_t *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->multi = curl_multi_init()) == NULL) {
        wk_alert("out of memory for the HTTP client");
        free(h);
        return NULL;
    }
    h->loop = loop;
    ev_timer_init(&h->timer, on_timer, 0., 0.);
    h->timer.data = h;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    return h;
}


static struct curl_slist *
build_headers(const char *const *lines)
{
    /* "Expect:" keeps curl from waiting for a 100 Continue on large bodies */
    struct curl_slist *list = curl_slist_append(NULL, "Expect:");

    for (size_t i = 0; list && lines && lines[i]; i++) {
        struct curl_slist *more = curl_slist_append(list, lines[i]);
        if (more == NULL) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = more;
    }
    return list;
}


int
wk_http_post(wk_http_t *h, const char *url, const char *body, size_t len,
             const char *const *headers, const char *ca_file,
             long timeout_ms, wk_http_done_cb done, void *data)
{
    wk_http_req_t *req = calloc(1, sizeof(*req));
    if (req == NULL) {
        return -1;
    }
    req->done = done;
    req->data = data;
    req->headers = build_headers(headers);
    req->easy = curl_easy_init();
    if (req->headers == NULL || req->easy == NULL) {
        curl_slist_free_all(req->headers);
        if (req->easy) {
            curl_easy_cleanup(req->easy);
        }
        free(req);
        return -1;
    }

    CURL *e = req->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "mdm-worker/" MDM_VERSION);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    if (ca_file && *ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
    }

    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(req->headers);
        free(req);
        return -1;
    }
    LINK(h->reqs, req);
    h->active++;
    return 0;
}


int
wk_http_request(wk_http_t *h, const char *url, const char *body, size_t len,
                const char *const *headers, const char *ca_file,
                long timeout_ms, size_t max_body, wk_http_reply_cb done,
                void *data)
{
    wk_http_req_t *req = calloc(1, sizeof(*req));
    if (req == NULL) {
        return -1;
    }
    req->reply = done;
    req->data = data;
    req->max_body = max_body;
    req->retry_after = -1;
    req->headers = build_headers(headers);
    req->easy = curl_easy_init();
    if (body && (req->post = malloc(len + 1)) != NULL) {
        memcpy(req->post, body, len);
    }
    if (req->headers == NULL || req->easy == NULL || (body && !req->post)) {
        curl_slist_free_all(req->headers);
        if (req->easy) {
            curl_easy_cleanup(req->easy);
        }
        free(req->post);
        free(req);
        return -1;
    }

    CURL *e = req->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->post);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "mdm-worker/" MDM_VERSION);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, read_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    if (ca_file && *ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
    }

    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(req->headers);
        free(req->post);
        free(req);
        return -1;
    }
    LINK(h->reqs, req);
    h->active++;
    return 0;
}


const char *
wk_http_reply_header(const wk_http_reply_t *r, const char *name, size_t *len)
{
    size_t n = strlen(name);
    const char *p = r->headers, *end = r->headers + r->headers_len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t) (end - p));
        if (eol == NULL) {
            eol = end;
        }
        if ((size_t) (eol - p) > n && p[n] == ':'
            && strncasecmp(p, name, n) == 0)
        {
            const char *v = p + n + 1, *e = eol;
            while (v < e && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (e > v && (e[-1] == '\r' || e[-1] == ' ')) {
                e--;
            }
            *len = (size_t) (e - v);
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}


unsigned
wk_http_active(const wk_http_t *h)
{
    return h->active;
}


void
wk_http_free(wk_http_t *h)
{
    if (h == NULL) {
        return;
    }
    while (h->reqs) {
        req_free(h, h->reqs);
    }
    curl_multi_cleanup(h->multi);
    while (h->socks) {
        wk_http_sock_t *s = h->socks;
        ev_io_stop(h->loop, &s->io);
        UNLINK(h->socks, s);
        free(s);
    }
    ev_timer_stop(h->loop, &h->timer);
    free(h);
    curl_global_cleanup();
}
