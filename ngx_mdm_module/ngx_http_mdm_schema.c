/*
 * The key layout check, per worker process: HGET mdm:schema version, and on
 * an empty Redis the bootstrap (EXISTS mdm:enrollments, HSETNX the version),
 * as mdm-worker does (worker/schema.c; the verdict is libmdm's
 * mdm_schema_check). nginx must start while Redis is down, so the check
 * cannot refuse the start: until its first answer requests are served as
 * usual (one round trip after the worker starts). The check runs again
 * every few seconds (one HGET): once Redis is found to hold another layout,
 * every Redis call answers 503 with an alert naming the versions, and a
 * migration (mdm-worker --migrate) is picked up without a restart.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "mdm_keys.h"
#include "mdm_shard.h"
#include "ngx_http_mdm_schema.h"


#define NGX_HTTP_MDM_SCHEMA_RETRY    200    /* ms, while Redis is away */
#define NGX_HTTP_MDM_SCHEMA_RECHECK  5000   /* ms */


typedef enum {
    NGX_HTTP_MDM_SCHEMA_READ = 0,
    NGX_HTTP_MDM_SCHEMA_HAS_DATA,
    NGX_HTTP_MDM_SCHEMA_RECORD
} ngx_http_mdm_schema_step_e;


typedef struct {
    ngx_event_t                  timer;
    ngx_mdm_redis_t             *rd;
    ngx_mdm_redis_cmd_t         *cmd;
    ngx_http_mdm_schema_step_e   step;
    long                         record;
    ngx_uint_t                   rounds;
    ngx_flag_t                   refused;
    ngx_flag_t                   told;
    char                         why[160];
} ngx_http_mdm_schema_t;


static void ngx_http_mdm_schema_send(ngx_event_t *ev);
static void ngx_http_mdm_schema_reply(void *data, redisReply *reply);
static void ngx_http_mdm_schema_verdict(ngx_http_mdm_schema_t *sc,
    const char *recorded, int has_data);


static ngx_http_mdm_schema_t  ngx_http_mdm_schema;


ngx_int_t
ngx_http_mdm_schema_init_process(ngx_cycle_t *cycle, ngx_mdm_redis_t *rd)
{
    ngx_http_mdm_schema_t  *sc = &ngx_http_mdm_schema;

    ngx_memzero(sc, sizeof(ngx_http_mdm_schema_t));
    sc->rd = rd;
    sc->timer.handler = ngx_http_mdm_schema_send;
    sc->timer.data = sc;
    sc->timer.log = cycle->log;
    sc->timer.cancelable = 1;

    ngx_add_timer(&sc->timer, 1);

    return NGX_OK;
}


void
ngx_http_mdm_schema_exit_process(void)
{
    ngx_http_mdm_schema_t  *sc = &ngx_http_mdm_schema;

    if (sc->cmd != NULL) {
        ngx_mdm_redis_cancel(sc->cmd);
        sc->cmd = NULL;
    }

    if (sc->timer.timer_set) {
        ngx_del_timer(&sc->timer);
    }
}


/*
 * The deployment's shard count. Until mdm:schema records it (issue 10's
 * sharded layout) every deployment has MDM_SHARDS_DEFAULT shards; callers
 * ask here so that the recorded count replaces it in one place.
 */
unsigned
ngx_http_mdm_shards(void)
{
    return MDM_SHARDS_DEFAULT;
}


ngx_int_t
ngx_http_mdm_schema_refused(ngx_log_t *log)
{
    ngx_http_mdm_schema_t  *sc = &ngx_http_mdm_schema;

    if (!sc->refused) {
        return 0;
    }

    if (!sc->told) {
        sc->told = 1;
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "mdm: Redis refused, every request answers 503: %s",
                      sc->why);
    }

    return 1;
}


static void
ngx_http_mdm_schema_send(ngx_event_t *ev)
{
    ngx_http_mdm_schema_t  *sc = ev->data;

    int          argc;
    u_char       version[NGX_INT64_LEN];
    const char  *argv[4], *key;
    size_t       argvlen[4];

    key = mdm_schema_keys[MDM_K_SCHEMA].pattern;

    switch (sc->step) {

    case NGX_HTTP_MDM_SCHEMA_HAS_DATA:
        argv[0] = "EXISTS";
        argv[1] = MDM_KEY_ENROLLMENTS;
        argc = 2;
        break;

    case NGX_HTTP_MDM_SCHEMA_RECORD:
        argv[0] = "HSETNX";
        argv[1] = key;
        argv[2] = "version";
        argv[3] = (char *) version;
        argvlen[3] = ngx_sprintf(version, "%l", sc->record) - version;
        argc = 4;
        break;

    default:
        argv[0] = "HGET";
        argv[1] = key;
        argv[2] = "version";
        argc = 3;
        break;
    }

    for (int i = 0; i < argc && i < 3; i++) {
        argvlen[i] = ngx_strlen(argv[i]);
    }

    sc->cmd = ngx_mdm_redis_send(sc->rd, argc, argv, argvlen,
                                 ngx_http_mdm_schema_reply, sc);
    if (sc->cmd == NULL) {
        sc->step = NGX_HTTP_MDM_SCHEMA_READ;
        ngx_add_timer(&sc->timer, NGX_HTTP_MDM_SCHEMA_RETRY);
    }
}


static void
ngx_http_mdm_schema_reply(void *data, redisReply *reply)
{
    ngx_http_mdm_schema_t  *sc = data;

    sc->cmd = NULL;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        sc->step = NGX_HTTP_MDM_SCHEMA_READ;
        ngx_add_timer(&sc->timer, NGX_HTTP_MDM_SCHEMA_RETRY);
        return;
    }

    switch (sc->step) {

    case NGX_HTTP_MDM_SCHEMA_HAS_DATA:
        ngx_http_mdm_schema_verdict(sc, NULL, reply->integer > 0);
        return;

    case NGX_HTTP_MDM_SCHEMA_RECORD:
        sc->step = NGX_HTTP_MDM_SCHEMA_READ;
        ngx_add_timer(&sc->timer, 1);
        return;

    default:
        ngx_http_mdm_schema_verdict(sc,
                                    reply->type == REDIS_REPLY_STRING
                                    ? reply->str : NULL, 0);
        return;
    }
}


static void
ngx_http_mdm_schema_verdict(ngx_http_mdm_schema_t *sc, const char *recorded,
    int has_data)
{
    char  why[sizeof(sc->why)];

    switch (mdm_schema_check(recorded, has_data, &sc->record, why,
                             sizeof(why)))
    {
    case MDM_SCHEMA_OK:
        if (sc->refused) {
            ngx_log_error(NGX_LOG_NOTICE, sc->timer.log, 0,
                          "mdm: Redis holds key layout version %d again, "
                          "serving", MDM_SCHEMA_VERSION);
        }
        sc->refused = 0;
        sc->rounds = 0;
        sc->step = NGX_HTTP_MDM_SCHEMA_READ;
        ngx_add_timer(&sc->timer, NGX_HTTP_MDM_SCHEMA_RECHECK);
        return;

    case MDM_SCHEMA_RECORD:
        if (sc->step == NGX_HTTP_MDM_SCHEMA_READ && ++sc->rounds <= 2) {
            sc->step = NGX_HTTP_MDM_SCHEMA_HAS_DATA;
        } else if (sc->step == NGX_HTTP_MDM_SCHEMA_HAS_DATA) {
            sc->step = NGX_HTTP_MDM_SCHEMA_RECORD;
        } else {
            ngx_cpystrn((u_char *) why, (u_char *) "the layout record does not "
                        "keep its version", sizeof(why));
            break;
        }
        ngx_add_timer(&sc->timer, 1);
        return;

    case MDM_SCHEMA_MISMATCH:
        break;
    }

    if (!sc->refused || ngx_strcmp(why, sc->why) != 0) {
        ngx_cpystrn((u_char *) sc->why, (u_char *) why, sizeof(sc->why));
        sc->refused = 1;
        ngx_log_error(NGX_LOG_ALERT, sc->timer.log, 0,
                      "mdm: refusing Redis: %s", sc->why);
    }

    sc->told = 0;                 /* one request log line per recheck */

    sc->step = NGX_HTTP_MDM_SCHEMA_READ;
    sc->rounds = 0;
    ngx_add_timer(&sc->timer, NGX_HTTP_MDM_SCHEMA_RECHECK);
}
