#ifndef MDMSIM_RUNNER_H
#define MDMSIM_RUNNER_H

/*
 * The runner drives devices through jobs (an enrollment, a session, one
 * Idle, one TokenUpdate) on a fixed number of concurrent connections, and
 * keeps the statistics the report prints.
 */

#include <sys/resource.h>

#include "http.h"


struct mdmsim_stats {
    double           started;
    double           finished;
    struct rusage    ru_started;
    struct rusage    ru_finished;
    uint32_t        *latency_us;
    size_t           latency_len, latency_cap;
    long             requests;
    long             requests_failed;
    long             jobs;
    long             jobs_failed;
    long             status[600];
    long             transport[MDMSIM_HTTP_NERRORS];
    long             acknowledged;
    long             notnow;
    long             errors_reported;
    long             format_errors;
    long             commands_unanswered;
    long             tls_handshakes;
    long             tls_resumed;
    long             ddm_syncs;
    long             ddm_fetches;
    long             ddm_status_reports;
};

struct mdmsim_runner;

struct mdmsim_slot {
    struct mdmsim_conn     conn;
    struct mdmsim_runner  *runner;
    struct mdmsim_device  *dev;
    int                    step;
    int                    ddm_step;       /* enum in runner.c */
    char                   ddm_what[128];  /* label of the DDM request */
    long                   commands;
    struct mdmsim_body     report;
    const char            *what;
    double                 request_started;
};

struct mdmsim_runner {
    struct ev_loop        *loop;
    struct mdmsim_fleet   *fleet;
    const struct mdmsim_opts *opts;
    struct mdmsim_url      check_in;
    struct mdmsim_url      server;
    SSL_CTX               *ctx;
    struct mdmsim_slot    *slots;
    long                   nslots;
    long                   active;
    long                  *ring;
    long                   ring_head, ring_len;
    int                    sticky;
    int                    stopping;
    long                   jobs_started;
    long                   jobs_limit;
    long                   requests_started;
    long                   requests_limit;
    ev_timer               deadline;
    struct mdmsim_stats    stats;
};


/* Runs opts->scenario until its limits; returns 0 if every request got 200. */
int mdmsim_run(struct mdmsim_fleet *fleet, long jobs_limit,
    long requests_limit, double duration, const char *label);

/* stats.c */

void mdmsim_stats_start(struct mdmsim_stats *stats);
void mdmsim_stats_stop(struct mdmsim_stats *stats);
/* accept_404: the request was a DDM declaration fetch, where 404 means
 * "removed" and is an answer, not a failure */
void mdmsim_stats_request(struct mdmsim_stats *stats, double seconds,
    int status, int accept_404, enum mdmsim_http_error error);
void mdmsim_stats_print(struct mdmsim_stats *stats,
    const struct mdmsim_opts *opts, long concurrency, const char *label);

#endif /* MDMSIM_RUNNER_H */
