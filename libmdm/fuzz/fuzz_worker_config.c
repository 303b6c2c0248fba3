/*
 * libFuzzer target for mdm-worker's configuration file parser (`key =
 * value` lines). A refused file says why; an accepted one leaves every
 * string field NUL-terminated within its buffer, and each of its `webhook`
 * lines is read as the worker reads it at start.
 */

#include <stdio.h>

#include "fuzz.h"
#include "config.h"
#include "webhook_conf.h"


static void
fuzz_terminated(const char *s)
{
    fuzz_assert(memchr(s, '\0', WK_CONFIG_STR_MAX) != NULL);
}


/* each webhook line as the worker reads it at start (webhook_conf.c) */
static void
fuzz_webhook_line(const wk_config_t *cf, const char *line)
{
    char               err[256];
    wk_webhook_conf_t  wc;

    err[0] = '\0';
    if (wk_webhook_conf_parse(line, cf, &wc, err, sizeof(err)) != 0) {
        fuzz_check_msg(err, sizeof(err));
    } else {
        fuzz_terminated(wc.url);
        fuzz_terminated(wc.hmac_key);
        fuzz_terminated(wc.ca);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int           i;
    FILE         *f;
    char          err[512];
    wk_config_t   cf;

    if (size == 0) {
        return 0;
    }

    f = fmemopen((void *) data, size, "r");
    fuzz_assert(f != NULL);

    wk_config_defaults(&cf);
    err[0] = '\0';

    if (wk_config_read(&cf, f, "fuzz.conf", err, sizeof(err)) != 0) {
        fuzz_check_msg(err, sizeof(err));

    } else {
        fuzz_terminated(cf.redis);
        fuzz_terminated(cf.name);
        fuzz_terminated(cf.apns_url);
        fuzz_terminated(cf.apns_ca);
        fuzz_terminated(cf.log_level);
        fuzz_terminated(cf.webhook_hmac_key);
        fuzz_terminated(cf.webhook_ca);
        fuzz_assert(cf.nwebhooks >= 0 && cf.nwebhooks <= WK_WEBHOOKS_MAX);
        for (i = 0; i < cf.nwebhooks; i++) {
            fuzz_terminated(cf.webhooks[i]);
            fuzz_webhook_line(&cf, cf.webhooks[i]);
        }
    }

    fclose(f);
    return 0;
}
