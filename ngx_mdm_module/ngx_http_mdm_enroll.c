/*
 * The mdm_enroll location: every GET is a fresh enrollment profile with its
 * own one-time SCEP challenge, signed, never cached. Access is the
 * location's business (auth_basic, auth_request, allow/deny); the user it
 * authenticated ($remote_user, or mdm_enroll_user) goes into the profile
 * and the challenge record, from which the SCEP CA copies it into the
 * issuance. A one-time link (?token= or /<token> below the location) is
 * spent first, in its own call: its slot is not the challenge's.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "enroll/mdm_machineinfo.h"
#include "mdm_utf8.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_enroll.h"


#define NGX_HTTP_MDM_ENROLL_CT  "application/x-apple-aspen-config"


typedef struct {
    ngx_http_mdm_enroll_facts_t   facts;
    char                          challenge[MDM_ENROLL_CHALLENGE_LEN];
    ngx_str_t                     token;
    ngx_uint_t                    kind;       /* NGX_HTTP_MDM_ENROLL_* */
} ngx_http_mdm_enroll_req_t;


static ngx_int_t ngx_http_mdm_enroll_get(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_enroll_token(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_mdm_enroll_spend_link(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_mdm_enroll_link_used(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_enroll_copy_reply(ngx_http_request_t *r,
    redisReply *v, ngx_str_t *to);
static ngx_int_t ngx_http_mdm_enroll_challenge_stored(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_enroll_send(ngx_http_request_t *r,
    ngx_http_mdm_enroll_req_t *er);
static ngx_int_t ngx_http_mdm_enroll_header(ngx_http_request_t *r,
    const char *name, const char *value);
static ngx_int_t ngx_http_mdm_enroll_add_str(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, ngx_str_t *s);


ngx_int_t
ngx_http_mdm_enroll_handler(ngx_http_request_t *r)
{
    ngx_http_mdm_enroll_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_module);

    /* an OTA location: GET is phase 1, POST phases 2 and 3 */
    if (elcf->ota_url.len && r->method == NGX_HTTP_POST) {
        return ngx_http_mdm_enroll_ota_handler(r);
    }

    if (ngx_http_mdm_enroll_ade_request(r)) {
        return ngx_http_mdm_enroll_ade_handler(r);
    }

    /* not HEAD: a link checker's HEAD would spend a one-time link */
    if (r->method != NGX_HTTP_GET) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    return ngx_http_mdm_enroll_get(r);
}


/*
 * Until the ADE branch brings ngx_http_mdm_enroll_ade.c, a POST (Setup
 * Assistant's MachineInfo) is a method this location does not serve.
 */
__attribute__((weak)) ngx_int_t
ngx_http_mdm_enroll_ade_handler(ngx_http_request_t *r)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm enroll: POST (ADE) is not served by this build");

    return NGX_HTTP_NOT_ALLOWED;
}


static ngx_int_t
ngx_http_mdm_enroll_get(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                        token;
    ngx_http_mdm_enroll_req_t       *er;
    ngx_http_mdm_enroll_loc_conf_t  *elcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_module);
    er = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_enroll_req_t));

    if (er == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* this module's own slot: ctx->data of the main module is the ADE
     * handler's when it calls ngx_http_mdm_enroll_send_profile() */
    ngx_http_set_ctx(r, er, ngx_http_mdm_enroll_module);

    if (ngx_http_mdm_enroll_user(r, &er->facts.user) != NGX_OK) {
        return NGX_HTTP_BAD_REQUEST;
    }

    rc = ngx_http_mdm_enroll_token(r, &token);

    if (rc == NGX_DECLINED) {
        if (elcf->token == NGX_HTTP_MDM_ENROLL_TOKEN_REQUIRED) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mdm enroll: no enrollment link token given");
            return NGX_HTTP_FORBIDDEN;
        }

        return ngx_http_mdm_enroll_send_profile(r, &er->facts);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    er->token = token;
    er->facts.link = token;

    return ngx_http_mdm_enroll_spend_link(r, &token);
}


/* enroll_link_use.lua in the link's own slot, before the challenge */
static ngx_int_t
ngx_http_mdm_enroll_spend_link(ngx_http_request_t *r, ngx_str_t *token)
{
    char                 key[MDM_KEY_MAX], *t;
    size_t               len;
    ngx_http_mdm_args_t  args;

    t = ngx_http_mdm_cstr(r->pool, token);

    if (t == NULL || ngx_http_mdm_args_init(r, &args, 5) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "enroll_link_use", 1) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = mdm_key_enroll_link(key, t);

    if (ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_enroll_link_used);
}


/*
 * The link token: ?token=<t>, or the path below the location (/<t>).
 * NGX_DECLINED when there is none; 403 for one that cannot be a token.
 */
static ngx_int_t
ngx_http_mdm_enroll_token(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_str_t                        path;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_mdm_enroll_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_module);

    if (elcf->token == NGX_HTTP_MDM_ENROLL_TOKEN_OFF) {
        return NGX_DECLINED;
    }

    if (ngx_http_arg(r, (u_char *) "token", 5, token) != NGX_OK) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        /* the path form only below a prefix location */
        if (clcf->exact_match || clcf->regex) {
            return NGX_DECLINED;
        }

        (void) ngx_http_mdm_location_path(r, &path);

        if (path.len <= 1 || path.data[0] != '/') {
            return NGX_DECLINED;
        }

        token->data = path.data + 1;
        token->len = path.len - 1;
    }

    if (!mdm_enroll_challenge_valid((char *) token->data, token->len)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: malformed enrollment link token refused");
        return NGX_HTTP_FORBIDDEN;
    }

    return NGX_OK;
}


/* enroll_link_use.lua: {'ok', user, tags} or {'err', why} */
static ngx_int_t
ngx_http_mdm_enroll_link_used(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_enroll_req_t  *er;

    er = ngx_http_get_module_ctx(r, ngx_http_mdm_enroll_module);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mdm enroll: unexpected reply from enroll_link_use");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_strcmp(reply->element[0]->str, "ok") != 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: enrollment link %V refused: %s",
                      &er->token, reply->element[1]->str);

        return ngx_strcmp(reply->element[1]->str, "unknown") == 0
               ? NGX_HTTP_FORBIDDEN : NGX_HTTP_MDM_GONE;
    }

    /* a user assigned to the link is the operator's word: it wins */
    if (reply->element[1]->len > 0
        && ngx_http_mdm_enroll_copy_reply(r, reply->element[1],
                                          &er->facts.user)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the link's tags travel with the challenge into the issuance record
     * and from there into the enrollment at its Authenticate */
    if (reply->elements > 2 && reply->element[2]->type == REDIS_REPLY_STRING
        && ngx_http_mdm_enroll_copy_reply(r, reply->element[2],
                                          &er->facts.tags)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_enroll_send_profile(r, &er->facts);
}


static ngx_int_t
ngx_http_mdm_enroll_copy_reply(ngx_http_request_t *r, redisReply *v,
    ngx_str_t *to)
{
    to->len = v->len;
    to->data = ngx_pnalloc(r->pool, v->len ? v->len : 1);

    if (to->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, v->str, v->len);

    return NGX_OK;
}


ngx_int_t
ngx_http_mdm_enroll_send_profile(ngx_http_request_t *r,
    ngx_http_mdm_enroll_facts_t *facts)
{
    ngx_http_mdm_enroll_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_module);

    return ngx_http_mdm_enroll_send_kind(r, facts,
                                         elcf->ota_url.len
                                         ? NGX_HTTP_MDM_ENROLL_OTA_SERVICE
                                         : NGX_HTTP_MDM_ENROLL_FULL);
}


ngx_int_t
ngx_http_mdm_enroll_send_kind(ngx_http_request_t *r,
    ngx_http_mdm_enroll_facts_t *facts, ngx_uint_t kind)
{
    char                             key[MDM_KEY_MAX];
    size_t                           len;
    time_t                           now;
    ngx_http_mdm_args_t              args;
    ngx_http_mdm_enroll_req_t       *er;
    ngx_http_mdm_enroll_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_module);

    if (elcf->profile == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm enroll: no enrollment profile in this location");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    er = ngx_http_get_module_ctx(r, ngx_http_mdm_enroll_module);

    /* called by the ADE handler: the facts are its own */
    if (er == NULL) {
        er = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_enroll_req_t));
        if (er == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_set_ctx(r, er, ngx_http_mdm_enroll_module);
    }

    if (&er->facts != facts) {
        er->facts = *facts;
    }

    er->kind = kind;

    if (mdm_enroll_challenge_new(er->challenge) != 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm enroll: no randomness for a challenge");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_time();
    len = kind == NGX_HTTP_MDM_ENROLL_OTA_SERVICE
          ? mdm_key_enroll_ota(key, er->challenge)
          : mdm_key_scep_challenge(key, er->challenge);

    if (ngx_http_mdm_args_init(r, &args, 3 + 1 + 8) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "enroll_challenge", 1) != NGX_OK
        || ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, now) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, now + elcf->challenge_ttl)
           != NGX_OK
        || ngx_http_mdm_enroll_add_str(r, &args, &er->facts.user) != NGX_OK
        || ngx_http_mdm_enroll_add_str(r, &args, &er->facts.link) != NGX_OK
        || ngx_http_mdm_enroll_add_str(r, &args, &er->facts.udid) != NGX_OK
        || ngx_http_mdm_enroll_add_str(r, &args, &er->facts.serial) != NGX_OK
        || ngx_http_mdm_enroll_add_str(r, &args, &er->facts.renew) != NGX_OK
        || ngx_http_mdm_enroll_add_str(r, &args, &er->facts.tags) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_enroll_challenge_stored);
}


static ngx_int_t
ngx_http_mdm_enroll_add_str(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    ngx_str_t *s)
{
    ngx_http_mdm_args_add(args, s->len ? (const char *) s->data : "", s->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_enroll_challenge_stored(ngx_http_request_t *r,
    redisReply *reply)
{
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        /* 128 random bits met an existing challenge: the generator is
         * broken, not the request */
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm enroll: fresh challenge exists already");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_enroll_send(r, ngx_http_get_module_ctx(r,
                                               ngx_http_mdm_enroll_module));
}


/* Builds and signs the profile; about one RSA signature of CPU. */
static ngx_int_t
ngx_http_mdm_enroll_send(ngx_http_request_t *r, ngx_http_mdm_enroll_req_t *er)
{
    char                            *xml, *user;
    size_t                           xml_len, der_len;
    ngx_int_t                        rc;
    mdm_err_t                        err;
    unsigned char                   *der;
    mdm_enroll_profile_req_t         req;
    ngx_http_mdm_enroll_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_module);

    user = NULL;

    if (er->facts.user.len) {
        user = ngx_http_mdm_cstr(r->pool, &er->facts.user);
        if (user == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    req.challenge = er->challenge;
    req.user = user;
    req.scep_only = er->kind == NGX_HTTP_MDM_ENROLL_SCEP_ONLY;
    req.serial = NULL;

    /* a device whose serial is known (ADE) can be offered ACME */
    if (er->facts.serial.len) {
        req.serial = ngx_http_mdm_cstr(r->pool, &er->facts.serial);
        if (req.serial == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = er->kind == NGX_HTTP_MDM_ENROLL_OTA_SERVICE
         ? mdm_enroll_ota_profile_build(elcf->profile,
                                        (char *) elcf->ota_url.data,
                                        er->challenge, &xml, &xml_len, &err)
         : mdm_enroll_profile_build(elcf->profile, &req, &xml, &xml_len,
                                    &err);

    if (rc != MDM_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mdm enroll: profile not built: %s", err.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mdm_enroll_header(r, "Cache-Control", "no-store") != NGX_OK
        || ngx_http_mdm_enroll_header(r, "Content-Disposition",
                                      "attachment; "
                                      "filename=\"enroll.mobileconfig\"")
           != NGX_OK)
    {
        free(xml);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (elcf->sign_cert == NULL) {
        rc = ngx_http_mdm_send(r, NGX_HTTP_OK, NGX_HTTP_MDM_ENROLL_CT,
                               (u_char *) xml, xml_len);
        free(xml);
        return rc;
    }

    rc = mdm_enroll_profile_sign((unsigned char *) xml, xml_len,
                                 elcf->sign_cert, elcf->sign_key,
                                 elcf->sign_chain, &der, &der_len, &err);
    free(xml);

    if (rc != MDM_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mdm enroll: profile not signed: %s", err.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm enroll: profile served%s%V", user ? " for " : "",
                  &er->facts.user);

    rc = ngx_http_mdm_send(r, NGX_HTTP_OK, NGX_HTTP_MDM_ENROLL_CT, der,
                           der_len);
    OPENSSL_free(der);

    return rc;
}


static ngx_int_t
ngx_http_mdm_enroll_header(ngx_http_request_t *r, const char *name,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


/*
 * The user a profile is for. It goes into a certificate subject and a
 * Redis hash, so it must be printable UTF-8 and at most X.520's 64 bytes;
 * anything else is a refusal, never a silently cut name.
 */
ngx_int_t
ngx_http_mdm_enroll_user(ngx_http_request_t *r, ngx_str_t *user)
{
    char                            *s;
    size_t                           i;
    ngx_http_mdm_enroll_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_module);

    if (ngx_http_complex_value(r, elcf->user, user) != NGX_OK) {
        return NGX_ERROR;
    }

    if (user->len == 0) {
        return NGX_OK;
    }

    for (i = 0; i < user->len; i++) {
        if (user->data[i] < 0x20 || user->data[i] == 0x7f) {
            break;
        }
    }

    s = ngx_http_mdm_cstr(r->pool, user);

    if (s == NULL || i < user->len || user->len > MDM_ENROLL_USER_MAX
        || !mdm_utf8_valid(s))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: user name refused: not printable "
                      "UTF-8 or longer than %d bytes", MDM_ENROLL_USER_MAX);
        ngx_str_null(user);
        return NGX_ERROR;
    }

    return NGX_OK;
}


#define NGX_HTTP_MDM_SIGNED_CT  "application/pkcs7-signature"


ngx_int_t
ngx_http_mdm_enroll_signed_intake(ngx_http_request_t *r, const char *what,
    ngx_http_client_body_handler_pt body_handler)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *ct;

    ct = r->headers_in.content_type;

    if (ct == NULL || ct->value.len < sizeof(NGX_HTTP_MDM_SIGNED_CT) - 1
        || ngx_strncasecmp(ct->value.data, (u_char *) NGX_HTTP_MDM_SIGNED_CT,
                           sizeof(NGX_HTTP_MDM_SIGNED_CT) - 1) != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: %s POST without Content-Type "
                      NGX_HTTP_MDM_SIGNED_CT " refused", what);
        rc = ngx_http_discard_request_body(r);
        return rc == NGX_OK ? NGX_HTTP_BAD_REQUEST : rc;
    }

    /* refused before it is read: a signed request is a few kilobytes */
    if (r->headers_in.content_length_n > MDM_MACHINEINFO_MAX) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: %s of %O bytes refused", what,
                      r->headers_in.content_length_n);
        rc = ngx_http_discard_request_body(r);
        return rc == NGX_OK ? NGX_HTTP_BAD_REQUEST : rc;
    }

    return ngx_http_mdm_read_body(r, body_handler);
}


void
ngx_http_mdm_enroll_signed_body(ngx_http_request_t *r, const char *what,
    ngx_http_mdm_enroll_signed_pt process)
{
    ngx_int_t  rc;
    ngx_str_t  body;

    rc = ngx_http_mdm_body(r, &body);

    /* a chunked body had no Content-Length to be refused by beforehand;
     * one nginx wrote to a temp file is over client_body_buffer_size */
    if (rc == NGX_DECLINED
        || (rc == NGX_OK && body.len > MDM_MACHINEINFO_MAX))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm enroll: %s too large, refused", what);
        ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
        return;
    }

    ngx_http_finalize_request(r, rc == NGX_OK
                                 ? process(r, &body)
                                 : NGX_HTTP_INTERNAL_SERVER_ERROR);
}
