#ifndef MDM_CMD_KEY_H
#define MDM_CMD_KEY_H

/*
 * The key a Redis command is routed by in a cluster: its first key, found
 * where Redis's command table puts it (EVALSHA after numkeys, XREADGROUP
 * after STREAMS, XGROUP/XINFO as the third argument, most commands the
 * second). Commands without a key (PING, INFO, SCRIPT, CLUSTER) have none
 * and may go to any master.
 */

#include <stddef.h>

typedef struct {
    const char  *p;
    size_t       len;
} mdm_slice_t;

/* At most this many leading arguments are looked at. */
#define MDM_CMD_KEY_ARGS 16

/* 1 and *key when the command has a key, 0 when it has none. */
int mdm_cmd_key(int argc, const mdm_slice_t *argv, mdm_slice_t *key);

/*
 * Splits a RESP-formatted command (as redisFormatCommand makes it) into its
 * first arguments; their count, or -1 when cmd is not a RESP array of bulk
 * strings.
 */
int mdm_cmd_args(const char *cmd, size_t len, mdm_slice_t *argv, int max);

#endif
