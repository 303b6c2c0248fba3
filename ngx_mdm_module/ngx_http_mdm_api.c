/*
 * The admin API (NanoMDM-compatible paths first). Routes are matched on the
 * URI below the location's prefix, so "location /api/ { mdm_api; }" serves
 * /api/v1/enqueue/... as well as "location / { mdm_api; }" serves /v1/...
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_enrollment.h"
#include "mdm_version.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"
#include "ngx_http_mdm_metrics.h"


/* One API call may name this many enrollments. */
#define NGX_HTTP_MDM_API_MAX_IDS  200000


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

    { ngx_null_string, ngx_null_string, 0, { { 0, 0, NULL } } }
};


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
