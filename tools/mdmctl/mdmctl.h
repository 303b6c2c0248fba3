/*
 * mdmctl: a command-line client over ngx_mdm's HTTP API (docs/mdmctl.md).
 *
 * Every verb is one row of mdmctl_verbs[] (verbs.c, import.c) and one
 * function taking the verb's own arguments; the shared pieces are the
 * configuration (config.c), the HTTP call (http.c) and the output helpers
 * (output.c).
 */

#ifndef MDMCTL_H
#define MDMCTL_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#include "mdm_buf.h"

/* Exit codes (documented in docs/mdmctl.md and --help). */
enum {
    MDMCTL_OK = 0,          /* done, every target accepted */
    MDMCTL_API_ERROR = 1,   /* 4xx, or some/all targets refused (207, 500 with per-ID status) */
    MDMCTL_USAGE = 2,       /* bad flags or arguments */
    MDMCTL_SERVER = 3,      /* 5xx, transport or TLS failure, unparsable answer */
    MDMCTL_LOCAL = 4        /* a local file or configuration cannot be used */
};

struct mdmctl_conf {
    char    *url;           /* base URL of the API server, no trailing '/' */
    char    *api_key;
    char    *user;          /* HTTP Basic user, "nanomdm" by default */
    char    *cacert;        /* CA bundle that signs the API server's TLS cert */
    int      insecure;      /* skip TLS verification (tests, never production) */
    long     timeout;       /* seconds for one HTTP call */
    int      json;          /* print the API's JSON instead of tables */
    int      verbose;
};

struct mdmctl_resp {
    long     status;        /* HTTP status, 0 on transport failure */
    mdm_buf_t body;         /* the reply, NUL-terminated */
    char     error[256];    /* transport error text when status == 0 */
};

typedef int (*mdmctl_run_pt)(struct mdmctl_conf *conf, int argc, char **argv);

struct mdmctl_verb {
    const char     *noun;
    const char     *verb;   /* NULL: the noun is the verb (push, version) */
    mdmctl_run_pt   run;
    const char     *synopsis;
    const char     *help;
};

extern const struct mdmctl_verb  mdmctl_verbs[];

/* config.c */
int mdmctl_conf_load(struct mdmctl_conf *conf, const char *file,
    int file_required);
void mdmctl_conf_set(char **field, const char *value);

/* http.c */
int mdmctl_http(const struct mdmctl_conf *conf, const char *method,
    const char *path, const char *body, size_t body_len,
    const char *content_type, struct mdmctl_resp *resp);
void mdmctl_resp_free(struct mdmctl_resp *resp);
int mdmctl_exit_code(const struct mdmctl_resp *resp);
char *mdmctl_escape(const char *s);
int mdmctl_path_ids(char *buf, size_t size, const char *prefix,
    char **ids, int n);

int mdmctl_enqueue_plist(struct mdmctl_conf *conf, const char *plist,
    size_t len, char **ids, int nids, const char *query,
    struct mdmctl_resp *resp);

/* verbs.c: what every verb shares */
struct mdmctl_query {
    char    buf[4096];
    size_t  len;
};

void mdmctl_query_add(struct mdmctl_query *q, const char *key,
    const char *value);
int mdmctl_usage_error(const char *noun, const char *verb, const char *why);
int mdmctl_opt(int argc, char **argv, const struct option *opts);
int mdmctl_ids_call(struct mdmctl_conf *conf, int argc, char **argv,
    const char *noun, const char *verb, const char *method,
    const char *prefix);

/* page.c */
struct mdmctl_page_args {
    struct mdmctl_query  q;
    int                  all, plist, report;
    const char          *id;
};

int mdmctl_page_parse(int argc, char **argv, const char *allowed,
    struct mdmctl_page_args *a);
int mdmctl_paged(struct mdmctl_conf *conf, const char *path, const char *key,
    int all, void (*table)(json_t *root));
void mdmctl_print_cursor(json_t *root);

/* commands.c */
int mdmctl_commands_send(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_commands_send_plist(struct mdmctl_conf *conf, int argc,
    char **argv);
int mdmctl_commands_status(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_commands_cancel(struct mdmctl_conf *conf, int argc, char **argv);

/* pushcert.c */
int mdmctl_pushcert_upload(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_pushcert_show(struct mdmctl_conf *conf, int argc, char **argv);

/* output.c */
int mdmctl_finish(const struct mdmctl_conf *conf, struct mdmctl_resp *resp,
    void (*table)(json_t *root));
json_t *mdmctl_parse(const struct mdmctl_resp *resp);
const char *mdmctl_str(json_t *obj, const char *key);
void mdmctl_print_status_map(json_t *root);
void mdmctl_print_object(json_t *obj);
int mdmctl_report_error(const struct mdmctl_resp *resp);

/* util */
char *mdmctl_read_file(const char *path, size_t *len);
char **mdmctl_read_ids(const char *path, int *n);
int mdmctl_verb_help(const char *noun, const char *verb, FILE *f);

/* enroll.c: links and known serials */
int mdmctl_one_call(struct mdmctl_conf *conf, int argc, char **argv,
    const char *noun, const char *method, const char *prefix,
    const char *suffix, void (*table)(json_t *root), const char *done);
int mdmctl_links_create(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_links_list(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_links_show(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_links_delete(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_devices_register(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_devices_show(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_devices_unregister(struct mdmctl_conf *conf, int argc,
    char **argv);

/* certs.c */
int mdmctl_certs_list(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_certs_show(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_certs_revoke(struct mdmctl_conf *conf, int argc, char **argv);
int mdmctl_certs_unrevoke(struct mdmctl_conf *conf, int argc, char **argv);

/* import.c */
int mdmctl_import(struct mdmctl_conf *conf, int argc, char **argv);

#endif
