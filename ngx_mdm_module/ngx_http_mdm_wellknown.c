/*
 * mdm_wellknown: /.well-known/com.apple.remotemanagement, the discovery
 * step of account-driven enrollment (services.md §4.1). The answer comes
 * from the mdm_wellknown_server rules alone (libmdm/enroll/mdm_wellknown.c
 * matches them), so the location can live in the organisation's main web
 * site's nginx, with or without Redis. A refusal is 403 with
 * ErrorWellKnownFailed and one log line.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "enroll/mdm_wellknown.h"
#include "ngx_http_mdm_module.h"


void
ngx_http_mdm_wellknown_create_conf(ngx_http_mdm_wellknown_conf_t *conf)
{
    /*
     * set by ngx_pcalloc() with the rest of the location's conf:
     *     conf->message = { 0, NULL };
     */

    conf->rules = NGX_CONF_UNSET_PTR;
}


char *
ngx_http_mdm_wellknown_merge_conf(ngx_conf_t *cf,
    ngx_http_mdm_wellknown_conf_t *prev, ngx_http_mdm_wellknown_conf_t *conf,
    ngx_uint_t is_wellknown)
{
    ngx_conf_merge_ptr_value(conf->rules, prev->rules, NULL);
    ngx_conf_merge_str_value(conf->message, prev->message, "");

    if (is_wellknown && conf->rules == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_wellknown\" requires at least one "
                           "\"mdm_wellknown_server\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mdm_wellknown_str(ngx_conf_t *cf, ngx_str_t *s, ngx_uint_t lower)
{
    char        *p;
    ngx_uint_t   i;

    p = ngx_pnalloc(cf->pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    for (i = 0; i < s->len; i++) {
        p[i] = lower ? ngx_tolower(s->data[i]) : s->data[i];
    }
    p[s->len] = '\0';

    return p;
}


/* mdm_wellknown_server domain|* mdm-byod|mdm-adde https://base [family ...] */
char *
ngx_http_mdm_wellknown_set_server(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    unsigned                bit;
    ngx_str_t              *value;
    ngx_uint_t              i;
    ngx_array_t           **rules;
    mdm_wellknown_rule_t   *rule;

    rules = (ngx_array_t **) (p + cmd->offset);
    value = cf->args->elts;

    if (*rules == NGX_CONF_UNSET_PTR) {
        *rules = ngx_array_create(cf->pool, 4, sizeof(mdm_wellknown_rule_t));
        if (*rules == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (!(value[2].len == 8
          && (ngx_strncmp(value[2].data, "mdm-byod", 8) == 0
              || ngx_strncmp(value[2].data, "mdm-adde", 8) == 0)))
    {
        return "version must be mdm-byod or mdm-adde";
    }

    if (value[3].len <= 8 || ngx_strncmp(value[3].data, "https://", 8) != 0) {
        return "BaseURL must be an https:// URL";
    }

    rule = ngx_array_push(*rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    rule->domain = ngx_http_mdm_wellknown_str(cf, &value[1], 1);
    rule->version = ngx_http_mdm_wellknown_str(cf, &value[2], 0);
    rule->base_url = ngx_http_mdm_wellknown_str(cf, &value[3], 0);
    rule->families = 0;

    if (rule->domain == NULL || rule->version == NULL
        || rule->base_url == NULL)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 4; i < cf->args->nelts; i++) {
        bit = mdm_wellknown_family((char *) value[i].data, value[i].len);
        if (bit == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "unknown model family "
                               "\"%V\" (AppleTV, iPad, iPhone, Mac, "
                               "RealityDevice, Watch)", &value[i]);
            return NGX_CONF_ERROR;
        }
        rule->families |= bit;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mdm_wellknown_send(ngx_http_request_t *r, ngx_uint_t status,
    char *json)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        free(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    rc = ngx_http_mdm_send(r, status, "application/json", (u_char *) json,
                           ngx_strlen(json));
    free(json);

    return rc;
}


static ngx_int_t
ngx_http_mdm_wellknown_refuse(ngx_http_request_t *r, const char *why,
    ngx_str_t *user)
{
    char                     *message;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm wellknown: refused \"%V\": %s", user, why);

    message = NULL;
    if (mlcf->wellknown.message.len) {
        message = (char *) mlcf->wellknown.message.data;
    }

    return ngx_http_mdm_wellknown_send(r, NGX_HTTP_FORBIDDEN,
               mdm_wellknown_failed_json(why, message));
}


ngx_int_t
ngx_http_mdm_wellknown_handler(ngx_http_request_t *r)
{
    u_char                      *dst, *src;
    char                         domain[256];
    unsigned                     family;
    ngx_int_t                    rc;
    ngx_str_t                    arg, user, fam;
    ngx_http_mdm_ctx_t          *ctx;
    ngx_http_mdm_loc_conf_t     *mlcf;
    const mdm_wellknown_rule_t  *rule;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_str_set(&ctx->message_type, "well-known");

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    ngx_str_set(&user, "");
    if (ngx_http_arg(r, (u_char *) "user-identifier", 15, &arg) == NGX_OK) {
        user.data = ngx_pnalloc(r->pool, arg.len + 1);
        if (user.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        dst = user.data;
        src = arg.data;
        ngx_unescape_uri(&dst, &src, arg.len, NGX_UNESCAPE_URI);
        user.len = dst - user.data;
    }

    if (mdm_wellknown_domain((char *) user.data, user.len, domain,
                             sizeof(domain)) != 0)
    {
        ngx_str_set(&user, "");
        return ngx_http_mdm_wellknown_refuse(r, "user-identifier is not "
                                             "an address", &user);
    }

    family = 0;
    if (ngx_http_arg(r, (u_char *) "model-family", 12, &fam) == NGX_OK) {
        family = mdm_wellknown_family((char *) fam.data, fam.len);
    }

    rule = mdm_wellknown_match(mlcf->wellknown.rules->elts,
                               mlcf->wellknown.rules->nelts, domain, family);
    if (rule == NULL) {
        return ngx_http_mdm_wellknown_refuse(r, "no enrollment server for "
                                             "this account", &user);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm wellknown: \"%V\" -> %s %s", &user, rule->version,
                  rule->base_url);

    return ngx_http_mdm_wellknown_send(r, NGX_HTTP_OK,
                                       mdm_wellknown_servers_json(rule));
}
