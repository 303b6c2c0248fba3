/* Placeholder until the push API lands: answers 501. */

#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


ngx_int_t
ngx_http_mdm_api_push(ngx_http_request_t *r, ngx_str_t *path)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_http_mdm_api_pushcert(ngx_http_request_t *r, ngx_str_t *path)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}
