/*
 * Enum directives (on|off|retro, decline|empty_digest): `nginx -t` must name
 * the directive that is wrong, which nginx's built-in setter does not.
 */

#include "ngx_http_mdm_conf_enum.h"


char *
ngx_http_mdm_conf_set_enum(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t        *value = cf->args->elts;
    ngx_conf_enum_t  *e;

    for (e = cmd->post; e->name.len; e++) {
        if (e->name.len == value[1].len
            && ngx_strcasecmp(e->name.data, value[1].data) == 0)
        {
            return ngx_conf_set_enum_slot(cf, cmd, conf);
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid \"%V\" value \"%V\"",
                       &cmd->name, &value[1]);
    return NGX_CONF_ERROR;
}
