/*
 * An enrollment's inventory, as mdm-worker stored it from command results
 * (docs/profiles.md, "Inventory"):
 *
 *   GET /v1/enrollments/<id>/inventory      {"<RequestType>.<key>":
 *                                            {"at", "value"}, ...}
 *   GET /v1/enrollments/<id>/applications   the latest application list
 *   GET /v1/enrollments/<id>/bypass-code    the device's Activation Lock
 *                                            bypass code and its escrow hash
 *
 * One read of one key in the enrollment's slot each.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_keys.h"
#include "albc/mdm_albc.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


static ngx_int_t ngx_http_mdm_api_inventory_read(ngx_http_request_t *r,
    ngx_str_t *path, const char *cmd, mdm_key_id_t k,
    ngx_http_mdm_reply_pt handler);
static ngx_int_t ngx_http_mdm_api_inventory_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_applications_done(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_bypass_done(ngx_http_request_t *r,
    redisReply *reply);


ngx_int_t
ngx_http_mdm_api_bypass_code(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_inventory_read(r, path, "HGETALL", MDM_K_ALBC,
                                           ngx_http_mdm_api_bypass_done);
}


/* {"device_code", "device_hash", "device_at"}, or 404 before one */
static ngx_int_t
ngx_http_mdm_api_bypass_done(ngx_http_request_t *r, redisReply *reply)
{
    char           hash[MDM_ALBC_HASH_LEN + 1];
    size_t         i;
    json_t        *root;
    redisReply    *f, *v;
    unsigned char  raw[MDM_ALBC_RAW_LEN];

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_unexpected(r, "HGETALL");
    }

    root = json_object();
    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        f = reply->element[i];
        v = reply->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (ngx_strcmp(f->str, "device_code") == 0) {
            json_object_set_new(root, "device_code",
                                json_stringn(v->str, v->len));

            if (mdm_albc_decode(v->str, v->len, raw) == 0
                && mdm_albc_hash(raw, hash) == 0)
            {
                json_object_set_new(root, "device_hash", json_string(hash));
            }

        } else if (ngx_strcmp(f->str, "device_at") == 0) {
            json_object_set_new(root, "device_at",
                                json_integer(ngx_atotm((u_char *) v->str,
                                                       v->len)));
        }
    }

    if (json_object_get(root, "device_code") == NULL) {
        json_decref(root);
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "no bypass code reported");
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root);
}


ngx_int_t
ngx_http_mdm_api_inventory(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_inventory_read(r, path, "HGETALL", MDM_K_INV,
                                           ngx_http_mdm_api_inventory_done);
}


ngx_int_t
ngx_http_mdm_api_applications(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_inventory_read(r, path, "GET", MDM_K_INV_APPS,
                                           ngx_http_mdm_api_applications_done);
}


static ngx_int_t
ngx_http_mdm_api_inventory_read(ngx_http_request_t *r, ngx_str_t *path,
    const char *cmd, mdm_key_id_t k, ngx_http_mdm_reply_pt handler)
{
    char        *id;
    ngx_int_t    rc;
    const char  *err;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc == NGX_OK) {
        rc = ngx_http_mdm_api_path_id(r, path, &id, &err);
    }
    if (rc != NGX_OK) {
        return ngx_http_mdm_api_bad(r, rc, err);
    }

    return ngx_http_mdm_key_command(r, cmd, k, id, NULL, handler);
}


/* Each stored fact is JSON already: parsed back into the answer. */
static ngx_int_t
ngx_http_mdm_api_inventory_done(ngx_http_request_t *r, redisReply *reply)
{
    size_t       i;
    json_t      *root, *v;
    redisReply  *f, *e;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_http_mdm_api_unexpected(r, "HGETALL");
    }

    root = json_object();
    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        f = reply->element[i];
        e = reply->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || e->type != REDIS_REPLY_STRING) {
            continue;
        }

        v = json_loadb(e->str, e->len, 0, NULL);
        if (v != NULL) {
            json_object_set_new(root, f->str, v);
        }
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root);
}


static ngx_int_t
ngx_http_mdm_api_applications_done(ngx_http_request_t *r, redisReply *reply)
{
    if (reply->type == REDIS_REPLY_NIL) {
        return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/json",
                                 (u_char *) "[]", 2);
    }

    if (reply->type != REDIS_REPLY_STRING) {
        return ngx_http_mdm_api_unexpected(r, "GET");
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/json",
                             (u_char *) reply->str, reply->len);
}
