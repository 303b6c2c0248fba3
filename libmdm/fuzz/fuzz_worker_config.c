/*
 * libFuzzer target for mdm-worker's configuration file parser (`key =
 * value` lines). A refused file says why; an accepted one leaves every
 * string field NUL-terminated within its buffer.
 */

#include <stdio.h>

#include "fuzz.h"
#include "config.h"


static void
fuzz_terminated(const char *s)
{
    fuzz_assert(memchr(s, '\0', WK_CONFIG_STR_MAX) != NULL);
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
        }
    }

    fclose(f);
    return 0;
}
