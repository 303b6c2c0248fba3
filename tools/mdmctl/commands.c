/*
 * mdmctl commands: send (the JSON builder), send-plist (raw plists, also
 * used by the import), status and cancel.
 */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "mdmctl.h"


#define MDMCTL_PATH_MAX  (64 * 1024)


static void
mdmctl_enqueue_table(json_t *root)
{
    if (json_object_get(root, "plist") && !json_object_get(root, "status")) {
        /* the builder's dry run: the plist it would store */
        fputs(mdmctl_str(root, "plist"), stdout);
        return;
    }
    printf("command %s (%s): %s queued%s\n", mdmctl_str(root, "command_uuid"),
           mdmctl_str(root, "request_type"), mdmctl_str(root, "queued"),
           json_is_true(json_object_get(root, "no_push")) ? ", no push" : "");
    mdmctl_print_status_map(root);
}


static const struct option  mdmctl_send_opts[] = {
    { "nopush",   no_argument,       NULL, 'n' },
    { "ttl",      required_argument, NULL, 't' },
    { "ids-file", required_argument, NULL, 'f' },
    { "body",     required_argument, NULL, 'b' },
    { "body-file", required_argument, NULL, 'B' },
    { NULL, 0, NULL, 0 }
};

struct mdmctl_send_args {
    struct mdmctl_query  q;
    char               **ids;
    int                  nids;
    char                *ids_owned;   /* 1 if ids came from a file */
    const char          *body, *body_file;
};


static int
mdmctl_send_parse(int argc, char **argv, struct mdmctl_send_args *a,
    int first_positional)
{
    int  c;

    memset(a, 0, sizeof(*a));
    optind = 0;
    while ((c = mdmctl_opt(argc, argv, mdmctl_send_opts)) != -1) {
        switch (c) {
        case 'n': mdmctl_query_add(&a->q, "nopush", "1"); break;
        case 't': mdmctl_query_add(&a->q, "ttl", optarg); break;
        case 'b': a->body = optarg; break;
        case 'B': a->body_file = optarg; break;
        case 'f':
            a->ids = mdmctl_read_ids(optarg, &a->nids);
            if (a->ids == NULL || a->nids == 0)
                return MDMCTL_LOCAL;
            a->ids_owned = "";
            break;
        default:
            return MDMCTL_USAGE;
        }
    }
    optind += first_positional;
    if (a->ids && optind < argc) {
        fprintf(stderr, "mdmctl: IDs both in --ids-file and as arguments\n");
        return MDMCTL_USAGE;
    }
    if (a->ids == NULL) {
        a->ids = argv + optind;
        a->nids = argc - optind;
    }
    return 0;
}


static void
mdmctl_send_free(struct mdmctl_send_args *a)
{
    int  i;

    if (a->ids_owned) {
        for (i = 0; i < a->nids; i++)
            free(a->ids[i]);
        free(a->ids);
    }
}


static json_t *
mdmctl_ids_json(char **ids, int n)
{
    json_t  *arr = json_array();
    int      i;

    for (i = 0; i < n; i++)
        json_array_append_new(arr, json_string(ids[i]));
    return arr;
}


/* POST /v1/commands[/<ids>] from the JSON builder; no IDs is a dry run. */
int
mdmctl_commands_send(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_send_args  a;
    struct mdmctl_resp       resp;
    json_error_t             err;
    json_t                  *cmd;
    char                    *path, *text = NULL, *body;
    int                      rc;

    rc = mdmctl_send_parse(argc, argv, &a, 0);
    if (rc != 0) {
        mdmctl_send_free(&a);
        return rc == MDMCTL_USAGE
            ? mdmctl_usage_error("commands", "send", "bad arguments") : rc;
    }
    if (!a.body == !a.body_file) {
        mdmctl_send_free(&a);
        return mdmctl_usage_error("commands", "send",
                                  "give one of --body or --body-file");
    }
    if (a.body_file && (text = mdmctl_read_file(a.body_file, NULL)) == NULL) {
        mdmctl_send_free(&a);
        return MDMCTL_LOCAL;
    }
    cmd = json_loads(text ? text : a.body, 0, &err);
    free(text);
    if (!json_is_object(cmd)) {
        fprintf(stderr, "mdmctl: the command is not a JSON object: %s\n",
                cmd ? "" : err.text);
        json_decref(cmd);
        mdmctl_send_free(&a);
        return MDMCTL_USAGE;
    }
    /* many IDs go in the body, not the URL (docs/api.md: "ids") */
    path = malloc(MDMCTL_PATH_MAX);
    if (path == NULL) {
        json_decref(cmd);
        mdmctl_send_free(&a);
        return MDMCTL_LOCAL;
    }
    if (a.nids > 100) {
        json_object_set_new(cmd, "ids", mdmctl_ids_json(a.ids, a.nids));
        snprintf(path, MDMCTL_PATH_MAX, "/v1/commands%s", a.q.buf);
    } else if (mdmctl_path_ids(path, MDMCTL_PATH_MAX - sizeof(a.q.buf),
                   a.nids ? "/v1/commands/" : "/v1/commands",
                   a.ids, a.nids) != 0) {
        json_decref(cmd);
        free(path);
        mdmctl_send_free(&a);
        return MDMCTL_USAGE;
    } else {
        strcat(path, a.q.buf);
    }
    body = json_dumps(cmd, JSON_COMPACT);
    json_decref(cmd);
    mdmctl_http(conf, "POST", path, body, strlen(body), "application/json",
                &resp);
    free(body);
    free(path);
    mdmctl_send_free(&a);
    return mdmctl_finish(conf, &resp, mdmctl_enqueue_table);
}


/*
 * A raw plist to IDs: PUT /v1/enqueue/<ids> (NanoMDM's call), or POST
 * /v1/enqueue with a JSON body for an --ids-file longer than a URL holds.
 */
int
mdmctl_enqueue_plist(struct mdmctl_conf *conf, const char *plist,
    size_t len, char **ids, int nids, const char *query,
    struct mdmctl_resp *resp)
{
    json_t  *req;
    char    *path, *body;
    int      rc = 0;

    path = malloc(MDMCTL_PATH_MAX);
    if (path == NULL)
        return -1;
    if (nids > 100) {
        req = json_pack("{s:o,s:s%}", "ids", mdmctl_ids_json(ids, nids),
                        "command", plist, len);
        body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        snprintf(path, MDMCTL_PATH_MAX, "/v1/enqueue%s", query);
        mdmctl_http(conf, "POST", path, body, strlen(body),
                    "application/json", resp);
        free(body);
    } else if (mdmctl_path_ids(path, MDMCTL_PATH_MAX - 4096, "/v1/enqueue/",
                               ids, nids) == 0) {
        strcat(path, query);
        mdmctl_http(conf, "PUT", path, plist, len, "application/xml", resp);
    } else {
        rc = -1;
    }
    free(path);
    return rc;
}


int
mdmctl_commands_send_plist(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_send_args  a;
    struct mdmctl_resp       resp;
    char                    *plist;
    size_t                   len;
    int                      rc;

    rc = mdmctl_send_parse(argc, argv, &a, 1);
    if (rc != 0 || a.body || a.body_file || optind - 1 >= argc
        || a.nids == 0) {
        mdmctl_send_free(&a);
        return rc == MDMCTL_LOCAL ? rc : mdmctl_usage_error("commands",
            "send-plist", "a plist file and at least one ID expected");
    }
    plist = mdmctl_read_file(argv[optind - 1], &len);
    if (plist == NULL) {
        mdmctl_send_free(&a);
        return MDMCTL_LOCAL;
    }
    rc = mdmctl_enqueue_plist(conf, plist, len, a.ids, a.nids, a.q.buf,
                              &resp);
    free(plist);
    mdmctl_send_free(&a);
    if (rc != 0)
        return MDMCTL_USAGE;
    return mdmctl_finish(conf, &resp, mdmctl_enqueue_table);
}


static void
mdmctl_command_status_table(json_t *root)
{
    json_t  *e;
    size_t   i;

    printf("command %s (%s), created %s, expires %s\n",
           mdmctl_str(root, "command_uuid"), mdmctl_str(root, "request_type"),
           mdmctl_str(root, "created"), mdmctl_str(root, "expires"));
    printf("%-45s %-19s %-21s %s\n", "ID", "STATUS", "UPDATED", "NOTNOW");
    json_array_foreach(json_object_get(root, "enrollments"), i, e)
        printf("%-45s %-19s %-21s %s\n", mdmctl_str(e, "id"),
               mdmctl_str(e, "status"), mdmctl_str(e, "updated"),
               mdmctl_str(e, "notnow_count"));
    if (json_is_string(json_object_get(root, "plist")))
        fputs(mdmctl_str(root, "plist"), stdout);
    mdmctl_print_cursor(root);
}


int
mdmctl_commands_status(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_page_args  a;
    struct mdmctl_resp       resp;
    char                     path[8192];
    int                      rc;

    if (mdmctl_page_parse(argc, argv, "lcaipr", &a) != 0
        || optind + 1 != argc || (a.report && a.id == NULL))
        return mdmctl_usage_error("commands", "status",
                                  "one CommandUUID expected (--report "
                                  "needs --id)");
    if (mdmctl_path_ids(path, 4096, "/v1/commands/", argv + optind, 1))
        return MDMCTL_USAGE;
    if (a.id)
        mdmctl_query_add(&a.q, "id", a.id);
    if (a.plist)
        mdmctl_query_add(&a.q, "plist", "1");
    if (a.report) {
        /* the device's raw report, as it sent it */
        mdmctl_query_add(&a.q, "format", "plist");
        strcat(path, a.q.buf);
        mdmctl_http(conf, "GET", path, NULL, 0, NULL, &resp);
        if (resp.status != 200) {
            rc = mdmctl_report_error(&resp);
            mdmctl_resp_free(&resp);
            return rc;
        }
        fwrite(resp.body.data, 1, resp.body.len, stdout);
        mdmctl_resp_free(&resp);
        return MDMCTL_OK;
    }
    strcat(path, a.q.buf);
    return mdmctl_paged(conf, path, "enrollments", a.all,
                        mdmctl_command_status_table);
}


int
mdmctl_commands_cancel(struct mdmctl_conf *conf, int argc, char **argv)
{
    static const struct option  opts[] = {
        { "ids", required_argument, NULL, 'i' }, { NULL, 0, NULL, 0 }
    };
    struct mdmctl_query  q = { .len = 0 };
    struct mdmctl_resp   resp;
    char                 path[8192];
    int                  c;

    q.buf[0] = '\0';
    optind = 0;
    while ((c = mdmctl_opt(argc, argv, opts)) != -1) {
        if (c != 'i')
            return mdmctl_usage_error("commands", "cancel", "bad option");
        mdmctl_query_add(&q, "ids", optarg);
    }
    if (optind + 1 != argc)
        return mdmctl_usage_error("commands", "cancel",
                                  "one CommandUUID expected");
    if (mdmctl_path_ids(path, 4096, "/v1/commands/", argv + optind, 1))
        return MDMCTL_USAGE;
    strcat(path, q.buf);
    mdmctl_http(conf, "DELETE", path, NULL, 0, NULL, &resp);
    return mdmctl_finish(conf, &resp, mdmctl_print_status_map);
}


