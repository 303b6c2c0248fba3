#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "redis_addr.h"


/* host:port → every numeric address of host, appended to out. */
static int
resolve(const char *word, size_t len, wk_redis_addr_t *out, int all,
        char *err, size_t errlen)
{
    mdm_cluster_addr_t  a;
    struct addrinfo     hints, *res, *ai;
    const char         *why;
    char                port[8];
    int                 rc;

    if (mdm_cluster_parse_addr(word, len, &a, &why) != 0) {
        snprintf(err, errlen, "\"%.*s\" %s", (int) len, word, why);
        return -1;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", a.port);

    rc = getaddrinfo(a.host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "\"%.*s\": %s", (int) len, word,
                 gai_strerror(rc));
        return -1;
    }

    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if (out->nnodes == WK_REDIS_SEEDS_MAX) {
            break;
        }
        mdm_cluster_addr_t *n = &out->nodes[out->nnodes];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, n->host, sizeof(n->host),
                        NULL, 0, NI_NUMERICHOST) != 0)
        {
            continue;
        }
        n->port = a.port;
        out->nnodes++;
        if (!all) {
            break;
        }
    }

    freeaddrinfo(res);
    return 0;
}


int
wk_redis_addr_parse(const char *addr, wk_redis_addr_t *out, char *err,
                    size_t errlen)
{
    const char  *p = addr;
    size_t       len;

    memset(out, 0, sizeof(*out));

    if (addr[0] == '/') {
        out->path = addr;
        return 0;
    }

    if (strncmp(addr, "cluster", 7) != 0
        || (addr[7] != ' ' && addr[7] != '\t' && addr[7] != '\0'))
    {
        if (resolve(addr, strlen(addr), out, 0, err, errlen) != 0) {
            return -1;
        }
        return 0;
    }

    out->cluster = 1;
    p = addr + 7;

    for (;;) {
        p += strspn(p, " \t,");
        if (*p == '\0') {
            break;
        }
        len = strcspn(p, " \t,");
        if (resolve(p, len, out, 1, err, errlen) != 0) {
            return -1;
        }
        p += len;
    }

    if (out->nnodes == 0) {
        snprintf(err, errlen, "\"cluster\" needs at least one seed host:port");
        return -1;
    }

    return 0;
}
