#ifndef _NGX_HTTP_MDM_IDENTITY_H_INCLUDED_
#define _NGX_HTTP_MDM_IDENTITY_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mdm_module.h"


ngx_int_t ngx_http_mdm_identity_init(ngx_conf_t *cf,
    ngx_http_mdm_loc_conf_t *conf, ngx_http_mdm_loc_conf_t *prev);

#endif /* _NGX_HTTP_MDM_IDENTITY_H_INCLUDED_ */
