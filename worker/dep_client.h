#ifndef WK_DEP_CLIENT_H
#define WK_DEP_CLIENT_H

/*
 * Calls to the Device Assignment service for one token (services.md 5.1),
 * non-blocking on the loop through the worker's HTTP client: the session
 * (X-ADM-Auth-Session) is taken from Redis, where every worker shares it,
 * or made with an OAuth 1.0a GET /session; a response that rotates it
 * replaces it; a 401 (or depsim's 403 FORBIDDEN) makes a new one and the
 * call is sent once more. Every call carries User-Agent and
 * X-Server-Protocol-Version.
 */

#include <ev.h>

#include "config.h"
#include "dep_token.h"
#include "http.h"
#include "redis.h"

typedef struct wk_dep_client_s wk_dep_client_t;

/*
 * status: Apple's HTTP status, 0 without one. stop: the token cannot be
 * used until a person acts (403 T_C_NOT_SIGNED, ACCESS_DENIED, or /session
 * refusing the OAuth tokens); error then says which.
 */
typedef struct {
    long         status;
    const char  *body;
    size_t       body_len;
    double       retry_after;        /* s from Retry-After, 0 if none */
    int          stop;
    const char  *error;
} wk_dep_reply_t;

typedef void (*wk_dep_reply_cb)(void *data, const wk_dep_reply_t *r);

wk_dep_client_t *wk_dep_client_new(const wk_config_t *cf, wk_redis_t *redis,
                                   wk_http_t *http, const wk_dep_token_t *t,
                                   const unsigned char *seal_key);

/* One call; body (JSON, copied) NULL for none. cb runs exactly once, from
 * the loop. -1 when it could not start. */
int wk_dep_call(wk_dep_client_t *c, const char *method, const char *path,
                const char *body, wk_dep_reply_cb cb, void *data);

/* After Redis is closed and the HTTP client freed (so that no callback
 * can come): frees the calls left and the client. */
void wk_dep_client_free(wk_dep_client_t *c);

#endif
