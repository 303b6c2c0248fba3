/*
 * The Apps and Books rounds (vpp.h): the service config, then per location
 * its lease, its token, /client/config and the asset sync; vpp_jobs.c
 * does the rest of a location. Redis steps are plain commands on keys of
 * the location's slot, or its scripts (vpp_*.lua), sent with EVAL: they
 * are small and run a few times per location per round.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mdm_keys.h"
#include "mdm_script.h"
#include "metrics.h"
#include "vpp_int.h"
#include "vpp/mdm_vpp_token.h"

static void token_loaded(wk_redis_t *link, redisReply *r, void *data);
static void assets_maybe(wk_vpp_t *v);


int
wk_vpp_eval(wk_vpp_t *v, const char *script, int nkeys, const char **argv,
            size_t *argvlen, int argc, wk_redis_cb cb)
{
    const mdm_script_t  *s = mdm_script_find(script);
    char                 nk[8];

    if (s == NULL) {
        wk_alert("vpp: script %s missing from this build", script);
        return -1;
    }
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = s->src;
    argvlen[1] = s->len;
    argv[2] = nk;
    argvlen[2] = strlen(nk);
    return wk_redis_cmdargv(v->redis, cb, v, argc, argv, argvlen);
}


static void
loc_reset(wk_vpp_loc_t *l)
{
    size_t i;

    free(l->stoken);
    json_decref(l->job);
    json_decref(l->ev);
    for (i = 0; l->serials && i < l->nids; i++) {
        free(l->serials[i]);
    }
    free(l->serials);
    free(l->slots);
    json_decref(l->batch);
    for (i = 0; i < l->nevents; i++) {
        free(l->events[i]);
    }
    free(l->events);
    memset(l, 0, sizeof(*l));
}


static void
round_end(wk_vpp_t *v)
{
    size_t i;

    for (i = 0; i < v->nlocs; i++) {
        free(v->locs[i]);
    }
    free(v->locs);
    v->locs = NULL;
    v->nlocs = v->li = 0;
    loc_reset(&v->cur);
    v->running = 0;
}


static void
on_lease(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_t  *v = data;
    char       key[MDM_KEY_MAX];
    (void) link;

    if (r == NULL) {
        round_end(v);
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
        wk_debug("vpp %s: another worker holds the lease", v->cur.name);
        wk_vpp_next_location(v);
        return;
    }
    mdm_key(key, MDM_K_VPP_TOKEN, v->cur.name, NULL);
    if (wk_redis_cmd(v->redis, token_loaded, v, "HGETALL %s", key) != 0) {
        round_end(v);
    }
}


void
wk_vpp_next_location(wk_vpp_t *v)
{
    char         key[MDM_KEY_MAX], ms[24];
    const char  *argv[6];
    size_t       argvlen[6];

    loc_reset(&v->cur);
    if (v->stopped || v->li >= v->nlocs) {
        round_end(v);
        return;
    }
    snprintf(v->cur.name, sizeof(v->cur.name), "%s", v->locs[v->li++]);
    mdm_key(key, MDM_K_VPP_LEASE, v->cur.name, NULL);
    snprintf(ms, sizeof(ms), "%ld", v->cf->vpp_lease_ms);
    argv[3] = key;
    argvlen[3] = strlen(key);
    argv[4] = v->cf->name;
    argvlen[4] = strlen(v->cf->name);
    argv[5] = ms;
    argvlen[5] = strlen(ms);
    if (wk_vpp_eval(v, "vpp_lease", 1, argv, argvlen, 6, on_lease) != 0) {
        round_end(v);
    }
}


static void
copy_field(const redisReply *r, const char *name, char *out, size_t size)
{
    const redisReply *f = wk_reply_field(r, name);

    snprintf(out, size, "%s", f ? f->str : "");
}


static long
long_field(const redisReply *r, const char *name)
{
    const redisReply *f = wk_reply_field(r, name);

    return f ? strtol(f->str, NULL, 10) : 0;
}


/* HSET on the location's token: field value pairs, NULL-terminated. */
static void
token_set(wk_vpp_t *v, ...)
{
    char         key[MDM_KEY_MAX];
    const char  *argv[24];
    size_t       argvlen[24];
    int          n = 2;
    va_list      ap;
    const char  *s;

    mdm_key(key, MDM_K_VPP_TOKEN, v->cur.name, NULL);
    argv[0] = "HSET";
    argv[1] = key;
    va_start(ap, v);
    while (n < 24 && (s = va_arg(ap, const char *)) != NULL) {
        argv[n++] = s;
    }
    va_end(ap);
    for (int i = 0; i < n; i++) {
        argvlen[i] = strlen(argv[i]);
    }
    wk_redis_cmdargv(v->redis, NULL, NULL, n, argv, argvlen);
}


/* A token error: the location stops until a new token is uploaded. */
void
wk_vpp_stop_location(wk_vpp_t *v, const mdm_vpp_reply_t *r)
{
    char         why[300];
    const char  *status = r->error_number == MDM_VPP_E_REVOKED ? "revoked"
                          : r->error_number == MDM_VPP_E_EXPIRED ? "expired"
                          : "refused";

    snprintf(why, sizeof(why), "%lld %s", (long long) r->error_number,
             r->error_message);
    if (r->error_number == MDM_VPP_E_REVOKED) {
        wk_alert("vpp %s: the content token was revoked (%s): the location "
                 "is stopped until a new token is uploaded", v->cur.name, why);
    } else {
        wk_error("vpp %s: Apple refuses the content token (%s): the location "
                 "is stopped until a new token is uploaded", v->cur.name, why);
    }
    token_set(v, "status", status, "error", why, NULL);
    wk_vpp_next_location(v);
}


/* 429, 5xx or no answer: this location waits Retry-After, or a backoff
 * doubling from vpp_backoff_base to vpp_backoff_max without one. */
void
wk_vpp_back_off(wk_vpp_t *v, long retry_after)
{
    char  at[24], fails[24];
    long  wait = v->cf->vpp_backoff_base;

    for (long i = 0; i < v->cur.failures && wait < v->cf->vpp_backoff_max; i++) {
        wait *= 2;
    }
    if (wait > v->cf->vpp_backoff_max) {
        wait = v->cf->vpp_backoff_max;
    }
    if (retry_after > 0) {
        wait = retry_after;
    }
    wk_metric_add(WK_M_VPP_BACKOFFS, 1);
    wk_warn("vpp %s: backing off %ld s", v->cur.name, wait);
    snprintf(at, sizeof(at), "%lld", (long long) ev_now(v->loop) + wait);
    snprintf(fails, sizeof(fails), "%ld", v->cur.failures + 1);
    token_set(v, "retry_at", at, "failures", fails, NULL);
    wk_vpp_next_location(v);
}


/* --- /client/config ------------------------------------------------------ */

static void
on_config_set(wk_vpp_t *v, wk_vpp_outcome_e o, mdm_vpp_reply_t *r)
{
    switch (o) {
    case WK_VPP_OK:
        token_set(v, "notify_set", v->cur.secret, "mdm_id", v->cf->vpp_mdm_id,
                  NULL);
        wk_info("vpp %s: notifications go to %s/%s", v->cur.name,
                v->cf->vpp_notify_url, v->cur.name);
        break;
    case WK_VPP_TOKEN:
        wk_vpp_stop_location(v, r);
        return;
    case WK_VPP_RETRY:
        wk_vpp_back_off(v, v->retry_after);
        return;
    default:
        /* polling still finds every event: notifications only hasten it */
        wk_error("vpp %s: the notification URL was not accepted: %lld %s",
                 v->cur.name, (long long) r->error_number,
                 r->error_message ? r->error_message : "");
    }
    assets_maybe(v);
}


static void
set_config(wk_vpp_t *v)
{
    char    url[WK_CONFIG_STR_MAX + WK_VPP_LOC_MAX + 2];
    char   *body;
    json_t *j;

    snprintf(url, sizeof(url), "%s/%s", v->cf->vpp_notify_url, v->cur.name);
    j = json_pack("{s:{s:s,s:s},s:s,s:s,s:[s,s,s]}",
                  "mdmInfo", "id", v->cf->vpp_mdm_id, "name", "ngx_mdm",
                  "notificationUrl", url,
                  "notificationAuthToken", v->cur.secret,
                  "notificationTypes", "ASSET_MANAGEMENT",
                  "USER_MANAGEMENT", "USER_ASSOCIATED");
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (body == NULL) {
        assets_maybe(v);
        return;
    }
    wk_vpp_call(v, "client/config", body, 1, on_config_set);
    free(body);
}


/* A token has a year; Apple says when it ends on every answer. A month
 * ahead, every check says so (the operator downloads a new one). */
static void
warn_expiry(wk_vpp_t *v, const char *date)
{
    int64_t  at = date ? mdm_vpp_date_parse(date) : -1;
    double   left = (double) at - ev_now(v->loop);

    if (at > 0 && left < 30 * 86400.) {
        wk_warn("vpp %s: the content token expires in %lld days (%s): "
                "upload a new one", v->cur.name, (long long) (left / 86400.), date);
    }
}


static void
on_config(wk_vpp_t *v, wk_vpp_outcome_e o, mdm_vpp_reply_t *r)
{
    mdm_vpp_client_config_t  c;
    mdm_err_t                err;
    char                     now[24], claimed[300];

    if (o == WK_VPP_TOKEN) {
        wk_vpp_stop_location(v, r);
        return;
    }
    if (o == WK_VPP_RETRY) {
        wk_vpp_back_off(v, v->retry_after);
        return;
    }
    if (o != WK_VPP_OK || mdm_vpp_client_config_of(r, &c, &err) != MDM_OK) {
        wk_error("vpp %s: /client/config: %s", v->cur.name,
                 o == WK_VPP_OK ? err.msg : r->root ? r->error_message : "unreadable");
        wk_vpp_next_location(v);
        return;
    }
    snprintf(now, sizeof(now), "%lld", (long long) ev_now(v->loop));
    if (c.mdm_id && strcmp(c.mdm_id, v->cf->vpp_mdm_id) != 0) {
        /* Apple's mdmInfo is how an MDM learns of another using the token */
        snprintf(claimed, sizeof(claimed), "claimed by another MDM: %s (%s)",
                 c.mdm_name ? c.mdm_name : "", c.mdm_id);
        wk_error("vpp %s: the content token is %s; the location is stopped",
                 v->cur.name, claimed);
        token_set(v, "status", "claimed", "error", claimed, "checked", now,
                  NULL);
        wk_vpp_next_location(v);
        return;
    }
    warn_expiry(v, c.token_expiration);
    token_set(v, "status", "ok", "error", "", "checked", now,
              "location_name", c.location_name, "country", c.country,
              "uid", c.uid ? c.uid : "", "failures", "0", NULL);
    if (v->cur.failures) {
        v->cur.failures = 0;
    }
    if (v->cf->vpp_notify_url[0] && strcmp(v->cur.notify_set, v->cur.secret) != 0) {
        set_config(v);
        return;
    }
    assets_maybe(v);
}


static void
token_loaded(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_t       *v = data;
    wk_vpp_loc_t   *l = &v->cur;
    const redisReply *st;
    double          now = ev_now(v->loop);
    (void) link;

    if (r == NULL) {
        round_end(v);
        return;
    }
    st = wk_reply_field(r, "stoken");
    if (r->type != REDIS_REPLY_ARRAY || st == NULL
        || (l->stoken = strdup(st->str)) == NULL)
    {
        wk_vpp_next_location(v);
        return;
    }
    copy_field(r, "status", l->status, sizeof(l->status));
    copy_field(r, "notify_secret", l->secret, sizeof(l->secret));
    copy_field(r, "notify_set", l->notify_set, sizeof(l->notify_set));
    l->checked = long_field(r, "checked");
    l->synced = long_field(r, "synced");
    l->retry_at = long_field(r, "retry_at");
    l->failures = long_field(r, "failures");

    if (strcmp(l->status, "ok") != 0 && strcmp(l->status, "pending") != 0) {
        wk_vpp_next_location(v);           /* stopped: a new token restarts it */
        return;
    }
    if (l->retry_at > now) {
        wk_vpp_next_location(v);
        return;
    }
    if (strcmp(l->status, "pending") == 0
        || now - (double) l->checked >= (double) v->cf->vpp_config_interval)
    {
        wk_vpp_call(v, "client/config", NULL, 1, on_config);
        return;
    }
    assets_maybe(v);
}


/* --- the asset sync ---------------------------------------------------- */

static void assets_page(wk_vpp_t *v);


static void
on_assets_put(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_t *v = data;
    (void) link;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        wk_error("vpp %s: assets not stored: %s", v->cur.name,
                 r ? r->str : "Redis lost");
        wk_vpp_next_location(v);
        return;
    }
    if (v->cur.page >= 0) {
        assets_page(v);
        return;
    }
    wk_info("vpp %s: assets synced", v->cur.name);
    wk_vpp_jobs(v);
}


static void
on_assets(wk_vpp_t *v, wk_vpp_outcome_e o, mdm_vpp_reply_t *r)
{
    json_t            *items;
    mdm_vpp_asset_t    a;
    mdm_err_t          err;
    size_t             i, n, argc = 7;
    const char       **argv;
    size_t            *argvlen;
    char             (*num)[24];
    char               key[MDM_KEY_MAX], started[24], done[2];

    if (o == WK_VPP_TOKEN) {
        wk_vpp_stop_location(v, r);
        return;
    }
    if (o == WK_VPP_RETRY) {
        wk_vpp_back_off(v, v->retry_after);
        return;
    }
    if (o != WK_VPP_OK || mdm_vpp_items(r->root, "assets", &items, &err) == MDM_ERROR) {
        wk_error("vpp %s: /assets: %s", v->cur.name,
                 o == WK_VPP_OK ? err.msg : r->root ? r->error_message : "unreadable");
        wk_vpp_next_location(v);
        return;
    }
    n = json_array_size(items);
    argv = calloc(7 + n * 10, sizeof(*argv));
    argvlen = calloc(7 + n * 10, sizeof(*argvlen));
    num = calloc(n * 6 + 1, sizeof(*num));
    if (argv == NULL || argvlen == NULL || num == NULL) {
        free(argv);
        free(argvlen);
        free(num);
        wk_vpp_next_location(v);
        return;
    }
    mdm_key(key, MDM_K_VPP_TOKEN, v->cur.name, NULL);
    snprintf(started, sizeof(started), "%ld", v->cur.started);
    v->cur.page = r->next_page;
    snprintf(done, sizeof(done), "%d", r->next_page < 0);
    argv[3] = key;
    argv[4] = v->cur.name;
    argv[5] = started;
    argv[6] = done;
    for (i = 0; i < n; i++) {
        char (*f)[24] = num + i * 6;

        if (mdm_vpp_asset_of(json_array_get(items, i), &a, &err) != MDM_OK) {
            wk_warn("vpp %s: an asset skipped: %s", v->cur.name, err.msg);
            continue;
        }
        snprintf(f[0], 24, "%lld", (long long) a.total);
        snprintf(f[1], 24, "%lld", (long long) a.assigned);
        snprintf(f[2], 24, "%lld", (long long) a.available);
        snprintf(f[3], 24, "%lld", (long long) a.retired);
        snprintf(f[4], 24, "%u", a.platforms);
        argv[argc++] = a.adam_id;
        argv[argc++] = a.pricing;
        argv[argc++] = a.product_type;
        argv[argc++] = f[0];
        argv[argc++] = f[1];
        argv[argc++] = f[2];
        argv[argc++] = f[3];
        argv[argc++] = a.device_assignable ? "1" : "0";
        argv[argc++] = a.revocable ? "1" : "0";
        argv[argc++] = f[4];
    }
    for (i = 3; i < argc; i++) {
        argvlen[i] = strlen(argv[i]);
    }
    if (wk_vpp_eval(v, "vpp_assets_put", 1, argv, argvlen, (int) argc,
                    on_assets_put) != 0)
    {
        wk_vpp_next_location(v);
    }
    free(argv);
    free(argvlen);
    free(num);
}


static void
assets_page(wk_vpp_t *v)
{
    char path[64];

    snprintf(path, sizeof(path), "assets?pageIndex=%ld", v->cur.page);
    wk_vpp_call(v, path, NULL, 1, on_assets);
}


static void
assets_maybe(wk_vpp_t *v)
{
    double now = ev_now(v->loop);

    if (v->cur.synced == 0 || now - (double) v->cur.synced
                              >= (double) v->cf->vpp_sync_interval)
    {
        v->cur.page = 0;
        v->cur.started = (long) now;
        assets_page(v);
        return;
    }
    wk_vpp_jobs(v);
}


/* --- the rounds -------------------------------------------------------- */

static void
on_locations(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_t *v = data;
    size_t    i;
    (void) link;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        v->running = 0;
        return;
    }
    v->locs = calloc(r->elements, sizeof(char *));
    for (i = 0; v->locs && i < r->elements; i++) {
        if (r->element[i]->type == REDIS_REPLY_STRING
            && r->element[i]->len <= WK_VPP_LOC_MAX)
        {
            v->locs[v->nlocs++] = strdup(r->element[i]->str);
        }
    }
    v->li = 0;
    wk_vpp_next_location(v);
}


static void
list_locations(wk_vpp_t *v)
{
    if (wk_redis_cmd(v->redis, on_locations, v, "SMEMBERS %s",
                     mdm_schema_keys[MDM_K_VPP_LOCATIONS].pattern) != 0)
    {
        v->running = 0;
    }
}


static void
on_service_config(wk_vpp_t *v, wk_vpp_outcome_e o, mdm_vpp_reply_t *r)
{
    mdm_err_t err;

    if (o == WK_VPP_OK && mdm_vpp_limits_of(r, &v->limits, &err) == MDM_OK) {
        v->limits_at = ev_now(v->loop);
    } else {
        /* the documented limits stand in until the next round asks again */
        wk_warn("vpp: /service/config not read; using the documented limits");
        mdm_vpp_limits_default(&v->limits);
    }
    list_locations(v);
}


static void
on_round(struct ev_loop *loop, ev_timer *t, int revents)
{
    wk_vpp_t *v = t->data;
    (void) loop;
    (void) revents;

    if (v->running || v->stopped || !v->redis->connected) {
        return;
    }
    v->running = 1;
    if (v->limits_at == 0
        || ev_now(v->loop) - v->limits_at >= (double) v->cf->vpp_config_interval)
    {
        wk_vpp_call(v, "service/config", NULL, 0, on_service_config);
        return;
    }
    list_locations(v);
}


wk_vpp_t *
wk_vpp_new(struct ev_loop *loop, const wk_config_t *cf, wk_redis_t *redis,
           int *failed)
{
    wk_vpp_t *v;

    *failed = 0;
    if (cf->vpp_url[0] == '\0') {
        return NULL;
    }
    if (strncmp(cf->vpp_url, "https://", 8) != 0
        && strncmp(cf->vpp_url, "http://", 7) != 0)
    {
        wk_alert("vpp_url must be an http(s) URL: %s", cf->vpp_url);
        *failed = 1;
        return NULL;
    }
    if ((v = calloc(1, sizeof(*v))) == NULL
        || (v->http = wk_http_new(loop)) == NULL)
    {
        free(v);
        *failed = 1;
        return NULL;
    }
    v->loop = loop;
    v->cf = cf;
    v->redis = redis;
    mdm_vpp_limits_default(&v->limits);
    wk_vpp_client_init(v);
    ev_timer_init(&v->timer, on_round, 0.,
                  (double) cf->vpp_interval_ms / 1000.);
    v->timer.data = v;
    return v;
}


void
wk_vpp_on_redis_ready(wk_vpp_t *v)
{
    if (v && !v->stopped && !ev_is_active(&v->timer)) {
        ev_timer_again(v->loop, &v->timer);
        ev_feed_event(v->loop, &v->timer, EV_TIMER);
    }
}


void
wk_vpp_stop(wk_vpp_t *v)
{
    if (v) {
        v->stopped = 1;
        ev_timer_stop(v->loop, &v->timer);
    }
}


void
wk_vpp_free(wk_vpp_t *v)
{
    if (v == NULL) {
        return;
    }
    ev_timer_stop(v->loop, &v->timer);
    ev_timer_stop(v->loop, &v->spacing);
    wk_http_free(v->http);
    free(v->url);
    free(v->body);
    round_end(v);
    free(v);
}
