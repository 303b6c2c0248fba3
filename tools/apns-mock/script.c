/*
 * Scripted answers: "<hex token> <status> <reason> [count]" per line.
 * Looked up on every valid push, so they live in an open-addressing
 * table keyed by the lowercased token.
 */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"


typedef struct {
    char            token[AM_MAX_TOKEN + 1];
    size_t          len;
    int             status;
    long            remaining;      /* -1: forever */
    char            reason[AM_MAX_REASON + 1];
} am_script_entry_t;


struct am_script_s {
    am_script_entry_t *slots;
    size_t          nslots;         /* power of two */
    size_t          used;
};


static uint64_t am_script_hash(const char *token, size_t len);
static am_script_entry_t *am_script_slot(am_script_t *sc, const char *token,
    size_t len);
static int am_script_grow(am_script_t *sc);
static int am_script_parse_line(am_script_t *sc, char *line,
    const char *path, unsigned lineno);


static uint64_t
am_script_hash(const char *token, size_t len)
{
    uint64_t  h = 14695981039346656037ULL;
    size_t    i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) tolower((unsigned char) token[i]);
        h *= 1099511628211ULL;
    }

    return h;
}


/* The entry holding token, or the empty slot where it would go. */
static am_script_entry_t *
am_script_slot(am_script_t *sc, const char *token, size_t len)
{
    size_t              i = am_script_hash(token, len) & (sc->nslots - 1);
    am_script_entry_t  *e;

    for ( ;; ) {
        e = &sc->slots[i];
        if (e->len == 0
            || (e->len == len && strncasecmp(e->token, token, len) == 0))
        {
            return e;
        }
        i = (i + 1) & (sc->nslots - 1);
    }
}


/* Keeps the table at most half full so probes stay short. */
static int
am_script_grow(am_script_t *sc)
{
    am_script_t         bigger;
    size_t              i;

    bigger.nslots = sc->nslots ? sc->nslots * 2 : 64;
    bigger.used = sc->used;
    bigger.slots = calloc(bigger.nslots, sizeof(am_script_entry_t));
    if (bigger.slots == NULL) {
        return -1;
    }

    for (i = 0; i < sc->nslots; i++) {
        if (sc->slots[i].len) {
            *am_script_slot(&bigger, sc->slots[i].token, sc->slots[i].len) =
                sc->slots[i];
        }
    }

    free(sc->slots);
    *sc = bigger;
    return 0;
}


static int
am_script_parse_line(am_script_t *sc, char *line, const char *path,
    unsigned lineno)
{
    char               *save, *token, *status, *reason, *count, *end;
    am_script_entry_t   e, *slot;
    size_t              i;

    token = strtok_r(line, " \t\r\n", &save);
    if (token == NULL || token[0] == '#') {
        return 0;
    }
    status = strtok_r(NULL, " \t\r\n", &save);
    reason = strtok_r(NULL, " \t\r\n", &save);
    count = strtok_r(NULL, " \t\r\n", &save);

    memset(&e, 0, sizeof(e));
    e.len = strlen(token);
    e.remaining = -1;

    if (status == NULL || reason == NULL
        || strtok_r(NULL, " \t\r\n", &save) != NULL
        || e.len > AM_MAX_TOKEN || strlen(reason) > AM_MAX_REASON)
    {
        goto bad;
    }
    for (i = 0; i < e.len; i++) {
        if (!isxdigit((unsigned char) token[i])) {
            goto bad;
        }
        e.token[i] = tolower((unsigned char) token[i]);
    }

    e.status = (int) strtol(status, &end, 10);
    if (*end != '\0' || e.status < 200 || e.status >= AM_STATUS_MAX) {
        goto bad;
    }
    strcpy(e.reason, reason);

    if (count != NULL) {
        errno = 0;
        e.remaining = strtol(count, &end, 10);
        if (*end != '\0' || errno || e.remaining < 1) {
            goto bad;
        }
    }

    if (2 * (sc->used + 1) > sc->nslots && am_script_grow(sc) != 0) {
        fprintf(stderr, "apns-mock: out of memory loading %s\n", path);
        return -1;
    }
    slot = am_script_slot(sc, e.token, e.len);
    if (slot->len == 0) {
        sc->used++;
    }
    *slot = e;
    return 0;

bad:
    fprintf(stderr, "apns-mock: %s:%u: expected "
            "\"<hex token> <status> <reason> [count]\"\n", path, lineno);
    return -1;
}


am_script_t *
am_script_load(const char *path)
{
    am_script_t  *sc;
    FILE         *f;
    char          line[1024];
    unsigned      lineno = 0;
    int           rc = 0;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "apns-mock: %s: %s\n", path, strerror(errno));
        return NULL;
    }

    sc = calloc(1, sizeof(am_script_t));
    if (sc == NULL || am_script_grow(sc) != 0) {
        rc = -1;
    }

    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        rc = am_script_parse_line(sc, line, path, ++lineno);
    }

    fclose(f);
    if (rc != 0) {
        am_script_free(sc);
        return NULL;
    }

    return sc;
}


int
am_script_take(am_script_t *sc, const char *token, size_t len,
    am_answer_t *ans)
{
    am_script_entry_t  *e;

    if (sc == NULL || len == 0 || len > AM_MAX_TOKEN) {
        return 0;
    }

    e = am_script_slot(sc, token, len);
    if (e->len == 0 || e->remaining == 0) {
        return 0;
    }

    if (e->remaining > 0) {
        e->remaining--;
    }
    ans->status = e->status;
    ans->reason = e->reason;
    return 1;
}


void
am_script_free(am_script_t *sc)
{
    if (sc != NULL) {
        free(sc->slots);
        free(sc);
    }
}
