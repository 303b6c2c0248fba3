/* The one retry delay (worker/backoff.c): doubling, cap, random half. */

#include <math.h>
#include <stdlib.h>

#include "backoff.h"
#include "tap.h"

#define near(a, b) (fabs((a) - (b)) < 1e-9)


int
main(void)
{
    ok(near(wk_backoff_delay(5000, 300000, 1, 1.0), 5.0),
       "the first failure waits up to the base");
    ok(near(wk_backoff_delay(5000, 300000, 1, 0.0), 2.5),
       "... and at least half of it");
    ok(near(wk_backoff_delay(5000, 300000, 2, 1.0), 10.0),
       "the second doubles it");
    ok(near(wk_backoff_delay(5000, 300000, 6, 1.0), 160.0),
       "the sixth is base * 2^5");
    ok(near(wk_backoff_delay(5000, 300000, 7, 1.0), 300.0),
       "the seventh (320 s) is capped at the maximum");
    ok(near(wk_backoff_delay(5000, 300000, 1000000, 0.5), 225.0),
       "a million failures: capped, no overflow");
    ok(near(wk_backoff_delay(5000, 300000, 0, 1.0), 5.0),
       "0 failures counts as the first");
    ok(near(wk_backoff_delay(1000, 60000, 3, 7.0), 4.0)
       && near(wk_backoff_delay(1000, 60000, 3, -1.0), 2.0),
       "a jitter outside [0, 1] is clamped");
    ok(near(wk_backoff_delay(9000, 4000, 1, 1.0), 4.0),
       "a base above the cap is capped too");

    int inside = 1;
    srand(1);
    for (int i = 0; i < 1000; i++) {
        double d = wk_backoff(1000, 60000, 4);
        inside = inside && d >= 4.0 && d <= 8.0;
    }
    ok(inside, "wk_backoff stays within [d/2, d] for 1000 draws");
    return done_testing();
}
