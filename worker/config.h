#ifndef WK_CONFIG_H
#define WK_CONFIG_H

/*
 * mdm-worker configuration: `key = value` lines in a file, each key also
 * settable as a flag (`--apns-url URL` sets apns_url). Every key and its
 * default are in one table in config.c and documented in docs/worker.md.
 */

#include <stdio.h>

#define WK_CONFIG_STR_MAX 512
#define WK_WEBHOOKS_MAX   16
#define WK_DEP_TOKENS_MAX 16

typedef struct {
    char redis[WK_CONFIG_STR_MAX];        /* host:port, or a unix socket path */
    char name[WK_CONFIG_STR_MAX];         /* consumer name in group pushers */
    char apns_url[WK_CONFIG_STR_MAX];
    char apns_ca[WK_CONFIG_STR_MAX];      /* empty: the system CA store */
    char log_level[WK_CONFIG_STR_MAX];
    long apns_expiration;                 /* s from now; 0: one attempt */
    long apns_ping_idle;                  /* s idle before a PING */
    long apns_timeout_ms;                 /* connect, PING and response */
    long push_batch;                      /* XREADGROUP COUNT */
    long push_block_ms;                   /* XREADGROUP BLOCK */
    long push_claim_idle_ms;              /* pushers' XAUTOCLAIM min-idle */
    long push_claim_interval_ms;
    long push_max_inflight;               /* jobs held before reading more */
    long max_attempts;
    long backoff_base_ms;
    long backoff_max_ms;
    long cert_check_interval;             /* s between pushcert `updated` checks */
    long redis_timeout_ms;
    long redis_error_log_interval_ms;
    long sweep_interval_ms;               /* expiry and re-push sweeps */
    long sweep_batch;                     /* IDs one sweep call touches */
    long result_retention;                /* s an Expired result is kept */
    long events_maxlen;                   /* XADD mdm:events MAXLEN ~ */
    long repush_silent_after;             /* s; 0: no silent-device re-push */
    long repush_notnow_after;             /* s; 0: no NotNow re-push */
    long push_coalesce_ms;                /* per-enrollment push window */
    long metrics_interval_ms;             /* HINCRBY mdm:metrics:worker */
    /* `webhook = <name> <url> [options]` lines as written (webhook.c) */
    char webhooks[WK_WEBHOOKS_MAX][WK_CONFIG_STR_MAX];
    int  nwebhooks;
    char webhook_hmac_key[WK_CONFIG_STR_MAX]; /* default for every webhook */
    char webhook_ca[WK_CONFIG_STR_MAX];   /* empty: the system CA store */
    long webhook_timeout_ms;              /* one POST, connect included */
    long webhook_retry_for;               /* s from the event to dead letter */
    long webhook_backoff_base_ms;
    long webhook_backoff_max_ms;
    long webhook_concurrency;             /* POSTs in flight per webhook */
    long webhook_max_held;                /* events held per webhook */
    long webhook_block_ms;                /* 0 in the file: push_block_ms */
    long webhook_claim_idle_ms;           /* 0: push_claim_idle_ms */
    long webhook_claim_interval_ms;       /* 0: push_claim_interval_ms */
    /* identity renewal (renew.c, docs/ade.md); renew_interval_ms 0: off */
    long renew_interval_ms;
    long renew_window;                    /* s before not_after */
    long renew_batch;                     /* certificates per tick */
    long renew_challenge_ttl;             /* s */
    long renew_retry_base;                /* s: first backoff of a failure */
    long renew_retry_max;                 /* s: longest backoff */
    long renew_retries;                   /* attempts before giving up */
    char renew_server_url[WK_CONFIG_STR_MAX];
    char renew_checkin_url[WK_CONFIG_STR_MAX];
    char renew_topic[WK_CONFIG_STR_MAX];
    char renew_scep_url[WK_CONFIG_STR_MAX];
    char renew_identifier[WK_CONFIG_STR_MAX];
    char renew_organization[WK_CONFIG_STR_MAX];
    char renew_signer_cert[WK_CONFIG_STR_MAX];
    char renew_signer_key[WK_CONFIG_STR_MAX];
    char renew_signer_chain[WK_CONFIG_STR_MAX];
    /* Apps and Books (vpp.c, docs/vpp.md); vpp_url empty: off */
    char vpp_url[WK_CONFIG_STR_MAX];      /* .../mdm/v2 */
    char vpp_ca[WK_CONFIG_STR_MAX];       /* empty: the system CA store */
    char vpp_notify_url[WK_CONFIG_STR_MAX]; /* mdm_vpp_notify base URL */
    char vpp_mdm_id[WK_CONFIG_STR_MAX];   /* our mdmInfo.id */
    long vpp_interval_ms;                 /* between rounds over locations */
    long vpp_poll_interval;               /* s between /status polls */
    long vpp_sync_interval;               /* s between full asset syncs */
    long vpp_config_interval;             /* s between /client/config checks */
    long vpp_timeout_ms;                  /* one request */
    long vpp_lease_ms;                    /* a location's lease */
    long vpp_backoff_base;                /* s, without Retry-After */
    long vpp_backoff_max;                 /* s */
    /* Device Assignment (dep.c, docs/dep.md): `dep_token = <name> <p7m>
     * <key>` lines as written; nothing is synced without one */
    char dep_tokens[WK_DEP_TOKENS_MAX][WK_CONFIG_STR_MAX];
    int  ndep_tokens;
    char dep_url[WK_CONFIG_STR_MAX];      /* Apple's, or dep-mock's */
    char dep_ca[WK_CONFIG_STR_MAX];       /* empty: the system CA store */
    char dep_seal_key[WK_CONFIG_STR_MAX]; /* 64 hex: secrets at rest */
    long dep_interval_ms;                 /* between syncs */
    long dep_page_limit;                  /* devices per fetch/sync call */
    long dep_protocol_version;            /* X-Server-Protocol-Version */
    long dep_lease_ms;                    /* one worker per token */
    long dep_timeout_ms;                  /* one call, connect included */
    long dep_backoff_base_ms;             /* after a 429, 5xx or no answer */
    long dep_backoff_max_ms;
} wk_config_t;

/* Fills every field with its default. */
void wk_config_defaults(wk_config_t *cf);

/* Sets one key from its text value; -1 with a message in err if invalid. */
int wk_config_set(wk_config_t *cf, const char *key, const char *value,
                  char *err, size_t errlen);

/* Called with one line per configuration problem found. */
typedef void (*wk_config_problem_pt)(void *ctx, const char *msg);

/* Reads `key = value` lines (# comments), reporting every bad line;
 * returns the number of problems. */
int wk_config_load_each(wk_config_t *cf, const char *path,
                        wk_config_problem_pt problem, void *ctx);

/* Reads `key = value` lines (# comments); -1 with a message in err. */
int wk_config_load(wk_config_t *cf, const char *path, char *err,
                   size_t errlen);

/* As wk_config_load from an open stream; path only names it in messages. */
int wk_config_read(wk_config_t *cf, FILE *f, const char *path, char *err,
                   size_t errlen);

/* Parses argv (-c FILE first, then --key value overrides), then fills
 * the default consumer name; -1 on error. */
int wk_config_from_args(wk_config_t *cf, int argc, char **argv, char *err,
                        size_t errlen);

/* --check-config: parses argv as wk_config_from_args does (minus -t and
 * --check-config) and validates the result (files readable, URLs, ranges,
 * webhook lines); one line per problem on stderr, returns their number. */
int wk_config_check(int argc, char **argv);

#endif
