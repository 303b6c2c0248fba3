/*
 * mdmctl [global flags] NOUN [VERB] [arguments]
 *
 * Global flags, then the environment, then the config file: the first that
 * sets a value wins. `mdmctl help` and `--help` after any verb print usage.
 */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "mdmctl.h"


static void mdmctl_usage(FILE *f);
static const struct mdmctl_verb *mdmctl_find(int argc, char **argv,
    int *consumed);
static char *mdmctl_default_config(void);


static const struct option  mdmctl_global_opts[] = {
    { "url",      required_argument, NULL, 'u' },
    { "api-key",  required_argument, NULL, 'k' },
    { "user",     required_argument, NULL, 'U' },
    { "cacert",   required_argument, NULL, 'C' },
    { "insecure", no_argument,       NULL, 'I' },
    { "timeout",  required_argument, NULL, 'T' },
    { "config",   required_argument, NULL, 'f' },
    { "json",     no_argument,       NULL, 'j' },
    { "verbose",  no_argument,       NULL, 'v' },
    { "help",     no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


int
main(int argc, char **argv)
{
    struct mdmctl_conf         conf = { .timeout = 30 }, flags = { 0 };
    const struct mdmctl_verb  *v;
    char                      *config = NULL, *end;
    int                        c, rc, consumed, i, file_required = 0;

    flags.insecure = -1;
    while ((c = getopt_long(argc, argv, "+hjv", mdmctl_global_opts, NULL))
           != -1) {
        switch (c) {
        case 'u': mdmctl_conf_set(&flags.url, optarg); break;
        case 'k': mdmctl_conf_set(&flags.api_key, optarg); break;
        case 'U': mdmctl_conf_set(&flags.user, optarg); break;
        case 'C': mdmctl_conf_set(&flags.cacert, optarg); break;
        case 'I': flags.insecure = 1; break;
        case 'T':
            flags.timeout = strtol(optarg, &end, 10);
            if (*end != '\0' || flags.timeout <= 0) {
                fprintf(stderr, "mdmctl: --timeout: seconds expected\n");
                return MDMCTL_USAGE;
            }
            break;
        case 'f': mdmctl_conf_set(&config, optarg); file_required = 1; break;
        case 'j': conf.json = 1; break;
        case 'v': conf.verbose = 1; break;
        case 'h': mdmctl_usage(stdout); return MDMCTL_OK;
        default: mdmctl_usage(stderr); return MDMCTL_USAGE;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc == 0 || strcmp(argv[0], "help") == 0) {
        if (argc >= 2)
            return mdmctl_verb_help(argv[1], argc > 2 ? argv[2] : NULL,
                                    stdout) ? MDMCTL_USAGE : MDMCTL_OK;
        mdmctl_usage(argc ? stdout : stderr);
        return argc ? MDMCTL_OK : MDMCTL_USAGE;
    }
    v = mdmctl_find(argc, argv, &consumed);
    if (v == NULL) {
        fprintf(stderr, "mdmctl: unknown command \"%s%s%s\"\n", argv[0],
                argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
        mdmctl_usage(stderr);
        return MDMCTL_USAGE;
    }
    for (i = consumed; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            mdmctl_verb_help(v->noun, v->verb, stdout);
            return MDMCTL_OK;
        }
    }

    if (config == NULL && getenv("MDMCTL_CONFIG")) {
        mdmctl_conf_set(&config, getenv("MDMCTL_CONFIG"));
        file_required = 1;
    }
    if (config == NULL)
        config = mdmctl_default_config();
    rc = mdmctl_conf_load(&conf, config, file_required);
    free(config);
    if (rc != MDMCTL_OK)
        goto done;
    if (flags.url) mdmctl_conf_set(&conf.url, flags.url);
    if (flags.api_key) mdmctl_conf_set(&conf.api_key, flags.api_key);
    if (flags.user) mdmctl_conf_set(&conf.user, flags.user);
    if (flags.cacert) mdmctl_conf_set(&conf.cacert, flags.cacert);
    if (flags.insecure != -1) conf.insecure = flags.insecure;
    if (flags.timeout) conf.timeout = flags.timeout;
    if (conf.user == NULL)
        mdmctl_conf_set(&conf.user, "nanomdm");
    if (conf.url == NULL) {
        fprintf(stderr, "mdmctl: no API URL: --url, MDMCTL_URL or url = in "
                "the config file\n");
        rc = MDMCTL_USAGE;
        goto done;
    }
    for (end = conf.url + strlen(conf.url); end > conf.url && end[-1] == '/';)
        *--end = '\0';

    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* the verb sees its own arguments with the verb word as argv[0] */
    rc = v->run(&conf, argc - consumed + 1, argv + consumed - 1);
    curl_global_cleanup();
done:
    free(conf.url);
    free(conf.api_key);
    free(conf.user);
    free(conf.cacert);
    free(flags.url);
    free(flags.api_key);
    free(flags.user);
    free(flags.cacert);
    return rc;
}


static const struct mdmctl_verb *
mdmctl_find(int argc, char **argv, int *consumed)
{
    const struct mdmctl_verb  *v;

    for (v = mdmctl_verbs; v->noun; v++) {
        if (strcmp(v->noun, argv[0]) != 0)
            continue;
        if (v->verb == NULL) {
            *consumed = 1;
            return v;
        }
        if (argc > 1 && strcmp(v->verb, argv[1]) == 0) {
            *consumed = 2;
            return v;
        }
    }
    return NULL;
}


int
mdmctl_verb_help(const char *noun, const char *verb, FILE *f)
{
    const struct mdmctl_verb  *v;
    int                        found = 0;

    for (v = mdmctl_verbs; v->noun; v++) {
        if (strcmp(v->noun, noun) != 0
            || (verb && v->verb && strcmp(v->verb, verb) != 0))
            continue;
        fprintf(f, "usage: mdmctl [global flags] %s%s%s %s\n%s\n\n", v->noun,
                v->verb ? " " : "", v->verb ? v->verb : "", v->synopsis,
                v->help);
        found = 1;
    }
    if (!found)
        fprintf(f, "mdmctl: no command \"%s%s%s\"\n", noun, verb ? " " : "",
                verb ? verb : "");
    return !found;
}


static char *
mdmctl_default_config(void)
{
    const char  *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char        *path;
    size_t       n;

    if ((xdg == NULL || *xdg == '\0') && home == NULL)
        return NULL;
    n = strlen(xdg && *xdg ? xdg : home) + 32;
    path = malloc(n);
    if (path == NULL)
        return NULL;
    if (xdg && *xdg)
        snprintf(path, n, "%s/mdmctl/config", xdg);
    else
        snprintf(path, n, "%s/.config/mdmctl/config", home);
    return path;
}


static void
mdmctl_usage(FILE *f)
{
    const struct mdmctl_verb  *v;

    fprintf(f,
        "usage: mdmctl [global flags] COMMAND [arguments]\n\n"
        "global flags (override MDMCTL_* variables, which override the "
        "config file):\n"
        "  --url URL         API server (MDMCTL_URL, url)\n"
        "  --api-key KEY     API key (MDMCTL_API_KEY, api_key)\n"
        "  --user NAME       HTTP Basic user, default nanomdm (MDMCTL_USER, "
        "user)\n"
        "  --cacert FILE     CA of the server's TLS certificate "
        "(MDMCTL_CACERT, cacert)\n"
        "  --insecure        do not verify TLS (MDMCTL_INSECURE, insecure)\n"
        "  --timeout SEC     per HTTP call, default 30 (MDMCTL_TIMEOUT, "
        "timeout)\n"
        "  --config FILE     default $XDG_CONFIG_HOME/mdmctl/config or\n"
        "                    ~/.config/mdmctl/config (MDMCTL_CONFIG)\n"
        "  --json            print the API's JSON instead of tables\n"
        "  -v, --verbose     print each HTTP call on stderr\n\n"
        "commands (mdmctl COMMAND --help for each):\n");
    for (v = mdmctl_verbs; v->noun; v++)
        fprintf(f, "  %s%s%s %s\n", v->noun, v->verb ? " " : "",
                v->verb ? v->verb : "", v->synopsis);
    fprintf(f,
        "\nexit codes: 0 ok; 1 the API refused (4xx) or some targets failed;"
        "\n2 usage; 3 server error (5xx), transport or TLS failure; 4 a local "
        "file\nor the configuration cannot be used.\n");
}
