/* Cluster node addresses as seeds and MOVED/ASK replies spell them. */

#include <string.h>

#include "redis/mdm_cluster.h"
#include "tap.h"


static int
parse(const char *s, mdm_cluster_addr_t *a, const char **err)
{
    return mdm_cluster_parse_addr(s, strlen(s), a, err);
}


int
main(void)
{
    mdm_cluster_addr_t  a;
    const char         *err;

    is_int(parse("10.0.0.1:7000", &a, &err), 0, "IPv4 and port");
    is_str(a.host, "10.0.0.1", "... host");
    is_int(a.port, 7000, "... port");

    is_int(parse("[::1]:6379", &a, &err), 0, "bracketed IPv6");
    is_str(a.host, "::1", "... brackets removed");
    is_int(a.port, 6379, "... port");

    is_int(parse("fe80::1:6380", &a, &err), 0,
           "IPv6 as Redis writes it in MOVED: split at the last colon");
    is_str(a.host, "fe80::1", "... host");
    is_int(a.port, 6380, "... port");

    is_int(parse("redis-1.internal:7001", &a, &err), 0, "a host name");
    is_str(a.host, "redis-1.internal", "... kept as written");

    is_int(parse(":7002", &a, &err), -1, "no host");
    is_int(parse("10.0.0.1", &a, &err), -1, "no port");
    is_int(parse("10.0.0.1:0", &a, &err), -1, "port 0");
    ok(strstr(err, "port") != NULL, "... the error says port (%s)", err);
    is_int(parse("10.0.0.1:65536", &a, &err), -1, "port above 65535");
    is_int(parse("10.0.0.1:99999999999999999999", &a, &err), -1,
           "a port that would overflow");
    is_int(parse("10.0.0.1:70a", &a, &err), -1, "a port that is not a number");
    is_int(parse("[::1:7000", &a, &err), -1, "an unterminated [");
    is_int(parse("[]:7000", &a, &err), -1, "empty brackets");

    char long_host[200];
    memset(long_host, 'h', sizeof(long_host));
    memcpy(long_host + 150, ":7000", 6);
    is_int(parse(long_host, &a, &err), -1, "a host too long for a node");

    return done_testing();
}
