/*
 * A strict, allocation-free JSON checker for push bodies: a parser
 * library would allocate a tree per push just to find one string.
 */

#include <ctype.h>
#include <string.h>

#include "mock.h"

#define AM_JSON_MAX_DEPTH 32


typedef struct {
    const char     *p;
    const char     *end;
    int             depth;
} am_json_t;


static void am_json_ws(am_json_t *j);
static int am_json_lit(am_json_t *j, const char *word);
static int am_json_string(am_json_t *j);
static int am_json_number(am_json_t *j);
static int am_json_value(am_json_t *j);
static int am_json_array(am_json_t *j);
static int am_json_object(am_json_t *j, int *mdm_is_string);


static void
am_json_ws(am_json_t *j)
{
    while (j->p < j->end
           && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n'
               || *j->p == '\r'))
    {
        j->p++;
    }
}


static int
am_json_lit(am_json_t *j, const char *word)
{
    size_t  n = strlen(word);

    if ((size_t) (j->end - j->p) < n || memcmp(j->p, word, n) != 0) {
        return -1;
    }
    j->p += n;
    return 0;
}


static int
am_json_string(am_json_t *j)
{
    int  i;

    if (j->p >= j->end || *j->p != '"') {
        return -1;
    }

    for (j->p++; j->p < j->end; j->p++) {
        unsigned char c = (unsigned char) *j->p;

        if (c == '"') {
            j->p++;
            return 0;
        }
        if (c < 0x20) {
            return -1;
        }
        if (c != '\\') {
            continue;
        }
        if (++j->p >= j->end) {
            return -1;
        }
        if (*j->p == 'u') {
            for (i = 0; i < 4; i++) {
                if (++j->p >= j->end || !isxdigit((unsigned char) *j->p)) {
                    return -1;
                }
            }
        } else if (!strchr("\"\\/bfnrt", *j->p) || *j->p == '\0') {
            return -1;
        }
    }

    return -1;
}


static int
am_json_number(am_json_t *j)
{
    const char  *start;

    if (j->p < j->end && *j->p == '-') {
        j->p++;
    }
    start = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        j->p++;
    }
    if (j->p == start || (*start == '0' && j->p - start > 1)) {
        return -1;
    }
    if (j->p < j->end && *j->p == '.') {
        start = ++j->p;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }
        if (j->p == start) {
            return -1;
        }
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) {
            j->p++;
        }
        start = j->p;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }
        if (j->p == start) {
            return -1;
        }
    }

    return 0;
}


static int
am_json_value(am_json_t *j)
{
    int  ignored;

    am_json_ws(j);
    if (j->p >= j->end) {
        return -1;
    }

    switch (*j->p) {
    case '{':
        return am_json_object(j, &ignored);
    case '[':
        return am_json_array(j);
    case '"':
        return am_json_string(j);
    case 't':
        return am_json_lit(j, "true");
    case 'f':
        return am_json_lit(j, "false");
    case 'n':
        return am_json_lit(j, "null");
    default:
        return am_json_number(j);
    }
}


static int
am_json_array(am_json_t *j)
{
    if (++j->depth > AM_JSON_MAX_DEPTH) {
        return -1;
    }
    j->p++;
    am_json_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        j->depth--;
        return 0;
    }

    for ( ;; ) {
        if (am_json_value(j) != 0) {
            return -1;
        }
        am_json_ws(j);
        if (j->p >= j->end) {
            return -1;
        }
        if (*j->p++ == ']') {
            j->depth--;
            return 0;
        }
        if (j->p[-1] != ',') {
            return -1;
        }
    }
}


/* Parses an object; notes whether a member "mdm" holds a string. */
static int
am_json_object(am_json_t *j, int *mdm_is_string)
{
    const char  *key;
    size_t       keylen;

    if (++j->depth > AM_JSON_MAX_DEPTH) {
        return -1;
    }
    j->p++;
    am_json_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        j->depth--;
        return 0;
    }

    for ( ;; ) {
        am_json_ws(j);
        key = j->p;
        if (am_json_string(j) != 0) {
            return -1;
        }
        keylen = j->p - key;
        am_json_ws(j);
        if (j->p >= j->end || *j->p++ != ':') {
            return -1;
        }
        am_json_ws(j);
        if (j->depth == 1 && keylen == 5
            && memcmp(key, "\"mdm\"", 5) == 0)
        {
            *mdm_is_string = (j->p < j->end && *j->p == '"');
        }
        if (am_json_value(j) != 0) {
            return -1;
        }
        am_json_ws(j);
        if (j->p >= j->end) {
            return -1;
        }
        if (*j->p++ == '}') {
            j->depth--;
            return 0;
        }
        if (j->p[-1] != ',') {
            return -1;
        }
    }
}


int
am_payload_is_mdm(const char *body, size_t len)
{
    am_json_t  j = { body, body + len, 0 };
    int        mdm_is_string = 0;

    am_json_ws(&j);
    if (j.p >= j.end || *j.p != '{') {
        return 0;
    }
    if (am_json_object(&j, &mdm_is_string) != 0) {
        return 0;
    }
    am_json_ws(&j);

    return j.p == j.end && mdm_is_string;
}
