/*
 * mdmctl import nanomdm: writes a NanoMDM fleet through the API, in the
 * order a device needs: push certificates, device channels (Authenticate,
 * TokenUpdate with the UnlockToken, the bootstrap token) and user channels
 * through /migration, then the pending commands with nopush. Each item is
 * first compared with what the server has, so a second run writes nothing;
 * --dry-run stops after the comparison.
 */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <plist/plist.h>

#include "import.h"


enum { MDMCTL_UNCHANGED, MDMCTL_WRITTEN, MDMCTL_SKIPPED, MDMCTL_FAILED };

struct mdmctl_import {
    struct mdmctl_conf  *conf;
    int                  dry_run;
    int                  counts[4];
    int                  transport;     /* a transport failure was seen */
    json_t              *items;
};


static void
mdmctl_item(struct mdmctl_import *im, const char *kind, const char *id,
    int outcome, const char *what)
{
    static const char *const  names[] = { "unchanged", "written", "skipped",
                                          "failed" };

    im->counts[outcome]++;
    json_array_append_new(im->items, json_pack("{s:s,s:s,s:s,s:s}", "kind",
        kind, "id", id, "outcome", names[outcome], "detail", what));
    if (!im->conf->json)
        printf("%-11s %-50s %s\n", kind, id, what);
}


/* A GET that answers JSON, or NULL (status in *status, 0 = transport). */
static json_t *
mdmctl_get_json(struct mdmctl_import *im, const char *path, long *status)
{
    struct mdmctl_resp  resp;
    json_t             *root = NULL;

    mdmctl_http(im->conf, "GET", path, NULL, 0, NULL, &resp);
    *status = resp.status;
    if (resp.status == 0) {
        fprintf(stderr, "mdmctl: %s\n", resp.error);
        im->transport = 1;
    } else if (resp.status == 200) {
        root = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    }
    mdmctl_resp_free(&resp);
    return root;
}


static int
mdmctl_send(struct mdmctl_import *im, const char *method, const char *path,
    const char *body, size_t len, const char *ctype, char *why, size_t wn)
{
    struct mdmctl_resp  resp;
    json_t             *root;
    int                 ok;

    mdmctl_http(im->conf, method, path, body, len, ctype, &resp);
    ok = resp.status == 200;
    if (!ok) {
        root = json_loadb(resp.body.data, resp.body.len, 0, NULL);
        if (resp.status == 0) {
            im->transport = 1;
            snprintf(why, wn, "%s", resp.error);
        } else {
            snprintf(why, wn, "HTTP %ld %s", resp.status,
                     json_is_string(json_object_get(root, "error"))
                     ? json_string_value(json_object_get(root, "error"))
                     : resp.body.data);
        }
        json_decref(root);
    }
    mdmctl_resp_free(&resp);
    return ok;
}


/* --- push certificates ----------------------------------------------- */

static int
mdmctl_cert_not_after(const char *pem, char *out, size_t n)
{
    BIO        *bio = BIO_new_mem_buf(pem, -1);
    X509       *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    struct tm   tm;
    int         ok = 0;

    if (x && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm)) {
        strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
        ok = 1;
    }
    X509_free(x);
    BIO_free(bio);
    return ok;
}


static void
mdmctl_import_cert(struct mdmctl_import *im, struct mdmctl_cert *c)
{
    char     path[1024], not_after[32] = "", why[512], *esc;
    json_t  *have;
    long     status;

    esc = mdmctl_escape(c->topic);
    snprintf(path, sizeof(path), "/v1/pushcert?topic=%s", esc);
    free(esc);
    mdmctl_cert_not_after(c->pem, not_after, sizeof(not_after));
    have = mdmctl_get_json(im, path, &status);
    if (have && strcmp(mdmctl_str(have, "not_after"), not_after) == 0) {
        json_decref(have);
        mdmctl_item(im, "pushcert", c->topic, MDMCTL_UNCHANGED,
                    "unchanged (same certificate)");
        return;
    }
    json_decref(have);
    if (status == 0) {
        mdmctl_item(im, "pushcert", c->topic, MDMCTL_FAILED, "no answer");
    } else if (im->dry_run) {
        mdmctl_item(im, "pushcert", c->topic, MDMCTL_WRITTEN,
                    "would upload (PUT /v1/pushcert)");
    } else if (mdmctl_send(im, "PUT", "/v1/pushcert", c->pem, strlen(c->pem),
                           "application/x-pem-file", why, sizeof(why))) {
        mdmctl_item(im, "pushcert", c->topic, MDMCTL_WRITTEN, "uploaded");
    } else {
        mdmctl_item(im, "pushcert", c->topic, MDMCTL_FAILED, why);
    }
}


/* --- enrollments ----------------------------------------------------- */

static plist_t
mdmctl_plist_parse(const struct mdmctl_blob *b)
{
    plist_t  p = NULL;

    if (b->p)
        plist_from_memory(b->p, (uint32_t) b->len, &p);
    if (p && plist_get_node_type(p) != PLIST_DICT) {
        plist_free(p);
        p = NULL;
    }
    return p;
}


static char *
mdmctl_plist_xml(plist_t p, size_t *len)
{
    char      *xml = NULL;
    uint32_t   n = 0;

    plist_to_xml(p, &xml, &n);
    *len = n;
    return xml;
}


/* The TokenUpdate's Token as lowercase hex ("" when absent). */
static void
mdmctl_token_hex(plist_t tu, char *out, size_t n)
{
    plist_t    t = plist_dict_get_item(tu, "Token");
    char      *data = NULL;
    uint64_t   len = 0, i;

    out[0] = '\0';
    if (t == NULL || plist_get_node_type(t) != PLIST_DATA)
        return;
    plist_get_data_val(t, &data, &len);
    for (i = 0; i < len && 2 * i + 2 < n; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned char) data[i]);
    free(data);
}


static int
mdmctl_migrate(struct mdmctl_import *im, plist_t msg, char *why, size_t wn)
{
    char    *xml;
    size_t   len;
    int      ok;

    xml = mdmctl_plist_xml(msg, &len);
    if (xml == NULL) {
        snprintf(why, wn, "cannot serialize");
        return 0;
    }
    ok = mdmctl_send(im, "PUT", "/migration", xml, len,
                     "application/x-apple-aspen-mdm-checkin", why, wn);
    free(xml);
    return ok;
}


static void
mdmctl_import_enr(struct mdmctl_import *im, struct mdmctl_enr *e)
{
    plist_t      auth, tu, bs;
    json_t      *have;
    char         path[4096], token[512], why[600], *esc;
    const char  *kind = e->user ? "user" : "device";
    long         status;
    int          same;

    if (e->disabled) {
        mdmctl_item(im, kind, e->id, MDMCTL_SKIPPED,
                    "skipped: disabled (checked out) in NanoMDM");
        return;
    }
    auth = mdmctl_plist_parse(&e->authenticate);
    tu = mdmctl_plist_parse(&e->token_update);
    if (tu == NULL || (!e->user && auth == NULL)) {
        mdmctl_item(im, kind, e->id, MDMCTL_SKIPPED, e->user || auth
                    ? "skipped: no TokenUpdate (never enabled)"
                    : "skipped: no readable Authenticate");
        plist_free(auth);
        plist_free(tu);
        return;
    }
    mdmctl_token_hex(tu, token, sizeof(token));
    esc = mdmctl_escape(e->id);
    snprintf(path, sizeof(path), "/v1/enrollments/%s", esc);
    free(esc);
    have = mdmctl_get_json(im, path, &status);
    same = have && json_is_true(json_object_get(have, "enabled"))
           && strcmp(mdmctl_str(have, "token"), token) == 0
           && (!e->unlock_token.len
               || json_is_true(json_object_get(have, "has_unlock_token")))
           && (!e->bootstrap.len
               || json_is_true(json_object_get(have, "has_bootstrap_token")));
    json_decref(have);
    if (same || status == 0 || im->dry_run) {
        mdmctl_item(im, kind, e->id, same ? MDMCTL_UNCHANGED : status == 0
                    ? MDMCTL_FAILED : MDMCTL_WRITTEN, same ? "unchanged"
                    : status == 0 ? "no answer"
                    : "would migrate (PUT /migration)");
        plist_free(auth);
        plist_free(tu);
        return;
    }
    /* NanoMDM keeps the UnlockToken apart from later TokenUpdates */
    if (e->unlock_token.len && plist_dict_get_item(tu, "UnlockToken") == NULL)
        plist_dict_set_item(tu, "UnlockToken",
            plist_new_data(e->unlock_token.p, e->unlock_token.len));
    if ((auth && !mdmctl_migrate(im, auth, why, sizeof(why)))
        || !mdmctl_migrate(im, tu, why, sizeof(why))) {
        mdmctl_item(im, kind, e->id, MDMCTL_FAILED, why);
        plist_free(auth);
        plist_free(tu);
        return;
    }
    snprintf(why, sizeof(why), "migrated%s", e->unlock_token.len
             ? " with UnlockToken" : "");
    if (e->bootstrap.len && auth) {
        /* the escrowed token, as the device's own SetBootstrapToken */
        char more[520];
        bs = plist_new_dict();
        plist_dict_set_item(bs, "MessageType",
                            plist_new_string("SetBootstrapToken"));
        if (plist_dict_get_item(auth, "UDID"))
            plist_dict_set_item(bs, "UDID",
                plist_copy(plist_dict_get_item(auth, "UDID")));
        if (plist_dict_get_item(auth, "EnrollmentID"))
            plist_dict_set_item(bs, "EnrollmentID",
                plist_copy(plist_dict_get_item(auth, "EnrollmentID")));
        plist_dict_set_item(bs, "BootstrapToken",
            plist_new_data(e->bootstrap.p, e->bootstrap.len));
        if (mdmctl_migrate(im, bs, more, sizeof(more)))
            strcat(why, ", bootstrap token");
        else
            snprintf(why + strlen(why), sizeof(why) - strlen(why),
                     "; bootstrap token NOT stored (%.200s)", more);
        plist_free(bs);
    }
    mdmctl_item(im, kind, e->id, MDMCTL_WRITTEN, why);
    plist_free(auth);
    plist_free(tu);
}


/* --- queued commands ------------------------------------------------- */

static void
mdmctl_import_cmd(struct mdmctl_import *im, struct mdmctl_cmd *c)
{
    struct mdmctl_resp  resp;
    json_t             *have;
    char                path[4096], why[600], *esc, *esc2;
    long                status;
    int                 i, missing = 0;
    char              **todo;

    if (c->nids == 0)
        return;                         /* delivered or finished everywhere */
    if (c->plist.p == NULL) {
        mdmctl_item(im, "command", c->uuid, MDMCTL_SKIPPED,
                    "skipped: queued but its body is missing");
        return;
    }
    esc = mdmctl_escape(c->uuid);
    snprintf(path, sizeof(path), "/v1/commands/%s?limit=1", esc);
    have = mdmctl_get_json(im, path, &status);
    json_decref(have);
    todo = calloc((size_t) c->nids, sizeof(*todo));
    if (status == 200) {
        /* which targets the server has already */
        for (i = 0; i < c->nids; i++) {
            esc2 = mdmctl_escape(c->ids[i]);
            snprintf(path, sizeof(path), "/v1/commands/%s?id=%s", esc, esc2);
            free(esc2);
            json_decref(mdmctl_get_json(im, path, &status));
            if (status == 404)
                todo[missing++] = c->ids[i];
        }
        free(esc);
        if (missing == 0)
            mdmctl_item(im, "command", c->uuid, MDMCTL_UNCHANGED,
                        "unchanged (queued for every target)");
        else
            mdmctl_item(im, "command", c->uuid, MDMCTL_FAILED,
                        "exists with other targets: a CommandUUID is "
                        "enqueued once (see docs/migration.md)");
        free(todo);
        return;
    }
    free(esc);
    if (status != 404) {
        mdmctl_item(im, "command", c->uuid, MDMCTL_FAILED, "no answer");
        free(todo);
        return;
    }
    free(todo);
    snprintf(why, sizeof(why), "%s %d target(s), nopush", im->dry_run
             ? "would queue for" : "queued for", c->nids);
    if (im->dry_run) {
        mdmctl_item(im, "command", c->uuid, MDMCTL_WRITTEN, why);
        return;
    }
    if (mdmctl_enqueue_plist(im->conf, c->plist.p, c->plist.len, c->ids,
                             c->nids, "?nopush=1", &resp) != 0) {
        mdmctl_item(im, "command", c->uuid, MDMCTL_FAILED, "bad target ID");
        return;
    }
    if (resp.status == 200) {
        mdmctl_item(im, "command", c->uuid, MDMCTL_WRITTEN, why);
    } else {
        snprintf(why, sizeof(why), "HTTP %ld %.400s", resp.status,
                 resp.status ? resp.body.data : resp.error);
        if (resp.status == 0)
            im->transport = 1;
        mdmctl_item(im, "command", c->uuid, MDMCTL_FAILED, why);
    }
    mdmctl_resp_free(&resp);
}


static void
mdmctl_model_free(struct mdmctl_model *m)
{
    int  i, k;

    for (i = 0; i < m->nenr; i++) {
        free(m->enr[i].id);
        free(m->enr[i].authenticate.p);
        free(m->enr[i].token_update.p);
        free(m->enr[i].unlock_token.p);
        free(m->enr[i].bootstrap.p);
    }
    for (i = 0; i < m->ncmd; i++) {
        free(m->cmd[i].uuid);
        free(m->cmd[i].plist.p);
        for (k = 0; k < m->cmd[i].nids; k++)
            free(m->cmd[i].ids[k]);
        free(m->cmd[i].ids);
    }
    for (i = 0; i < m->ncert; i++) {
        free(m->cert[i].topic);
        free(m->cert[i].pem);
    }
    free(m->enr);
    free(m->cmd);
    free(m->cert);
}


int
mdmctl_import(struct mdmctl_conf *conf, int argc, char **argv)
{
    static const struct option  opts[] = {
        { "mysql-dump", required_argument, NULL, 'm' },
        { "filekv", required_argument, NULL, 'f' },
        { "dry-run", no_argument, NULL, 'n' },
        { NULL, 0, NULL, 0 }
    };
    struct mdmctl_import  im = { .conf = conf };
    struct mdmctl_model   m = { 0 };
    const char           *dump = NULL, *dir = NULL;
    char                  note[256];
    int                   c, rc, i, pass;

    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dump = optarg; break;
        case 'f': dir = optarg; break;
        case 'n': im.dry_run = 1; break;
        default:
            mdmctl_verb_help("import", "nanomdm", stderr);
            return MDMCTL_USAGE;
        }
    }
    if (optind != argc || !dump == !dir) {
        fprintf(stderr, "mdmctl import nanomdm: give one of --mysql-dump or "
                "--filekv\n");
        mdmctl_verb_help("import", "nanomdm", stderr);
        return MDMCTL_USAGE;
    }
    rc = dump ? mdmctl_read_mysql(dump, &m) : mdmctl_read_filekv(dir, &m);
    if (rc != MDMCTL_OK) {
        mdmctl_model_free(&m);
        return rc;
    }

    im.items = json_array();
    for (i = 0; i < m.ncert; i++)
        mdmctl_import_cert(&im, &m.cert[i]);
    /* device channels before the user channels that hang off them */
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < m.nenr; i++)
            if (m.enr[i].user == pass)
                mdmctl_import_enr(&im, &m.enr[i]);
    for (i = 0; i < m.ncmd; i++)
        mdmctl_import_cmd(&im, &m.cmd[i]);

    snprintf(note, sizeof(note), "%d certificate binding(s) not imported: "
             "the API has no binding route; set mdm_cert_binding retro",
             m.bindings);
    if (conf->json) {
        json_t *out = json_pack("{s:b,s:i,s:i,s:i,s:i,s:i,s:o}", "dry_run",
            im.dry_run, "written", im.counts[MDMCTL_WRITTEN], "unchanged",
            im.counts[MDMCTL_UNCHANGED], "skipped", im.counts[MDMCTL_SKIPPED],
            "failed", im.counts[MDMCTL_FAILED], "cert_bindings", m.bindings,
            "items", im.items);
        json_dumpf(out, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(out);
    } else {
        if (m.bindings)
            printf("%s\n", note);
        printf("%s: %d %s, %d unchanged, %d skipped, %d failed\n",
               im.dry_run ? "dry run" : "import",
               im.counts[MDMCTL_WRITTEN],
               im.dry_run ? "to write" : "written",
               im.counts[MDMCTL_UNCHANGED], im.counts[MDMCTL_SKIPPED],
               im.counts[MDMCTL_FAILED]);
        if (im.counts[MDMCTL_WRITTEN] == 0 && im.counts[MDMCTL_FAILED] == 0)
            printf("nothing to change\n");
        json_decref(im.items);
    }
    mdmctl_model_free(&m);
    return im.transport ? MDMCTL_SERVER
         : im.counts[MDMCTL_FAILED] ? MDMCTL_API_ERROR : MDMCTL_OK;
}
