#include "ngx_http_mdm_identity.h"


ngx_int_t
ngx_http_mdm_identity_init(ngx_conf_t *cf, ngx_http_mdm_loc_conf_t *conf,
    ngx_http_mdm_loc_conf_t *prev)
{
    return NGX_OK;
}
