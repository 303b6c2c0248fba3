#include <strings.h>

#include "mdm_cmd_key.h"


static int
arg_is(const mdm_slice_t *a, const char *word)
{
    size_t  n = 0;

    while (word[n] != '\0') {
        n++;
    }

    return a->len == n && strncasecmp(a->p, word, n) == 0;
}


static int
arg_number(const mdm_slice_t *a, long *out)
{
    long  n = 0;

    if (a->len == 0 || a->len > 9) {
        return -1;
    }

    for (size_t i = 0; i < a->len; i++) {
        if (a->p[i] < '0' || a->p[i] > '9') {
            return -1;
        }
        n = n * 10 + (a->p[i] - '0');
    }

    *out = n;
    return 0;
}


static int
take(int argc, const mdm_slice_t *argv, int i, mdm_slice_t *key)
{
    if (i >= argc) {
        return 0;
    }

    *key = argv[i];
    return 1;
}


int
mdm_cmd_key(int argc, const mdm_slice_t *argv, mdm_slice_t *key)
{
    long  nkeys;

    if (argc < 2) {
        return 0;
    }

    if (arg_is(&argv[0], "EVALSHA") || arg_is(&argv[0], "EVAL")
        || arg_is(&argv[0], "EVALSHA_RO") || arg_is(&argv[0], "EVAL_RO")
        || arg_is(&argv[0], "FCALL"))
    {
        if (argc < 4 || arg_number(&argv[2], &nkeys) != 0 || nkeys < 1) {
            return 0;
        }
        return take(argc, argv, 3, key);
    }

    if (arg_is(&argv[0], "XREADGROUP") || arg_is(&argv[0], "XREAD")) {
        for (int i = 1; i < argc; i++) {
            if (arg_is(&argv[i], "STREAMS")) {
                return take(argc, argv, i + 1, key);
            }
        }
        return 0;
    }

    if (arg_is(&argv[0], "XGROUP") || arg_is(&argv[0], "XINFO")
        || arg_is(&argv[0], "OBJECT") || arg_is(&argv[0], "MEMORY"))
    {
        return take(argc, argv, 2, key);
    }

    if (arg_is(&argv[0], "PING") || arg_is(&argv[0], "INFO")
        || arg_is(&argv[0], "SCRIPT") || arg_is(&argv[0], "CLUSTER")
        || arg_is(&argv[0], "TIME") || arg_is(&argv[0], "ECHO")
        || arg_is(&argv[0], "CLIENT") || arg_is(&argv[0], "CONFIG")
        || arg_is(&argv[0], "DBSIZE") || arg_is(&argv[0], "COMMAND"))
    {
        return 0;
    }

    return take(argc, argv, 1, key);
}


/* A decimal number ended by CRLF at *pos; -1 when malformed. */
static long
resp_number(const char *cmd, size_t len, size_t *pos)
{
    long  n = 0;
    int   digits = 0;

    while (*pos < len && cmd[*pos] >= '0' && cmd[*pos] <= '9') {
        if (++digits > 10) {
            return -1;
        }
        n = n * 10 + (cmd[(*pos)++] - '0');
    }

    if (digits == 0 || *pos + 2 > len || cmd[*pos] != '\r'
        || cmd[*pos + 1] != '\n')
    {
        return -1;
    }

    *pos += 2;
    return n;
}


int
mdm_cmd_args(const char *cmd, size_t len, mdm_slice_t *argv, int max)
{
    size_t  pos = 1;
    long    argc, n;
    int     i;

    if (len < 1 || cmd[0] != '*') {
        return -1;
    }

    argc = resp_number(cmd, len, &pos);
    if (argc < 0) {
        return -1;
    }

    for (i = 0; i < argc && i < max; i++) {
        if (pos >= len || cmd[pos++] != '$') {
            return -1;
        }
        n = resp_number(cmd, len, &pos);
        if (n < 0 || (size_t) n + 2 > len - pos) {
            return -1;
        }
        argv[i].p = cmd + pos;
        argv[i].len = (size_t) n;
        pos += (size_t) n + 2;
    }

    return i;
}
