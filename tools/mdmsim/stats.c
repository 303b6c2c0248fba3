/*
 * Load statistics: per-request latency, HTTP status and transport error
 * counts, and the client's own CPU use, which says whether a result measured
 * the server or mdmsim itself.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "runner.h"


/* Above this share of one core the client, not the server, set the pace. */
#define MDMSIM_CLIENT_BOUND  0.90


struct mdmsim_summary {
    double    elapsed;
    double    cpu;
    uint32_t  p50, p90, p99, max;
};


static int mdmsim_cmp_u32(const void *a, const void *b);
static double mdmsim_tv(const struct timeval *tv);
static void mdmsim_summarize(struct mdmsim_stats *s,
    struct mdmsim_summary *sum);
static void mdmsim_format_us(uint32_t us, char *buf, size_t size);
static void mdmsim_print_text(struct mdmsim_stats *s,
    const struct mdmsim_summary *sum, const struct mdmsim_opts *opts,
    long concurrency, const char *label);
static void mdmsim_print_json(struct mdmsim_stats *s,
    const struct mdmsim_summary *sum, const struct mdmsim_opts *opts,
    long concurrency, const char *label);


static const char  *mdmsim_scenario_names[] = {
    "enroll", "session", "idle", "checkin-storm", "ddm-items"
};

static const char  *mdmsim_mode_names[] = { "none", "tls", "sign" };


void
mdmsim_stats_start(struct mdmsim_stats *s)
{
    s->started = ev_time();
    getrusage(RUSAGE_SELF, &s->ru_started);
}


void
mdmsim_stats_stop(struct mdmsim_stats *s)
{
    s->finished = ev_time();
    getrusage(RUSAGE_SELF, &s->ru_finished);
}


void
mdmsim_stats_request(struct mdmsim_stats *s, double seconds, int status,
    int accept_404, enum mdmsim_http_error error)
{
    uint32_t  *p;
    size_t     cap;

    s->requests++;
    if (error != MDMSIM_HTTP_OK) {
        s->transport[error]++;
        s->requests_failed++;
        return;
    }
    s->status[status >= 0 && status < 600 ? status : 0]++;
    s->requests_failed += status != 200 && !(accept_404 && status == 404);

    if (s->latency_len == s->latency_cap) {
        cap = s->latency_cap ? 2 * s->latency_cap : 65536;
        p = realloc(s->latency_us, cap * sizeof(uint32_t));
        if (p == NULL) {
            return;
        }
        s->latency_us = p;
        s->latency_cap = cap;
    }
    s->latency_us[s->latency_len++] = (uint32_t) (seconds * 1e6 + 0.5);
}


static int
mdmsim_cmp_u32(const void *a, const void *b)
{
    uint32_t  x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return x < y ? -1 : x > y;
}


static double
mdmsim_tv(const struct timeval *tv)
{
    return tv->tv_sec + tv->tv_usec / 1e6;
}


static void
mdmsim_summarize(struct mdmsim_stats *s, struct mdmsim_summary *sum)
{
    size_t  n = s->latency_len;

    memset(sum, 0, sizeof(*sum));
    sum->elapsed = s->finished - s->started;
    sum->cpu = mdmsim_tv(&s->ru_finished.ru_utime)
               - mdmsim_tv(&s->ru_started.ru_utime)
               + mdmsim_tv(&s->ru_finished.ru_stime)
               - mdmsim_tv(&s->ru_started.ru_stime);
    if (n == 0) {
        return;
    }
    qsort(s->latency_us, n, sizeof(uint32_t), mdmsim_cmp_u32);
    sum->p50 = s->latency_us[(n - 1) * 50 / 100];
    sum->p90 = s->latency_us[(n - 1) * 90 / 100];
    sum->p99 = s->latency_us[(n - 1) * 99 / 100];
    sum->max = s->latency_us[n - 1];
}


static void
mdmsim_format_us(uint32_t us, char *buf, size_t size)
{
    if (us < 1000) {
        snprintf(buf, size, "%u us", us);
    } else {
        snprintf(buf, size, "%.2f ms", us / 1000.0);
    }
}


static void
mdmsim_print_text(struct mdmsim_stats *s, const struct mdmsim_summary *sum,
    const struct mdmsim_opts *opts, long concurrency, const char *label)
{
    char    p50[32], p90[32], p99[32], max[32];
    double  t = sum->elapsed > 0 ? sum->elapsed : 1e-9;
    int     i, any = 0;

    mdmsim_format_us(sum->p50, p50, sizeof(p50));
    mdmsim_format_us(sum->p90, p90, sizeof(p90));
    mdmsim_format_us(sum->p99, p99, sizeof(p99));
    mdmsim_format_us(sum->max, max, sizeof(max));

    printf("mdmsim %s: scenario %s, %ld devices, concurrency %ld, mode %s, "
           "%s, %.2f s\n", label, mdmsim_scenario_names[opts->scenario],
           opts->devices, concurrency, mdmsim_mode_names[opts->mode],
           opts->keepalive ? "keep-alive" : "new connection per job",
           sum->elapsed);
    printf("requests: %ld (%ld failed), %.1f req/s\n", s->requests,
           s->requests_failed, s->requests / t);
    printf("%s: %ld (%ld failed), %.1f/s\n",
           opts->scenario == MDMSIM_SCENARIO_ENROLL ? "enrollments"
           : "sessions", s->jobs, s->jobs_failed, s->jobs / t);
    printf("latency: p50 %s, p90 %s, p99 %s, max %s\n", p50, p90, p99, max);
    if (s->acknowledged + s->notnow + s->errors_reported + s->format_errors) {
        printf("commands: %ld Acknowledged, %ld NotNow, %ld Error, "
               "%ld CommandFormatError\n", s->acknowledged, s->notnow,
               s->errors_reported, s->format_errors);
    }
    if (s->commands_unanswered) {
        printf("commands offered to Idle and left unanswered: %ld\n",
               s->commands_unanswered);
    }

    if (s->ddm_syncs) {
        printf("ddm: %ld syncs, %ld declarations fetched, %ld status "
               "reports\n", s->ddm_syncs, s->ddm_fetches,
               s->ddm_status_reports);
    }
    if (s->tls_handshakes) {
        printf("TLS handshakes: %ld (%ld resumed)\n", s->tls_handshakes,
               s->tls_resumed);
    }
    printf("errors:");
    for (i = 0; i < 600; i++) {
        if (i != 200 && s->status[i]) {
            printf(" HTTP %d: %ld;", i, s->status[i]);
            any = 1;
        }
    }
    for (i = 1; i < MDMSIM_HTTP_NERRORS; i++) {
        if (s->transport[i]) {
            printf(" %s: %ld;", mdmsim_http_error_name(i), s->transport[i]);
            any = 1;
        }
    }
    printf("%s\n", any ? "" : " none");

    printf("client CPU: %.0f%% of one core\n", 100 * sum->cpu / t);
    if (sum->cpu / t >= MDMSIM_CLIENT_BOUND) {
        printf("the client was the bottleneck (CPU %.0f%% of one core): the "
               "server may be faster than measured\n", 100 * sum->cpu / t);
    }
}


static void
mdmsim_print_json(struct mdmsim_stats *s, const struct mdmsim_summary *sum,
    const struct mdmsim_opts *opts, long concurrency, const char *label)
{
    json_t  *root, *status, *errors;
    double   t = sum->elapsed > 0 ? sum->elapsed : 1e-9;
    char     code[8];
    int      i;

    status = json_object();
    for (i = 0; i < 600; i++) {
        if (s->status[i]) {
            snprintf(code, sizeof(code), "%d", i);
            json_object_set_new(status, code, json_integer(s->status[i]));
        }
    }
    errors = json_object();
    for (i = 1; i < MDMSIM_HTTP_NERRORS; i++) {
        if (s->transport[i]) {
            json_object_set_new(errors, mdmsim_http_error_name(i),
                                json_integer(s->transport[i]));
        }
    }
    root = json_pack("{s:s, s:s, s:I, s:I, s:s, s:b, s:f, s:I, s:I, s:f, "
                     "s:I, s:I, s:f, s:{s:I, s:I, s:I, s:I}, s:o, s:o, "
                     "s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I}, s:f, s:b}",
                     "command", label,
                     "scenario", mdmsim_scenario_names[opts->scenario],
                     "devices", (json_int_t) opts->devices,
                     "concurrency", (json_int_t) concurrency,
                     "mode", mdmsim_mode_names[opts->mode],
                     "keepalive", opts->keepalive,
                     "elapsed_s", sum->elapsed,
                     "requests", (json_int_t) s->requests,
                     "requests_failed", (json_int_t) s->requests_failed,
                     "requests_per_s", s->requests / t,
                     "sessions", (json_int_t) s->jobs,
                     "sessions_failed", (json_int_t) s->jobs_failed,
                     "sessions_per_s", s->jobs / t,
                     "latency_us",
                     "p50", (json_int_t) sum->p50,
                     "p90", (json_int_t) sum->p90,
                     "p99", (json_int_t) sum->p99,
                     "max", (json_int_t) sum->max,
                     "status", status,
                     "errors", errors,
                     "commands",
                     "Acknowledged", (json_int_t) s->acknowledged,
                     "NotNow", (json_int_t) s->notnow,
                     "Error", (json_int_t) s->errors_reported,
                     "CommandFormatError", (json_int_t) s->format_errors,
                     "unanswered", (json_int_t) s->commands_unanswered,
                     "tls_handshakes",
                     "full", (json_int_t) (s->tls_handshakes - s->tls_resumed),
                     "resumed", (json_int_t) s->tls_resumed,
                     "client_cpu", sum->cpu / t,
                     "client_bound", sum->cpu / t >= MDMSIM_CLIENT_BOUND);
    if (root != NULL) {
        json_object_set_new(root, "ddm", json_pack("{s:I, s:I, s:I}",
                            "syncs", (json_int_t) s->ddm_syncs,
                            "fetches", (json_int_t) s->ddm_fetches,
                            "status_reports",
                            (json_int_t) s->ddm_status_reports));
        json_dumpf(root, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(root);
    }
}


void
mdmsim_stats_print(struct mdmsim_stats *s, const struct mdmsim_opts *opts,
    long concurrency, const char *label)
{
    struct mdmsim_summary  sum;

    mdmsim_summarize(s, &sum);
    if (opts->json) {
        mdmsim_print_json(s, &sum, opts, concurrency, label);
    } else {
        mdmsim_print_text(s, &sum, opts, concurrency, label);
    }
    fflush(stdout);
}
