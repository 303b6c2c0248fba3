/*
 * The views of the enrollments a catalogue change reaches (docs/ddm.md,
 * "Storage"): the join of enrollment → sets → declarations is made here,
 * by the API, and written into each enrollment's own keys, so that a
 * device request is answered from its slot in one call. Per enrollment:
 * its sets (ddm_enr.lua, its slot), the items of each set not read yet in
 * this request (ddm_set.lua, the set's slot), then the view with its
 * DeclarationsToken (ddm_view.lua, its slot). The enrollments are walked
 * sorted by shard, then ID, so that a fan-out visits a shard's devices
 * together.
 *
 * An enrollment whose token changed and which has no DeclarativeManagement
 * command pending is marked pending by ddm_view.lua; those are then given
 * one command, enqueued in chunks with a push (enqueue.lua). A request
 * that said nonotify marks nothing, so a later change still notifies. The
 * mark goes when the device fetches its tokens or items, so ten quick
 * changes make one sync per device.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "mdm_shard.h"
#include "mdm_uuid.h"
#include "ddm/mdm_ddm_document.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_schema.h"
#include "ngx_http_mdm_api.h"
#include "ngx_http_mdm_ddm.h"


#define NGX_HTTP_MDM_DDM_NOTIFY_CHUNK  500


static void ngx_http_mdm_ddm_op_cleanup(void *data);
static int ngx_http_mdm_ddm_shard_cmp(const void *a, const void *b);
static ngx_int_t ngx_http_mdm_ddm_view_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_ddm_view_sets(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ddm_view_fill(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_ddm_view_items(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ddm_view_write(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_ddm_view_written(ngx_http_request_t *r,
    redisReply *reply);
static ngx_http_mdm_ddm_set_items_t *ngx_http_mdm_ddm_cached(
    ngx_http_mdm_ddm_op_t *op, const char *set);
static ngx_int_t ngx_http_mdm_ddm_notify(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_ddm_notified(ngx_http_request_t *r,
    redisReply *reply);


static unsigned  ngx_http_mdm_ddm_nshards;


/* The request's DDM state in ctx->data, made once. */
ngx_http_mdm_ddm_op_t *
ngx_http_mdm_ddm_op(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_mdm_ctx_t     *ctx;
    ngx_http_mdm_ddm_op_t  *op;

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    if (ctx->data != NULL) {
        return ctx->data;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_ddm_op_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (op == NULL || cln == NULL) {
        return NULL;
    }

    op->enrs = ngx_array_create(r->pool, 4, sizeof(char *));
    op->cache = ngx_array_create(r->pool, 4,
                                 sizeof(ngx_http_mdm_ddm_set_items_t));
    op->notify = ngx_array_create(r->pool, 4, sizeof(char *));
    if (op->enrs == NULL || op->cache == NULL || op->notify == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mdm_ddm_op_cleanup;
    cln->data = op;
    ctx->data = op;

    return op;
}


static void
ngx_http_mdm_ddm_op_cleanup(void *data)
{
    ngx_http_mdm_ddm_op_t  *op = data;

    if (op->parsed) {
        mdm_ddm_declaration_free(&op->d);
    }
}


/* Reply strings as NUL-terminated copies in the pool. */
ngx_array_t *
ngx_http_mdm_ddm_strings(ngx_http_request_t *r, redisReply **e, size_t n)
{
    char        **p;
    size_t        i;
    ngx_str_t     s;
    ngx_array_t  *a;

    a = ngx_array_create(r->pool, n ? n : 1, sizeof(char *));
    if (a == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if (e[i]->type != REDIS_REPLY_STRING) {
            continue;
        }
        s.data = (u_char *) e[i]->str;
        s.len = e[i]->len;
        p = ngx_array_push(a);
        if (p == NULL || (*p = ngx_http_mdm_cstr(r->pool, &s)) == NULL) {
            return NULL;
        }
    }

    return a;
}


ngx_int_t
ngx_http_mdm_ddm_add_enr(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op,
    const char *id)
{
    char       **p;
    ngx_str_t    s;

    s.data = (u_char *) id;
    s.len = ngx_strlen(id);

    p = ngx_array_push(op->enrs);
    if (p == NULL || (*p = ngx_http_mdm_cstr(r->pool, &s)) == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_mdm_ddm_add_enrs(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op,
    redisReply **e, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (e[i]->type == REDIS_REPLY_STRING
            && ngx_http_mdm_ddm_add_enr(r, op, e[i]->str) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A script call on one catalogue or enrollment key pair: EVALSHA <sha> 2
 * k1(owner) k2(owner), room for nargs more arguments.
 */
ngx_int_t
ngx_http_mdm_ddm_script(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    const char *script, mdm_key_id_t k1, mdm_key_id_t k2, const char *owner,
    ngx_uint_t nargs)
{
    char    buf[MDM_KEY_MAX];
    size_t  len;

    if (ngx_http_mdm_args_init(r, args, 3 + 2 + nargs) != NGX_OK
        || ngx_http_mdm_args_script(r, args, script, 2) != NGX_OK)
    {
        return NGX_ERROR;
    }

    len = mdm_key(buf, k1, owner, NULL);
    if (len == 0 || ngx_http_mdm_args_add_copy(r, args, buf, len) != NGX_OK) {
        return NGX_ERROR;
    }

    len = mdm_key(buf, k2, owner, NULL);
    if (len == 0 || ngx_http_mdm_args_add_copy(r, args, buf, len) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Every view of op->enrs rebuilt, then the notification, then op->done. */
ngx_int_t
ngx_http_mdm_ddm_views(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op)
{
    ngx_http_mdm_ddm_views_sort(op);

    op->enr_next = 0;

    return ngx_http_mdm_ddm_view_next(r);
}


/* op->enrs sorted by shard, then ID, each once. */
void
ngx_http_mdm_ddm_views_sort(ngx_http_mdm_ddm_op_t *op)
{
    char       **ids;
    ngx_uint_t   i, n;

    ids = op->enrs->elts;
    ngx_http_mdm_ddm_nshards = ngx_http_mdm_shards();

    ngx_qsort(ids, op->enrs->nelts, sizeof(char *),
              ngx_http_mdm_ddm_shard_cmp);

    /* each once */
    for (i = 0, n = 0; i < op->enrs->nelts; i++) {
        if (n == 0 || ngx_strcmp(ids[n - 1], ids[i]) != 0) {
            ids[n++] = ids[i];
        }
    }

    op->enrs->nelts = n;
}


/* The command to every enrollment of op->notify (none: op->done). */
ngx_int_t
ngx_http_mdm_ddm_notify_start(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op)
{
    op->notify_next = 0;

    return ngx_http_mdm_ddm_notify(r);
}


static int
ngx_http_mdm_ddm_shard_cmp(const void *a, const void *b)
{
    const char  *x = *(const char **) a, *y = *(const char **) b;
    unsigned     sx, sy;

    sx = mdm_shard_of(x, ngx_strlen(x), ngx_http_mdm_ddm_nshards);
    sy = mdm_shard_of(y, ngx_strlen(y), ngx_http_mdm_ddm_nshards);

    if (sx != sy) {
        return sx < sy ? -1 : 1;
    }

    return ngx_strcmp(x, y);
}


static ngx_int_t
ngx_http_mdm_ddm_view_next(ngx_http_request_t *r)
{
    char                   **ids;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_ddm_op_t   *op;

    op = ngx_http_mdm_ddm_op(r);

    if (op->enr_next == op->enrs->nelts) {
        return ngx_http_mdm_ddm_notify_start(r, op);
    }

    ids = op->enrs->elts;

    if (ngx_http_mdm_ddm_script(r, &args, "ddm_enr", MDM_K_ENR,
                                MDM_K_DDM_ESETS, ids[op->enr_next], 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "sets");

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_ddm_view_sets);
}


static ngx_int_t
ngx_http_mdm_ddm_view_sets(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_unexpected(r, "ddm_enr");
    }

    op->esets = ngx_http_mdm_ddm_strings(r, reply->element, reply->elements);
    if (op->esets == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_ddm_view_fill(r);
}


/* The items of the enrollment's next set not read yet; then the view. */
static ngx_int_t
ngx_http_mdm_ddm_view_fill(ngx_http_request_t *r)
{
    char                   **sets;
    ngx_uint_t               i;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_ddm_op_t   *op;

    op = ngx_http_mdm_ddm_op(r);
    sets = op->esets->elts;

    for (i = 0; i < op->esets->nelts; i++) {
        if (ngx_http_mdm_ddm_cached(op, sets[i]) != NULL) {
            continue;
        }

        op->set = sets[i];

        if (ngx_http_mdm_ddm_script(r, &args, "ddm_set", MDM_K_DDM_SET,
                                    MDM_K_DDM_SET_ENRS, sets[i], 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_mdm_args_add_cstr(&args, "items");

        return ngx_http_mdm_eval(r, &args, ngx_http_mdm_ddm_view_items);
    }

    return ngx_http_mdm_ddm_view_write(r);
}


static ngx_int_t
ngx_http_mdm_ddm_view_items(ngx_http_request_t *r, redisReply *reply)
{
    size_t                         i;
    ngx_http_mdm_ddm_op_t         *op;
    ngx_http_mdm_ddm_set_items_t  *c;

    op = ngx_http_mdm_ddm_op(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        return ngx_http_mdm_api_unexpected(r, "ddm_set");
    }

    c = ngx_array_push(op->cache);
    if (c == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    c->name = op->set;
    c->n = reply->elements;
    c->kv = ngx_palloc(r->pool, (c->n ? c->n : 1) * sizeof(ngx_str_t));
    if (c->kv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < c->n; i++) {
        c->kv[i].len = reply->element[i]->len;
        c->kv[i].data = ngx_pnalloc(r->pool, c->kv[i].len + 1);
        if (c->kv[i].data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_memcpy(c->kv[i].data, reply->element[i]->str, c->kv[i].len);
        c->kv[i].data[c->kv[i].len] = '\0';
    }

    return ngx_http_mdm_ddm_view_fill(r);
}


static ngx_http_mdm_ddm_set_items_t *
ngx_http_mdm_ddm_cached(ngx_http_mdm_ddm_op_t *op, const char *set)
{
    ngx_uint_t                     i;
    ngx_http_mdm_ddm_set_items_t  *c;

    c = op->cache->elts;

    for (i = 0; i < op->cache->nelts; i++) {
        if (ngx_strcmp(c[i].name, set) == 0) {
            return &c[i];
        }
    }

    return NULL;
}


/* Two items (Identifier, item) by their Identifier's bytes. */
static int
ngx_http_mdm_ddm_kv_cmp(const void *a, const void *b)
{
    const ngx_str_t  *x = a, *y = b;

    return ngx_strcmp(x[0].data, y[0].data);
}


/*
 * The union of the enrollment's sets, each Identifier once, and what the
 * device endpoints serve from it, rendered here once per change rather
 * than on every request: the DeclarationItemsResponse and its
 * DeclarationsToken (libmdm/ddm/mdm_ddm_document.h).
 */
static ngx_int_t
ngx_http_mdm_ddm_view_write(ngx_http_request_t *r)
{
    char                          **ids, **sets, *doc, *sp;
    char                            token[MDM_DDM_DECLARATIONS_TOKEN_LEN + 1];
    size_t                          len;
    ngx_int_t                       rc;
    ngx_str_t                      *kv;
    ngx_uint_t                      i, j, n, m;
    mdm_ddm_item_t                 *items;
    mdm_ddm_error_t                 err;
    ngx_http_mdm_args_t             args;
    ngx_http_mdm_ddm_op_t          *op;
    ngx_http_mdm_ddm_set_items_t   *c;

    op = ngx_http_mdm_ddm_op(r);
    ids = op->enrs->elts;
    sets = op->esets->elts;

    for (i = 0, n = 0; i < op->esets->nelts; i++) {
        n += ngx_http_mdm_ddm_cached(op, sets[i])->n;
    }

    kv = ngx_palloc(r->pool, (n ? n : 2) * sizeof(ngx_str_t));
    items = ngx_palloc(r->pool, (n ? n / 2 : 1) * sizeof(mdm_ddm_item_t));
    if (kv == NULL || items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0, j = 0; i < op->esets->nelts; i++) {
        c = ngx_http_mdm_ddm_cached(op, sets[i]);
        ngx_memcpy(&kv[j], c->kv, c->n * sizeof(ngx_str_t));
        j += c->n;
    }

    ngx_qsort(kv, n / 2, 2 * sizeof(ngx_str_t), ngx_http_mdm_ddm_kv_cmp);

    for (i = 0, m = 0; i < n; i += 2) {
        if (m > 0 && ngx_strcmp(kv[i].data, items[m - 1].identifier) == 0) {
            continue;
        }

        sp = (char *) ngx_strlchr(kv[i + 1].data,
                                  kv[i + 1].data + kv[i + 1].len, ' ');
        if (sp == NULL) {
            return ngx_http_mdm_api_unexpected(r, "ddm_set");
        }

        items[m].identifier = (char *) kv[i].data;
        items[m].kind = mdm_ddm_kind_from_name((char *) kv[i + 1].data,
                                               sp - (char *) kv[i + 1].data);
        items[m].server_token = sp + 1;
        kv[m * 2] = kv[i];
        kv[m * 2 + 1] = kv[i + 1];
        m++;
    }

    doc = mdm_ddm_items_document(items, m, token, &len, &err);
    if (doc == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mdm ddm: the view of \"%s\" cannot be listed: %s",
                      ids[op->enr_next], err.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_ddm_script(r, &args, "ddm_view", MDM_K_DDM_ITEMS,
                                 MDM_K_DDM, ids[op->enr_next], 4 + 2 * m);
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_args_add_int(r, &args, ngx_time());
    }
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_args_add_copy(r, &args, token,
                                        MDM_DDM_DECLARATIONS_TOKEN_LEN);
    }
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_args_add_copy(r, &args, doc, len);
    }

    free(doc);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, op->nonotify ? "0" : "1");

    for (i = 0; i < 2 * m; i++) {
        ngx_http_mdm_args_add(&args, kv[i].data, kv[i].len);
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_ddm_view_written);
}


static ngx_int_t
ngx_http_mdm_ddm_view_written(ngx_http_request_t *r, redisReply *reply)
{
    char                   **ids, **p;
    ngx_http_mdm_ddm_op_t   *op;

    op = ngx_http_mdm_ddm_op(r);
    ids = op->enrs->elts;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_mdm_api_unexpected(r, "ddm_view");
    }

    if (reply->integer > 0) {
        op->changed = 1;
    }

    if (reply->integer == 2) {
        p = ngx_array_push(op->notify);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *p = ids[op->enr_next];
    }

    op->enr_next++;

    return ngx_http_mdm_ddm_view_next(r);
}


/*
 * One DeclarativeManagement command for every enrollment marked, in
 * chunks (with nonotify ddm_view.lua marked none).
 */
static ngx_int_t
ngx_http_mdm_ddm_notify(ngx_http_request_t *r)
{
    u_char                  *p;
    ngx_uint_t               last;
    mdm_argv_t               args;
    mdm_store_enqueue_t      in;
    ngx_http_mdm_ddm_op_t   *op;

    static const char  fmt[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
        "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
        "<plist version=\"1.0\"><dict><key>Command</key><dict>"
        "<key>RequestType</key><string>DeclarativeManagement</string>"
        "</dict><key>CommandUUID</key><string>%s</string></dict>"
        "</plist>\n";

    op = ngx_http_mdm_ddm_op(r);

    if (op->nonotify || op->notify_next == op->notify->nelts) {
        return op->done(r, op);
    }

    if (op->notify_next == 0) {
        if (mdm_uuid_generate(op->uuid) != 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_pnalloc(r->pool, sizeof(fmt) + MDM_UUID_LEN);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        op->cmd_body.data = p;
        op->cmd_body.len = ngx_sprintf(p, fmt, op->uuid) - p;
    }

    last = ngx_min(op->notify_next + NGX_HTTP_MDM_DDM_NOTIFY_CHUNK,
                   op->notify->nelts);

    ngx_memzero(&in, sizeof(mdm_store_enqueue_t));
    in.uuid = op->uuid;
    in.body = op->cmd_body.data;
    in.body_len = op->cmd_body.len;
    in.request_type = "DeclarativeManagement";
    in.now = ngx_time();
    in.first = (op->notify_next == 0);
    in.last = (last == op->notify->nelts);
    in.ids = (char **) op->notify->elts + op->notify_next;
    in.nids = last - op->notify_next;

    if (ngx_http_mdm_store_init(r, &args, MDM_STORE_ENQUEUE_ARGC(in.nids),
                                MDM_STORE_ENQUEUE_KEYS) != NGX_OK
        || mdm_store_enqueue_argv(&in, &args) != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->notify_next = last;

    return ngx_http_mdm_store_eval(r, &args, ngx_http_mdm_ddm_notified);
}


static ngx_int_t
ngx_http_mdm_ddm_notified(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return ngx_http_mdm_api_unexpected(r, "enqueue");
    }

    if (ngx_strcmp(reply->element[0]->str, "ok") != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mdm ddm: DeclarativeManagement %s not enqueued: %s",
                      op->uuid, reply->element[1]->str);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->notified += reply->element[1]->integer;

    return ngx_http_mdm_ddm_notify(r);
}
