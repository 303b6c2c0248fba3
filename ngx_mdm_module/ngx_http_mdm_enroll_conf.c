/*
 * ngx_http_mdm_enroll_module: the enrollment directives. At "nginx -t" an
 * mdm_enroll location loads its signing identity and trust anchors, turns
 * its settings into libmdm's profile configuration and has libmdm check it
 * against Apple's schema rules, so that a profile a device would refuse is
 * a configuration error naming the directive.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "mdm_pushcert.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_enroll.h"


static void *ngx_http_mdm_enroll_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mdm_enroll_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mdm_enroll(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mdm_enroll_set_capabilities(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_mdm_enroll_set_signer(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_mdm_enroll_build_conf(ngx_conf_t *cf,
    ngx_http_mdm_enroll_loc_conf_t *conf);
static ngx_int_t ngx_http_mdm_enroll_scep_default(ngx_conf_t *cf,
    ngx_http_mdm_enroll_loc_conf_t *conf);
static ngx_int_t ngx_http_mdm_enroll_load_topic(ngx_conf_t *cf,
    ngx_http_mdm_enroll_loc_conf_t *conf);
static ngx_int_t ngx_http_mdm_enroll_load_signer(ngx_conf_t *cf,
    ngx_http_mdm_enroll_loc_conf_t *conf);
static ngx_int_t ngx_http_mdm_enroll_load_anchors(ngx_conf_t *cf,
    ngx_http_mdm_enroll_loc_conf_t *conf, mdm_enroll_profile_conf_t *p);
static STACK_OF(X509) *ngx_http_mdm_enroll_read_certs(ngx_conf_t *cf,
    ngx_str_t *file, const char *directive);
static const char *ngx_http_mdm_enroll_cstr(ngx_conf_t *cf, ngx_str_t *s);
static void ngx_http_mdm_enroll_cleanup(void *data);


static ngx_conf_enum_t  ngx_http_mdm_enroll_token_modes[] = {
    { ngx_string("off"), NGX_HTTP_MDM_ENROLL_TOKEN_OFF },
    { ngx_string("optional"), NGX_HTTP_MDM_ENROLL_TOKEN_OPTIONAL },
    { ngx_string("required"), NGX_HTTP_MDM_ENROLL_TOKEN_REQUIRED },
    { ngx_null_string, 0 }
};


#define NGX_HTTP_MDM_ENROLL_ANY \
    NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF

#define NGX_HTTP_MDM_ENROLL_STR(name, field)                                 \
    { ngx_string(name), NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_TAKE1,               \
      ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET,                       \
      offsetof(ngx_http_mdm_enroll_loc_conf_t, field), NULL }

static ngx_command_t  ngx_http_mdm_enroll_commands[] = {

    { ngx_string("mdm_enroll"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_enroll,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_server_url", server_url),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_checkin_url", checkin_url),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_topic", topic),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_push_cert", push_cert),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_scep_url", scep_url),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_scep_name", scep_name),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_acme_url", acme_url),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_organization", organization),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_identifier", identifier),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_display_name", display_name),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_description", description),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_subject_cn", subject_cn),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_link_url", link_url),
    NGX_HTTP_MDM_ENROLL_STR("mdm_enroll_ota", ota_url),

    { ngx_string("mdm_enroll_key_size"),
      NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_enroll_loc_conf_t, key_size),
      NULL },

    { ngx_string("mdm_enroll_access_rights"),
      NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_enroll_loc_conf_t, access_rights),
      NULL },

    { ngx_string("mdm_enroll_sign_message"),
      NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_enroll_loc_conf_t, sign_message),
      NULL },

    { ngx_string("mdm_enroll_check_out_when_removed"),
      NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_enroll_loc_conf_t, check_out_when_removed),
      NULL },

    { ngx_string("mdm_enroll_capabilities"),
      NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_1MORE,
      ngx_http_mdm_enroll_set_capabilities,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mdm_enroll_anchor"),
      NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_TAKE1,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_enroll_loc_conf_t, anchor_files),
      NULL },

    { ngx_string("mdm_enroll_signer"),
      NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_TAKE123,
      ngx_http_mdm_enroll_set_signer,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mdm_enroll_user"),
      NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_enroll_loc_conf_t, user),
      NULL },

    { ngx_string("mdm_enroll_challenge_ttl"),
      NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_enroll_loc_conf_t, challenge_ttl),
      NULL },

    { ngx_string("mdm_enroll_token"),
      NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_enroll_loc_conf_t, token),
      &ngx_http_mdm_enroll_token_modes },

    { ngx_string("mdm_enroll_link_ttl"),
      NGX_HTTP_MDM_ENROLL_ANY|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_enroll_loc_conf_t, link_ttl),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mdm_enroll_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mdm_enroll_create_loc_conf,   /* create location configuration */
    ngx_http_mdm_enroll_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_mdm_enroll_module = {
    NGX_MODULE_V1,
    &ngx_http_mdm_enroll_module_ctx,       /* module context */
    ngx_http_mdm_enroll_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* libmdm names the profile key it refuses; the operator wants the directive */
static const struct {
    const char  *key;
    const char  *directive;
} ngx_http_mdm_enroll_key_directive[] = {
    { "ServerURL", "mdm_enroll_server_url" },
    { "CheckInURL", "mdm_enroll_checkin_url" },
    { "Topic", "mdm_enroll_topic" },
    { "URL (SCEP)", "mdm_enroll_scep_url" },
    { "Name (SCEP)", "mdm_enroll_scep_name" },
    { "DirectoryURL (ACME)", "mdm_enroll_acme_url" },
    { "Subject O", "mdm_enroll_organization" },
    { "Subject CN", "mdm_enroll_subject_cn" },
    { "AccessRights", "mdm_enroll_access_rights" },
    { "ServerCapabilities", "mdm_enroll_capabilities" },
    { "Keysize", "mdm_enroll_key_size" },
    { "PayloadIdentifier", "mdm_enroll_identifier" },
    { "PayloadDisplayName (anchor", "mdm_enroll_anchor" },
    { "PayloadContent (anchor", "mdm_enroll_anchor" },
    { "PayloadDisplayName", "mdm_enroll_display_name" },
    { "PayloadOrganization", "mdm_enroll_organization" },
    { "PayloadDescription", "mdm_enroll_description" },
    { NULL, "mdm_enroll" }
};


static void *
ngx_http_mdm_enroll_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mdm_enroll_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mdm_enroll_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc(): every ngx_str_t empty, conf->enabled = 0,
     * conf->profile = NULL, conf->sign_* = NULL
     */

    conf->key_size = NGX_CONF_UNSET;
    conf->access_rights = NGX_CONF_UNSET;
    conf->sign_message = NGX_CONF_UNSET;
    conf->check_out_when_removed = NGX_CONF_UNSET;
    conf->capabilities = NGX_CONF_UNSET_UINT;
    conf->anchor_files = NGX_CONF_UNSET_PTR;
    conf->signer = NGX_CONF_UNSET_PTR;
    conf->user = NGX_CONF_UNSET_PTR;
    conf->challenge_ttl = NGX_CONF_UNSET;
    conf->token = NGX_CONF_UNSET_UINT;
    conf->link_ttl = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_mdm_enroll_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mdm_enroll_loc_conf_t *prev = parent;
    ngx_http_mdm_enroll_loc_conf_t *conf = child;

    ngx_http_compile_complex_value_t  ccv;
    ngx_str_t  remote_user = ngx_string("$remote_user");

    ngx_conf_merge_str_value(conf->server_url, prev->server_url, "");
    ngx_conf_merge_str_value(conf->checkin_url, prev->checkin_url, "");
    ngx_conf_merge_str_value(conf->topic, prev->topic, "");
    ngx_conf_merge_str_value(conf->push_cert, prev->push_cert, "");
    ngx_conf_merge_str_value(conf->scep_url, prev->scep_url, "");
    ngx_conf_merge_str_value(conf->scep_name, prev->scep_name, "");
    ngx_conf_merge_str_value(conf->acme_url, prev->acme_url, "");
    ngx_conf_merge_str_value(conf->organization, prev->organization, "");
    ngx_conf_merge_str_value(conf->identifier, prev->identifier,
                             "ngx_mdm.enrollment");
    ngx_conf_merge_str_value(conf->display_name, prev->display_name,
                             "MDM enrollment");
    ngx_conf_merge_str_value(conf->description, prev->description, "");
    ngx_conf_merge_str_value(conf->subject_cn, prev->subject_cn, "ngx_mdm");
    ngx_conf_merge_value(conf->key_size, prev->key_size, 2048);
    ngx_conf_merge_value(conf->access_rights, prev->access_rights,
                         MDM_ENROLL_ACCESS_ALL);
    ngx_conf_merge_value(conf->sign_message, prev->sign_message, 1);
    ngx_conf_merge_value(conf->check_out_when_removed,
                         prev->check_out_when_removed, 1);
    /* what this server implements: user channels, Set/GetBootstrapToken */
    ngx_conf_merge_uint_value(conf->capabilities, prev->capabilities,
                              MDM_ENROLL_CAP_PER_USER
                              | MDM_ENROLL_CAP_BOOTSTRAP);
    ngx_conf_merge_ptr_value(conf->anchor_files, prev->anchor_files, NULL);
    ngx_conf_merge_ptr_value(conf->signer, prev->signer, NULL);
    ngx_conf_merge_ptr_value(conf->user, prev->user, NULL);
    ngx_conf_merge_value(conf->challenge_ttl, prev->challenge_ttl, 3600);
    ngx_conf_merge_uint_value(conf->token, prev->token,
                              NGX_HTTP_MDM_ENROLL_TOKEN_OPTIONAL);
    ngx_conf_merge_str_value(conf->link_url, prev->link_url, "");
    ngx_conf_merge_str_value(conf->ota_url, prev->ota_url, "");

    if (conf->ota_url.len
        && (conf->ota_url.len <= sizeof("https://") - 1
            || ngx_strncmp(conf->ota_url.data, "https://",
                           sizeof("https://") - 1) != 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_enroll_ota\" must be an https:// URL");
        return NGX_CONF_ERROR;
    }
    ngx_conf_merge_value(conf->link_ttl, prev->link_ttl, 7 * 86400);

    if (conf->user == NULL) {
        conf->user = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (conf->user == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &remote_user;
        ccv.complex_value = conf->user;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->challenge_ttl < 60 || conf->link_ttl < 60) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%s\" must be at least "
                           "60 seconds", conf->challenge_ttl < 60
                           ? "mdm_enroll_challenge_ttl"
                           : "mdm_enroll_link_ttl");
        return NGX_CONF_ERROR;
    }

    if (!conf->enabled) {
        return NGX_CONF_OK;
    }

    return ngx_http_mdm_enroll_build_conf(cf, conf);
}


static char *
ngx_http_mdm_enroll(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mdm_enroll_loc_conf_t *elcf = conf;

    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_mdm_main_conf_t  *mcf;

    if (elcf->enabled) {
        return "is duplicate";
    }

    elcf->enabled = 1;

    /* the Redis connections are the main module's */
    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mdm_module);
    mcf->used = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mdm_enroll_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_mdm_enroll_set_capabilities(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mdm_enroll_loc_conf_t *elcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (elcf->capabilities != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    elcf->capabilities = 0;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "none") == 0 && cf->args->nelts == 2) {
            continue;
        }

        if (ngx_strcmp(value[i].data, "per-user-connections") == 0) {
            elcf->capabilities |= MDM_ENROLL_CAP_PER_USER;

        } else if (ngx_strcmp(value[i].data, "bootstraptoken") == 0) {
            elcf->capabilities |= MDM_ENROLL_CAP_BOOTSTRAP;

        } else if (ngx_strcmp(value[i].data, "token") == 0) {
            elcf->capabilities |= MDM_ENROLL_CAP_TOKEN;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"mdm_enroll_capabilities\" value "
                               "\"%V\", expected \"per-user-connections\", "
                               "\"bootstraptoken\", \"token\" or \"none\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* mdm_enroll_signer cert.pem key.pem [chain.pem] | off */
static char *
ngx_http_mdm_enroll_set_signer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mdm_enroll_loc_conf_t *elcf = conf;

    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (elcf->signer != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    elcf->signer = ngx_array_create(cf->pool, 3, sizeof(ngx_str_t));
    if (elcf->signer == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    if (cf->args->nelts < 3) {
        return "takes a certificate and a key file (and a chain), or \"off\"";
    }

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(elcf->signer);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];

        if (ngx_conf_full_name(cf->cycle, s, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mdm_enroll_build_conf(ngx_conf_t *cf,
    ngx_http_mdm_enroll_loc_conf_t *conf)
{
    ngx_uint_t                  i;
    mdm_err_t                   err;
    const char                 *directive;
    mdm_enroll_profile_conf_t  *p;

    if (conf->server_url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_enroll\" requires \"mdm_enroll_server_url\"");
        return NGX_CONF_ERROR;
    }

    if (conf->access_rights == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"mdm_enroll_access_rights\""
                           " must not be 0 (the schema forbids it)");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mdm_enroll_load_topic(cf, conf) != NGX_OK
        || ngx_http_mdm_enroll_scep_default(cf, conf) != NGX_OK
        || ngx_http_mdm_enroll_load_signer(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    p = ngx_pcalloc(cf->pool, sizeof(mdm_enroll_profile_conf_t));
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    p->server_url = ngx_http_mdm_enroll_cstr(cf, &conf->server_url);
    p->checkin_url = ngx_http_mdm_enroll_cstr(cf, &conf->checkin_url);
    p->topic = ngx_http_mdm_enroll_cstr(cf, &conf->topic);
    p->scep_url = ngx_http_mdm_enroll_cstr(cf, &conf->scep_url);
    p->scep_name = ngx_http_mdm_enroll_cstr(cf, &conf->scep_name);
    p->acme_url = ngx_http_mdm_enroll_cstr(cf, &conf->acme_url);
    p->subject_o = ngx_http_mdm_enroll_cstr(cf, &conf->organization);
    p->organization = p->subject_o;
    p->subject_cn = ngx_http_mdm_enroll_cstr(cf, &conf->subject_cn);
    p->identifier = ngx_http_mdm_enroll_cstr(cf, &conf->identifier);
    p->display_name = ngx_http_mdm_enroll_cstr(cf, &conf->display_name);
    p->description = ngx_http_mdm_enroll_cstr(cf, &conf->description);
    p->key_size = (unsigned) conf->key_size;
    p->access_rights = conf->access_rights;
    p->sign_message = conf->sign_message;
    p->check_out_when_removed = conf->check_out_when_removed;
    p->capabilities = conf->capabilities;

    if (p->topic == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"mdm_enroll\" requires "
                           "\"mdm_enroll_topic\" or \"mdm_enroll_push_cert\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mdm_enroll_load_anchors(cf, conf, p) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (mdm_enroll_profile_check(p, &err) != MDM_OK) {
        for (i = 0; ngx_http_mdm_enroll_key_directive[i].key; i++) {
            if (ngx_strncmp(err.msg, ngx_http_mdm_enroll_key_directive[i].key,
                            ngx_strlen(ngx_http_mdm_enroll_key_directive[i].key))
                == 0)
            {
                break;
            }
        }

        directive = ngx_http_mdm_enroll_key_directive[i].directive;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\": the enrollment profile would be refused: "
                           "%s", directive, err.msg);
        return NGX_CONF_ERROR;
    }

    if (conf->sign_cert == NULL) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0, "mdm_enroll: profiles are "
                           "served unsigned (\"mdm_enroll_signer off\"): "
                           "devices show them as not verified");
    }

    conf->profile = p;

    return NGX_CONF_OK;
}


/* The SCEP location on ServerURL's origin, by default. */
static ngx_int_t
ngx_http_mdm_enroll_scep_default(ngx_conf_t *cf,
    ngx_http_mdm_enroll_loc_conf_t *conf)
{
    u_char  *host, *slash, *p;

    if (conf->scep_url.len) {
        return NGX_OK;
    }

    host = ngx_strlcasestrn(conf->server_url.data,
                            conf->server_url.data + conf->server_url.len,
                            (u_char *) "://", 3 - 1);

    if (host == NULL) {
        return NGX_OK;          /* the profile check names ServerURL */
    }

    host += 3;
    slash = ngx_strlchr(host, conf->server_url.data + conf->server_url.len,
                        '/');
    if (slash == NULL) {
        slash = conf->server_url.data + conf->server_url.len;
    }

    p = ngx_pnalloc(cf->pool, (slash - conf->server_url.data) + 5);
    if (p == NULL) {
        return NGX_ERROR;
    }

    conf->scep_url.data = p;
    p = ngx_cpymem(p, conf->server_url.data, slash - conf->server_url.data);
    p = ngx_cpymem(p, "/scep", 5);
    conf->scep_url.len = p - conf->scep_url.data;

    return NGX_OK;
}


/* The topic is the push certificate's subject UID (as PUT /v1/pushcert). */
static ngx_int_t
ngx_http_mdm_enroll_load_topic(ngx_conf_t *cf,
    ngx_http_mdm_enroll_loc_conf_t *conf)
{
    int              idx, len;
    X509            *x;
    u_char          *uid;
    mdm_err_t        err;
    X509_NAME       *name;
    STACK_OF(X509)  *certs;

    if (conf->topic.len || conf->push_cert.len == 0) {
        return NGX_OK;
    }

    certs = ngx_http_mdm_enroll_read_certs(cf, &conf->push_cert,
                                           "mdm_enroll_push_cert");
    if (certs == NULL) {
        return NGX_ERROR;
    }

    x = sk_X509_value(certs, 0);
    name = X509_get_subject_name(x);
    idx = X509_NAME_get_index_by_NID(name, NID_userId, -1);
    uid = NULL;
    len = idx < 0 ? -1
                  : ASN1_STRING_to_UTF8(&uid, X509_NAME_ENTRY_get_data(
                                                X509_NAME_get_entry(name, idx)));

    if (len <= 0
        || mdm_pushcert_topic_check((char *) uid, len, &err) != MDM_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"mdm_enroll_push_cert\" "
                           "\"%V\" has no MDM topic in its subject UID",
                           &conf->push_cert);
        OPENSSL_free(uid);
        sk_X509_pop_free(certs, X509_free);
        return NGX_ERROR;
    }

    conf->topic.data = ngx_pnalloc(cf->pool, len);
    if (conf->topic.data != NULL) {
        ngx_memcpy(conf->topic.data, uid, len);
        conf->topic.len = len;
    }

    OPENSSL_free(uid);
    sk_X509_pop_free(certs, X509_free);

    return conf->topic.data ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_mdm_enroll_load_signer(ngx_conf_t *cf,
    ngx_http_mdm_enroll_loc_conf_t *conf)
{
    BIO                 *bio;
    ngx_str_t           *files;
    STACK_OF(X509)      *certs;
    ngx_pool_cleanup_t  *cln;

    if (conf->signer == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"mdm_enroll\" requires "
                           "\"mdm_enroll_signer\" (or \"mdm_enroll_signer "
                           "off\" for unsigned profiles)");
        return NGX_ERROR;
    }

    if (conf->signer->nelts == 0) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mdm_enroll_cleanup;
    cln->data = conf;

    files = conf->signer->elts;

    certs = ngx_http_mdm_enroll_read_certs(cf, &files[0],
                                           "mdm_enroll_signer");
    if (certs == NULL) {
        return NGX_ERROR;
    }

    /* the first certificate signs; any others travel as its chain */
    conf->sign_cert = sk_X509_shift(certs);
    conf->sign_chain = certs;

    if (conf->signer->nelts == 3) {
        certs = ngx_http_mdm_enroll_read_certs(cf, &files[2],
                                               "mdm_enroll_signer");
        if (certs == NULL) {
            return NGX_ERROR;
        }

        while (sk_X509_num(certs) > 0) {
            sk_X509_push(conf->sign_chain, sk_X509_shift(certs));
        }

        sk_X509_free(certs);
    }

    bio = BIO_new_file((char *) files[1].data, "r");
    conf->sign_key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                         : NULL;
    BIO_free(bio);

    if (conf->sign_key == NULL
        || X509_check_private_key(conf->sign_cert, conf->sign_key) != 1)
    {
        ERR_clear_error();
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"mdm_enroll_signer\" key "
                           "\"%V\" cannot be read or does not belong to "
                           "\"%V\"", &files[1], &files[0]);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_enroll_load_anchors(ngx_conf_t *cf,
    ngx_http_mdm_enroll_loc_conf_t *conf, mdm_enroll_profile_conf_t *p)
{
    int                   len;
    X509                 *x;
    u_char               *der, *q;
    ngx_str_t            *files;
    ngx_uint_t            i;
    ngx_array_t          *anchors;
    STACK_OF(X509)       *certs;
    mdm_enroll_anchor_t  *a;

    if (conf->anchor_files == NULL) {
        return NGX_OK;
    }

    anchors = ngx_array_create(cf->pool, 2, sizeof(mdm_enroll_anchor_t));
    if (anchors == NULL) {
        return NGX_ERROR;
    }

    files = conf->anchor_files->elts;

    for (i = 0; i < conf->anchor_files->nelts; i++) {
        if (ngx_conf_full_name(cf->cycle, &files[i], 1) != NGX_OK) {
            return NGX_ERROR;
        }

        certs = ngx_http_mdm_enroll_read_certs(cf, &files[i],
                                               "mdm_enroll_anchor");
        if (certs == NULL) {
            return NGX_ERROR;
        }

        while ((x = sk_X509_shift(certs)) != NULL) {
            len = i2d_X509(x, NULL);
            der = len > 0 ? ngx_pnalloc(cf->pool, len) : NULL;
            a = ngx_array_push(anchors);
            q = der;

            if (der == NULL || a == NULL || i2d_X509(x, &q) != len) {
                X509_free(x);
                sk_X509_pop_free(certs, X509_free);
                return NGX_ERROR;
            }

            a->der = der;
            a->len = len;
            a->name = NULL;
            X509_free(x);
        }

        sk_X509_free(certs);
    }

    p->anchors = anchors->elts;
    p->nanchors = anchors->nelts;

    return NGX_OK;
}


/* Every certificate of a PEM file; at least one, else an error at -t. */
static STACK_OF(X509) *
ngx_http_mdm_enroll_read_certs(ngx_conf_t *cf, ngx_str_t *file,
    const char *directive)
{
    BIO             *bio;
    X509            *x;
    STACK_OF(X509)  *certs;

    bio = BIO_new_file((char *) file->data, "r");
    certs = sk_X509_new_null();

    if (bio == NULL || certs == NULL) {
        BIO_free(bio);
        sk_X509_free(certs);
        ERR_clear_error();
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%s\" cannot read \"%V\"",
                           directive, file);
        return NULL;
    }

    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        sk_X509_push(certs, x);
    }

    BIO_free(bio);
    ERR_clear_error();

    if (sk_X509_num(certs) == 0) {
        sk_X509_free(certs);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%s\" \"%V\" holds no PEM "
                           "certificate", directive, file);
        return NULL;
    }

    return certs;
}


/* NUL-terminated copy, or NULL for an empty value (= key omitted). */
static const char *
ngx_http_mdm_enroll_cstr(ngx_conf_t *cf, ngx_str_t *s)
{
    if (s->len == 0) {
        return NULL;
    }

    return ngx_http_mdm_cstr(cf->pool, s);
}


static void
ngx_http_mdm_enroll_cleanup(void *data)
{
    ngx_http_mdm_enroll_loc_conf_t *conf = data;

    X509_free(conf->sign_cert);
    EVP_PKEY_free(conf->sign_key);
    sk_X509_pop_free(conf->sign_chain, X509_free);
}
