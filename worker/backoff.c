#include <stdlib.h>

#include "backoff.h"


double
wk_backoff_delay(long base_ms, long max_ms, unsigned failures, double jitter)
{
    double delay = (double) base_ms;

    /* doubling stops at the cap: no overflow however many failures */
    for (unsigned i = 1; i < failures && delay < max_ms; i++) {
        delay *= 2;
    }
    if (delay > max_ms) {
        delay = (double) max_ms;
    }
    if (jitter < 0) {
        jitter = 0;
    } else if (jitter > 1) {
        jitter = 1;
    }
    return (delay / 2 + delay / 2 * jitter) / 1000.0;
}


double
wk_backoff(long base_ms, long max_ms, unsigned failures)
{
    return wk_backoff_delay(base_ms, max_ms, failures,
                            rand() / (double) RAND_MAX);
}
