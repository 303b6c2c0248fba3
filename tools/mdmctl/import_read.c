/*
 * NanoMDM's two storages read into struct mdmctl_model: the MySQL schema
 * (storage/mysql/schema.sql) from a mysqldump, and the file storage's
 * directory (storage/file: <dir>/<enrollment id>/Authenticate.plist,
 * TokenUpdate.plist, UnlockToken.dat, BootstrapToken.dat, Queue/ and
 * QueueNotNow/<uuid>.plist; <dir>/<topic>.pem and .key; <dir>/CertAuth.txt).
 */

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/evp.h>

#include "import.h"


struct mdmctl_enr *
mdmctl_model_enr(struct mdmctl_model *m, const char *id)
{
    struct mdmctl_enr  *e;
    int                 i;

    for (i = 0; i < m->nenr; i++)
        if (strcmp(m->enr[i].id, id) == 0)
            return &m->enr[i];
    e = realloc(m->enr, sizeof(*e) * (size_t) (m->nenr + 1));
    if (e == NULL)
        return NULL;
    m->enr = e;
    e = &m->enr[m->nenr++];
    memset(e, 0, sizeof(*e));
    e->id = strdup(id);
    return e;
}


struct mdmctl_cmd *
mdmctl_model_cmd(struct mdmctl_model *m, const char *uuid)
{
    struct mdmctl_cmd  *c;
    int                 i;

    for (i = 0; i < m->ncmd; i++)
        if (strcmp(m->cmd[i].uuid, uuid) == 0)
            return &m->cmd[i];
    c = realloc(m->cmd, sizeof(*c) * (size_t) (m->ncmd + 1));
    if (c == NULL)
        return NULL;
    m->cmd = c;
    c = &m->cmd[m->ncmd++];
    memset(c, 0, sizeof(*c));
    c->uuid = strdup(uuid);
    return c;
}


void
mdmctl_model_target(struct mdmctl_cmd *c, const char *id)
{
    char  **p;
    int     i;

    for (i = 0; i < c->nids; i++)
        if (strcmp(c->ids[i], id) == 0)
            return;
    p = realloc(c->ids, sizeof(*p) * (size_t) (c->nids + 1));
    if (p == NULL)
        return;
    c->ids = p;
    c->ids[c->nids++] = strdup(id);
}


static void
mdmctl_blob_take(struct mdmctl_blob *b, struct mdmctl_val *v)
{
    if (v == NULL || v->null)
        return;
    free(b->p);
    b->p = v->s;
    b->len = v->len;
    v->s = NULL;
}


static void
mdmctl_blob_base64(struct mdmctl_blob *b, const struct mdmctl_val *v)
{
    size_t  pad = 0;
    int     n;

    if (v == NULL || v->null || v->len == 0)
        return;
    b->p = malloc(v->len);
    n = EVP_DecodeBlock((unsigned char *) b->p, (unsigned char *) v->s,
                        (int) v->len);
    if (n < 0) {
        free(b->p);
        b->p = NULL;
        return;
    }
    while (pad < 2 && pad < v->len && v->s[v->len - 1 - pad] == '=')
        pad++;
    b->len = (size_t) n - pad;
}


/* pending queue rows, kept until the results are known */
struct mdmctl_qrow {
    char  *id, *uuid;
    long   priority;
    char  *created;
};

struct mdmctl_rrow {
    char  *key;     /* id \x01 uuid */
    int    final;   /* a result other than NotNow */
};


static struct mdmctl_val *
mdmctl_col(struct mdmctl_dump *d, struct mdmctl_val *vals, int n,
    const char *name)
{
    int  i;

    for (i = 0; i < d->ncols && i < n; i++)
        if (strcmp(d->cols[i], name) == 0)
            return &vals[i];
    return NULL;
}


static const char *
mdmctl_colstr(struct mdmctl_dump *d, struct mdmctl_val *vals, int n,
    const char *name)
{
    struct mdmctl_val  *v = mdmctl_col(d, vals, n, name);

    return v && !v->null ? v->s : NULL;
}


static int
mdmctl_qrow_cmp(const void *a, const void *b)
{
    const struct mdmctl_qrow  *x = a, *y = b;
    int                        c;

    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    c = strcmp(x->created ? x->created : "", y->created ? y->created : "");
    return c ? c : strcmp(x->uuid, y->uuid);
}


static int
mdmctl_rrow_cmp(const void *a, const void *b)
{
    return strcmp(((const struct mdmctl_rrow *) a)->key,
                  ((const struct mdmctl_rrow *) b)->key);
}


static char *
mdmctl_pair(const char *id, const char *uuid)
{
    size_t  n = strlen(id) + strlen(uuid) + 2;
    char   *k = malloc(n);

    if (k)
        snprintf(k, n, "%s\x01%s", id, uuid);
    return k;
}


int
mdmctl_read_mysql(const char *file, struct mdmctl_model *m)
{
    struct mdmctl_dump   d = { 0 };
    struct mdmctl_val    vals[MDMCTL_MAX_COLS];
    struct mdmctl_qrow  *q = NULL;
    struct mdmctl_rrow  *r = NULL, key, *hit;
    struct mdmctl_cmd   *c;
    struct mdmctl_enr   *e;
    char                *text;
    size_t               len;
    int                  nq = 0, nr = 0, n, rc, i, t, bad = 0;
    const char          *id, *s;

    text = mdmctl_read_file(file, &len);
    if (text == NULL)
        return MDMCTL_LOCAL;
    d.pos = text;
    d.end = text + len;
    while ((t = mdmctl_dump_next(&d)) >= 0) {
        while ((rc = mdmctl_dump_row(&d, vals, &n)) == 1) {
            if (strcmp(d.table, "nano_devices") == 0
                && (id = mdmctl_colstr(&d, vals, n, "id"))) {
                e = mdmctl_model_enr(m, id);
                mdmctl_blob_take(&e->authenticate,
                                 mdmctl_col(&d, vals, n, "authenticate"));
                mdmctl_blob_take(&e->token_update,
                                 mdmctl_col(&d, vals, n, "token_update"));
                mdmctl_blob_take(&e->unlock_token,
                                 mdmctl_col(&d, vals, n, "unlock_token"));
                mdmctl_blob_base64(&e->bootstrap, mdmctl_col(&d, vals, n,
                                   "bootstrap_token_b64"));
            } else if (strcmp(d.table, "nano_users") == 0
                       && (id = mdmctl_colstr(&d, vals, n, "id"))
                       && (s = mdmctl_colstr(&d, vals, n, "device_id"))) {
                /* the user channel's enrollment ID is device:user */
                char *uid = mdmctl_pair(s, id);
                uid[strlen(s)] = ':';
                e = mdmctl_model_enr(m, uid);
                free(uid);
                e->user = 1;
                mdmctl_blob_take(&e->token_update,
                                 mdmctl_col(&d, vals, n, "token_update"));
            } else if (strcmp(d.table, "nano_enrollments") == 0
                       && (id = mdmctl_colstr(&d, vals, n, "id"))) {
                s = mdmctl_colstr(&d, vals, n, "enabled");
                e = mdmctl_model_enr(m, id);
                e->disabled = s && strcmp(s, "0") == 0;
            } else if (strcmp(d.table, "nano_commands") == 0
                       && (id = mdmctl_colstr(&d, vals, n, "command_uuid"))) {
                c = mdmctl_model_cmd(m, id);
                mdmctl_blob_take(&c->plist,
                                 mdmctl_col(&d, vals, n, "command"));
            } else if (strcmp(d.table, "nano_command_results") == 0
                       && (id = mdmctl_colstr(&d, vals, n, "id"))
                       && (s = mdmctl_colstr(&d, vals, n, "command_uuid"))) {
                const char *st = mdmctl_colstr(&d, vals, n, "status");
                r = realloc(r, sizeof(*r) * (size_t) (nr + 1));
                r[nr].key = mdmctl_pair(id, s);
                r[nr++].final = st == NULL || strcmp(st, "NotNow") != 0;
            } else if (strcmp(d.table, "nano_enrollment_queue") == 0
                       && (id = mdmctl_colstr(&d, vals, n, "id"))
                       && (s = mdmctl_colstr(&d, vals, n, "command_uuid"))) {
                const char *act = mdmctl_colstr(&d, vals, n, "active");
                const char *pri = mdmctl_colstr(&d, vals, n, "priority");
                const char *cr = mdmctl_colstr(&d, vals, n, "created_at");
                if (act && strcmp(act, "0") == 0)
                    goto next;      /* cleared: NanoMDM will not send it */
                q = realloc(q, sizeof(*q) * (size_t) (nq + 1));
                q[nq].id = strdup(id);
                q[nq].uuid = strdup(s);
                q[nq].priority = pri ? strtol(pri, NULL, 10) : 0;
                q[nq++].created = cr ? strdup(cr) : NULL;
            } else if (strcmp(d.table, "nano_push_certs") == 0
                       && (id = mdmctl_colstr(&d, vals, n, "topic"))
                       && (s = mdmctl_colstr(&d, vals, n, "cert_pem"))) {
                const char *k = mdmctl_colstr(&d, vals, n, "key_pem");
                size_t sz = strlen(s) + (k ? strlen(k) : 0) + 2;
                m->cert = realloc(m->cert, sizeof(*m->cert)
                                  * (size_t) (m->ncert + 1));
                m->cert[m->ncert].topic = strdup(id);
                m->cert[m->ncert].pem = malloc(sz);
                snprintf(m->cert[m->ncert++].pem, sz, "%s\n%s", s,
                         k ? k : "");
            } else if (strcmp(d.table, "nano_cert_auth_associations") == 0) {
                m->bindings++;
            }
        next:
            for (i = 0; i < n; i++)
                free(vals[i].s);
        }
        mdmctl_dump_cols_free(&d);
        if (rc < 0) {
            fprintf(stderr, "mdmctl: %s: cannot read a row of %s near "
                    "byte %zu\n", file, d.table, (size_t) (d.pos - text));
            bad = 1;
            break;
        }
    }

    /* pending = active queue entries without a final result */
    if (nr)
        qsort(r, (size_t) nr, sizeof(*r), mdmctl_rrow_cmp);
    if (nq)
        qsort(q, (size_t) nq, sizeof(*q), mdmctl_qrow_cmp);
    for (i = 0; i < nq; i++) {
        key.key = mdmctl_pair(q[i].id, q[i].uuid);
        hit = nr ? bsearch(&key, r, (size_t) nr, sizeof(*r),
                           mdmctl_rrow_cmp) : NULL;
        free(key.key);
        if (hit == NULL || !hit->final) {
            c = mdmctl_model_cmd(m, q[i].uuid);
            mdmctl_model_target(c, q[i].id);
        }
        free(q[i].id);
        free(q[i].uuid);
        free(q[i].created);
    }
    for (i = 0; i < nr; i++)
        free(r[i].key);
    free(q);
    free(r);
    free(text);
    return bad ? MDMCTL_LOCAL : MDMCTL_OK;
}


static int
mdmctl_file_blob(const char *dir, const char *id, const char *name,
    struct mdmctl_blob *b)
{
    char    path[4096];
    FILE   *f;

    snprintf(path, sizeof(path), "%s/%s/%s", dir, id, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    fclose(f);
    b->p = mdmctl_read_file(path, &b->len);
    return b->p != NULL;
}


static int
mdmctl_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


/* The names in a directory, sorted (NanoMDM's ReadDir order). */
static char **
mdmctl_list_dir(const char *path, int *n)
{
    DIR            *d;
    struct dirent  *de;
    char          **names = NULL, **p;

    *n = 0;
    d = opendir(path);
    if (d == NULL)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        p = realloc(names, sizeof(*p) * (size_t) (*n + 1));
        if (p == NULL)
            break;
        names = p;
        names[(*n)++] = strdup(de->d_name);
    }
    closedir(d);
    if (*n)
        qsort(names, (size_t) *n, sizeof(*names), mdmctl_name_cmp);
    return names;
}


static void
mdmctl_filekv_queue(struct mdmctl_model *m, const char *dir, const char *id,
    const char *sub)
{
    struct mdmctl_cmd  *c;
    char                path[4096], **names, *dot;
    int                 n, i;

    snprintf(path, sizeof(path), "%s/%s/%s", dir, id, sub);
    names = mdmctl_list_dir(path, &n);
    for (i = 0; i < n; i++) {
        dot = strstr(names[i], ".plist");
        if (dot && strcmp(dot, ".plist") == 0 && !strstr(names[i], ".result")) {
            *dot = '\0';
            c = mdmctl_model_cmd(m, names[i]);
            if (c->plist.p == NULL) {
                snprintf(path, sizeof(path), "%s/%s/%s/%s.plist", dir, id,
                         sub, names[i]);
                c->plist.p = mdmctl_read_file(path, &c->plist.len);
            }
            mdmctl_model_target(c, id);
        }
        free(names[i]);
    }
    free(names);
}


int
mdmctl_read_filekv(const char *dir, struct mdmctl_model *m)
{
    struct mdmctl_enr  *e;
    struct mdmctl_blob  b;
    struct stat         st;
    char              **names, path[4096], *dot, *key;
    int                 n, i;
    size_t              len;

    names = mdmctl_list_dir(dir, &n);
    if (names == NULL && n == 0) {
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "mdmctl: %s: not a directory\n", dir);
            return MDMCTL_LOCAL;
        }
    }
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            memset(&b, 0, sizeof(b));
            /* an enrollment directory has a TokenUpdate or Authenticate */
            struct mdmctl_blob auth = { 0 }, tu = { 0 };
            mdmctl_file_blob(dir, names[i], "Authenticate.plist", &auth);
            mdmctl_file_blob(dir, names[i], "TokenUpdate.plist", &tu);
            if (auth.p == NULL && tu.p == NULL)
                goto next;
            e = mdmctl_model_enr(m, names[i]);
            e->authenticate = auth;
            e->token_update = tu;
            e->user = auth.p == NULL;
            mdmctl_file_blob(dir, names[i], "UnlockToken.dat",
                             &e->unlock_token);
            /* NanoMDM's file storage named some files differently over
             * time: BootstrapToken.dat, later BootstrapToken */
            if (!mdmctl_file_blob(dir, names[i], "BootstrapToken.dat",
                                  &e->bootstrap))
                mdmctl_file_blob(dir, names[i], "BootstrapToken",
                                 &e->bootstrap);
            /* a checked-out enrollment has a Disabled file */
            if (mdmctl_file_blob(dir, names[i], "Disabled", &b)) {
                e->disabled = 1;
                free(b.p);
            }
            if (mdmctl_file_blob(dir, names[i], "CertAuth.sha256.txt", &b)) {
                m->bindings++;
                free(b.p);
            }
            mdmctl_filekv_queue(m, dir, names[i], "QueueNotNow");
            mdmctl_filekv_queue(m, dir, names[i], "Queue");
        } else if ((dot = strrchr(names[i], '.')) && strcmp(dot, ".pem") == 0) {
            /* <topic>.pem with <topic>.key beside it */
            char *cert = mdmctl_read_file(path, &len), *k;
            *dot = '\0';
            snprintf(path, sizeof(path), "%s/%s.key", dir, names[i]);
            k = mdmctl_read_file(path, NULL);
            if (cert && k) {
                size_t sz = strlen(cert) + strlen(k) + 2;
                m->cert = realloc(m->cert, sizeof(*m->cert)
                                  * (size_t) (m->ncert + 1));
                m->cert[m->ncert].topic = strdup(names[i]);
                key = malloc(sz);
                snprintf(key, sz, "%s\n%s", cert, k);
                m->cert[m->ncert++].pem = key;
            }
            free(cert);
            free(k);
        }
    next:
        free(names[i]);
    }
    free(names);
    return MDMCTL_OK;
}
