#ifndef WK_LOG_H
#define WK_LOG_H

/*
 * Levelled log lines to stderr: "<UTC time> [level] message". One line per
 * notable event; debug lines cost a level compare when disabled.
 */

#include <stddef.h>

#include <ev.h>

typedef enum {
    WK_LOG_DEBUG = 0,
    WK_LOG_INFO,
    WK_LOG_WARN,
    WK_LOG_ERROR,
    WK_LOG_ALERT
} wk_log_level_t;

extern wk_log_level_t wk_log_level;

/* Parses "debug", "info", "warn", "error", "alert"; -1 if unknown. */
int wk_log_level_parse(const char *name);

void wk_log(wk_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define wk_debug(...)                                                        \
    do {                                                                     \
        if (wk_log_level <= WK_LOG_DEBUG) wk_log(WK_LOG_DEBUG, __VA_ARGS__); \
    } while (0)
#define wk_info(...)  wk_log(WK_LOG_INFO, __VA_ARGS__)
#define wk_warn(...)  wk_log(WK_LOG_WARN, __VA_ARGS__)
#define wk_error(...) wk_log(WK_LOG_ERROR, __VA_ARGS__)
#define wk_alert(...) wk_log(WK_LOG_ALERT, __VA_ARGS__)

/*
 * A totals line: logged every minute while the counts (a struct of
 * unsigned longs the caller owns) change, and once more, "total", when
 * stopped.
 */
typedef struct {
    ev_timer        timer;
    const void     *counts;
    void           *logged;         /* the counts of the last line */
    size_t          size;
    void          (*line)(const void *counts, const char *when,
                          void *data);
    void           *data;
} wk_totals_t;

void wk_totals_start(wk_totals_t *t, struct ev_loop *loop,
                     const void *counts, void *logged, size_t size,
                     void (*line)(const void *, const char *, void *),
                     void *data);
void wk_totals_stop(wk_totals_t *t, struct ev_loop *loop);

#endif
