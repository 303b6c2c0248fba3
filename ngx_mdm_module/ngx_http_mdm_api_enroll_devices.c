/*
 * The known-serials registry: PUT, GET, DELETE /v1/enroll/devices/<serial>.
 * With mdm_enroll_ade_known_serials on, an ADE request whose serial is not
 * registered here is answered com.apple.unrecognized.device. It stands in
 * for Apple's device assignment until that exists: one call per serial,
 * in the serial's own slot (ade_known.lua).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_keys.h"
#include "enroll/mdm_machineinfo.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


typedef struct {
    char  serial[MDM_MACHINEINFO_STR_MAX + 1];
} ngx_http_mdm_api_enroll_devices_t;


static ngx_int_t ngx_http_mdm_api_enroll_devices_done(ngx_http_request_t *r,
    redisReply *reply);


ngx_int_t
ngx_http_mdm_api_enroll_devices(ngx_http_request_t *r, ngx_str_t *path)
{
    char                                known[MDM_KEY_MAX], dev[MDM_KEY_MAX];
    size_t                              klen, dlen;
    const char                         *op;
    ngx_http_mdm_ctx_t                 *ctx;
    ngx_http_mdm_args_t                 args;
    ngx_http_mdm_api_enroll_devices_t  *k;

    if (!mdm_machineinfo_id_valid((char *) path->data, path->len)) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "serial must be 1 to 128 of "
                                       "A-Z a-z 0-9 -");
    }

    ctx = ngx_http_mdm_get_ctx(r);
    k = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_api_enroll_devices_t));

    if (ctx == NULL || k == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(k->serial, path->data, path->len);
    ctx->data = k;

    op = r->method == NGX_HTTP_PUT ? "put"
         : r->method == NGX_HTTP_DELETE ? "del" : "get";

    klen = mdm_key_enroll_known(known, k->serial);
    dlen = mdm_key_enroll_dev(dev, k->serial);

    if (ngx_http_mdm_args_init(r, &args, 3 + 2 + 2) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "ade_known", 2) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, known, klen) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, dev, dlen) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, op);

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_enroll_devices_done);
}


static json_t *
ngx_http_mdm_api_enroll_devices_json(ngx_http_mdm_api_enroll_devices_t *k,
    redisReply *reply)
{
    size_t       i;
    json_t      *root, *facts;
    redisReply  *f, *v;

    root = json_object();
    facts = json_object();

    if (root == NULL || facts == NULL) {
        json_decref(root);
        json_decref(facts);
        return NULL;
    }

    json_object_set_new(root, "serial", json_string(k->serial));

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_STRING)
    {
        json_object_set_new(root, "registered",
                            json_integer(ngx_atotm((u_char *)
                                         reply->element[0]->str,
                                         reply->element[0]->len)));

        for (i = 0; reply->element[1]->type == REDIS_REPLY_ARRAY
                    && i + 1 < reply->element[1]->elements; i += 2)
        {
            f = reply->element[1]->element[i];
            v = reply->element[1]->element[i + 1];
            json_object_set_new(facts, f->str, json_stringn(v->str, v->len));
        }
    }

    /* the facts of its last ADE request, empty before the first */
    json_object_set_new(root, "machine_info", facts);

    return root;
}


static ngx_int_t
ngx_http_mdm_api_enroll_devices_done(ngx_http_request_t *r, redisReply *reply)
{
    json_t                             *root;
    ngx_http_mdm_ctx_t                 *ctx;
    ngx_http_mdm_api_enroll_devices_t  *k;

    ctx = ngx_http_mdm_get_ctx(r);
    k = ctx->data;

    if (r->method == NGX_HTTP_GET) {
        if (reply->type != REDIS_REPLY_ARRAY) {
            return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                           "serial not registered");
        }

        root = ngx_http_mdm_api_enroll_devices_json(k, reply);
        return root ? ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root)
                    : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mdm api: unexpected reply from ade_known");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_DELETE) {
        if (reply->integer == 0) {
            return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                           "serial not registered");
        }

        return ngx_http_mdm_send(r, NGX_HTTP_NO_CONTENT, NULL, NULL, 0);
    }

    root = json_pack("{s:s,s:b}", "serial", k->serial,
                     "created", (int) (reply->integer == 1));

    return root ? ngx_http_mdm_api_send_json(r, reply->integer == 1
                                             ? NGX_HTTP_CREATED : NGX_HTTP_OK,
                                             root)
                : NGX_HTTP_INTERNAL_SERVER_ERROR;
}
