/*
 * Test driver of libmdm's cluster client (t/180-cluster-client.t): the
 * client on the libev adapter, one command per stdin line, one answer line
 * per command on stdout. Not a test by itself (no test_ prefix): the Perl
 * test starts a real Redis Cluster and talks to it through this.
 *
 *   cluster_client [--timeout MS] [--pool N] HOST:PORT...
 *
 * A line is a command, words split on blanks, answered once it completes:
 *   +status  -error  :integer  $bulk  (nil)  *N [elem, ...]
 *   !timeout  !lost  !unavailable  (the client's statuses)
 *   !refused  (mdm_cluster_send returned NULL: nothing was sent)
 * and a few words of its own:
 *   STATS            moved=N ask=N tryagain=N clusterdown=N noscript=N ...
 *   SHA              the SHA-1 of the one script the driver loads
 *   READY            waits until the client has a slot map, answers "ready"
 *   REPEAT N CMD...  sends CMD N times at once, answers "ok=N err=N fail=N"
 *   FOR MS K CMD...  keeps K CMDs in flight for MS milliseconds, then
 *                    answers as REPEAT does once all are answered
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mdm_script.h"
#include "redis/mdm_cluster_ev.h"

#define WORDS_MAX 64

static const mdm_script_t  scripts[] = {
    { "echo", "return {KEYS[1], ARGV[1]}", 25 },
    { NULL, NULL, 0 }
};

typedef struct {
    struct ev_loop    *loop;
    mdm_cluster_ev_t   ev;
    mdm_cluster_t     *cl;
    ev_io              in;
    ev_timer           ready_poll;
    unsigned           outstanding;
    unsigned           ok, err, fail;
    int                repeat;
    int                busy;           /* a line is being answered */
    ev_tstamp          for_until;      /* FOR: resend until then */
    int                for_argc;
    const char        *for_argv[WORDS_MAX];
    char               for_line[4096];
    int                pumping;
    char               buf[65536];
    size_t             have;
} driver_t;

static driver_t  d;

static void pump(void);
static int send_words(int argc, const char **argv);


static void
print_reply(const redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_STATUS:
        printf("+%s", r->str);
        break;
    case REDIS_REPLY_ERROR:
        printf("-%s", r->str);
        break;
    case REDIS_REPLY_INTEGER:
        printf(":%lld", r->integer);
        break;
    case REDIS_REPLY_STRING:
        printf("$%.*s", (int) r->len, r->str);
        break;
    case REDIS_REPLY_NIL:
        printf("(nil)");
        break;
    case REDIS_REPLY_ARRAY:
        printf("*%zu [", r->elements);
        for (size_t i = 0; i < r->elements; i++) {
            printf(i ? ", " : "");
            print_reply(r->element[i]);
        }
        printf("]");
        break;
    default:
        printf("?");
    }
}


static void
answered(void)
{
    fflush(stdout);
    d.busy = 0;
    pump();
}


static void
on_reply(void *data, redisReply *r, mdm_cluster_status_e st)
{
    (void) data;

    if (d.repeat) {
        if (st != MDM_CLUSTER_OK) {
            d.fail++;
        } else if (r->type == REDIS_REPLY_ERROR) {
            d.err++;
            fprintf(stderr, "repeat: %s\n", r->str);
        } else {
            d.ok++;
        }
        if (d.for_until > 0 && ev_now(d.loop) < d.for_until) {
            if (send_words(d.for_argc, d.for_argv) == 0) {
                return;                  /* one out, one in */
            }
            d.fail++;
        }
        if (--d.outstanding == 0) {
            d.for_until = 0;
            printf("ok=%u err=%u fail=%u\n", d.ok, d.err, d.fail);
            d.repeat = 0;
            answered();
        }
        return;
    }

    if (st == MDM_CLUSTER_OK) {
        print_reply(r);
        printf("\n");
    } else {
        printf("%s\n", st == MDM_CLUSTER_TIMEOUT ? "!timeout"
                       : st == MDM_CLUSTER_CONNECTION_LOST ? "!lost"
                       : "!unavailable");
    }
    answered();
}


static int
send_words(int argc, const char **argv)
{
    char       *cmd;
    long long   len;

    len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
    if (len < 0) {
        return -1;
    }

    return mdm_cluster_send(d.cl, cmd, (size_t) len, 0, on_reply, NULL)
           ? 0 : -1;
}


static void
on_ready_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void) revents;

    if (mdm_cluster_ready(d.cl)) {
        ev_timer_stop(loop, w);
        printf("ready\n");
        answered();
    }
}


static void
do_stats(void)
{
    const mdm_cluster_stats_t  *s = mdm_cluster_stats(d.cl);

    printf("moved=%llu ask=%llu tryagain=%llu clusterdown=%llu noscript=%llu "
           "refreshes=%llu map_errors=%llu unavailable=%llu timeouts=%llu\n",
           (unsigned long long) s->moved, (unsigned long long) s->ask,
           (unsigned long long) s->tryagain,
           (unsigned long long) s->clusterdown,
           (unsigned long long) s->noscript,
           (unsigned long long) s->map_refreshes,
           (unsigned long long) s->map_errors,
           (unsigned long long) s->unavailable,
           (unsigned long long) s->timeouts);
}


static void
do_repeat(int argc, const char **argv)
{
    int  n = atoi(argv[1]);

    d.repeat = 1;
    d.ok = d.err = d.fail = 0;
    d.outstanding = 1;                   /* held until all are sent */

    for (int i = 0; i < n; i++) {
        d.outstanding++;
        if (send_words(argc - 2, argv + 2) != 0) {
            d.outstanding--;
            d.fail++;
        }
    }

    if (--d.outstanding == 0) {
        printf("ok=%u err=%u fail=%u\n", d.ok, d.err, d.fail);
        d.repeat = 0;
        answered();
    }
}


/* FOR ms k cmd...: the words are copied, they outlive this line. */
static void
do_for(int argc, const char **argv)
{
    size_t  used = 0;
    int     k = atoi(argv[2]);

    d.for_argc = 0;
    for (int i = 3; i < argc && used < sizeof(d.for_line) - 256; i++) {
        size_t n = strlen(argv[i]) + 1;
        memcpy(d.for_line + used, argv[i], n);
        d.for_argv[d.for_argc++] = d.for_line + used;
        used += n;
    }

    d.repeat = 1;
    d.ok = d.err = d.fail = 0;
    d.for_until = ev_now(d.loop) + atoi(argv[1]) / 1000.0;
    d.outstanding = 1;                   /* held until all are sent */

    for (int i = 0; i < k; i++) {
        d.outstanding++;
        if (send_words(d.for_argc, d.for_argv) != 0) {
            d.outstanding--;
            d.fail++;
        }
    }

    if (--d.outstanding == 0) {
        printf("ok=%u err=%u fail=%u\n", d.ok, d.err, d.fail);
        d.repeat = 0;
        d.for_until = 0;
        answered();
    }
}


static void
on_line(char *line)
{
    const char  *argv[WORDS_MAX];
    int          argc = 0;
    char         sha[MDM_SHA1_HEX_LEN + 1];

    for (char *w = strtok(line, " \t\r\n"); w && argc < WORDS_MAX;
         w = strtok(NULL, " \t\r\n"))
    {
        argv[argc++] = w;
    }

    if (argc == 0) {
        answered();
        return;
    }

    if (strcmp(argv[0], "STATS") == 0) {
        do_stats();
        answered();

    } else if (strcmp(argv[0], "SHA") == 0) {
        mdm_script_sha1_hex(&scripts[0], sha);
        printf("%s\n", sha);
        answered();

    } else if (strcmp(argv[0], "READY") == 0) {
        ev_timer_start(d.loop, &d.ready_poll);

    } else if (strcmp(argv[0], "REPEAT") == 0 && argc > 2) {
        do_repeat(argc, argv);

    } else if (strcmp(argv[0], "FOR") == 0 && argc > 3) {
        do_for(argc, argv);

    } else if (send_words(argc, argv) != 0) {
        printf("!refused\n");
        answered();
    }
}


/*
 * One line at a time: the next is taken once the last is answered. stdin
 * stays watched meanwhile, which also keeps the loop running while the
 * client waits with no connection open.
 */
static void
pump(void)
{
    char  line[sizeof(d.buf)];
    char *nl;

    if (d.pumping) {
        return;
    }
    d.pumping = 1;

    while (!d.busy && (nl = memchr(d.buf, '\n', d.have)) != NULL) {
        size_t n = (size_t) (nl - d.buf) + 1;
        memcpy(line, d.buf, n);
        line[n - 1] = '\0';
        d.have -= n;
        memmove(d.buf, d.buf + n, d.have);
        d.busy = 1;
        on_line(line);
    }

    d.pumping = 0;

    if (!d.busy && !ev_is_active(&d.in)) {
        ev_break(d.loop, EVBREAK_ALL);   /* stdin closed, all answered */
    }
}


static void
on_stdin(struct ev_loop *loop, ev_io *w, int revents)
{
    ssize_t  n;

    (void) revents;

    n = read(w->fd, d.buf + d.have, sizeof(d.buf) - 1 - d.have);
    if (n <= 0) {
        ev_io_stop(loop, w);
    } else {
        d.have += (size_t) n;
    }

    pump();
}


static void
on_log(void *ctx, mdm_cluster_event_e ev, const char *msg)
{
    (void) ctx;
    fprintf(stderr, "cluster[%d]: %s\n", (int) ev, msg);
}


int
main(int argc, char **argv)
{
    mdm_cluster_addr_t   seeds[16];
    mdm_cluster_conf_t   conf;
    const char          *err;
    size_t               nseeds = 0;

    memset(&conf, 0, sizeof(conf));
    conf.pool = 1;
    conf.timeout_ms = 2000;
    conf.connect_timeout_ms = 1000;
    conf.max_redirects = 16;
    conf.retry_delay_ms = 20;
    conf.refresh_ms = 10000;
    conf.backoff_max_ms = 1000;
    conf.scripts = scripts;
    conf.log = on_log;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            conf.timeout_ms = (unsigned) atoi(argv[++i]);
        } else if (strcmp(argv[i], "--pool") == 0 && i + 1 < argc) {
            conf.pool = (unsigned) atoi(argv[++i]);
        } else if (nseeds < 16
                   && mdm_cluster_parse_addr(argv[i], strlen(argv[i]),
                                             &seeds[nseeds], &err) == 0)
        {
            nseeds++;
        } else {
            fprintf(stderr, "cluster_client: seed \"%s\": %s\n", argv[i],
                    nseeds < 16 ? err : "too many");
            return 2;
        }
    }

    conf.seeds = seeds;
    conf.nseeds = nseeds;

    setvbuf(stdout, NULL, _IOLBF, 0);
    d.loop = EV_DEFAULT;
    d.cl = mdm_cluster_ev_start(&d.ev, d.loop, &conf);
    if (d.cl == NULL) {
        return 1;
    }

    ev_timer_init(&d.ready_poll, on_ready_poll, 0.02, 0.02);
    ev_io_init(&d.in, on_stdin, 0, EV_READ);
    ev_io_start(d.loop, &d.in);
    ev_run(d.loop, 0);

    mdm_cluster_ev_stop(&d.ev);
    return 0;
}
