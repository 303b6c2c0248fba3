/*
 * $mdm_enrollment_id, $mdm_message_type, $mdm_status, $mdm_command_uuid:
 * what the device endpoints learned about a request, for access logs. A
 * value the request never reached (a refused body, a check-in has no
 * Status) is not found, which log_format prints as "-".
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mdm_module.h"


static ngx_int_t ngx_http_mdm_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/*
 * Not cacheable: the handlers fill the context as the request goes on, and
 * a value read early (say, by an "add_header") must not stick.
 */
static ngx_http_variable_t  ngx_http_mdm_vars[] = {

    { ngx_string("mdm_enrollment_id"), NULL, ngx_http_mdm_ctx_variable,
      offsetof(ngx_http_mdm_ctx_t, enrollment_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mdm_message_type"), NULL, ngx_http_mdm_ctx_variable,
      offsetof(ngx_http_mdm_ctx_t, message_type),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mdm_status"), NULL, ngx_http_mdm_ctx_variable,
      offsetof(ngx_http_mdm_ctx_t, status),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mdm_command_uuid"), NULL, ngx_http_mdm_ctx_variable,
      offsetof(ngx_http_mdm_ctx_t, command_uuid),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_mdm_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_mdm_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t           *value;
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mdm_module);
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = (ngx_str_t *) ((u_char *) ctx + data);
    if (value->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = value->data;

    return NGX_OK;
}
