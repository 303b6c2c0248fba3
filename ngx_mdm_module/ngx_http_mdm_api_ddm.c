/*
 * The declarative management catalogue, KMFDDM's API (services.md §1.10,
 * docs/ddm.md): declarations, sets, and the sets of enrollments. Change
 * routes answer 204 when something changed and 304 when nothing did, as
 * KMFDDM's code does; ?nonotify suppresses the DeclarativeManagement
 * command. Every Redis step is one slot: the declaration's, the set's or
 * the enrollment's (ddm_decl.lua, ddm_set.lua, ddm_enr.lua), then the
 * views of the enrollments reached (ngx_http_mdm_ddm_view.c).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_keys.h"
#include "ddm/mdm_ddm.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"
#include "ngx_http_mdm_ddm.h"


static ngx_int_t ngx_http_mdm_api_ddm_query(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op, const char *want, const char **err);
static ngx_int_t ngx_http_mdm_api_ddm_name(ngx_http_request_t *r,
    ngx_str_t *s, const char *what, char **out, const char **err);
static ngx_int_t ngx_http_mdm_api_ddm_list(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_ddm_keys(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_ddm_send_strings(ngx_http_request_t *r,
    redisReply *reply, size_t stride);
static ngx_int_t ngx_http_mdm_api_ddm_result(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op);
static ngx_uint_t ngx_http_mdm_api_ddm_is_err(redisReply *reply);

static void ngx_http_mdm_api_decl_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_decl_parse(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_decl_store(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op);
static ngx_int_t ngx_http_mdm_api_decl_stored(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_decl_touch_got(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_notify_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_notify_sets(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_notify_enrs(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_decl_indexed(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_decl_sets_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_decl_set_updated(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_decl_got(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_decl_deleted(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_decl_unindexed(ngx_http_request_t *r,
    redisReply *reply);

static ngx_int_t ngx_http_mdm_api_setdecl_decl(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_setdecl_set(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_setdecl_indexed(ngx_http_request_t *r,
    redisReply *reply);

static ngx_int_t ngx_http_mdm_api_enrset_known(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_enrset_assigned(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_enrset_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_enrset_cleared(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_enrset_unassign_next(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_enrset_unassigned(ngx_http_request_t *r,
    redisReply *reply);


/* ---------------------------------------------------------------------------
 * Shared: names, the query, plain one-key commands, lists
 * -------------------------------------------------------------------------- */

/*
 * The query of a change route: nonotify always, and the one parameter
 * `want` ("declaration", "set" or NULL) names, which must be there.
 * NGX_DECLINED with *err for a 400.
 */
static ngx_int_t
ngx_http_mdm_api_ddm_query(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op,
    const char *want, const char **err)
{
    ngx_int_t                rc;
    ngx_str_t               *v;
    ngx_http_mdm_api_arg_t   q[] = {
        { ngx_string("nonotify"), ngx_null_string, 0 },
        { ngx_string("declaration"), ngx_null_string, 0 },
        { ngx_string("set"), ngx_null_string, 0 },
        { ngx_string("dryrun"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };

    rc = ngx_http_mdm_api_args(r, q, err);
    if (rc != NGX_OK) {
        return rc;
    }

    /* KMFDDM: anything but "", 0, false, no, off */
    v = &q[0].value;
    op->nonotify = q[0].set && v->len
                   && !(v->len == 1 && v->data[0] == '0')
                   && ngx_strcasecmp(v->data, (u_char *) "false") != 0
                   && ngx_strcasecmp(v->data, (u_char *) "no") != 0
                   && ngx_strcasecmp(v->data, (u_char *) "off") != 0;

    /* dryrun: PUT /v1/declarations only (the one PUT without a want) */
    op->dryrun = q[3].set && !(q[3].value.len == 1
                               && q[3].value.data[0] == '0');

    if ((q[1].set && (want == NULL || want[0] != 'd'))
        || (q[2].set && (want == NULL || want[0] != 's'))
        || (q[3].set && (want != NULL || r->method != NGX_HTTP_PUT)))
    {
        *err = "unexpected query parameter";
        return NGX_DECLINED;
    }

    if (want == NULL) {
        return NGX_OK;
    }

    if (want[0] == 'd') {
        if (!q[1].set) {
            *err = "missing declaration parameter";
            return NGX_DECLINED;
        }
        return ngx_http_mdm_api_ddm_name(r, &q[1].value, "declaration",
                                         &op->decl, err);
    }

    if (!q[2].set) {
        *err = "missing set parameter";
        return NGX_DECLINED;
    }

    return ngx_http_mdm_api_ddm_name(r, &q[2].value, "set", &op->set, err);
}


/*
 * A declaration Identifier or a set name: 1 to 64 octets without control
 * characters (mdm_ddm_id_valid); NGX_DECLINED with *err for a 400.
 */
static ngx_int_t
ngx_http_mdm_api_ddm_name(ngx_http_request_t *r, ngx_str_t *s,
    const char *what, char **out, const char **err)
{
    u_char  *msg;

    if (!mdm_ddm_id_valid((char *) s->data, s->len)
        || ngx_strlchr(s->data, s->data + s->len, '\0') != NULL)
    {
        msg = ngx_pnalloc(r->pool, 80);
        if (msg == NULL) {
            return NGX_ERROR;
        }
        ngx_sprintf(msg, "%s must be 1 to %d bytes without control "
                    "characters%Z", what, MDM_DDM_ID_MAX);
        *err = (char *) msg;
        return NGX_DECLINED;
    }

    *out = ngx_http_mdm_cstr(r->pool, s);

    return *out ? NGX_OK : NGX_ERROR;
}


static int
ngx_http_mdm_api_ddm_strcmp(const void *a, const void *b)
{
    return ngx_strcmp(*(const char **) a, *(const char **) b);
}


/* Every stride-th string of the reply as a JSON array, sorted. */
static ngx_int_t
ngx_http_mdm_api_ddm_send_strings(ngx_http_request_t *r, redisReply *reply,
    size_t stride)
{
    char        **s;
    size_t        i, n;
    json_t       *a;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_unexpected(r, "ddm");
    }

    s = ngx_palloc(r->pool, (reply->elements + 1) * sizeof(char *));
    a = json_array();
    if (s == NULL || a == NULL) {
        json_decref(a);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0, n = 0; i < reply->elements; i += stride) {
        if (reply->element[i]->type == REDIS_REPLY_STRING) {
            s[n++] = reply->element[i]->str;
        }
    }

    ngx_qsort(s, n, sizeof(char *), ngx_http_mdm_api_ddm_strcmp);

    for (i = 0; i < n; i++) {
        json_array_append_new(a, json_string(s[i]));
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, a);
}


static ngx_int_t
ngx_http_mdm_api_ddm_list(ngx_http_request_t *r, redisReply *reply)
{
    return ngx_http_mdm_api_ddm_send_strings(r, reply, 1);
}


static ngx_int_t
ngx_http_mdm_api_ddm_keys(ngx_http_request_t *r, redisReply *reply)
{
    return ngx_http_mdm_api_ddm_send_strings(r, reply, 2);
}


/* {'err', reason} from one of the scripts */
static ngx_uint_t
ngx_http_mdm_api_ddm_is_err(redisReply *reply)
{
    return reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
           && reply->element[0]->type == REDIS_REPLY_STRING
           && ngx_strcmp(reply->element[0]->str, "err") == 0
           && reply->element[1]->type == REDIS_REPLY_STRING;
}


/* After the views (and the command): 204 changed, 304 unchanged. */
static ngx_int_t
ngx_http_mdm_api_ddm_result(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op)
{
    if (op->notified) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm ddm: DeclarativeManagement %s enqueued to %ui "
                      "enrollments", op->uuid, op->notified);
    }

    return ngx_http_mdm_send(r, op->changed ? NGX_HTTP_NO_CONTENT
                                            : NGX_HTTP_NOT_MODIFIED,
                             NULL, NULL, 0);
}


/* ---------------------------------------------------------------------------
 * GET /v1/declarations, GET /v1/sets
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_ddm_decls(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t    rc;
    const char  *err;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    return ngx_http_mdm_key_command(r, "SMEMBERS", MDM_K_DDM_DECLS, NULL,
                                    NULL, ngx_http_mdm_api_ddm_list);
}


ngx_int_t
ngx_http_mdm_api_ddm_sets(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t    rc;
    const char  *err;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    return ngx_http_mdm_key_command(r, "SMEMBERS", MDM_K_DDM_SETS, NULL,
                                    NULL, ngx_http_mdm_api_ddm_list);
}


/* ---------------------------------------------------------------------------
 * PUT /v1/declarations: validated, stored once, handed on to its sets
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_ddm_decl_put(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t               rc;
    const char             *err;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_api_ddm_query(r, op, NULL, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    return ngx_http_mdm_read_body(r, ngx_http_mdm_api_decl_body);
}


static void
ngx_http_mdm_api_decl_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mdm_api_decl_parse(r));
}


static ngx_int_t
ngx_http_mdm_api_decl_parse(ngx_http_request_t *r)
{
    ngx_str_t               body;
    json_t                 *json;
    mdm_ddm_error_t         err;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    switch (ngx_http_mdm_body(r, &body)) {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "body larger than "
                                       "client_body_buffer_size");
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mdm_ddm_declaration_parse((char *) body.data, body.len, 0, &op->d,
                                  &err)
        != MDM_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm api: declaration refused: %s (%s at \"%s\")",
                      err.msg, err.rule, err.path);
        json = mdm_ddm_error_json(&err);
        if (json == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return ngx_http_mdm_api_send_json(r,
                   ngx_strcmp(err.rule, "size") == 0
                   ? NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
                   : NGX_HTTP_BAD_REQUEST, json);
    }

    op->parsed = 1;

    if (op->dryrun) {
        json = json_pack("{s:b,s:s,s:s,s:s}", "valid", 1,
                         "Identifier", op->d.identifier, "Type", op->d.type,
                         "ServerToken", op->d.server_token);
        return json ? ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, json)
                    : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_decl_store(r, op);
}


/* The parsed (or touched) declaration stored: ddm_decl.lua's put. */
static ngx_int_t
ngx_http_mdm_api_decl_store(ngx_http_request_t *r, ngx_http_mdm_ddm_op_t *op)
{
    u_char               *p;
    ngx_http_mdm_args_t   args;

    op->decl = (char *) op->d.identifier;

    p = ngx_snprintf(op->item, sizeof(op->item) - 1, "%s %s",
                     mdm_ddm_kind_name(op->d.kind), op->d.server_token);
    *p = '\0';

    if (ngx_http_mdm_ddm_script(r, &args, "ddm_decl", MDM_K_DDM_DECL,
                                MDM_K_DDM_DECL_SETS, op->decl, 8)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "put");
    ngx_http_mdm_args_add_cstr(&args, op->d.type);
    ngx_http_mdm_args_add_cstr(&args, mdm_ddm_kind_name(op->d.kind));
    ngx_http_mdm_args_add_cstr(&args, op->d.server_token);
    ngx_http_mdm_args_add(&args, op->d.document, op->d.document_len);
    ngx_http_mdm_args_add(&args, op->d.canonical, op->d.canonical_len);

    if (ngx_http_mdm_args_add_int(r, &args, op->d.touch) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->done = ngx_http_mdm_api_ddm_result;

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_decl_stored);
}


static ngx_int_t
ngx_http_mdm_api_decl_stored(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_http_mdm_api_unexpected(r, "ddm_decl");
    }

    if (reply->element[0]->integer == 0) {
        return ngx_http_mdm_api_ddm_result(r, op);
    }

    op->changed = 1;
    op->sets = ngx_http_mdm_ddm_strings(r, reply->element + 1,
                                        reply->elements - 1);
    if (op->sets == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_key_command(r, "SADD", MDM_K_DDM_DECLS, NULL,
                                    op->decl,
                                    ngx_http_mdm_api_decl_indexed);
}


static ngx_int_t
ngx_http_mdm_api_decl_indexed(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);
    op->set_next = 0;

    return ngx_http_mdm_api_decl_sets_next(r);
}


/* The declaration's new item into each set holding it, one set a call. */
static ngx_int_t
ngx_http_mdm_api_decl_sets_next(ngx_http_request_t *r)
{
    char                   **sets;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_ddm_op_t   *op;

    op = ngx_http_mdm_ddm_op(r);

    if (op->set_next == op->sets->nelts) {
        return ngx_http_mdm_ddm_views(r, op);
    }

    sets = op->sets->elts;

    if (ngx_http_mdm_ddm_script(r, &args, "ddm_set", MDM_K_DDM_SET,
                                MDM_K_DDM_SET_ENRS, sets[op->set_next], 3)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "update");
    ngx_http_mdm_args_add_cstr(&args, op->decl);
    ngx_http_mdm_args_add_cstr(&args, (char *) op->item);

    op->set_next++;

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_decl_set_updated);
}


static ngx_int_t
ngx_http_mdm_api_decl_set_updated(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        return ngx_http_mdm_api_unexpected(r, "ddm_set");
    }

    if (ngx_http_mdm_ddm_add_enrs(r, op, reply->element + 2,
                                  reply->elements - 2)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_decl_sets_next(r);
}


/* ---------------------------------------------------------------------------
 * GET, DELETE /v1/declarations/<id>
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_ddm_decl(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t               rc;
    const char             *err;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_api_ddm_query(r, op, NULL, &err);
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_ddm_name(r, path, "declaration", &op->decl,
                                       &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if (ngx_http_mdm_ddm_script(r, &args, "ddm_decl", MDM_K_DDM_DECL,
                                MDM_K_DDM_DECL_SETS, op->decl, 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_DELETE) {
        ngx_http_mdm_args_add_cstr(&args, "del");
        return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_decl_deleted);
    }

    ngx_http_mdm_args_add_cstr(&args, "get");

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_decl_got);
}


static ngx_int_t
ngx_http_mdm_api_decl_got(ngx_http_request_t *r, redisReply *reply)
{
    redisReply  *doc;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "unknown declaration");
    }

    if (reply->elements < 4 || reply->element[3]->type != REDIS_REPLY_STRING) {
        return ngx_http_mdm_api_unexpected(r, "ddm_decl");
    }

    doc = reply->element[3];

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/json",
                             (u_char *) doc->str, doc->len);
}


static ngx_int_t
ngx_http_mdm_api_decl_deleted(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (ngx_http_mdm_api_ddm_is_err(reply)) {
        /* KMFDDM answers 500; the client can do something about it */
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_CONFLICT,
                                       reply->element[1]->str);
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_mdm_api_unexpected(r, "ddm_decl");
    }

    if (reply->integer == 0) {
        return ngx_http_mdm_send(r, NGX_HTTP_NOT_MODIFIED, NULL, NULL, 0);
    }

    return ngx_http_mdm_key_command(r, "SREM", MDM_K_DDM_DECLS, NULL,
                                    op->decl,
                                    ngx_http_mdm_api_decl_unindexed);
}


static ngx_int_t
ngx_http_mdm_api_decl_unindexed(ngx_http_request_t *r, redisReply *reply)
{
    return ngx_http_mdm_send(r, NGX_HTTP_NO_CONTENT, NULL, NULL, 0);
}


/* GET /v1/declaration-sets/<id>: the sets holding the declaration. */
ngx_int_t
ngx_http_mdm_api_ddm_decl_sets(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t               rc;
    const char             *err;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    rc = ngx_http_mdm_api_ddm_name(r, path, "declaration", &op->decl, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    return ngx_http_mdm_key_command(r, "SMEMBERS", MDM_K_DDM_DECL_SETS,
                                    op->decl, NULL,
                                    ngx_http_mdm_api_ddm_list);
}


/* ---------------------------------------------------------------------------
 * GET, PUT, DELETE /v1/set-declarations/<set>[?declaration=<id>]
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_ddm_set_decls(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t               rc;
    const char             *err;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_api_ddm_query(r, op, r->method == NGX_HTTP_GET
                                           ? NULL : "declaration", &err);
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_ddm_name(r, path, "set", &op->set, &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if (r->method == NGX_HTTP_GET) {
        if (ngx_http_mdm_ddm_script(r, &args, "ddm_set", MDM_K_DDM_SET,
                                    MDM_K_DDM_SET_ENRS, op->set, 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_http_mdm_args_add_cstr(&args, "items");
        return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_ddm_keys);
    }

    /* the declaration's side first: it must exist to join a set */
    if (ngx_http_mdm_ddm_script(r, &args, "ddm_decl", MDM_K_DDM_DECL,
                                MDM_K_DDM_DECL_SETS, op->decl, 2)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, r->method == NGX_HTTP_PUT
                                      ? "attach" : "detach");
    ngx_http_mdm_args_add_cstr(&args, op->set);

    op->done = ngx_http_mdm_api_ddm_result;

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_setdecl_decl);
}


static ngx_int_t
ngx_http_mdm_api_setdecl_decl(ngx_http_request_t *r, redisReply *reply)
{
    u_char                 *p;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (ngx_http_mdm_api_ddm_is_err(reply)) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       reply->element[1]->str);
    }

    if (ngx_http_mdm_ddm_script(r, &args, "ddm_set", MDM_K_DDM_SET,
                                MDM_K_DDM_SET_ENRS, op->set, 3)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_PUT) {
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
            || reply->element[1]->type != REDIS_REPLY_STRING
            || reply->element[2]->type != REDIS_REPLY_STRING
            || mdm_ddm_kind_from_name(reply->element[1]->str,
                                      reply->element[1]->len)
               == MDM_DDM_NKINDS
            || reply->element[1]->len + 1 + reply->element[2]->len
               >= sizeof(op->item))
        {
            return ngx_http_mdm_api_unexpected(r, "ddm_decl");
        }

        p = ngx_snprintf(op->item, sizeof(op->item) - 1, "%s %s",
                         reply->element[1]->str, reply->element[2]->str);
        *p = '\0';

        ngx_http_mdm_args_add_cstr(&args, "put");
        ngx_http_mdm_args_add_cstr(&args, op->decl);
        ngx_http_mdm_args_add_cstr(&args, (char *) op->item);

    } else {
        ngx_http_mdm_args_add_cstr(&args, "del");
        ngx_http_mdm_args_add_cstr(&args, op->decl);
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_setdecl_set);
}


static ngx_int_t
ngx_http_mdm_api_setdecl_set(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_http_mdm_api_unexpected(r, "ddm_set");
    }

    if (reply->element[0]->integer == 0) {
        return ngx_http_mdm_api_ddm_result(r, op);
    }

    op->changed = 1;

    if (ngx_http_mdm_ddm_add_enrs(r, op, reply->element + 2,
                                  reply->elements - 2)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the index lists the sets that hold something */
    return ngx_http_mdm_key_command(r, reply->element[1]->integer
                                       ? "SADD" : "SREM",
                                    MDM_K_DDM_SETS, NULL, op->set,
                                    ngx_http_mdm_api_setdecl_indexed);
}


static ngx_int_t
ngx_http_mdm_api_setdecl_indexed(ngx_http_request_t *r, redisReply *reply)
{
    return ngx_http_mdm_ddm_views(r, ngx_http_mdm_ddm_op(r));
}


/* ---------------------------------------------------------------------------
 * GET, PUT, DELETE /v1/enrollment-sets/<id>[?set=<set>],
 * DELETE /v1/enrollment-sets-all[/sets]/<id>
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_ddm_enr_sets(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t               rc;
    const char             *err;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_api_ddm_query(r, op, r->method == NGX_HTTP_GET
                                           ? NULL : "set", &err);
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_path_id(r, path, &op->id, &err);
    }
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    op->done = ngx_http_mdm_api_ddm_result;

    switch (r->method) {

    case NGX_HTTP_GET:
        if (ngx_http_mdm_ddm_script(r, &args, "ddm_enr", MDM_K_ENR,
                                    MDM_K_DDM_ESETS, op->id, 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_http_mdm_args_add_cstr(&args, "sets");
        return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_ddm_list);

    case NGX_HTTP_PUT:
        /* an enrollment we do not know is refused before anything is set */
        return ngx_http_mdm_key_command(r, "EXISTS", MDM_K_ENR, op->id,
                                        NULL,
                                        ngx_http_mdm_api_enrset_known);

    default:
        if (ngx_http_mdm_ddm_script(r, &args, "ddm_set", MDM_K_DDM_SET,
                                    MDM_K_DDM_SET_ENRS, op->set, 2)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_http_mdm_args_add_cstr(&args, "unassign");
        ngx_http_mdm_args_add_cstr(&args, op->id);
        return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_enrset_assigned);
    }
}


static ngx_int_t
ngx_http_mdm_api_enrset_known(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_mdm_api_unexpected(r, "EXISTS");
    }

    if (reply->integer == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "unknown enrollment");
    }

    if (ngx_http_mdm_ddm_script(r, &args, "ddm_set", MDM_K_DDM_SET,
                                MDM_K_DDM_SET_ENRS, op->set, 2)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "assign");
    ngx_http_mdm_args_add_cstr(&args, op->id);

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_enrset_assigned);
}


/* The set's side done (assign or unassign): now the enrollment's. */
static ngx_int_t
ngx_http_mdm_api_enrset_assigned(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (ngx_http_mdm_api_ddm_is_err(reply)) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       reply->element[1]->str);
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_mdm_api_unexpected(r, "ddm_set");
    }

    if (ngx_http_mdm_ddm_script(r, &args, "ddm_enr", MDM_K_ENR,
                                MDM_K_DDM_ESETS, op->id, 2)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, r->method == NGX_HTTP_PUT
                                      ? "add" : "del");
    ngx_http_mdm_args_add_cstr(&args, op->set);

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_enrset_done);
}


static ngx_int_t
ngx_http_mdm_api_enrset_done(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (ngx_http_mdm_api_ddm_is_err(reply)) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       reply->element[1]->str);
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_mdm_api_unexpected(r, "ddm_enr");
    }

    if (reply->integer == 0) {
        return ngx_http_mdm_api_ddm_result(r, op);
    }

    op->changed = 1;

    if (ngx_http_mdm_ddm_add_enr(r, op, op->id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_ddm_views(r, op);
}


ngx_int_t
ngx_http_mdm_api_ddm_enr_sets_all(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t               rc;
    ngx_str_t               id;
    const char             *err;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_api_ddm_query(r, op, NULL, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    /* KMFDDM's code registers …/sets/<id>, its docs …/<id>: both */
    id = *path;
    if (id.len > 5 && ngx_strncmp(id.data, "sets/", 5) == 0) {
        id.data += 5;
        id.len -= 5;
    }

    rc = ngx_http_mdm_api_path_id(r, &id, &op->id, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    op->done = ngx_http_mdm_api_ddm_result;

    if (ngx_http_mdm_ddm_script(r, &args, "ddm_enr", MDM_K_ENR,
                                MDM_K_DDM_ESETS, op->id, 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "clear");

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_enrset_cleared);
}


static ngx_int_t
ngx_http_mdm_api_enrset_cleared(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_unexpected(r, "ddm_enr");
    }

    op->sets = ngx_http_mdm_ddm_strings(r, reply->element, reply->elements);
    if (op->sets == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (op->sets->nelts == 0) {
        return ngx_http_mdm_api_ddm_result(r, op);
    }

    op->changed = 1;
    op->set_next = 0;

    if (ngx_http_mdm_ddm_add_enr(r, op, op->id) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_enrset_unassign_next(r);
}


static ngx_int_t
ngx_http_mdm_api_enrset_unassign_next(ngx_http_request_t *r)
{
    char                   **sets;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_ddm_op_t   *op;

    op = ngx_http_mdm_ddm_op(r);

    if (op->set_next == op->sets->nelts) {
        return ngx_http_mdm_ddm_views(r, op);
    }

    sets = op->sets->elts;

    if (ngx_http_mdm_ddm_script(r, &args, "ddm_set", MDM_K_DDM_SET,
                                MDM_K_DDM_SET_ENRS, sets[op->set_next], 2)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "unassign");
    ngx_http_mdm_args_add_cstr(&args, op->id);

    op->set_next++;

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_enrset_unassigned);
}


static ngx_int_t
ngx_http_mdm_api_enrset_unassigned(ngx_http_request_t *r, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_mdm_api_unexpected(r, "ddm_set");
    }

    return ngx_http_mdm_api_enrset_unassign_next(r);
}


/* ---------------------------------------------------------------------------
 * POST /v1/declarations/<id>/touch: a new ServerToken for the same content
 * (devices fetch it again), then as a PUT
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_ddm_decl_touch(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t               rc;
    const char             *err;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_api_ddm_query(r, op, NULL, &err);
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_ddm_name(r, path, "declaration", &op->decl,
                                       &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if (ngx_http_mdm_ddm_script(r, &args, "ddm_decl", MDM_K_DDM_DECL,
                                MDM_K_DDM_DECL_SETS, op->decl, 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "get");
    op->done = ngx_http_mdm_api_ddm_result;

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_decl_touch_got);
}


static ngx_int_t
ngx_http_mdm_api_decl_touch_got(ngx_http_request_t *r, redisReply *reply)
{
    ngx_int_t               touch;
    redisReply            **e;
    mdm_ddm_error_t         err;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "unknown declaration");
    }

    e = reply->element;

    if (reply->elements != 5 || e[3]->type != REDIS_REPLY_STRING) {
        return ngx_http_mdm_api_unexpected(r, "ddm_decl");
    }

    touch = (e[4]->type == REDIS_REPLY_STRING)
            ? ngx_atoi((u_char *) e[4]->str, e[4]->len) : 0;
    if (touch == NGX_ERROR) {
        touch = 0;
    }

    /* it was validated when stored; a newer schema must not refuse it now */
    if (mdm_ddm_declaration_parse(e[3]->str, e[3]->len,
                                  MDM_DDM_ALLOW_UNKNOWN_KEYS
                                  | MDM_DDM_ALLOW_UNKNOWN_TYPES,
                                  &op->d, &err)
        != MDM_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm api: stored declaration \"%s\" does not parse: "
                      "%s", op->decl, err.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->parsed = 1;

    if (mdm_ddm_declaration_touch(&op->d, touch + 1, &err) != MDM_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_decl_store(r, op);
}


/* ---------------------------------------------------------------------------
 * POST /v1/notify?declaration=&set=&id= (each repeatable): one
 * DeclarativeManagement command to every enrollment they name or reach
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_ddm_notify(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char                 *p, *last, *amp, *eq;
    char                   *id, **slot;
    ngx_int_t               rc;
    ngx_str_t               name, value, raw;
    const char             *err;
    ngx_array_t            *decls, *sets;
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);
    decls = ngx_array_create(r->pool, 2, sizeof(char *));
    sets = ngx_array_create(r->pool, 2, sizeof(char *));
    if (op == NULL || decls == NULL || sets == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* KMFDDM repeats its parameters, which ngx_http_mdm_api_args refuses */
    p = r->args.data;
    last = p + r->args.len;

    for ( /* void */ ; p < last; p = amp + 1) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');
        if (amp == p) {
            continue;
        }
        if (eq == NULL) {
            return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                           "a query parameter without value");
        }

        name.data = p;
        name.len = eq - p;
        raw.data = eq + 1;
        raw.len = amp - raw.data;

        rc = ngx_http_mdm_api_unescape(r, &raw, &value, &err);
        if (rc != NGX_OK) {
            return ngx_http_mdm_api_bad(r, rc, err);
        }

        if (name.len == 2 && ngx_strncmp(name.data, "id", 2) == 0) {
            rc = ngx_http_mdm_api_id(r, &value, "enrollment ID", &id, &err);
            if (rc == NGX_OK) {
                rc = ngx_http_mdm_ddm_add_enr(r, op, id);
            }

        } else if (name.len == 3 && ngx_strncmp(name.data, "set", 3) == 0) {
            slot = ngx_array_push(sets);
            rc = slot ? ngx_http_mdm_api_ddm_name(r, &value, "set", slot,
                                                  &err)
                      : NGX_ERROR;

        } else if (name.len == 11
                   && ngx_strncmp(name.data, "declaration", 11) == 0)
        {
            slot = ngx_array_push(decls);
            rc = slot ? ngx_http_mdm_api_ddm_name(r, &value, "declaration",
                                                  slot, &err)
                      : NGX_ERROR;

        } else {
            rc = NGX_DECLINED;
            err = "unknown query parameter";
        }

        if (rc != NGX_OK) {
            return ngx_http_mdm_api_bad(r, rc, err);
        }
    }

    if (op->enrs->nelts + sets->nelts + decls->nelts == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "name a declaration, set or id");
    }

    /* the declarations' sets first, then every set's enrollments */
    op->sets = decls;
    op->esets = sets;
    op->set_next = 0;
    op->changed = 1;
    op->done = ngx_http_mdm_api_ddm_result;

    return ngx_http_mdm_api_notify_next(r);
}


static ngx_int_t
ngx_http_mdm_api_notify_next(ngx_http_request_t *r)
{
    char                   **names, **ids, **p;
    ngx_uint_t               i;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_ddm_op_t   *op;

    op = ngx_http_mdm_ddm_op(r);

    if (op->set_next < op->sets->nelts) {
        names = op->sets->elts;

        if (ngx_http_mdm_ddm_script(r, &args, "ddm_decl", MDM_K_DDM_DECL,
                                    MDM_K_DDM_DECL_SETS,
                                    names[op->set_next++], 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_mdm_args_add_cstr(&args, "sets");
        return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_notify_sets);
    }

    if (op->esets->nelts) {
        names = op->esets->elts;
        op->set = names[--op->esets->nelts];

        if (ngx_http_mdm_ddm_script(r, &args, "ddm_set", MDM_K_DDM_SET,
                                    MDM_K_DDM_SET_ENRS, op->set, 1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_mdm_args_add_cstr(&args, "enrs");
        return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_notify_enrs);
    }

    /* every enrollment named or reached, each once, marks or not */
    if (ngx_http_mdm_ddm_views_sort(r, op) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ids = op->enrs->elts;
    for (i = 0; i < op->enrs->nelts; i++) {
        p = ngx_array_push(op->notify);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *p = ids[i];
    }

    return ngx_http_mdm_ddm_notify_start(r, op);
}


static ngx_int_t
ngx_http_mdm_api_notify_sets(ngx_http_request_t *r, redisReply *reply)
{
    size_t                   i;
    char                   **p;
    ngx_array_t             *sets;
    ngx_http_mdm_ddm_op_t   *op;

    op = ngx_http_mdm_ddm_op(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_unexpected(r, "ddm_decl");
    }

    sets = ngx_http_mdm_ddm_strings(r, reply->element, reply->elements);
    if (sets == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < sets->nelts; i++) {
        p = ngx_array_push(op->esets);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *p = ((char **) sets->elts)[i];
    }

    return ngx_http_mdm_api_notify_next(r);
}


static ngx_int_t
ngx_http_mdm_api_notify_enrs(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ddm_op_t  *op;

    op = ngx_http_mdm_ddm_op(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_unexpected(r, "ddm_set");
    }

    if (ngx_http_mdm_ddm_add_enrs(r, op, reply->element, reply->elements)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_notify_next(r);
}
