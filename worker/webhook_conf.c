/*
 * A `webhook` configuration line, read for the worker and for
 * --check-config alike (webhook_conf.h).
 */

#include <stdio.h>
#include <string.h>

#include "webhook_conf.h"

#define WK_WEBHOOK_USAGE  "<name> <http(s)://url> [topics=a,b|all] " \
                          "[skip_idle=0|1] [hmac_key=...] [ca=...]"


/* A name goes into Redis key names and log lines: a narrow alphabet. */
static int
valid_name(const char *s)
{
    if (*s == '\0' || strlen(s) >= WK_WEBHOOK_NAME_MAX) {
        return 0;
    }
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'
              || *s == '.'))
        {
            return 0;
        }
    }
    return 1;
}


static int
valid_url(const char *url)
{
    const char *host = strncmp(url, "https://", 8) == 0 ? url + 8
                       : strncmp(url, "http://", 7) == 0 ? url + 7 : NULL;

    return host != NULL && *host != '\0' && *host != '/' && *host != ':';
}


/* The option's bit in seen, or -1 when it is no option of ours. */
static int
option(wk_webhook_conf_t *wc, const char *opt, char *err, size_t errlen)
{
    if (strncmp(opt, "topics=", 7) == 0) {
        if (opt[7] == '\0' || strspn(opt + 7, ",") == strlen(opt + 7)) {
            snprintf(err, errlen, "topics= names no topic (all: topics=all)");
            return -2;
        }
        if (strcmp(opt + 7, "all") == 0) {
            wc->topics[0] = '\0';
        } else {
            snprintf(wc->topics, sizeof(wc->topics), ",%s,", opt + 7);
        }
        return 0;
    }
    if (strcmp(opt, "skip_idle=1") == 0 || strcmp(opt, "skip_idle=0") == 0) {
        wc->skip_idle = opt[10] == '1';
        return 1;
    }
    if (strncmp(opt, "hmac_key=", 9) == 0) {
        snprintf(wc->hmac_key, sizeof(wc->hmac_key), "%s", opt + 9);
        return 2;
    }
    if (strncmp(opt, "ca=", 3) == 0) {
        snprintf(wc->ca, sizeof(wc->ca), "%s", opt + 3);
        return 3;
    }
    snprintf(err, errlen, "unknown option \"%.64s\", expected "
             WK_WEBHOOK_USAGE, opt);
    return -2;
}


int
wk_webhook_conf_parse(const char *line, const wk_config_t *cf,
                      wk_webhook_conf_t *wc, char *err, size_t errlen)
{
    char buf[WK_CONFIG_STR_MAX], *save = NULL, *name, *url, *opt;
    unsigned seen = 0;
    int bit;

    memset(wc, 0, sizeof(*wc));
    snprintf(buf, sizeof(buf), "%s", line);
    name = strtok_r(buf, " \t", &save);
    url = strtok_r(NULL, " \t", &save);

    if (name == NULL || url == NULL) {
        snprintf(err, errlen, "expected " WK_WEBHOOK_USAGE);
        return -1;
    }
    if (!valid_name(name)) {
        snprintf(err, errlen, "expected a name of letters, digits, '-', '_' "
                 "and '.' (at most %d), not \"%.64s\"",
                 WK_WEBHOOK_NAME_MAX - 1, name);
        return -1;
    }
    if (!valid_url(url)) {
        snprintf(err, errlen, "expected an http:// or https:// URL with a "
                 "host, not \"%.64s\"", url);
        return -1;
    }

    snprintf(wc->name, sizeof(wc->name), "%s", name);
    snprintf(wc->url, sizeof(wc->url), "%s", url);
    snprintf(wc->hmac_key, sizeof(wc->hmac_key), "%s", cf->webhook_hmac_key);
    snprintf(wc->ca, sizeof(wc->ca), "%s", cf->webhook_ca);

    while ((opt = strtok_r(NULL, " \t", &save)) != NULL) {
        bit = option(wc, opt, err, errlen);
        if (bit < 0) {
            return -1;
        }
        if (seen & (1u << bit)) {
            snprintf(err, errlen, "option \"%.*s\" given twice",
                     (int) (strchr(opt, '=') - opt + 1), opt);
            return -1;
        }
        seen |= 1u << bit;
    }
    return 0;
}


int
wk_webhook_conf_wants(const wk_webhook_conf_t *wc, const char *topic,
                      const char *status)
{
    if (wc->skip_idle && strcmp(topic, "mdm.Connect") == 0
        && status && strcmp(status, "Idle") == 0)
    {
        return 0;
    }
    if (wc->topics[0] == '\0') {
        return 1;
    }
    size_t n = strlen(topic);
    if (n == 0) {
        return 0;                    /* "" would match between any two bytes */
    }
    for (const char *p = strstr(wc->topics, topic); p;
         p = strstr(p + 1, topic))
    {
        /* a topic starting with ',' may match at the very start */
        if (p > wc->topics && p[-1] == ',' && p[n] == ',') {
            return 1;
        }
    }
    return 0;
}
