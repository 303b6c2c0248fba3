#ifndef WK_BACKOFF_H
#define WK_BACKOFF_H

/*
 * The worker's one retry delay, for push retries, APNs reconnects and
 * webhook retries: base_ms * 2^(failures - 1), capped at max_ms, of which
 * half is fixed and half random, so that many failures (a burst of 429s,
 * many workers losing one server) do not come back in step.
 */

/* Seconds after the failures-th failure (1 for the first); jitter in
 * [0, 1] picks where in the random half it falls. */
double wk_backoff_delay(long base_ms, long max_ms, unsigned failures,
                        double jitter);

/* The same with a jitter from rand(). */
double wk_backoff(long base_ms, long max_ms, unsigned failures);

#endif
