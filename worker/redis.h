#ifndef WK_REDIS_H
#define WK_REDIS_H

/*
 * One asynchronous Redis connection on the libev loop, reconnecting by
 * itself. hiredis 0.14 has no command timeouts, so a watchdog timer drops a
 * connection whose oldest command has waited longer than the timeout (plus
 * the BLOCK time a blocking reader announces); every pending callback then
 * gets reply NULL, the same as on a lost connection.
 */

#include <ev.h>
#include <hiredis/async.h>

typedef struct wk_redis_s wk_redis_t;

typedef void (*wk_redis_cb)(wk_redis_t *link, redisReply *reply, void *data);
typedef void (*wk_redis_ready_cb)(wk_redis_t *link, void *data);

struct wk_redis_s {
    struct ev_loop    *loop;
    const char        *addr;        /* host:port or a unix socket path */
    const char        *name;        /* for log lines */
    redisAsyncContext *ac;
    int                connected;
    int                closing;
    unsigned           failures;    /* consecutive, for the reconnect backoff */
    unsigned           pending;     /* commands sent, reply not yet seen */
    ev_tstamp          last_reply;
    double             timeout;     /* s */
    double             block_extra; /* s a blocking command may legally wait */
    ev_timer           watchdog;
    ev_timer           reconnect;
    wk_redis_ready_cb  on_ready;    /* after every (re)connect */
    void              *data;
};

/* Starts connecting; on_ready runs once connected, and after each reconnect. */
void wk_redis_init(wk_redis_t *link, struct ev_loop *loop, const char *addr,
                   const char *name, double timeout, wk_redis_ready_cb on_ready,
                   void *data);

/* Sends a command; -1 when not connected (cb is then never called). */
int wk_redis_cmd(wk_redis_t *link, wk_redis_cb cb, void *data,
                 const char *fmt, ...);
int wk_redis_cmdargv(wk_redis_t *link, wk_redis_cb cb, void *data, int argc,
                     const char **argv, const size_t *argvlen);

/* Closes for good: pending callbacks get NULL. */
void wk_redis_close(wk_redis_t *link);

#endif
