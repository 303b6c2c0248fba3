/*
 * A call's life: session (memory, else Redis, else /session) → the request
 * → on 401/403 FORBIDDEN once: a new /session and the request again. The
 * session is sealed in Redis like the tokens: it is a bearer secret.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dep/mdm_dep_oauth.h"
#include "dep_client.h"
#include "log.h"
#include "mdm_keys.h"
#include "metrics.h"

#define SESSION_MAX   1024
#define BODY_MAX      (64 * 1024 * 1024)   /* a page of 1000 devices: ~1 MiB */

typedef struct wk_dep_call_s wk_dep_call_t;

struct wk_dep_client_s {
    const wk_config_t      *cf;
    wk_redis_t             *redis;
    wk_http_t              *http;
    const wk_dep_token_t   *t;
    const unsigned char    *seal_key;
    char                    session[SESSION_MAX];
    char                    key[MDM_KEY_MAX];
    char                    context[WK_DEP_NAME_MAX + 32];
    wk_dep_call_t          *calls;
};

struct wk_dep_call_s {
    wk_dep_client_t  *c;
    char              method[8];
    char             *path;
    char             *body;
    int               retried;       /* the session was renewed once */
    wk_dep_reply_cb   cb;
    void             *data;
    wk_dep_call_t    *next;
};

static void send_call(wk_dep_call_t *k);
static void open_session(wk_dep_call_t *k);


static void
call_free(wk_dep_call_t *k)
{
    wk_dep_call_t **p = &k->c->calls;
    while (*p && *p != k) {
        p = &(*p)->next;
    }
    if (*p) {
        *p = k->next;
    }
    free(k->path);
    free(k->body);
    free(k);
}


static void
finish(wk_dep_call_t *k, const wk_dep_reply_t *r)
{
    wk_dep_reply_cb cb = k->cb;
    void *data = k->data;
    call_free(k);
    cb(data, r);
}


static void
fail(wk_dep_call_t *k, long status, int stop, const char *error)
{
    wk_dep_reply_t r = { .status = status, .body = "", .stop = stop,
                         .error = error };
    finish(k, &r);
}


/* Apple's error bodies: the code bare, quoted (depsim) or as JSON
 * {"code": ...} (Fleet's mock); matched by substring as peers do. */
static int
body_has(const wk_http_reply_t *r, const char *code)
{
    size_t n = strlen(code);
    for (size_t i = 0; r->body && r->len >= n && i <= r->len - n; i++) {
        if (memcmp(r->body + i, code, n) == 0) {
            return 1;
        }
    }
    return 0;
}


static void
on_stored(wk_redis_t *link, redisReply *r, void *data)
{
    (void) link;
    (void) data;
    if (r && r->type == REDIS_REPLY_ERROR) {
        wk_redis_error("SET dep session: %s", r->str);
    }
}


static void
keep_session(wk_dep_client_t *c, const char *s, size_t len)
{
    if (len == 0 || len >= sizeof(c->session)) {
        return;
    }
    memcpy(c->session, s, len);
    c->session[len] = '\0';
    char *sealed = mdm_dep_seal(c->seal_key, c->context, s, len);
    if (sealed == NULL) {
        return;
    }
    wk_redis_cmd(c->redis, on_stored, NULL, "SET %s %s", c->key, sealed);
    free(sealed);
}


static double
retry_after(const wk_http_reply_t *r)
{
    return r->retry_after > 0 && r->retry_after < 86400
           ? (double) r->retry_after : 0;
}


static void
on_response(void *data, const wk_http_reply_t *r)
{
    wk_dep_call_t *k = data;
    wk_dep_client_t *c = k->c;
    size_t n;

    wk_metric_add(WK_M_DEP_CALLS, 1);
    const char *rot = wk_http_reply_header(r, "X-ADM-Auth-Session", &n);
    if (rot && n && (n != strlen(c->session) || memcmp(rot, c->session, n))) {
        wk_debug("dep %s: the session was rotated", c->t->name);
        keep_session(c, rot, n);
    }
    if ((r->status == 401
         || (r->status == 403 && body_has(r, "FORBIDDEN")))
        && !k->retried)
    {
        wk_info("dep %s: %s %s: %ld, a new session", c->t->name, k->method,
                k->path, r->status);
        k->retried = 1;
        c->session[0] = '\0';
        open_session(k);
        return;
    }
    int stop = r->status == 403 && (body_has(r, "T_C_NOT_SIGNED")
                                    || body_has(r, "ACCESS_DENIED"));
    wk_dep_reply_t out = {
        .status = r->status, .body = r->body ? r->body : "",
        .body_len = r->len, .retry_after = retry_after(r), .stop = stop,
        .error = r->truncated ? "the response is too large"
                 : r->status ? (stop ? (body_has(r, "T_C_NOT_SIGNED")
                                      ? "T_C_NOT_SIGNED" : "ACCESS_DENIED")
                                   : "")
                           : r->error,
    };
    finish(k, &out);
}


static void
send_call(wk_dep_call_t *k)
{
    wk_dep_client_t *c = k->c;
    char url[WK_CONFIG_STR_MAX + 256], sess[SESSION_MAX + 32], ver[64];

    snprintf(url, sizeof(url), "%s%s", c->cf->dep_url, k->path);
    snprintf(sess, sizeof(sess), "X-ADM-Auth-Session: %s", c->session);
    snprintf(ver, sizeof(ver), "X-Server-Protocol-Version: %ld",
             c->cf->dep_protocol_version);
    const char *headers[] = { sess, ver,
        "Content-Type: application/json;charset=UTF8", NULL };
    if (wk_http_request(c->http, url, k->body, k->body ? strlen(k->body) : 0,
                        headers, c->cf->dep_ca, c->cf->dep_timeout_ms,
                        BODY_MAX, on_response, k) != 0)
    {
        fail(k, 0, 0, "the HTTP request could not start");
    }
}


static void
on_session(void *data, const wk_http_reply_t *r)
{
    wk_dep_call_t *k = data;
    wk_dep_client_t *c = k->c;

    wk_metric_add(WK_M_DEP_CALLS, 1);
    if (r->status != 200) {
        int stop = r->status == 401 || r->status == 403;
        wk_dep_reply_t out = {
            .status = r->status, .body = r->body ? r->body : "",
            .body_len = r->len, .retry_after = retry_after(r), .stop = stop,
            .error = r->status == 0 ? r->error
                     : body_has(r, "T_C_NOT_SIGNED") ? "T_C_NOT_SIGNED"
                     : body_has(r, "ACCESS_DENIED") ? "ACCESS_DENIED"
                     : stop ? "the OAuth tokens were refused (expired or "
                              "revoked?)" : "GET /session failed",
        };
        finish(k, &out);
        return;
    }
    /* {"auth_session_token":"..."}: a flat object, read without a
     * second JSON parser pass over the body */
    const char *p = r->body ? strstr(r->body, "\"auth_session_token\"") : NULL;
    const char *v = p ? strchr(p + 20, '"') : NULL;
    const char *e = v ? strchr(v + 1, '"') : NULL;
    if (e == NULL || e == v + 1) {
        fail(k, 200, 0, "GET /session: no auth_session_token");
        return;
    }
    wk_metric_add(WK_M_DEP_SESSIONS, 1);
    wk_info("dep %s: new session", c->t->name);
    keep_session(c, v + 1, (size_t) (e - v - 1));
    send_call(k);
}


static void
open_session(wk_dep_call_t *k)
{
    wk_dep_client_t *c = k->c;
    char url[WK_CONFIG_STR_MAX + 16], auth[2048], hdr[2100];
    mdm_dep_oauth_creds_t cr = {
        c->t->tok.consumer_key, c->t->tok.consumer_secret,
        c->t->tok.access_token, c->t->tok.access_secret,
    };

    snprintf(url, sizeof(url), "%s/session", c->cf->dep_url);
    if (mdm_dep_oauth_header(&cr, "GET", url, (int64_t) time(NULL), auth,
                             sizeof(auth)) != 0)
    {
        fail(k, 0, 1, "cannot sign GET /session");
        return;
    }
    snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
    /* depsim wants the JSON Content-Type on /session too (services.md 5.8) */
    const char *headers[] = { hdr,
        "Content-Type: application/json;charset=UTF8", NULL };
    if (wk_http_request(c->http, url, NULL, 0, headers, c->cf->dep_ca,
                        c->cf->dep_timeout_ms, 64 * 1024, on_session, k) != 0)
    {
        fail(k, 0, 0, "the HTTP request could not start");
    }
}


static void
on_session_loaded(wk_redis_t *link, redisReply *r, void *data)
{
    wk_dep_call_t *k = data;
    wk_dep_client_t *c = k->c;
    (void) link;

    if (r && r->type == REDIS_REPLY_STRING) {
        size_t n = 0;
        unsigned char *s = mdm_dep_unseal(c->seal_key, c->context, r->str,
                                          r->len, &n);
        if (s && n > 0 && n < sizeof(c->session)) {
            memcpy(c->session, s, n + 1);
        } else {
            wk_warn("dep %s: the stored session does not open (another "
                    "dep_seal_key?), a new one", c->t->name);
        }
        free(s);
    }
    if (c->session[0]) {
        send_call(k);
    } else {
        open_session(k);
    }
}


int
wk_dep_call(wk_dep_client_t *c, const char *method, const char *path,
            const char *body, wk_dep_reply_cb cb, void *data)
{
    wk_dep_call_t *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        return -1;
    }
    k->c = c;
    snprintf(k->method, sizeof(k->method), "%s", method);
    k->path = strdup(path);
    k->body = body ? strdup(body) : NULL;
    k->cb = cb;
    k->data = data;
    if (k->path == NULL || (body && k->body == NULL)) {
        free(k->path);
        free(k->body);
        free(k);
        return -1;
    }
    k->next = c->calls;
    c->calls = k;
    if (c->session[0]) {
        send_call(k);
        return 0;
    }
    if (wk_redis_cmd(c->redis, on_session_loaded, k, "GET %s", c->key) != 0) {
        open_session(k);
    }
    return 0;
}


wk_dep_client_t *
wk_dep_client_new(const wk_config_t *cf, wk_redis_t *redis, wk_http_t *http,
                  const wk_dep_token_t *t, const unsigned char *seal_key)
{
    wk_dep_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->cf = cf;
    c->redis = redis;
    c->http = http;
    c->t = t;
    c->seal_key = seal_key;
    mdm_key(c->key, MDM_K_DEP_SESSION, t->name, NULL);
    snprintf(c->context, sizeof(c->context), "dep-session:%s", t->name);
    return c;
}


void
wk_dep_client_free(wk_dep_client_t *c)
{
    if (c == NULL) {
        return;
    }
    /* The owner closed Redis and freed the HTTP client first: no callback
     * of these calls can come any more. */
    while (c->calls) {
        call_free(c->calls);
    }
    free(c);
}
