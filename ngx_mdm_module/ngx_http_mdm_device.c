/*
 * The device-facing endpoints: CheckInURL, ServerURL, or both on one URL.
 * Reads the body into memory, establishes who is speaking, then hands the
 * request to the check-in or the command report handler.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_identity.h"
#include "ngx_http_mdm_metrics.h"
#include "ngx_http_mdm_revoked.h"


#define NGX_HTTP_MDM_CT_CHECKIN  "application/x-apple-aspen-mdm-checkin"


static void ngx_http_mdm_device_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_device_process(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_content_type_is(ngx_http_request_t *r,
    const char *type, size_t len);


ngx_int_t
ngx_http_mdm_device_handler(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_PUT|NGX_HTTP_POST))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

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
    ngx_int_t                 checkin;
    ngx_str_t                 body, none = ngx_string("(none)");
    mdm_identity_result_t     idr;
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

    if (ngx_http_mdm_identity_check(r, &body, &idr) != NGX_OK) {
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

    ngx_cpystrn((u_char *) ngx_http_mdm_get_ctx(r)->cert_sha256,
                (u_char *) idr.sha256_hex, 65);

    return checkin ? ngx_http_mdm_checkin(r, &body, idr.sha256_hex)
                   : ngx_http_mdm_connect(r, &body, idr.sha256_hex);
}


/* After a renewal rebind: the message once more, as if it just arrived. */
ngx_int_t
ngx_http_mdm_device_retry(ngx_http_request_t *r)
{
    return ngx_http_mdm_device_process(r);
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
