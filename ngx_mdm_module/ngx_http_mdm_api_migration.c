/*
 * PUT /migration: NanoMDM's migration endpoint. A check-in message
 * (Authenticate, TokenUpdate, ...) as the device once sent it, replayed by
 * NanoMDM's nano2nano or MicroMDM's micro2nano with the API key instead of
 * the device's identity. It is stored as a check-in from the device would
 * be, but binds no certificate: with "mdm_cert_binding retro" on the device
 * location, the device's next real message binds its certificate
 * (docs/api.md, "Migration").
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


static void ngx_http_mdm_api_migration_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_migration_process(ngx_http_request_t *r);


ngx_int_t
ngx_http_mdm_api_migration(ngx_http_request_t *r, ngx_str_t *path)
{
    ngx_int_t    rc;
    const char  *err;

    rc = ngx_http_mdm_api_no_args(r, &err);
    if (rc == NGX_DECLINED) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_read_body(r, ngx_http_mdm_api_migration_body);
}


static void
ngx_http_mdm_api_migration_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mdm_api_migration_process(r));
}


/* Any Content-Type or none: the tools send none. */
static ngx_int_t
ngx_http_mdm_api_migration_process(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_str_t            body;
    ngx_http_mdm_ctx_t  *ctx;

    switch (ngx_http_mdm_body(r, &body)) {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "body larger than "
                                       "client_body_buffer_size");
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (body.len == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "empty body");
    }

    /* decoded and held to its type's bound as a device's would be */
    rc = ngx_http_mdm_checkin_decode(r, &body);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    ctx->body = body;
    ctx->checkin = 1;

    /* no certificate: nothing is bound, a bound one is not checked */
    return ngx_http_mdm_checkin(r, &body, "");
}
