/*
 * The admin API (NanoMDM-compatible paths first): the route table and its
 * dispatch, authorization, and what every handler shares: the path and the
 * query decoded strictly, query values and IDs, script replies as JSON,
 * batches answered from several script calls, and responses. Routes are
 * matched on the URI below the location's prefix, so "location /api/ {
 * mdm_api; }" serves /api/v1/enqueue/... as well as "location / { mdm_api;
 * }" serves /v1/...
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_command.h"
#include "mdm_enrollment.h"
#include "mdm_keys.h"
#include "mdm_utf8.h"
#include "mdm_version.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"
#include "ngx_http_mdm_metrics.h"


/* One API call may name this many enrollments. */
#define NGX_HTTP_MDM_API_MAX_IDS  200000

#define NGX_HTTP_MDM_API_LIMIT         100     /* default page size */
#define NGX_HTTP_MDM_API_LIMIT_MAX     1000
#define NGX_HTTP_MDM_API_SCAN_DIGITS   19      /* fits Redis' cursor */
/* positions a script's arithmetic and tostring() ("%.14g") keep exact */
#define NGX_HTTP_MDM_API_POSITION_MAX  1000000000000
/* 9999-12-31T23:59:59Z */
#define NGX_HTTP_MDM_API_TIME_MAX      253402300799

#define NGX_HTTP_MDM_MULTI_STATUS          207


static ngx_http_mdm_api_route_t *ngx_http_mdm_api_find(ngx_str_t *path,
    ngx_str_t *rest);
static ngx_int_t ngx_http_mdm_api_dispatch(ngx_http_request_t *r,
    ngx_http_mdm_api_route_t *route, ngx_str_t *rest);
static ngx_int_t ngx_http_mdm_api_version(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_int_t ngx_http_mdm_api_authorized(ngx_http_request_t *r,
    ngx_http_mdm_loc_conf_t *mlcf, ngx_uint_t kmfddm);
static ngx_int_t ngx_http_mdm_api_user_ok(ngx_http_request_t *r,
    ngx_http_mdm_loc_conf_t *mlcf, ngx_uint_t kmfddm);
static const char *ngx_http_mdm_api_arg_msg(ngx_http_request_t *r,
    const char *what, const char *in, ngx_str_t *name);
static void ngx_http_mdm_api_batch_cleanup(void *data);
static json_t *ngx_http_mdm_api_json_cursor(redisReply *e);


#define NGX_HTTP_MDM_API_GET_HEAD  (NGX_HTTP_GET|NGX_HTTP_HEAD)

/*
 * Every route of the API, by path and then by method. The first route whose
 * path matches answers: a method it has no handler for is 405, a path no
 * route matches is 404 (once the caller is authorized, so as not to tell).
 */
static ngx_http_mdm_api_route_t  ngx_http_mdm_api_routes[] = {

    { ngx_string("/version"), ngx_null_string,
      NGX_HTTP_MDM_API_EXACT|NGX_HTTP_MDM_API_PUBLIC,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_version } } },

    { ngx_string("/v1/enqueue/"), ngx_null_string, NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_PUT, 1, ngx_http_mdm_api_enqueue_plist } } },

    { ngx_string("/v1/enqueue/"), ngx_null_string, NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_POST, 1, ngx_http_mdm_api_enqueue_json } } },

    { ngx_string("/v1/enqueue"), ngx_null_string, NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_POST, 1, ngx_http_mdm_api_enqueue_json } } },

    { ngx_string("/v1/commands/"), ngx_null_string, NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_POST, 1, ngx_http_mdm_api_enqueue_build },
        { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_command_status },
        { NGX_HTTP_DELETE, 0, ngx_http_mdm_api_command_cancel } } },

    { ngx_string("/v1/commands/"), ngx_null_string, NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_POST, 1, ngx_http_mdm_api_enqueue_build } } },

    { ngx_string("/v1/commands"), ngx_null_string, NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_POST, 1, ngx_http_mdm_api_enqueue_build } } },

    { ngx_string("/v1/push/"), ngx_null_string, 0,
      { { NGX_HTTP_GET|NGX_HTTP_POST, 0, ngx_http_mdm_api_push } } },

    { ngx_string("/v1/pushcert"), ngx_null_string, NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_PUT, 1, ngx_http_mdm_api_pushcert_put },
        { NGX_HTTP_GET, 0, ngx_http_mdm_api_pushcert_get } } },

    { ngx_string("/v1/enrollments/"), ngx_string("/inventory"),
      NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_inventory } } },

    { ngx_string("/v1/enrollments/"), ngx_string("/bypass-code"),
      NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_bypass_code } } },

    { ngx_string("/v1/enrollments/"), ngx_string("/applications"),
      NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_applications } } },

    { ngx_string("/v1/enrollments/"), ngx_string("/profiles"),
      NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0,
          ngx_http_mdm_api_enrollment_profiles } } },

    { ngx_string("/v1/enrollments/"), ngx_null_string, NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_enrollments_one } } },

    { ngx_string("/v1/enrollments/"), ngx_null_string,
      NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0,
          ngx_http_mdm_api_enrollments_list } } },

    { ngx_string("/v1/enrollments"), ngx_null_string, NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0,
          ngx_http_mdm_api_enrollments_list } } },

    { ngx_string("/v1/queue/"), ngx_null_string, 0,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_queue_list },
        { NGX_HTTP_DELETE, 0, ngx_http_mdm_api_queue_clear } } },

    { ngx_string("/v1/webhooks/"), ngx_string("/dead"), NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_webhooks_dead } } },

    { ngx_string("/v1/webhooks/"), ngx_string("/replay"),
      NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_POST, 0, ngx_http_mdm_api_webhooks_replay } } },

    { ngx_string("/v1/webhooks/"), ngx_null_string, 0,
      { { NGX_HTTP_MDM_API_ANY, 0, ngx_http_mdm_api_webhooks_unknown } } },

    { ngx_string("/v1/enroll/tokens"), ngx_null_string,
      NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_POST, 1, ngx_http_mdm_api_enroll_create },
        { NGX_HTTP_GET, 0, ngx_http_mdm_api_enroll_list } } },

    { ngx_string("/v1/enroll/tokens/"), ngx_null_string, 0,
      { { NGX_HTTP_GET, 0, ngx_http_mdm_api_enroll_get },
        { NGX_HTTP_DELETE, 0, ngx_http_mdm_api_enroll_delete } } },

    { ngx_string("/v1/enroll/devices/"), ngx_null_string,
      NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_PUT|NGX_HTTP_GET|NGX_HTTP_DELETE, 0,
          ngx_http_mdm_api_enroll_devices } } },

    /* Apps and Books (ngx_http_mdm_api_vpp.c) */
    { ngx_string("/v1/vpp/tokens/"), ngx_null_string, 0,
      { { NGX_HTTP_PUT, 1, ngx_http_mdm_api_vpp_token_put },
        { NGX_HTTP_GET, 0, ngx_http_mdm_api_vpp_token_get } } },

    { ngx_string("/v1/vpp/assets/"), ngx_null_string, 0,
      { { NGX_HTTP_GET, 0, ngx_http_mdm_api_vpp_assets } } },

    { ngx_string("/v1/vpp/assign/"), ngx_null_string, 0,
      { { NGX_HTTP_POST, 1, ngx_http_mdm_api_vpp_assign } } },

    { ngx_string("/v1/vpp/unassign/"), ngx_null_string, 0,
      { { NGX_HTTP_POST, 1, ngx_http_mdm_api_vpp_unassign } } },

    { ngx_string("/v1/vpp/installs/"), ngx_null_string, NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_GET, 0, ngx_http_mdm_api_vpp_installs } } },

    { ngx_string("/metrics"), ngx_null_string, NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_metrics_api } } },

    { ngx_string("/migration"), ngx_null_string, NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_PUT|NGX_HTTP_POST, 1, ngx_http_mdm_api_migration } } },

    { ngx_string("/v1/certificates"), ngx_null_string,
      NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_GET, 0, ngx_http_mdm_api_certs_list } } },

    { ngx_string("/v1/certificates/"), ngx_string("/revoke"),
      NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_POST|NGX_HTTP_DELETE, 0,
          ngx_http_mdm_api_certs_revoke } } },

    { ngx_string("/v1/certificates/"), ngx_null_string, 0,
      { { NGX_HTTP_GET, 0, ngx_http_mdm_api_certs_one } } },

    /* the profile library and its desired state
     * (ngx_http_mdm_api_profiles.c) */
    { ngx_string("/v1/profiles"), ngx_null_string, NGX_HTTP_MDM_API_EXACT,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_profiles_list },
        { NGX_HTTP_POST, 1, ngx_http_mdm_api_profiles_upload } } },

    { ngx_string("/v1/profiles/"), ngx_string("/raw"), NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_profiles_raw } } },

    { ngx_string("/v1/profiles/"), ngx_string("/assign"),
      NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_POST, 1, ngx_http_mdm_api_profiles_assign } } },

    { ngx_string("/v1/profiles/"), ngx_string("/unassign"),
      NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_POST, 1, ngx_http_mdm_api_profiles_unassign } } },

    { ngx_string("/v1/profiles/"), ngx_null_string, NGX_HTTP_MDM_API_REST,
      { { NGX_HTTP_MDM_API_GET_HEAD|NGX_HTTP_DELETE, 0,
          ngx_http_mdm_api_profiles_one } } },

    /* declarative management, KMFDDM's routes (ngx_http_mdm_api_ddm.c) */
    { ngx_string("/v1/declarations"), ngx_null_string,
      NGX_HTTP_MDM_API_EXACT|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_ddm_decls },
        { NGX_HTTP_PUT, 1, ngx_http_mdm_api_ddm_decl_put } } },

    { ngx_string("/v1/declarations/"), ngx_string("/touch"),
      NGX_HTTP_MDM_API_REST|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_POST, 0, ngx_http_mdm_api_ddm_decl_touch } } },

    { ngx_string("/v1/declarations/"), ngx_null_string,
      NGX_HTTP_MDM_API_REST|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_GET|NGX_HTTP_DELETE, 0, ngx_http_mdm_api_ddm_decl } } },

    { ngx_string("/v1/declaration-sets/"), ngx_null_string,
      NGX_HTTP_MDM_API_REST|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_GET, 0, ngx_http_mdm_api_ddm_decl_sets } } },

    { ngx_string("/v1/sets"), ngx_null_string,
      NGX_HTTP_MDM_API_EXACT|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_ddm_sets } } },

    { ngx_string("/v1/set-declarations/"), ngx_null_string,
      NGX_HTTP_MDM_API_REST|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_GET|NGX_HTTP_PUT|NGX_HTTP_DELETE, 0,
          ngx_http_mdm_api_ddm_set_decls } } },

    { ngx_string("/v1/enrollment-sets/"), ngx_null_string,
      NGX_HTTP_MDM_API_REST|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_GET|NGX_HTTP_PUT|NGX_HTTP_DELETE, 0,
          ngx_http_mdm_api_ddm_enr_sets } } },

    { ngx_string("/v1/enrollment-sets-all/"), ngx_null_string,
      NGX_HTTP_MDM_API_REST|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_DELETE, 0, ngx_http_mdm_api_ddm_enr_sets_all } } },

    { ngx_string("/v1/ddm/assets/"), ngx_null_string,
      NGX_HTTP_MDM_API_REST|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_PUT, 1, ngx_http_mdm_api_ddm_asset },
        { NGX_HTTP_GET|NGX_HTTP_DELETE, 0, ngx_http_mdm_api_ddm_asset } } },

    { ngx_string("/v1/notify"), ngx_null_string,
      NGX_HTTP_MDM_API_EXACT|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_POST, 0, ngx_http_mdm_api_ddm_notify } } },

    /* what devices reported (ngx_http_mdm_api_ddm_status.c) */
    { ngx_string("/v1/declaration-status/"), ngx_null_string,
      NGX_HTTP_MDM_API_REST|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0, ngx_http_mdm_api_ddm_decl_status } } },

    { ngx_string("/v1/status-errors/"), ngx_null_string,
      NGX_HTTP_MDM_API_REST|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0,
          ngx_http_mdm_api_ddm_status_errors } } },

    { ngx_string("/v1/status-values/"), ngx_null_string,
      NGX_HTTP_MDM_API_REST|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0,
          ngx_http_mdm_api_ddm_status_values } } },

    { ngx_string("/v1/status-report/"), ngx_null_string,
      NGX_HTTP_MDM_API_REST|NGX_HTTP_MDM_API_KMFDDM,
      { { NGX_HTTP_MDM_API_GET_HEAD, 0,
          ngx_http_mdm_api_ddm_status_report } } },

    { ngx_null_string, ngx_null_string, 0, { { 0, 0, NULL } } }
};


/* ---------------------------------------------------------------------------
 * Routing: the route table above, by path, then by method
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    u_char                   *msg;
    ngx_str_t                 path, rest, decoded;
    ngx_uint_t                raw;
    const char               *err;
    ngx_http_mdm_api_route_t *route;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    raw = ngx_http_mdm_location_path(r, &path);
    route = ngx_http_mdm_api_find(&path, &rest);

    /* an unknown route is refused as a NanoMDM one, so as not to tell */
    if (!(route->flags & NGX_HTTP_MDM_API_PUBLIC)
        && !ngx_http_mdm_api_authorized(r, mlcf,
                                        route->flags & NGX_HTTP_MDM_API_KMFDDM))
    {
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (route->prefix.len == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    if (!raw) {
        return ngx_http_mdm_api_dispatch(r, route, &rest);
    }

    rc = ngx_http_mdm_api_unescape(r, &rest, &decoded, &err);
    if (rc == NGX_DECLINED) {
        msg = ngx_pnalloc(r->pool, ngx_strlen(err) + sizeof(" in path"));
        if (msg == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_sprintf(msg, "%s in path", err) = '\0';

        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       (char *) msg);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_dispatch(r, route, &decoded);
}


/*
 * The first route whose path matches, and in *rest what lies between its
 * prefix and its suffix; the table's last (empty) route when none does.
 */
static ngx_http_mdm_api_route_t *
ngx_http_mdm_api_find(ngx_str_t *path, ngx_str_t *rest)
{
    size_t                     fixed;
    ngx_http_mdm_api_route_t  *route;

    for (route = ngx_http_mdm_api_routes; route->prefix.len; route++) {
        fixed = route->prefix.len + route->suffix.len;

        if (path->len < fixed
            || ngx_strncmp(path->data, route->prefix.data, route->prefix.len)
               != 0
            || (route->suffix.len
                && ngx_strncmp(path->data + path->len - route->suffix.len,
                               route->suffix.data, route->suffix.len)
                   != 0))
        {
            continue;
        }

        if (((route->flags & NGX_HTTP_MDM_API_EXACT) && path->len != fixed)
            || ((route->flags & NGX_HTTP_MDM_API_REST) && path->len == fixed))
        {
            continue;
        }

        rest->data = path->data + route->prefix.len;
        rest->len = path->len - fixed;

        return route;
    }

    rest->data = path->data;
    rest->len = 0;

    return route;
}


/* The route's handler for the method; the body is its, or discarded. */
static ngx_int_t
ngx_http_mdm_api_dispatch(ngx_http_request_t *r,
    ngx_http_mdm_api_route_t *route, ngx_str_t *rest)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    ngx_http_mdm_api_method_t  *m;

    for (i = 0; i < NGX_HTTP_MDM_API_METHODS; i++) {
        m = &route->method[i];

        if (m->handler != NULL && (m->methods & r->method)) {
            break;
        }
    }

    if (i == NGX_HTTP_MDM_API_METHODS) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (!m->body) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return m->handler(r, rest);
}


static ngx_int_t
ngx_http_mdm_api_version(ngx_http_request_t *r, ngx_str_t *path)
{
    static const u_char  body[] = "{\"version\":\"" MDM_VERSION "\"}\n";

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/json", body,
                             sizeof(body) - 1);
}


/* ---------------------------------------------------------------------------
 * Authorization: HTTP Basic with the API key
 * -------------------------------------------------------------------------- */

/*
 * HTTP Basic, password = API key, user name one of mdm_api_key's (by
 * default the route's realm: "nanomdm" or "kmfddm"), as NanoMDM and KMFDDM
 * check. The key comparison takes the same time wherever the first
 * difference is. An empty user name is refused like a wrong one.
 */
static ngx_int_t
ngx_http_mdm_api_authorized(ngx_http_request_t *r,
    ngx_http_mdm_loc_conf_t *mlcf, ngx_uint_t kmfddm)
{
    u_char     diff;
    size_t     i;
    ngx_int_t  rc;
    ngx_str_t  user;

    rc = ngx_http_auth_basic_user(r);

    if (rc == NGX_OK
        && r->headers_in.passwd.len == mlcf->api_key.len)
    {
        diff = 0;
        for (i = 0; i < mlcf->api_key.len; i++) {
            diff |= r->headers_in.passwd.data[i] ^ mlcf->api_key.data[i];
        }

        if (diff == 0 && ngx_http_mdm_api_user_ok(r, mlcf, kmfddm)) {
            return 1;
        }

        if (diff == 0) {
            /* the name is the client's: escaped, it cannot forge lines */
            user.len = r->headers_in.user.len > 64
                       ? 64 : r->headers_in.user.len;
            user.data = ngx_pnalloc(r->pool, user.len * 3);
            if (user.data != NULL) {
                user.len = (u_char *) ngx_escape_uri(user.data,
                               r->headers_in.user.data, user.len,
                               NGX_ESCAPE_ARGS)
                           - user.data;
            } else {
                user.len = 0;
            }

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mdm api: wrong API user name \"%V\"", &user);
            goto refuse;
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm api: %s API key", rc == NGX_OK ? "wrong" : "missing");

refuse:

    r->headers_out.www_authenticate = ngx_list_push(&r->headers_out.headers);
    if (r->headers_out.www_authenticate != NULL) {
        r->headers_out.www_authenticate->hash = 1;
        ngx_str_set(&r->headers_out.www_authenticate->key,
                    "WWW-Authenticate");
        ngx_str_set(&r->headers_out.www_authenticate->value,
                    "Basic realm=\"ngx_mdm\"");
    }

    return 0;
}


static ngx_int_t
ngx_http_mdm_api_user_ok(ngx_http_request_t *r, ngx_http_mdm_loc_conf_t *mlcf,
    ngx_uint_t kmfddm)
{
    static ngx_str_t  realms[] = {
        ngx_string("nanomdm"),
        ngx_string("kmfddm")
    };

    ngx_str_t   *user, *names;
    ngx_uint_t   i, n;

    user = &r->headers_in.user;

    if (mlcf->api_users != NULL) {
        names = mlcf->api_users->elts;
        n = mlcf->api_users->nelts;

    } else {
        names = &realms[kmfddm ? 1 : 0];
        n = 1;
    }

    for (i = 0; i < n; i++) {
        if (user->len == names[i].len
            && ngx_strncmp(user->data, names[i].data, user->len) == 0)
        {
            return user->len > 0;
        }
    }

    return 0;
}


/* ---------------------------------------------------------------------------
 * The path and the query
 *
 * What an API request names, read the same way on every route: the path
 * below the route's prefix and the query parameters. Both are taken from the
 * request as sent and percent-decoded here, strictly: nginx's own decoding
 * merges "//", resolves "." and "..", and lets "%zz" through, so enrollment
 * IDs containing '/' could not be addressed exactly and two spellings could
 * name the same one (docs/api.md, "IDs in paths").
 * -------------------------------------------------------------------------- */

/*
 * Percent-decodes in into a NUL-terminated copy: '%' must be followed by
 * two hex digits, and the result must be UTF-8 without NUL. '+' is kept
 * (a path has no form encoding; IDs do not contain spaces). NGX_DECLINED
 * with *err for a 400.
 */
ngx_int_t
ngx_http_mdm_api_unescape(ngx_http_request_t *r, ngx_str_t *in,
    ngx_str_t *out, const char **err)
{
    u_char      *p, *last, *dst, c;
    ngx_uint_t   hi, lo;

    out->data = ngx_pnalloc(r->pool, in->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    dst = out->data;
    last = in->data + in->len;

    for (p = in->data; p < last; p++) {
        c = *p;

        if (c == '%') {
            if (last - p < 3
                || (hi = ngx_hextoi(p + 1, 1)) == (ngx_uint_t) NGX_ERROR
                || (lo = ngx_hextoi(p + 2, 1)) == (ngx_uint_t) NGX_ERROR)
            {
                *err = "invalid percent-escape";
                return NGX_DECLINED;
            }

            c = (u_char) (hi << 4 | lo);
            p += 2;
        }

        if (c == '\0') {
            *err = "NUL byte";
            return NGX_DECLINED;
        }

        *dst++ = c;
    }

    *dst = '\0';
    out->len = dst - out->data;

    if (!mdm_utf8_valid((char *) out->data)) {
        *err = "invalid UTF-8";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Parses r->args against q (ended by a null name): every parameter must be
 * one of q's, at most once (?ttl=1&ttl=99999 is refused, not "first wins").
 * Values are decoded by ngx_http_mdm_api_unescape and NUL-terminated.
 */
ngx_int_t
ngx_http_mdm_api_args(ngx_http_request_t *r, ngx_http_mdm_api_arg_t *q,
    const char **err)
{
    u_char                  *p, *last, *amp, *eq;
    ngx_int_t                rc;
    ngx_str_t                name, value;
    const char              *why;
    ngx_http_mdm_api_arg_t  *a;

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
            *err = ngx_http_mdm_api_arg_msg(r, a->set
                                            ? "repeated query parameter"
                                            : "unknown query parameter",
                                            "", &name);
            return *err ? NGX_DECLINED : NGX_ERROR;
        }

        value.data = (eq < amp) ? eq + 1 : eq;
        value.len = amp - value.data;

        rc = ngx_http_mdm_api_unescape(r, &value, &a->value, &why);
        if (rc != NGX_OK) {
            if (rc == NGX_DECLINED) {
                *err = ngx_http_mdm_api_arg_msg(r, why,
                                                " in query parameter", &name);
                if (*err == NULL) {
                    return NGX_ERROR;
                }
            }
            return rc;
        }

        a->set = 1;
    }

    return NGX_OK;
}


/* A route that takes no query parameter: NGX_DECLINED with *err for a 400. */
ngx_int_t
ngx_http_mdm_api_no_args(ngx_http_request_t *r, const char **err)
{
    ngx_http_mdm_api_arg_t  none[] = {
        { ngx_null_string, ngx_null_string, 0 }
    };

    return ngx_http_mdm_api_args(r, none, err);
}


/* "<what><in> "<name>"", naming the parameter only when it is plain text */
static const char *
ngx_http_mdm_api_arg_msg(ngx_http_request_t *r, const char *what,
    const char *in, ngx_str_t *name)
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

    p = ngx_pnalloc(r->pool, ngx_strlen(what) + ngx_strlen(in) + name->len
                             + 4);
    if (p == NULL) {
        return NULL;
    }

    if (i < name->len) {
        last = ngx_sprintf(p, "%s%s", what, in);

    } else {
        last = ngx_sprintf(p, "%s%s \"%V\"", what, in, name);
    }

    *last = '\0';

    return (char *) p;
}


/* ---------------------------------------------------------------------------
 * Query values and IDs: NGX_DECLINED with *err for a 400
 * -------------------------------------------------------------------------- */

ngx_int_t
ngx_http_mdm_api_limit(ngx_http_mdm_api_arg_t *arg,
    ngx_int_t *limit, const char **err)
{
    if (!arg->set) {
        *limit = NGX_HTTP_MDM_API_LIMIT;
        return NGX_OK;
    }

    *limit = ngx_atoi(arg->value.data, arg->value.len);

    if (*limit < 1 || *limit > NGX_HTTP_MDM_API_LIMIT_MAX) {
        *err = "limit must be an integer from 1 to 1000";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A cursor from an earlier page: a position (digits), or with scan an SSCAN
 * cursor, maybe followed by ":<entries to skip>". Absent means the start.
 */
ngx_int_t
ngx_http_mdm_api_cursor(ngx_http_mdm_api_arg_t *arg,
    ngx_uint_t scan, const char **err)
{
    u_char     *p, *colon, *last;
    ngx_int_t   pos, skip;

    if (!arg->set) {
        ngx_str_set(&arg->value, "0");
        return NGX_OK;
    }

    p = arg->value.data;
    last = p + arg->value.len;

    colon = scan ? ngx_strlchr(p, last, ':') : NULL;

    pos = ngx_atoi(p, (colon ? colon : last) - p);
    skip = colon ? ngx_atoi(colon + 1, last - colon - 1) : 0;

    /* an SSCAN cursor stays a string; positions are Lua numbers */
    if (pos == NGX_ERROR
        || (colon ? colon : last) - p > NGX_HTTP_MDM_API_SCAN_DIGITS
        || (!scan && pos > NGX_HTTP_MDM_API_POSITION_MAX)
        || skip == NGX_ERROR || skip > NGX_HTTP_MDM_API_POSITION_MAX)
    {
        *err = "cursor must be a next_cursor of an earlier page";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* A single ID of the path or the query, as Redis keys may take it. */
ngx_int_t
ngx_http_mdm_api_id(ngx_http_request_t *r, ngx_str_t *s,
    const char *what, char **id, const char **err)
{
    u_char     *p;
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
        return NGX_OK;
    }

    msg.data = (u_char *) merr.msg;
    msg.len = ngx_strlen(merr.msg);
    *err = ngx_http_mdm_cstr(r->pool, &msg);

    return *err ? NGX_DECLINED : NGX_ERROR;
}


/* The enrollment ID of the path, kept in ctx for the reply and the log. */
ngx_int_t
ngx_http_mdm_api_path_id(ngx_http_request_t *r, ngx_str_t *path,
    char **id, const char **err)
{
    ngx_int_t            rc;
    ngx_http_mdm_ctx_t  *ctx;

    rc = ngx_http_mdm_api_id(r, path, "enrollment ID", id, err);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->enrollment_id = *path;

    return NGX_OK;
}


ngx_int_t
ngx_http_mdm_api_key(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    size_t (*key)(char *buf, const char *s), const char *s)
{
    char  buf[MDM_KEY_MAX];

    return ngx_http_mdm_args_add_copy(r, args, buf, key(buf, s));
}


/* rc from a parser: NGX_DECLINED answers 400 with err, else 500 */
ngx_int_t
ngx_http_mdm_api_bad(ngx_http_request_t *r, ngx_int_t rc,
    const char *err)
{
    if (rc != NGX_DECLINED) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err);
}


ngx_int_t
ngx_http_mdm_api_unexpected(ngx_http_request_t *r, const char *script)
{
    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "mdm api: unexpected reply from %s.lua", script);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* ---------------------------------------------------------------------------
 * Script replies and their JSON
 * -------------------------------------------------------------------------- */

/* A string element of a script's reply; NULL for nil (Lua false). */
redisReply *
ngx_http_mdm_api_reply_str(redisReply *e)
{
    return (e != NULL && e->type == REDIS_REPLY_STRING) ? e : NULL;
}


ngx_uint_t
ngx_http_mdm_api_reply_is(redisReply *e, const char *s)
{
    return ngx_http_mdm_api_reply_str(e) != NULL
           && e->len == ngx_strlen(s)
           && ngx_strncmp(e->str, s, e->len) == 0;
}


/* {'err', reason}: a script's refusal, the reason a string */
ngx_uint_t
ngx_http_mdm_api_reply_is_err(redisReply *reply)
{
    return reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
           && ngx_http_mdm_api_reply_is(reply->element[0], "err")
           && ngx_http_mdm_api_reply_str(reply->element[1]) != NULL;
}


/* A stored string; null when absent or not UTF-8. */
json_t *
ngx_http_mdm_api_json_str(redisReply *e)
{
    json_t  *s;

    if (ngx_http_mdm_api_reply_str(e) == NULL) {
        return json_null();
    }

    s = json_stringn(e->str, e->len);

    return s ? s : json_null();
}


/* Stored unix seconds as RFC 3339 (UTC); null when absent or 0. */
json_t *
ngx_http_mdm_api_json_time(redisReply *e)
{
    u_char     buf[sizeof("1970-01-01T00:00:00Z")];
    ngx_tm_t   tm;
    ngx_int_t  sec;

    if (ngx_http_mdm_api_reply_str(e) == NULL) {
        return json_null();
    }

    sec = ngx_atoi((u_char *) e->str, e->len);
    if (sec <= 0) {
        return json_null();
    }

    /* four digits of year is what the buffer and RFC 3339 hold */
    if (sec > NGX_HTTP_MDM_API_TIME_MAX) {
        sec = NGX_HTTP_MDM_API_TIME_MAX;
    }

    ngx_gmtime((time_t) sec, &tm);

    return json_stringn((char *) buf,
                        ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                                    tm.ngx_tm_year, tm.ngx_tm_mon,
                                    tm.ngx_tm_mday, tm.ngx_tm_hour,
                                    tm.ngx_tm_min, tm.ngx_tm_sec)
                        - buf);
}


json_t *
ngx_http_mdm_api_json_int(redisReply *e)
{
    ngx_int_t  n;

    if (ngx_http_mdm_api_reply_str(e) == NULL) {
        return json_null();
    }

    n = ngx_atoi((u_char *) e->str, e->len);

    return n == NGX_ERROR ? json_null() : json_integer(n);
}


/* The next page's cursor; null ('' from the script) at the end. */
static json_t *
ngx_http_mdm_api_json_cursor(redisReply *e)
{
    return (ngx_http_mdm_api_reply_str(e) == NULL || e->len == 0)
           ? json_null() : json_stringn(e->str, e->len);
}


/* Sends a page with its "next_cursor"; json is released either way. */
ngx_int_t
ngx_http_mdm_api_send_page(ngx_http_request_t *r, json_t *json,
    redisReply *cursor)
{
    if (ngx_http_mdm_api_json_set(json, "next_cursor",
                                  ngx_http_mdm_api_json_cursor(cursor))
        != NGX_OK)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, json);
}


json_t *
ngx_http_mdm_api_json_base64(ngx_http_request_t *r, redisReply *e)
{
    ngx_str_t  src, dst;

    if (ngx_http_mdm_api_reply_str(e) == NULL) {
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
ngx_int_t
ngx_http_mdm_api_json_set(json_t *obj, const char *key, json_t *value)
{
    if (value == NULL || json_object_set_new(obj, key, value) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* ---------------------------------------------------------------------------
 * Batches: one request answered from several script calls
 * -------------------------------------------------------------------------- */

ngx_http_mdm_api_batch_t *
ngx_http_mdm_api_batch(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_api_batch_t  *b;

    ctx = ngx_http_mdm_get_ctx(r);
    b = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_api_batch_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || b == NULL || cln == NULL) {
        return NULL;
    }

    b->status = json_object();
    if (b->status == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mdm_api_batch_cleanup;
    cln->data = b;
    ctx->data = b;

    return b;
}


static void
ngx_http_mdm_api_batch_cleanup(void *data)
{
    ngx_http_mdm_api_batch_t  *b = data;

    json_decref(b->status);
}


/*
 * One ID's outcome in NanoMDM's APIResult "status" map: {} or
 * {"canceled": n} when done, {"command_error": "..."} when refused. An ID
 * named twice keeps its first outcome.
 */
ngx_int_t
ngx_http_mdm_api_batch_note(ngx_http_mdm_api_batch_t *b, const char *id,
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

    return ngx_http_mdm_api_json_set(b->status, id, entry);
}


/* 200 when every ID succeeded, 207 when some did, 500 when none did */
ngx_int_t
ngx_http_mdm_api_batch_result(ngx_http_request_t *r,
    ngx_http_mdm_api_batch_t *b)
{
    json_t      *out;
    ngx_uint_t   status;

    out = json_pack("{s:O}", "status", b->status);

    if (out != NULL && b->uuid != NULL
        && ngx_http_mdm_api_json_set(out, "command_uuid",
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


/* ---------------------------------------------------------------------------
 * Responses
 * -------------------------------------------------------------------------- */

/* Sends a jansson value as the response body and releases it. */
ngx_int_t
ngx_http_mdm_api_send_json(ngx_http_request_t *r, ngx_uint_t status,
    void *json)
{
    char       *text;
    ngx_int_t   rc;

    text = json_dumps(json, JSON_COMPACT);
    json_decref(json);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_send(r, status, "application/json", (u_char *) text,
                           ngx_strlen(text));
    free(text);

    return rc;
}


/*
 * "id1,id2,..." into an array of C strings. Each ID must be one that could
 * have come from a device (mdm_id_check), so it cannot break Redis keys.
 */
ngx_int_t
ngx_http_mdm_api_split_ids(ngx_http_request_t *r, ngx_str_t *list,
    ngx_array_t **ids, const char **err)
{
    u_char       *p, *last, *comma;
    char        **id;
    ngx_str_t     one;
    mdm_err_t     merr;
    ngx_array_t  *a;

    a = ngx_array_create(r->pool, 8, sizeof(char *));
    if (a == NULL) {
        return NGX_ERROR;
    }

    p = list->data;
    last = list->data + list->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        one.data = p;
        one.len = comma - p;
        p = comma + 1;

        if (a->nelts == NGX_HTTP_MDM_API_MAX_IDS) {
            *err = "too many enrollment IDs";
            return NGX_DECLINED;
        }

        id = ngx_array_push(a);
        if (id == NULL) {
            return NGX_ERROR;
        }

        *id = ngx_http_mdm_cstr(r->pool, &one);
        if (*id == NULL) {
            return NGX_ERROR;
        }

        if (mdm_id_check("enrollment ID", *id, &merr) != MDM_OK) {
            one.data = (u_char *) merr.msg;
            one.len = ngx_strlen(merr.msg);
            *err = ngx_http_mdm_cstr(r->pool, &one);
            return *err ? NGX_DECLINED : NGX_ERROR;
        }
    }

    if (a->nelts == 0) {
        *err = "no enrollment IDs";
        return NGX_DECLINED;
    }

    *ids = a;

    return NGX_OK;
}


/*
 * A refused API call: one INFO line naming the call as sent (undecoded, so
 * no control character reaches the log) and a JSON error body.
 */
ngx_int_t
ngx_http_mdm_api_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *why)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm api: %V %V refused: %s", &r->method_name,
                  &r->unparsed_uri, why);

    return ngx_http_mdm_send_json_error(r, status, why);
}
