#ifndef WK_REDIS_H
#define WK_REDIS_H

/*
 * One asynchronous Redis connection on the libev loop, reconnecting by
 * itself; or, when the address is "cluster host:port ...", one Redis
 * Cluster client (libmdm/redis/mdm_cluster.h) of its own, so that a blocking
 * reader never holds up the commands of another link. hiredis 0.14 has no command timeouts, so a watchdog timer drops a
 * connection whose oldest command has waited longer than the timeout (plus
 * the BLOCK time a blocking reader announces); every pending callback then
 * gets reply NULL, the same as on a lost connection.
 */

#include <ev.h>
#include <hiredis/async.h>

#include "redis_addr.h"

typedef struct wk_redis_s wk_redis_t;
typedef struct wk_redis_held_s wk_redis_held_t;

typedef void (*wk_redis_cb)(wk_redis_t *link, redisReply *reply, void *data);
typedef void (*wk_redis_ready_cb)(wk_redis_t *link, void *data);

struct wk_redis_s {
    struct ev_loop    *loop;
    const char        *addr;        /* as configured, for log lines */
    wk_redis_addr_t    where;       /* resolved once, at init */
    struct mdm_cluster_ev_s *cluster;  /* NULL: one Redis */
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
    /* error replies back the link off: commands wait, then go out */
    double             err_delay;   /* s, 0 after a good reply */
    ev_tstamp          err_until;
    ev_timer           err_timer;
    wk_redis_held_t   *held;        /* formatted, not yet sent, in order */
    wk_redis_held_t  **held_tail;
    wk_redis_ready_cb  on_ready;    /* after every (re)connect */
    void              *data;
};

/*
 * Starts connecting; on_ready runs once connected, and after each reconnect
 * (for a cluster: once the slot map is known, and again after it was lost).
 * -1 when addr does not parse or resolve (logged).
 */
int wk_redis_init(wk_redis_t *link, struct ev_loop *loop, const char *addr,
                   const char *name, double timeout, wk_redis_ready_cb on_ready,
                   void *data);

/* Sends a command; -1 when not connected (cb is then never called). */
int wk_redis_cmd(wk_redis_t *link, wk_redis_cb cb, void *data,
                 const char *fmt, ...);
int wk_redis_cmdargv(wk_redis_t *link, wk_redis_cb cb, void *data, int argc,
                     const char **argv, const size_t *argvlen);

/*
 * The one way to log a Redis error reply or a lost reply: at most one line
 * per wk_redis_error_interval (s) in the whole process, saying how many
 * were left out, as the module's mdm_redis_error_log_interval does. The
 * link backs off by itself (0.1 s doubling to 5 s while replies are errors,
 * commands wait meanwhile), so no caller's retry loop can spin.
 */
extern double wk_redis_error_interval;
void wk_redis_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * Reply accessors: element i of an array reply when it has the type asked
 * for, else 0 / NULL, so that callers read replies without checking each
 * element's type themselves.
 */
long long wk_reply_int(const redisReply *r, size_t i);
/* A non-empty string element (len set), else NULL (len 0). */
const char *wk_reply_str(const redisReply *r, size_t i, size_t *len);
/* In a [field, value, ...] array (HGETALL, a stream entry): the value of
 * the first `name` if it is a string, else NULL. */
const redisReply *wk_reply_field(const redisReply *r, const char *name);

/* Closes for good: pending callbacks get NULL. */
void wk_redis_close(wk_redis_t *link);

#endif
