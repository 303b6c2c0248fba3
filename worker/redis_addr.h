#ifndef WK_REDIS_ADDR_H
#define WK_REDIS_ADDR_H

/*
 * The worker's `redis` setting, read once at start:
 *   host:port | [ipv6]:port | /unix/socket/path
 *   cluster host:port [host:port ...]      (Redis Cluster seeds)
 * Host names are resolved here, once (getaddrinfo), so that hiredis, which
 * would resolve on every reconnect and block the loop, sees numeric
 * addresses only. A name with several addresses gives a seed for each.
 */

#include <stddef.h>

#include "redis/mdm_cluster.h"

#define WK_REDIS_SEEDS_MAX 32

typedef struct {
    int                 cluster;
    const char         *path;             /* a unix socket, or NULL */
    mdm_cluster_addr_t  nodes[WK_REDIS_SEEDS_MAX];  /* [0] when not cluster */
    size_t              nnodes;
} wk_redis_addr_t;

/* 0, or -1 with the reason in err. out->path points into addr. */
int wk_redis_addr_parse(const char *addr, wk_redis_addr_t *out, char *err,
                        size_t errlen);

#endif
