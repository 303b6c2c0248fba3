/*
 * The verbs over the existing API routes (docs/api.md). A new capability is
 * a row in mdmctl_verbs[] and a function here (or in its noun's file) that
 * builds the path, calls mdmctl_http() and hands the answer to
 * mdmctl_finish() with a table printer.
 */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "mdmctl.h"


#define MDMCTL_PATH_MAX  (64 * 1024)


void
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


int
mdmctl_usage_error(const char *noun, const char *verb, const char *why)
{
    fprintf(stderr, "mdmctl %s%s%s: %s\n", noun, verb ? " " : "",
            verb ? verb : "", why);
    mdmctl_verb_help(noun, verb, stderr);
    return MDMCTL_USAGE;
}


/* Runs getopt_long over a verb's own arguments (argv[0] is the verb). */
int
mdmctl_opt(int argc, char **argv, const struct option *opts)
{
    return getopt_long(argc, argv, "", opts, NULL);
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
int
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
        /* each verb takes one of the two: dead --count, replay --id */
        if (c != qkey[0])
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
    fwrite(resp.body.data, 1, resp.body.len, stdout);
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
    { "links", "create", mdmctl_links_create,
      "[--user U] [--tag T]... [--expires-in S]",
      "Create a one-time enrollment link (POST /v1/enroll/tokens) and print "
      "its\ntoken and URL. --expires-in is seconds (60…31536000)." },
    { "links", "list", mdmctl_links_list, "[--limit N] [--cursor C] [--all]",
      "The live links, soonest expiry first (GET /v1/enroll/tokens)." },
    { "links", "show", mdmctl_links_show, "TOKEN",
      "Show one link (GET /v1/enroll/tokens/<token>)." },
    { "links", "delete", mdmctl_links_delete, "TOKEN",
      "Revoke a link (DELETE /v1/enroll/tokens/<token>)." },
    { "devices", "register", mdmctl_devices_register, "SERIAL",
      "Add a serial to the ADE known serials (PUT /v1/enroll/devices/"
      "<serial>)." },
    { "devices", "show", mdmctl_devices_show, "SERIAL",
      "Show a known serial (GET /v1/enroll/devices/<serial>)." },
    { "devices", "unregister", mdmctl_devices_unregister, "SERIAL",
      "Remove a known serial (DELETE /v1/enroll/devices/<serial>)." },
    { "certs", "list", mdmctl_certs_list, "[--limit N] [--cursor C] [--all]",
      "Certificates mdm_scep issued, in not-after order "
      "(GET /v1/certificates)." },
    { "certs", "show", mdmctl_certs_show, "SERIAL",
      "Show one certificate by its hex serial (GET /v1/certificates/"
      "<serial>);\n--json adds its DER (base64)." },
    { "certs", "revoke", mdmctl_certs_revoke, "SERIAL",
      "Revoke a certificate (POST /v1/certificates/<serial>/revoke)." },
    { "certs", "unrevoke", mdmctl_certs_unrevoke, "SERIAL",
      "Lift a revocation (DELETE /v1/certificates/<serial>/revoke)." },
    { NULL, NULL, NULL, NULL, NULL }
};
