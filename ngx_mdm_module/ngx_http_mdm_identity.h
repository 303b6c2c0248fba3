#ifndef _NGX_HTTP_MDM_IDENTITY_H_INCLUDED_
#define _NGX_HTTP_MDM_IDENTITY_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_identity.h"
#include "ngx_http_mdm_module.h"


/* Loads the device CA bundle of a device location (at "nginx -t"). */
ngx_int_t ngx_http_mdm_identity_init(ngx_conf_t *cf,
    ngx_http_mdm_loc_conf_t *conf, ngx_http_mdm_loc_conf_t *prev);

/*
 * The device certificate of this request, from the sources the location
 * allows: Mdm-Signature over body, the TLS client certificate, or a trusted
 * proxy's header. NGX_OK with res filled, or NGX_DECLINED with res->error.
 */
ngx_int_t ngx_http_mdm_identity_check(ngx_http_request_t *r,
    ngx_str_t *body, mdm_identity_result_t *res);

/* A request header by name (case-insensitive), or NULL. */
ngx_table_elt_t *ngx_http_mdm_find_header(ngx_http_request_t *r,
    const char *name, size_t len);

#endif /* _NGX_HTTP_MDM_IDENTITY_H_INCLUDED_ */
