#ifndef _NGX_HTTP_MDM_API_H_INCLUDED_
#define _NGX_HTTP_MDM_API_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* path: what follows the route's prefix, e.g. the ID list of /v1/enqueue/ */
typedef ngx_int_t (*ngx_http_mdm_api_pt)(ngx_http_request_t *r,
    ngx_str_t *path);

/*
 * A route's flags. EXACT: nothing may follow the prefix; REST: something
 * must (neither: either, the handler checks what). KMFDDM: the route is one
 * of KMFDDM's (declarative management), whose tools send the Basic user
 * "kmfddm" where NanoMDM's send "nanomdm"; when mdm_api_key names no users,
 * that is the one name the route accepts. PUBLIC: no API key is asked for.
 */
#define NGX_HTTP_MDM_API_EXACT      0x01
#define NGX_HTTP_MDM_API_REST       0x02
#define NGX_HTTP_MDM_API_KMFDDM     0x04
#define NGX_HTTP_MDM_API_PUBLIC     0x08

/* the most methods one route has handlers for */
#define NGX_HTTP_MDM_API_METHODS    3

/* any method: a handler that explains why no other one matched */
#define NGX_HTTP_MDM_API_ANY        ((ngx_uint_t) -1)

typedef struct {
    ngx_uint_t              methods;       /* NGX_HTTP_GET|... */
    ngx_uint_t              body;          /* the handler reads the body;
                                              else it is discarded first */
    ngx_http_mdm_api_pt     handler;
} ngx_http_mdm_api_method_t;

/*
 * A path is matched by its prefix, then what follows it up to the suffix
 * (if any) is the handler's path; the first route that matches the path
 * answers it, with the handler of the request's method or 405.
 */
typedef struct {
    ngx_str_t                   prefix;
    ngx_str_t                   suffix;
    ngx_uint_t                  flags;     /* NGX_HTTP_MDM_API_* */
    ngx_http_mdm_api_method_t   method[NGX_HTTP_MDM_API_METHODS];
} ngx_http_mdm_api_route_t;


/* a query parameter a route takes (ngx_http_mdm_api_args.c) */
typedef struct {
    ngx_str_t               name;
    ngx_str_t               value;         /* decoded, NUL-terminated */
    ngx_uint_t              set;
} ngx_http_mdm_api_arg_t;


/* ngx_http_mdm_api_enqueue.c: PUT /v1/enqueue/<ids> (a raw plist),
 * POST /v1/enqueue (JSON with the IDs), POST /v1/commands[/<ids>] (JSON
 * builder) */
ngx_int_t ngx_http_mdm_api_enqueue_plist(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_enqueue_json(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_enqueue_build(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_command.c: GET|DELETE /v1/commands/<uuid> */
ngx_int_t ngx_http_mdm_api_command_status(ngx_http_request_t *r,
    ngx_str_t *uuid);
ngx_int_t ngx_http_mdm_api_command_cancel(ngx_http_request_t *r,
    ngx_str_t *uuid);

/* ngx_http_mdm_api_push.c: GET|POST /v1/push/<ids>, PUT|GET /v1/pushcert */
ngx_int_t ngx_http_mdm_api_push(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_pushcert_put(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_pushcert_get(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_enrollments.c: GET /v1/enrollments, GET
 * /v1/enrollments/<id> */
ngx_int_t ngx_http_mdm_api_enrollments_list(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_enrollments_one(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_queue.c: GET|DELETE /v1/queue/<ids> */
ngx_int_t ngx_http_mdm_api_queue_list(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_queue_clear(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_webhooks.c: GET /v1/webhooks/<name>/dead,
 * POST /v1/webhooks/<name>/replay (mdm-worker's dead letters); any other
 * path below /v1/webhooks/ is refused with what is expected */
ngx_int_t ngx_http_mdm_api_webhooks_dead(ngx_http_request_t *r,
    ngx_str_t *name);
ngx_int_t ngx_http_mdm_api_webhooks_replay(ngx_http_request_t *r,
    ngx_str_t *name);
ngx_int_t ngx_http_mdm_api_webhooks_unknown(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_migration.c: PUT /migration (NanoMDM's) */
ngx_int_t ngx_http_mdm_api_migration(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_certs.c: GET /v1/certificates[/<serial>],
 * POST|DELETE /v1/certificates/<serial>/revoke */
ngx_int_t ngx_http_mdm_api_certs_list(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_certs_one(ngx_http_request_t *r,
    ngx_str_t *serial);
ngx_int_t ngx_http_mdm_api_certs_revoke(ngx_http_request_t *r,
    ngx_str_t *serial);

/* ngx_http_mdm_api_enroll.c: POST|GET /v1/enroll/tokens,
 * GET|DELETE /v1/enroll/tokens/<token> (one-time enrollment links) */
ngx_int_t ngx_http_mdm_api_enroll_create(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_enroll_list(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_enroll_get(ngx_http_request_t *r,
    ngx_str_t *token);
ngx_int_t ngx_http_mdm_api_enroll_delete(ngx_http_request_t *r,
    ngx_str_t *token);

/* ngx_http_mdm_api_enroll_devices.c: PUT|GET|DELETE
 * /v1/enroll/devices/<serial> (known serials for ADE) */
ngx_int_t ngx_http_mdm_api_enroll_devices(ngx_http_request_t *r,
    ngx_str_t *serial);

/* shared by the API handlers */
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
