/*
 * Configuration: a file of "key = value" lines, then the environment, then
 * flags (main.c), each overriding the one before.
 */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mdmctl.h"


static int mdmctl_conf_apply(struct mdmctl_conf *conf, const char *key,
    const char *value);
static char *mdmctl_trim(char *s);


void
mdmctl_conf_set(char **field, const char *value)
{
    free(*field);
    *field = value ? strdup(value) : NULL;
}


/*
 * Reads the file (missing is fine unless it was named explicitly), then the
 * MDMCTL_* variables.
 */
int
mdmctl_conf_load(struct mdmctl_conf *conf, const char *file,
    int file_required)
{
    static const struct { const char *env, *key; } envs[] = {
        { "MDMCTL_URL", "url" }, { "MDMCTL_API_KEY", "api_key" },
        { "MDMCTL_USER", "user" }, { "MDMCTL_CACERT", "cacert" },
        { "MDMCTL_INSECURE", "insecure" }, { "MDMCTL_TIMEOUT", "timeout" },
    };
    char    line[4096], *eq, *key, *value;
    FILE   *f;
    int     lineno = 0;
    size_t  i;

    f = file ? fopen(file, "r") : NULL;
    if (f == NULL && file && (file_required || errno != ENOENT)) {
        fprintf(stderr, "mdmctl: config %s: %s\n", file, strerror(errno));
        return MDMCTL_LOCAL;
    }
    while (f && fgets(line, sizeof(line), f)) {
        lineno++;
        key = mdmctl_trim(line);
        if (*key == '\0' || *key == '#')
            continue;
        eq = strchr(key, '=');
        if (eq == NULL) {
            fprintf(stderr, "mdmctl: config %s:%d: expected key = value\n",
                    file, lineno);
            fclose(f);
            return MDMCTL_LOCAL;
        }
        *eq = '\0';
        key = mdmctl_trim(key);
        value = mdmctl_trim(eq + 1);
        if (mdmctl_conf_apply(conf, key, value) != 0) {
            fprintf(stderr, "mdmctl: config %s:%d: unknown key or bad value "
                    "\"%s\"\n", file, lineno, key);
            fclose(f);
            return MDMCTL_LOCAL;
        }
    }
    if (f)
        fclose(f);

    for (i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
        const char *v = getenv(envs[i].env);
        if (v && *v && mdmctl_conf_apply(conf, envs[i].key, v) != 0) {
            fprintf(stderr, "mdmctl: bad value in %s\n", envs[i].env);
            return MDMCTL_LOCAL;
        }
    }
    return MDMCTL_OK;
}


static int
mdmctl_conf_apply(struct mdmctl_conf *conf, const char *key,
    const char *value)
{
    char  *end;

    if (strcmp(key, "url") == 0) {
        mdmctl_conf_set(&conf->url, value);
    } else if (strcmp(key, "api_key") == 0) {
        mdmctl_conf_set(&conf->api_key, value);
    } else if (strcmp(key, "user") == 0) {
        mdmctl_conf_set(&conf->user, value);
    } else if (strcmp(key, "cacert") == 0) {
        mdmctl_conf_set(&conf->cacert, value);
    } else if (strcmp(key, "insecure") == 0) {
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0)
            conf->insecure = 1;
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0)
            conf->insecure = 0;
        else
            return -1;
    } else if (strcmp(key, "timeout") == 0) {
        conf->timeout = strtol(value, &end, 10);
        if (*value == '\0' || *end != '\0' || conf->timeout <= 0)
            return -1;
    } else {
        return -1;
    }
    return 0;
}


static char *
mdmctl_trim(char *s)
{
    char  *end;

    while (isspace((unsigned char) *s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char) end[-1]))
        *--end = '\0';
    return s;
}
