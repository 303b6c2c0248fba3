#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

typedef enum { WK_STR, WK_NUM } wk_config_type_t;

typedef struct {
    const char       *key;
    wk_config_type_t  type;
    size_t            offset;
    const char       *dflt;
    long              min;
    const char       *inherit;      /* 0 (the default) takes this key's */
} wk_config_key_t;

#define STR(k, d)     { #k, WK_STR, offsetof(wk_config_t, k), d, 0, NULL }
#define NUM(k, d, m)  { #k, WK_NUM, offsetof(wk_config_t, k), d, m, NULL }
#define NUM_AS(k, m, from) \
    { #k, WK_NUM, offsetof(wk_config_t, k), "0", m, #from }

static const wk_config_key_t keys[] = {
    STR(redis, "127.0.0.1:6379"),
    STR(name, ""),
    STR(apns_url, "https://api.push.apple.com"),
    STR(apns_ca, ""),
    STR(log_level, "info"),
    NUM(apns_expiration, "259200", 0),
    NUM(apns_ping_idle, "3600", 1),
    NUM(apns_timeout_ms, "10000", 100),
    NUM(push_batch, "1000", 1),
    NUM(push_block_ms, "2000", 1),
    NUM(push_claim_idle_ms, "60000", 100),
    NUM(push_claim_interval_ms, "5000", 100),
    NUM(push_max_inflight, "20000", 1),
    NUM(max_attempts, "8", 1),
    NUM(backoff_base_ms, "5000", 1),
    NUM(backoff_max_ms, "300000", 1),
    NUM(cert_check_interval, "60", 1),
    NUM(redis_timeout_ms, "5000", 100),
    NUM(redis_error_log_interval_ms, "10000", 0),
    NUM(sweep_interval_ms, "1000", 10),
    NUM(sweep_batch, "1000", 1),
    NUM(result_retention, "604800", 1),
    NUM(events_maxlen, "1000000", 1),
    NUM(repush_silent_after, "14400", 0),
    NUM(repush_notnow_after, "900", 0),
    NUM(push_coalesce_ms, "1000", 0),
    NUM(metrics_interval_ms, "5000", 100),
    STR(webhook_hmac_key, ""),
    STR(webhook_ca, ""),
    NUM(webhook_timeout_ms, "10000", 100),
    NUM(webhook_retry_for, "3600", 0),
    NUM(webhook_backoff_base_ms, "1000", 1),
    NUM(webhook_backoff_max_ms, "60000", 1),
    NUM(webhook_concurrency, "16", 1),
    NUM(webhook_max_held, "1000", 1),
    /* the webhook groups' own, as the push group's unless set */
    NUM_AS(webhook_block_ms, 1, push_block_ms),
    NUM_AS(webhook_claim_idle_ms, 100, push_claim_idle_ms),
    NUM_AS(webhook_claim_interval_ms, 100, push_claim_interval_ms),
    NUM(renew_interval_ms, "0", 0),
    NUM(renew_window, "1209600", 1),
    NUM(renew_batch, "100", 1),
    NUM(renew_challenge_ttl, "604800", 60),
    NUM(renew_retry_base, "300", 1),
    NUM(renew_retry_max, "86400", 1),
    NUM(renew_retries, "10", 1),
    STR(renew_server_url, ""),
    STR(renew_checkin_url, ""),
    STR(renew_topic, ""),
    STR(renew_scep_url, ""),
    STR(renew_identifier, ""),
    STR(renew_organization, ""),
    STR(renew_signer_cert, ""),
    STR(renew_signer_key, ""),
    STR(renew_signer_chain, ""),
    STR(vpp_url, ""),
    STR(vpp_ca, ""),
    STR(vpp_notify_url, ""),
    STR(vpp_mdm_id, "ngx_mdm"),
    NUM(vpp_interval_ms, "5000", 10),
    NUM(vpp_poll_interval, "30", 1),
    NUM(vpp_sync_interval, "3600", 1),
    NUM(vpp_config_interval, "86400", 1),
    NUM(vpp_timeout_ms, "30000", 100),
    NUM(vpp_lease_ms, "60000", 100),
    NUM(vpp_backoff_base, "5", 1),
    NUM(vpp_backoff_max, "300", 1),
    STR(dep_url, "https://mdmenrollment.apple.com"),
    STR(dep_ca, ""),
    STR(dep_seal_key, ""),
    NUM(dep_interval_ms, "1800000", 100),
    NUM(dep_page_limit, "1000", 1),
    NUM(dep_protocol_version, "10", 1),
    NUM(dep_lease_ms, "30000", 100),
    NUM(dep_timeout_ms, "30000", 100),
    NUM(dep_backoff_base_ms, "1000", 1),
    NUM(dep_backoff_max_ms, "300000", 1),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))


void
wk_config_defaults(wk_config_t *cf)
{
    char err[128];

    memset(cf, 0, sizeof(*cf));
    for (size_t i = 0; i < NKEYS; i++) {
        wk_config_set(cf, keys[i].key, keys[i].dflt, err, sizeof(err));
    }
}


static const wk_config_key_t *
config_key(const char *key)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].key, key) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}


/* Keys left at 0 take the value of the key they follow. */
static void
config_inherit(wk_config_t *cf)
{
    for (size_t i = 0; i < NKEYS; i++) {
        long *field = (long *) ((char *) cf + keys[i].offset);
        if (keys[i].inherit && *field == 0) {
            *field = *(long *) ((char *) cf
                                + config_key(keys[i].inherit)->offset);
        }
    }
}


/* A consumer name must be unique in the group and stable for one run. */
static void
default_name(wk_config_t *cf)
{
    char host[256] = "worker";

    if (cf->name[0] == '\0') {
        gethostname(host, sizeof(host) - 1);
        snprintf(cf->name, sizeof(cf->name), "%.200s-%d", host,
                 (int) getpid());
    }
}


static int
set_value(wk_config_t *cf, const wk_config_key_t *k, const char *value,
          char *err, size_t errlen)
{
    char *field = (char *) cf + k->offset;

    if (k->type == WK_STR) {
        if (strlen(value) >= WK_CONFIG_STR_MAX) {
            snprintf(err, errlen, "%s: value too long", k->key);
            return -1;
        }
        strcpy(field, value);
        return 0;
    }

    char *end;
    errno = 0;
    long n = strtol(value, &end, 10);
    if (errno || end == value || *end != '\0'
        || (n < k->min && !(k->inherit && n == 0)))
    {
        snprintf(err, errlen, "%s: \"%s\" is not %sa number >= %ld",
                 k->key, value, k->inherit ? "0 or " : "", k->min);
        return -1;
    }
    *(long *) field = n;
    return 0;
}


/* `webhook` may be repeated: each line adds one (parsed in webhook.c). */
static int
add_webhook(wk_config_t *cf, const char *value, char *err, size_t errlen)
{
    if (cf->nwebhooks == WK_WEBHOOKS_MAX) {
        snprintf(err, errlen, "webhook: more than %d", WK_WEBHOOKS_MAX);
        return -1;
    }
    if (strlen(value) >= WK_CONFIG_STR_MAX) {
        snprintf(err, errlen, "webhook: value too long");
        return -1;
    }
    strcpy(cf->webhooks[cf->nwebhooks++], value);
    return 0;
}


/* `dep_token` may be repeated: one line per token (dep_token.c). */
static int
add_dep_token(wk_config_t *cf, const char *value, char *err, size_t errlen)
{
    if (cf->ndep_tokens == WK_DEP_TOKENS_MAX) {
        snprintf(err, errlen, "dep_token: more than %d", WK_DEP_TOKENS_MAX);
        return -1;
    }
    if (strlen(value) >= WK_CONFIG_STR_MAX) {
        snprintf(err, errlen, "dep_token: value too long");
        return -1;
    }
    strcpy(cf->dep_tokens[cf->ndep_tokens++], value);
    return 0;
}


int
wk_config_set(wk_config_t *cf, const char *key, const char *value, char *err,
              size_t errlen)
{
    if (strcmp(key, "webhook") == 0) {
        return add_webhook(cf, value, err, errlen);
    }
    if (strcmp(key, "dep_token") == 0) {
        return add_dep_token(cf, value, err, errlen);
    }
    if (strcmp(key, "dep_protocol_version") == 0
        && (atol(value) < 1 || atol(value) > 10))
    {
        snprintf(err, errlen, "dep_protocol_version: \"%s\" is not 1 to 10 "
                 "(10 is the newest this build understands)", value);
        return -1;
    }
    const wk_config_key_t *k = config_key(key);
    if (k == NULL) {
        snprintf(err, errlen, "unknown key \"%s\"", key);
        return -1;
    }
    if (set_value(cf, k, value, err, errlen) != 0) {
        return -1;
    }
    if (strcmp(key, "log_level") == 0 && wk_log_level_parse(value) < 0) {
        snprintf(err, errlen, "log_level: unknown level \"%s\"", value);
        return -1;
    }
    return 0;
}


static char *
trim(char *s)
{
    while (isspace((unsigned char) *s)) {
        s++;
    }
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char) e[-1])) {
        *--e = '\0';
    }
    return s;
}


/* Reads every line of f; each bad line is one problem(ctx, message). */
static int
config_read_each(wk_config_t *cf, FILE *f, const char *path,
                 wk_config_problem_pt problem, void *ctx)
{
    char line[1024], msg[256], where[WK_CONFIG_STR_MAX + 320];
    int lineno = 0, n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#') {
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(where, sizeof(where), "%s:%d: expected key = value",
                     path, lineno);
            problem(ctx, where);
            n++;
            continue;
        }
        *eq = '\0';
        if (wk_config_set(cf, trim(s), trim(eq + 1), msg, sizeof(msg)) != 0) {
            snprintf(where, sizeof(where), "%s:%d: %s", path, lineno, msg);
            problem(ctx, where);
            n++;
        }
    }
    return n;
}


int
wk_config_load_each(wk_config_t *cf, const char *path,
                    wk_config_problem_pt problem, void *ctx)
{
    char where[WK_CONFIG_STR_MAX + 320];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(where, sizeof(where), "%s: %s", path, strerror(errno));
        problem(ctx, where);
        return 1;
    }

    int n = config_read_each(cf, f, path, problem, ctx);
    fclose(f);
    return n;
}


typedef struct {
    char   *err;
    size_t  errlen;
    int     seen;
} first_problem_t;


/* Starting stops at the first problem; --check-config reports them all. */
static void
keep_first(void *ctx, const char *msg)
{
    first_problem_t *fp = ctx;

    if (!fp->seen++) {
        snprintf(fp->err, fp->errlen, "%s", msg);
    }
}


int
wk_config_load(wk_config_t *cf, const char *path, char *err, size_t errlen)
{
    first_problem_t fp = { err, errlen, 0 };

    return wk_config_load_each(cf, path, keep_first, &fp) ? -1 : 0;
}


int
wk_config_read(wk_config_t *cf, FILE *f, const char *path, char *err,
               size_t errlen)
{
    first_problem_t fp = { err, errlen, 0 };

    return config_read_each(cf, f, path, keep_first, &fp) ? -1 : 0;
}


int
wk_config_from_args(wk_config_t *cf, int argc, char **argv, char *err,
                    size_t errlen)
{
    /* The file first, so that flags override it wherever they appear. */
    for (int i = 1; i < argc - 1; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (wk_config_load(cf, argv[i + 1], err, errlen) != 0) {
                return -1;
            }
        }
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
            snprintf(err, errlen, "unexpected argument \"%s\"", a);
            return -1;
        }
        char key[64], msg[256];
        snprintf(key, sizeof(key), "%s", a + 2);
        for (char *p = key; *p; p++) {
            if (*p == '-') {
                *p = '_';
            }
        }
        if (wk_config_set(cf, key, argv[++i], msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "%s: %s", a, msg);
            return -1;
        }
    }
    default_name(cf);
    config_inherit(cf);
    return 0;
}
