/*
 * mdm_vpp_notify: where Apple's Apps and Books service POSTs its
 * notifications (services.md §7.3), one URL per location: the last path
 * segment names it (<location> in .../<location>), as mdm-worker registers
 * it with POST /client/config. The Bearer must be the location's
 * notificationAuthToken; a body that is not a notification is refused
 * with 400 and nothing is written; a notificationId seen before is
 * answered 200 again and not stored twice (vpp_notify.lua).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "vpp/mdm_vpp_reply.h"
#include "ngx_http_mdm_module.h"

#define NGX_HTTP_MDM_VPP_NOTIFY_LOC_MAX  64


static void ngx_http_mdm_vpp_notify_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_vpp_notify_stored(ngx_http_request_t *r,
    redisReply *reply);


static ngx_int_t
ngx_http_mdm_vpp_notify_refuse(ngx_http_request_t *r, ngx_uint_t status,
    const char *why)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm vpp notify: %V refused: %s", &r->unparsed_uri, why);
    return ngx_http_mdm_send_json_error(r, status, why);
}


/* The location: the URI's last segment, of A-Z a-z 0-9 . _ - */
static ngx_int_t
ngx_http_mdm_vpp_notify_location(ngx_http_request_t *r, char *out)
{
    u_char  *p, *end = r->uri.data + r->uri.len;
    size_t   n;

    for (p = end; p > r->uri.data && p[-1] != '/'; p--) { }
    n = end - p;
    if (n == 0 || n > NGX_HTTP_MDM_VPP_NOTIFY_LOC_MAX) {
        return NGX_DECLINED;
    }
    for (size_t i = 0; i < n; i++) {
        u_char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            return NGX_DECLINED;
        }
    }
    ngx_memcpy(out, p, n);
    out[n] = '\0';
    return NGX_OK;
}


ngx_int_t
ngx_http_mdm_vpp_notify_handler(ngx_http_request_t *r)
{
    char                *loc;
    ngx_http_mdm_ctx_t  *ctx;

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }
    ctx = ngx_http_mdm_get_ctx(r);
    loc = ngx_pcalloc(r->pool, NGX_HTTP_MDM_VPP_NOTIFY_LOC_MAX + 1);
    if (ctx == NULL || loc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (ngx_http_mdm_vpp_notify_location(r, loc) != NGX_OK) {
        ngx_int_t rc = ngx_http_discard_request_body(r);
        return rc != NGX_OK ? rc
               : ngx_http_mdm_vpp_notify_refuse(r, NGX_HTTP_NOT_FOUND,
                                                "no location in the URL");
    }
    ctx->data = loc;
    return ngx_http_mdm_read_body(r, ngx_http_mdm_vpp_notify_body);
}


static ngx_int_t
ngx_http_mdm_vpp_notify_store(ngx_http_request_t *r)
{
    char                    key[MDM_KEY_MAX], *loc;
    size_t                  n;
    ngx_str_t               body, bearer;
    mdm_err_t               err;
    ngx_table_elt_t        *auth = r->headers_in.authorization;
    ngx_http_mdm_ctx_t     *ctx = ngx_http_mdm_get_ctx(r);
    ngx_http_mdm_args_t     args;
    mdm_vpp_notification_t  nt;
    ngx_int_t               rc;

    loc = ctx->data;
    if (auth == NULL || auth->value.len <= 7
        || ngx_strncasecmp(auth->value.data, (u_char *) "Bearer ", 7) != 0)
    {
        return ngx_http_mdm_vpp_notify_refuse(r, NGX_HTTP_UNAUTHORIZED,
                                              "no Bearer token");
    }
    bearer.data = auth->value.data + 7;
    bearer.len = auth->value.len - 7;

    switch (ngx_http_mdm_body(r, &body)) {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        return ngx_http_mdm_vpp_notify_refuse(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                              "body larger than client_body_buffer_size");
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (mdm_vpp_notification_parse((char *) body.data, body.len, &nt, &err)
        != MDM_OK)
    {
        return ngx_http_mdm_vpp_notify_refuse(r, NGX_HTTP_BAD_REQUEST, err.msg);
    }

    n = mdm_key(key, MDM_K_VPP_TOKEN, loc, NULL);
    rc = NGX_OK;
    if (ngx_http_mdm_args_init(r, &args, 3 + 1 + 7) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "vpp_notify", 1) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, key, n) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, loc, ngx_strlen(loc)) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, (char *) bearer.data, bearer.len) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, nt.id, ngx_strlen(nt.id)) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, nt.type, ngx_strlen(nt.type)) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, nt.event_id ? nt.event_id : "",
                                      nt.event_id ? ngx_strlen(nt.event_id) : 0) != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    mdm_vpp_notification_free(&nt);
    if (rc != NGX_OK) {
        return rc;
    }
    ngx_http_mdm_args_add(&args, body.data, body.len);
    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_vpp_notify_stored);
}


static void
ngx_http_mdm_vpp_notify_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mdm_vpp_notify_store(r));
}


static ngx_int_t
ngx_http_mdm_vpp_notify_stored(ngx_http_request_t *r, redisReply *reply)
{
    static const u_char  ok[] = "{}";

    if (reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_STRING) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm vpp notify: unexpected reply from vpp_notify.lua");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (ngx_strcmp(reply->str, "denied") == 0 || ngx_strcmp(reply->str, "unknown") == 0) {
        /* an unknown location is answered as a wrong token: no oracle */
        return ngx_http_mdm_vpp_notify_refuse(r, NGX_HTTP_UNAUTHORIZED,
                   ngx_strcmp(reply->str, "denied") == 0
                   ? "wrong notificationAuthToken" : "unknown location");
    }
    return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/json", ok,
                             sizeof(ok) - 1);
}
