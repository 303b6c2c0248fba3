/*
 * Check-in messages (protocol.md §2): decoded by libmdm, stored by
 * checkin.lua in one atomic step, answered as the message type requires.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_checkin.h"
#include "mdm_event.h"
#include "mdm_response.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_metrics.h"
#include "ngx_http_mdm_ddm.h"


static void ngx_http_mdm_checkin_cleanup(void *data);
static ngx_int_t ngx_http_mdm_checkin_argv(ngx_http_request_t *r,
    mdm_argv_t *a, mdm_checkin_t *ci, ngx_str_t *body, const char *sha);
static ngx_int_t ngx_http_mdm_checkin_raw(ngx_http_request_t *r,
    mdm_checkin_t *ci, ngx_str_t *out);
static ngx_int_t ngx_http_mdm_checkin_event(ngx_http_request_t *r,
    mdm_checkin_t *ci, ngx_str_t *body, ngx_str_t *out);
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
                      "mdm checkin refused: %s (%s)", err.msg,
                      mdm_refused_name(err.reason));
        ngx_http_mdm_metrics_body_refused(0, err.reason);
        return NGX_HTTP_BAD_REQUEST;
    }

    cln->handler = ngx_http_mdm_checkin_cleanup;
    cln->data = ci;
    ctx->data = ci;

    ctx->enrollment_id.data = (u_char *) ci->enrollment.id;
    ctx->enrollment_id.len = ngx_strlen(ci->enrollment.id);
    ctx->message_type.data = (u_char *) ci->message_type;
    ctx->message_type.len = ngx_strlen(ci->message_type);
    ctx->checkin_type = ci->type;

    return ngx_http_mdm_limits_check(r, 1, ci->type, ci->message_type,
                                     body->len);
}


/* The decoded check-in stored by checkin.lua, then answered. */
ngx_int_t
ngx_http_mdm_checkin(ngx_http_request_t *r, ngx_str_t *body,
    const char *sha)
{
    mdm_checkin_t             *ci;
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_main_conf_t  *mcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    ci = ctx->data;

    switch (ci->type) {

    case MDM_CHECKIN_DECLARATIVE_MANAGEMENT:
        return ngx_http_mdm_ddm_checkin(r, body, sha);

    case MDM_CHECKIN_GET_TOKEN:
        if (ngx_http_mdm_token_for(r, ci->token_service_type) == NULL) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mdm checkin: GetToken from \"%V\" for unknown "
                          "TokenServiceType \"%s\"", &ctx->enrollment_id,
                          ci->token_service_type);
            return NGX_HTTP_BAD_REQUEST;
        }
        break;

    case MDM_CHECKIN_AUTHENTICATE:
        /* rare (once per enrollment): the issuance record is worth its own
         * call; after a rebind the message comes again with it read */
        mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);

        if (sha[0] != '\0' && ctx->issuance == NULL && mcf->scep_used) {
            return ngx_http_mdm_issuance_read(r, body, sha);
        }
        break;

    default:
        break;
    }

    return ngx_http_mdm_checkin_store(r, body, sha);
}


ngx_int_t
ngx_http_mdm_checkin_store(ngx_http_request_t *r, ngx_str_t *body,
    const char *sha)
{
    mdm_argv_t           args;
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    if (ngx_http_mdm_checkin_argv(r, &args, ctx->data, body, sha) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_store_eval(r, &args, ngx_http_mdm_checkin_reply);
}


static void
ngx_http_mdm_checkin_cleanup(void *data)
{
    mdm_checkin_free(data);
}


/* The checkin.lua call (libmdm/mdm_store.c has its KEYS and ARGV). */
static ngx_int_t
ngx_http_mdm_checkin_argv(ngx_http_request_t *r, mdm_argv_t *a,
    mdm_checkin_t *ci, ngx_str_t *body, const char *sha)
{
    ngx_str_t                  event, auth;
    mdm_store_checkin_t        in;
    ngx_http_mdm_loc_conf_t   *mlcf;
    ngx_http_mdm_main_conf_t  *mcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);

    if (ngx_http_mdm_checkin_event(r, ci, body, &event) != NGX_OK
        || ngx_http_mdm_checkin_raw(r, ci, &auth) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memzero(&in, sizeof(mdm_store_checkin_t));
    in.ci = ci;
    in.cert_sha = sha;
    in.retro = (mlcf->cert_binding == NGX_HTTP_MDM_BIND_RETRO);
    in.topic_check = mlcf->topic_check;
    in.now = ngx_time();
    in.event = event.data;
    in.event_len = event.len;
    in.auth = auth.data;
    in.auth_len = auth.len;
    in.events_maxlen = mcf->events_maxlen;

    if (ci->type == MDM_CHECKIN_AUTHENTICATE) {
        ngx_http_mdm_issuance_fields(r, &in);
    }

    if (ngx_http_mdm_store_init(r, a, MDM_STORE_CHECKIN_ARGC,
                                MDM_STORE_CHECKIN_KEYS) != NGX_OK
        || mdm_store_checkin_argv(&in, a) != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm checkin: cannot build the checkin.lua call");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Authenticate's plist is kept (unknown keys included) as a binary plist:
 * the same plist in about half the bytes of the XML, for every enrolled
 * device. The event carries the body as received. Other messages store no
 * raw body.
 */
static ngx_int_t
ngx_http_mdm_checkin_raw(ngx_http_request_t *r, mdm_checkin_t *ci,
    ngx_str_t *out)
{
    mdm_buf_t    bin;
    mdm_alloc_t  pool;

    ngx_str_null(out);

    if (ci->type != MDM_CHECKIN_AUTHENTICATE) {
        return NGX_OK;
    }

    pool = ngx_http_mdm_allocator(r);

    if (mdm_plist_to_binary(ci->root, &pool, &bin) != 0) {
        return NGX_ERROR;
    }

    out->data = (u_char *) bin.data;
    out->len = bin.len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_checkin_event(ngx_http_request_t *r, mdm_checkin_t *ci,
    ngx_str_t *body, ngx_str_t *out)
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
    return ngx_http_mdm_event_bytes(r, &ev, body, out);
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

        ngx_http_mdm_metrics_identity_failure(
            mdm_identity_script_reason(reply->element[1]->str));
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
    mdm_alloc_t               pool;
    ngx_keyval_t             *token;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);
    pool = ngx_http_mdm_allocator(r);

    switch (ci->type) {

    case MDM_CHECKIN_GET_BOOTSTRAP_TOKEN:
        return ngx_http_mdm_send_plist(r,
                   mdm_response_bootstrap_token(
                       (unsigned char *) payload->str, payload->len, &pool,
                       &out),
                   &out);

    case MDM_CHECKIN_USER_AUTHENTICATE:
        if (mlcf->user_authenticate == NGX_HTTP_MDM_UA_DECLINE) {
            return ngx_http_mdm_send(r, NGX_HTTP_MDM_GONE, NULL, NULL, 0);
        }
        if (ci->digest_response == NULL) {
            return ngx_http_mdm_send_plist(r,
                       mdm_response_digest_challenge("", &pool, &out),
                       &out);
        }
        break;

    case MDM_CHECKIN_GET_TOKEN:
        token = ngx_http_mdm_token_for(r, ci->token_service_type);
        if (token == NULL) {
            return NGX_HTTP_BAD_REQUEST;
        }
        return ngx_http_mdm_send_plist(r,
                   mdm_response_token_data(token->value.data,
                                           token->value.len, &pool, &out),
                   &out);

    case MDM_CHECKIN_RETURN_TO_SERVICE:
        return ngx_http_mdm_send_plist(r,
                   mdm_response_return_to_service(mlcf->return_to_service,
                                                  &pool, &out),
                   &out);

    default:
        break;
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, NULL, NULL, 0);
}


static ngx_int_t
ngx_http_mdm_send_plist(ngx_http_request_t *r, int rc, mdm_buf_t *plist)
{
    if (rc != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/xml",
                             (u_char *) plist->data, plist->len);
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
