/*
 * The enrollment verbs: one-time links (/v1/enroll/tokens) and the ADE
 * known-serials registry (/v1/enroll/devices), docs/api.md.
 */

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "mdmctl.h"


/*
 * One call on prefix<ARG>suffix, the verb's only argument. A 204 has no
 * body: the table form prints `done`, --json prints nothing.
 */
int
mdmctl_one_call(struct mdmctl_conf *conf, int argc, char **argv,
    const char *noun, const char *method, const char *prefix,
    const char *suffix, void (*table)(json_t *root), const char *done)
{
    struct mdmctl_resp  resp;
    char                path[4096];

    if (argc != 2)
        return mdmctl_usage_error(noun, argv[0], "one argument expected");
    if (mdmctl_path_ids(path, sizeof(path) - 64, prefix, argv + 1, 1))
        return MDMCTL_USAGE;
    strcat(path, suffix);
    mdmctl_http(conf, method, path, NULL, 0, NULL, &resp);
    if (resp.status == 204) {
        if (!conf->json)
            printf("%s %s\n", done, argv[1]);
        mdmctl_resp_free(&resp);
        return MDMCTL_OK;
    }
    return mdmctl_finish(conf, &resp, table);
}


/* --- links ----------------------------------------------------------- */

static void
mdmctl_link_created_table(json_t *root)
{
    printf("token %s\nurl   %s\n", mdmctl_str(root, "token"),
           mdmctl_str(root, "url"));
}


static json_t *
mdmctl_link_body(int argc, char **argv)
{
    static const struct option  opts[] = {
        { "user", required_argument, NULL, 'u' },
        { "tag", required_argument, NULL, 't' },
        { "expires-in", required_argument, NULL, 'e' },
        { NULL, 0, NULL, 0 }
    };
    json_t     *body = json_object(), *tags = json_array();
    char       *end;
    long long   s;
    int         c;

    optind = 0;
    while ((c = mdmctl_opt(argc, argv, opts)) != -1) {
        switch (c) {
        case 'u':
            json_object_set_new(body, "user", json_string(optarg));
            break;
        case 't':
            json_array_append_new(tags, json_string(optarg));
            break;
        case 'e':
            /* the range (60…31536000) is the server's to say */
            errno = 0;
            s = strtoll(optarg, &end, 10);
            if (errno || end == optarg || *end != '\0')
                goto bad;
            json_object_set_new(body, "expires_in", json_integer(s));
            break;
        default:
            goto bad;
        }
    }
    if (optind != argc)
        goto bad;
    if (json_array_size(tags))
        json_object_set(body, "tags", tags);
    json_decref(tags);
    return body;
bad:
    json_decref(tags);
    json_decref(body);
    return NULL;
}


int
mdmctl_links_create(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_resp  resp;
    json_t             *body;
    char               *text;

    body = mdmctl_link_body(argc, argv);
    if (body == NULL)
        return mdmctl_usage_error("links", "create", "bad arguments");
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL)
        return MDMCTL_LOCAL;
    mdmctl_http(conf, "POST", "/v1/enroll/tokens", text, strlen(text),
                "application/json", &resp);
    free(text);
    return mdmctl_finish(conf, &resp, mdmctl_link_created_table);
}


static void
mdmctl_links_table(json_t *root)
{
    json_t  *e;
    size_t   i;

    printf("%-32s %-20s %s\n", "TOKEN", "EXPIRES", "URL");
    json_array_foreach(json_object_get(root, "tokens"), i, e)
        printf("%-32s %-20s %s\n", mdmctl_str(e, "token"),
               mdmctl_str(e, "expires"), mdmctl_str(e, "url"));
    mdmctl_print_cursor(root);
}


int
mdmctl_links_list(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_page_args  a;
    char                     path[8192];

    if (mdmctl_page_parse(argc, argv, "lca", &a) != 0 || optind < argc)
        return mdmctl_usage_error("links", "list", "bad arguments");
    snprintf(path, sizeof(path), "/v1/enroll/tokens%s", a.q.buf);
    return mdmctl_paged(conf, path, "tokens", a.all, mdmctl_links_table);
}


int
mdmctl_links_show(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_one_call(conf, argc, argv, "links", "GET",
                           "/v1/enroll/tokens/", "", mdmctl_print_object,
                           NULL);
}


int
mdmctl_links_delete(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_one_call(conf, argc, argv, "links", "DELETE",
                           "/v1/enroll/tokens/", "", NULL, "deleted");
}


/* --- known serials --------------------------------------------------- */

static void
mdmctl_device_registered_table(json_t *root)
{
    printf("%s %s\n", json_is_true(json_object_get(root, "created"))
           ? "registered" : "already registered",
           mdmctl_str(root, "serial"));
}


int
mdmctl_devices_register(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_one_call(conf, argc, argv, "devices", "PUT",
                           "/v1/enroll/devices/", "",
                           mdmctl_device_registered_table, NULL);
}


int
mdmctl_devices_show(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_one_call(conf, argc, argv, "devices", "GET",
                           "/v1/enroll/devices/", "", mdmctl_print_object,
                           NULL);
}


int
mdmctl_devices_unregister(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_one_call(conf, argc, argv, "devices", "DELETE",
                           "/v1/enroll/devices/", "", NULL, "unregistered");
}
