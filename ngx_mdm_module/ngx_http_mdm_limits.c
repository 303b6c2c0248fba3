/*
 * mdm_message_max_size TYPE SIZE: a size bound per check-in MessageType and
 * per report Status. The class bounds (mdm_checkin_max_size,
 * mdm_report_max_size) refuse a flood before its signature is checked; these
 * refuse, once the plist says what the message is, an Authenticate or an
 * Idle report padded to the class bound, before anything is stored.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mdm_module.h"


/*
 * What real devices send (../shared/fixtures/devices): an Authenticate is
 * ~0.6 KB, a TokenUpdate ~2.5 KB (with an UnlockToken a few KB more), an
 * Idle or NotNow report well under 1 KB, an Error report with its
 * ErrorChain ~0.7 KB. Results (Acknowledged) of list queries can be MBs and
 * DeclarativeManagement status reports grow with the declarations: those
 * keep their class bound (0 here).
 */
#define NGX_HTTP_MDM_SMALL_MESSAGE  (16 * 1024)

static const size_t
    ngx_http_mdm_checkin_type_dflt[NGX_HTTP_MDM_CHECKIN_TYPES] =
{
    [MDM_CHECKIN_AUTHENTICATE] = NGX_HTTP_MDM_SMALL_MESSAGE,
    [MDM_CHECKIN_TOKEN_UPDATE] = NGX_HTTP_MDM_SMALL_MESSAGE,
    [MDM_CHECKIN_CHECK_OUT] = NGX_HTTP_MDM_SMALL_MESSAGE,
    [MDM_CHECKIN_USER_AUTHENTICATE] = NGX_HTTP_MDM_SMALL_MESSAGE,
    [MDM_CHECKIN_SET_BOOTSTRAP_TOKEN] = NGX_HTTP_MDM_SMALL_MESSAGE,
    [MDM_CHECKIN_GET_BOOTSTRAP_TOKEN] = NGX_HTTP_MDM_SMALL_MESSAGE,
    [MDM_CHECKIN_GET_TOKEN] = NGX_HTTP_MDM_SMALL_MESSAGE,
    [MDM_CHECKIN_RETURN_TO_SERVICE] = NGX_HTTP_MDM_SMALL_MESSAGE,
};

static const size_t
    ngx_http_mdm_status_dflt[NGX_HTTP_MDM_STATUSES] =
{
    [MDM_STATUS_IDLE] = NGX_HTTP_MDM_SMALL_MESSAGE,
    [MDM_STATUS_NOT_NOW] = NGX_HTTP_MDM_SMALL_MESSAGE,
    [MDM_STATUS_ERROR] = 64 * 1024,
    [MDM_STATUS_COMMAND_FORMAT_ERROR] = 64 * 1024,
};


void
ngx_http_mdm_limits_create_conf(ngx_http_mdm_loc_conf_t *conf)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_MDM_CHECKIN_TYPES; i++) {
        conf->checkin_type_max[i] = NGX_CONF_UNSET_SIZE;
    }

    for (i = 0; i < NGX_HTTP_MDM_STATUSES; i++) {
        conf->status_max[i] = NGX_CONF_UNSET_SIZE;
    }
}


/* Each type is inherited on its own, as a directive of its own would be. */
void
ngx_http_mdm_limits_merge_conf(ngx_http_mdm_loc_conf_t *prev,
    ngx_http_mdm_loc_conf_t *conf)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_MDM_CHECKIN_TYPES; i++) {
        ngx_conf_merge_size_value(conf->checkin_type_max[i],
                                  prev->checkin_type_max[i],
                                  ngx_http_mdm_checkin_type_dflt[i]);
    }

    for (i = 0; i < NGX_HTTP_MDM_STATUSES; i++) {
        ngx_conf_merge_size_value(conf->status_max[i], prev->status_max[i],
                                  ngx_http_mdm_status_dflt[i]);
    }
}


/* mdm_message_max_size Authenticate 16k; (a MessageType or a Status) */
char *
ngx_http_mdm_set_message_max_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mdm_loc_conf_t *mlcf = conf;

    size_t      *slot;
    ssize_t      size;
    ngx_str_t   *value;
    ngx_uint_t   i;

    value = cf->args->elts;
    slot = NULL;

    for (i = 1; i < NGX_HTTP_MDM_CHECKIN_TYPES; i++) {
        if (ngx_strcmp(value[1].data, mdm_checkin_type_name(i)) == 0) {
            slot = &mlcf->checkin_type_max[i];
        }
    }

    for (i = 1; i < NGX_HTTP_MDM_STATUSES; i++) {
        if (ngx_strcmp(value[1].data, mdm_status_name(i)) == 0) {
            slot = &mlcf->status_max[i];
        }
    }

    if (slot == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" message \"%V\": neither a "
                           "check-in MessageType nor a report Status",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    if (*slot != NGX_CONF_UNSET_SIZE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" for \"%V\" is "
                           "duplicate", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&value[2]);
    if (size == NGX_ERROR || size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" size \"%V\"", &cmd->name,
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    *slot = size;

    return NGX_CONF_OK;
}


/*
 * NGX_OK when the decoded message is within its type's bound (or its type
 * has none but the class bound, already applied), else 413 and a line.
 */
ngx_int_t
ngx_http_mdm_limits_check(ngx_http_request_t *r, ngx_uint_t checkin,
    ngx_uint_t type, const char *name, size_t len)
{
    size_t                    max;
    ngx_http_mdm_ctx_t       *ctx;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    if (checkin) {
        max = type < NGX_HTTP_MDM_CHECKIN_TYPES
              ? mlcf->checkin_type_max[type] : 0;

    } else {
        max = type < NGX_HTTP_MDM_STATUSES ? mlcf->status_max[type] : 0;
    }

    if (max == 0 || len <= max) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm: %s of %uz bytes from \"%V\" over "
                  "\"mdm_message_max_size %s %uz\" refused", name, len,
                  &ctx->enrollment_id, name, max);

    return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
}
