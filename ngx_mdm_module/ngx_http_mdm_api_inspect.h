/*
 * The inspection API NanoMDM lacks (docs/api.md, "Inspection"), in three
 * files: ngx_http_mdm_api_enrollments.c, _queue.c and _command.c; what they
 * share is in ngx_http_mdm_api_inspect.c. Every Redis step is one Lua script
 * of libmdm/lua/ whose work per call is bounded; a request that needs more
 * (a long ID list, every target of a command) calls it again from the reply
 * handler. Scripts answer flat arrays; the JSON is built by the handlers.
 */

#ifndef _NGX_HTTP_MDM_API_INSPECT_H_INCLUDED_
#define _NGX_HTTP_MDM_API_INSPECT_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


#define NGX_HTTP_MDM_INSPECT_CHUNK         256     /* IDs per script call */
#define NGX_HTTP_MDM_INSPECT_CURSOR_MAX    40


/* the inspection handlers' name for a query parameter */


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
} ngx_http_mdm_api_batch_t;


/* queue clear, cancel: one outcome per ID, then the APIResult */
ngx_http_mdm_api_batch_t *ngx_http_mdm_api_batch(
    ngx_http_request_t *r);
ngx_int_t ngx_http_mdm_api_batch_note(ngx_http_mdm_api_batch_t *b,
    const char *id, const char *error, ngx_int_t canceled);
ngx_int_t ngx_http_mdm_api_batch_result(ngx_http_request_t *r,
    ngx_http_mdm_api_batch_t *b);

/* query parameters (ngx_http_mdm_api_args) and IDs: NGX_DECLINED with
 * *err for a 400 */
ngx_int_t ngx_http_mdm_api_limit(ngx_http_mdm_api_arg_t *arg,
    ngx_int_t *limit, const char **err);
ngx_int_t ngx_http_mdm_api_cursor(ngx_http_mdm_api_arg_t *arg,
    ngx_uint_t scan, const char **err);
ngx_int_t ngx_http_mdm_api_id(ngx_http_request_t *r,
    ngx_str_t *s, const char *what, char **id, const char **err);
ngx_int_t ngx_http_mdm_api_path_id(ngx_http_request_t *r,
    ngx_str_t *path, char **id, const char **err);
ngx_int_t ngx_http_mdm_api_key(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, size_t (*key)(char *buf, const char *s),
    const char *s);
ngx_int_t ngx_http_mdm_api_bad(ngx_http_request_t *r,
    ngx_int_t rc, const char *err);
ngx_int_t ngx_http_mdm_api_unexpected(ngx_http_request_t *r,
    const char *script);

/* script replies and their JSON */
redisReply *ngx_http_mdm_api_reply_str(redisReply *e);
ngx_uint_t ngx_http_mdm_api_reply_is(redisReply *e, const char *s);
ngx_uint_t ngx_http_mdm_api_reply_is_err(redisReply *reply);
json_t *ngx_http_mdm_api_json_str(redisReply *e);
json_t *ngx_http_mdm_api_json_time(redisReply *e);
json_t *ngx_http_mdm_api_json_int(redisReply *e);
json_t *ngx_http_mdm_api_json_base64(ngx_http_request_t *r,
    redisReply *e);
ngx_int_t ngx_http_mdm_api_json_set(json_t *obj, const char *key,
    json_t *value);
ngx_int_t ngx_http_mdm_api_send_page(ngx_http_request_t *r, json_t *json,
    redisReply *cursor);


#endif /* _NGX_HTTP_MDM_API_INSPECT_H_INCLUDED_ */
