#ifndef _NGX_HTTP_MDM_WELLKNOWN_H_INCLUDED_
#define _NGX_HTTP_MDM_WELLKNOWN_H_INCLUDED_

/* mdm_wellknown: account-driven enrollment discovery (docs/account-driven.md) */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct {
    ngx_array_t                *rules;        /* mdm_wellknown_rule_t */
    ngx_str_t                   message;
} ngx_http_mdm_wellknown_conf_t;


void ngx_http_mdm_wellknown_create_conf(ngx_http_mdm_wellknown_conf_t *conf);
char *ngx_http_mdm_wellknown_merge_conf(ngx_conf_t *cf,
    ngx_http_mdm_wellknown_conf_t *prev, ngx_http_mdm_wellknown_conf_t *conf,
    ngx_uint_t is_wellknown);
char *ngx_http_mdm_wellknown_set_server(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_mdm_wellknown_handler(ngx_http_request_t *r);

#endif /* _NGX_HTTP_MDM_WELLKNOWN_H_INCLUDED_ */
