/*
 * Reads the INSERT statements of a mysqldump of NanoMDM's tables
 * (storage/mysql/schema.sql): extended inserts, with or without a column
 * list, strings with MySQL's backslash escapes, _binary strings, 0x hex
 * blobs, NULL and numbers. Everything else in the dump is skipped.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"


/* Column order of schema.sql, for INSERTs without a column list. */
static const struct {
    const char  *table;
    const char  *cols[14];
} mdmctl_schema[] = {
    { "nano_devices", { "id", "identity_cert", "serial_number",
      "unlock_token", "unlock_token_at", "authenticate", "authenticate_at",
      "token_update", "token_update_at", "bootstrap_token_b64",
      "bootstrap_token_at", "created_at", "updated_at", NULL } },
    { "nano_users", { "id", "device_id", "user_short_name", "user_long_name",
      "token_update", "token_update_at", "user_authenticate",
      "user_authenticate_at", "user_authenticate_digest",
      "user_authenticate_digest_at", "created_at", "updated_at", NULL } },
    { "nano_enrollments", { "id", "device_id", "user_id", "type", "topic",
      "push_magic", "token_hex", "enabled", "token_update_tally",
      "last_seen_at", "created_at", "updated_at", NULL } },
    { "nano_commands", { "command_uuid", "request_type", "command",
      "created_at", "updated_at", NULL } },
    { "nano_command_results", { "id", "command_uuid", "status", "result",
      "not_now_at", "not_now_tally", "created_at", "updated_at", NULL } },
    { "nano_enrollment_queue", { "id", "command_uuid", "active", "priority",
      "created_at", "updated_at", NULL } },
    { "nano_push_certs", { "topic", "cert_pem", "key_pem", "stale_token",
      "created_at", "updated_at", NULL } },
    { "nano_cert_auth_associations", { "id", "sha256", "created_at",
      "updated_at", NULL } },
};


static const char *mdmctl_skip_ws(const char *p, const char *end);
static const char *mdmctl_value(const char *p, const char *end,
    struct mdmctl_val *v);
static int mdmctl_hexval(int c);


/* Finds the next INSERT INTO `t`; returns the table's schema index or -1. */
int
mdmctl_dump_next(struct mdmctl_dump *d)
{
    const char  *p, *name, *q;
    size_t       i, n;

    while ((p = strstr(d->pos, "INSERT INTO ")) != NULL) {
        p += 12;
        p = mdmctl_skip_ws(p, d->end);
        q = p;
        if (*q == '`')
            q++;
        name = q;
        while (q < d->end && (isalnum((unsigned char) *q) || *q == '_'))
            q++;
        n = (size_t) (q - name);
        if (q < d->end && *q == '`')
            q++;
        d->pos = q;
        for (i = 0; i < sizeof(mdmctl_schema) / sizeof(mdmctl_schema[0]);
             i++) {
            if (strlen(mdmctl_schema[i].table) == n
                && memcmp(mdmctl_schema[i].table, name, n) == 0)
                break;
        }
        if (i == sizeof(mdmctl_schema) / sizeof(mdmctl_schema[0]))
            continue;
        d->table = mdmctl_schema[i].table;
        d->ncols = 0;
        p = mdmctl_skip_ws(d->pos, d->end);
        if (*p == '(') {
            /* an explicit column list (mysqldump --complete-insert) */
            p++;
            while (p < d->end && *p != ')' && d->ncols < MDMCTL_MAX_COLS) {
                p = mdmctl_skip_ws(p, d->end);
                if (*p == '`')
                    p++;
                q = p;
                while (q < d->end && *q != '`' && *q != ',' && *q != ')')
                    q++;
                d->cols[d->ncols++] = strndup(p, (size_t) (q - p));
                if (*q == '`')
                    q++;
                p = mdmctl_skip_ws(q, d->end);
                if (*p == ',')
                    p++;
            }
            p++;
        } else {
            while (mdmctl_schema[i].cols[d->ncols])
                d->ncols++, d->cols[d->ncols - 1] =
                    strdup(mdmctl_schema[i].cols[d->ncols - 1]);
        }
        p = mdmctl_skip_ws(p, d->end);
        if (strncmp(p, "VALUES", 6) != 0) {
            d->pos = p;
            mdmctl_dump_cols_free(d);
            continue;
        }
        d->pos = p + 6;
        return (int) i;
    }
    return -1;
}


void
mdmctl_dump_cols_free(struct mdmctl_dump *d)
{
    while (d->ncols > 0)
        free(d->cols[--d->ncols]);
}


/* The next (..) tuple of the current INSERT: 1, 0 at its end, -1 on error. */
int
mdmctl_dump_row(struct mdmctl_dump *d, struct mdmctl_val *vals, int *n)
{
    const char  *p = mdmctl_skip_ws(d->pos, d->end);

    *n = 0;
    if (*p == ',')
        p = mdmctl_skip_ws(p + 1, d->end);
    if (*p == ';' || p >= d->end) {
        d->pos = p;
        return 0;
    }
    if (*p != '(')
        return -1;
    p++;
    for ( ;; ) {
        p = mdmctl_skip_ws(p, d->end);
        if (*n == MDMCTL_MAX_COLS)
            goto fail;
        p = mdmctl_value(p, d->end, &vals[*n]);
        if (p == NULL)
            goto fail;
        (*n)++;
        p = mdmctl_skip_ws(p, d->end);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ')')
            break;
        goto fail;
    }
    d->pos = p + 1;
    return 1;

fail:
    while (*n > 0)
        free(vals[--*n].s);
    return -1;
}


static const char *
mdmctl_value(const char *p, const char *end, struct mdmctl_val *v)
{
    const char  *q;
    char        *o;

    memset(v, 0, sizeof(*v));
    if (strncmp(p, "NULL", 4) == 0) {
        v->null = 1;
        return p + 4;
    }
    if (strncmp(p, "_binary", 7) == 0)
        p = mdmctl_skip_ws(p + 7, end);
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        q = p + 2;
        while (q < end && isxdigit((unsigned char) *q))
            q++;
        v->len = (size_t) (q - p - 2) / 2;
        o = v->s = malloc(v->len + 1);
        for (p += 2; p + 1 < q; p += 2)
            *o++ = (char) (mdmctl_hexval(p[0]) * 16 + mdmctl_hexval(p[1]));
        *o = '\0';
        return q;
    }
    if (*p == '\'') {
        for (q = p + 1; q < end && *q != '\''; q++)
            if (*q == '\\')
                q++;
        if (q >= end)
            return NULL;
        o = v->s = malloc((size_t) (q - p) + 1);
        for (p++; p < q; p++) {
            if (*p != '\\') {
                *o++ = *p;
                continue;
            }
            p++;
            switch (*p) {
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case '0': *o++ = '\0'; break;
            case 'Z': *o++ = '\032'; break;
            case 'b': *o++ = '\b'; break;
            default: *o++ = *p; break;
            }
        }
        *o = '\0';
        v->len = (size_t) (o - v->s);
        return q + 1;
    }
    /* a number */
    for (q = p; q < end && (isalnum((unsigned char) *q) || *q == '.'
                            || *q == '-' || *q == '+'); q++)
        ;
    if (q == p)
        return NULL;
    v->s = strndup(p, (size_t) (q - p));
    v->len = (size_t) (q - p);
    return q;
}


static const char *
mdmctl_skip_ws(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char) *p))
        p++;
    return p;
}


static int
mdmctl_hexval(int c)
{
    return isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10);
}
