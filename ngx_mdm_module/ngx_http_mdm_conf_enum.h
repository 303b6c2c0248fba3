#ifndef NGX_HTTP_MDM_CONF_ENUM_H
#define NGX_HTTP_MDM_CONF_ENUM_H

#include <ngx_config.h>
#include <ngx_core.h>

/* ngx_conf_set_enum_slot whose error names the directive (nginx's own says
 * only `invalid value "x"`). cmd->post is the ngx_conf_enum_t list. */
char *ngx_http_mdm_conf_set_enum(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

#endif
