/*
 * What enrollments reported through DDM, in KMFDDM's shapes (services.md
 * §1.10): GET /v1/declaration-status/<ids>, /v1/status-errors/<ids>,
 * /v1/status-values/<ids>?prefix=, /v1/status-report/<id>?index=N. One
 * ddm_status.lua call per enrollment, in its slot; the answer is one JSON
 * object keyed by enrollment ID. A declaration's status is "current" when
 * the ServerToken it reported is the one its view holds now.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_keys.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"
#include "ngx_http_mdm_ddm.h"


#define NGX_HTTP_MDM_DDM_STATUS_IDS  100

typedef enum {
    NGX_HTTP_MDM_DDM_Q_DECLARATIONS = 0,
    NGX_HTTP_MDM_DDM_Q_ERRORS,
    NGX_HTTP_MDM_DDM_Q_VALUES,
    NGX_HTTP_MDM_DDM_Q_REPORT
} ngx_http_mdm_ddm_query_e;

typedef struct {
    ngx_http_mdm_ddm_query_e   query;
    ngx_array_t               *ids;      /* char * */
    ngx_uint_t                 next;
    json_t                    *root;
    ngx_str_t                  prefix;   /* status-values, without '%' */
    ngx_int_t                  index;    /* status-report */
} ngx_http_mdm_ddm_status_q_t;


static ngx_int_t ngx_http_mdm_api_ddm_status_start(ngx_http_request_t *r,
    ngx_str_t *path, ngx_http_mdm_ddm_query_e query);
static void ngx_http_mdm_api_ddm_status_cleanup(void *data);
static ngx_int_t ngx_http_mdm_api_ddm_status_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_ddm_status_reply(ngx_http_request_t *r,
    redisReply *reply);
static json_t *ngx_http_mdm_api_ddm_declarations(redisReply *reply);
static json_t *ngx_http_mdm_api_ddm_values(ngx_http_mdm_ddm_status_q_t *q,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_ddm_report(ngx_http_request_t *r,
    ngx_http_mdm_ddm_status_q_t *q, redisReply *reply);


ngx_int_t
ngx_http_mdm_api_ddm_decl_status(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_ddm_status_start(r, path,
                                             NGX_HTTP_MDM_DDM_Q_DECLARATIONS);
}


ngx_int_t
ngx_http_mdm_api_ddm_status_errors(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_ddm_status_start(r, path,
                                             NGX_HTTP_MDM_DDM_Q_ERRORS);
}


ngx_int_t
ngx_http_mdm_api_ddm_status_values(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_ddm_status_start(r, path,
                                             NGX_HTTP_MDM_DDM_Q_VALUES);
}


ngx_int_t
ngx_http_mdm_api_ddm_status_report(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_ddm_status_start(r, path,
                                             NGX_HTTP_MDM_DDM_Q_REPORT);
}


static ngx_int_t
ngx_http_mdm_api_ddm_status_start(ngx_http_request_t *r, ngx_str_t *path,
    ngx_http_mdm_ddm_query_e query)
{
    ngx_int_t                     rc;
    const char                   *err;
    ngx_pool_cleanup_t           *cln;
    ngx_http_mdm_ctx_t           *ctx;
    ngx_http_mdm_ddm_status_q_t  *q;
    ngx_http_mdm_api_arg_t        args[] = {
        { ngx_string("prefix"), ngx_null_string, 0 },
        { ngx_string("index"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };

    ctx = ngx_http_mdm_get_ctx(r);
    q = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_ddm_status_q_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || q == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->query = query;
    q->root = json_object();
    if (q->root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mdm_api_ddm_status_cleanup;
    cln->data = q;
    ctx->data = q;

    rc = ngx_http_mdm_api_args(r, args, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if ((args[0].set && query != NGX_HTTP_MDM_DDM_Q_VALUES)
        || (args[1].set && query != NGX_HTTP_MDM_DDM_Q_REPORT))
    {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "unexpected query parameter");
    }

    /* KMFDDM's prefix is SQL LIKE on ".StatusItems.<path>": a trailing
     * '%' is the only wildcard its tools send */
    q->prefix = args[0].value;
    if (q->prefix.len && q->prefix.data[q->prefix.len - 1] == '%') {
        q->prefix.len--;
    }

    if (args[1].set) {
        q->index = ngx_atoi(args[1].value.data, args[1].value.len);
        if (q->index < 0 || q->index >= 1000) {
            return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                           "index must be 0 to 999");
        }
    }

    rc = ngx_http_mdm_api_split_ids(r, path, &q->ids, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if (q->ids->nelts > NGX_HTTP_MDM_DDM_STATUS_IDS
        || (query == NGX_HTTP_MDM_DDM_Q_REPORT && q->ids->nelts != 1))
    {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       query == NGX_HTTP_MDM_DDM_Q_REPORT
                                       ? "one enrollment ID"
                                       : "at most 100 enrollment IDs");
    }

    return ngx_http_mdm_api_ddm_status_next(r);
}


static void
ngx_http_mdm_api_ddm_status_cleanup(void *data)
{
    ngx_http_mdm_ddm_status_q_t  *q = data;

    json_decref(q->root);
}


static ngx_int_t
ngx_http_mdm_api_ddm_status_next(ngx_http_request_t *r)
{
    char                         **ids, key[MDM_KEY_MAX];
    size_t                         len;
    ngx_uint_t                     i;
    ngx_http_mdm_ctx_t            *ctx;
    ngx_http_mdm_args_t            args;
    ngx_http_mdm_ddm_status_q_t   *q;

    static const char *ops[] = { "declarations", "errors", "values",
                                 "report" };
    static const mdm_key_id_t keys[] = {
        MDM_K_DDM_ITEMS, MDM_K_DDM_STATUS, MDM_K_DDM_VALUES,
        MDM_K_DDM_ERRORS, MDM_K_DDM_REPORTS
    };

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    q = ctx->data;

    if (q->next == q->ids->nelts) {
        json_incref(q->root);
        return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, q->root);
    }

    ids = q->ids->elts;

    if (ngx_http_mdm_args_init(r, &args, 3 + 5 + 2) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "ddm_status", 5) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < 5; i++) {
        len = mdm_key(key, keys[i], ids[q->next], NULL);
        if (len == 0
            || ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_http_mdm_args_add_cstr(&args, ops[q->query]);

    if (ngx_http_mdm_args_add_int(r, &args, q->index) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_ddm_status_reply);
}


static ngx_int_t
ngx_http_mdm_api_ddm_status_reply(ngx_http_request_t *r, redisReply *reply)
{
    char                         **ids;
    size_t                         i;
    json_t                        *v, *a;
    ngx_http_mdm_ctx_t            *ctx;
    ngx_http_mdm_ddm_status_q_t   *q;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    q = ctx->data;
    ids = q->ids->elts;

    switch (q->query) {

    case NGX_HTTP_MDM_DDM_Q_REPORT:
        return ngx_http_mdm_api_ddm_report(r, q, reply);

    case NGX_HTTP_MDM_DDM_Q_DECLARATIONS:
        a = ngx_http_mdm_api_ddm_declarations(reply);
        break;

    case NGX_HTTP_MDM_DDM_Q_VALUES:
        a = ngx_http_mdm_api_ddm_values(q, reply);
        break;

    default:
        a = json_array();
        for (i = 0; a && reply->type == REDIS_REPLY_ARRAY
                    && i < reply->elements; i++)
        {
            v = json_loadb(reply->element[i]->str, reply->element[i]->len,
                           0, NULL);
            if (v != NULL) {
                json_array_append_new(a, v);
            }
        }
        break;
    }

    if (a == NULL || json_object_set_new(q->root, ids[q->next], a) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->next++;

    return ngx_http_mdm_api_ddm_status_next(r);
}


/* The token of Identifier id in the view (HGETALL), or NULL. */
static const char *
ngx_http_mdm_api_ddm_assigned(redisReply *items, const char *id)
{
    size_t       i;
    const char  *sp;

    for (i = 0; i + 1 < items->elements; i += 2) {
        if (ngx_strcmp(items->element[i]->str, id) == 0) {
            sp = ngx_strchr(items->element[i + 1]->str, ' ');
            return sp ? sp + 1 : NULL;
        }
    }

    return NULL;
}


static json_t *
ngx_http_mdm_api_ddm_declarations(redisReply *reply)
{
    size_t       i;
    json_t      *a, *v, *tok;
    redisReply  *items, *status;
    const char  *assigned;

    a = json_array();

    if (a == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2)
    {
        return a;
    }

    items = reply->element[0];
    status = reply->element[1];

    for (i = 0; i + 1 < status->elements; i += 2) {
        v = json_loadb(status->element[i + 1]->str,
                       status->element[i + 1]->len, 0, NULL);
        if (v == NULL) {
            continue;
        }

        assigned = ngx_http_mdm_api_ddm_assigned(items,
                                                 status->element[i]->str);
        tok = json_object_get(v, "server-token");

        json_object_set_new(v, "current",
                            json_boolean(assigned && json_is_string(tok)
                                && ngx_strcmp(json_string_value(tok),
                                              assigned) == 0));
        json_array_append_new(a, v);
    }

    return a;
}


static json_t *
ngx_http_mdm_api_ddm_values(ngx_http_mdm_ddm_status_q_t *q,
    redisReply *reply)
{
    u_char       path[MDM_DDM_PATH_MAX + 16];
    size_t       i, len;
    json_t      *a, *v;
    redisReply  *p;

    a = json_array();

    for (i = 0; a && reply->type == REDIS_REPLY_ARRAY
                && i + 1 < reply->elements; i += 2)
    {
        p = reply->element[i];
        if (p->len > MDM_DDM_PATH_MAX) {
            continue;
        }

        /* KMFDDM's paths start at the report's root */
        len = ngx_sprintf(path, ".StatusItems.%s", p->str) - path;

        /* no prefix: every value (its data is NULL, strncmp must not see it) */
        if (q->prefix.len > len
            || (q->prefix.len
                && ngx_strncmp(path, q->prefix.data, q->prefix.len) != 0))
        {
            continue;
        }

        v = json_loadb(reply->element[i + 1]->str,
                       reply->element[i + 1]->len, 0, NULL);
        if (v == NULL) {
            continue;
        }

        json_object_set_new(v, "path", json_stringn((char *) path, len));
        json_array_append_new(a, v);
    }

    return a;
}


/* The raw report, as stored: "<unix s> <status_id>\n<JSON>". */
static ngx_int_t
ngx_http_mdm_api_ddm_report(ngx_http_request_t *r,
    ngx_http_mdm_ddm_status_q_t *q, redisReply *reply)
{
    u_char           *nl, *sp, *idx;
    time_t            when;
    ngx_table_elt_t  *h;

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "no status report at that index");
    }

    nl = (u_char *) ngx_strchr(reply->str, '\n');
    sp = (u_char *) ngx_strchr(reply->str, ' ');
    if (nl == NULL || sp == NULL || sp > nl) {
        return ngx_http_mdm_api_unexpected(r, "ddm_status");
    }

    when = ngx_atotm((u_char *) reply->str, sp - (u_char *) reply->str);
    r->headers_out.last_modified_time = when;

    idx = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    h = ngx_list_push(&r->headers_out.headers);
    if (idx == NULL || h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    h->hash = 1;
    ngx_str_set(&h->key, "X-Status-Report-Index");
    h->value.data = idx;
    h->value.len = ngx_sprintf(idx, "%i", q->index) - idx;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    h->hash = 1;
    ngx_str_set(&h->key, "X-Status-Report-ID");
    h->value.data = ngx_pnalloc(r->pool, nl - sp - 1);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    h->value.len = nl - sp - 1;
    ngx_memcpy(h->value.data, sp + 1, h->value.len);

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/json", nl + 1,
                             reply->len - (nl + 1 - (u_char *) reply->str));
}
