#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"

wk_log_level_t wk_log_level = WK_LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error", "alert"};


int
wk_log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            return (int) i;
        }
    }
    return -1;
}


void
wk_log(wk_log_level_t level, const char *fmt, ...)
{
    if (level < wk_log_level) {
        return;
    }

    struct timeval tv;
    struct tm tm;
    char line[1024];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);

    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ [%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int) (tv.tv_usec / 1000), level_names[level]);

    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);

    /* One write per line so that lines of concurrent workers never mix. */
    size_t len = strlen(line);
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
}


static void
totals_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    wk_totals_t *t = w->data;
    (void) loop;
    (void) revents;

    if (memcmp(t->counts, t->logged, t->size) != 0) {
        t->line(t->counts, "", t->data);
        memcpy(t->logged, t->counts, t->size);
    }
}


void
wk_totals_start(wk_totals_t *t, struct ev_loop *loop, const void *counts,
                void *logged, size_t size,
                void (*line)(const void *, const char *, void *), void *data)
{
    t->counts = counts;
    t->logged = logged;
    t->size = size;
    t->line = line;
    t->data = data;
    ev_timer_init(&t->timer, totals_on_timer, 60., 60.);
    t->timer.data = t;
    ev_timer_start(loop, &t->timer);
}


void
wk_totals_stop(wk_totals_t *t, struct ev_loop *loop)
{
    if (t->line == NULL) {
        return;                         /* never started */
    }
    ev_timer_stop(loop, &t->timer);
    t->line(t->counts, " total", t->data);
    t->line = NULL;
}
