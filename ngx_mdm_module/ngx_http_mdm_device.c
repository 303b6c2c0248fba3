/*
 * The device-facing endpoints: CheckInURL, ServerURL, or both on one URL.
 * In the rewrite phase: reads the body into memory, establishes who is
 * speaking and decodes the message; in the content phase: hands it to the
 * check-in or the command report handler, which store and answer it.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_identity.h"
#include "ngx_http_mdm_metrics.h"
#include "ngx_http_mdm_revoked.h"


#define NGX_HTTP_MDM_CT_CHECKIN  "application/x-apple-aspen-mdm-checkin"


static void ngx_http_mdm_device_intake_done(ngx_http_request_t *r);
static void ngx_http_mdm_device_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_device_process(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_device_prepare(ngx_http_request_t *r,
    ngx_http_mdm_ctx_t *ctx);
static ngx_int_t ngx_http_mdm_device_admit(ngx_http_request_t *r,
    ngx_http_mdm_ctx_t *ctx);
static ngx_int_t ngx_http_mdm_device_identify(ngx_http_request_t *r,
    ngx_http_mdm_ctx_t *ctx);
static ngx_int_t ngx_http_mdm_device_store(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_content_type_is(ngx_http_request_t *r,
    const char *type, size_t len);


/*
 * Rewrite phase of a device location: the body is read, authenticated and
 * decoded here, so that what comes before the content handler, limit_req
 * in the preaccess phase above all, can use $mdm_enrollment_id. The body is
 * read as the mirror module reads it: the phases go on from its handler.
 */
ngx_int_t
ngx_http_mdm_device_intake(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_http_mdm_ctx_t       *ctx;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    if (mlcf->endpoint < NGX_HTTP_MDM_CHECKIN
        || mlcf->endpoint > NGX_HTTP_MDM_SERVER
        || r != r->main
        || !(r->method & (NGX_HTTP_PUT|NGX_HTTP_POST)))
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* again, once the body is in (or a refusal's error page) */
    if (ctx->intake != 0) {
        return ctx->intake;
    }

    ctx->intake = NGX_DONE;

    rc = ngx_http_mdm_read_body(r, ngx_http_mdm_device_intake_done);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_mdm_device_intake_done(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    rc = ngx_http_mdm_device_prepare(r, ctx);
    ctx->intake = (rc == NGX_OK) ? NGX_DECLINED : rc;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


ngx_int_t
ngx_http_mdm_device_handler(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_PUT|NGX_HTTP_POST))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    /* read already: the post handler is called at once */
    return ngx_http_mdm_read_body(r, ngx_http_mdm_device_body);
}


static void
ngx_http_mdm_device_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mdm_device_process(r));
}


static ngx_int_t
ngx_http_mdm_device_process(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the rewrite phase prepared it, unless a redirect reset the context */
    if (ctx->intake != NGX_DECLINED) {
        rc = ngx_http_mdm_device_prepare(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        ctx->intake = NGX_DECLINED;
    }

    return ngx_http_mdm_device_store(r);
}


/* After a renewal rebind: the message once more, now that it is bound. */
ngx_int_t
ngx_http_mdm_device_retry(ngx_http_request_t *r)
{
    return ngx_http_mdm_device_store(r);
}


static ngx_int_t
ngx_http_mdm_device_store(ngx_http_request_t *r)
{
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    return ctx->checkin
           ? ngx_http_mdm_checkin(r, &ctx->body, ctx->cert_sha256)
           : ngx_http_mdm_connect(r, &ctx->body, ctx->cert_sha256);
}


/* Admitted, identified and decoded: NGX_OK, or the status that refuses. */
static ngx_int_t
ngx_http_mdm_device_prepare(ngx_http_request_t *r, ngx_http_mdm_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_mdm_device_admit(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_mdm_device_identify(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    return ctx->checkin ? ngx_http_mdm_checkin_decode(r, &ctx->body)
                        : ngx_http_mdm_connect_decode(r, &ctx->body);
}


/* The body in memory, not empty, of the right class and within its bound. */
static ngx_int_t
ngx_http_mdm_device_admit(ngx_http_request_t *r, ngx_http_mdm_ctx_t *ctx)
{
    ngx_int_t                 checkin;
    ngx_str_t                 body, none = ngx_string("(none)");
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    switch (ngx_http_mdm_body(r, &body)) {
    case NGX_OK:
        break;
    case NGX_DECLINED:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm: body larger than client_body_buffer_size "
                      "refused");
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (body.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm: empty body refused");
        return NGX_HTTP_BAD_REQUEST;
    }

    /*
     * Only the check-in URL insists on its Content-Type. As NanoMDM does on
     * its combined endpoint (and MicroMDM by URL), whatever is not a
     * check-in is a command report: tools send reports with any or no
     * Content-Type. The body must still be a valid, authenticated report.
     */
    checkin = ngx_http_mdm_content_type_is(r, NGX_HTTP_MDM_CT_CHECKIN,
                                      sizeof(NGX_HTTP_MDM_CT_CHECKIN) - 1);

    if (mlcf->endpoint == NGX_HTTP_MDM_CONNECT) {
        checkin = 0;

    } else if (mlcf->endpoint == NGX_HTTP_MDM_CHECKIN && !checkin) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm: wrong Content-Type \"%V\" refused",
                      r->headers_in.content_type
                      ? &r->headers_in.content_type->value : &none);
        return NGX_HTTP_BAD_REQUEST;
    }

    /* before the signature is checked over it: a flood costs no CPU */
    if (body.len > (checkin ? mlcf->checkin_max_size : mlcf->report_max_size))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm: %s of %uz bytes over %s refused",
                      checkin ? "check-in" : "command report", body.len,
                      checkin ? "mdm_checkin_max_size"
                              : "mdm_report_max_size");
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    ctx->body = body;
    ctx->checkin = checkin;

    return NGX_OK;
}


/* Who is speaking: its certificate verified, not revoked, in the context. */
static ngx_int_t
ngx_http_mdm_device_identify(ngx_http_request_t *r, ngx_http_mdm_ctx_t *ctx)
{
    mdm_identity_result_t     idr;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    if (ngx_http_mdm_identity_check(r, &ctx->body, &idr) != NGX_OK) {
        ngx_http_mdm_metrics_identity_failure(idr.reason);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm: identity refused: %s", idr.error);
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_mdm_revoked_is(idr.sha256_hex)) {
        ngx_http_mdm_metrics_identity_failure(MDM_IDENTITY_REVOKED);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm: identity refused: certificate is revoked (%s)",
                      idr.sha256_hex);
        return NGX_HTTP_BAD_REQUEST;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mdm: device certificate \"%s\" %s", idr.cn,
                   idr.sha256_hex);

    if (mlcf->cert_binding == NGX_HTTP_MDM_BIND_OFF) {
        idr.sha256_hex[0] = '\0';
    }

    ngx_cpystrn((u_char *) ctx->cert_sha256, (u_char *) idr.sha256_hex, 65);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_content_type_is(ngx_http_request_t *r, const char *type,
    size_t len)
{
    ngx_table_elt_t  *ct = r->headers_in.content_type;

    return ct != NULL
           && ct->value.len >= len
           && ngx_strncasecmp(ct->value.data, (u_char *) type, len) == 0
           && (ct->value.len == len || ct->value.data[len] == ';'
               || ct->value.data[len] == ' ');
}
