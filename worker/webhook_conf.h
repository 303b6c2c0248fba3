#ifndef WK_WEBHOOK_CONF_H
#define WK_WEBHOOK_CONF_H

/*
 * One `webhook` line of the worker's configuration (docs/webhooks.md):
 * "<name> <http(s)://url> [topics=a,b|all] [skip_idle=0|1] [hmac_key=K]
 * [ca=FILE]". The worker and --check-config read it with the same parser,
 * so that a line the check passes is one the worker starts with.
 */

#include <stddef.h>

#include "config.h"

#define WK_WEBHOOK_NAME_MAX  64

typedef struct {
    char    name[WK_WEBHOOK_NAME_MAX];
    char    url[WK_CONFIG_STR_MAX];
    char    topics[WK_CONFIG_STR_MAX];   /* ",a,b,"; "" = all */
    char    hmac_key[WK_CONFIG_STR_MAX]; /* default: webhook_hmac_key */
    char    ca[WK_CONFIG_STR_MAX];       /* default: webhook_ca */
    int     skip_idle;
} wk_webhook_conf_t;

/* 0, or -1 with why in err (the line is not repeated there). */
int wk_webhook_conf_parse(const char *line, const wk_config_t *cf,
                          wk_webhook_conf_t *wc, char *err, size_t errlen);

/* Whether the webhook wants an event of this topic (and report Status,
 * NULL for check-ins). */
int wk_webhook_conf_wants(const wk_webhook_conf_t *wc, const char *topic,
                          const char *status);

#endif
