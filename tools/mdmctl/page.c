/*
 * Paged lists (cursor, limit, --all) and the options the list verbs share.
 */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "mdmctl.h"


/* A cursor is a string, or (GET /v1/certificates) a position; NULL at the end. */
static const char *
mdmctl_cursor_str(json_t *cursor)
{
    static char  buf[32];

    if (json_is_string(cursor))
        return json_string_value(cursor);
    if (json_is_integer(cursor)) {
        snprintf(buf, sizeof(buf), "%lld",
                 (long long) json_integer_value(cursor));
        return buf;
    }
    return NULL;
}


/*
 * One page, or with --all every page merged into the first answer's object
 * (array `key`, next_cursor null), printed like one page.
 */
int
mdmctl_paged(struct mdmctl_conf *conf, const char *path, const char *key,
    int all, void (*table)(json_t *root))
{
    struct mdmctl_resp  resp;
    json_t             *merged = NULL, *page, *cursor;
    char               *url, *esc;
    size_t              n;
    int                 rc;
    const char         *next = NULL;
    char               *next_copy = NULL;

    n = strlen(path) + 1024;
    url = malloc(n);
    if (url == NULL)
        return MDMCTL_LOCAL;
    snprintf(url, n, "%s", path);
    for ( ;; ) {
        mdmctl_http(conf, "GET", url, NULL, 0, NULL, &resp);
        if (!all) {
            free(url);
            return mdmctl_finish(conf, &resp, table);
        }
        if (resp.status != 200) {
            free(url);
            free(next_copy);
            json_decref(merged);
            rc = mdmctl_report_error(&resp);
            mdmctl_resp_free(&resp);
            return rc;
        }
        page = mdmctl_parse(&resp);
        mdmctl_resp_free(&resp);
        if (page == NULL) {
            free(url);
            free(next_copy);
            json_decref(merged);
            return MDMCTL_SERVER;
        }
        if (merged == NULL)
            merged = json_incref(page);
        else
            json_array_extend(json_object_get(merged, key),
                              json_object_get(page, key));
        cursor = json_object_get(page, "next_cursor");
        next = mdmctl_cursor_str(cursor);
        free(next_copy);
        next_copy = next ? strdup(next) : NULL;
        json_decref(page);
        if (next_copy == NULL)
            break;
        esc = mdmctl_escape(next_copy);
        snprintf(url, n, "%s%scursor=%s", path,
                 strchr(path, '?') ? "&" : "?", esc ? esc : "");
        free(esc);
    }
    free(url);
    json_object_set_new(merged, "next_cursor", json_null());
    if (conf->json) {
        json_dumpf(merged, stdout, JSON_COMPACT);
        putchar('\n');
    } else {
        table(merged);
    }
    json_decref(merged);
    return MDMCTL_OK;
}


void
mdmctl_print_cursor(json_t *root)
{
    const char  *c = mdmctl_cursor_str(json_object_get(root, "next_cursor"));

    if (c)
        printf("next cursor: %s\n", c);
}


static const struct option  mdmctl_page_opts[] = {
    { "limit",  required_argument, NULL, 'l' },
    { "cursor", required_argument, NULL, 'c' },
    { "all",    no_argument,       NULL, 'a' },
    /* enrollments list */
    { "type",    required_argument, NULL, 't' },
    { "enabled", required_argument, NULL, 'e' },
    { "serial",  required_argument, NULL, 's' },
    /* commands status */
    { "id",     required_argument, NULL, 'i' },
    { "plist",  no_argument,       NULL, 'p' },
    { "report", no_argument,       NULL, 'r' },
    { NULL, 0, NULL, 0 }
};

int
mdmctl_page_parse(int argc, char **argv, const char *allowed,
    struct mdmctl_page_args *a)
{
    int  c;

    memset(a, 0, sizeof(*a));
    optind = 0;
    while ((c = mdmctl_opt(argc, argv, mdmctl_page_opts)) != -1) {
        if (c == '?' || strchr(allowed, c) == NULL) {
            if (c != '?')
                fprintf(stderr, "mdmctl: option %s not valid here\n",
                        argv[optind - 1]);
            return -1;
        }
        switch (c) {
        case 'l': mdmctl_query_add(&a->q, "limit", optarg); break;
        case 'c': mdmctl_query_add(&a->q, "cursor", optarg); break;
        case 'a': a->all = 1; break;
        case 't': mdmctl_query_add(&a->q, "type", optarg); break;
        case 'e': mdmctl_query_add(&a->q, "enabled", optarg); break;
        case 's': mdmctl_query_add(&a->q, "serial", optarg); break;
        case 'i': a->id = optarg; break;
        case 'p': a->plist = 1; break;
        case 'r': a->report = 1; break;
        }
    }
    return 0;
}


