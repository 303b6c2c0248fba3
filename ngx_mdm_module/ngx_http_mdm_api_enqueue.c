/*
 * Enqueueing commands: NanoMDM's PUT /v1/enqueue/<ids> with a raw command
 * plist, POST /v1/enqueue with a JSON body for ID sets too large for a URL,
 * and POST /v1/commands[/<ids>], which builds the plist from JSON validated
 * against Apple's schema. The body is stored once; IDs are enqueued in
 * chunks, one enqueue.lua call each, so that Redis is never held for long.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_command.h"
#include "mdm_enrollment.h"
#include "mdm_keys.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


#define NGX_HTTP_MDM_ENQUEUE_CHUNK    1000

/* Beyond this many IDs only the failures are listed one by one. */
#define NGX_HTTP_MDM_ENQUEUE_LIST_ALL 1000


typedef enum {
    NGX_HTTP_MDM_FROM_PLIST = 0,     /* PUT /v1/enqueue/<ids> */
    NGX_HTTP_MDM_FROM_JSON_IDS,      /* POST /v1/enqueue */
    NGX_HTTP_MDM_FROM_BUILDER        /* POST /v1/commands[/<ids>] */
} ngx_http_mdm_api_enqueue_form_e;


typedef struct {
    ngx_http_mdm_api_enqueue_form_e  form;
    ngx_str_t                        path_ids;
    ngx_array_t                     *ids;        /* char * */
    ngx_uint_t                       next;
    ngx_uint_t                       queued;
    ngx_uint_t                       failed;
    json_t                          *status;
    mdm_command_t                    cmd;
    ngx_str_t                        body;       /* the plist sent to devices */
    time_t                           expires;
    ngx_flag_t                       nopush;
    const char                      *error;      /* why it was refused */
} ngx_http_mdm_api_enqueue_t;


static ngx_int_t ngx_http_mdm_api_enqueue_start(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_form_e form, ngx_str_t *ids);
static void ngx_http_mdm_api_enqueue_cleanup(void *data);
static void ngx_http_mdm_api_enqueue_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_enqueue_prepare(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq);
static ngx_int_t ngx_http_mdm_api_enqueue_query(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq);
static ngx_int_t ngx_http_mdm_api_enqueue_from_plist(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq, ngx_str_t *body);
static ngx_int_t ngx_http_mdm_api_enqueue_from_json(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq, ngx_str_t *body);
static ngx_int_t ngx_http_mdm_api_enqueue_json_ids(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq, json_t *ids);
static ngx_int_t ngx_http_mdm_api_enqueue_chunk(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_enqueue_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_enqueue_respond(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq);
static ngx_int_t ngx_http_mdm_api_enqueue_dry_run(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq);
static ngx_int_t ngx_http_mdm_api_enqueue_refuse(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq, ngx_uint_t status, const char *why);
static void ngx_http_mdm_api_enqueue_note(ngx_http_mdm_api_enqueue_t *eq,
    const char *id, const char *key, const char *value);


ngx_int_t
ngx_http_mdm_api_enqueue_plist(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_enqueue_start(r, NGX_HTTP_MDM_FROM_PLIST, path);
}


ngx_int_t
ngx_http_mdm_api_enqueue_json(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_enqueue_start(r, NGX_HTTP_MDM_FROM_JSON_IDS, path);
}


ngx_int_t
ngx_http_mdm_api_enqueue_build(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_enqueue_start(r, NGX_HTTP_MDM_FROM_BUILDER, path);
}


static ngx_int_t
ngx_http_mdm_api_enqueue_start(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_form_e form, ngx_str_t *ids)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_mdm_ctx_t          *ctx;
    ngx_http_mdm_api_enqueue_t  *eq;

    ctx = ngx_http_mdm_get_ctx(r);
    eq = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_api_enqueue_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || eq == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    eq->form = form;
    eq->path_ids = *ids;
    eq->status = json_object();
    if (eq->status == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mdm_api_enqueue_cleanup;
    cln->data = eq;
    ctx->data = eq;

    return ngx_http_mdm_read_body(r, ngx_http_mdm_api_enqueue_body);
}


static void
ngx_http_mdm_api_enqueue_cleanup(void *data)
{
    ngx_http_mdm_api_enqueue_t  *eq = data;

    json_decref(eq->status);
    mdm_command_free(&eq->cmd);
}


static void
ngx_http_mdm_api_enqueue_body(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_mdm_ctx_t          *ctx;
    ngx_http_mdm_api_enqueue_t  *eq;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    eq = ctx->data;

    rc = ngx_http_mdm_api_enqueue_prepare(r, eq);

    if (rc == NGX_OK) {
        rc = (eq->ids == NULL) ? ngx_http_mdm_api_enqueue_dry_run(r, eq)
                               : ngx_http_mdm_api_enqueue_chunk(r);

    } else if (eq->error != NULL) {
        rc = ngx_http_mdm_send_json_error(r, rc, eq->error);
    }

    ngx_http_finalize_request(r, rc);
}


/* Returns status: the caller stops, and the body says why. */
static ngx_int_t
ngx_http_mdm_api_enqueue_refuse(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq,
    ngx_uint_t status, const char *why)
{
    ngx_str_t  s;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm api: enqueue refused: %s", why);

    s.data = (u_char *) why;
    s.len = ngx_strlen(why);

    /* why may live in a stack buffer of the caller */
    eq->error = ngx_http_mdm_cstr(r->pool, &s);

    return eq->error ? (ngx_int_t) status : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* Everything that can be refused is refused here, before Redis is used. */
static ngx_int_t
ngx_http_mdm_api_enqueue_prepare(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq)
{
    ngx_int_t    rc;
    ngx_str_t    body;
    const char  *err;

    rc = ngx_http_mdm_api_enqueue_query(r, eq);
    if (rc != NGX_OK) {
        return rc;
    }

    switch (ngx_http_mdm_body(r, &body)) {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        return ngx_http_mdm_api_enqueue_refuse(r, eq,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                   "body larger than client_body_buffer_size");
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (eq->path_ids.len) {
        rc = ngx_http_mdm_api_split_ids(r, &eq->path_ids, &eq->ids, &err);
        if (rc == NGX_DECLINED) {
            return ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                                                   err);
        }
        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (eq->form == NGX_HTTP_MDM_FROM_PLIST) {
        return ngx_http_mdm_api_enqueue_from_plist(r, eq, &body);
    }

    return ngx_http_mdm_api_enqueue_from_json(r, eq, &body);
}


/* ?nopush=1 skips the pushes; ?ttl=<seconds> drops undelivered commands. */
static ngx_int_t
ngx_http_mdm_api_enqueue_query(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq)
{
    ngx_int_t               rc, ttl;
    ngx_str_t              *value;
    const char             *err;
    ngx_http_mdm_api_arg_t  q[] = {
        { ngx_string("nopush"), ngx_null_string, 0 },
        { ngx_string("ttl"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };

    rc = ngx_http_mdm_api_args(r, q, &err);
    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                                               err);
    }
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (q[0].set) {
        value = &q[0].value;
        if (value->len == 1 && (value->data[0] == '1' || value->data[0] == '0'))
        {
            eq->nopush = value->data[0] == '1';

        } else {
            return ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                                                "nopush must be 0 or 1");
        }
    }

    if (q[1].set) {
        ttl = ngx_atoi(q[1].value.data, q[1].value.len);
        if (ttl <= 0 || ttl > 365 * 86400) {
            return ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                       "ttl must be a number of seconds, 1 to 31536000");
        }
        eq->expires = ngx_time() + ttl;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_api_enqueue_from_plist(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq, ngx_str_t *body)
{
    mdm_err_t  err;

    if (mdm_command_check_plist((char *) body->data, body->len, &eq->cmd,
                                &err)
        != MDM_OK)
    {
        return ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                                               err.msg);
    }

    eq->body = *body;

    return NGX_OK;
}


/*
 * POST /v1/enqueue: {"ids": [...], "command": "<plist>"}.
 * POST /v1/commands[/<ids>]: the builder's JSON, plus an optional "ids".
 */
static ngx_int_t
ngx_http_mdm_api_enqueue_from_json(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq, ngx_str_t *body)
{
    json_t        *root, *ids, *plist;
    ngx_int_t      rc;
    ngx_str_t      cmd;
    mdm_err_t      err;
    mdm_alloc_t    pool;
    json_error_t   jerr;

    root = json_loadb((char *) body->data, body->len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                                            "body must be a JSON object");
    }

    rc = NGX_OK;

    if (eq->form == NGX_HTTP_MDM_FROM_JSON_IDS) {
        ids = json_incref(json_object_get(root, "ids"));

        plist = json_object_get(root, "command");
        if (!json_is_string(plist) || ids == NULL) {
            rc = ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                     "body must have \"ids\" and \"command\" (a plist)");
            goto done;
        }

        cmd.len = json_string_length(plist);
        cmd.data = ngx_pnalloc(r->pool, cmd.len);
        if (cmd.data == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }
        ngx_memcpy(cmd.data, json_string_value(plist), cmd.len);

        rc = ngx_http_mdm_api_enqueue_from_plist(r, eq, &cmd);

    } else {
        /* the body is parsed once: the builder takes the tree */
        pool = ngx_http_mdm_allocator(r);

        if (mdm_command_build(root, &pool, &eq->cmd, &ids, &err) != MDM_OK) {
            rc = ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                                                 err.msg);
        } else {
            eq->body.data = (u_char *) eq->cmd.plist;
            eq->body.len = eq->cmd.plist_len;
        }
    }

    if (rc == NGX_OK && ids != NULL) {
        if (eq->ids != NULL) {
            rc = ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                     "IDs both in the path and in the body");
        } else {
            rc = ngx_http_mdm_api_enqueue_json_ids(r, eq, ids);
        }
    }

done:

    json_decref(ids);
    json_decref(root);

    return rc;
}


static ngx_int_t
ngx_http_mdm_api_enqueue_json_ids(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq, json_t *ids)
{
    char        **id;
    size_t        i;
    json_t       *v;
    ngx_str_t     s;
    mdm_err_t     err;

    if (!json_is_array(ids) || json_array_size(ids) == 0
        || json_array_size(ids) > 200000)
    {
        return ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                   "\"ids\" must be an array of 1 to 200000 strings");
    }

    eq->ids = ngx_array_create(r->pool, json_array_size(ids), sizeof(char *));
    if (eq->ids == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_array_foreach(ids, i, v) {
        if (!json_is_string(v)) {
            return ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                                                "\"ids\" must be strings");
        }

        s.data = (u_char *) json_string_value(v);
        s.len = json_string_length(v);

        id = ngx_array_push(eq->ids);
        if (id == NULL || (*id = ngx_http_mdm_cstr(r->pool, &s)) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_strlen(*id) != s.len
            || mdm_id_check("enrollment ID", *id, &err) != MDM_OK)
        {
            return ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                                                err.msg);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_api_enqueue_chunk(ngx_http_request_t *r)
{
    ngx_uint_t                   last;
    mdm_argv_t                   args;
    mdm_store_enqueue_t          in;
    ngx_http_mdm_ctx_t          *ctx;
    ngx_http_mdm_api_enqueue_t  *eq;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    eq = ctx->data;

    last = ngx_min(eq->next + NGX_HTTP_MDM_ENQUEUE_CHUNK, eq->ids->nelts);

    ngx_memzero(&in, sizeof(mdm_store_enqueue_t));
    in.uuid = eq->cmd.uuid;
    in.body = eq->body.data;
    in.body_len = eq->body.len;
    in.request_type = eq->cmd.request_type;
    in.now = ngx_time();
    in.expires = eq->expires;
    in.nopush = eq->nopush;
    in.first = (eq->next == 0);
    in.last = (last == eq->ids->nelts);
    in.ids = (char **) eq->ids->elts + eq->next;
    in.nids = last - eq->next;

    if (ngx_http_mdm_store_init(r, &args, MDM_STORE_ENQUEUE_ARGC(in.nids),
                                MDM_STORE_ENQUEUE_KEYS) != NGX_OK
        || mdm_store_enqueue_argv(&in, &args) != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    eq->next = last;

    return ngx_http_mdm_store_eval(r, &args, ngx_http_mdm_api_enqueue_reply);
}


static ngx_int_t
ngx_http_mdm_api_enqueue_reply(ngx_http_request_t *r, redisReply *reply)
{
    size_t                       i;
    redisReply                 **e;
    ngx_http_mdm_ctx_t          *ctx;
    ngx_http_mdm_api_enqueue_t  *eq;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    eq = ctx->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm api: unexpected reply from enqueue.lua");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    e = reply->element;

    if (ngx_strcmp(e[0]->str, "ok") != 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm api: enqueue of \"%s\" refused: %s",
                      eq->cmd.uuid, e[1]->str);
        return ngx_http_mdm_send_json_error(r, NGX_HTTP_CONFLICT, e[1]->str);
    }

    eq->queued += e[1]->integer;

    for (i = 2; i + 1 < reply->elements; i += 2) {
        if (ngx_strncmp(e[i + 1]->str, "push: ", 6) == 0) {
            ngx_http_mdm_api_enqueue_note(eq, e[i]->str, "push_error",
                                          e[i + 1]->str + 6);
        } else {
            ngx_http_mdm_api_enqueue_note(eq, e[i]->str, "command_error",
                                          e[i + 1]->str);
            eq->failed++;

            /* a marker scripts can test without parsing the message */
            if (ngx_strcmp(e[i + 1]->str, "enrollment is checked out") == 0) {
                json_object_set_new(json_object_get(eq->status, e[i]->str),
                                    "checked_out", json_true());
            }
        }
    }

    if (eq->next < eq->ids->nelts) {
        return ngx_http_mdm_api_enqueue_chunk(r);
    }

    return ngx_http_mdm_api_enqueue_respond(r, eq);
}


static void
ngx_http_mdm_api_enqueue_note(ngx_http_mdm_api_enqueue_t *eq, const char *id,
    const char *key, const char *value)
{
    json_t  *entry;

    entry = json_object_get(eq->status, id);
    if (entry == NULL) {
        entry = json_object();
        /* on failure jansson has already released entry */
        if (json_object_set_new(eq->status, id, entry) != 0) {
            return;
        }
    }

    json_object_set_new(entry, key, json_string(value));
}


/*
 * NanoMDM's APIResult: 200 when every ID was queued, 207 when some were
 * not; 404 when none was (NanoMDM answers 500, but nothing failed on our
 * side: the caller named enrollments that do not exist). Pushes are
 * queued for mdm-worker, so an ID's push_result is "queued" rather than an
 * APNs id.
 */
static ngx_int_t
ngx_http_mdm_api_enqueue_respond(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq)
{
    char        **ids;
    json_t       *out;
    ngx_uint_t    i, status, list_all;

    list_all = eq->ids->nelts <= NGX_HTTP_MDM_ENQUEUE_LIST_ALL;
    ids = eq->ids->elts;

    for (i = 0; list_all && !eq->nopush && i < eq->ids->nelts; i++) {
        if (json_object_get(eq->status, ids[i]) == NULL) {
            ngx_http_mdm_api_enqueue_note(eq, ids[i], "push_result", "queued");
        }
    }

    out = json_pack("{s:s, s:s, s:I}", "command_uuid", eq->cmd.uuid,
                    "request_type", eq->cmd.request_type,
                    "queued", (json_int_t) eq->queued);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (json_object_size(eq->status)) {
        json_object_set(out, "status", eq->status);
    }

    if (eq->nopush) {
        json_object_set_new(out, "no_push", json_true());
    }

    status = eq->failed == 0 ? NGX_HTTP_OK
             : eq->queued ? 207 : NGX_HTTP_NOT_FOUND;

    /* nothing queued: enqueue.lua stored nothing, a retry may reuse the UUID */
    if (eq->queued == 0 && eq->failed) {
        json_object_set_new(out, "command_error",
                            json_string("no target enrollment is known"));
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm api: command \"%s\" (%s) queued for %ui of %ui "
                  "enrollments", eq->cmd.uuid, eq->cmd.request_type,
                  eq->queued, eq->ids->nelts);

    return ngx_http_mdm_api_send_json(r, status, out);
}


/* POST /v1/commands without IDs: the built plist, nothing stored. */
static ngx_int_t
ngx_http_mdm_api_enqueue_dry_run(ngx_http_request_t *r,
    ngx_http_mdm_api_enqueue_t *eq)
{
    json_t  *out;

    if (eq->form != NGX_HTTP_MDM_FROM_BUILDER) {
        return ngx_http_mdm_api_enqueue_refuse(r, eq, NGX_HTTP_BAD_REQUEST,
                                            "no enrollment IDs");
    }

    out = json_pack("{s:s, s:s, s:s%}", "command_uuid", eq->cmd.uuid,
                    "request_type", eq->cmd.request_type,
                    "plist", eq->body.data, eq->body.len);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, out);
}
