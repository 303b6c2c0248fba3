#include "ngx_http_mdm_module.h"


ngx_int_t
ngx_http_mdm_device_handler(ngx_http_request_t *r)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}
