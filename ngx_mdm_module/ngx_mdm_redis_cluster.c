/*
 * libmdm's cluster client on nginx events. As in ngx_mdm_redis.c, hiredis
 * owns each socket; nginx lends a connection object so that the fd joins
 * the event loop, and gives it back (without closing it) in the cleanup
 * hook hiredis calls before it closes the fd itself.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_mdm_redis_cluster.h"


static int ngx_mdm_redis_cluster_attach(void *loop, redisAsyncContext *ac);
static uint64_t ngx_mdm_redis_cluster_now(void *loop);
static void ngx_mdm_redis_cluster_tick(ngx_event_t *ev);


mdm_cluster_t *
ngx_mdm_redis_cluster_start(ngx_mdm_redis_cluster_t *ev, ngx_log_t *log,
    const mdm_cluster_conf_t *conf)
{
    mdm_cluster_loop_t  loop;

    ev->log = log;

    loop.attach = ngx_mdm_redis_cluster_attach;
    loop.now = ngx_mdm_redis_cluster_now;
    loop.loop = ev;

    ev->cl = mdm_cluster_new(conf, &loop);
    if (ev->cl == NULL) {
        return NULL;
    }

    ev->tick.handler = ngx_mdm_redis_cluster_tick;
    ev->tick.data = ev;
    ev->tick.log = log;
    ev->tick.cancelable = 1;
    ngx_add_timer(&ev->tick, MDM_CLUSTER_TICK_MS);

    return ev->cl;
}


void
ngx_mdm_redis_cluster_stop(ngx_mdm_redis_cluster_t *ev)
{
    if (ev->tick.timer_set) {
        ngx_del_timer(&ev->tick);
    }

    if (ev->cl != NULL) {
        mdm_cluster_free(ev->cl);
        ev->cl = NULL;
    }
}


static void
ngx_mdm_redis_cluster_tick(ngx_event_t *ev)
{
    ngx_mdm_redis_cluster_t  *cev = ev->data;

    mdm_cluster_tick(cev->cl);

    if (!ngx_exiting && !ngx_terminate) {
        ngx_add_timer(ev, MDM_CLUSTER_TICK_MS);
    }
}


static uint64_t
ngx_mdm_redis_cluster_now(void *loop)
{
    return (uint64_t) ngx_current_msec;
}


static void
ngx_mdm_redis_cluster_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_mdm_redis_cluster_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_mdm_redis_cluster_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_mdm_redis_cluster_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis is about to close the fd: nginx must forget it without closing. */
static void
ngx_mdm_redis_cluster_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    ngx_mdm_redis_cluster_del_read(c);
    ngx_mdm_redis_cluster_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


static void
ngx_mdm_redis_cluster_read(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_mdm_redis_cluster_write(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


static int
ngx_mdm_redis_cluster_attach(void *loop, redisAsyncContext *ac)
{
    ngx_mdm_redis_cluster_t  *cev = loop;
    ngx_connection_t         *c;

    c = ngx_get_connection(ac->c.fd, cev->log);
    if (c == NULL) {
        return -1;
    }

    c->data = ac;
    c->read->handler = ngx_mdm_redis_cluster_read;
    c->write->handler = ngx_mdm_redis_cluster_write;
    c->read->log = cev->log;
    c->write->log = cev->log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_mdm_redis_cluster_add_read;
    ac->ev.delRead = ngx_mdm_redis_cluster_del_read;
    ac->ev.addWrite = ngx_mdm_redis_cluster_add_write;
    ac->ev.delWrite = ngx_mdm_redis_cluster_del_write;
    ac->ev.cleanup = ngx_mdm_redis_cluster_cleanup;

    return 0;
}
