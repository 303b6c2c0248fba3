#ifndef _NGX_HTTP_MDM_API_H_INCLUDED_
#define _NGX_HTTP_MDM_API_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_mdm_module.h"


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


/* a query parameter a route takes (ngx_http_mdm_api_args) */
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

/* ngx_http_mdm_api_vpp.c: PUT|GET /v1/vpp/tokens/<location>,
 * GET /v1/vpp/assets/<location>, POST /v1/vpp/assign|unassign/<location>,
 * GET /v1/vpp/installs/<location>/<adamId> (Apps and Books, docs/vpp.md) */
ngx_int_t ngx_http_mdm_api_vpp_token_put(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_vpp_token_get(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_vpp_assets(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_vpp_assign(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_vpp_unassign(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_vpp_installs(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_ddm.c: KMFDDM's declarative management routes:
 * GET|PUT /v1/declarations, GET|DELETE /v1/declarations/<id>,
 * GET /v1/declaration-sets/<id>, GET /v1/sets,
 * GET|PUT|DELETE /v1/set-declarations/<set>[?declaration=],
 * GET|PUT|DELETE /v1/enrollment-sets/<id>[?set=],
 * DELETE /v1/enrollment-sets-all[/sets]/<id> */
ngx_int_t ngx_http_mdm_api_ddm_decls(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_ddm_decl_put(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_ddm_decl(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_ddm_decl_sets(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_ddm_sets(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_ddm_set_decls(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_ddm_enr_sets(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_ddm_enr_sets_all(ngx_http_request_t *r,
    ngx_str_t *path);
/* ngx_http_mdm_ddm_asset.c: PUT|GET|DELETE /v1/ddm/assets/<id> */
ngx_int_t ngx_http_mdm_api_ddm_asset(ngx_http_request_t *r,
    ngx_str_t *path);
/* POST /v1/declarations/<id>/touch, POST /v1/notify */
ngx_int_t ngx_http_mdm_api_ddm_decl_touch(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_ddm_notify(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_profiles.c: GET|POST /v1/profiles, GET|DELETE
 * /v1/profiles/<ident>, GET .../raw, POST .../assign and .../unassign,
 * GET /v1/enrollments/<id>/profiles (docs/profiles.md) */
ngx_int_t ngx_http_mdm_api_profiles_list(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_profiles_upload(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_profiles_one(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_profiles_raw(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_profiles_assign(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_profiles_unassign(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_enrollment_profiles(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_inventory.c: GET /v1/enrollments/<id>/inventory,
 * GET /v1/enrollments/<id>/applications, .../bypass-code */
ngx_int_t ngx_http_mdm_api_inventory(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_applications(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_bypass_code(ngx_http_request_t *r,
    ngx_str_t *path);

/* ngx_http_mdm_api_ddm_status.c: GET /v1/declaration-status/<ids>,
 * /v1/status-errors/<ids>, /v1/status-values/<ids>?prefix=,
 * /v1/status-report/<id>?index= */
ngx_int_t ngx_http_mdm_api_ddm_decl_status(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_ddm_status_errors(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_ddm_status_values(ngx_http_request_t *r,
    ngx_str_t *path);
ngx_int_t ngx_http_mdm_api_ddm_status_report(ngx_http_request_t *r,
    ngx_str_t *path);

/*
 * Shared by the API handlers, all in ngx_http_mdm_api.c. The path and the
 * query, as sent, decoded strictly; NGX_DECLINED with *err for a 400.
 */
ngx_int_t ngx_http_mdm_api_unescape(ngx_http_request_t *r, ngx_str_t *in,
    ngx_str_t *out, const char **err);
ngx_int_t ngx_http_mdm_api_args(ngx_http_request_t *r,
    ngx_http_mdm_api_arg_t *q, const char **err);
ngx_int_t ngx_http_mdm_api_no_args(ngx_http_request_t *r, const char **err);

/* responses: a JSON body, or a refusal logged once with its JSON error */
ngx_int_t ngx_http_mdm_api_send_json(ngx_http_request_t *r,
    ngx_uint_t status, void *json);
ngx_int_t ngx_http_mdm_api_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *why);
ngx_int_t ngx_http_mdm_api_split_ids(ngx_http_request_t *r, ngx_str_t *list,
    ngx_array_t **ids, const char **err);


/*
 * The inspection API NanoMDM lacks (docs/api.md, "Inspection"), in three
 * files: ngx_http_mdm_api_enrollments.c, _queue.c and _command.c. Every
 * Redis step is one Lua script of libmdm/lua/ whose work per call is
 * bounded; a request that needs more (a long ID list, every target of a
 * command) calls it again from the reply handler. Scripts answer flat
 * arrays; the JSON is built by the handlers, with these helpers.
 */

#define NGX_HTTP_MDM_API_CHUNK         256     /* IDs per script call */
#define NGX_HTTP_MDM_API_CURSOR_MAX    40


/* a request answered from several script calls: queue clear, cancel */
typedef struct {
    ngx_array_t                  *ids;       /* char *; NULL: every target */
    ngx_uint_t                    next;      /* first ID not yet answered */
    ngx_int_t                     pending;   /* cancelled so far for next */
    ngx_uint_t                    ok;
    ngx_uint_t                    failed;
    json_t                       *status;    /* APIResult "status" */
    char                         *uuid;      /* cancel only */
    u_char                        cursor[NGX_HTTP_MDM_API_CURSOR_MAX + 1];
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

#endif /* _NGX_HTTP_MDM_API_H_INCLUDED_ */
