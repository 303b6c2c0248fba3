#ifndef _NGX_HTTP_MDM_API_H_INCLUDED_
#define _NGX_HTTP_MDM_API_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* path: what follows the route's prefix, e.g. the ID list of /v1/enqueue/ */
typedef ngx_int_t (*ngx_http_mdm_api_pt)(ngx_http_request_t *r,
    ngx_str_t *path);

/*
 * A route's flags. PREFIX: more path may follow (1, as routes spell it).
 * KMFDDM: the route is one of KMFDDM's (declarative management), whose
 * tools send the Basic user "kmfddm" where NanoMDM's send "nanomdm"; when
 * mdm_api_key names no users, that is the one name the route accepts.
 */
#define NGX_HTTP_MDM_API_PREFIX     0x01
#define NGX_HTTP_MDM_API_KMFDDM     0x02

typedef struct {
    ngx_str_t               prefix;
    ngx_uint_t              flags;         /* NGX_HTTP_MDM_API_* */
    ngx_http_mdm_api_pt     handler;
} ngx_http_mdm_api_route_t;


/* a query parameter a route takes (ngx_http_mdm_api_args.c) */
typedef struct {
    ngx_str_t               name;
    ngx_str_t               value;         /* decoded, NUL-terminated */
    ngx_uint_t              set;
} ngx_http_mdm_api_arg_t;


/* ngx_http_mdm_api_enqueue.c: PUT /v1/enqueue/<ids>, POST /v1/enqueue,
 * POST /v1/commands[/<ids>] (JSON builder); GET|DELETE /v1/commands/<uuid>
 * are passed on to the inspection handlers */
ngx_int_t ngx_http_mdm_api_enqueue(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_commands(ngx_http_request_t *r, ngx_str_t *path);

/* ngx_http_mdm_api_push.c: GET|POST /v1/push/<ids>, PUT|GET /v1/pushcert */
ngx_int_t ngx_http_mdm_api_push(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_pushcert(ngx_http_request_t *r, ngx_str_t *path);

/* ngx_http_mdm_api_enrollments.c: GET /v1/enrollments[/<id>] */
ngx_int_t ngx_http_mdm_api_enrollments(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_queue.c: GET|DELETE /v1/queue/<ids> */
ngx_int_t ngx_http_mdm_api_queue(ngx_http_request_t *r, ngx_str_t *path);

/* ngx_http_mdm_api_command.c: GET|DELETE /v1/commands/<uuid> */
ngx_int_t ngx_http_mdm_api_command_status(ngx_http_request_t *r,
    ngx_str_t *uuid);
ngx_int_t ngx_http_mdm_api_command_cancel(ngx_http_request_t *r,
    ngx_str_t *uuid);

/* ngx_http_mdm_api_webhooks.c: GET /v1/webhooks/<name>/dead,
 * POST /v1/webhooks/<name>/replay (mdm-worker's dead letters) */
ngx_int_t ngx_http_mdm_api_webhooks(ngx_http_request_t *r, ngx_str_t *path);

/* ngx_http_mdm_api_migration.c: PUT /migration (NanoMDM's) */
ngx_int_t ngx_http_mdm_api_migration(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_certs.c: GET /v1/certificates[/<serial>],
 * POST|DELETE /v1/certificates/<serial>/revoke */
ngx_int_t ngx_http_mdm_api_certificates(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_enroll.c: POST|GET /v1/enroll/tokens,
 * GET|DELETE /v1/enroll/tokens/<token> (one-time enrollment links) */
ngx_int_t ngx_http_mdm_api_enroll_tokens(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_enroll_devices.c: PUT|GET|DELETE
 * /v1/enroll/devices/<serial> (known serials for ADE) */
ngx_int_t ngx_http_mdm_api_enroll_devices(ngx_http_request_t *r,
    ngx_str_t *path);

/* shared by the API handlers */
ngx_int_t ngx_http_mdm_api_method(ngx_http_request_t *r, ngx_uint_t methods);
ngx_int_t ngx_http_mdm_api_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *why);

/* ngx_http_mdm_api_args.c: the path and the query, as sent, decoded
 * strictly; NGX_DECLINED with *err for a 400 */
ngx_int_t ngx_http_mdm_api_unescape(ngx_http_request_t *r, ngx_str_t *in,
    ngx_str_t *out, const char **err);
ngx_int_t ngx_http_mdm_api_args(ngx_http_request_t *r,
    ngx_http_mdm_api_arg_t *q, const char **err);
ngx_int_t ngx_http_mdm_api_no_args(ngx_http_request_t *r, const char **err);

ngx_int_t ngx_http_mdm_api_send_json(ngx_http_request_t *r,
    ngx_uint_t status, void *json);
ngx_int_t ngx_http_mdm_api_split_ids(ngx_http_request_t *r, ngx_str_t *list,
    ngx_array_t **ids, const char **err);

#endif /* _NGX_HTTP_MDM_API_H_INCLUDED_ */
