#ifndef MDM_CLUSTER_EV_H
#define MDM_CLUSTER_EV_H

/*
 * The libev adapter of mdm_cluster, header-only as hiredis's own adapters
 * are, so that libmdm itself never links libev (the nginx module includes
 * libmdm and has no libev). hiredis's libev adapter drives the sockets; one
 * repeating ev_timer drives mdm_cluster_tick().
 */

#include <ev.h>
#include <hiredis/adapters/libev.h>

#include "mdm_cluster.h"

typedef struct mdm_cluster_ev_s {
    struct ev_loop  *loop;
    ev_timer         tick;
    mdm_cluster_t   *cl;
} mdm_cluster_ev_t;


static inline int
mdm_cluster_ev_attach(void *loop, redisAsyncContext *ac)
{
    return redisLibevAttach(((mdm_cluster_ev_t *) loop)->loop, ac) == REDIS_OK
           ? 0 : -1;
}


static inline uint64_t
mdm_cluster_ev_now(void *loop)
{
    return (uint64_t) (ev_now(((mdm_cluster_ev_t *) loop)->loop) * 1000.0);
}


static inline void
mdm_cluster_ev_on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    mdm_cluster_ev_t  *ev = w->data;

    (void) loop;
    (void) revents;
    mdm_cluster_tick(ev->cl);
}


/*
 * Starts a cluster client on loop; ev must outlive it. The tick timer does
 * not keep the loop alive by itself (ev_unref), as the worker's watchdog.
 */
static inline mdm_cluster_t *
mdm_cluster_ev_start(mdm_cluster_ev_t *ev, struct ev_loop *loop,
    const mdm_cluster_conf_t *conf)
{
    mdm_cluster_loop_t  l = { mdm_cluster_ev_attach, mdm_cluster_ev_now, ev };

    ev->loop = loop;
    ev->cl = mdm_cluster_new(conf, &l);
    if (ev->cl == NULL) {
        return NULL;
    }

    ev_timer_init(&ev->tick, mdm_cluster_ev_on_tick,
                  MDM_CLUSTER_TICK_MS / 1000.0, MDM_CLUSTER_TICK_MS / 1000.0);
    ev->tick.data = ev;
    ev_timer_start(loop, &ev->tick);
    ev_unref(loop);

    return ev->cl;
}


static inline void
mdm_cluster_ev_stop(mdm_cluster_ev_t *ev)
{
    if (ev->cl == NULL) {
        return;
    }

    ev_ref(ev->loop);
    ev_timer_stop(ev->loop, &ev->tick);
    mdm_cluster_free(ev->cl);
    ev->cl = NULL;
}

#endif
