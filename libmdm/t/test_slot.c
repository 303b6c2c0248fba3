/* Hash slots as Redis Cluster computes them, and the key a command routes by. */

#include <string.h>

#include <hiredis/hiredis.h>

#include "redis/mdm_cmd_key.h"
#include "mdm_shard.h"
#include "mdm_slot.h"
#include "tap.h"


static unsigned
slot(const char *key)
{
    return mdm_key_slot(key, strlen(key));
}


/* The routing key of a command formatted as hiredis formats it. */
static const char *
routed(char *buf, size_t size, int argc, const char **argv)
{
    char         *cmd;
    long long     len;
    mdm_slice_t   args[MDM_CMD_KEY_ARGS], key;
    int           n;

    len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
    n = mdm_cmd_args(cmd, (size_t) len, args, MDM_CMD_KEY_ARGS);
    if (n < 0 || !mdm_cmd_key(n, args, &key)) {
        free(cmd);
        return "(none)";
    }
    snprintf(buf, size, "%.*s", (int) key.len, key.p);
    free(cmd);
    return buf;
}


int
main(void)
{
    char  buf[128];

    /* the check value of CRC16/XMODEM, which Redis's crc16.c documents */
    is_int(mdm_crc16("123456789", 9), 0x31c3, "CRC16 of 123456789 is 0x31C3");

    /* CLUSTER KEYSLOT answers of redis-server 7.0 */
    is_int(slot("foo"), 12182, "slot of foo");
    is_int(slot("bar"), 5061, "slot of bar");
    is_int(slot("hello"), 866, "slot of hello");
    is_int(slot(""), 0, "slot of the empty key");

    is_int(slot("{user1000}.following"), slot("{user1000}.followers"),
           "keys with one tag share a slot");
    is_int(slot("mdm:{s17}:q:abc"), slot("s17"), "the tag alone is hashed");
    is_int(slot("foo{}{bar}"), mdm_crc16("foo{}{bar}", 10) & 16383,
           "an empty tag hashes the whole key");
    ok(slot("foo{}{bar}") != slot("bar"), "an empty first tag is no tag");
    is_int(slot("foo{{bar}}zap"), slot("{bar"), "tag ends at the first }");
    is_int(slot("foo{bar}{zap}"), slot("bar"), "only the first tag counts");
    is_int(slot("foo{bar"), mdm_crc16("foo{bar", 7) & 16383,
           "an unterminated tag hashes the whole key");

    {
        const char *a[] = { "GET", "k1" };
        is_str(routed(buf, sizeof(buf), 2, a), "k1", "GET routes by its key");
    }
    {
        const char *a[] = { "EVALSHA", "abc", "2", "mdm:{s1}:a", "mdm:{s1}:b",
                            "arg" };
        is_str(routed(buf, sizeof(buf), 6, a), "mdm:{s1}:a",
               "EVALSHA routes by KEYS[1]");
    }
    {
        const char *a[] = { "EVALSHA", "abc", "0", "arg" };
        is_str(routed(buf, sizeof(buf), 4, a), "(none)",
               "EVALSHA with no keys has no key");
    }
    {
        const char *a[] = { "XREADGROUP", "GROUP", "g", "c", "COUNT", "10",
                            "BLOCK", "2000", "STREAMS", "mdm:push", ">" };
        is_str(routed(buf, sizeof(buf), 11, a), "mdm:push",
               "XREADGROUP routes by the stream after STREAMS");
    }
    {
        const char *a[] = { "XGROUP", "CREATE", "mdm:events", "g", "$" };
        is_str(routed(buf, sizeof(buf), 5, a), "mdm:events",
               "XGROUP routes by its stream");
    }
    {
        const char *a[] = { "PING" };
        is_str(routed(buf, sizeof(buf), 1, a), "(none)", "PING has no key");
    }
    {
        const char *a[] = { "SCRIPT", "LOAD", "return 1" };
        is_str(routed(buf, sizeof(buf), 3, a), "(none)",
               "SCRIPT LOAD has no key");
    }
    {
        const char *a[] = { "INFO", "memory" };
        is_str(routed(buf, sizeof(buf), 2, a), "(none)", "INFO has no key");
    }

    {
        mdm_slice_t  args[4];
        is_int(mdm_cmd_args("PING\r\n", 6, args, 4), -1,
               "an inline command is not RESP");
        is_int(mdm_cmd_args("*2\r\n$3\r\nGET\r\n$9\r\nk\r\n", 18, args, 4), -1,
               "a bulk longer than the buffer is refused");
        is_int(mdm_cmd_args("*1\r\n$4\r\nPING\r\n", 14, args, 4), 1,
               "one argument");
    }

    /* a user channel's shard is its device's */
    is_int(mdm_shard_of("UDID-1", 6, 16), mdm_crc16("UDID-1", 6) % 16,
           "a device channel's shard is CRC16 of its ID mod S");
    is_int(mdm_shard_of("UDID-1:USER-9", 13, 16), mdm_shard_of("UDID-1", 6, 16),
           "a user channel lives in its device's shard");
    is_int(mdm_shard_of("UDID-1", 6, 1), 0, "one shard holds everything");
    ok(mdm_shard_of("123456789", 9, MDM_SHARDS_MAX) == 0x31c3 % MDM_SHARDS_MAX,
       "the shard uses the whole device ID");

    return done_testing();
}
