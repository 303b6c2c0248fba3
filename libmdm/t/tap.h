#ifndef MDM_TAP_H
#define MDM_TAP_H

/*
 * Minimal TAP producer for libmdm's unit tests, so that prove runs them next
 * to the integration tests. Each test binary ends with done_testing().
 */

#include <stdio.h>
#include <string.h>

static int tap_run;
static int tap_failed;

#define ok(cond, ...)                                                       \
    do {                                                                    \
        int tap_ok_ = (cond) ? 1 : 0;                                       \
        tap_run++;                                                          \
        if (!tap_ok_) {                                                     \
            tap_failed++;                                                   \
        }                                                                   \
        printf("%sok %d - ", tap_ok_ ? "" : "not ", tap_run);               \
        printf(__VA_ARGS__);                                                \
        printf("\n");                                                       \
        if (!tap_ok_) {                                                     \
            printf("#   failed at %s line %d\n", __FILE__, __LINE__);       \
        }                                                                   \
    } while (0)

#define is_int(got, want, ...)                                              \
    do {                                                                    \
        long long tap_g_ = (long long) (got), tap_w_ = (long long) (want);  \
        ok(tap_g_ == tap_w_, __VA_ARGS__);                                  \
        if (tap_g_ != tap_w_) {                                             \
            printf("#   got %lld, want %lld\n", tap_g_, tap_w_);            \
        }                                                                   \
    } while (0)

#define is_str(got, want, ...)                                              \
    do {                                                                    \
        const char *tap_g_ = (got), *tap_w_ = (want);                       \
        int tap_eq_ = tap_g_ != NULL && tap_w_ != NULL                      \
                      && strcmp(tap_g_, tap_w_) == 0;                       \
        ok(tap_eq_, __VA_ARGS__);                                           \
        if (!tap_eq_) {                                                     \
            printf("#   got '%s', want '%s'\n", tap_g_ ? tap_g_ : "(null)", \
                   tap_w_ ? tap_w_ : "(null)");                             \
        }                                                                   \
    } while (0)

#define diag(...)                                                           \
    do {                                                                    \
        printf("# ");                                                       \
        printf(__VA_ARGS__);                                                \
        printf("\n");                                                       \
    } while (0)

#define done_testing()                                                      \
    (printf("1..%d\n", tap_run), tap_failed ? 1 : 0)

#endif
