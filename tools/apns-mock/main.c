/*
 * apns-mock: parse flags, listen, run the loop until SIGTERM, print the
 * counters. See docs/apns-mock.md.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/rand.h>

#include "mock.h"

#define AM_LOG_BUF (1 << 16)


static void am_usage(FILE *f);
static int am_parse_ulong(const char *s, unsigned long *out);
static int am_parse_listen(am_config_t *cfg, const char *s);
static int am_parse_burst(am_config_t *cfg, const char *s);
static int am_parse_args(am_config_t *cfg, int argc, char **argv);
static int am_listen(am_server_t *srv);
static int am_init(am_server_t *srv);
static void am_print_stats(am_server_t *srv);
static void am_signal_cb(struct ev_loop *loop, ev_signal *w, int revents);
static void am_shutdown(am_server_t *srv);


static void
am_usage(FILE *f)
{
    fprintf(f,
        "usage: apns-mock --cert FILE --key FILE --ca FILE\n"
        "                 [--port N | --listen ADDR:PORT] [--script FILE]\n"
        "                 [--log FILE] [--quiet] [--fail-every N]\n"
        "                 [--burst-429 N:M] [--goaway-after N]\n"
        "                 [--max-streams N] [--goaway-at-start CODE:REASON]\n");
}


static int
am_parse_ulong(const char *s, unsigned long *out)
{
    char  *end;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    *out = strtoul(s, &end, 10);
    return (*end != '\0' || errno) ? -1 : 0;
}


static int
am_parse_listen(am_config_t *cfg, const char *s)
{
    static char     addr[INET_ADDRSTRLEN];
    const char     *colon = strrchr(s, ':');
    unsigned long   port;

    if (colon == NULL || (size_t) (colon - s) >= sizeof(addr)
        || am_parse_ulong(colon + 1, &port) != 0 || port > 65535)
    {
        return -1;
    }
    memcpy(addr, s, colon - s);
    addr[colon - s] = '\0';
    cfg->listen_addr = addr;
    cfg->port = (int) port;
    return 0;
}


static int
am_parse_burst(am_config_t *cfg, const char *s)
{
    char  buf[64], *colon;

    if (strlen(s) >= sizeof(buf)) {
        return -1;
    }
    strcpy(buf, s);
    colon = strchr(buf, ':');
    if (colon == NULL) {
        return -1;
    }
    *colon = '\0';

    return (am_parse_ulong(buf, &cfg->burst_after) != 0
            || am_parse_ulong(colon + 1, &cfg->burst_len) != 0
            || cfg->burst_len == 0) ? -1 : 0;
}


/* "CODE:REASON": an HTTP/2 error code and a reason word for the JSON. */
static int
am_parse_goaway_start(am_config_t *cfg, char *arg)
{
    unsigned long  code;
    char          *colon = strchr(arg, ':');

    if (colon == NULL || colon[1] == '\0'
        || strlen(colon + 1) > AM_MAX_REASON
        || strspn(colon + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "abcdefghijklmnopqrstuvwxyz")
           != strlen(colon + 1))
    {
        return -1;
    }
    *colon = '\0';
    if (am_parse_ulong(arg, &code) != 0 || code > 0xffffffffUL) {
        return -1;
    }
    cfg->goaway_at_start = 1;
    cfg->goaway_start_code = (uint32_t) code;
    cfg->goaway_start_reason = colon + 1;
    return 0;
}


static int
am_parse_args(am_config_t *cfg, int argc, char **argv)
{
    static const struct option  opts[] = {
        { "port",         required_argument, NULL, 'p' },
        { "listen",       required_argument, NULL, 'l' },
        { "cert",         required_argument, NULL, 'c' },
        { "key",          required_argument, NULL, 'k' },
        { "ca",           required_argument, NULL, 'a' },
        { "script",       required_argument, NULL, 's' },
        { "log",          required_argument, NULL, 'L' },
        { "quiet",        no_argument,       NULL, 'q' },
        { "fail-every",   required_argument, NULL, 'f' },
        { "burst-429",    required_argument, NULL, 'b' },
        { "goaway-after", required_argument, NULL, 'g' },
        { "max-streams",  required_argument, NULL, 'm' },
        { "goaway-at-start", required_argument, NULL, 'G' },
        { "help",         no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    unsigned long  n;
    int            opt, bad = 0;

    cfg->listen_addr = "127.0.0.1";
    cfg->max_streams = AM_DEFAULT_STREAMS;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            bad |= am_parse_ulong(optarg, &n) != 0 || n > 65535;
            cfg->port = (int) n;
            break;
        case 'l':
            bad |= am_parse_listen(cfg, optarg) != 0;
            break;
        case 'c': cfg->cert = optarg; break;
        case 'k': cfg->key = optarg; break;
        case 'a': cfg->ca = optarg; break;
        case 's': cfg->script_file = optarg; break;
        case 'L': cfg->log_file = optarg; break;
        case 'q': cfg->quiet = 1; break;
        case 'f':
            bad |= am_parse_ulong(optarg, &cfg->fail_every) != 0;
            break;
        case 'b':
            bad |= am_parse_burst(cfg, optarg) != 0;
            break;
        case 'g':
            bad |= am_parse_ulong(optarg, &cfg->goaway_after) != 0;
            break;
        case 'G':
            bad |= am_parse_goaway_start(cfg, optarg) != 0;
            break;
        case 'm':
            bad |= am_parse_ulong(optarg, &n) != 0 || n == 0
                   || n > 0x7fffffff;
            cfg->max_streams = (uint32_t) n;
            break;
        case 'h':
            am_usage(stdout);
            exit(0);
        default:
            bad = 1;
        }
    }

    if (bad || optind != argc || !cfg->cert || !cfg->key || !cfg->ca) {
        am_usage(stderr);
        return -1;
    }
    return 0;
}


static int
am_listen(am_server_t *srv)
{
    struct sockaddr_in  sin;
    socklen_t           len = sizeof(sin);
    int                 fd, one = 1;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(srv->cfg.port);
    if (inet_pton(AF_INET, srv->cfg.listen_addr, &sin.sin_addr) != 1) {
        fprintf(stderr, "apns-mock: bad listen address %s\n",
                srv->cfg.listen_addr);
        return -1;
    }

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
        || bind(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || listen(fd, SOMAXCONN) != 0
        || getsockname(fd, (struct sockaddr *) &sin, &len) != 0)
    {
        fprintf(stderr, "apns-mock: listen on %s:%d: %s\n",
                srv->cfg.listen_addr, srv->cfg.port, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }

    srv->listen_fd = fd;
    /* The first stdout line, so a test can learn an ephemeral port. */
    printf("port=%d\n", ntohs(sin.sin_port));
    fflush(stdout);
    return 0;
}


static int
am_init(am_server_t *srv)
{
    uint32_t       rnd[4];

    srv->ssl_ctx = am_tls_ctx_new(&srv->cfg);
    if (srv->ssl_ctx == NULL) {
        return -1;
    }

    if (srv->cfg.script_file) {
        srv->script = am_script_load(srv->cfg.script_file);
        if (srv->script == NULL) {
            return -1;
        }
    }

    srv->log = stdout;
    if (srv->cfg.log_file) {
        srv->log = fopen(srv->cfg.log_file, "a");
        if (srv->log == NULL) {
            fprintf(stderr, "apns-mock: %s: %s\n", srv->cfg.log_file,
                    strerror(errno));
            return -1;
        }
        setvbuf(srv->log, NULL, _IOFBF, AM_LOG_BUF);
    }

    /* A version-4-shaped UUID prefix; a counter fills the last group. */
    if (RAND_bytes((unsigned char *) rnd, sizeof(rnd)) != 1) {
        return -1;
    }
    snprintf(srv->uuid_prefix, sizeof(srv->uuid_prefix),
             "%08x-%04x-4%03x-8%03x-", rnd[0], rnd[1] & 0xffff,
             rnd[2] & 0xfff, rnd[3] & 0xfff);

    if (am_conn_init(srv) != 0 || am_listen(srv) != 0) {
        return -1;
    }

    srv->loop = EV_DEFAULT;
    ev_io_init(&srv->accept_w, am_conn_accept_cb, srv->listen_fd, EV_READ);
    srv->accept_w.data = srv;
    ev_io_start(srv->loop, &srv->accept_w);

    ev_signal_init(&srv->term_w, am_signal_cb, SIGTERM);
    ev_signal_init(&srv->int_w, am_signal_cb, SIGINT);
    ev_signal_init(&srv->usr1_w, am_signal_cb, SIGUSR1);
    srv->term_w.data = srv->int_w.data = srv->usr1_w.data = srv;
    ev_signal_start(srv->loop, &srv->term_w);
    ev_signal_start(srv->loop, &srv->int_w);
    ev_signal_start(srv->loop, &srv->usr1_w);

    return 0;
}


static void
am_print_stats(am_server_t *srv)
{
    const am_stats_t  *st = &srv->stats;
    int                i;

    if (srv->log != stdout) {
        fflush(srv->log);
    }

    printf("stats connections=%lu handshake_failures=%lu requests=%lu "
           "goaways=%lu", st->connections, st->handshake_failures,
           st->requests, st->goaways);
    for (i = 0; i < AM_STATUS_MAX; i++) {
        if (st->status[i]) {
            printf(" status_%d=%lu", i, st->status[i]);
        }
    }
    printf("\n");
    fflush(stdout);
}


/* libev delivers signals inside the loop, so acting here is safe. */
static void
am_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void) revents;

    am_print_stats(w->data);
    if (w->signum != SIGUSR1) {
        ev_break(loop, EVBREAK_ALL);
    }
}


static void
am_shutdown(am_server_t *srv)
{
    am_conn_shutdown(srv);
    close(srv->listen_fd);
    SSL_CTX_free(srv->ssl_ctx);
    am_script_free(srv->script);
    if (srv->log != stdout) {
        fclose(srv->log);
    }
    ev_loop_destroy(srv->loop);
}


int
main(int argc, char **argv)
{
    static am_server_t  srv;

    /* Full buffering; the loop flushes after each batch of pushes. */
    setvbuf(stdout, NULL, _IOFBF, AM_LOG_BUF);
    /* A peer vanishing mid-write must be an error code, not a signal. */
    signal(SIGPIPE, SIG_IGN);

    if (am_parse_args(&srv.cfg, argc, argv) != 0) {
        return 2;
    }
    if (am_init(&srv) != 0) {
        return 1;
    }

    ev_run(srv.loop, 0);

    am_shutdown(&srv);
    return 0;
}
