/* Placeholder until enqueue lands: answers 501. */

#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


ngx_int_t
ngx_http_mdm_api_enqueue(ngx_http_request_t *r, ngx_str_t *path)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_http_mdm_api_commands(ngx_http_request_t *r, ngx_str_t *path)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}
