/*
 * mdm-worker --check-config (-t): every problem of the configuration, one
 * line each naming the key, before a start or a reload (the systemd unit
 * runs it as ExecStartPre). Exit 0 when there is none, 1 otherwise.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dep_token.h"
#include "redis_addr.h"
#include "webhook_conf.h"


static void
print_problem(void *ctx, const char *msg)
{
    int *n = ctx;

    fprintf(stderr, "mdm-worker: %s\n", msg);
    (*n)++;
}


static void
problem(int *n, const char *key, const char *what, const char *value)
{
    char msg[WK_CONFIG_STR_MAX + 384];

    snprintf(msg, sizeof(msg), "%s: \"%.*s\" %.256s", key,
             WK_CONFIG_STR_MAX, value, what);
    print_problem(n, msg);
}


static int
valid_url(const char *url)
{
    const char *host = strncmp(url, "https://", 8) == 0 ? url + 8
                       : strncmp(url, "http://", 7) == 0 ? url + 7 : NULL;

    return host != NULL && *host != '\0' && *host != '/' && *host != ':';
}


static void
check_file(int *n, const char *key, const char *path)
{
    if (path[0] != '\0' && access(path, R_OK) != 0) {
        problem(n, key, "is not a readable file", path);
    }
}


/*
 * host:port, [ipv6]:port, a unix socket path, or "cluster" and seeds: the
 * names resolve now, as they will at start.
 */
static void
check_redis(int *n, const char *addr)
{
    wk_redis_addr_t  a;
    char             err[256], msg[WK_CONFIG_STR_MAX + 320];

    if (wk_redis_addr_parse(addr, &a, err, sizeof(err)) != 0) {
        snprintf(msg, sizeof(msg), "redis: \"%s\": %s", addr, err);
        print_problem(n, msg);
    }
}


/* The worker's own parser (webhook_conf.c), then the files it names. */
static void
check_webhook(int *n, const wk_config_t *cf, const char *line,
              wk_webhook_conf_t *wc)
{
    char err[256];

    if (wk_webhook_conf_parse(line, cf, wc, err, sizeof(err)) != 0) {
        problem(n, "webhook", err, line);
        wc->name[0] = '\0';
        return;
    }
    if (strcmp(wc->ca, cf->webhook_ca) != 0) {
        check_file(n, "webhook ca=", wc->ca);
    }
}


static void
check_webhooks(int *n, const wk_config_t *cf)
{
    wk_webhook_conf_t wc[WK_WEBHOOKS_MAX];

    for (int i = 0; i < cf->nwebhooks; i++) {
        check_webhook(n, cf, cf->webhooks[i], &wc[i]);
        for (int j = 0; j < i && wc[i].name[0]; j++) {
            if (strcmp(wc[j].name, wc[i].name) == 0) {
                problem(n, "webhook", "names a webhook configured before",
                        wc[i].name);
            }
        }
    }
}


/* Each token decrypted as a start would (a bad file, the wrong key), and
 * the seal key they need. */
static void
check_dep(int *n, const wk_config_t *cf)
{
    unsigned char key[MDM_DEP_SEAL_KEY_LEN];
    char err[1024];
    wk_dep_token_t *t;

    if (cf->ndep_tokens == 0) {
        return;
    }
    if (!valid_url(cf->dep_url)) {
        problem(n, "dep_url", "is not an http(s):// URL", cf->dep_url);
    }
    check_file(n, "dep_ca", cf->dep_ca);
    if (mdm_dep_seal_key_hex(cf->dep_seal_key, key) != 0) {
        print_problem(n, "dep_seal_key: must be 64 hex digits with dep_token");
    }
    t = malloc(sizeof(*t));
    for (int i = 0; t && i < cf->ndep_tokens; i++) {
        if (wk_dep_token_load(cf->dep_tokens[i], t, err, sizeof(err)) != 0) {
            print_problem(n, err);
        }
        mdm_dep_token_clear(&t->tok);
    }
    free(t);
}


static void
check_order(int *n, const char *lo_key, long lo, const char *hi_key, long hi)
{
    char msg[256];

    if (lo > hi) {
        snprintf(msg, sizeof(msg), "%s (%ld) is larger than %s (%ld)",
                 lo_key, lo, hi_key, hi);
        print_problem(n, msg);
    }
}


static void
check_values(int *n, const wk_config_t *cf)
{
    if (!valid_url(cf->apns_url)) {
        problem(n, "apns_url", "is not an http(s):// URL", cf->apns_url);
    }
    check_file(n, "apns_ca", cf->apns_ca);
    if (cf->vpp_url[0] && !valid_url(cf->vpp_url)) {
        problem(n, "vpp_url", "is not an http(s):// URL", cf->vpp_url);
    }
    if (cf->vpp_notify_url[0] && strncmp(cf->vpp_notify_url, "https://", 8) != 0) {
        /* Apple refuses a notification URL that is not https (9710) */
        problem(n, "vpp_notify_url", "is not an https:// URL", cf->vpp_notify_url);
    }
    check_file(n, "vpp_ca", cf->vpp_ca);
    check_file(n, "webhook_ca", cf->webhook_ca);
    check_redis(n, cf->redis);
    check_webhooks(n, cf);
    check_dep(n, cf);
    check_order(n, "backoff_base_ms", cf->backoff_base_ms,
                "backoff_max_ms", cf->backoff_max_ms);
    check_order(n, "webhook_backoff_base_ms", cf->webhook_backoff_base_ms,
                "webhook_backoff_max_ms", cf->webhook_backoff_max_ms);
}


int
wk_config_check(int argc, char **argv)
{
    wk_config_t *cf = calloc(1, sizeof(*cf));
    char **args = calloc((size_t) argc + 1, sizeof(char *));
    int nargs = 0, n = 0;
    char err[512];

    if (cf == NULL || args == NULL) {
        free(cf);
        free(args);
        fprintf(stderr, "mdm-worker: out of memory\n");
        return 1;
    }
    wk_config_defaults(cf);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-t") == 0
            || strcmp(argv[i], "--check-config") == 0)
        {
            continue;
        }
        if (i + 1 < argc && (strcmp(argv[i], "-c") == 0
                             || strcmp(argv[i], "--config") == 0))
        {
            /* every bad line of the file; the flags are checked below */
            n += wk_config_load_each(cf, argv[i + 1], print_problem,
                                     &(int) {0});
        }
        args[nargs++] = argv[i];
    }
    if (n == 0) {
        /* the file is good: the flags on top of it, as a start does */
        wk_config_defaults(cf);
        if (wk_config_from_args(cf, nargs, args, err, sizeof(err)) != 0) {
            print_problem(&n, err);
        }
    }
    check_values(&n, cf);
    free(args);
    free(cf);
    return n;
}
