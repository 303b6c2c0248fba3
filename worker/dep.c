/*
 * One syncer per token, a small state machine on the loop:
 *
 *   tick → lease (dep_lease.lua take) → cursor (HMGET) → one page (fetch
 *   or sync) → dep_page.lua (devices + cursor, compare-and-set on the
 *   cursor sent) → serial links + event → next page at once while Apple
 *   says more_to_follow and the cursor advanced, else the next tick after
 *   dep_interval_ms.
 *
 * Apple's answers: EXHAUSTED_CURSOR ends the fetch (sync goes on from the
 * same cursor); EXPIRED_CURSOR and INVALID_CURSOR start a new fetch; a 429,
 * a 5xx or no answer backs off (Retry-After when given); T_C_NOT_SIGNED,
 * ACCESS_DENIED and refused OAuth tokens stop the token with an alert until
 * an operator acts (a restart with a new token).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "backoff.h"
#include "dep.h"
#include "dep_client.h"
#include "dep_token.h"
#include "http.h"
#include "log.h"
#include "mdm_event.h"
#include "mdm_keys.h"
#include "mdm_script.h"
#include "metrics.h"

typedef struct {
    const mdm_script_t  *script;
    char                 sha[MDM_SHA1_HEX_LEN + 1];
} dep_script_t;

typedef struct dep_sync_s dep_sync_t;

struct dep_sync_s {
    wk_deps_t        *d;
    wk_dep_token_t    t;
    int               force;          /* another consumer key is accepted */
    wk_dep_client_t  *client;
    char              k_token[MDM_KEY_MAX], k_lease[MDM_KEY_MAX];
    char              k_cursor[MDM_KEY_MAX], k_devices[MDM_KEY_MAX];
    ev_timer          timer;
    int               started;        /* token stored, ticking */
    int               busy;           /* a round is in flight */
    int               stopped;        /* needs an operator */
    unsigned          failures;
    char             *cursor;         /* sent with the page in flight */
    int               fetch;          /* phase: 1 fetch, 0 sync */
    int               fetch_logged;   /* this fetch's start was logged */
};

struct wk_deps_s {
    struct ev_loop     *loop;
    const wk_config_t  *cf;
    wk_redis_t         *redis;
    wk_http_t          *http;
    unsigned char       seal_key[MDM_DEP_SEAL_KEY_LEN];
    dep_script_t        lease, page;
    int                 stopping;
    int                 n;
    dep_sync_t          syncs[WK_DEP_TOKENS_MAX];
};

static void tick(dep_sync_t *s);
static void request_page(dep_sync_t *s);


static void
schedule(dep_sync_t *s, double after)
{
    if (s->d->stopping || s->stopped) {
        return;
    }
    ev_timer_stop(s->d->loop, &s->timer);
    ev_timer_set(&s->timer, after, 0.);
    ev_timer_start(s->d->loop, &s->timer);
}


static void
round_end(dep_sync_t *s, double after)
{
    s->busy = 0;
    schedule(s, after);
}


static void
backoff(dep_sync_t *s, double retry_after, const char *why)
{
    double delay = wk_backoff(s->d->cf->dep_backoff_base_ms,
                              s->d->cf->dep_backoff_max_ms, ++s->failures);
    if (retry_after > delay) {
        delay = retry_after;
    }
    wk_metric_add(WK_M_DEP_RETRIES, 1);
    wk_warn("dep %s: %s; again in %.1f s", s->t.name, why, delay);
    round_end(s, delay);
}


static void
on_reply_logged(wk_redis_t *link, redisReply *r, void *data)
{
    (void) link;
    if (r && r->type == REDIS_REPLY_ERROR) {
        wk_redis_error("dep %s: %s", (const char *) data, r->str);
    }
}


static int
evalsha(wk_deps_t *d, dep_script_t *sc, wk_redis_cb cb, void *data,
        int nkeys, int argc, const char **argv, size_t *lens)
{
    char nk[8];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = sc->sha;
    argv[2] = nk;
    for (int i = 0; i < 3; i++) {
        lens[i] = strlen(argv[i]);
    }
    return wk_redis_cmdargv(d->redis, cb, data, argc, argv, lens);
}


/* --- the end of a page: links and event ------------------------------------ */

/* serial -> DEP record, one key (one slot) per command */
static void
write_links(dep_sync_t *s, json_t *devices)
{
    char key[MDM_KEY_MAX], now[24];
    size_t i;
    json_t *dev;

    snprintf(now, sizeof(now), "%lld", (long long) time(NULL));
    json_array_foreach(devices, i, dev) {
        const char *serial = json_string_value(json_object_get(dev, "serial_number"));
        const char *op = json_string_value(json_object_get(dev, "op_type"));
        if (serial == NULL || mdm_key(key, MDM_K_DEP_SERIAL, serial, NULL) == 0) {
            continue;
        }
        if (op && strcmp(op, "deleted") == 0) {
            wk_redis_cmd(s->d->redis, on_reply_logged, s->t.name, "DEL %s", key);
            continue;
        }
        const char *f[] = { "profile_uuid", "profile_status", "model", "os" };
        const char *argv[16] = { "HSET", key, "dep_name", s->t.name,
                                 "updated", now };
        size_t lens[16];
        int argc = 6;
        for (size_t k = 0; k < 4; k++) {
            const char *v = json_string_value(json_object_get(dev, f[k]));
            argv[argc++] = f[k];
            argv[argc++] = v ? v : "";
        }
        for (int k = 0; k < argc; k++) {
            lens[k] = strlen(argv[k]);
        }
        wk_redis_cmdargv(s->d->redis, on_reply_logged, s->t.name, argc, argv,
                         lens);
    }
}


static void
add_event(dep_sync_t *s, size_t n, int more)
{
    char params[160], maxlen[24];
    struct timeval tv;
    mdm_buf_t buf;

    gettimeofday(&tv, NULL);
    snprintf(params, sizeof(params), "dep_name=%s&devices=%zu&more_to_follow=%d",
             s->t.name, n, more);
    snprintf(maxlen, sizeof(maxlen), "%ld", s->d->cf->events_maxlen);
    mdm_event_t ev = {
        .topic = s->fetch ? "dep.FetchDevices" : "dep.SyncDevices",
        .id = s->t.name,
        .params = params,
        .ts_ms = (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000,
    };
    if (mdm_event_encode(&ev, NULL, &buf) != 0) {
        return;
    }
    const char *argv[] = { "XADD", MDM_KEY_EVENTS, "MAXLEN", "~", maxlen, "*",
                           "m", buf.data };
    const size_t lens[] = { 4, strlen(MDM_KEY_EVENTS), 6, 1, strlen(maxlen),
                            1, 1, buf.len };
    wk_redis_cmdargv(s->d->redis, on_reply_logged, s->t.name, 8, argv, lens);
    mdm_buf_free(&buf);
}


/* --- one page ---------------------------------------------------------------- */

typedef struct {
    dep_sync_t  *s;
    json_t      *root;
    char        *next;        /* the cursor received */
    int          more;
    size_t       n;
} dep_page_t;


static void
page_free(dep_page_t *p)
{
    json_decref(p->root);
    free(p->next);
    free(p);
}


static void
on_page_stored(wk_redis_t *link, redisReply *r, void *data)
{
    dep_page_t *p = data;
    dep_sync_t *s = p->s;
    (void) link;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 4) {
        if (r && r->type == REDIS_REPLY_ERROR) {
            wk_redis_error("dep %s: dep_page.lua: %s", s->t.name, r->str);
        }
        page_free(p);
        backoff(s, 0, "the page could not be stored in Redis");
        return;
    }
    if (wk_reply_int(r, 0) == 0) {
        wk_warn("dep %s: the stored cursor moved under us (another worker "
                "took over?): page dropped", s->t.name);
        page_free(p);
        round_end(s, s->d->cf->dep_interval_ms / 1000.0);
        return;
    }
    s->failures = 0;
    wk_metric_add(WK_M_DEP_PAGES, 1);
    wk_metric_add(WK_M_DEP_DEVICES, p->n);
    wk_info("dep %s: %s page of %zu devices stored (%lld older skipped, "
            "%lld devices), more_to_follow %s", s->t.name,
            s->fetch ? "fetch" : "sync", p->n, wk_reply_int(r, 2),
            wk_reply_int(r, 3), p->more ? "true" : "false");
    write_links(s, json_object_get(p->root, "devices"));
    add_event(s, p->n, p->more);

    int advanced = strcmp(p->next, s->cursor ? s->cursor : "") != 0;
    int was_fetch = s->fetch;
    free(s->cursor);
    s->cursor = p->next;
    p->next = NULL;
    if (was_fetch && !p->more) {
        s->fetch = 0;
        s->fetch_logged = 0;
        wk_info("dep %s: fetch complete, syncing from now on", s->t.name);
    }
    if (p->more && !advanced) {
        /* Apple's echo (micromdm/nanodep#73): the same cursor with
         * more_to_follow; asking again would spin */
        wk_warn("dep %s: the cursor did not advance although "
                "more_to_follow is true; next sync in %ld ms", s->t.name,
                s->d->cf->dep_interval_ms);
        page_free(p);
        round_end(s, s->d->cf->dep_interval_ms / 1000.0);
        return;
    }
    int more = p->more;
    page_free(p);
    if (more && !s->d->stopping) {
        tick(s);                    /* the lease is extended on the way */
        return;
    }
    round_end(s, s->d->cf->dep_interval_ms / 1000.0);
}


static void
store_page(dep_sync_t *s, dep_page_t *p)
{
    json_t *devices = json_object_get(p->root, "devices");
    size_t n = json_array_size(devices), i;
    int argc = 0;
    const char **argv = calloc(9 + 4 * n, sizeof(char *));
    size_t *lens = calloc(9 + 4 * n, sizeof(size_t));
    char **dumps = calloc(n + 1, sizeof(char *));
    char now[24];
    json_t *dev;

    if (argv == NULL || lens == NULL || dumps == NULL) {
        free(argv);
        free(lens);
        free(dumps);
        page_free(p);
        backoff(s, 0, "no memory for a page");
        return;
    }
    snprintf(now, sizeof(now), "%lld", (long long) time(NULL));
    argv[3] = s->k_cursor;
    argv[4] = s->k_devices;
    argv[5] = s->cursor ? s->cursor : "";
    argv[6] = p->next;
    argv[7] = s->fetch && p->more ? "fetch" : "sync";
    argv[8] = now;
    argc = 9;
    json_array_foreach(devices, i, dev) {
        const char *serial = json_string_value(json_object_get(dev, "serial_number"));
        if (serial == NULL || *serial == '\0' || strlen(serial) > 64) {
            wk_warn("dep %s: a device without a usable serial_number skipped",
                    s->t.name);
            continue;
        }
        const char *op = json_string_value(json_object_get(dev, "op_type"));
        const char *date = json_string_value(json_object_get(dev, "op_date"));
        dumps[p->n] = json_dumps(dev, JSON_COMPACT);
        if (dumps[p->n] == NULL) {
            continue;
        }
        argv[argc++] = serial;
        argv[argc++] = op ? op : "";
        argv[argc++] = date ? date : "";
        argv[argc++] = dumps[p->n++];
    }
    for (int k = 3; k < argc; k++) {
        lens[k] = strlen(argv[k]);
    }
    if (evalsha(s->d, &s->d->page, on_page_stored, p, 2, argc, argv, lens) != 0) {
        page_free(p);
        backoff(s, 0, "Redis is down");
    }
    for (i = 0; i < p->n; i++) {
        free(dumps[i]);
    }
    free(dumps);
    free(argv);
    free(lens);
}


static int
body_has(const wk_dep_reply_t *r, const char *code)
{
    size_t n = strlen(code);
    for (size_t i = 0; r->body_len >= n && i <= r->body_len - n; i++) {
        if (memcmp(r->body + i, code, n) == 0) {
            return 1;
        }
    }
    return 0;
}


static void
on_cursor_reset(wk_redis_t *link, redisReply *r, void *data)
{
    dep_sync_t *s = data;
    (void) link;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        backoff(s, 0, "the cursor could not be reset in Redis");
        return;
    }
    tick(s);
}


/* a new phase or a new fetch, written before the next call */
static void
set_phase(dep_sync_t *s, const char *cursor, const char *phase)
{
    if (wk_redis_cmd(s->d->redis, on_cursor_reset, s, "HSET %s cursor %s phase %s",
                     s->k_cursor, cursor, phase) != 0)
    {
        backoff(s, 0, "Redis is down");
    }
}


static void
stop_token(dep_sync_t *s, const char *why)
{
    wk_alert("dep %s: %s: this token is stopped until an operator acts "
             "(accept the terms in Apple Business/School Manager, or a new "
             "token), then restart the worker", s->t.name, why);
    wk_metric_add(WK_M_DEP_STOPPED, 1);
    s->stopped = 1;
    s->busy = 0;
}


static void
on_page(void *data, const wk_dep_reply_t *r)
{
    dep_sync_t *s = data;
    char why[160];

    if (r->stop) {
        stop_token(s, r->error);
        return;
    }
    if (r->status == 400 && s->fetch && body_has(r, "EXHAUSTED_CURSOR")) {
        wk_info("dep %s: EXHAUSTED_CURSOR: the fetch is complete, syncing",
                s->t.name);
        set_phase(s, s->cursor ? s->cursor : "", "sync");
        return;
    }
    if (r->status == 400 && (body_has(r, "EXPIRED_CURSOR")
                             || body_has(r, "INVALID_CURSOR")))
    {
        wk_warn("dep %s: %s: fetching every device again", s->t.name,
                body_has(r, "EXPIRED_CURSOR") ? "EXPIRED_CURSOR"
                                              : "INVALID_CURSOR");
        wk_metric_add(WK_M_DEP_CURSOR_RESETS, 1);
        set_phase(s, "", "fetch");
        return;
    }
    if (r->status != 200) {
        snprintf(why, sizeof(why), "%s: %ld %.60s", s->fetch
                 ? "POST /server/devices" : "POST /devices/sync", r->status,
                 r->status ? r->body : r->error);
        for (char *c = why; *c; c++) {
            if (*c == '\n' || *c == '\r') *c = ' ';
        }
        backoff(s, r->retry_after, why);
        return;
    }

    json_error_t jerr;
    json_t *root = json_loadb(r->body, r->body_len, 0, &jerr);
    const char *next = json_string_value(json_object_get(root, "cursor"));
    json_t *devices = json_object_get(root, "devices");
    if (!json_is_object(root) || next == NULL
        || (devices && !json_is_array(devices)))
    {
        json_decref(root);
        backoff(s, 0, "the page is not the documented JSON (devices, cursor)");
        return;
    }
    if (devices == NULL) {
        json_object_set_new(root, "devices", json_array());
    }
    dep_page_t *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->next = strdup(next)) == NULL) {
        free(p);
        json_decref(root);
        backoff(s, 0, "no memory for a page");
        return;
    }
    p->s = s;
    p->root = root;
    p->more = json_is_true(json_object_get(root, "more_to_follow"));
    store_page(s, p);
}


static void
request_page(dep_sync_t *s)
{
    json_t *body = json_pack("{s:I}", "limit", (json_int_t) s->d->cf->dep_page_limit);
    if (s->cursor && *s->cursor) {
        json_object_set_new(body, "cursor", json_string(s->cursor));
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL
        || wk_dep_call(s->client, "POST", s->fetch ? "/server/devices"
                                                   : "/devices/sync",
                       text, on_page, s) != 0)
    {
        free(text);
        backoff(s, 0, "the call could not start");
        return;
    }
    free(text);
}


static void
on_cursor(wk_redis_t *link, redisReply *r, void *data)
{
    dep_sync_t *s = data;
    size_t n;
    (void) link;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        backoff(s, 0, "the cursor could not be read from Redis");
        return;
    }
    const char *c = wk_reply_str(r, 0, &n);
    const char *phase = wk_reply_str(r, 1, &n);
    int first = !s->fetch_logged;
    free(s->cursor);
    s->cursor = c ? strdup(c) : NULL;
    s->fetch = phase == NULL || strcmp(phase, "sync") != 0;
    /* the cursor is read again before every page (another worker may have
     * moved it); a fetch's start is logged once */
    if (s->fetch && s->cursor == NULL) {
        wk_info("dep %s: fetching every device", s->t.name);
        s->fetch_logged = 1;
    } else if (s->fetch && first) {
        wk_info("dep %s: resuming the fetch from the stored cursor", s->t.name);
        s->fetch_logged = 1;
    }
    if (!s->fetch && s->cursor == NULL) {
        set_phase(s, "", "fetch");     /* a sync needs a cursor */
        return;
    }
    request_page(s);
}


static void
on_lease(wk_redis_t *link, redisReply *r, void *data)
{
    dep_sync_t *s = data;
    (void) link;

    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        backoff(s, 0, "the lease could not be taken (Redis)");
        return;
    }
    if (r->integer != 1) {
        wk_debug("dep %s: another worker holds the lease", s->t.name);
        round_end(s, s->d->cf->dep_lease_ms / 2000.0);
        return;
    }
    if (wk_redis_cmd(s->d->redis, on_cursor, s, "HMGET %s cursor phase",
                     s->k_cursor) != 0)
    {
        backoff(s, 0, "Redis is down");
    }
}


static void
take_lease(dep_sync_t *s, wk_redis_cb cb)
{
    char ms[24];
    const char *argv[7];
    size_t lens[7];

    snprintf(ms, sizeof(ms), "%ld", s->d->cf->dep_lease_ms);
    argv[3] = s->k_lease;
    argv[4] = s->d->cf->name;
    argv[5] = ms;
    argv[6] = cb ? "take" : "drop";
    for (int i = 3; i < 7; i++) {
        lens[i] = strlen(argv[i]);
    }
    if (evalsha(s->d, &s->d->lease, cb ? cb : on_reply_logged,
                cb ? (void *) s : (void *) s->t.name, 1, 7, argv, lens) != 0
        && cb)
    {
        backoff(s, 0, "Redis is down");
    }
}


static void
tick(dep_sync_t *s)
{
    if (s->stopped || s->d->stopping) {
        s->busy = 0;
        return;
    }
    s->busy = 1;
    take_lease(s, on_lease);
}


static void
on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    dep_sync_t *s = t->data;
    (void) loop;
    (void) revents;
    if (!s->busy) {
        tick(s);
    }
}


/* --- start: the token into Redis ------------------------------------------- */

static void
on_token_stored(wk_redis_t *link, redisReply *r, void *data)
{
    dep_sync_t *s = data;
    (void) link;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        wk_error("dep %s: the token could not be stored; retrying", s->t.name);
        return;                     /* the next on_ready tries again */
    }
    s->started = 1;
    wk_info("dep %s: token of consumer key %s loaded, valid until %s",
            s->t.name, s->t.tok.consumer_key, s->t.tok.expiry_text);
    if (s->t.tok.expiry < time(NULL) + 30 * 86400) {
        wk_warn("dep %s: the server token expires on %s: renew it in Apple "
                "Business/School Manager", s->t.name, s->t.tok.expiry_text);
    }
    if (!s->busy) {
        tick(s);
    }
}


static void
on_token_checked(wk_redis_t *link, redisReply *r, void *data)
{
    dep_sync_t *s = data;
    char ctx[WK_DEP_NAME_MAX + 16], expiry[24], now[24];
    (void) link;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        return;
    }
    if (r->type == REDIS_REPLY_STRING && !s->force
        && strcmp(r->str, s->t.tok.consumer_key) != 0)
    {
        wk_error("dep %s: the token's consumer key %s is not the stored %s "
                 "(a token of another MDM server?): refused, nothing stored; "
                 "add \"force\" to the dep_token line to replace it",
                 s->t.name, s->t.tok.consumer_key, r->str);
        s->stopped = 1;
        return;
    }
    char *json = mdm_dep_token_to_json(&s->t.tok);
    snprintf(ctx, sizeof(ctx), "dep-token:%s", s->t.name);
    char *sealed = json ? mdm_dep_seal(s->d->seal_key, ctx, json, strlen(json))
                        : NULL;
    if (json) {
        OPENSSL_cleanse(json, strlen(json));
        free(json);
    }
    if (sealed == NULL) {
        wk_error("dep %s: the token could not be sealed", s->t.name);
        return;
    }
    snprintf(expiry, sizeof(expiry), "%lld", (long long) s->t.tok.expiry);
    snprintf(now, sizeof(now), "%lld", (long long) time(NULL));
    wk_redis_cmd(s->d->redis, on_token_stored, s,
                 "HSET %s sealed %s consumer_key %s expiry %s loaded %s",
                 s->k_token, sealed, s->t.tok.consumer_key, expiry, now);
    free(sealed);
}


static void
on_script_loaded(wk_redis_t *link, redisReply *r, void *data)
{
    dep_script_t *sc = data;
    (void) link;
    if (r && r->type == REDIS_REPLY_ERROR) {
        wk_error("SCRIPT LOAD %s: %s", sc->script->name, r->str);
    }
}


static void
script_load(wk_deps_t *d, dep_script_t *sc)
{
    const char *argv[] = { "SCRIPT", "LOAD", sc->script->src };
    const size_t lens[] = { 6, 4, sc->script->len };
    wk_redis_cmdargv(d->redis, on_script_loaded, sc, 3, argv, lens);
}


void
wk_deps_on_redis_ready(wk_deps_t *d)
{
    if (d == NULL || d->n == 0) {
        return;
    }
    script_load(d, &d->lease);
    script_load(d, &d->page);
    for (int i = 0; i < d->n; i++) {
        dep_sync_t *s = &d->syncs[i];
        if (!s->started && !s->stopped) {
            wk_redis_cmd(d->redis, on_token_checked, s, "HGET %s consumer_key",
                         s->k_token);
        }
    }
}


wk_deps_t *
wk_deps_new(struct ev_loop *loop, const wk_config_t *cf, wk_redis_t *redis,
            int *failed)
{
    char err[1024];

    *failed = 0;
    wk_deps_t *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        *failed = 1;
        return NULL;
    }
    d->loop = loop;
    d->cf = cf;
    d->redis = redis;
    if (cf->ndep_tokens == 0) {
        return d;
    }
    if (mdm_dep_seal_key_hex(cf->dep_seal_key, d->seal_key) != 0) {
        wk_alert("dep_seal_key must be 64 hex digits (32 bytes) when "
                 "dep_token is set: the server tokens are sealed with it");
        free(d);
        *failed = 1;
        return NULL;
    }
    d->lease.script = mdm_script_find("dep_lease");
    d->page.script = mdm_script_find("dep_page");
    d->http = wk_http_new(loop);
    if (d->lease.script == NULL || d->page.script == NULL || d->http == NULL) {
        wk_alert("the DEP scripts or HTTP client are missing");
        wk_http_free(d->http);
        free(d);
        *failed = 1;
        return NULL;
    }
    mdm_script_sha1_hex(d->lease.script, d->lease.sha);
    mdm_script_sha1_hex(d->page.script, d->page.sha);

    for (int i = 0; i < cf->ndep_tokens; i++) {
        dep_sync_t *s = &d->syncs[d->n];
        memset(s, 0, sizeof(*s));
        if (wk_dep_token_load(cf->dep_tokens[i], &s->t, err, sizeof(err)) != 0) {
            wk_error("%s: this token is not synced, nothing of it is stored",
                     err);
            continue;
        }
        s->force = strstr(cf->dep_tokens[i], " force") != NULL;
        s->d = d;
        s->client = wk_dep_client_new(cf, redis, d->http, &s->t, d->seal_key);
        if (s->client == NULL) {
            continue;
        }
        mdm_key(s->k_token, MDM_K_DEP_TOKEN, s->t.name, NULL);
        mdm_key(s->k_lease, MDM_K_DEP_LEASE, s->t.name, NULL);
        mdm_key(s->k_cursor, MDM_K_DEP_CURSOR, s->t.name, NULL);
        mdm_key(s->k_devices, MDM_K_DEP_DEVICES, s->t.name, NULL);
        ev_timer_init(&s->timer, on_timer, 0., 0.);
        s->timer.data = s;
        d->n++;
    }
    return d;
}


void
wk_deps_stop(wk_deps_t *d)
{
    if (d == NULL) {
        return;
    }
    d->stopping = 1;
    for (int i = 0; i < d->n; i++) {
        ev_timer_stop(d->loop, &d->syncs[i].timer);
        if (d->syncs[i].started) {
            take_lease(&d->syncs[i], NULL);     /* drop it for the next */
        }
    }
}


void
wk_deps_free(wk_deps_t *d)
{
    if (d == NULL) {
        return;
    }
    wk_http_free(d->http);
    for (int i = 0; i < d->n; i++) {
        ev_timer_stop(d->loop, &d->syncs[i].timer);
        wk_dep_client_free(d->syncs[i].client);
        free(d->syncs[i].cursor);
        mdm_dep_token_clear(&d->syncs[i].t.tok);
    }
    OPENSSL_cleanse(d->seal_key, sizeof(d->seal_key));
    free(d);
}
