/*
 * Check-in messages (protocol.md §2): decoded by libmdm, stored by
 * checkin.lua in one atomic step, answered as the message type requires.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_checkin.h"
#include "mdm_event.h"
#include "mdm_keys.h"
#include "mdm_response.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_metrics.h"


#define NGX_HTTP_MDM_CHECKIN_KEYS   10
#define NGX_HTTP_MDM_CHECKIN_ARGS   (3 + NGX_HTTP_MDM_CHECKIN_KEYS + 10 + 40)


static void ngx_http_mdm_checkin_cleanup(void *data);
static ngx_int_t ngx_http_mdm_checkin_keys(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, mdm_checkin_t *ci, const char *sha);
static ngx_int_t ngx_http_mdm_checkin_argv(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, mdm_checkin_t *ci, ngx_str_t *body,
    const char *sha);
static ngx_int_t ngx_http_mdm_checkin_raw(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, mdm_checkin_t *ci);
static void ngx_http_mdm_checkin_fields(ngx_http_mdm_args_t *args,
    mdm_checkin_t *ci);
static ngx_int_t ngx_http_mdm_checkin_event(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, mdm_checkin_t *ci, ngx_str_t *body);
static ngx_int_t ngx_http_mdm_checkin_reply(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_checkin_answer(ngx_http_request_t *r,
    mdm_checkin_t *ci, redisReply *payload);
static ngx_int_t ngx_http_mdm_send_plist(ngx_http_request_t *r,
    int rc, mdm_buf_t *plist);
static ngx_keyval_t *ngx_http_mdm_token_for(ngx_http_request_t *r,
    const char *service);


/*
 * The body as a check-in: its enrollment and MessageType in the context
 * (for $mdm_enrollment_id, limit_req and the per-type bound), nothing
 * stored yet.
 */
ngx_int_t
ngx_http_mdm_checkin_decode(ngx_http_request_t *r, ngx_str_t *body)
{
    mdm_err_t            err;
    mdm_checkin_t       *ci;
    ngx_pool_cleanup_t  *cln;
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_mdm_get_ctx(r);
    ci = ngx_pcalloc(r->pool, sizeof(mdm_checkin_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || ci == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* nginx has already held the body to client_max_body_size */
    if (mdm_checkin_decode((char *) body->data, body->len, body->len, ci,
                           &err)
        != MDM_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm checkin refused: %s", err.msg);
        return NGX_HTTP_BAD_REQUEST;
    }

    cln->handler = ngx_http_mdm_checkin_cleanup;
    cln->data = ci;
    ctx->data = ci;

    ctx->enrollment_id.data = (u_char *) ci->enrollment.id;
    ctx->enrollment_id.len = ngx_strlen(ci->enrollment.id);
    ctx->message_type.data = (u_char *) ci->message_type;
    ctx->message_type.len = ngx_strlen(ci->message_type);

    return ngx_http_mdm_limits_check(r, 1, ci->type, ci->message_type,
                                     body->len);
}


/* The decoded check-in stored by checkin.lua, then answered. */
ngx_int_t
ngx_http_mdm_checkin(ngx_http_request_t *r, ngx_str_t *body,
    const char *sha)
{
    mdm_checkin_t        *ci;
    ngx_http_mdm_ctx_t   *ctx;
    ngx_http_mdm_args_t   args;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    ci = ctx->data;

    switch (ci->type) {

    case MDM_CHECKIN_DECLARATIVE_MANAGEMENT:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm checkin: DeclarativeManagement from \"%V\" is "
                      "not implemented", &ctx->enrollment_id);
        return NGX_HTTP_NOT_IMPLEMENTED;

    case MDM_CHECKIN_GET_TOKEN:
        if (ngx_http_mdm_token_for(r, ci->token_service_type) == NULL) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mdm checkin: GetToken from \"%V\" for unknown "
                          "TokenServiceType \"%s\"", &ctx->enrollment_id,
                          ci->token_service_type);
            return NGX_HTTP_BAD_REQUEST;
        }
        break;

    default:
        break;
    }

    if (ngx_http_mdm_args_init(r, &args, NGX_HTTP_MDM_CHECKIN_ARGS)
            != NGX_OK
        || ngx_http_mdm_checkin_argv(r, &args, ci, body, sha) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_checkin_reply);
}


static void
ngx_http_mdm_checkin_cleanup(void *data)
{
    mdm_checkin_free(data);
}


static ngx_int_t
ngx_http_mdm_checkin_argv(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    mdm_checkin_t *ci, ngx_str_t *body, const char *sha)
{
    ngx_http_mdm_loc_conf_t   *mlcf;
    ngx_http_mdm_main_conf_t  *mcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);

    if (ngx_http_mdm_args_script(r, args, "checkin",
                                 NGX_HTTP_MDM_CHECKIN_KEYS) != NGX_OK
        || ngx_http_mdm_checkin_keys(r, args, ci, sha) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add_cstr(args, ci->message_type);
    ngx_http_mdm_args_add_cstr(args, ci->enrollment.id);
    ngx_http_mdm_args_add_cstr(args, ci->enrollment.parent);
    ngx_http_mdm_args_add_cstr(args,
                           mdm_enrollment_type_name(ci->enrollment.type));
    ngx_http_mdm_args_add_cstr(args, sha);
    ngx_http_mdm_args_add_cstr(args,
                          mlcf->cert_binding == NGX_HTTP_MDM_BIND_RETRO
                          ? "retro" : "on");

    if (ngx_http_mdm_args_add_int(r, args, ngx_time()) != NGX_OK
        || ngx_http_mdm_checkin_event(r, args, ci, body) != NGX_OK
        || ngx_http_mdm_args_add_int(r, args, mcf->events_maxlen) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_mdm_checkin_raw(r, args, ci) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mdm_checkin_fields(args, ci);

    return NGX_OK;
}


/*
 * Authenticate's plist is kept (unknown keys included) as a binary plist:
 * the same plist in about half the bytes of the XML, for every enrolled
 * device. The event carries the body as received. Other messages store no
 * raw body.
 */
static ngx_int_t
ngx_http_mdm_checkin_raw(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    mdm_checkin_t *ci)
{
    char       *bin;
    size_t      len;
    ngx_int_t   rc;

    if (ci->type != MDM_CHECKIN_AUTHENTICATE) {
        ngx_http_mdm_args_add(args, "", 0);
        return NGX_OK;
    }

    if (mdm_plist_to_binary(ci->root, &bin, &len) != 0) {
        return NGX_ERROR;
    }

    rc = ngx_http_mdm_args_add_copy(r, args, bin, len);
    free(bin);

    return rc;
}


static ngx_int_t
ngx_http_mdm_checkin_keys(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    mdm_checkin_t *ci, const char *sha)
{
    size_t                    n;
    char                      key[MDM_KEY_MAX];
    const char               *id, *device;
    ngx_uint_t                topical;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    id = ci->enrollment.id;
    device = ci->enrollment.parent[0] ? ci->enrollment.parent : id;

    topical = ci->type == MDM_CHECKIN_AUTHENTICATE
              || ci->type == MDM_CHECKIN_TOKEN_UPDATE
              || ci->type == MDM_CHECKIN_CHECK_OUT;

#define ngx_http_mdm_key(expr)                                              \
    n = (expr);                                                             \
    if (n == 0 || ngx_http_mdm_args_add_copy(r, args, key, n) != NGX_OK) {  \
        return NGX_ERROR;                                                   \
    }

    ngx_http_mdm_key(mdm_key_enrollment(key, id));
    ngx_http_mdm_key(mdm_key_enrollment(key, device));
    ngx_http_mdm_key(mdm_key_cert(key, sha));
    ngx_http_mdm_key(mdm_key_auth(key, id));
    ngx_http_mdm_key(mdm_key_queue(key, id));
    ngx_http_mdm_key(mdm_key_notnow(key, id));
    ngx_http_mdm_key(mdm_key_users(key, device));
    ngx_http_mdm_args_add_cstr(args, MDM_KEY_EVENTS);
    ngx_http_mdm_args_add_cstr(args, MDM_KEY_ENROLLMENTS);

    if (mlcf->topic_check && topical && ci->topic != NULL) {
        ngx_http_mdm_key(mdm_key_pushcert(key, ci->topic));
    } else {
        ngx_http_mdm_args_add(args, "", 0);
    }

#undef ngx_http_mdm_key

    return NGX_OK;
}


#define ngx_http_mdm_field(args, name, value)                               \
    do {                                                                    \
        if ((value) != NULL) {                                              \
            ngx_http_mdm_args_add_cstr(args, name);                         \
            ngx_http_mdm_args_add_cstr(args, value);                        \
        }                                                                   \
    } while (0)

#define ngx_http_mdm_field_bytes(args, name, bytes)                         \
    do {                                                                    \
        if ((bytes).len > 0) {                                              \
            ngx_http_mdm_args_add_cstr(args, name);                         \
            ngx_http_mdm_args_add(args, (bytes).data, (bytes).len);         \
        }                                                                   \
    } while (0)


/* What each message stores in the enrollment hash (docs/redis-schema.md). */
static void
ngx_http_mdm_checkin_fields(ngx_http_mdm_args_t *args, mdm_checkin_t *ci)
{
    mdm_enrollment_keys_t  *k = &ci->id_keys;

    switch (ci->type) {

    case MDM_CHECKIN_AUTHENTICATE:
        ngx_http_mdm_field(args, "udid", k->udid);
        ngx_http_mdm_field(args, "enrollment_id", k->enrollment_id);
        ngx_http_mdm_field(args, "topic", ci->topic);
        ngx_http_mdm_field(args, "serial", ci->serial_number);
        ngx_http_mdm_field(args, "model", ci->model);
        ngx_http_mdm_field(args, "model_name", ci->model_name);
        ngx_http_mdm_field(args, "product", ci->product_name);
        ngx_http_mdm_field(args, "os_version", ci->os_version);
        ngx_http_mdm_field(args, "build_version", ci->build_version);
        ngx_http_mdm_field(args, "device_name", ci->device_name);
        ngx_http_mdm_field(args, "imei", ci->imei);
        ngx_http_mdm_field(args, "meid", ci->meid);
        break;

    case MDM_CHECKIN_TOKEN_UPDATE:
        ngx_http_mdm_field(args, "udid", k->udid);
        ngx_http_mdm_field(args, "enrollment_id", k->enrollment_id);
        ngx_http_mdm_field(args, "user_id", k->user_id);
        ngx_http_mdm_field(args, "user_short_name", k->user_short_name);
        ngx_http_mdm_field(args, "user_long_name", k->user_long_name);
        ngx_http_mdm_field(args, "enrollment_user_id",
                           k->enrollment_user_id);
        ngx_http_mdm_field(args, "topic", ci->topic);
        ngx_http_mdm_field_bytes(args, "token", ci->token);
        ngx_http_mdm_field(args, "push_magic", ci->push_magic);
        ngx_http_mdm_field_bytes(args, "unlock_token", ci->unlock_token);
        ngx_http_mdm_field(args, "awaiting_config",
                           ci->awaiting_configuration ? "1" : "0");
        break;

    case MDM_CHECKIN_SET_BOOTSTRAP_TOKEN:
        ngx_http_mdm_field_bytes(args, "bootstrap_token",
                                 ci->bootstrap_token);
        break;

    default:
        break;
    }
}


static ngx_int_t
ngx_http_mdm_checkin_event(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    mdm_checkin_t *ci, ngx_str_t *body)
{
    u_char       topic[64];
    mdm_event_t  ev;

    ngx_memzero(&ev, sizeof(mdm_event_t));

    *ngx_snprintf(topic, sizeof(topic) - 1, "mdm.%s", ci->message_type) = 0;

    ev.topic = (char *) topic;
    ev.id = ci->enrollment.id;
    ev.parent = ci->enrollment.parent[0] ? ci->enrollment.parent : NULL;
    ev.type = mdm_enrollment_type_name(ci->enrollment.type);
    ev.udid = ci->id_keys.udid;
    ev.enrollment_id = ci->id_keys.enrollment_id;
    return ngx_http_mdm_args_add_event(r, args, &ev, body);
}


static ngx_int_t
ngx_http_mdm_checkin_reply(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm checkin: unexpected reply from checkin.lua");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_strcmp(reply->element[0]->str, "ok") != 0) {
        mdm_checkin_t  *ci = ctx->data;
        ngx_int_t       rc;

        rc = ngx_http_mdm_renew_bind(r, reply->element[1]->str,
                                     ci->enrollment.parent[0]
                                     ? ci->enrollment.parent
                                     : ci->enrollment.id);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        ngx_http_mdm_metrics_identity_failure(reply->element[1]->str);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm checkin: %V from \"%V\" refused: %s",
                      &ctx->message_type, &ctx->enrollment_id,
                      reply->element[1]->str);
        return NGX_HTTP_BAD_REQUEST;
    }

    return ngx_http_mdm_checkin_answer(r, ctx->data, reply->element[1]);
}


static ngx_int_t
ngx_http_mdm_checkin_answer(ngx_http_request_t *r, mdm_checkin_t *ci,
    redisReply *payload)
{
    mdm_buf_t                 out;
    ngx_keyval_t             *token;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    switch (ci->type) {

    case MDM_CHECKIN_GET_BOOTSTRAP_TOKEN:
        return ngx_http_mdm_send_plist(r,
                   mdm_response_bootstrap_token(
                       (unsigned char *) payload->str, payload->len, &out),
                   &out);

    case MDM_CHECKIN_USER_AUTHENTICATE:
        if (mlcf->user_authenticate == NGX_HTTP_MDM_UA_DECLINE) {
            return ngx_http_mdm_send(r, NGX_HTTP_MDM_GONE, NULL, NULL, 0);
        }
        if (ci->digest_response == NULL) {
            return ngx_http_mdm_send_plist(r,
                       mdm_response_digest_challenge("", &out), &out);
        }
        break;

    case MDM_CHECKIN_GET_TOKEN:
        token = ngx_http_mdm_token_for(r, ci->token_service_type);
        if (token == NULL) {
            return NGX_HTTP_BAD_REQUEST;
        }
        return ngx_http_mdm_send_plist(r,
                   mdm_response_token_data(token->value.data,
                                           token->value.len, &out),
                   &out);

    case MDM_CHECKIN_RETURN_TO_SERVICE:
        return ngx_http_mdm_send_plist(r,
                   mdm_response_return_to_service(mlcf->return_to_service,
                                                  &out),
                   &out);

    default:
        break;
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, NULL, NULL, 0);
}


static ngx_int_t
ngx_http_mdm_send_plist(ngx_http_request_t *r, int rc, mdm_buf_t *plist)
{
    ngx_int_t  sent;

    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sent = ngx_http_mdm_send(r, NGX_HTTP_OK, "application/xml",
                             (u_char *) plist->data, plist->len);
    mdm_buf_free(plist);

    return sent;
}


static ngx_keyval_t *
ngx_http_mdm_token_for(ngx_http_request_t *r, const char *service)
{
    size_t                    len;
    ngx_uint_t                i;
    ngx_keyval_t             *kv;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    if (mlcf->tokens == NULL || service == NULL) {
        return NULL;
    }

    len = ngx_strlen(service);
    kv = mlcf->tokens->elts;

    for (i = 0; i < mlcf->tokens->nelts; i++) {
        if (kv[i].key.len == len
            && ngx_strncmp(kv[i].key.data, service, len) == 0)
        {
            return &kv[i];
        }
    }

    return NULL;
}
