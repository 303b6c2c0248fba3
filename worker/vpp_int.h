#ifndef WK_VPP_INT_H
#define WK_VPP_INT_H

/*
 * What vpp.c (the round, tokens, assets), vpp_client.c (the HTTP calls)
 * and vpp_jobs.c (jobs, events, installs) share. One location is worked at
 * a time; each step's callback starts the next, and every path ends in
 * wk_vpp_next_location().
 */

#include <jansson.h>

#include "http.h"
#include "vpp.h"
#include "vpp/mdm_vpp_reply.h"

#define WK_VPP_LOC_MAX     64
#define WK_VPP_MAX_BODY    (4 * 1024 * 1024)

typedef struct wk_vpp_slot_s {
    struct wk_vpp_s    *v;
    size_t              i;
} wk_vpp_slot_t;

typedef struct {
    char                name[WK_VPP_LOC_MAX + 1];
    char               *stoken;
    char                secret[80];
    char                status[16];
    char                notify_set[80];   /* the secret Apple was given */
    char                mdm_id[128];
    long                checked, synced, retry_at, failures;
    /* the asset sync */
    long                page, started;
    /* the job at the head of the queue */
    json_t             *job;
    char              **serials;          /* per job id; NULL: none known */
    struct wk_vpp_slot_s *slots;          /* the serial lookups in flight */
    size_t              nids, next, waiting;
    int                 lost;
    json_t             *batch;            /* [[id, serial], ...] sent */
    int                 last;
    int                 jobs_done;
    /* the due events */
    char              **events;
    size_t              nevents, ei;
    json_t             *ev;               /* the event's targets */
    char                ev_id[MDM_VPP_MAX_ID + 1];
    char                ev_op[16], ev_adam[24], ev_pricing[8];
} wk_vpp_loc_t;

/* what one call answered, classified */
typedef enum {
    WK_VPP_OK = 0,         /* a 200 without errorNumber: r parsed */
    WK_VPP_APPLE_ERROR,    /* an ErrorResponse not about the token: r parsed */
    WK_VPP_TOKEN,          /* the token is unusable: the location stops */
    WK_VPP_RETRY,          /* 429/9646, 5xx, no answer: back off */
    WK_VPP_BAD             /* an answer we cannot read */
} wk_vpp_outcome_e;

typedef void (*wk_vpp_reply_cb)(wk_vpp_t *v, wk_vpp_outcome_e o,
                                mdm_vpp_reply_t *r);

struct wk_vpp_s {
    struct ev_loop      *loop;
    const wk_config_t   *cf;
    wk_redis_t          *redis;
    wk_http_t           *http;
    ev_timer             timer;          /* the rounds */
    ev_timer             spacing;        /* maxRequestPerSecond */
    int                  running, stopped;
    mdm_vpp_limits_t     limits;
    double               limits_at;      /* ev_now of the last service config */
    double               last_call;
    /* the call waiting for its turn, or in flight */
    char                *url;
    char                *body;
    int                  with_token;
    wk_vpp_reply_cb      cb;
    long                 retry_after;
    /* the round */
    char               **locs;
    size_t               nlocs, li;
    wk_vpp_loc_t         cur;
};

/* vpp_client.c: GET (body NULL) or POST path (below vpp_url) for the
 * current location (with_token) or without a token; cb runs once. */
void wk_vpp_call(wk_vpp_t *v, const char *path, const char *body,
                 int with_token, wk_vpp_reply_cb cb);
void wk_vpp_client_init(wk_vpp_t *v);

/* vpp.c */
void wk_vpp_next_location(wk_vpp_t *v);
void wk_vpp_back_off(wk_vpp_t *v, long retry_after);
void wk_vpp_stop_location(wk_vpp_t *v, const mdm_vpp_reply_t *r);
int wk_vpp_eval(wk_vpp_t *v, const char *script, int nkeys,
                const char **argv, size_t *argvlen, int argc,
                wk_redis_cb cb);

/* vpp_jobs.c: the job queue, then the due events, then the next location */
void wk_vpp_jobs(wk_vpp_t *v);

#endif
