/*
 * The profile library and its desired state (docs/profiles.md):
 *
 *   GET|POST /v1/profiles                    list, upload (plist or signed)
 *   GET|DELETE /v1/profiles/<ident>          metadata and the profile as
 *                                            JSON, delete
 *   GET /v1/profiles/<ident>/raw             the profile as uploaded
 *   POST /v1/profiles/<ident>/assign         {"enrollments": [...]}
 *   POST /v1/profiles/<ident>/unassign       {"enrollments": [...]}
 *   GET /v1/enrollments/<id>/profiles        an enrollment's profiles
 *
 * An upload is validated against Apple's schema (libmdm/profile) and
 * stored once in the profile's own slot by its content hash (prof.lua).
 * Assigning, unassigning and uploading a new version of an assigned
 * profile reconcile the enrollments it reaches: each enrollment's state is
 * decided in its own slot (prof_device.lua: nothing to do when that
 * version is already pending or installed), sorted by shard so that a
 * fan-out visits a shard's devices together, and the enrollments that need
 * it get one InstallProfile or RemoveProfile command, its body stored once
 * whatever their number, enqueued in chunks with a push (enqueue.lua).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_keys.h"
#include "mdm_plist_json.h"
#include "mdm_shard.h"
#include "mdm_store.h"
#include "mdm_uuid.h"
#include "profile/mdm_profile.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_schema.h"
#include "ngx_http_mdm_api.h"


#define NGX_HTTP_MDM_PROF_CHUNK  500          /* IDs per enqueue call */
#define NGX_HTTP_MDM_PROF_IDS    10000        /* IDs per assign request */


typedef struct ngx_http_mdm_prof_op_s  ngx_http_mdm_prof_op_t;

typedef ngx_int_t (*ngx_http_mdm_prof_done_pt)(ngx_http_request_t *r,
    ngx_http_mdm_prof_op_t *op);

/* one request, from its body to the reconcile and the answer */
struct ngx_http_mdm_prof_op_s {
    char                        *ident;
    ngx_uint_t                   remove;     /* RemoveProfile */
    ngx_uint_t                   created;
    ngx_uint_t                   changed;
    ngx_uint_t                   assigned;   /* the set updated */
    ngx_http_mdm_prof_done_pt    done;

    mdm_profile_t                p;          /* an upload, parsed */
    ngx_uint_t                   parsed;
    mdm_profile_problems_t      *probs;

    ngx_str_t                    body;       /* what InstallProfile carries */
    char                         sha[65];

    ngx_array_t                 *ids;        /* char *, by shard */
    ngx_uint_t                   next;
    ngx_array_t                 *queue;      /* char *: to get the command */
    ngx_uint_t                   queue_next;
    ngx_uint_t                   queued;
    ngx_uint_t                   unchanged;
    json_t                      *errors;     /* {id: reason} */
    char                         uuid[MDM_UUID_LEN];
    mdm_buf_t                    cmd;        /* malloc'd, see cleanup */
};


static ngx_http_mdm_prof_op_t *ngx_http_mdm_prof_op(ngx_http_request_t *r);
static void ngx_http_mdm_prof_cleanup(void *data);
static ngx_int_t ngx_http_mdm_prof_ident(ngx_http_request_t *r,
    ngx_http_mdm_prof_op_t *op, ngx_str_t *path);
static ngx_int_t ngx_http_mdm_prof_script(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, const char *op, const char *ident,
    ngx_uint_t nargs);
static ngx_int_t ngx_http_mdm_prof_index(ngx_http_request_t *r,
    const char *cmd, const char *ident, ngx_http_mdm_reply_pt handler);

static void ngx_http_mdm_prof_upload_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_prof_upload_parse(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_prof_refused(ngx_http_request_t *r,
    ngx_http_mdm_prof_op_t *op, mdm_err_t *err);
static ngx_int_t ngx_http_mdm_prof_stored(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_prof_indexed(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_prof_upload_done(ngx_http_request_t *r,
    ngx_http_mdm_prof_op_t *op);

static ngx_int_t ngx_http_mdm_prof_list_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_prof_got(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_prof_raw(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_prof_deleted(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_prof_unindexed(ngx_http_request_t *r,
    redisReply *reply);

static void ngx_http_mdm_prof_assign_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_prof_assign_parse(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_prof_assign_body_got(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_prof_assigned(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_prof_assign_done(ngx_http_request_t *r,
    ngx_http_mdm_prof_op_t *op);

static ngx_int_t ngx_http_mdm_prof_reconcile(ngx_http_request_t *r,
    ngx_http_mdm_prof_op_t *op);
static int ngx_http_mdm_prof_shard_cmp(const void *a, const void *b);
static ngx_int_t ngx_http_mdm_prof_device_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_prof_device_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_prof_enqueue_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_prof_enqueued(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_prof_error(ngx_http_mdm_prof_op_t *op,
    const char *id, const char *why, size_t len);

static ngx_int_t ngx_http_mdm_prof_enr_done(ngx_http_request_t *r,
    redisReply *reply);


static unsigned  ngx_http_mdm_prof_nshards;


/* ---------------------------------------------------------------------------
 * Shared: the request's state, the identifier, script calls
 * -------------------------------------------------------------------------- */

static ngx_http_mdm_prof_op_t *
ngx_http_mdm_prof_op(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_mdm_ctx_t      *ctx;
    ngx_http_mdm_prof_op_t  *op;

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    if (ctx->data != NULL) {
        return ctx->data;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_prof_op_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (op == NULL || cln == NULL) {
        return NULL;
    }

    op->queue = ngx_array_create(r->pool, 8, sizeof(char *));
    op->errors = json_object();
    if (op->queue == NULL || op->errors == NULL) {
        json_decref(op->errors);
        return NULL;
    }

    cln->handler = ngx_http_mdm_prof_cleanup;
    cln->data = op;
    ctx->data = op;

    return op;
}


static void
ngx_http_mdm_prof_cleanup(void *data)
{
    ngx_http_mdm_prof_op_t  *op = data;

    if (op->parsed) {
        mdm_profile_free(&op->p);
    }

    mdm_buf_free(&op->cmd);
    json_decref(op->errors);
}


/* The <ident> of a path; NGX_DECLINED after a 400 was chosen. */
static ngx_int_t
ngx_http_mdm_prof_ident(ngx_http_request_t *r, ngx_http_mdm_prof_op_t *op,
    ngx_str_t *path)
{
    if (!mdm_profile_identifier_valid((char *) path->data, path->len)) {
        return NGX_DECLINED;
    }

    op->ident = ngx_http_mdm_cstr(r->pool, path);

    return op->ident ? NGX_OK : NGX_ERROR;
}


/* prof.lua on the profile's two keys, its op and identifier first */
static ngx_int_t
ngx_http_mdm_prof_script(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    const char *op, const char *ident, ngx_uint_t nargs)
{
    char    buf[MDM_KEY_MAX];
    size_t  len;

    if (ngx_http_mdm_args_init(r, args, 3 + 2 + 2 + nargs) != NGX_OK
        || ngx_http_mdm_args_script(r, args, "prof", 2) != NGX_OK)
    {
        return NGX_ERROR;
    }

    len = mdm_key(buf, MDM_K_PROF, ident, NULL);
    if (len == 0 || ngx_http_mdm_args_add_copy(r, args, buf, len) != NGX_OK) {
        return NGX_ERROR;
    }

    len = mdm_key(buf, MDM_K_PROF_ENRS, ident, NULL);
    if (len == 0 || ngx_http_mdm_args_add_copy(r, args, buf, len) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add_cstr(args, op);
    ngx_http_mdm_args_add_cstr(args, ident);

    return NGX_OK;
}


/* SADD/SREM/SMEMBERS on the list of every profile (its own step) */
static ngx_int_t
ngx_http_mdm_prof_index(ngx_http_request_t *r, const char *cmd,
    const char *ident, ngx_http_mdm_reply_pt handler)
{
    return ngx_http_mdm_key_command(r, cmd, MDM_K_PROFS, NULL, ident,
                                    handler);
}


/* ---------------------------------------------------------------------------
 * GET /v1/profiles, POST /v1/profiles
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_profiles_list(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t    rc;
    const char  *err;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    return ngx_http_mdm_prof_index(r, "SMEMBERS", NULL,
                                   ngx_http_mdm_prof_list_done);
}


static int
ngx_http_mdm_prof_strcmp(const void *a, const void *b)
{
    return ngx_strcmp(*(const char **) a, *(const char **) b);
}


static ngx_int_t
ngx_http_mdm_prof_list_done(ngx_http_request_t *r, redisReply *reply)
{
    char    **s;
    size_t    i, n;
    json_t   *a;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_unexpected(r, "SMEMBERS");
    }

    s = ngx_palloc(r->pool, (reply->elements + 1) * sizeof(char *));
    a = json_array();
    if (s == NULL || a == NULL) {
        json_decref(a);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0, n = 0; i < reply->elements; i++) {
        if (reply->element[i]->type == REDIS_REPLY_STRING) {
            s[n++] = reply->element[i]->str;
        }
    }

    ngx_qsort(s, n, sizeof(char *), ngx_http_mdm_prof_strcmp);

    for (i = 0; i < n; i++) {
        json_array_append_new(a, json_string(s[i]));
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, a);
}


ngx_int_t
ngx_http_mdm_api_profiles_upload(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t    rc;
    const char  *err;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if (ngx_http_mdm_prof_op(r) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_read_body(r, ngx_http_mdm_prof_upload_body);
}


static void
ngx_http_mdm_prof_upload_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mdm_prof_upload_parse(r));
}


static ngx_int_t
ngx_http_mdm_prof_upload_parse(ngx_http_request_t *r)
{
    mdm_err_t                err;
    ngx_str_t                body;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

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

    op->probs = ngx_palloc(r->pool, sizeof(mdm_profile_problems_t));
    if (op->probs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mdm_profile_parse(body.data, body.len, MDM_PROFILE_MAX, 0, &op->p,
                          op->probs, &err)
        != MDM_OK)
    {
        return ngx_http_mdm_prof_refused(r, op, &err);
    }

    op->parsed = 1;
    op->ident = (char *) op->p.identifier;
    op->body = body;
    ngx_memcpy(op->sha, op->p.sha256, sizeof(op->sha));

    if (ngx_http_mdm_prof_script(r, &args, "put", op->ident, 7) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, op->sha);
    ngx_http_mdm_args_add_cstr(&args, op->p.uuid);
    ngx_http_mdm_args_add_cstr(&args, op->p.display_name
                                      ? op->p.display_name : "");
    ngx_http_mdm_args_add_cstr(&args, op->p.signer_subject);

    if (ngx_http_mdm_args_add_int(r, &args, op->p.npayloads) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, body.data, body.len);

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_prof_stored);
}


/* 400 (413 for the size) with every problem; one log line */
static ngx_int_t
ngx_http_mdm_prof_refused(ngx_http_request_t *r, ngx_http_mdm_prof_op_t *op,
    mdm_err_t *err)
{
    json_t                       *root, *problems;
    const mdm_profile_problem_t  *first;

    first = op->probs->n ? &op->probs->items[0] : NULL;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm api: profile refused: %s (%s at \"%s\", %uz errors)",
                  err->msg, first ? first->rule : "-",
                  first ? first->path : "", op->probs->errors);

    problems = mdm_profile_problems_json(op->probs);
    root = problems ? json_pack("{s:s, s:o}", "error", err->msg,
                                "problems", problems)
                    : NULL;

    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_send_json(r,
               err->reason == MDM_REFUSED_TOO_LARGE
               ? NGX_HTTP_REQUEST_ENTITY_TOO_LARGE : NGX_HTTP_BAD_REQUEST,
               root);
}


static ngx_int_t
ngx_http_mdm_prof_stored(ngx_http_request_t *r, redisReply *reply)
{
    size_t                   i;
    char                   **id;
    ngx_str_t                s;
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        return ngx_http_mdm_api_unexpected(r, "prof");
    }

    op->done = ngx_http_mdm_prof_upload_done;

    if (reply->element[0]->integer == 0) {
        return ngx_http_mdm_prof_upload_done(r, op);
    }

    op->changed = 1;
    op->created = (reply->element[1]->len == 0);
    op->ids = ngx_array_create(r->pool, reply->elements, sizeof(char *));
    if (op->ids == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 2; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }
        s.data = (u_char *) reply->element[i]->str;
        s.len = reply->element[i]->len;
        id = ngx_array_push(op->ids);
        if (id == NULL || (*id = ngx_http_mdm_cstr(r->pool, &s)) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mdm_prof_index(r, "SADD", op->ident,
                                   ngx_http_mdm_prof_indexed);
}


static ngx_int_t
ngx_http_mdm_prof_indexed(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

    /* a new version of a profile some enrollments have: theirs too */
    return ngx_http_mdm_prof_reconcile(r, op);
}


static ngx_int_t
ngx_http_mdm_prof_upload_done(ngx_http_request_t *r,
    ngx_http_mdm_prof_op_t *op)
{
    json_t  *root, *warnings;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm api: profile \"%s\" %s (%s, %uz warnings, %ui queued)",
                  op->ident, op->created ? "created"
                             : op->changed ? "updated" : "unchanged",
                  op->sha, op->probs->warnings, op->queued);

    warnings = mdm_profile_problems_json(op->probs);
    root = warnings ? json_pack("{s:s, s:s, s:s, s:b, s:b, s:o, s:i}",
                                "identifier", op->ident,
                                "sha256", op->sha,
                                "uuid", op->p.uuid,
                                "created", (int) op->created,
                                "changed", (int) op->changed,
                                "warnings", warnings,
                                "queued", (int) op->queued)
                    : NULL;

    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (op->p.is_signed) {
        json_object_set_new(root, "signer", json_string(op->p.signer_subject));
    }

    if (op->queued) {
        json_object_set_new(root, "command_uuid", json_string(op->uuid));
    }

    if (json_object_size(op->errors)) {
        json_object_set(root, "errors", op->errors);
    }

    return ngx_http_mdm_api_send_json(r, op->created ? NGX_HTTP_CREATED
                                                     : NGX_HTTP_OK, root);
}


/* ---------------------------------------------------------------------------
 * GET|DELETE /v1/profiles/<ident>, GET /v1/profiles/<ident>/raw
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_profiles_one(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t                rc;
    const char              *err, *what;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_prof_op_t  *op;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    op = ngx_http_mdm_prof_op(r);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_prof_ident(r, op, path);
    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "not a profile identifier");
    }
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    what = r->method == NGX_HTTP_DELETE ? "del" : "body";

    if (ngx_http_mdm_prof_script(r, &args, what, op->ident, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, r->method == NGX_HTTP_DELETE
                                       ? ngx_http_mdm_prof_deleted
                                       : ngx_http_mdm_prof_got);
}


ngx_int_t
ngx_http_mdm_api_profiles_raw(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t                rc;
    const char              *err;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_prof_op_t  *op;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    op = ngx_http_mdm_prof_op(r);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_prof_ident(r, op, path);
    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "not a profile identifier");
    }
    if (rc != NGX_OK
        || ngx_http_mdm_prof_script(r, &args, "body", op->ident, 0) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_prof_raw);
}


static ngx_int_t
ngx_http_mdm_prof_raw(ngx_http_request_t *r, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "unknown profile");
    }

    if (reply->elements != 2
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        return ngx_http_mdm_api_unexpected(r, "prof");
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/x-apple-aspen-config",
                             (u_char *) reply->element[1]->str,
                             reply->element[1]->len);
}


/* The metadata, then the profile itself as JSON (parsed again: what is
 * stored was validated when it was uploaded). */
static ngx_int_t
ngx_http_mdm_prof_got(ngx_http_request_t *r, redisReply *reply)
{
    json_t                  *root, *content;
    mdm_err_t                err;
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "unknown profile");
    }

    if (reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        return ngx_http_mdm_api_unexpected(r, "prof");
    }

    op->probs = ngx_palloc(r->pool, sizeof(mdm_profile_problems_t));
    if (op->probs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mdm_profile_parse((u_char *) reply->element[1]->str,
                          reply->element[1]->len, MDM_PROFILE_MAX,
                          MDM_PROFILE_ALLOW_UNKNOWN_TYPES, &op->p, op->probs,
                          &err)
        != MDM_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mdm api: stored profile \"%s\" does not parse: %s",
                      op->ident, err.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->parsed = 1;
    content = mdm_plist_to_json(op->p.root);
    root = content ? json_pack("{s:s, s:s, s:s, s:b, s:i, s:o}",
                               "identifier", op->ident,
                               "sha256", reply->element[0]->str,
                               "uuid", op->p.uuid,
                               "signed", op->p.is_signed,
                               "payloads", (int) op->p.npayloads,
                               "profile", content)
                   : NULL;

    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (op->p.display_name != NULL) {
        json_object_set_new(root, "name", json_string(op->p.display_name));
    }

    if (op->p.is_signed) {
        json_object_set_new(root, "signer", json_string(op->p.signer_subject));
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root);
}


static ngx_int_t
ngx_http_mdm_prof_deleted(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

    if (ngx_http_mdm_api_reply_is_err(reply)) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_CONFLICT,
                                       reply->element[1]->str);
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_mdm_api_unexpected(r, "prof");
    }

    if (reply->integer == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "unknown profile");
    }

    return ngx_http_mdm_prof_index(r, "SREM", op->ident,
                                   ngx_http_mdm_prof_unindexed);
}


static ngx_int_t
ngx_http_mdm_prof_unindexed(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm api: profile \"%s\" deleted", op->ident);

    return ngx_http_mdm_send(r, NGX_HTTP_NO_CONTENT, NULL, NULL, 0);
}


/* ---------------------------------------------------------------------------
 * POST /v1/profiles/<ident>/assign, /unassign
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_profiles_assign(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t                rc;
    const char              *err;
    ngx_http_mdm_prof_op_t  *op;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    op = ngx_http_mdm_prof_op(r);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_prof_ident(r, op, path);
    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "not a profile identifier");
    }
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_read_body(r, ngx_http_mdm_prof_assign_body);
}


ngx_int_t
ngx_http_mdm_api_profiles_unassign(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->remove = 1;

    return ngx_http_mdm_api_profiles_assign(r, path);
}


static void
ngx_http_mdm_prof_assign_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mdm_prof_assign_parse(r));
}


/* {"enrollments": ["id", ...]}: every ID valid, at most PROF_IDS */
static ngx_int_t
ngx_http_mdm_prof_assign_parse(ngx_http_request_t *r)
{
    char                   **id;
    size_t                   i;
    json_t                  *root, *list, *e;
    ngx_str_t                body, s;
    ngx_int_t                rc;
    const char              *err;
    json_error_t             jerr;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

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

    root = json_loadb((char *) body.data, body.len, JSON_REJECT_DUPLICATES,
                      &jerr);
    list = root ? json_object_get(root, "enrollments") : NULL;

    if (!json_is_array(list) || json_array_size(list) == 0
        || json_object_size(root) != 1)
    {
        json_decref(root);
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "the body must be {\"enrollments\": "
                                       "[enrollment IDs]}");
    }

    if (json_array_size(list) > NGX_HTTP_MDM_PROF_IDS) {
        json_decref(root);
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "too many enrollment IDs");
    }

    op->ids = ngx_array_create(r->pool, json_array_size(list),
                               sizeof(char *));
    if (op->ids == NULL) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_array_foreach(list, i, e) {
        if (!json_is_string(e)) {
            json_decref(root);
            return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                           "enrollment IDs must be strings");
        }

        s.data = (u_char *) json_string_value(e);
        s.len = json_string_length(e);
        id = ngx_array_push(op->ids);

        if (id == NULL) {
            json_decref(root);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_mdm_api_id(r, &s, "enrollment ID", id, &err);
        if (rc != NGX_OK) {
            json_decref(root);
            return ngx_http_mdm_api_bad(r, rc, err);
        }
    }

    json_decref(root);

    /* unassign: out of the desired state first, then off the devices;
     * assign: the body first, the set once the enrollments are known */
    if (ngx_http_mdm_prof_script(r, &args, op->remove ? "unassign" : "body",
                                 op->ident, op->remove ? op->ids->nelts : 0)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (op->remove) {
        for (i = 0; i < op->ids->nelts; i++) {
            ngx_http_mdm_args_add_cstr(&args, ((char **) op->ids->elts)[i]);
        }
    }

    op->done = ngx_http_mdm_prof_assign_done;

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_prof_assign_body_got);
}


static ngx_int_t
ngx_http_mdm_prof_assign_body_got(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

    if (op->remove) {
        if (reply->type != REDIS_REPLY_INTEGER) {
            return ngx_http_mdm_api_unexpected(r, "prof");
        }

        return ngx_http_mdm_prof_reconcile(r, op);
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "unknown profile");
    }

    if (reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[0]->len != 64)
    {
        return ngx_http_mdm_api_unexpected(r, "prof");
    }

    ngx_memcpy(op->sha, reply->element[0]->str, 64);
    op->sha[64] = '\0';

    op->body.len = reply->element[1]->len;
    op->body.data = ngx_pnalloc(r->pool, op->body.len);
    if (op->body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_memcpy(op->body.data, reply->element[1]->str, op->body.len);

    return ngx_http_mdm_prof_reconcile(r, op);
}


/* After the reconcile of an assign: the known enrollments into the set. */
static ngx_int_t
ngx_http_mdm_prof_assign_done(ngx_http_request_t *r,
    ngx_http_mdm_prof_op_t *op)
{
    char                 **ids;
    json_t                *root;
    ngx_uint_t             i, n;
    ngx_http_mdm_args_t    args;

    if (!op->remove && !op->assigned) {
        op->assigned = 1;
        ids = op->ids->elts;

        for (i = 0, n = 0; i < op->ids->nelts; i++) {
            if (json_object_get(op->errors, ids[i]) == NULL) {
                n++;
            }
        }

        if (n != 0) {
            if (ngx_http_mdm_prof_script(r, &args, "assign", op->ident, n)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            for (i = 0; i < op->ids->nelts; i++) {
                if (json_object_get(op->errors, ids[i]) == NULL) {
                    ngx_http_mdm_args_add_cstr(&args, ids[i]);
                }
            }

            return ngx_http_mdm_eval(r, &args, ngx_http_mdm_prof_assigned);
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm api: profile \"%s\" %s %ui enrollments: %ui queued, "
                  "%ui unchanged, %ui refused", op->ident,
                  op->remove ? "unassigned from" : "assigned to",
                  op->ids->nelts, op->queued, op->unchanged,
                  (ngx_uint_t) json_object_size(op->errors));

    root = json_pack("{s:s, s:i, s:i, s:O}", "identifier", op->ident,
                     "queued", (int) op->queued,
                     "unchanged", (int) op->unchanged,
                     "errors", op->errors);
    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!op->remove) {
        json_object_set_new(root, "sha256", json_string(op->sha));
    }

    if (op->queued) {
        json_object_set_new(root, "command_uuid", json_string(op->uuid));
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root);
}


static ngx_int_t
ngx_http_mdm_prof_assigned(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

    if (ngx_http_mdm_api_reply_is_err(reply)) {
        /* deleted meanwhile: the commands are queued already */
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_CONFLICT,
                                       reply->element[1]->str);
    }

    return ngx_http_mdm_prof_assign_done(r, op);
}


/* ---------------------------------------------------------------------------
 * The reconcile: each enrollment's state in its slot, then one command
 * -------------------------------------------------------------------------- */

static ngx_int_t
ngx_http_mdm_prof_reconcile(ngx_http_request_t *r, ngx_http_mdm_prof_op_t *op)
{
    char       **ids;
    ngx_uint_t   i, n;

    ids = op->ids->elts;
    ngx_http_mdm_prof_nshards = ngx_http_mdm_shards();

    ngx_qsort(ids, op->ids->nelts, sizeof(char *),
              ngx_http_mdm_prof_shard_cmp);

    for (i = 0, n = 0; i < op->ids->nelts; i++) {
        if (n == 0 || ngx_strcmp(ids[n - 1], ids[i]) != 0) {
            ids[n++] = ids[i];
        }
    }

    op->ids->nelts = n;
    op->next = 0;

    if (mdm_uuid_generate(op->uuid) != 0
        || (op->remove
            ? mdm_profile_remove_command(op->uuid, op->ident, &op->cmd)
            : mdm_profile_install_command(op->uuid, op->body.data,
                                          op->body.len, &op->cmd)) != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_prof_device_next(r);
}


static int
ngx_http_mdm_prof_shard_cmp(const void *a, const void *b)
{
    int          c;
    unsigned     sx, sy;
    const char  *x = *(const char **) a, *y = *(const char **) b;

    sx = mdm_shard_of(x, ngx_strlen(x), ngx_http_mdm_prof_nshards);
    sy = mdm_shard_of(y, ngx_strlen(y), ngx_http_mdm_prof_nshards);

    if (sx != sy) {
        return sx < sy ? -1 : 1;
    }

    c = ngx_strcmp(x, y);

    return c;
}


static ngx_int_t
ngx_http_mdm_prof_device_next(ngx_http_request_t *r)
{
    char                     buf[MDM_KEY_MAX];
    size_t                   len;
    const char              *id;
    ngx_http_mdm_args_t      args;
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

    if (op->next == op->ids->nelts) {
        op->queue_next = 0;
        return ngx_http_mdm_prof_enqueue_next(r);
    }

    id = ((char **) op->ids->elts)[op->next];

    if (ngx_http_mdm_args_init(r, &args, 3 + 2 + 5) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "prof_device", 2) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = mdm_key(buf, MDM_K_PROF_DEV, id, NULL);
    if (len == 0 || ngx_http_mdm_args_add_copy(r, &args, buf, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = mdm_key(buf, MDM_K_ENR, id, NULL);
    if (len == 0 || ngx_http_mdm_args_add_copy(r, &args, buf, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, op->remove ? "remove" : "install");
    ngx_http_mdm_args_add_cstr(&args, op->ident);

    if (!op->remove) {
        ngx_http_mdm_args_add_cstr(&args, op->sha);
    }

    ngx_http_mdm_args_add_cstr(&args, op->uuid);

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_prof_device_done);
}


static ngx_int_t
ngx_http_mdm_prof_device_done(ngx_http_request_t *r, redisReply *reply)
{
    char                   **q;
    const char              *id;
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);
    id = ((char **) op->ids->elts)[op->next++];

    if (ngx_http_mdm_api_reply_is_err(reply)) {
        if (ngx_http_mdm_prof_error(op, id, reply->element[1]->str,
                                    reply->element[1]->len)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_mdm_prof_device_next(r);
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_http_mdm_api_unexpected(r, "prof_device");
    }

    if (reply->integer == 0) {
        op->unchanged++;
        return ngx_http_mdm_prof_device_next(r);
    }

    q = ngx_array_push(op->queue);
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *q = (char *) id;

    return ngx_http_mdm_prof_device_next(r);
}


/* The command to the enrollments that need it, a chunk a call. */
static ngx_int_t
ngx_http_mdm_prof_enqueue_next(ngx_http_request_t *r)
{
    ngx_uint_t               last;
    mdm_argv_t               args;
    mdm_store_enqueue_t      in;
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

    if (op->queue_next == op->queue->nelts) {
        return op->done(r, op);
    }

    last = ngx_min(op->queue_next + NGX_HTTP_MDM_PROF_CHUNK,
                   op->queue->nelts);

    ngx_memzero(&in, sizeof(mdm_store_enqueue_t));
    in.uuid = op->uuid;
    in.body = op->cmd.data;
    in.body_len = op->cmd.len;
    in.request_type = op->remove ? "RemoveProfile" : "InstallProfile";
    in.now = ngx_time();
    in.first = (op->queue_next == 0);
    in.last = (last == op->queue->nelts);
    in.ids = (char **) op->queue->elts + op->queue_next;
    in.nids = last - op->queue_next;

    if (ngx_http_mdm_store_init(r, &args, MDM_STORE_ENQUEUE_ARGC(in.nids),
                                MDM_STORE_ENQUEUE_KEYS) != NGX_OK
        || mdm_store_enqueue_argv(&in, &args) != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->queue_next = last;

    return ngx_http_mdm_store_eval(r, &args, ngx_http_mdm_prof_enqueued);
}


static ngx_int_t
ngx_http_mdm_prof_enqueued(ngx_http_request_t *r, redisReply *reply)
{
    size_t                   i;
    ngx_http_mdm_prof_op_t  *op;

    op = ngx_http_mdm_prof_op(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return ngx_http_mdm_api_unexpected(r, "enqueue");
    }

    if (ngx_strcmp(reply->element[0]->str, "ok") != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mdm api: profile \"%s\": %s not enqueued: %s",
                      op->ident, op->uuid, reply->element[1]->str);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->queued += reply->element[1]->integer;

    /* queued but not pushed, or not queued: said per ID */
    for (i = 2; i + 1 < reply->elements; i += 2) {
        if (reply->element[i]->type == REDIS_REPLY_STRING
            && reply->element[i + 1]->type == REDIS_REPLY_STRING
            && ngx_http_mdm_prof_error(op, reply->element[i]->str,
                                       reply->element[i + 1]->str,
                                       reply->element[i + 1]->len)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mdm_prof_enqueue_next(r);
}


static ngx_int_t
ngx_http_mdm_prof_error(ngx_http_mdm_prof_op_t *op, const char *id,
    const char *why, size_t len)
{
    return json_object_set_new(op->errors, id, json_stringn(why, len)) == 0
           ? NGX_OK : NGX_ERROR;
}


/* ---------------------------------------------------------------------------
 * GET /v1/enrollments/<id>/profiles
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_enrollment_profiles(ngx_http_request_t *r, ngx_str_t *path)
{
    char                 *id, buf[MDM_KEY_MAX];
    size_t                len;
    ngx_int_t             rc;
    const char           *err;
    ngx_http_mdm_args_t   args;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_path_id(r, path, &id, &err);
    }
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if (ngx_http_mdm_args_init(r, &args, 3 + 2 + 1) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "prof_device", 2) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = mdm_key(buf, MDM_K_PROF_DEV, id, NULL);
    if (len == 0 || ngx_http_mdm_args_add_copy(r, &args, buf, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = mdm_key(buf, MDM_K_ENR, id, NULL);
    if (len == 0 || ngx_http_mdm_args_add_copy(r, &args, buf, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "list");

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_prof_enr_done);
}


/* {"<ident>": {"status", "sha256", "command_uuid", "updated"}, ...} */
static ngx_int_t
ngx_http_mdm_prof_enr_done(ngx_http_request_t *r, redisReply *reply)
{
    char        state[16], sha[65], uuid[130];
    long        updated;
    size_t      i;
    json_t     *root;
    redisReply  *f, *v;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_unexpected(r, "prof_device");
    }

    root = json_object();
    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        f = reply->element[i];
        v = reply->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
            || sscanf(v->str, "%15s %64s %129s %ld", state, sha, uuid,
                      &updated) != 4)
        {
            continue;
        }

        json_object_set_new(root, f->str,
                            json_pack("{s:s, s:s, s:s, s:I}", "status", state,
                                      "sha256", sha, "command_uuid", uuid,
                                      "updated", (json_int_t) updated));
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root);
}
