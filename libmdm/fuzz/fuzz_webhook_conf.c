/*
 * libFuzzer target for a `webhook` line of mdm-worker's configuration
 * (worker/webhook_conf.c), which the worker and --check-config share. The
 * input is the line (its first NUL or WK_CONFIG_STR_MAX - 1 bytes, as
 * config.c keeps it), then after a NUL an event topic and a Status for
 * the topic filter. A refused line says why; an accepted one has a name of
 * the narrow alphabet, an http(s) URL with a host, terminated strings, a
 * topic list in its ",a,b," form, and wants every topic it names.
 */

#include "fuzz.h"
#include "webhook_conf.h"


static void
fuzz_terminated(const char *s, size_t size)
{
    fuzz_assert(memchr(s, '\0', size) != NULL);
}


static void
fuzz_check_accepted(const wk_webhook_conf_t *wc)
{
    const char *p, *e;
    char        topic[WK_CONFIG_STR_MAX];

    fuzz_terminated(wc->name, sizeof(wc->name));
    fuzz_terminated(wc->url, sizeof(wc->url));
    fuzz_terminated(wc->topics, sizeof(wc->topics));
    fuzz_terminated(wc->hmac_key, sizeof(wc->hmac_key));
    fuzz_terminated(wc->ca, sizeof(wc->ca));

    fuzz_assert(wc->name[0] != '\0'
                && strspn(wc->name, "abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789-_.") == strlen(wc->name));
    fuzz_assert(strncmp(wc->url, "http://", 7) == 0
                || strncmp(wc->url, "https://", 8) == 0);
    fuzz_assert(strchr("/:", wc->url[wc->url[4] == 's' ? 8 : 7]) == NULL);
    fuzz_assert(wc->skip_idle == 0 || wc->skip_idle == 1);

    if (wc->topics[0] == '\0') {
        fuzz_assert(wk_webhook_conf_wants(wc, "mdm.Authenticate", NULL));
        return;
    }

    /* ",a,b,": every non-empty name between commas is wanted */
    fuzz_assert(wc->topics[0] == ','
                && wc->topics[strlen(wc->topics) - 1] == ',');
    for (p = wc->topics + 1; *p; p = e + 1) {
        e = strchr(p, ',');
        fuzz_assert(e != NULL);
        if (e > p) {
            memcpy(topic, p, e - p);
            topic[e - p] = '\0';
            fuzz_assert(wk_webhook_conf_wants(wc, topic, "Acknowledged"));
        }
    }
    fuzz_assert(!wk_webhook_conf_wants(wc, "", NULL));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char               line[WK_CONFIG_STR_MAX], err[256], rest[128];
    const uint8_t     *nul;
    size_t             n;
    wk_webhook_conf_t  wc;
    static int         ready;
    static wk_config_t cf;          /* large: its defaults once */

    n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
    memcpy(line, data, n);
    line[n] = '\0';

    /* what follows the line's NUL: "<topic>\0<status>" for wants() */
    rest[0] = '\0';
    nul = memchr(data, '\0', size);
    if (nul != NULL) {
        n = size - (nul + 1 - data);
        n = n < sizeof(rest) - 2 ? n : sizeof(rest) - 2;
        memcpy(rest, nul + 1, n);
        rest[n] = rest[n + 1] = '\0';
    }

    if (!ready) {
        wk_config_defaults(&cf);
        ready = 1;
    }
    err[0] = '\0';

    if (wk_webhook_conf_parse(line, &cf, &wc, err, sizeof(err)) != 0) {
        fuzz_check_msg(err, sizeof(err));
        return 0;
    }

    fuzz_check_accepted(&wc);
    (void) wk_webhook_conf_wants(&wc, rest, rest + strlen(rest) + 1);
    return 0;
}
