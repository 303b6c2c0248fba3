/*
 * The inspection API NanoMDM lacks: enrollments, queues, a command's state
 * per target, and cancel (docs/api.md, "Inspection"). Every Redis step is one
 * Lua script of libmdm/lua/ whose work per call is bounded; a request that
 * needs more (a long ID list, every target of a command) calls it again from
 * the reply handler. Scripts answer flat arrays; the JSON is built here.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_command.h"
#include "mdm_enrollment.h"
#include "mdm_keys.h"
#include "mdm_plist_json.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


#define NGX_HTTP_MDM_INSPECT_LIMIT         100     /* default page size */
#define NGX_HTTP_MDM_INSPECT_LIMIT_MAX     1000
#define NGX_HTTP_MDM_INSPECT_BUDGET_MAX    10000   /* index entries per call */
#define NGX_HTTP_MDM_INSPECT_CHUNK         256     /* IDs per script call */
#define NGX_HTTP_MDM_INSPECT_CLEAR_BUDGET  1024    /* queue entries per call */
#define NGX_HTTP_MDM_INSPECT_SCAN_DIGITS   19      /* fits Redis' cursor */
#define NGX_HTTP_MDM_INSPECT_CURSOR_MAX    40

#define NGX_HTTP_MDM_MULTI_STATUS          207


typedef struct {
    ngx_str_t                     name;
    ngx_str_t                     value;     /* unescaped, NUL-terminated */
    ngx_uint_t                    set;
} ngx_http_mdm_inspect_arg_t;


typedef enum {
    NGX_HTTP_MDM_FIELD_STRING = 0,
    NGX_HTTP_MDM_FIELD_BOOL,
    NGX_HTTP_MDM_FIELD_INT,
    NGX_HTTP_MDM_FIELD_TIME,
    NGX_HTTP_MDM_FIELD_HEX,
    NGX_HTTP_MDM_FIELD_PRESENT
} ngx_http_mdm_field_e;


/* one field of mdm:{<id>}:enr and its JSON form */
typedef struct {
    const char                   *field;
    const char                   *name;
    ngx_http_mdm_field_e          kind;
} ngx_http_mdm_inspect_field_t;


/* a request answered from several script calls: queue clear, cancel */
typedef struct {
    ngx_array_t                  *ids;       /* char *; NULL: every target */
    ngx_uint_t                    next;      /* first ID not yet answered */
    ngx_int_t                     pending;   /* cancelled so far for next */
    ngx_uint_t                    ok;
    ngx_uint_t                    failed;
    json_t                       *status;    /* APIResult "status" */
    char                         *uuid;      /* cancel only */
    u_char                        cursor[NGX_HTTP_MDM_INSPECT_CURSOR_MAX + 1];
} ngx_http_mdm_inspect_batch_t;


/* GET /v1/commands/<uuid> */
typedef struct {
    char                         *uuid;
    ngx_uint_t                    raw;       /* format=plist */
} ngx_http_mdm_inspect_status_t;


static ngx_int_t ngx_http_mdm_inspect_enrollment(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_int_t ngx_http_mdm_inspect_enrollment_reply(ngx_http_request_t *r,
    redisReply *reply);
static json_t *ngx_http_mdm_inspect_enrollment_json(ngx_http_request_t *r,
    redisReply *fields);
static json_t *ngx_http_mdm_inspect_field(ngx_http_request_t *r,
    ngx_http_mdm_inspect_field_t *f, redisReply *v);
static ngx_int_t ngx_http_mdm_inspect_list(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_inspect_list_filters(ngx_http_request_t *r,
    ngx_http_mdm_inspect_arg_t *q, ngx_http_mdm_args_t *args,
    const char **err);
static ngx_int_t ngx_http_mdm_inspect_list_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_inspect_queue_list(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_int_t ngx_http_mdm_inspect_queue_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_inspect_queue_clear(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_int_t ngx_http_mdm_inspect_clear_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_inspect_clear_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_inspect_status_args(ngx_http_request_t *r,
    ngx_http_mdm_inspect_status_t *st, ngx_http_mdm_args_t *args,
    const char **err);
static ngx_int_t ngx_http_mdm_inspect_status_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_inspect_status_raw(ngx_http_request_t *r,
    redisReply *reply);
static json_t *ngx_http_mdm_inspect_command_json(ngx_http_request_t *r,
    ngx_http_mdm_inspect_status_t *st, redisReply *head);
static json_t *ngx_http_mdm_inspect_target_json(ngx_http_request_t *r,
    redisReply **e);
static ngx_int_t ngx_http_mdm_inspect_cancel_next(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_inspect_cancel_reply(ngx_http_request_t *r,
    redisReply *reply);

static ngx_http_mdm_inspect_batch_t *ngx_http_mdm_inspect_batch(
    ngx_http_request_t *r);
static void ngx_http_mdm_inspect_batch_cleanup(void *data);
static ngx_int_t ngx_http_mdm_inspect_note(ngx_http_mdm_inspect_batch_t *b,
    const char *id, const char *error, ngx_int_t canceled);
static ngx_int_t ngx_http_mdm_inspect_result(ngx_http_request_t *r,
    ngx_http_mdm_inspect_batch_t *b);

static ngx_int_t ngx_http_mdm_inspect_args(ngx_http_request_t *r,
    ngx_http_mdm_inspect_arg_t *q, const char **err);
static const char *ngx_http_mdm_inspect_msg(ngx_http_request_t *r,
    const char *what, ngx_str_t *name);
static ngx_int_t ngx_http_mdm_inspect_limit(ngx_http_mdm_inspect_arg_t *arg,
    ngx_int_t *limit, const char **err);
static ngx_int_t ngx_http_mdm_inspect_cursor(ngx_http_mdm_inspect_arg_t *arg,
    ngx_uint_t scan, const char **err);
static ngx_int_t ngx_http_mdm_inspect_id(ngx_http_request_t *r,
    ngx_str_t *s, const char *what, char **id, const char **err);
static ngx_int_t ngx_http_mdm_inspect_ids(ngx_http_request_t *r,
    ngx_str_t *list, ngx_array_t **ids, const char **err);
static ngx_int_t ngx_http_mdm_inspect_key(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, size_t (*key)(char *buf, const char *s),
    const char *s);
static ngx_int_t ngx_http_mdm_inspect_bad(ngx_http_request_t *r,
    ngx_int_t rc, const char *err);
static ngx_int_t ngx_http_mdm_inspect_unexpected(ngx_http_request_t *r,
    const char *script);

static redisReply *ngx_http_mdm_inspect_str(redisReply *e);
static ngx_uint_t ngx_http_mdm_inspect_is(redisReply *e, const char *s);
static json_t *ngx_http_mdm_inspect_jstr(redisReply *e);
static json_t *ngx_http_mdm_inspect_jtime(redisReply *e);
static json_t *ngx_http_mdm_inspect_jint(redisReply *e);
static json_t *ngx_http_mdm_inspect_jcursor(redisReply *e);
static json_t *ngx_http_mdm_inspect_jbase64(ngx_http_request_t *r,
    redisReply *e);
static ngx_int_t ngx_http_mdm_inspect_set(json_t *obj, const char *key,
    json_t *value);


static ngx_http_mdm_inspect_field_t  ngx_http_mdm_inspect_fields[] = {
    { "type", "type", NGX_HTTP_MDM_FIELD_STRING },
    { "parent", "parent", NGX_HTTP_MDM_FIELD_STRING },
    { "enabled", "enabled", NGX_HTTP_MDM_FIELD_BOOL },
    { "udid", "udid", NGX_HTTP_MDM_FIELD_STRING },
    { "enrollment_id", "enrollment_id", NGX_HTTP_MDM_FIELD_STRING },
    { "user_id", "user_id", NGX_HTTP_MDM_FIELD_STRING },
    { "user_short_name", "user_short_name", NGX_HTTP_MDM_FIELD_STRING },
    { "user_long_name", "user_long_name", NGX_HTTP_MDM_FIELD_STRING },
    { "enrollment_user_id", "enrollment_user_id", NGX_HTTP_MDM_FIELD_STRING },
    { "serial", "serial", NGX_HTTP_MDM_FIELD_STRING },
    { "model", "model", NGX_HTTP_MDM_FIELD_STRING },
    { "model_name", "model_name", NGX_HTTP_MDM_FIELD_STRING },
    { "product", "product", NGX_HTTP_MDM_FIELD_STRING },
    { "os_version", "os_version", NGX_HTTP_MDM_FIELD_STRING },
    { "build_version", "build_version", NGX_HTTP_MDM_FIELD_STRING },
    { "device_name", "device_name", NGX_HTTP_MDM_FIELD_STRING },
    { "imei", "imei", NGX_HTTP_MDM_FIELD_STRING },
    { "meid", "meid", NGX_HTTP_MDM_FIELD_STRING },
    { "topic", "topic", NGX_HTTP_MDM_FIELD_STRING },
    { "token", "token", NGX_HTTP_MDM_FIELD_HEX },
    { "push_magic", "push_magic", NGX_HTTP_MDM_FIELD_STRING },
    { "unlock_token", "has_unlock_token", NGX_HTTP_MDM_FIELD_PRESENT },
    { "bootstrap_token", "has_bootstrap_token", NGX_HTTP_MDM_FIELD_PRESENT },
    { "awaiting_config", "awaiting_config", NGX_HTTP_MDM_FIELD_BOOL },
    { "tally", "tally", NGX_HTTP_MDM_FIELD_INT },
    { "cert", "cert", NGX_HTTP_MDM_FIELD_STRING },
    { "created", "created", NGX_HTTP_MDM_FIELD_TIME },
    { "last_seen", "last_seen", NGX_HTTP_MDM_FIELD_TIME },
    { "push_dead", "push_dead", NGX_HTTP_MDM_FIELD_TIME },
    { NULL, NULL, 0 }
};


/* GET /v1/enrollments[?filters] and GET /v1/enrollments/<id> */
ngx_int_t
ngx_http_mdm_api_enrollments(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (path->len == 0) {
        return ngx_http_mdm_inspect_list(r);
    }

    return ngx_http_mdm_inspect_enrollment(r, path);
}


static ngx_int_t
ngx_http_mdm_inspect_enrollment(ngx_http_request_t *r, ngx_str_t *path)
{
    char                        *id;
    ngx_int_t                    rc;
    const char                  *err;
    ngx_http_mdm_ctx_t          *ctx;
    ngx_http_mdm_args_t          args;
    ngx_http_mdm_inspect_arg_t   none[] = {
        { ngx_null_string, ngx_null_string, 0 }
    };

    rc = ngx_http_mdm_inspect_args(r, none, &err);
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_inspect_id(r, path, "enrollment ID", &id, &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_inspect_bad(r, rc, err);
    }

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->enrollment_id = *path;

    if (ngx_http_mdm_args_init(r, &args, 3 + 3) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "enrollment", 3) != NGX_OK
        || ngx_http_mdm_inspect_key(r, &args, mdm_key_enrollment, id)
           != NGX_OK
        || ngx_http_mdm_inspect_key(r, &args, mdm_key_users, id) != NGX_OK
        || ngx_http_mdm_inspect_key(r, &args, mdm_key_queue, id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args,
                             ngx_http_mdm_inspect_enrollment_reply);
}


/* {} for an unknown enrollment, else {fields, user channels, queue length} */
static ngx_int_t
ngx_http_mdm_inspect_enrollment_reply(ngx_http_request_t *r,
    redisReply *reply)
{
    size_t       i;
    json_t      *json, *users;
    redisReply  *u;

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                           "unknown enrollment");
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_ARRAY
        || reply->element[0]->elements % 2
        || reply->element[1]->type != REDIS_REPLY_ARRAY
        || reply->element[2]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_http_mdm_inspect_unexpected(r, "enrollment");
    }

    json = ngx_http_mdm_inspect_enrollment_json(r, reply->element[0]);

    if (json == NULL
        || ngx_http_mdm_inspect_set(json, "user_channels", json_array())
           != NGX_OK)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    users = json_object_get(json, "user_channels");

    u = reply->element[1];

    for (i = 0; i < u->elements; i++) {
        if (json_array_append_new(users,
                                  ngx_http_mdm_inspect_jstr(u->element[i]))
            != 0)
        {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_mdm_inspect_set(json, "queue_length",
                                 json_integer(reply->element[2]->integer))
        != NGX_OK)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, json);
}


/* The enrollment hash as JSON, in the order of the field table. */
static json_t *
ngx_http_mdm_inspect_enrollment_json(ngx_http_request_t *r,
    redisReply *fields)
{
    size_t                         i;
    json_t                        *json, *v;
    redisReply                    *found;
    ngx_http_mdm_ctx_t            *ctx;
    ngx_http_mdm_inspect_field_t  *f;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    json = json_object();
    if (json == NULL
        || ngx_http_mdm_inspect_set(json, "id",
               json_stringn((char *) ctx->enrollment_id.data,
                            ctx->enrollment_id.len))
           != NGX_OK)
    {
        json_decref(json);
        return NULL;
    }

    for (f = ngx_http_mdm_inspect_fields; f->name; f++) {
        found = NULL;

        for (i = 0; i < fields->elements; i += 2) {
            if (ngx_http_mdm_inspect_is(fields->element[i], f->field)) {
                found = ngx_http_mdm_inspect_str(fields->element[i + 1]);
                break;
            }
        }

        if (found == NULL && f->kind != NGX_HTTP_MDM_FIELD_BOOL
            && f->kind != NGX_HTTP_MDM_FIELD_PRESENT)
        {
            continue;
        }

        v = ngx_http_mdm_inspect_field(r, f, found);

        if (ngx_http_mdm_inspect_set(json, f->name, v) != NGX_OK) {
            json_decref(json);
            return NULL;
        }
    }

    return json;
}


static json_t *
ngx_http_mdm_inspect_field(ngx_http_request_t *r,
    ngx_http_mdm_inspect_field_t *f, redisReply *v)
{
    u_char  *hex;

    switch (f->kind) {

    case NGX_HTTP_MDM_FIELD_BOOL:
        return json_boolean(v != NULL && v->len == 1 && v->str[0] == '1');

    case NGX_HTTP_MDM_FIELD_PRESENT:
        return json_boolean(v != NULL);

    case NGX_HTTP_MDM_FIELD_INT:
        return ngx_http_mdm_inspect_jint(v);

    case NGX_HTTP_MDM_FIELD_TIME:
        return ngx_http_mdm_inspect_jtime(v);

    case NGX_HTTP_MDM_FIELD_HEX:
        hex = ngx_pnalloc(r->pool, 2 * v->len + 1);
        if (hex == NULL) {
            return NULL;
        }
        return json_stringn((char *) hex,
                            ngx_hex_dump(hex, (u_char *) v->str, v->len)
                            - hex);

    default:
        return ngx_http_mdm_inspect_jstr(v);
    }
}


enum {
    NGX_HTTP_MDM_LIST_TYPE = 0,
    NGX_HTTP_MDM_LIST_ENABLED,
    NGX_HTTP_MDM_LIST_SERIAL,
    NGX_HTTP_MDM_LIST_CURSOR,
    NGX_HTTP_MDM_LIST_LIMIT
};


static ngx_int_t
ngx_http_mdm_inspect_list(ngx_http_request_t *r)
{
    ngx_int_t                    rc, limit;
    const char                  *err;
    ngx_http_mdm_args_t          args;
    ngx_http_mdm_inspect_arg_t   q[] = {
        { ngx_string("type"), ngx_null_string, 0 },
        { ngx_string("enabled"), ngx_null_string, 0 },
        { ngx_string("serial"), ngx_null_string, 0 },
        { ngx_string("cursor"), ngx_null_string, 0 },
        { ngx_string("limit"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };

    if (ngx_http_mdm_args_init(r, &args, 3 + 1 + 6) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "enrollments", 1) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_ENROLLMENTS);

    rc = ngx_http_mdm_inspect_args(r, q, &err);

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_inspect_cursor(&q[NGX_HTTP_MDM_LIST_CURSOR], 0,
                                         &err);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_inspect_limit(&q[NGX_HTTP_MDM_LIST_LIMIT], &limit,
                                        &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_inspect_bad(r, rc, err);
    }

    ngx_http_mdm_args_add(&args, q[NGX_HTTP_MDM_LIST_CURSOR].value.data,
                          q[NGX_HTTP_MDM_LIST_CURSOR].value.len);

    if (ngx_http_mdm_args_add_int(r, &args, limit) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args,
               ngx_min(10 * limit, NGX_HTTP_MDM_INSPECT_BUDGET_MAX))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_inspect_list_filters(r, q, &args, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_inspect_bad(r, rc, err);
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_inspect_list_reply);
}


/* type, enabled and serial, checked, as enrollments.lua takes them */
static ngx_int_t
ngx_http_mdm_inspect_list_filters(ngx_http_request_t *r,
    ngx_http_mdm_inspect_arg_t *q, ngx_http_mdm_args_t *args,
    const char **err)
{
    ngx_uint_t                   t;
    const char                  *name;
    ngx_http_mdm_inspect_arg_t  *a;

    a = &q[NGX_HTTP_MDM_LIST_TYPE];

    if (a->set) {
        for (t = MDM_ENROLLMENT_DEVICE; t <= MDM_ENROLLMENT_SHARED_IPAD; t++) {
            name = mdm_enrollment_type_name(t);
            if (ngx_strcmp(a->value.data, name) == 0) {
                break;
            }
        }

        if (t > MDM_ENROLLMENT_SHARED_IPAD) {
            *err = "type must be one of Device, User Enrollment (Device), "
                   "User, User Enrollment, Shared iPad";
            return NGX_DECLINED;
        }
    }

    ngx_http_mdm_args_add(args, a->value.data, a->value.len);

    a = &q[NGX_HTTP_MDM_LIST_ENABLED];

    if (!a->set) {
        ngx_http_mdm_args_add(args, "", 0);

    } else if (ngx_strcmp(a->value.data, "true") == 0) {
        ngx_http_mdm_args_add(args, "1", 1);

    } else if (ngx_strcmp(a->value.data, "false") == 0) {
        ngx_http_mdm_args_add(args, "0", 1);

    } else {
        *err = "enabled must be true or false";
        return NGX_DECLINED;
    }

    a = &q[NGX_HTTP_MDM_LIST_SERIAL];

    if (a->set && a->value.len == 0) {
        *err = "serial must not be empty";
        return NGX_DECLINED;
    }

    ngx_http_mdm_args_add(args, a->value.data, a->value.len);

    return NGX_OK;
}


/* {next cursor, id, type, enabled, serial, last_seen, id, ...} */
static ngx_int_t
ngx_http_mdm_inspect_list_reply(ngx_http_request_t *r, redisReply *reply)
{
    size_t        i;
    json_t       *json, *list, *e;
    redisReply  **el;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 5 != 1) {
        return ngx_http_mdm_inspect_unexpected(r, "enrollments");
    }

    json = json_pack("{s:[]}", "enrollments");
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list = json_object_get(json, "enrollments");

    for (i = 1; i < reply->elements; i += 5) {
        el = &reply->element[i];
        e = json_pack("{s:o,s:o,s:b,s:o,s:o}",
                      "id", ngx_http_mdm_inspect_jstr(el[0]),
                      "type", ngx_http_mdm_inspect_jstr(el[1]),
                      "enabled", (int) ngx_http_mdm_inspect_is(el[2], "1"),
                      "serial", ngx_http_mdm_inspect_jstr(el[3]),
                      "last_seen", ngx_http_mdm_inspect_jtime(el[4]));

        if (json_array_append_new(list, e) != 0) {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_mdm_inspect_set(json, "next_cursor",
                        ngx_http_mdm_inspect_jcursor(reply->element[0]))
        != NGX_OK)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, json);
}


/* GET /v1/queue/<id> and DELETE /v1/queue/<id>[,<id>...] */
ngx_int_t
ngx_http_mdm_api_queue(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_DELETE))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->method == NGX_HTTP_DELETE) {
        return ngx_http_mdm_inspect_queue_clear(r, path);
    }

    return ngx_http_mdm_inspect_queue_list(r, path);
}


static ngx_int_t
ngx_http_mdm_inspect_queue_list(ngx_http_request_t *r, ngx_str_t *path)
{
    char                        *id;
    ngx_int_t                    rc, limit;
    const char                  *err;
    ngx_http_mdm_ctx_t          *ctx;
    ngx_http_mdm_args_t          args;
    ngx_http_mdm_inspect_arg_t   q[] = {
        { ngx_string("cursor"), ngx_null_string, 0 },
        { ngx_string("limit"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };

    rc = ngx_http_mdm_inspect_args(r, q, &err);

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_inspect_cursor(&q[0], 0, &err);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_inspect_limit(&q[1], &limit, &err);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_inspect_id(r, path, "enrollment ID", &id, &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_inspect_bad(r, rc, err);
    }

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->enrollment_id = *path;

    if (ngx_http_mdm_args_init(r, &args, 3 + 2 + 4) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "queue", 2) != NGX_OK
        || ngx_http_mdm_inspect_key(r, &args, mdm_key_enrollment, id)
           != NGX_OK
        || ngx_http_mdm_inspect_key(r, &args, mdm_key_queue, id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, id);
    ngx_http_mdm_args_add(&args, q[0].value.data, q[0].value.len);

    if (ngx_http_mdm_args_add_int(r, &args, limit) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_inspect_queue_reply);
}


/* {'ok', next cursor, uuid, type, status, notnow, created, expires, ...} */
static ngx_int_t
ngx_http_mdm_inspect_queue_reply(ngx_http_request_t *r, redisReply *reply)
{
    size_t               i;
    json_t              *json, *list, *e;
    redisReply         **el;
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && ngx_http_mdm_inspect_is(reply->element[0], "err")
        && ngx_http_mdm_inspect_str(reply->element[1]))
    {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                           reply->element[1]->str);
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 6 != 2) {
        return ngx_http_mdm_inspect_unexpected(r, "queue");
    }

    json = json_pack("{s:s%,s:[]}", "id", (char *) ctx->enrollment_id.data,
                     ctx->enrollment_id.len, "commands");
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list = json_object_get(json, "commands");

    for (i = 2; i < reply->elements; i += 6) {
        el = &reply->element[i];
        e = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}",
                      "command_uuid", ngx_http_mdm_inspect_jstr(el[0]),
                      "request_type", ngx_http_mdm_inspect_jstr(el[1]),
                      "status", ngx_http_mdm_inspect_jstr(el[2]),
                      "notnow_count", ngx_http_mdm_inspect_jint(el[3]),
                      "created", ngx_http_mdm_inspect_jtime(el[4]),
                      "expires", ngx_http_mdm_inspect_jtime(el[5]));

        if (json_array_append_new(list, e) != 0) {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_mdm_inspect_set(json, "next_cursor",
                        ngx_http_mdm_inspect_jcursor(reply->element[1]))
        != NGX_OK)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, json);
}


static ngx_int_t
ngx_http_mdm_inspect_queue_clear(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t                      rc;
    const char                    *err;
    ngx_http_mdm_inspect_arg_t     none[] = {
        { ngx_null_string, ngx_null_string, 0 }
    };
    ngx_http_mdm_inspect_batch_t  *b;

    b = ngx_http_mdm_inspect_batch(r);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_inspect_args(r, none, &err);

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_inspect_ids(r, path, &b->ids, &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_inspect_bad(r, rc, err);
    }

    return ngx_http_mdm_inspect_clear_next(r);
}


/* queue_clear.lua for the IDs from b->next on, at most a chunk of them */
static ngx_int_t
ngx_http_mdm_inspect_clear_next(ngx_http_request_t *r)
{
    char                          **ids;
    ngx_uint_t                      i, n;
    ngx_http_mdm_ctx_t             *ctx;
    ngx_http_mdm_args_t             args;
    ngx_http_mdm_main_conf_t       *mcf;
    ngx_http_mdm_inspect_batch_t   *b;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);
    b = ctx->data;

    ids = b->ids->elts;
    n = ngx_min(b->ids->nelts - b->next, NGX_HTTP_MDM_INSPECT_CHUNK);

    if (ngx_http_mdm_args_init(r, &args, 3 + 2 + 3 + n) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "queue_clear", 2) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_PENDING);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_NOTNOW);

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, mcf->result_retention)
           != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args,
                                     NGX_HTTP_MDM_INSPECT_CLEAR_BUDGET)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        ngx_http_mdm_args_add_cstr(&args, ids[b->next + i]);
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_inspect_clear_reply);
}


/* {id, state, cancelled count, ...}: state ok, more, or an error */
static ngx_int_t
ngx_http_mdm_inspect_clear_reply(ngx_http_request_t *r, redisReply *reply)
{
    char                          **ids;
    size_t                          i;
    redisReply                    **el;
    ngx_http_mdm_ctx_t             *ctx;
    ngx_http_mdm_inspect_batch_t   *b;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    b = ctx->data;
    ids = b->ids->elts;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->elements % 3)
    {
        return ngx_http_mdm_inspect_unexpected(r, "queue_clear");
    }

    for (i = 0; i < reply->elements; i += 3) {
        el = &reply->element[i];

        if (!ngx_http_mdm_inspect_str(el[1])
            || el[2]->type != REDIS_REPLY_INTEGER
            || b->next == b->ids->nelts)
        {
            return ngx_http_mdm_inspect_unexpected(r, "queue_clear");
        }

        b->pending += el[2]->integer;

        if (ngx_http_mdm_inspect_is(el[1], "more")) {
            continue;
        }

        if (ngx_http_mdm_inspect_note(b, ids[b->next],
                ngx_http_mdm_inspect_is(el[1], "ok") ? NULL : el[1]->str,
                b->pending)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->pending = 0;
        b->next++;
    }

    if (b->next < b->ids->nelts) {
        return ngx_http_mdm_inspect_clear_next(r);
    }

    return ngx_http_mdm_inspect_result(r, b);
}


/* GET /v1/commands/<uuid>[?plist=1&cursor=&limit=&id=&format=plist] */
ngx_int_t
ngx_http_mdm_api_command_status(ngx_http_request_t *r, ngx_str_t *uuid)
{
    ngx_int_t                       rc;
    const char                     *err;
    ngx_http_mdm_ctx_t             *ctx;
    ngx_http_mdm_args_t             args;
    ngx_http_mdm_inspect_status_t  *st;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_mdm_get_ctx(r);
    st = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_inspect_status_t));
    if (ctx == NULL || st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = st;

    rc = ngx_http_mdm_inspect_id(r, uuid, "CommandUUID", &st->uuid, &err);

    if (rc != NGX_OK) {
        return ngx_http_mdm_inspect_bad(r, rc, err);
    }

    if (ngx_http_mdm_args_init(r, &args, 3 + 2 + 6) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "command_status", 2) != NGX_OK
        || ngx_http_mdm_inspect_key(r, &args, mdm_key_command, st->uuid)
           != NGX_OK
        || ngx_http_mdm_inspect_key(r, &args, mdm_key_command_ids, st->uuid)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, st->uuid);

    rc = ngx_http_mdm_inspect_status_args(r, st, &args, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_inspect_bad(r, rc, err);
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_inspect_status_reply);
}


enum {
    NGX_HTTP_MDM_STATUS_PLIST = 0,
    NGX_HTTP_MDM_STATUS_FORMAT,
    NGX_HTTP_MDM_STATUS_ID,
    NGX_HTTP_MDM_STATUS_CURSOR,
    NGX_HTTP_MDM_STATUS_LIMIT
};


/* cursor, limit, now, with body, one ID: as command_status.lua takes them */
static ngx_int_t
ngx_http_mdm_inspect_status_args(ngx_http_request_t *r,
    ngx_http_mdm_inspect_status_t *st, ngx_http_mdm_args_t *args,
    const char **err)
{
    char                        *id;
    ngx_int_t                    rc, limit;
    ngx_str_t                   *v;
    ngx_http_mdm_inspect_arg_t   q[] = {
        { ngx_string("plist"), ngx_null_string, 0 },
        { ngx_string("format"), ngx_null_string, 0 },
        { ngx_string("id"), ngx_null_string, 0 },
        { ngx_string("cursor"), ngx_null_string, 0 },
        { ngx_string("limit"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };

    rc = ngx_http_mdm_inspect_args(r, q, err);

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_inspect_cursor(&q[NGX_HTTP_MDM_STATUS_CURSOR], 1,
                                         err);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_inspect_limit(&q[NGX_HTTP_MDM_STATUS_LIMIT], &limit,
                                        err);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    v = &q[NGX_HTTP_MDM_STATUS_PLIST].value;

    if (q[NGX_HTTP_MDM_STATUS_PLIST].set
        && ngx_strcmp(v->data, "1") != 0 && ngx_strcmp(v->data, "0") != 0)
    {
        *err = "plist must be 1 or 0";
        return NGX_DECLINED;
    }

    v = &q[NGX_HTTP_MDM_STATUS_FORMAT].value;

    if (q[NGX_HTTP_MDM_STATUS_FORMAT].set) {
        st->raw = ngx_strcmp(v->data, "plist") == 0;

        if (!st->raw && ngx_strcmp(v->data, "json") != 0) {
            *err = "format must be json or plist";
            return NGX_DECLINED;
        }
    }

    id = "";

    if (q[NGX_HTTP_MDM_STATUS_ID].set) {
        rc = ngx_http_mdm_inspect_id(r, &q[NGX_HTTP_MDM_STATUS_ID].value,
                                     "id", &id, err);
        if (rc != NGX_OK) {
            return rc;
        }

    } else if (st->raw) {
        *err = "format=plist needs id=<enrollment ID>";
        return NGX_DECLINED;
    }

    v = &q[NGX_HTTP_MDM_STATUS_CURSOR].value;
    ngx_http_mdm_args_add(args, v->data, v->len);

    if (ngx_http_mdm_args_add_int(r, args, limit) != NGX_OK
        || ngx_http_mdm_args_add_int(r, args, ngx_time()) != NGX_OK)
    {
        return NGX_ERROR;
    }

    v = &q[NGX_HTTP_MDM_STATUS_PLIST].value;
    ngx_http_mdm_args_add_cstr(args, v->len == 1 && v->data[0] == '1'
                                     ? "1" : "0");
    ngx_http_mdm_args_add_cstr(args, id);

    return NGX_OK;
}


/*
 * {'ok', {type, created, expires, body}, next cursor, id, status, updated,
 * notnow, result, ...} or {'err', reason}
 */
static ngx_int_t
ngx_http_mdm_inspect_status_reply(ngx_http_request_t *r, redisReply *reply)
{
    size_t                          i;
    json_t                         *json, *list;
    ngx_http_mdm_ctx_t             *ctx;
    ngx_http_mdm_inspect_status_t  *st;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    st = ctx->data;

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && ngx_http_mdm_inspect_is(reply->element[0], "err")
        && ngx_http_mdm_inspect_str(reply->element[1]))
    {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                           reply->element[1]->str);
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 5 != 3
        || reply->element[1]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->elements != 4)
    {
        return ngx_http_mdm_inspect_unexpected(r, "command_status");
    }

    if (st->raw) {
        return ngx_http_mdm_inspect_status_raw(r, reply);
    }

    json = ngx_http_mdm_inspect_command_json(r, st, reply->element[1]);

    if (json == NULL
        || ngx_http_mdm_inspect_set(json, "enrollments", json_array())
           != NGX_OK)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list = json_object_get(json, "enrollments");

    for (i = 3; i < reply->elements; i += 5) {
        if (json_array_append_new(list,
                ngx_http_mdm_inspect_target_json(r, &reply->element[i]))
            != 0)
        {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_mdm_inspect_set(json, "next_cursor",
                        ngx_http_mdm_inspect_jcursor(reply->element[2]))
        != NGX_OK)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, json);
}


/* format=plist: the raw report of the one enrollment asked for */
static ngx_int_t
ngx_http_mdm_inspect_status_raw(ngx_http_request_t *r, redisReply *reply)
{
    redisReply  *result;

    if (reply->elements != 3 + 5) {
        return ngx_http_mdm_inspect_unexpected(r, "command_status");
    }

    result = ngx_http_mdm_inspect_str(reply->element[3 + 4]);

    if (result == NULL) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                           "no result for this enrollment");
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/xml",
                             (u_char *) result->str, result->len);
}


/* {type, created, expires, body}: body only with plist=1 */
static json_t *
ngx_http_mdm_inspect_command_json(ngx_http_request_t *r,
    ngx_http_mdm_inspect_status_t *st, redisReply *head)
{
    json_t      *json, *plist;
    redisReply  *body;

    json = json_pack("{s:s,s:o,s:o,s:o}",
                     "command_uuid", st->uuid,
                     "request_type",
                     ngx_http_mdm_inspect_jstr(head->element[0]),
                     "created", ngx_http_mdm_inspect_jtime(head->element[1]),
                     "expires", ngx_http_mdm_inspect_jtime(head->element[2]));

    body = ngx_http_mdm_inspect_str(head->element[3]);

    if (json == NULL || body == NULL) {
        return json;
    }

    /* command bodies are XML as a rule; a binary one goes as base64 */
    plist = json_stringn(body->str, body->len);

    if (ngx_http_mdm_inspect_set(json, plist ? "plist" : "plist_base64",
                        plist ? plist : ngx_http_mdm_inspect_jbase64(r, body))
        != NGX_OK)
    {
        json_decref(json);
        return NULL;
    }

    return json;
}


/* id, status, updated, notnow, result: one target of a command */
static json_t *
ngx_http_mdm_inspect_target_json(ngx_http_request_t *r, redisReply **e)
{
    json_t      *json, *chain, *status;
    redisReply  *result;

    status = ngx_http_mdm_inspect_is(e[1], "")
             ? json_null() : ngx_http_mdm_inspect_jstr(e[1]);

    json = json_pack("{s:o,s:o,s:o,s:o,s:o}",
                     "id", ngx_http_mdm_inspect_jstr(e[0]),
                     "status", status,
                     "updated", ngx_http_mdm_inspect_jtime(e[2]),
                     "notnow_count", ngx_http_mdm_inspect_jint(e[3]),
                     "result", ngx_http_mdm_inspect_jbase64(r, e[4]));

    result = ngx_http_mdm_inspect_str(e[4]);

    if (json == NULL || result == NULL
        || !ngx_http_mdm_inspect_is(e[1], "Error"))
    {
        return json;
    }

    chain = mdm_plist_key_to_json(result->str, result->len, "ErrorChain");

    if (chain != NULL
        && ngx_http_mdm_inspect_set(json, "error_chain", chain) != NGX_OK)
    {
        json_decref(json);
        return NULL;
    }

    return json;
}


/* DELETE /v1/commands/<uuid>[?ids=a,b] */
ngx_int_t
ngx_http_mdm_api_command_cancel(ngx_http_request_t *r, ngx_str_t *uuid)
{
    ngx_int_t                      rc;
    const char                    *err;
    ngx_http_mdm_inspect_arg_t     q[] = {
        { ngx_string("ids"), ngx_null_string, 0 },
        { ngx_null_string, ngx_null_string, 0 }
    };
    ngx_http_mdm_inspect_batch_t  *b;

    if (r->method != NGX_HTTP_DELETE) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    b = ngx_http_mdm_inspect_batch(r);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_inspect_id(r, uuid, "CommandUUID", &b->uuid, &err);

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_inspect_args(r, q, &err);
    }

    if (rc == NGX_OK && q[0].set) {
        rc = ngx_http_mdm_inspect_ids(r, &q[0].value, &b->ids, &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_inspect_bad(r, rc, err);
    }

    if (b->ids == NULL) {
        b->cursor[0] = '0';
    }

    return ngx_http_mdm_inspect_cancel_next(r);
}


/* command_cancel.lua for the next chunk of IDs, or the next SSCAN step */
static ngx_int_t
ngx_http_mdm_inspect_cancel_next(ngx_http_request_t *r)
{
    char                          **ids;
    ngx_uint_t                      i, n;
    ngx_http_mdm_ctx_t             *ctx;
    ngx_http_mdm_args_t             args;
    ngx_http_mdm_main_conf_t       *mcf;
    ngx_http_mdm_inspect_batch_t   *b;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);
    b = ctx->data;

    n = b->ids ? ngx_min(b->ids->nelts - b->next, NGX_HTTP_MDM_INSPECT_CHUNK)
               : 0;

    if (ngx_http_mdm_args_init(r, &args, 3 + 5 + 4 + n) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "command_cancel", 5) != NGX_OK
        || ngx_http_mdm_inspect_key(r, &args, mdm_key_command, b->uuid)
           != NGX_OK
        || ngx_http_mdm_inspect_key(r, &args, mdm_key_command_ids, b->uuid)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_EXPIRY);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_PENDING);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_NOTNOW);
    ngx_http_mdm_args_add_cstr(&args, b->uuid);

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, mcf->result_retention)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, (char *) b->cursor);

    ids = b->ids ? b->ids->elts : NULL;

    for (i = 0; i < n; i++) {
        ngx_http_mdm_args_add_cstr(&args, ids[b->next + i]);
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_inspect_cancel_reply);
}


/* {'ok', next cursor, id, error ('' = cancelled), ...} or {'err', reason} */
static ngx_int_t
ngx_http_mdm_inspect_cancel_reply(ngx_http_request_t *r, redisReply *reply)
{
    size_t                          i, pairs;
    redisReply                     *cursor, **el;
    ngx_http_mdm_ctx_t             *ctx;
    ngx_http_mdm_inspect_batch_t   *b;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    b = ctx->data;

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && ngx_http_mdm_inspect_is(reply->element[0], "err")
        && ngx_http_mdm_inspect_str(reply->element[1]))
    {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                           reply->element[1]->str);
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2
        || reply->elements < 2
        || (cursor = ngx_http_mdm_inspect_str(reply->element[1])) == NULL
        || cursor->len > NGX_HTTP_MDM_INSPECT_CURSOR_MAX)
    {
        return ngx_http_mdm_inspect_unexpected(r, "command_cancel");
    }

    pairs = reply->elements / 2 - 1;

    if (b->ids != NULL && pairs == 0) {
        return ngx_http_mdm_inspect_unexpected(r, "command_cancel");
    }

    for (i = 2; i < reply->elements; i += 2) {
        el = &reply->element[i];

        if (!ngx_http_mdm_inspect_str(el[0])
            || !ngx_http_mdm_inspect_str(el[1]))
        {
            return ngx_http_mdm_inspect_unexpected(r, "command_cancel");
        }

        if (ngx_http_mdm_inspect_note(b, el[0]->str,
                                      el[1]->len ? el[1]->str : NULL, -1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (b->ids != NULL) {
        b->next += pairs;
        if (b->next < b->ids->nelts) {
            return ngx_http_mdm_inspect_cancel_next(r);
        }

    } else if (cursor->len) {
        *ngx_cpymem(b->cursor, cursor->str, cursor->len) = '\0';
        return ngx_http_mdm_inspect_cancel_next(r);
    }

    return ngx_http_mdm_inspect_result(r, b);
}


static ngx_http_mdm_inspect_batch_t *
ngx_http_mdm_inspect_batch(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_mdm_ctx_t            *ctx;
    ngx_http_mdm_inspect_batch_t  *b;

    ctx = ngx_http_mdm_get_ctx(r);
    b = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_inspect_batch_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || b == NULL || cln == NULL) {
        return NULL;
    }

    b->status = json_object();
    if (b->status == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mdm_inspect_batch_cleanup;
    cln->data = b;
    ctx->data = b;

    return b;
}


static void
ngx_http_mdm_inspect_batch_cleanup(void *data)
{
    ngx_http_mdm_inspect_batch_t  *b = data;

    json_decref(b->status);
}


/*
 * One ID's outcome in NanoMDM's APIResult "status" map: {} or
 * {"canceled": n} when done, {"command_error": "..."} when refused. An ID
 * named twice keeps its first outcome.
 */
static ngx_int_t
ngx_http_mdm_inspect_note(ngx_http_mdm_inspect_batch_t *b, const char *id,
    const char *error, ngx_int_t canceled)
{
    json_t  *entry;

    if (json_object_get(b->status, id) != NULL) {
        return NGX_OK;
    }

    if (error != NULL) {
        entry = json_pack("{s:s}", "command_error", error);
        b->failed++;

    } else if (canceled >= 0) {
        entry = json_pack("{s:I}", "canceled", (json_int_t) canceled);
        b->ok++;

    } else {
        entry = json_object();
        b->ok++;
    }

    return ngx_http_mdm_inspect_set(b->status, id, entry);
}


/* 200 when every ID succeeded, 207 when some did, 500 when none did */
static ngx_int_t
ngx_http_mdm_inspect_result(ngx_http_request_t *r,
    ngx_http_mdm_inspect_batch_t *b)
{
    json_t      *out;
    ngx_uint_t   status;

    out = json_pack("{s:O}", "status", b->status);

    if (out != NULL && b->uuid != NULL
        && ngx_http_mdm_inspect_set(out, "command_uuid",
                                    json_string(b->uuid))
           != NGX_OK)
    {
        json_decref(out);
        out = NULL;
    }

    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    status = b->failed == 0 ? NGX_HTTP_OK
             : b->ok ? NGX_HTTP_MDM_MULTI_STATUS
             : NGX_HTTP_INTERNAL_SERVER_ERROR;

    if (b->failed) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm api: %V %V: %ui of %ui refused",
                      &r->method_name, &r->unparsed_uri, b->failed,
                      b->failed + b->ok);
    }

    return ngx_http_mdm_api_send_json(r, status, out);
}


/*
 * Parses r->args against q (ended by a null name): every parameter must be
 * one of q's, at most once. Values are unescaped and NUL-terminated.
 */
static ngx_int_t
ngx_http_mdm_inspect_args(ngx_http_request_t *r,
    ngx_http_mdm_inspect_arg_t *q, const char **err)
{
    u_char                      *p, *last, *amp, *eq, *dst, *src;
    ngx_str_t                    name;
    ngx_http_mdm_inspect_arg_t  *a;

    p = r->args.data;
    last = r->args.data + r->args.len;

    for ( /* void */ ; p < last; p = amp + 1) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');
        if (eq == NULL) {
            eq = amp;
        }

        name.data = p;
        name.len = eq - p;

        for (a = q; a->name.len; a++) {
            if (a->name.len == name.len
                && ngx_strncmp(a->name.data, name.data, name.len) == 0)
            {
                break;
            }
        }

        if (a->name.len == 0 || a->set) {
            *err = ngx_http_mdm_inspect_msg(r, a->set
                                            ? "repeated query parameter"
                                            : "unknown query parameter",
                                            &name);
            return *err ? NGX_DECLINED : NGX_ERROR;
        }

        dst = ngx_pnalloc(r->pool, amp - eq + 1);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        a->value.data = dst;
        src = (eq < amp) ? eq + 1 : eq;
        ngx_unescape_uri(&dst, &src, amp - src, 0);
        *dst = '\0';
        a->value.len = dst - a->value.data;
        a->set = 1;

        if (ngx_strlen(a->value.data) != a->value.len) {
            *err = ngx_http_mdm_inspect_msg(r, "NUL byte in query parameter",
                                            &name);
            return *err ? NGX_DECLINED : NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* "<what> "<name>"", naming the parameter only when it is plain text */
static const char *
ngx_http_mdm_inspect_msg(ngx_http_request_t *r, const char *what,
    ngx_str_t *name)
{
    u_char  *p, *last;
    size_t   i;

    for (i = 0; i < name->len && i < 64; i++) {
        if (name->data[i] < 0x20 || name->data[i] > 0x7e
            || name->data[i] == '"' || name->data[i] == '\\')
        {
            break;
        }
    }

    if (i < name->len) {
        return what;
    }

    p = ngx_pnalloc(r->pool, ngx_strlen(what) + name->len + 4);
    if (p == NULL) {
        return NULL;
    }

    last = ngx_sprintf(p, "%s \"%V\"", what, name);
    *last = '\0';

    return (char *) p;
}


static ngx_int_t
ngx_http_mdm_inspect_limit(ngx_http_mdm_inspect_arg_t *arg,
    ngx_int_t *limit, const char **err)
{
    if (!arg->set) {
        *limit = NGX_HTTP_MDM_INSPECT_LIMIT;
        return NGX_OK;
    }

    *limit = ngx_atoi(arg->value.data, arg->value.len);

    if (*limit < 1 || *limit > NGX_HTTP_MDM_INSPECT_LIMIT_MAX) {
        *err = "limit must be an integer from 1 to 1000";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A cursor from an earlier page: a position (digits), or with scan an SSCAN
 * cursor, maybe followed by ":<entries to skip>". Absent means the start.
 */
static ngx_int_t
ngx_http_mdm_inspect_cursor(ngx_http_mdm_inspect_arg_t *arg,
    ngx_uint_t scan, const char **err)
{
    u_char  *p, *colon, *last;

    if (!arg->set) {
        ngx_str_set(&arg->value, "0");
        return NGX_OK;
    }

    p = arg->value.data;
    last = p + arg->value.len;

    colon = scan ? ngx_strlchr(p, last, ':') : NULL;

    if (ngx_atoi(p, (colon ? colon : last) - p) == NGX_ERROR
        || (colon ? colon : last) - p > NGX_HTTP_MDM_INSPECT_SCAN_DIGITS
        || (colon && ngx_atoi(colon + 1, last - colon - 1) == NGX_ERROR))
    {
        *err = "cursor must be a next_cursor of an earlier page";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* A single ID of the path or the query, as Redis keys may take it. */
static ngx_int_t
ngx_http_mdm_inspect_id(ngx_http_request_t *r, ngx_str_t *s,
    const char *what, char **id, const char **err)
{
    u_char     *p;
    json_t     *utf8;
    mdm_err_t   merr;
    ngx_str_t   msg;

    *id = ngx_http_mdm_cstr(r->pool, s);
    if (*id == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) merr.msg;

    if (ngx_strlen(*id) != s->len || ngx_strchr(*id, ',') != NULL) {
        ngx_sprintf(p, "%s must be one ID without NUL or ','%Z", what);

    } else if (s->len > MDM_COMMAND_UUID_MAX
               && ngx_strcmp(what, "CommandUUID") == 0)
    {
        ngx_sprintf(p, "CommandUUID is longer than %d bytes%Z",
                    MDM_COMMAND_UUID_MAX);

    } else if (mdm_id_check(what, *id, &merr) == MDM_OK) {
        utf8 = json_string(*id);
        json_decref(utf8);

        if (utf8 != NULL) {
            return NGX_OK;
        }

        ngx_sprintf(p, "%s is not UTF-8%Z", what);
    }

    msg.data = (u_char *) merr.msg;
    msg.len = ngx_strlen(merr.msg);
    *err = ngx_http_mdm_cstr(r->pool, &msg);

    return *err ? NGX_DECLINED : NGX_ERROR;
}


/* "id1,id2,...": the shared ID-list rules, and UTF-8 for the JSON keys */
static ngx_int_t
ngx_http_mdm_inspect_ids(ngx_http_request_t *r, ngx_str_t *list,
    ngx_array_t **ids, const char **err)
{
    char        **id;
    json_t       *utf8;
    ngx_int_t     rc;
    ngx_uint_t    i;

    rc = ngx_http_mdm_api_split_ids(r, list, ids, err);
    if (rc != NGX_OK) {
        return rc;
    }

    id = (*ids)->elts;

    for (i = 0; i < (*ids)->nelts; i++) {
        utf8 = json_string(id[i]);
        json_decref(utf8);

        if (utf8 == NULL) {
            *err = "enrollment ID is not UTF-8";
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_inspect_key(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    size_t (*key)(char *buf, const char *s), const char *s)
{
    char  buf[MDM_KEY_MAX];

    return ngx_http_mdm_args_add_copy(r, args, buf, key(buf, s));
}


/* rc from a parser: NGX_DECLINED answers 400 with err, else 500 */
static ngx_int_t
ngx_http_mdm_inspect_bad(ngx_http_request_t *r, ngx_int_t rc,
    const char *err)
{
    if (rc != NGX_DECLINED) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err);
}


static ngx_int_t
ngx_http_mdm_inspect_unexpected(ngx_http_request_t *r, const char *script)
{
    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "mdm api: unexpected reply from %s.lua", script);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* A string element of a script's reply; NULL for nil (Lua false). */
static redisReply *
ngx_http_mdm_inspect_str(redisReply *e)
{
    return (e != NULL && e->type == REDIS_REPLY_STRING) ? e : NULL;
}


static ngx_uint_t
ngx_http_mdm_inspect_is(redisReply *e, const char *s)
{
    return ngx_http_mdm_inspect_str(e) != NULL
           && e->len == ngx_strlen(s)
           && ngx_strncmp(e->str, s, e->len) == 0;
}


/* A stored string; null when absent or not UTF-8. */
static json_t *
ngx_http_mdm_inspect_jstr(redisReply *e)
{
    json_t  *s;

    if (ngx_http_mdm_inspect_str(e) == NULL) {
        return json_null();
    }

    s = json_stringn(e->str, e->len);

    return s ? s : json_null();
}


/* Stored unix seconds as RFC 3339 (UTC); null when absent or 0. */
static json_t *
ngx_http_mdm_inspect_jtime(redisReply *e)
{
    u_char     buf[sizeof("1970-01-01T00:00:00Z")];
    ngx_tm_t   tm;
    ngx_int_t  sec;

    if (ngx_http_mdm_inspect_str(e) == NULL) {
        return json_null();
    }

    sec = ngx_atoi((u_char *) e->str, e->len);
    if (sec <= 0) {
        return json_null();
    }

    ngx_gmtime((time_t) sec, &tm);

    return json_stringn((char *) buf,
                        ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                                    tm.ngx_tm_year, tm.ngx_tm_mon,
                                    tm.ngx_tm_mday, tm.ngx_tm_hour,
                                    tm.ngx_tm_min, tm.ngx_tm_sec)
                        - buf);
}


static json_t *
ngx_http_mdm_inspect_jint(redisReply *e)
{
    ngx_int_t  n;

    if (ngx_http_mdm_inspect_str(e) == NULL) {
        return json_null();
    }

    n = ngx_atoi((u_char *) e->str, e->len);

    return n == NGX_ERROR ? json_null() : json_integer(n);
}


/* The next page's cursor; null ('' from the script) at the end. */
static json_t *
ngx_http_mdm_inspect_jcursor(redisReply *e)
{
    return (ngx_http_mdm_inspect_str(e) == NULL || e->len == 0)
           ? json_null() : json_stringn(e->str, e->len);
}


static json_t *
ngx_http_mdm_inspect_jbase64(ngx_http_request_t *r, redisReply *e)
{
    ngx_str_t  src, dst;

    if (ngx_http_mdm_inspect_str(e) == NULL) {
        return json_null();
    }

    src.data = (u_char *) e->str;
    src.len = e->len;

    dst.data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(src.len));
    if (dst.data == NULL) {
        return NULL;
    }

    ngx_encode_base64(&dst, &src);

    return json_stringn((char *) dst.data, dst.len);
}


/* Sets obj[key] = value, taking value's reference; NULL value fails. */
static ngx_int_t
ngx_http_mdm_inspect_set(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL || json_object_set_new(obj, key, value) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}
