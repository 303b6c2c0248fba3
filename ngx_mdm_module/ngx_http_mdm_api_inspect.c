/* Placeholder until the inspection API lands: answers 501. */

#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


ngx_int_t
ngx_http_mdm_api_enrollments(ngx_http_request_t *r, ngx_str_t *path)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_http_mdm_api_queue(ngx_http_request_t *r, ngx_str_t *path)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_http_mdm_api_command_status(ngx_http_request_t *r, ngx_str_t *uuid)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}


ngx_int_t
ngx_http_mdm_api_command_cancel(ngx_http_request_t *r, ngx_str_t *uuid)
{
    return NGX_HTTP_NOT_IMPLEMENTED;
}
