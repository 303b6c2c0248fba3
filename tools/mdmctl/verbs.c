/*
 * The verbs over the existing API routes (docs/api.md). A new capability is
 * a row in mdmctl_verbs[] and a function here (or in its own file) that
 * builds the path, calls mdmctl_http() and hands the answer to
 * mdmctl_finish() with a table printer.
 */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "mdmctl.h"


#define MDMCTL_PATH_MAX  (64 * 1024)

struct mdmctl_query {
    char    buf[4096];
    size_t  len;
};


static void
mdmctl_query_add(struct mdmctl_query *q, const char *key, const char *value)
{
    char  *v;

    if (value == NULL)
        return;
    v = mdmctl_escape(value);
    if (v == NULL)
        return;
    q->len += (size_t) snprintf(q->buf + q->len,
        q->len < sizeof(q->buf) ? sizeof(q->buf) - q->len : 0,
        "%c%s=%s", q->len ? '&' : '?', key, v);
    free(v);
}


static int
mdmctl_usage_error(const char *noun, const char *verb, const char *why)
{
    fprintf(stderr, "mdmctl %s%s%s: %s\n", noun, verb ? " " : "",
            verb ? verb : "", why);
    mdmctl_verb_help(noun, verb, stderr);
    return MDMCTL_USAGE;
}


/* Runs getopt_long over a verb's own arguments (argv[0] is the verb). */
static int
mdmctl_opt(int argc, char **argv, const struct option *opts)
{
    return getopt_long(argc, argv, "", opts, NULL);
}


/* --- paging ---------------------------------------------------------- */

/*
 * One page, or with --all every page merged into the first answer's object
 * (array `key`, next_cursor null), printed like one page.
 */
static int
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
        next = json_is_string(cursor) ? json_string_value(cursor) : NULL;
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


static void
mdmctl_print_cursor(json_t *root)
{
    json_t  *c = json_object_get(root, "next_cursor");

    if (json_is_string(c))
        printf("next cursor: %s\n", json_string_value(c));
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

struct mdmctl_page_args {
    struct mdmctl_query  q;
    int                  all, plist, report;
    const char          *id;
    int                  used;   /* bit per option letter class */
};


static int
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


/* --- enrollments ----------------------------------------------------- */

static void
mdmctl_enrollments_table(json_t *root)
{
    json_t  *e;
    size_t   i;

    printf("%-45s %-26s %-7s %-14s %s\n", "ID", "TYPE", "ENABLED", "SERIAL",
           "LAST SEEN");
    json_array_foreach(json_object_get(root, "enrollments"), i, e)
        printf("%-45s %-26s %-7s %-14s %s\n", mdmctl_str(e, "id"),
               mdmctl_str(e, "type"), mdmctl_str(e, "enabled"),
               mdmctl_str(e, "serial"), mdmctl_str(e, "last_seen"));
    mdmctl_print_cursor(root);
}


static int
mdmctl_enrollments_list(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_page_args  a;
    char                     path[8192];

    if (mdmctl_page_parse(argc, argv, "lcates", &a) != 0 || optind < argc)
        return mdmctl_usage_error("enrollments", "list", "bad arguments");
    snprintf(path, sizeof(path), "/v1/enrollments%s", a.q.buf);
    return mdmctl_paged(conf, path, "enrollments", a.all,
                        mdmctl_enrollments_table);
}


static int
mdmctl_enrollments_show(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_resp  resp;
    char                path[4096];

    if (argc != 2)
        return mdmctl_usage_error("enrollments", "show", "one ID expected");
    if (mdmctl_path_ids(path, sizeof(path), "/v1/enrollments/", argv + 1, 1))
        return MDMCTL_USAGE;
    mdmctl_http(conf, "GET", path, NULL, 0, NULL, &resp);
    return mdmctl_finish(conf, &resp, mdmctl_print_object);
}


/* --- commands -------------------------------------------------------- */

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
static int
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


static int
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


static int
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
        fwrite(resp.body, 1, resp.len, stdout);
        mdmctl_resp_free(&resp);
        return MDMCTL_OK;
    }
    strcat(path, a.q.buf);
    return mdmctl_paged(conf, path, "enrollments", a.all,
                        mdmctl_command_status_table);
}


static int
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


/* --- queue ----------------------------------------------------------- */

static void
mdmctl_queue_table(json_t *root)
{
    json_t  *e;
    size_t   i;

    printf("%-38s %-28s %-8s %-6s %-21s %s\n", "COMMAND UUID", "REQUEST TYPE",
           "STATUS", "NOTNOW", "CREATED", "EXPIRES");
    json_array_foreach(json_object_get(root, "commands"), i, e)
        printf("%-38s %-28s %-8s %-6s %-21s %s\n",
               mdmctl_str(e, "command_uuid"), mdmctl_str(e, "request_type"),
               mdmctl_str(e, "status"), mdmctl_str(e, "notnow_count"),
               mdmctl_str(e, "created"), mdmctl_str(e, "expires"));
    mdmctl_print_cursor(root);
}


static int
mdmctl_queue_list(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_page_args  a;
    char                     path[8192];

    if (mdmctl_page_parse(argc, argv, "lca", &a) != 0 || optind + 1 != argc)
        return mdmctl_usage_error("queue", "list", "one ID expected");
    if (mdmctl_path_ids(path, 4096, "/v1/queue/", argv + optind, 1))
        return MDMCTL_USAGE;
    strcat(path, a.q.buf);
    return mdmctl_paged(conf, path, "commands", a.all, mdmctl_queue_table);
}


/* DELETE /v1/queue/<ids> and GET|POST /v1/push/<ids>: IDs in, APIResult out */
static int
mdmctl_ids_call(struct mdmctl_conf *conf, int argc, char **argv,
    const char *noun, const char *verb, const char *method,
    const char *prefix)
{
    static const struct option  opts[] = {
        { "ids-file", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 }
    };
    struct mdmctl_resp  resp;
    char               *path, **ids = argv + 1, **owned = NULL;
    int                 c, n = argc - 1, rc, i;

    optind = 0;
    while ((c = mdmctl_opt(argc, argv, opts)) != -1) {
        if (c != 'f')
            return mdmctl_usage_error(noun, verb, "bad option");
        owned = ids = mdmctl_read_ids(optarg, &n);
        if (ids == NULL || n == 0)
            return MDMCTL_LOCAL;
    }
    if (owned == NULL) {
        ids = argv + optind;
        n = argc - optind;
    } else if (optind < argc) {
        rc = mdmctl_usage_error(noun, verb, "IDs both in a file and as "
                                "arguments");
        goto done;
    }
    if (n == 0)
        return mdmctl_usage_error(noun, verb, "at least one ID expected");
    path = malloc(MDMCTL_PATH_MAX);
    if (path == NULL || mdmctl_path_ids(path, MDMCTL_PATH_MAX, prefix, ids,
                                        n) != 0) {
        free(path);
        rc = MDMCTL_USAGE;
        goto done;
    }
    mdmctl_http(conf, method, path, NULL, 0, NULL, &resp);
    free(path);
    rc = mdmctl_finish(conf, &resp, mdmctl_print_status_map);
done:
    if (owned) {
        for (i = 0; i < n; i++)
            free(owned[i]);
        free(owned);
    }
    return rc;
}


static int
mdmctl_queue_clear(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_ids_call(conf, argc, argv, "queue", "clear", "DELETE",
                           "/v1/queue/");
}


static int
mdmctl_push(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_ids_call(conf, argc, argv, "push", NULL, "POST",
                           "/v1/push/");
}


/* --- push certificates ----------------------------------------------- */

static void
mdmctl_pushcert_table(json_t *root)
{
    printf("%-60s %s\n", "TOPIC", "NOT AFTER");
    printf("%-60s %s\n", mdmctl_str(root, "topic"),
           mdmctl_str(root, "not_after"));
}


/* The certificate and key of a .p12 as the PEM body PUT /v1/pushcert takes. */
static char *
mdmctl_p12_to_pem(const char *file, const char *password, size_t *len)
{
    PKCS12    *p12;
    EVP_PKEY  *key = NULL;
    X509      *cert = NULL;
    BIO       *in, *out;
    char      *data, *pem = NULL;
    long       n;

    in = BIO_new_file(file, "rb");
    if (in == NULL) {
        fprintf(stderr, "mdmctl: %s: cannot open\n", file);
        return NULL;
    }
    p12 = d2i_PKCS12_bio(in, NULL);
    BIO_free(in);
    if (p12 == NULL) {
        fprintf(stderr, "mdmctl: %s: not a PKCS#12 file\n", file);
        return NULL;
    }
    if (!PKCS12_parse(p12, password, &key, &cert, NULL)
        || key == NULL || cert == NULL) {
        fprintf(stderr, "mdmctl: %s: wrong password, or no certificate and "
                "key in it\n", file);
        PKCS12_free(p12);
        EVP_PKEY_free(key);
        X509_free(cert);
        ERR_clear_error();
        return NULL;
    }
    out = BIO_new(BIO_s_mem());
    if (out && PEM_write_bio_X509(out, cert)
        && PEM_write_bio_PrivateKey(out, key, NULL, NULL, 0, NULL, NULL)) {
        n = BIO_get_mem_data(out, &data);
        pem = malloc((size_t) n + 1);
        if (pem) {
            memcpy(pem, data, (size_t) n);
            pem[n] = '\0';
            *len = (size_t) n;
        }
    }
    BIO_free(out);
    PKCS12_free(p12);
    EVP_PKEY_free(key);
    X509_free(cert);
    return pem;
}


static char *
mdmctl_concat_files(const char *a, const char *b, size_t *len)
{
    char    *x, *y, *out;
    size_t   xl, yl;

    x = mdmctl_read_file(a, &xl);
    y = b ? mdmctl_read_file(b, &yl) : NULL;
    if (x == NULL || (b && y == NULL)) {
        free(x);
        free(y);
        return NULL;
    }
    if (b == NULL) {
        *len = xl;
        return x;
    }
    out = malloc(xl + yl + 2);
    if (out) {
        memcpy(out, x, xl);
        out[xl] = '\n';
        memcpy(out + xl + 1, y, yl);
        out[xl + 1 + yl] = '\0';
        *len = xl + 1 + yl;
    }
    free(x);
    free(y);
    return out;
}


static int
mdmctl_pushcert_upload(struct mdmctl_conf *conf, int argc, char **argv)
{
    static const struct option  opts[] = {
        { "cert", required_argument, NULL, 'c' },
        { "key", required_argument, NULL, 'k' },
        { "pem", required_argument, NULL, 'p' },
        { "p12", required_argument, NULL, 'P' },
        { "password", required_argument, NULL, 'w' },
        { "password-file", required_argument, NULL, 'W' },
        { NULL, 0, NULL, 0 }
    };
    const char          *cert = NULL, *key = NULL, *pem = NULL, *p12 = NULL;
    const char          *password = getenv("MDMCTL_P12_PASSWORD");
    char                *pwbuf = NULL, *body;
    struct mdmctl_resp   resp;
    size_t               len = 0;
    int                  c;

    optind = 0;
    while ((c = mdmctl_opt(argc, argv, opts)) != -1) {
        switch (c) {
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'p': pem = optarg; break;
        case 'P': p12 = optarg; break;
        case 'w': password = optarg; break;
        case 'W':
            free(pwbuf);
            pwbuf = mdmctl_read_file(optarg, NULL);
            if (pwbuf == NULL)
                return MDMCTL_LOCAL;
            pwbuf[strcspn(pwbuf, "\r\n")] = '\0';
            password = pwbuf;
            break;
        default:
            free(pwbuf);
            return mdmctl_usage_error("pushcert", "upload", "bad option");
        }
    }
    if (optind != argc || (!!pem + !!p12 + !!cert) != 1 || (!!cert != !!key)) {
        free(pwbuf);
        return mdmctl_usage_error("pushcert", "upload",
            "give --cert and --key, or --pem, or --p12");
    }
    if (p12)
        body = mdmctl_p12_to_pem(p12, password ? password : "", &len);
    else
        body = mdmctl_concat_files(pem ? pem : cert, key, &len);
    free(pwbuf);
    if (body == NULL)
        return MDMCTL_LOCAL;
    mdmctl_http(conf, "PUT", "/v1/pushcert", body, len,
                "application/x-pem-file", &resp);
    OPENSSL_cleanse(body, len);
    free(body);
    return mdmctl_finish(conf, &resp, mdmctl_pushcert_table);
}


static int
mdmctl_pushcert_show(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_query  q = { .len = 0 };
    struct mdmctl_resp   resp;
    char                 path[4200];

    if (argc != 2)
        return mdmctl_usage_error("pushcert", "show", "one topic expected");
    q.buf[0] = '\0';
    mdmctl_query_add(&q, "topic", argv[1]);
    snprintf(path, sizeof(path), "/v1/pushcert%s", q.buf);
    mdmctl_http(conf, "GET", path, NULL, 0, NULL, &resp);
    return mdmctl_finish(conf, &resp, mdmctl_pushcert_table);
}


/* --- webhooks -------------------------------------------------------- */

static void
mdmctl_dead_table(json_t *root)
{
    json_t  *e;
    size_t   i;

    printf("%-22s %-32s %-6s %-40s %s\n", "ID", "TOPIC", "TRIES",
           "ENROLLMENT", "ERROR");
    json_array_foreach(json_object_get(root, "dead"), i, e)
        printf("%-22s %-32s %-6s %-40s %s\n", mdmctl_str(e, "id"),
               mdmctl_str(e, "topic"), mdmctl_str(e, "attempts"),
               mdmctl_str(e, "enrollment_id"), mdmctl_str(e, "error"));
}


static void
mdmctl_replay_table(json_t *root)
{
    printf("replayed %s dead letter(s) of webhook %s\n",
           mdmctl_str(root, "replayed"), mdmctl_str(root, "webhook"));
}


static int
mdmctl_webhooks_call(struct mdmctl_conf *conf, int argc, char **argv,
    const char *verb, const char *qkey, void (*table)(json_t *))
{
    static const struct option  opts[] = {
        { "count", required_argument, NULL, 'c' },
        { "id", required_argument, NULL, 'i' },
        { NULL, 0, NULL, 0 }
    };
    struct mdmctl_query  q = { .len = 0 };
    struct mdmctl_resp   resp;
    char                 path[8192];
    int                  c;

    q.buf[0] = '\0';
    optind = 0;
    while ((c = mdmctl_opt(argc, argv, opts)) != -1) {
        if (c == '?' || strcmp(opts[c == 'c' ? 0 : 1].name, qkey) != 0)
            return mdmctl_usage_error("webhooks", verb, "bad option");
        mdmctl_query_add(&q, qkey, optarg);
    }
    if (optind + 1 != argc)
        return mdmctl_usage_error("webhooks", verb, "one webhook name "
                                  "expected");
    if (mdmctl_path_ids(path, 4096, "/v1/webhooks/", argv + optind, 1))
        return MDMCTL_USAGE;
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s%s",
             strcmp(verb, "dead") == 0 ? "dead" : "replay", q.buf);
    mdmctl_http(conf, strcmp(verb, "dead") == 0 ? "GET" : "POST", path, NULL,
                0, NULL, &resp);
    return mdmctl_finish(conf, &resp, table);
}


static int
mdmctl_webhooks_dead(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_webhooks_call(conf, argc, argv, "dead", "count",
                                mdmctl_dead_table);
}


static int
mdmctl_webhooks_replay(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_webhooks_call(conf, argc, argv, "replay", "id",
                                mdmctl_replay_table);
}


/* --- version, metrics ------------------------------------------------ */

static void
mdmctl_version_table(json_t *root)
{
    printf("server %s\n", mdmctl_str(root, "version"));
}


static int
mdmctl_version(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_resp  resp;

    (void) argv;
    if (argc != 1)
        return mdmctl_usage_error("version", NULL, "no arguments expected");
    mdmctl_http(conf, "GET", "/version", NULL, 0, NULL, &resp);
    return mdmctl_finish(conf, &resp, mdmctl_version_table);
}


static int
mdmctl_metrics(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_resp  resp;
    int                 rc;

    (void) argv;
    if (argc != 1)
        return mdmctl_usage_error("metrics", NULL, "no arguments expected");
    mdmctl_http(conf, "GET", "/metrics", NULL, 0, NULL, &resp);
    if (resp.status != 200) {
        rc = mdmctl_report_error(&resp);
        mdmctl_resp_free(&resp);
        return rc;
    }
    /* Prometheus text is already the table; --json does not apply */
    fwrite(resp.body, 1, resp.len, stdout);
    mdmctl_resp_free(&resp);
    return MDMCTL_OK;
}


const struct mdmctl_verb  mdmctl_verbs[] = {
    { "enrollments", "list", mdmctl_enrollments_list,
      "[--type T] [--enabled true|false] [--serial S] [--limit N] "
      "[--cursor C] [--all]",
      "List enrollments in the order first seen (GET /v1/enrollments).\n"
      "--all follows next_cursor to the end and prints one merged list." },
    { "enrollments", "show", mdmctl_enrollments_show, "ID",
      "Show one enrollment (GET /v1/enrollments/<id>)." },
    { "commands", "send", mdmctl_commands_send,
      "(--body JSON | --body-file FILE) [--nopush] [--ttl S] "
      "[ID... | --ids-file FILE]",
      "Build a command from JSON (POST /v1/commands) and queue it for the "
      "IDs;\nwithout IDs, print the plist it would store (dry run).\n"
      "Example: --body '{\"request_type\":\"DeviceInformation\","
      "\"Queries\":[\"OSVersion\"]}'" },
    { "commands", "send-plist", mdmctl_commands_send_plist,
      "FILE [--nopush] [--ttl S] (ID... | --ids-file FILE)",
      "Queue a raw command plist (PUT /v1/enqueue/<ids>; POST /v1/enqueue "
      "for more\nthan 100 IDs). FILE - reads standard input." },
    { "commands", "status", mdmctl_commands_status,
      "UUID [--id ID [--report]] [--plist] [--limit N] [--cursor C] [--all]",
      "A command's state on each target (GET /v1/commands/<uuid>); "
      "--report prints\nthe raw report of --id's device." },
    { "commands", "cancel", mdmctl_commands_cancel, "UUID [--ids ID,ID...]",
      "Cancel a command for every target or the given ones "
      "(DELETE /v1/commands/<uuid>)." },
    { "queue", "list", mdmctl_queue_list,
      "ID [--limit N] [--cursor C] [--all]",
      "An enrollment's pending commands (GET /v1/queue/<id>)." },
    { "queue", "clear", mdmctl_queue_clear, "(ID... | --ids-file FILE)",
      "Cancel every queued command of the IDs (DELETE /v1/queue/<ids>)." },
    { "push", NULL, mdmctl_push, "(ID... | --ids-file FILE)",
      "Queue an APNs push for the IDs (POST /v1/push/<ids>)." },
    { "pushcert", "upload", mdmctl_pushcert_upload,
      "(--cert FILE --key FILE | --pem FILE | --p12 FILE [--password P | "
      "--password-file F])",
      "Upload an APNs push certificate and its key (PUT /v1/pushcert). A "
      ".p12 is\nopened here; its password may also come from "
      "MDMCTL_P12_PASSWORD." },
    { "pushcert", "show", mdmctl_pushcert_show, "TOPIC",
      "Show the stored certificate of a topic (GET /v1/pushcert?topic=)." },
    { "webhooks", "dead", mdmctl_webhooks_dead, "NAME [--count N]",
      "List a webhook's dead letters (GET /v1/webhooks/<name>/dead)." },
    { "webhooks", "replay", mdmctl_webhooks_replay, "NAME [--id ID]",
      "Deliver one dead letter, or all, again "
      "(POST /v1/webhooks/<name>/replay)." },
    { "version", NULL, mdmctl_version, "",
      "The server's version (GET /version, no key needed)." },
    { "metrics", NULL, mdmctl_metrics, "",
      "The Prometheus metrics (GET /metrics)." },
    { "import", "nanomdm", mdmctl_import,
      "(--mysql-dump FILE | --filekv DIR) [--dry-run]",
      "Import a NanoMDM fleet: push certificates, enrollments (through "
      "/migration),\nqueued commands (nopush). Idempotent; --dry-run "
      "only reports. See docs/migration.md." },
    { NULL, NULL, NULL, NULL, NULL }
};
