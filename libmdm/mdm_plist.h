#ifndef MDM_PLIST_H
#define MDM_PLIST_H

/*
 * Strict plist intake shared by every decoder of device messages. A body is
 * refused unless it is a single XML or binary (bplist00) plist whose top
 * level is a dict, with no duplicated dict key, nested at most
 * MDM_PLIST_MAX_DEPTH containers deep, and no larger than the caller's limit.
 * libplist 2.2 is lenient (it keeps the last of two equal XML keys, drops a
 * key without a value, aborts on a NUL inside an XML string, and recurses
 * without limit on binary input), so the body is pre-scanned before libplist
 * sees it and the tree is checked after.
 *
 * Getters return MDM_OK with the value, MDM_ABSENT when the key is not in the
 * dict, or MDM_ERROR with "key X must be a T" in err. Pointers they hand out
 * point into the tree and live as long as it does.
 */

#include <stddef.h>
#include <stdint.h>
#include <plist/plist.h>

#include "mdm_buf.h"

#define MDM_OK               0
#define MDM_ERROR           -1
#define MDM_ABSENT           1

#define MDM_PLIST_MAX_DEPTH  32
#define MDM_ERR_LEN          160

/* Why libmdm refused an input, next to the text: what metrics count by */
typedef enum {
    MDM_REFUSED_INVALID = 0,    /* a value that breaks a rule of its key */
    MDM_REFUSED_EMPTY,          /* an empty body */
    MDM_REFUSED_TOO_LARGE,      /* over a size or count limit */
    MDM_REFUSED_MALFORMED,      /* not a well-formed plist (or JSON, CMS) */
    MDM_REFUSED_MISSING_KEY,    /* a required key absent */
    MDM_REFUSED_WRONG_TYPE,     /* a key of another type */
    MDM_REFUSED_UNKNOWN_TYPE,   /* a MessageType, Status or RequestType unknown */
    MDM_REFUSED_NO_MEMORY,
    MDM_REFUSED_REASONS
} mdm_refused_e;

typedef struct {
    mdm_refused_e  reason;
    char           msg[MDM_ERR_LEN];
} mdm_err_t;

typedef struct {
    const unsigned char  *data;
    size_t                len;
} mdm_bytes_t;

/* Parses body into a dict the caller frees with plist_free(). */
int mdm_plist_parse(const char *body, size_t len, size_t max_len,
    plist_t *dict, mdm_err_t *err);

/* Typed lookups of key in dict; MDM_OK, MDM_ABSENT or MDM_ERROR. */
int mdm_plist_get_string(plist_t dict, const char *key, const char **val,
    mdm_err_t *err);
int mdm_plist_get_data(plist_t dict, const char *key, mdm_bytes_t *val,
    mdm_err_t *err);
int mdm_plist_get_bool(plist_t dict, const char *key, int *val,
    mdm_err_t *err);
int mdm_plist_get_integer(plist_t dict, const char *key, int64_t *val,
    mdm_err_t *err);
int mdm_plist_get_dict(plist_t dict, const char *key, plist_t *val,
    mdm_err_t *err);
int mdm_plist_get_array(plist_t dict, const char *key, plist_t *val,
    mdm_err_t *err);

/* Binary plist (bplist00) of dict into out, from a (NULL: malloc'd, free
 * with mdm_buf_free); 0 or -1. */
int mdm_plist_to_binary(plist_t dict, const mdm_alloc_t *a, mdm_buf_t *out);

/* Formats a message into err, reason MDM_REFUSED_INVALID; returns MDM_ERROR
 * for `return mdm_err(...)`. */
int mdm_err(mdm_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The same with its reason. */
int mdm_err_as(mdm_err_t *err, mdm_refused_e reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The metric label of a reason, e.g. "missing_key". */
const char *mdm_refused_name(mdm_refused_e reason);

#endif
