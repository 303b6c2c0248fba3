/*
 * GET /v1/enrollments/<id>: one enrollment with its user channels and queue
 * length; GET /v1/enrollments: a page of them, filtered by type, enabled or
 * serial (docs/api.md, "Inspection").
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_enrollment.h"
#include "mdm_keys.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


#define NGX_HTTP_MDM_API_BUDGET_MAX    10000   /* index entries per call */


typedef enum {
    NGX_HTTP_MDM_FIELD_STRING = 0,
    NGX_HTTP_MDM_FIELD_BOOL,
    NGX_HTTP_MDM_FIELD_INT,
    NGX_HTTP_MDM_FIELD_TIME,
    NGX_HTTP_MDM_FIELD_HEX,
    NGX_HTTP_MDM_FIELD_PRESENT,
    NGX_HTTP_MDM_FIELD_JSON
} ngx_http_mdm_field_e;


/* one field of mdm:{<id>}:enr and its JSON form */
typedef struct {
    const char                   *field;
    const char                   *name;
    ngx_http_mdm_field_e          kind;
} ngx_http_mdm_api_enrollments_field_t;


static ngx_int_t ngx_http_mdm_api_enrollments_one_reply(ngx_http_request_t *r,
    redisReply *reply);
static json_t *ngx_http_mdm_api_enrollments_json(ngx_http_request_t *r,
    redisReply *fields);
static json_t *ngx_http_mdm_api_enrollments_field(ngx_http_request_t *r,
    ngx_http_mdm_api_enrollments_field_t *f, redisReply *v);
static ngx_int_t ngx_http_mdm_api_enrollments_list_filters(
    ngx_http_request_t *r,
    ngx_http_mdm_api_arg_t *q, ngx_http_mdm_args_t *args,
    const char **err);
static ngx_int_t ngx_http_mdm_api_enrollments_list_reply(ngx_http_request_t *r,
    redisReply *reply);


static ngx_http_mdm_api_enrollments_field_t
    ngx_http_mdm_api_enrollments_fields[] =
{
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
    { "enroll_user", "enroll_user", NGX_HTTP_MDM_FIELD_STRING },
    { "enroll_link", "enroll_link", NGX_HTTP_MDM_FIELD_STRING },
    { "enroll_tags", "enroll_tags", NGX_HTTP_MDM_FIELD_JSON },
    { "created", "created", NGX_HTTP_MDM_FIELD_TIME },
    { "last_seen", "last_seen", NGX_HTTP_MDM_FIELD_TIME },
    { "push_dead", "push_dead", NGX_HTTP_MDM_FIELD_TIME },
    { "checked_out", "checked_out", NGX_HTTP_MDM_FIELD_TIME },
    { NULL, NULL, 0 }
};


/* GET /v1/enrollments/<id> */
ngx_int_t
ngx_http_mdm_api_enrollments_one(ngx_http_request_t *r, ngx_str_t *path)
{
    char                   *id;
    ngx_int_t               rc;
    const char             *err;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_api_arg_t  none[] = {
        { ngx_null_string, ngx_null_string, 0 }
    };

    rc = ngx_http_mdm_api_args(r, none, &err);
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_path_id(r, path, &id, &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    if (ngx_http_mdm_args_init(r, &args, 3 + 2 + 1) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "enrollment", 2) != NGX_OK
        || ngx_http_mdm_api_key(r, &args, mdm_key_enrollment, id)
           != NGX_OK
        || ngx_http_mdm_api_key(r, &args, mdm_key_users, id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, id);

    return ngx_http_mdm_eval(r, &args,
                             ngx_http_mdm_api_enrollments_one_reply);
}


/* {} for an unknown enrollment, else {fields, user channels, queue length} */
static ngx_int_t
ngx_http_mdm_api_enrollments_one_reply(ngx_http_request_t *r,
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
        return ngx_http_mdm_api_unexpected(r, "enrollment");
    }

    json = ngx_http_mdm_api_enrollments_json(r, reply->element[0]);

    if (json == NULL
        || ngx_http_mdm_api_json_set(json, "user_channels", json_array())
           != NGX_OK)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    users = json_object_get(json, "user_channels");

    u = reply->element[1];

    for (i = 0; i < u->elements; i++) {
        if (json_array_append_new(users,
                                  ngx_http_mdm_api_json_str(u->element[i]))
            != 0)
        {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_mdm_api_json_set(json, "queue_length",
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
ngx_http_mdm_api_enrollments_json(ngx_http_request_t *r,
    redisReply *fields)
{
    size_t                                 i;
    json_t                                *json, *v;
    redisReply                            *found;
    ngx_http_mdm_ctx_t                    *ctx;
    ngx_http_mdm_api_enrollments_field_t  *f;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    json = json_object();
    if (json == NULL
        || ngx_http_mdm_api_json_set(json, "id",
               json_stringn((char *) ctx->enrollment_id.data,
                            ctx->enrollment_id.len))
           != NGX_OK)
    {
        json_decref(json);
        return NULL;
    }

    for (f = ngx_http_mdm_api_enrollments_fields; f->name; f++) {
        found = NULL;

        for (i = 0; i < fields->elements; i += 2) {
            if (ngx_http_mdm_api_reply_is(fields->element[i], f->field)) {
                found = ngx_http_mdm_api_reply_str(fields->element[i + 1]);
                break;
            }
        }

        if (found == NULL && f->kind != NGX_HTTP_MDM_FIELD_BOOL
            && f->kind != NGX_HTTP_MDM_FIELD_PRESENT)
        {
            continue;
        }

        v = ngx_http_mdm_api_enrollments_field(r, f, found);

        if (ngx_http_mdm_api_json_set(json, f->name, v) != NGX_OK) {
            json_decref(json);
            return NULL;
        }
    }

    return json;
}


static json_t *
ngx_http_mdm_api_enrollments_field(ngx_http_request_t *r,
    ngx_http_mdm_api_enrollments_field_t *f, redisReply *v)
{
    u_char  *hex;

    switch (f->kind) {

    case NGX_HTTP_MDM_FIELD_BOOL:
        return json_boolean(v != NULL && v->len == 1 && v->str[0] == '1');

    case NGX_HTTP_MDM_FIELD_PRESENT:
        return json_boolean(v != NULL);

    case NGX_HTTP_MDM_FIELD_INT:
        return ngx_http_mdm_api_json_int(v);

    case NGX_HTTP_MDM_FIELD_TIME:
        return ngx_http_mdm_api_json_time(v);

    case NGX_HTTP_MDM_FIELD_JSON:
        /* written by our own scripts from a validated API body; a value
         * that does not parse is shown as the string it is */
        {
            json_t  *j = json_loadb(v->str, v->len, JSON_DECODE_ANY, NULL);

            return j ? j : ngx_http_mdm_api_json_str(v);
        }

    case NGX_HTTP_MDM_FIELD_HEX:
        hex = ngx_pnalloc(r->pool, 2 * v->len + 1);
        if (hex == NULL) {
            return NULL;
        }
        return json_stringn((char *) hex,
                            ngx_hex_dump(hex, (u_char *) v->str, v->len)
                            - hex);

    default:
        return ngx_http_mdm_api_json_str(v);
    }
}


enum {
    NGX_HTTP_MDM_LIST_TYPE = 0,
    NGX_HTTP_MDM_LIST_ENABLED,
    NGX_HTTP_MDM_LIST_SERIAL,
    NGX_HTTP_MDM_LIST_CURSOR,
    NGX_HTTP_MDM_LIST_LIMIT
};


/* GET /v1/enrollments[?filters] */
ngx_int_t
ngx_http_mdm_api_enrollments_list(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t               rc, limit;
    const char             *err;
    ngx_http_mdm_args_t     args;
    ngx_http_mdm_api_arg_t  q[] = {
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

    rc = ngx_http_mdm_api_args(r, q, &err);

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_cursor(&q[NGX_HTTP_MDM_LIST_CURSOR], 0,
                                     &err);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_limit(&q[NGX_HTTP_MDM_LIST_LIMIT], &limit,
                                    &err);
    }

    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    ngx_http_mdm_args_add(&args, q[NGX_HTTP_MDM_LIST_CURSOR].value.data,
                          q[NGX_HTTP_MDM_LIST_CURSOR].value.len);

    if (ngx_http_mdm_args_add_int(r, &args, limit) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args,
               ngx_min(10 * limit, NGX_HTTP_MDM_API_BUDGET_MAX))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_api_enrollments_list_filters(r, q, &args, &err);
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_enrollments_list_reply);
}


/* type, enabled and serial, checked, as enrollments.lua takes them */
static ngx_int_t
ngx_http_mdm_api_enrollments_list_filters(ngx_http_request_t *r,
    ngx_http_mdm_api_arg_t *q, ngx_http_mdm_args_t *args,
    const char **err)
{
    ngx_uint_t               t;
    const char              *name;
    ngx_http_mdm_api_arg_t  *a;

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


/* {next cursor, id, type, enabled, serial, last_seen, enroll_user, id,
 * ...} */
static ngx_int_t
ngx_http_mdm_api_enrollments_list_reply(ngx_http_request_t *r,
    redisReply *reply)
{
    size_t        i;
    json_t       *json, *list, *e;
    redisReply  **el;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 6 != 1) {
        return ngx_http_mdm_api_unexpected(r, "enrollments");
    }

    json = json_pack("{s:[]}", "enrollments");
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list = json_object_get(json, "enrollments");

    for (i = 1; i < reply->elements; i += 6) {
        el = &reply->element[i];
        e = json_pack("{s:o,s:o,s:b,s:o,s:o,s:o}",
                      "id", ngx_http_mdm_api_json_str(el[0]),
                      "type", ngx_http_mdm_api_json_str(el[1]),
                      "enabled", (int) ngx_http_mdm_api_reply_is(el[2], "1"),
                      "serial", ngx_http_mdm_api_json_str(el[3]),
                      "last_seen", ngx_http_mdm_api_json_time(el[4]),
                      "enroll_user", ngx_http_mdm_api_json_str(el[5]));

        if (json_array_append_new(list, e) != 0) {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mdm_api_send_page(r, json, reply->element[0]);
}
