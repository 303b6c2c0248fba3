/*
 * ACME orders, authorizations and the device-attest-01 challenge
 * (RFC 8555 §7.4-7.5, draft-acme-device-attest). An order names one
 * permanent-identifier (the device's serial or UDID); its authorization
 * and challenge share its ID and its hash (libmdm/acme/mdm_acme_state.h).
 * Posting the attestation to the challenge verifies it then and there
 * (libmdm/acme/mdm_acme_attest.c) against mdm_acme_attestation_root; a
 * verified one makes the order ready in one compare-and-set, a refused one
 * is a problem document and changes nothing.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "acme/mdm_acme_attest.h"
#include "acme/mdm_acme_state.h"
#include "ngx_http_mdm_acme.h"


#define NGX_HTTP_MDM_ACME_ID_MAX  64      /* an identifier's characters */


static ngx_int_t ngx_http_mdm_acme_order_created(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_acme_order_listed(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_acme_order_fields(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_acme_attested(ngx_http_request_t *r,
    redisReply *reply);


/* a serial or a UDID: printable ASCII without spaces or key-tag braces */
static ngx_int_t
ngx_http_mdm_acme_identifier_ok(const char *v)
{
    size_t  i, n = ngx_strlen(v);

    if (n == 0 || n > NGX_HTTP_MDM_ACME_ID_MAX) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (v[i] < 0x21 || v[i] > 0x7e || v[i] == '{' || v[i] == '}') {
            return 0;
        }
    }

    return 1;
}


static const char *
ngx_http_mdm_acme_new_order_identifier(ngx_http_mdm_acme_req_t *q)
{
    json_t      *ids, *id;
    const char  *type, *value;

    ids = json_object_get(q->jws.payload_json, "identifiers");

    if (!json_is_array(ids) || json_array_size(ids) != 1) {
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED, "an order names exactly "
                      "one identifier");
        return NULL;
    }

    if (json_object_get(q->jws.payload_json, "notBefore") != NULL
        || json_object_get(q->jws.payload_json, "notAfter") != NULL)
    {
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED, "notBefore and notAfter "
                      "are not supported (the CA's validity applies)");
        return NULL;
    }

    id = json_array_get(ids, 0);
    type = json_string_value(json_object_get(id, "type"));
    value = json_string_value(json_object_get(id, "value"));

    if (type == NULL || value == NULL) {
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED,
                      "identifier without type or value");
        return NULL;
    }

    if (ngx_strcmp(type, MDM_ACME_IDENTIFIER_TYPE) != 0) {
        mdm_acme_fail(&q->err, MDM_ACME_UNSUPPORTED_IDENTIFIER,
                      "identifier type \"%.32s\": only "
                      MDM_ACME_IDENTIFIER_TYPE, type);
        return NULL;
    }

    if (!ngx_http_mdm_acme_identifier_ok(value)) {
        mdm_acme_fail(&q->err, MDM_ACME_REJECTED_IDENTIFIER,
                      "identifier is not a serial number or UDID");
        return NULL;
    }

    return value;
}


ngx_int_t
ngx_http_mdm_acme_new_order(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q)
{
    char                     *key, *id, *token, *now, *expires;
    size_t                    len;
    time_t                    exp;
    const char               *value, *pairs[19];
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    value = ngx_http_mdm_acme_new_order_identifier(q);
    if (value == NULL) {
        return ngx_http_mdm_acme_problem(r, q);
    }

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    id = ngx_pnalloc(r->pool, 32);
    token = ngx_pnalloc(r->pool, 48);
    now = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 1);
    expires = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 1);

    if (key == NULL || id == NULL || token == NULL || now == NULL
        || expires == NULL
        || mdm_acme_random_id(id, 32, 16) != 0
        || mdm_acme_random_id(token, 48, 32) != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    exp = ngx_time() + mlcf->acme.order_ttl;
    ngx_sprintf((u_char *) now, "%T%Z", ngx_time());
    ngx_sprintf((u_char *) expires, "%T%Z", exp);

    q->id = id;
    q->order.status = "pending";
    q->order.authz = "pending";
    q->order.chall = "pending";
    q->order.identifier = value;
    q->order.token = token;
    q->order.expires = exp;

    pairs[0] = "account";    pairs[1] = q->account;
    pairs[2] = "status";     pairs[3] = "pending";
    pairs[4] = "authz";      pairs[5] = "pending";
    pairs[6] = "chall";      pairs[7] = "pending";
    pairs[8] = "identifier"; pairs[9] = value;
    pairs[10] = "token";     pairs[11] = token;
    pairs[12] = "created";   pairs[13] = now;
    pairs[14] = "expires";   pairs[15] = expires;
    pairs[16] = NULL;

    len = mdm_key_acme_order(key, id);

    return ngx_http_mdm_acme_cas(r, key, len, exp, "status", "", pairs,
                                 ngx_http_mdm_acme_order_created);
}


static ngx_int_t
ngx_http_mdm_acme_order_created(ngx_http_request_t *r, redisReply *reply)
{
    char                     *key;
    ngx_http_mdm_args_t       args;
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->integer != 1)
    {
        /* 128 random bits met an order of the same ID */
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (key == NULL || ngx_http_mdm_args_init(r, &args, 4) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the account's list: its own slot, its own call */
    ngx_http_mdm_args_add(&args, "ZADD", 4);
    ngx_http_mdm_args_add(&args, key, mdm_key_acme_orders(key, q->account));

    if (ngx_http_mdm_args_add_int(r, &args, q->order.expires) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, q->id);

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_acme_order_listed);
}


static ngx_int_t
ngx_http_mdm_acme_order_listed(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm acme: order %s for \"%s\" (account %s)", q->id,
                  q->order.identifier, q->account);

    q->location = ngx_http_mdm_acme_url(r, q, "order", q->id);
    if (q->location == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_acme_reply(r, q, NGX_HTTP_CREATED,
               mdm_acme_order_json(q->base, q->id, &q->order, ngx_time()));
}


ngx_int_t
ngx_http_mdm_acme_order_read(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q)
{
    char                 *key;
    ngx_http_mdm_args_t   args;

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (key == NULL || ngx_http_mdm_args_init(r, &args, 2) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, "HGETALL", 7);
    ngx_http_mdm_args_add(&args, key, mdm_key_acme_order(key, q->id));

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_acme_order_fields);
}


static void
ngx_http_mdm_acme_order_field(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q, const char *f, char *v)
{
    mdm_acme_order_t  *o = &q->order;

    if (ngx_strcmp(f, "account") == 0) {
        q->order_account = v;
    } else if (ngx_strcmp(f, "status") == 0) {
        o->status = v;
    } else if (ngx_strcmp(f, "authz") == 0) {
        o->authz = v;
    } else if (ngx_strcmp(f, "chall") == 0) {
        o->chall = v;
    } else if (ngx_strcmp(f, "identifier") == 0) {
        o->identifier = v;
    } else if (ngx_strcmp(f, "token") == 0) {
        o->token = v;
    } else if (ngx_strcmp(f, "cert") == 0) {
        o->cert = v;
    } else if (ngx_strcmp(f, "expires") == 0) {
        o->expires = ngx_atotm((u_char *) v, ngx_strlen(v));
    } else if (ngx_strcmp(f, "validated") == 0) {
        o->validated = ngx_atotm((u_char *) v, ngx_strlen(v));
    } else if (ngx_strcmp(f, "att_key") == 0) {
        q->att_key = v;
    } else if (ngx_strcmp(f, "att_serial") == 0) {
        q->att_serial = v;
    } else if (ngx_strcmp(f, "att_udid") == 0) {
        q->att_udid = v;
    }
}


static ngx_int_t
ngx_http_mdm_acme_order_fields(ngx_http_request_t *r, redisReply *reply)
{
    char                     *f, *v, *json;
    size_t                    i;
    const char               *what;
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        f = ngx_http_mdm_acme_str(r, reply->element[i]);
        v = ngx_http_mdm_acme_str(r, reply->element[i + 1]);
        if (f == NULL || v == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_http_mdm_acme_order_field(r, q, f, v);
    }

    if (q->order_account == NULL || q->order.status == NULL) {
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED, "no such order");
        return ngx_http_mdm_acme_problem(r, q);
    }

    if (ngx_strcmp(q->order_account, q->account) != 0) {
        mdm_acme_fail(&q->err, MDM_ACME_UNAUTHORIZED,
                      "the order is another account's");
        return ngx_http_mdm_acme_problem(r, q);
    }

    what = q->route->name;

    if (ngx_strcmp(what, "chall") == 0) {
        return ngx_http_mdm_acme_challenge(r, q);
    }

    if (ngx_strcmp(what, "finalize") == 0) {
        return ngx_http_mdm_acme_finalize(r, q);
    }

    if (ngx_strcmp(what, "cert") == 0) {
        return ngx_http_mdm_acme_certificate(r, q);
    }

    json = (ngx_strcmp(what, "authz") == 0)
           ? mdm_acme_authz_json(q->base, q->id, &q->order, ngx_time())
           : mdm_acme_order_json(q->base, q->id, &q->order, ngx_time());

    return ngx_http_mdm_acme_reply(r, q, NGX_HTTP_OK, json);
}


static ngx_int_t
ngx_http_mdm_acme_challenge_answer(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q)
{
    q->link_up = ngx_http_mdm_acme_url(r, q, "authz", q->id);
    if (q->link_up == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_acme_reply(r, q, NGX_HTTP_OK,
               mdm_acme_chall_json(q->base, q->id, &q->order));
}


ngx_int_t
ngx_http_mdm_acme_challenge(ngx_http_request_t *r, ngx_http_mdm_acme_req_t *q)
{
    int                       rc;
    char                     *key, *now;
    size_t                    len;
    const char               *attobj, *pairs[16];
    unsigned char            *cbor;
    mdm_acme_attest_t        *att;
    const mdm_acme_step_t    *step;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    /* POST-as-GET, or a challenge already answered: its state */
    if (q->jws.payload_json == NULL
        || mdm_acme_can(MDM_ACME_EV_ATTESTED, q->order.status,
                        q->order.chall) != 0)
    {
        return ngx_http_mdm_acme_challenge_answer(r, q);
    }

    if (mdm_acme_order_status(q->order.status, q->order.expires, ngx_time())
        == MDM_ACME_ST_INVALID)
    {
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED, "the order has expired");
        return ngx_http_mdm_acme_problem(r, q);
    }

    attobj = json_string_value(json_object_get(q->jws.payload_json,
                                               "attObj"));
    if (mdm_acme_attest_payload(attobj, &cbor, &len, &q->err) != 0) {
        return ngx_http_mdm_acme_problem(r, q);
    }

    att = ngx_pcalloc(r->pool, sizeof(mdm_acme_attest_t));
    if (att == NULL) {
        free(cbor);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = mdm_acme_attest_verify(cbor, len, mlcf->acme.roots, q->order.token,
                                q->order.identifier, ngx_time(), att,
                                &q->err);
    free(cbor);

    if (rc != 0) {
        return ngx_http_mdm_acme_problem(r, q);
    }

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    now = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 1);
    if (key == NULL || now == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf((u_char *) now, "%T%Z", ngx_time());

    step = mdm_acme_step(MDM_ACME_EV_ATTESTED);
    for (rc = 0; rc < MDM_ACME_STEP_SETS && step->set[rc][0]; rc++) {
        pairs[2 * rc] = step->set[rc][0];
        pairs[2 * rc + 1] = step->set[rc][1];
    }

    rc *= 2;
    pairs[rc++] = "validated";  pairs[rc++] = now;
    pairs[rc++] = "att_key";    pairs[rc++] = att->key_sha256;
    pairs[rc++] = "att_serial"; pairs[rc++] = att->serial;
    pairs[rc++] = "att_udid";   pairs[rc++] = att->udid;
    pairs[rc] = NULL;

    q->att_serial = att->serial;
    q->att_udid = att->udid;
    q->order.validated = ngx_time();

    return ngx_http_mdm_acme_cas(r, key, mdm_key_acme_order(key, q->id), 0,
                                 step->guard_field, step->guard_value, pairs,
                                 ngx_http_mdm_acme_attested);
}


static ngx_int_t
ngx_http_mdm_acme_attested(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reply->element[0]->integer != 1) {
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED,
                      "the challenge was answered meanwhile");
        return ngx_http_mdm_acme_problem(r, q);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm acme: order %s attested: serial \"%s\" udid \"%s\"",
                  q->id, q->att_serial, q->att_udid);

    q->order.chall = "valid";
    q->order.authz = "valid";
    q->order.status = "ready";

    return ngx_http_mdm_acme_challenge_answer(r, q);
}
