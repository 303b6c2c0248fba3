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
#define NGX_HTTP_MDM_DDM_WINDOW        256


/* one call of a window in flight: which request, which entry */
typedef struct {
    ngx_http_request_t         *r;
    ngx_uint_t                  k;
} ngx_http_mdm_ddm_call_t;


static void ngx_http_mdm_ddm_op_cleanup(void *data);
static int ngx_http_mdm_ddm_shard_cmp(const void *a, const void *b);
static ngx_int_t ngx_http_mdm_ddm_window(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_ddm_phase_end(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op);
static ngx_int_t ngx_http_mdm_ddm_send(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op, ngx_http_mdm_args_t *args,
    ngx_mdm_redis_handler_pt handler, ngx_uint_t k);
static void ngx_http_mdm_ddm_sets_done(void *data, redisReply *reply);
static ngx_int_t ngx_http_mdm_ddm_window_fill(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_ddm_view_items(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ddm_window_write(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_ddm_view_args(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op, ngx_uint_t k, ngx_http_mdm_args_t *a);
static void ngx_http_mdm_ddm_written(void *data, redisReply *reply);
static ngx_int_t ngx_http_mdm_ddm_window_next(ngx_http_request_t *r);
static ngx_http_mdm_ddm_set_items_t *ngx_http_mdm_ddm_cached(
    ngx_http_mdm_ddm_op_t *op, const char *set);
static ngx_int_t ngx_http_mdm_ddm_notify(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_ddm_notified(ngx_http_request_t *r,
    redisReply *reply);


/* an enrollment ID with its shard, for the walk's order */
typedef struct {
    char                       *id;
    unsigned                    shard;
} ngx_http_mdm_ddm_sharded_t;


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

    ngx_uint_t  k;

    /* a reply still in flight must not touch the request */
    for (k = 0; op->win_cmds && k < NGX_HTTP_MDM_DDM_WINDOW; k++) {
        if (op->win_cmds[k] != NULL) {
            ngx_mdm_redis_cancel(op->win_cmds[k]);
            op->win_cmds[k] = NULL;
        }
    }

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
    if (ngx_http_mdm_ddm_views_sort(r, op) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->win_start = 0;
    op->win_esets = ngx_pcalloc(r->pool, NGX_HTTP_MDM_DDM_WINDOW
                                         * sizeof(ngx_array_t *));
    op->win_cmds = ngx_pcalloc(r->pool, NGX_HTTP_MDM_DDM_WINDOW
                                        * sizeof(ngx_mdm_redis_cmd_t *));
    if (op->win_esets == NULL || op->win_cmds == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_ddm_window(r);
}


/* op->enrs sorted by shard, then ID, each once. */
ngx_int_t
ngx_http_mdm_ddm_views_sort(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op)
{
    char                       **ids;
    unsigned                     shards;
    ngx_uint_t                   i, n;
    ngx_http_mdm_ddm_sharded_t  *s;

    ids = op->enrs->elts;
    n = op->enrs->nelts;
    shards = ngx_http_mdm_shards();

    /* each shard computed once, not in every comparison of 100,000 */
    s = ngx_palloc(r->pool, (n ? n : 1) * sizeof(ngx_http_mdm_ddm_sharded_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        s[i].id = ids[i];
        s[i].shard = mdm_shard_of(ids[i], ngx_strlen(ids[i]), shards);
    }

    ngx_qsort(s, n, sizeof(ngx_http_mdm_ddm_sharded_t),
              ngx_http_mdm_ddm_shard_cmp);

    /* each once */
    for (i = 0, n = 0; i < op->enrs->nelts; i++) {
        if (n == 0 || ngx_strcmp(ids[n - 1], s[i].id) != 0) {
            ids[n++] = s[i].id;
        }
    }

    op->enrs->nelts = n;

    return NGX_OK;
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
    const ngx_http_mdm_ddm_sharded_t  *x = a, *y = b;

    if (x->shard != y->shard) {
        return x->shard < y->shard ? -1 : 1;
    }

    return ngx_strcmp(x->id, y->id);
}


/*
 * The views are written a window of enrollments at a time, its calls sent
 * together (they are independent, each in its enrollment's slot), so that
 * a fan-out costs Redis's time rather than a round trip per call: the
 * window's sets, then the items of any set not read yet (one by one: few),
 * then the window's views. Every call sent holds the request (count), and
 * its reply releases it; the last reply of a phase starts the next.
 */
static ngx_int_t
ngx_http_mdm_ddm_window(ngx_http_request_t *r)
{
    char                   **ids;
    ngx_uint_t               k;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_ddm_op_t   *op;

    op = ngx_http_mdm_ddm_op(r);

    if (op->win_start == op->enrs->nelts) {
        return ngx_http_mdm_ddm_notify_start(r, op);
    }

    op->win_end = ngx_min(op->win_start + NGX_HTTP_MDM_DDM_WINDOW,
                          op->enrs->nelts);
    ids = op->enrs->elts;

    for (k = 0; op->win_start + k < op->win_end; k++) {
        if (ngx_http_mdm_ddm_script(r, &args, "ddm_enr", MDM_K_ENR,
                                    MDM_K_DDM_ESETS, ids[op->win_start + k], 1)
            != NGX_OK)
        {
            op->failed = NGX_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }

        ngx_http_mdm_args_add_cstr(&args, "sets");

        if (ngx_http_mdm_ddm_send(r, op, &args, ngx_http_mdm_ddm_sets_done, k)
            != NGX_OK)
        {
            break;
        }
    }

    return ngx_http_mdm_ddm_phase_end(r, op);
}


/* A phase that sent what it could: wait for the replies, or answer. */
static ngx_int_t
ngx_http_mdm_ddm_phase_end(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op)
{
    if (op->pending > 0) {
        return NGX_DONE;
    }

    return op->failed ? op->failed : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* One call of a window, sent without waiting; its reply goes to handler. */
static ngx_int_t
ngx_http_mdm_ddm_send(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op,
    ngx_http_mdm_args_t *args, ngx_mdm_redis_handler_pt handler,
    ngx_uint_t k)
{
    ngx_http_mdm_ddm_call_t   *call;
    ngx_http_mdm_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);
    call = ngx_palloc(r->pool, sizeof(ngx_http_mdm_ddm_call_t));

    if (call == NULL || args->overflow) {
        op->failed = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    if (ngx_http_mdm_schema_refused(r->connection->log)) {
        op->failed = NGX_HTTP_SERVICE_UNAVAILABLE;
        return NGX_ERROR;
    }

    call->r = r;
    call->k = k;

    op->win_cmds[k] = ngx_mdm_redis_send(mcf->rd, args->argc, args->argv,
                                         args->argvlen, handler, call);
    if (op->win_cmds[k] == NULL) {
        op->failed = NGX_HTTP_SERVICE_UNAVAILABLE;
        return NGX_ERROR;
    }

    op->pending++;
    r->main->count++;
    r->read_event_handler = ngx_http_test_reading;

    return NGX_OK;
}


/*
 * A window call's reply: NULL (timeout, lost connection) or an error fails
 * the request once every call of the phase is in; the phase's last reply
 * runs next. Returns the reply to process, or NULL.
 */
static redisReply *
ngx_http_mdm_ddm_reply_of(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op,
    redisReply *reply, int type)
{
    if (reply == NULL) {
        op->failed = NGX_HTTP_SERVICE_UNAVAILABLE;
        return NULL;
    }

    if (reply->type != type) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm ddm: unexpected reply while writing views: %*s",
                      reply->type == REDIS_REPLY_ERROR ? (int) reply->len : 0,
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        op->failed = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NULL;
    }

    return op->failed ? NULL : reply;
}


static void
ngx_http_mdm_ddm_reply_done(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op,
    ngx_int_t (*next)(ngx_http_request_t *r))
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = r->connection;

    if (--op->pending > 0) {
        rc = NGX_DONE;

    } else if (op->failed) {
        rc = op->failed;

    } else {
        rc = next(r);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_mdm_ddm_sets_done(void *data, redisReply *reply)
{
    ngx_http_mdm_ddm_call_t  *call = data;

    redisReply             *e;
    ngx_http_request_t     *r;
    ngx_http_mdm_ddm_op_t  *op;

    r = call->r;
    op = ngx_http_mdm_ddm_op(r);
    op->win_cmds[call->k] = NULL;

    e = ngx_http_mdm_ddm_reply_of(r, op, reply, REDIS_REPLY_ARRAY);
    if (e != NULL) {
        op->win_esets[call->k] = ngx_http_mdm_ddm_strings(r, e->element,
                                                         e->elements);
        if (op->win_esets[call->k] == NULL) {
            op->failed = NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_http_mdm_ddm_reply_done(r, op, ngx_http_mdm_ddm_window_fill);
}


/* The items of the window's sets not read yet, one set a call; then the
 * views. */
static ngx_int_t
ngx_http_mdm_ddm_window_fill(ngx_http_request_t *r)
{
    char                   **sets;
    ngx_uint_t               i, k;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_ddm_op_t   *op;

    op = ngx_http_mdm_ddm_op(r);

    for (k = 0; op->win_start + k < op->win_end; k++) {
        sets = op->win_esets[k]->elts;

        for (i = 0; i < op->win_esets[k]->nelts; i++) {
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
    }

    return ngx_http_mdm_ddm_window_write(r);
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

    return ngx_http_mdm_ddm_window_fill(r);
}


static ngx_int_t
ngx_http_mdm_ddm_window_write(ngx_http_request_t *r)
{
    ngx_uint_t               k;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_ddm_op_t   *op;

    op = ngx_http_mdm_ddm_op(r);

    for (k = 0; op->win_start + k < op->win_end; k++) {
        if (ngx_http_mdm_ddm_view_args(r, op, k, &args) != NGX_OK) {
            op->failed = NGX_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }

        if (ngx_http_mdm_ddm_send(r, op, &args, ngx_http_mdm_ddm_written, k)
            != NGX_OK)
        {
            break;
        }
    }

    return ngx_http_mdm_ddm_phase_end(r, op);
}


static void
ngx_http_mdm_ddm_written(void *data, redisReply *reply)
{
    ngx_http_mdm_ddm_call_t  *call = data;

    char                   **ids, **p;
    redisReply              *e;
    ngx_http_request_t      *r;
    ngx_http_mdm_ddm_op_t   *op;

    r = call->r;
    op = ngx_http_mdm_ddm_op(r);
    op->win_cmds[call->k] = NULL;
    ids = op->enrs->elts;

    e = ngx_http_mdm_ddm_reply_of(r, op, reply, REDIS_REPLY_INTEGER);

    if (e != NULL && e->integer > 0) {
        op->changed = 1;
    }

    if (e != NULL && e->integer == 2) {
        p = ngx_array_push(op->notify);
        if (p == NULL) {
            op->failed = NGX_HTTP_INTERNAL_SERVER_ERROR;
        } else {
            *p = ids[op->win_start + call->k];
        }
    }

    ngx_http_mdm_ddm_reply_done(r, op, ngx_http_mdm_ddm_window_next);
}


static ngx_int_t
ngx_http_mdm_ddm_window_next(ngx_http_request_t *r)
{
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);
    op->win_start = op->win_end;

    return ngx_http_mdm_ddm_window(r);
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
ngx_http_mdm_ddm_view_args(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op,
    ngx_uint_t k, ngx_http_mdm_args_t *a)
{
    char                          **ids, **sets, *doc, *sp;
    char                            token[MDM_DDM_DECLARATIONS_TOKEN_LEN + 1];
    size_t                          len;
    ngx_int_t                       rc;
    ngx_str_t                      *kv;
    ngx_uint_t                      i, j, n, m;
    mdm_ddm_item_t                 *items;
    mdm_ddm_error_t                 err;
    ngx_array_t                    *esets;
    ngx_http_mdm_ddm_set_items_t   *c;

    ids = op->enrs->elts;
    esets = op->win_esets[k];
    sets = esets->elts;

    for (i = 0, n = 0; i < esets->nelts; i++) {
        n += ngx_http_mdm_ddm_cached(op, sets[i])->n;
    }

    kv = ngx_palloc(r->pool, (n ? n : 2) * sizeof(ngx_str_t));
    items = ngx_palloc(r->pool, (n ? n / 2 : 1) * sizeof(mdm_ddm_item_t));
    if (kv == NULL || items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0, j = 0; i < esets->nelts; i++) {
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
                      ids[op->win_start + k], err.msg);
        return NGX_ERROR;
    }

    rc = ngx_http_mdm_ddm_script(r, a, "ddm_view", MDM_K_DDM_ITEMS,
                                 MDM_K_DDM, ids[op->win_start + k], 4 + 2 * m);
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_args_add_int(r, a, ngx_time());
    }
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_args_add_copy(r, a, token,
                                        MDM_DDM_DECLARATIONS_TOKEN_LEN);
    }
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_args_add_copy(r, a, doc, len);
    }

    free(doc);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add_cstr(a, op->nonotify ? "0" : "1");

    for (i = 0; i < 2 * m; i++) {
        ngx_http_mdm_args_add(a, kv[i].data, kv[i].len);
    }

    return NGX_OK;
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
