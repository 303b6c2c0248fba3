/*
 * ACME accounts (RFC 8555 §7.3): an account is named by the RFC 7638
 * thumbprint of its key, so new-account is one compare-and-set of
 * mdm:acme:acct:{<thumbprint>} (guard: no status yet): created (201), or
 * there already (200, its URL in Location). The account URL answers the
 * account, deactivates it ({"status":"deactivated"}), and /orders lists
 * the orders that have not expired.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "acme/mdm_acme_state.h"
#include "ngx_http_mdm_acme.h"


static ngx_int_t ngx_http_mdm_acme_account_created(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_acme_account_existing(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_acme_account_answer(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_acme_orders_answer(ngx_http_request_t *r,
    redisReply *reply);


/* contact: absent, or an array of at most 8 "mailto:" strings */
static char *
ngx_http_mdm_acme_contact(ngx_http_mdm_acme_req_t *q)
{
    size_t   i;
    json_t  *c, *v;

    c = json_object_get(q->jws.payload_json, "contact");
    if (c == NULL) {
        return strdup("[]");
    }

    if (!json_is_array(c) || json_array_size(c) > 8) {
        mdm_acme_fail(&q->err, MDM_ACME_MALFORMED,
                      "contact is not an array of at most 8 URLs");
        return NULL;
    }

    json_array_foreach(c, i, v) {
        if (!json_is_string(v) || json_string_length(v) > 256
            || ngx_strncmp(json_string_value(v), "mailto:", 7) != 0)
        {
            mdm_acme_fail(&q->err, MDM_ACME_MALFORMED,
                          "contact %zu is not a mailto: URL", i);
            return NULL;
        }
    }

    return json_dumps(c, JSON_COMPACT);
}


static ngx_int_t
ngx_http_mdm_acme_account_key(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q, char **key, size_t *len)
{
    *key = ngx_pnalloc(r->pool, MDM_KEY_MAX);
    if (*key == NULL) {
        return NGX_ERROR;
    }

    *len = mdm_key_acme_acct(*key, q->account);

    return NGX_OK;
}


ngx_int_t
ngx_http_mdm_acme_new_account(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q)
{
    char                 *key, *jwk, *contact, *now;
    size_t                len;
    json_t               *pub;
    ngx_http_mdm_args_t   args;
    const char           *pairs[9];

    if (ngx_http_mdm_acme_account_key(r, q, &key, &len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->location = ngx_http_mdm_acme_url(r, q, "acct", q->account);
    if (q->location == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (json_is_true(json_object_get(q->jws.payload_json,
                                     "onlyReturnExisting")))
    {
        if (ngx_http_mdm_args_init(r, &args, 4) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_http_mdm_args_add(&args, "HMGET", 5);
        ngx_http_mdm_args_add(&args, key, len);
        ngx_http_mdm_args_add(&args, "status", 6);
        ngx_http_mdm_args_add(&args, "contact", 7);
        return ngx_http_mdm_eval(r, &args,
                                 ngx_http_mdm_acme_account_existing);
    }

    contact = ngx_http_mdm_acme_contact(q);
    if (contact == NULL) {
        return ngx_http_mdm_acme_problem(r, q);
    }

    /* the public members only: what the thumbprint was made of */
    pub = json_pack("{s:O, s:O*, s:O*, s:O*, s:O*}",
                    "kty", json_object_get(q->jws.jwk, "kty"),
                    "crv", json_object_get(q->jws.jwk, "crv"),
                    "x", json_object_get(q->jws.jwk, "x"),
                    "y", json_object_get(q->jws.jwk, "y"),
                    "n", json_object_get(q->jws.jwk, "n"));
    if (pub != NULL && json_object_get(q->jws.jwk, "e") != NULL) {
        json_object_set(pub, "e", json_object_get(q->jws.jwk, "e"));
    }

    jwk = pub ? json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(pub);
    now = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 1);

    if (jwk == NULL || now == NULL) {
        free(jwk);
        free(contact);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf((u_char *) now, "%T%Z", ngx_time());

    pairs[0] = "status"; pairs[1] = "valid";
    pairs[2] = "jwk"; pairs[3] = ngx_http_mdm_cstr(r->pool,
                                    &(ngx_str_t) { ngx_strlen(jwk),
                                                   (u_char *) jwk });
    pairs[4] = "created"; pairs[5] = now;
    pairs[6] = "contact"; pairs[7] = ngx_http_mdm_cstr(r->pool,
                                    &(ngx_str_t) { ngx_strlen(contact),
                                                   (u_char *) contact });
    pairs[8] = NULL;
    q->contact = (char *) pairs[7];
    free(jwk);
    free(contact);

    if (pairs[3] == NULL || pairs[7] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_acme_cas(r, key, len, 0, "status", "", pairs,
                                 ngx_http_mdm_acme_account_created);
}


static ngx_int_t
ngx_http_mdm_acme_account_created(ngx_http_request_t *r, redisReply *reply)
{
    char                     *cur;
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reply->element[0]->integer == 1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm acme: account %s created", q->account);
        return ngx_http_mdm_acme_reply(r, q, NGX_HTTP_CREATED,
                   mdm_acme_account_json(q->base, q->account, "valid",
                                     q->contact));
    }

    cur = reply->elements > 1 ? ngx_http_mdm_acme_str(r, reply->element[1])
                              : NULL;

    if (cur == NULL || ngx_strcmp(cur, "valid") != 0) {
        mdm_acme_fail(&q->err, MDM_ACME_UNAUTHORIZED, "account is %s",
                      cur ? cur : "unknown");
        return ngx_http_mdm_acme_problem(r, q);
    }

    /* RFC 8555 §7.3.1: the existing account, 200, its URL in Location */
    return ngx_http_mdm_acme_reply(r, q, NGX_HTTP_OK,
               mdm_acme_account_json(q->base, q->account, cur, NULL));
}


static ngx_int_t
ngx_http_mdm_acme_account_existing(ngx_http_request_t *r, redisReply *reply)
{
    char                     *status;
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    status = ngx_http_mdm_acme_str(r, reply->element[0]);
    if (status == NULL) {
        q->location = NULL;
        mdm_acme_fail(&q->err, MDM_ACME_ACCOUNT_DOES_NOT_EXIST,
                      "no account for this key");
        return ngx_http_mdm_acme_problem(r, q);
    }

    return ngx_http_mdm_acme_reply(r, q, NGX_HTTP_OK,
               mdm_acme_account_json(q->base, q->account, status,
                   ngx_http_mdm_acme_str(r, reply->element[1])));
}


ngx_int_t
ngx_http_mdm_acme_account(ngx_http_request_t *r, ngx_http_mdm_acme_req_t *q)
{
    char                 *key, *now;
    size_t                len;
    json_t               *st;
    ngx_http_mdm_args_t   args;
    const char           *pairs[3];

    if (ngx_strcmp(q->id, q->account) != 0) {
        mdm_acme_fail(&q->err, MDM_ACME_UNAUTHORIZED,
                      "the account URL is not the signer's");
        return ngx_http_mdm_acme_problem(r, q);
    }

    if (ngx_http_mdm_acme_account_key(r, q, &key, &len) != NGX_OK
        || ngx_http_mdm_args_init(r, &args, 6) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (q->sub != NULL) {
        now = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 1);
        if (now == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_sprintf((u_char *) now, "%T%Z", ngx_time());
        ngx_http_mdm_args_add(&args, "ZRANGEBYSCORE", 13);
        len = mdm_key_acme_orders(key, q->account);
        ngx_http_mdm_args_add(&args, key, len);
        ngx_http_mdm_args_add_cstr(&args, now);
        ngx_http_mdm_args_add(&args, "+inf", 4);
        return ngx_http_mdm_eval(r, &args, ngx_http_mdm_acme_orders_answer);
    }

    st = json_object_get(q->jws.payload_json, "status");

    if (st != NULL) {
        if (!json_is_string(st)
            || ngx_strcmp(json_string_value(st), "deactivated") != 0)
        {
            mdm_acme_fail(&q->err, MDM_ACME_MALFORMED,
                          "an account's status can only become "
                          "deactivated");
            return ngx_http_mdm_acme_problem(r, q);
        }

        pairs[0] = "status";
        pairs[1] = "deactivated";
        pairs[2] = NULL;

        return ngx_http_mdm_acme_cas(r, key, len, 0, "status", "valid",
                                     pairs, ngx_http_mdm_acme_account_answer);
    }

    ngx_http_mdm_args_add(&args, "HMGET", 5);
    ngx_http_mdm_args_add(&args, key, len);
    ngx_http_mdm_args_add(&args, "status", 6);
    ngx_http_mdm_args_add(&args, "contact", 7);

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_acme_account_answer);
}


/* the account's fields (HMGET), or the deactivation's CAS reply */
static ngx_int_t
ngx_http_mdm_acme_account_answer(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reply->element[0]->type == REDIS_REPLY_INTEGER) {
        if (reply->element[0]->integer != 1) {
            mdm_acme_fail(&q->err, MDM_ACME_UNAUTHORIZED,
                          "account is not valid");
            return ngx_http_mdm_acme_problem(r, q);
        }
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm acme: account %s deactivated", q->account);
        return ngx_http_mdm_acme_reply(r, q, NGX_HTTP_OK,
                   mdm_acme_account_json(q->base, q->account, "deactivated",
                                         NULL));
    }

    return ngx_http_mdm_acme_reply(r, q, NGX_HTTP_OK,
               mdm_acme_account_json(q->base, q->account, "valid",
                   reply->elements > 1
                   ? ngx_http_mdm_acme_str(r, reply->element[1]) : NULL));
}


static ngx_int_t
ngx_http_mdm_acme_orders_answer(ngx_http_request_t *r, redisReply *reply)
{
    char                     *id, *url, *json;
    size_t                    i;
    json_t                   *list, *doc;
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list = json_array();
    doc = json_pack("{s:o}", "orders", list);

    for (i = 0; doc != NULL && i < reply->elements; i++) {
        id = ngx_http_mdm_acme_str(r, reply->element[i]);
        url = id ? ngx_http_mdm_acme_url(r, q, "order", id) : NULL;
        if (url != NULL) {
            json_array_append_new(list, json_string(url));
        }
    }

    json = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);

    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_acme_reply(r, q, NGX_HTTP_OK, json);
}
