/*
 * APNs client (apns.h), its topic layer (apns_conn.h): one queue and one
 * push certificate per topic, a connection opened (apns_conn.c) when the
 * queue has requests, reopened after a backoff when it fails, and what an
 * answer means (protocol.md §5).
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "apns_conn.h"
#include "backoff.h"
#include "log.h"
#include "mdm_keys.h"


/* ---- the queue of a topic ---- */

void
wk_apns_req_complete(wk_apns_t *a, wk_apns_req_t *req, wk_apns_outcome_t out)
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


void
wk_apns_topic_requeue(wk_apns_topic_t *t, wk_apns_req_t *req)
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


wk_apns_req_t *
wk_apns_topic_next(wk_apns_topic_t *t)
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
    while ((req = wk_apns_topic_next(t)) != NULL) {
        wk_apns_req_complete(t->apns, req, out);
    }
}


/* ---- what an answer means (protocol.md §5) ---- */

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


/*
 * A 403 (an answer, or a GOAWAY with a 403 reason) stops the topic, unless
 * it came over a connection made with a certificate that has been replaced
 * since: then the new one gets a chance. 1 if the topic is stopped.
 */
int
wk_apns_topic_stop(wk_apns_topic_t *t, unsigned gen, const char *what,
                   const char *reason)
{
    if (gen != t->gen) {
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
int
wk_apns_reason_forbidden(const char *reason)
{
    return strcmp(reason, "BadCertificate") == 0
           || strcmp(reason, "BadCertificateEnvironment") == 0
           || strcmp(reason, "Forbidden") == 0;
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

    return reason != NULL && wk_apns_reason_forbidden(out->reason);
}


/* ---- TLS contexts: one per push certificate ---- */

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
        wk_apns_conn_ssl_error(msg, sizeof(msg));
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
        wk_apns_conn_ssl_error(err, errlen);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set1_cert_store(ctx, store);
    if (ctx_use_pem(ctx, cert, cert_len, key, key_len) != 0) {
        char ssl_err[160];
        wk_apns_conn_ssl_error(ssl_err, sizeof(ssl_err));
        snprintf(err, errlen, "push certificate or key: %s", ssl_err);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    return ctx;
}


/* ---- topics and push certificates ---- */

void
wk_apns_topic_backoff(wk_apns_topic_t *t)
{
    const wk_config_t *cf = t->apns->cf;
    double delay = wk_backoff(cf->backoff_base_ms, cf->backoff_max_ms,
                              ++t->failures);

    ev_timer_set(&t->backoff, delay, 0.);
    ev_timer_start(t->apns->loop, &t->backoff);
}


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


/* Applies a pushcert hash; 0 if the topic has a usable SSL_CTX after it. */
static int
topic_apply_cert(wk_apns_topic_t *t, const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        wk_redis_error("apns %s: cannot read the push certificate: %s", t->name,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "no Redis");
        return t->ctx ? 0 : -1;
    }
    const redisReply *cert = wk_reply_field(r, "cert");
    const redisReply *key = wk_reply_field(r, "key");
    const redisReply *upd = wk_reply_field(r, "updated");
    const char *updated = upd ? upd->str : "";
    if (cert == NULL || key == NULL) {
        char pkey[MDM_KEY_MAX];
        mdm_key_pushcert(pkey, t->name);
        wk_error("apns %s: no push certificate in %s", t->name, pkey);
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
        wk_apns_conn_open(t);
    } else {
        wk_apns_topic_kick(t);
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
void
wk_apns_topic_kick(wk_apns_topic_t *t)
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
            wk_apns_conn_process(t->conn);
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
    wk_apns_topic_kick(w->data);
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


void
wk_apns_flush(wk_apns_t *a)
{
    for (wk_apns_topic_t *t = a->topics; t; t = t->next) {
        if (t->qhead) {
            wk_apns_topic_kick(t);
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
    a->callbacks = wk_apns_conn_callbacks_new();
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
        wk_apns_req_complete(a, req, WK_APNS_RETRY);
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
    a->closing = 1;
    while (a->conns) {
        wk_apns_conn_t *c = a->conns;
        c->failed = 0;
        wk_apns_conn_close(c);
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
