/*
 * What mdmctl prints: the API's JSON as it came (--json), or a table made
 * from it; errors on stderr. Also the small file readers the verbs share.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mdmctl.h"


json_t *
mdmctl_parse(const struct mdmctl_resp *resp)
{
    json_error_t  err;
    json_t       *root;

    root = json_loadb(resp->body.data, resp->body.len, 0, &err);
    if (root == NULL)
        fprintf(stderr, "mdmctl: the answer (HTTP %ld) is not JSON: %s\n",
                resp->status, err.text);
    return root;
}


/* "" for absent keys, "-" for null, the text of scalars. */
const char *
mdmctl_str(json_t *obj, const char *key)
{
    static char  buf[64];
    json_t      *v = json_object_get(obj, key);

    if (v == NULL)
        return "";
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_null(v))
        return "-";
    if (json_is_true(v))
        return "true";
    if (json_is_false(v))
        return "false";
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%lld", (long long) json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, sizeof(buf), "%g", json_real_value(v));
        return buf;
    }
    return json_is_array(v) ? "[…]" : "{…}";
}


/* Says why a call failed, on stderr; returns its exit code. */
int
mdmctl_report_error(const struct mdmctl_resp *resp)
{
    json_t  *root;

    if (resp->status == 0) {
        fprintf(stderr, "mdmctl: %s\n", resp->error);
        return MDMCTL_SERVER;
    }
    root = json_loadb(resp->body.data, resp->body.len, 0, NULL);
    if (json_is_string(json_object_get(root, "error")))
        fprintf(stderr, "mdmctl: HTTP %ld: %s\n", resp->status,
                json_string_value(json_object_get(root, "error")));
    else if (resp->status >= 400)
        fprintf(stderr, "mdmctl: HTTP %ld: %.200s\n", resp->status,
                resp->body.data);
    json_decref(root);
    return mdmctl_exit_code(resp);
}


/*
 * The end of every verb: the JSON (--json) or the table, then the exit code.
 * An answer with a call-wide error prints only the error.
 */
int
mdmctl_finish(const struct mdmctl_conf *conf, struct mdmctl_resp *resp,
    void (*table)(json_t *root))
{
    json_t  *root;
    int      rc = mdmctl_exit_code(resp), per_id = 0;

    if (resp->status >= 400) {
        root = json_loadb(resp->body.data, resp->body.len, 0, NULL);
        per_id = json_is_object(json_object_get(root, "status"));
        json_decref(root);
    }
    if (resp->status == 0 || (resp->status >= 400 && !per_id)) {
        rc = mdmctl_report_error(resp);
        mdmctl_resp_free(resp);
        return rc;
    }
    if (conf->json || table == NULL) {
        fwrite(resp->body.data, 1, resp->body.len, stdout);
        if (resp->body.len && resp->body.data[resp->body.len - 1] != '\n')
            putchar('\n');
    } else {
        root = mdmctl_parse(resp);
        if (root == NULL) {
            mdmctl_resp_free(resp);
            return MDMCTL_SERVER;
        }
        table(root);
        json_decref(root);
    }
    mdmctl_resp_free(resp);
    return rc;
}


/* NanoMDM's APIResult map: {"status":{"<id>":{"push_result":…}}} */
void
mdmctl_print_status_map(json_t *root)
{
    json_t      *status = json_object_get(root, "status"), *v;
    const char  *id;

    printf("%-45s %s\n", "ID", "RESULT");
    json_object_foreach(status, id, v) {
        const char *key, *sep = "";
        json_t     *r;
        printf("%-45s ", id);
        if (json_object_size(v) == 0)
            printf("ok");
        json_object_foreach(v, key, r) {
            printf("%s%s=%s", sep, key, mdmctl_str(v, key));
            sep = " ";
        }
        putchar('\n');
    }
}


/* key: value lines, arrays joined with ", ". */
void
mdmctl_print_object(json_t *obj)
{
    const char  *key;
    json_t      *v, *e;
    size_t       i;

    json_object_foreach(obj, key, v) {
        if (json_is_array(v)) {
            printf("%-20s ", key);
            json_array_foreach(v, i, e)
                printf("%s%s", i ? ", " : "",
                       json_is_string(e) ? json_string_value(e) : "{…}");
            putchar('\n');
        } else {
            printf("%-20s %s\n", key, mdmctl_str(obj, key));
        }
    }
}


char *
mdmctl_read_file(const char *path, size_t *len)
{
    FILE    *f;
    char    *buf = NULL, *p;
    size_t   cap = 0, n = 0, r;

    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "mdmctl: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    for ( ;; ) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 65536 * 2;
            p = realloc(buf, cap);
            if (p == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
        }
        r = fread(buf + n, 1, 65536, f);
        n += r;
        if (r == 0)
            break;
    }
    if (buf)
        buf[n] = '\0';
    if (ferror(f)) {
        fprintf(stderr, "mdmctl: %s: read error\n", path);
        free(buf);
        buf = NULL;
    }
    if (f != stdin)
        fclose(f);
    if (len)
        *len = n;
    return buf;
}


/* One ID a line; blank lines and #-comments are skipped. */
char **
mdmctl_read_ids(const char *path, int *n)
{
    char   *text, *line, *save = NULL, **ids = NULL, **p;
    int     cap = 0;

    *n = 0;
    text = mdmctl_read_file(path, NULL);
    if (text == NULL)
        return NULL;
    for (line = strtok_r(text, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            p = realloc(ids, sizeof(*ids) * (size_t) cap);
            if (p == NULL)
                break;
            ids = p;
        }
        ids[(*n)++] = strdup(line);
    }
    free(text);
    if (*n == 0)
        fprintf(stderr, "mdmctl: %s: no IDs\n", path);
    return ids;
}
