/*
 * ADE enrollment on the mdm_enroll location (services.md §3.5): Setup
 * Assistant POSTs its CMS-signed MachineInfo (application/pkcs7-signature),
 * or a web view GETs the enrollment URL with the same bytes, std base64, in
 * x-apple-aspen-deviceinfo. The signature must chain to Apple's device CA
 * (mdm_enroll_ade_anchor). Then, in this order, without Redis:
 *
 *   OS below the family's mdm_enroll_ade_min_os and the device can update
 *     -> 403 com.apple.softwareupdate.required
 *   a watch without PAIRING_TOKEN (mdm_enroll_ade_watch_pairing on)
 *     -> 403 com.apple.watch.pairing.token.missing
 *   Platform SSO configured and the device can do it (or its Bearer
 *     token was not vouched for by mdm_enroll_ade_psso_user)
 *     -> 403 com.apple.psso.required
 *
 * and then one script call in the serial's slot (ade_record.lua) that
 * refuses an unregistered serial when mdm_enroll_ade_known_serials is on
 * (403 com.apple.unrecognized.device) or records the facts; the profile
 * follows through the enroll location's own path, its challenge carrying
 * the UDID and serial. A MachineInfo that does not verify is a 400 and a
 * log line, and nothing is stored.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "mdm_uuid.h"
#include "enroll/mdm_ade_error.h"
#include "enroll/mdm_machineinfo.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_enroll.h"


#define NGX_HTTP_MDM_ADE_HEADER   "x-apple-aspen-deviceinfo"
#define NGX_HTTP_MDM_ADE_FAMILY   32


typedef struct {
    ngx_str_t                   family;     /* empty: every family */
    char                       *version;
    char                       *build;      /* NULL: none */
} ngx_http_mdm_ade_min_os_t;


typedef struct {
    ngx_str_t                   anchor;
    X509_STORE                 *anchors;
    ngx_array_t                *min_os;     /* ngx_http_mdm_ade_min_os_t */
    ngx_flag_t                  known_serials;
    ngx_flag_t                  watch_pairing;
    ngx_str_t                  *psso;       /* AuthURL, ProfileURL, Manifest */
    ngx_http_complex_value_t   *psso_user;
    time_t                      facts_ttl;
} ngx_http_mdm_ade_loc_conf_t;


typedef struct {
    mdm_machineinfo_t           mi;
    ngx_http_mdm_enroll_facts_t facts;
    mdm_ade_fmt_e               fmt;
} ngx_http_mdm_ade_req_t;


static void ngx_http_mdm_ade_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_ade_process(ngx_http_request_t *r,
    ngx_str_t *der);
static ngx_int_t ngx_http_mdm_ade_judge(ngx_http_request_t *r,
    ngx_http_mdm_ade_req_t *ar);
static ngx_int_t ngx_http_mdm_ade_record(ngx_http_request_t *r,
    ngx_http_mdm_ade_req_t *ar);
static ngx_int_t ngx_http_mdm_ade_recorded(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_ade_refuse(ngx_http_request_t *r,
    ngx_http_mdm_ade_req_t *ar, mdm_ade_error_t *e);
static ngx_table_elt_t *ngx_http_mdm_ade_find_header(ngx_http_request_t *r);
static void *ngx_http_mdm_ade_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mdm_ade_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mdm_ade_set_min_os(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mdm_ade_set_psso(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_mdm_ade_cleanup(void *data);


#define NGX_HTTP_MDM_ADE_ANY \
    NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF

static ngx_command_t  ngx_http_mdm_ade_commands[] = {

    { ngx_string("mdm_enroll_ade_anchor"),
      NGX_HTTP_MDM_ADE_ANY|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_ade_loc_conf_t, anchor),
      NULL },

    { ngx_string("mdm_enroll_ade_min_os"),
      NGX_HTTP_MDM_ADE_ANY|NGX_CONF_TAKE123,
      ngx_http_mdm_ade_set_min_os,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mdm_enroll_ade_known_serials"),
      NGX_HTTP_MDM_ADE_ANY|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_ade_loc_conf_t, known_serials),
      NULL },

    { ngx_string("mdm_enroll_ade_watch_pairing"),
      NGX_HTTP_MDM_ADE_ANY|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_ade_loc_conf_t, watch_pairing),
      NULL },

    { ngx_string("mdm_enroll_ade_psso"),
      NGX_HTTP_MDM_ADE_ANY|NGX_CONF_TAKE3,
      ngx_http_mdm_ade_set_psso,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mdm_enroll_ade_psso_user"),
      NGX_HTTP_MDM_ADE_ANY|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_ade_loc_conf_t, psso_user),
      NULL },

    { ngx_string("mdm_enroll_ade_facts_ttl"),
      NGX_HTTP_MDM_ADE_ANY|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_ade_loc_conf_t, facts_ttl),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mdm_enroll_ade_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mdm_ade_create_loc_conf,      /* create location configuration */
    ngx_http_mdm_ade_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_mdm_enroll_ade_module = {
    NGX_MODULE_V1,
    &ngx_http_mdm_enroll_ade_module_ctx,   /* module context */
    ngx_http_mdm_ade_commands,             /* module directives */
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


X509_STORE *
ngx_http_mdm_enroll_ade_anchors(ngx_http_request_t *r)
{
    ngx_http_mdm_ade_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_ade_module);

    return alcf->anchors;
}


ngx_int_t
ngx_http_mdm_enroll_ade_request(ngx_http_request_t *r)
{
    return r->method == NGX_HTTP_POST
           || (r->method == NGX_HTTP_GET
               && ngx_http_mdm_ade_find_header(r) != NULL);
}


ngx_int_t
ngx_http_mdm_enroll_ade_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_str_t                     b64, der;
    ngx_table_elt_t              *h;
    ngx_http_mdm_ade_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_ade_module);

    if (alcf->anchors == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: ADE request, but no "
                      "mdm_enroll_ade_anchor here");
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (r->method == NGX_HTTP_GET) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        h = ngx_http_mdm_ade_find_header(r);
        b64 = h->value;

        if (b64.len > ngx_base64_encoded_length(MDM_MACHINEINFO_MAX)) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mdm enroll: ADE " NGX_HTTP_MDM_ADE_HEADER
                          " of %uz bytes refused", b64.len);
            return NGX_HTTP_BAD_REQUEST;
        }

        der.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(b64.len)
                                        + 1);
        if (der.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_decode_base64(&der, &b64) != NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mdm enroll: ADE " NGX_HTTP_MDM_ADE_HEADER
                          " is not base64");
            return NGX_HTTP_BAD_REQUEST;
        }

        return ngx_http_mdm_ade_process(r, &der);
    }

    return ngx_http_mdm_enroll_signed_intake(r, "ADE MachineInfo",
                                             ngx_http_mdm_ade_body);
}


static void
ngx_http_mdm_ade_body(ngx_http_request_t *r)
{
    ngx_http_mdm_enroll_signed_body(r, "ADE MachineInfo",
                                    ngx_http_mdm_ade_process);
}


static ngx_table_elt_t *
ngx_http_mdm_ade_find_header(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof(NGX_HTTP_MDM_ADE_HEADER) - 1
            && ngx_strncasecmp(h[i].key.data,
                               (u_char *) NGX_HTTP_MDM_ADE_HEADER,
                               h[i].key.len) == 0)
        {
            return &h[i];
        }
    }
}


static ngx_int_t
ngx_http_mdm_ade_str(ngx_http_request_t *r, ngx_str_t *dst, const char *s)
{
    dst->len = ngx_strlen(s);
    dst->data = ngx_pnalloc(r->pool, dst->len + 1);

    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, s, dst->len + 1);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_ade_process(ngx_http_request_t *r, ngx_str_t *der)
{
    mdm_err_t                err;
    ngx_table_elt_t         *accept, *ct;
    ngx_http_mdm_ctx_t      *ctx;
    ngx_http_mdm_ade_req_t  *ar;
    ngx_http_mdm_ade_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_ade_module);

    ctx = ngx_http_mdm_get_ctx(r);
    ar = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_ade_req_t));

    if (ctx == NULL || ar == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = ar;

    if (mdm_machineinfo_parse(der->data, der->len, alcf->anchors, &ar->mi, &err)
        != MDM_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: ADE MachineInfo refused: %s", err.msg);
        return NGX_HTTP_BAD_REQUEST;
    }

    accept = r->headers_in.accept;
    ct = r->headers_in.content_type;
    ar->fmt = mdm_ade_error_format(
        accept ? (char *) accept->value.data : NULL,
        accept ? accept->value.len : 0,
        ct ? (char *) ct->value.data : NULL, ct ? ct->value.len : 0);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm enroll: ADE request of serial %s UDID %s "
                  "(%s, OS %s, build %s)", ar->mi.serial, ar->mi.udid,
                  ar->mi.product, ar->mi.os_version[0]
                  ? ar->mi.os_version : "?", ar->mi.version);

    if (ngx_http_mdm_enroll_user(r, &ar->facts.user) != NGX_OK) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_mdm_ade_str(r, &ar->facts.udid, ar->mi.udid) != NGX_OK
        || ngx_http_mdm_ade_str(r, &ar->facts.serial, ar->mi.serial)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_ade_judge(r, ar);
}


/* the min OS entry for the device's product family, or the catch-all */
static ngx_http_mdm_ade_min_os_t *
ngx_http_mdm_ade_min_os(ngx_http_mdm_ade_loc_conf_t *alcf,
    const char *family, size_t flen)
{
    ngx_uint_t                  i;
    ngx_http_mdm_ade_min_os_t  *m, *any;

    if (alcf->min_os == NULL) {
        return NULL;
    }

    m = alcf->min_os->elts;
    any = NULL;

    for (i = 0; i < alcf->min_os->nelts; i++) {
        if (m[i].family.len == 0) {
            any = &m[i];

        } else if (m[i].family.len == flen
                   && ngx_strncmp(m[i].family.data, family, flen) == 0)
        {
            return &m[i];
        }
    }

    return any;
}


static ngx_int_t
ngx_http_mdm_ade_judge(ngx_http_request_t *r, ngx_http_mdm_ade_req_t *ar)
{
    char                          family[NGX_HTTP_MDM_ADE_FAMILY];
    char                          token[MDM_UUID_LEN];
    size_t                        flen;
    ngx_str_t                     user, *psso;
    mdm_ade_error_t               e;
    ngx_table_elt_t              *auth;
    ngx_http_mdm_ade_min_os_t    *min;
    ngx_http_mdm_ade_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_ade_module);
    ngx_memzero(&e, sizeof(e));

    flen = mdm_machineinfo_family(ar->mi.product, family, sizeof(family));
    min = ngx_http_mdm_ade_min_os(alcf, family, flen);

    /* a device that cannot be made to update is let through: refusing it
     * would only stop Setup Assistant */
    if (min != NULL && ar->mi.can_request_software_update
        && ar->mi.os_version[0] != '\0'
        && mdm_machineinfo_version_cmp(ar->mi.os_version, min->version) < 0)
    {
        e.code = MDM_ADE_ERR_SOFTWARE_UPDATE;
        e.os_version = min->version;
        e.build_version = min->build;
        e.description = "the OS is older than this server's minimum";
        return ngx_http_mdm_ade_refuse(r, ar, &e);
    }

    if (alcf->watch_pairing && ngx_strcmp(family, "Watch") == 0
        && !ar->mi.has_pairing_token)
    {
        if (mdm_uuid_generate(token) != 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        e.code = MDM_ADE_ERR_PAIRING_TOKEN;
        e.security_token = token;
        e.description = "a watch enrolls with its phone's pairing token";
        return ngx_http_mdm_ade_refuse(r, ar, &e);
    }

    if (alcf->psso != NULL) {
        psso = alcf->psso;
        auth = r->headers_in.authorization;

        e.code = MDM_ADE_ERR_PSSO;
        e.auth_url = (char *) psso[0].data;
        e.profile_url = (char *) psso[1].data;
        e.manifest_url = (char *) psso[2].data;
        e.description = "Platform SSO registration is required";

        if (ar->mi.can_request_psso_config) {
            return ngx_http_mdm_ade_refuse(r, ar, &e);
        }

        if (auth != NULL && auth->value.len > 7
            && ngx_strncasecmp(auth->value.data, (u_char *) "Bearer ", 7)
               == 0)
        {
            /* the token is the operator's validator's to judge (an
             * auth_request subrequest that sets the variable): a token
             * nobody vouched for restarts the Platform SSO flow */
            if (alcf->psso_user == NULL
                || ngx_http_complex_value(r, alcf->psso_user, &user)
                   != NGX_OK
                || user.len == 0 || user.len > MDM_ENROLL_USER_MAX)
            {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "mdm enroll: ADE Bearer token of serial %s "
                              "not accepted", ar->mi.serial);
                return ngx_http_mdm_ade_refuse(r, ar, &e);
            }

            ar->facts.user = user;
        }
    }

    return ngx_http_mdm_ade_record(r, ar);
}


static ngx_int_t
ngx_http_mdm_ade_refuse(ngx_http_request_t *r, ngx_http_mdm_ade_req_t *ar,
    mdm_ade_error_t *e)
{
    char       *doc;
    size_t      len;
    ngx_int_t   rc;

    if (mdm_ade_error_build(e, ar->fmt, &doc, &len) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mdm enroll: ADE error document not built");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm enroll: ADE request of serial %s answered 403 %s",
                  ar->mi.serial, mdm_ade_error_code(e->code));

    rc = ngx_http_mdm_send(r, NGX_HTTP_FORBIDDEN,
                           ar->fmt == MDM_ADE_FMT_PLIST ? MDM_ADE_CT_PLIST
                                                        : MDM_ADE_CT_JSON,
                           (u_char *) doc, len);
    free(doc);

    return rc;
}


static void
ngx_http_mdm_ade_add_fact(ngx_http_mdm_args_t *args, const char *field,
    const char *value)
{
    ngx_http_mdm_args_add_cstr(args, field);
    ngx_http_mdm_args_add_cstr(args, value);
}


static ngx_int_t
ngx_http_mdm_ade_record(ngx_http_request_t *r, ngx_http_mdm_ade_req_t *ar)
{
    char                          dev[MDM_KEY_MAX], known[MDM_KEY_MAX];
    char                         *user;
    size_t                        dlen, klen;
    ngx_http_mdm_args_t           args;
    mdm_machineinfo_t            *mi;
    ngx_http_mdm_ade_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_ade_module);
    mi = &ar->mi;

    user = ngx_http_mdm_cstr(r->pool, &ar->facts.user);
    if (user == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dlen = mdm_key_enroll_dev(dev, mi->serial);
    klen = mdm_key_enroll_known(known, mi->serial);

    if (ngx_http_mdm_args_init(r, &args, 3 + 2 + 3 + 2 * 15) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "ade_record", 2) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, dev, dlen) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, known, klen) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, alcf->known_serials ? "1" : "0");

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, alcf->facts_ttl) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_ade_add_fact(&args, "udid", mi->udid);
    ngx_http_mdm_ade_add_fact(&args, "serial", mi->serial);
    ngx_http_mdm_ade_add_fact(&args, "product", mi->product);
    ngx_http_mdm_ade_add_fact(&args, "version", mi->version);
    ngx_http_mdm_ade_add_fact(&args, "os_version", mi->os_version);
    ngx_http_mdm_ade_add_fact(&args, "imei", mi->imei);
    ngx_http_mdm_ade_add_fact(&args, "meid", mi->meid);
    ngx_http_mdm_ade_add_fact(&args, "language", mi->language);
    ngx_http_mdm_ade_add_fact(&args, "software_update_device_id",
                              mi->software_update_device_id);
    ngx_http_mdm_ade_add_fact(&args, "pairing_token",
                              mi->has_pairing_token ? "1" : "0");
    ngx_http_mdm_ade_add_fact(&args, "can_request_software_update",
                              mi->can_request_software_update ? "1" : "0");
    ngx_http_mdm_ade_add_fact(&args, "can_request_psso_config",
                              mi->can_request_psso_config ? "1" : "0");
    ngx_http_mdm_ade_add_fact(&args, "mandatory_software_update_required",
                              mi->mandatory_software_update_required
                              ? "1" : "0");
    ngx_http_mdm_ade_add_fact(&args, "user", user);
    ngx_http_mdm_ade_add_fact(&args, "via",
                              r->method == NGX_HTTP_GET ? "webview" : "post");

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_ade_recorded);
}


static ngx_int_t
ngx_http_mdm_ade_recorded(ngx_http_request_t *r, redisReply *reply)
{
    mdm_ade_error_t          e;
    ngx_http_mdm_ctx_t      *ctx;
    ngx_http_mdm_ade_req_t  *ar;

    ctx = ngx_http_mdm_get_ctx(r);
    ar = ctx->data;

    if (reply->type != REDIS_REPLY_STRING
        && reply->type != REDIS_REPLY_STATUS)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mdm enroll: unexpected reply from ade_record");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_strcmp(reply->str, "unknown") == 0) {
        ngx_memzero(&e, sizeof(e));
        e.code = MDM_ADE_ERR_UNRECOGNIZED;
        e.description = "serial number not registered with this server";
        return ngx_http_mdm_ade_refuse(r, ar, &e);
    }

    return ngx_http_mdm_enroll_send_profile(r, &ar->facts);
}


static void *
ngx_http_mdm_ade_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mdm_ade_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mdm_ade_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->min_os = NGX_CONF_UNSET_PTR;
    conf->known_serials = NGX_CONF_UNSET;
    conf->watch_pairing = NGX_CONF_UNSET;
    conf->psso = NGX_CONF_UNSET_PTR;
    conf->facts_ttl = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_mdm_ade_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mdm_ade_loc_conf_t  *prev = parent;
    ngx_http_mdm_ade_loc_conf_t  *conf = child;

    char                            *file;
    mdm_err_t                        err;
    ngx_pool_cleanup_t              *cln;
    ngx_http_mdm_enroll_loc_conf_t  *elcf;

    ngx_conf_merge_str_value(conf->anchor, prev->anchor, "");
    ngx_conf_merge_ptr_value(conf->min_os, prev->min_os, NULL);
    ngx_conf_merge_value(conf->known_serials, prev->known_serials, 0);
    ngx_conf_merge_value(conf->watch_pairing, prev->watch_pairing, 0);
    ngx_conf_merge_ptr_value(conf->psso, prev->psso, NULL);
    ngx_conf_merge_sec_value(conf->facts_ttl, prev->facts_ttl, 30 * 86400);

    if (conf->psso_user == NULL) {
        conf->psso_user = prev->psso_user;
    }

    /* the enroll module's settings of this location are merged already */
    elcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_mdm_enroll_module);

    if (conf->anchor.len == 0) {
        if (elcf->enabled && elcf->ota_url.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mdm_enroll_ota\" requires "
                               "\"mdm_enroll_ade_anchor\" (the Apple device "
                               "CA that signs phase 2)");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    /* one store per level that names the file */
    if (prev->anchors != NULL && prev->anchor.len == conf->anchor.len
        && ngx_strncmp(prev->anchor.data, conf->anchor.data,
                       conf->anchor.len) == 0)
    {
        conf->anchors = prev->anchors;
        return NGX_CONF_OK;
    }

    if (ngx_conf_full_name(cf->cycle, &conf->anchor, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    file = (char *) conf->anchor.data;   /* NUL-terminated by full_name */

    conf->anchors = mdm_machineinfo_anchors_load(file, &err);
    if (conf->anchors == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mdm_enroll_ade_anchor: %s",
                           err.msg);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        X509_STORE_free(conf->anchors);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_mdm_ade_cleanup;
    cln->data = conf->anchors;

    return NGX_CONF_OK;
}


static void
ngx_http_mdm_ade_cleanup(void *data)
{
    X509_STORE_free(data);
}


/* mdm_enroll_ade_min_os [family] version [build]; repeatable */
static char *
ngx_http_mdm_ade_set_min_os(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mdm_ade_loc_conf_t  *alcf = conf;

    ngx_str_t                  *value, *ver, *build;
    ngx_uint_t                  i, n;
    ngx_http_mdm_ade_min_os_t  *m;

    value = cf->args->elts;
    n = cf->args->nelts - 1;

    if (alcf->min_os == NGX_CONF_UNSET_PTR) {
        alcf->min_os = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_mdm_ade_min_os_t));
        if (alcf->min_os == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    m = ngx_array_push(alcf->min_os);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(m, sizeof(*m));

    /* a family starts with a letter, a version with a digit */
    if (value[1].data[0] >= '0' && value[1].data[0] <= '9') {
        if (n == 3) {
            return "takes [family] version [build], e.g. \"iPhone 18.2\"";
        }

        ver = &value[1];
        build = n == 2 ? &value[2] : NULL;

    } else {
        m->family = value[1];
        ver = n >= 2 ? &value[2] : NULL;
        build = n == 3 ? &value[3] : NULL;
    }

    if (ver == NULL || ver->len == 0 || ver->data[0] < '0'
        || ver->data[0] > '9' || m->family.len >= NGX_HTTP_MDM_ADE_FAMILY)
    {
        return "takes [family] version [build], e.g. \"iPhone 18.2\"";
    }

    for (i = 0; i < m->family.len; i++) {
        if (!((m->family.data[i] >= 'A' && m->family.data[i] <= 'Z')
              || (m->family.data[i] >= 'a' && m->family.data[i] <= 'z')))
        {
            return "family must be the letters of PRODUCT, e.g. \"iPhone\", "
                   "\"iPad\", \"Mac\", \"Watch\", \"AppleTV\"";
        }
    }

    m->version = (char *) ver->data;        /* args are NUL-terminated */
    m->build = build ? (char *) build->data : NULL;

    return NGX_CONF_OK;
}


/* mdm_enroll_ade_psso AuthURL ProfileURL ManifestURL; */
static char *
ngx_http_mdm_ade_set_psso(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mdm_ade_loc_conf_t  *alcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (alcf->psso != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i <= 3; i++) {
        if (value[i].len < 9
            || ngx_strncmp(value[i].data, "https://", 8) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is not an https:// URL", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    /* AuthURL, ProfileURL, Package ManifestURL (the words themselves are
     * NUL-terminated and live in cf->pool; the args array is reused) */
    alcf->psso = ngx_palloc(cf->pool, 3 * sizeof(ngx_str_t));
    if (alcf->psso == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(alcf->psso, &value[1], 3 * sizeof(ngx_str_t));

    return NGX_CONF_OK;
}
