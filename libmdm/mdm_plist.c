#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdm_plist.h"


#define MDM_BPLIST_MAGIC      "bplist00"
#define MDM_BPLIST_MAGIC_LEN  8
#define MDM_BPLIST_TRAILER    32

/*
 * A binary plist may reference one object from many places and libplist
 * copies it each time, so a small body can expand into a huge tree; the
 * expanded node count is held to this many per body byte.
 */
#define MDM_BPLIST_EXPANSION  4

/*
 * XML element depth allowed by the pre-scan: the container limit plus the
 * <plist> wrapper and a leaf element. The exact container depth is checked
 * on the tree afterwards.
 */
#define MDM_XML_MAX_DEPTH     (MDM_PLIST_MAX_DEPTH + 2)


typedef struct {
    const unsigned char  *buf;
    size_t                len;
    size_t                table;
    uint64_t              nobjects;
    unsigned              offset_size;
    unsigned              ref_size;
} mdm_bplist_t;


typedef struct {
    size_t    refs;
    uint64_t  nrefs;
    uint64_t  next;
    uint64_t  bytes;      /* payload libplist copies for this object */
} mdm_bplist_frame_t;


static int mdm_xml_tag_end(const char *p, const char *end,
    const char **next);
static int mdm_xml_skip_until(const char *p, const char *end,
    const char *stop, const char **next);
static int mdm_xml_scan(const char *body, size_t len, size_t *keys,
    mdm_err_t *err);
static uint64_t mdm_bplist_uint(const unsigned char *p, unsigned size);
static int mdm_bplist_init(mdm_bplist_t *bp, const unsigned char *buf,
    size_t len);
static int mdm_bplist_object(const mdm_bplist_t *bp, uint64_t ref,
    mdm_bplist_frame_t *frame, mdm_err_t *err);
static int mdm_bplist_count(const mdm_bplist_t *bp, const unsigned char **p,
    uint64_t *count);
static int mdm_bplist_string(const mdm_bplist_t *bp, const unsigned char *p,
    uint64_t count, int utf16, mdm_err_t *err);
static int mdm_bplist_scan(const char *body, size_t len, mdm_err_t *err);
static int mdm_key_cmp(const void *a, const void *b);
static int mdm_walk_dict(plist_t dict, int depth, size_t *entries,
    mdm_err_t *err);
static int mdm_walk(plist_t node, int depth, size_t *entries,
    mdm_err_t *err);
static plist_t mdm_plist_get(plist_t dict, const char *key,
    plist_type type, const char *type_name, mdm_err_t *err, int *rc);


static int
mdm_err_v(mdm_err_t *err, mdm_refused_e reason, const char *fmt, va_list ap)
{
    err->reason = reason;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);

    return MDM_ERROR;
}


int
mdm_err(mdm_err_t *err, const char *fmt, ...)
{
    int      rc;
    va_list  ap;

    va_start(ap, fmt);
    rc = mdm_err_v(err, MDM_REFUSED_INVALID, fmt, ap);
    va_end(ap);

    return rc;
}


int
mdm_err_as(mdm_err_t *err, mdm_refused_e reason, const char *fmt, ...)
{
    int      rc;
    va_list  ap;

    va_start(ap, fmt);
    rc = mdm_err_v(err, reason, fmt, ap);
    va_end(ap);

    return rc;
}


const char *
mdm_refused_name(mdm_refused_e reason)
{
    static const char  *names[MDM_REFUSED_REASONS] = {
        [MDM_REFUSED_INVALID] = "invalid",
        [MDM_REFUSED_EMPTY] = "empty",
        [MDM_REFUSED_TOO_LARGE] = "too_large",
        [MDM_REFUSED_MALFORMED] = "malformed",
        [MDM_REFUSED_MISSING_KEY] = "missing_key",
        [MDM_REFUSED_WRONG_TYPE] = "wrong_type",
        [MDM_REFUSED_UNKNOWN_TYPE] = "unknown_type",
        [MDM_REFUSED_NO_MEMORY] = "no_memory",
    };

    return (unsigned) reason < MDM_REFUSED_REASONS ? names[reason] : "invalid";
}


int
mdm_plist_parse(const char *body, size_t len, size_t max_len, plist_t *dict,
    mdm_err_t *err)
{
    int         binary;
    size_t      xml_keys, entries;
    plist_t     root;

    *dict = NULL;
    xml_keys = 0;

    if (len == 0) {
        return mdm_err_as(err, MDM_REFUSED_EMPTY, "empty body");
    }

    /* libplist takes a 32-bit length */
    if (len > max_len || len > UINT32_MAX) {
        return mdm_err_as(err, MDM_REFUSED_TOO_LARGE,
                          "body of %zu bytes exceeds the limit of %zu",
                          len, max_len);
    }

    binary = len >= MDM_BPLIST_MAGIC_LEN
             && memcmp(body, MDM_BPLIST_MAGIC, MDM_BPLIST_MAGIC_LEN) == 0;

    if (binary) {
        if (mdm_bplist_scan(body, len, err) != MDM_OK) {
            return MDM_ERROR;
        }

    } else if (mdm_xml_scan(body, len, &xml_keys, err) != MDM_OK) {
        return MDM_ERROR;
    }

    root = NULL;
    plist_from_memory(body, (uint32_t) len, &root);

    if (root == NULL) {
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "body is not a valid %s plist",
                          binary ? "binary" : "XML");
    }

    if (plist_get_node_type(root) != PLIST_DICT) {
        plist_free(root);
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "top level of the plist is not a dict");
    }

    entries = 0;

    if (mdm_walk(root, 1, &entries, err) != MDM_OK) {
        plist_free(root);
        return MDM_ERROR;
    }

    /*
     * libplist keeps only the last of two equal XML keys and silently drops
     * a key without a value: either leaves fewer dict entries than <key>
     * elements.
     */
    if (!binary && entries != xml_keys) {
        plist_free(root);
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "a dict has a duplicated key or a key without "
                          "a value");
    }

    *dict = root;

    return MDM_OK;
}


/*
 * A cheap XML tokenizer, enough to bound element depth before libplist
 * builds (and later frees, recursively) the tree, to count <key> elements,
 * and to refuse NUL bytes, on which libplist 2.2 trips an assertion.
 */
static int
mdm_xml_scan(const char *body, size_t len, size_t *keys, mdm_err_t *err)
{
    int          depth;
    const char  *p, *end, *next, *name;

    if (memchr(body, '\0', len) != NULL) {
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "body contains a NUL byte");
    }

    p = body;
    end = body + len;
    depth = 0;
    *keys = 0;

    while ((p = memchr(p, '<', end - p)) != NULL) {

        if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
            if (mdm_xml_skip_until(p + 4, end, "-->", &next) != MDM_OK) {
                return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                                  "unterminated XML comment");
            }

        } else if (end - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            if (mdm_xml_skip_until(p + 9, end, "]]>", &next) != MDM_OK) {
                return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                                  "unterminated XML CDATA section");
            }

        } else if (end - p >= 2 && p[1] == '?') {
            /* like libplist: a processing instruction ends at "?>" only */
            if (mdm_xml_skip_until(p + 2, end, "?>", &next) != MDM_OK) {
                return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                                  "unterminated XML declaration");
            }

        } else if (end - p >= 2 && p[1] == '!') {
            /* an internal DTD subset could hide markup from this scan */
            if (mdm_xml_tag_end(p + 2, end, &next) != MDM_OK
                || memchr(p, '[', next - p) != NULL)
            {
                return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                                  "unsupported XML declaration");
            }

        } else {
            if (mdm_xml_tag_end(p + 1, end, &next) != MDM_OK) {
                return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                                  "unterminated XML tag");
            }

            name = p + 1;

            if (*name == '/') {
                /* stray closing tags must not buy depth for later openers */
                if (--depth < 0) {
                    return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                                      "unbalanced XML closing tag");
                }

            } else if (next[-2] != '/' && ++depth > MDM_XML_MAX_DEPTH) {
                return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                                  "plist nested deeper than %d levels",
                                  MDM_PLIST_MAX_DEPTH);
            }

            if (next - name >= 4 && memcmp(name, "key", 3) == 0
                && name[3] != '\0' && strchr(">/ \t\r\n", name[3]) != NULL)
            {
                (*keys)++;
            }
        }

        p = next;
    }

    return MDM_OK;
}


/* Sets *next just past the first `stop` at or after p. */
/*
 * The end of a tag as libplist finds it: a '>' inside a quoted attribute
 * value does not end the tag (so "<array a='/>'>" opens an array).
 */
static int
mdm_xml_tag_end(const char *p, const char *end, const char **next)
{
    char  quote;

    for (quote = 0; p < end; p++) {
        if (quote) {
            if (*p == quote) {
                quote = 0;
            }

        } else if (*p == '"' || *p == '\'') {
            quote = *p;

        } else if (*p == '>') {
            *next = p + 1;
            return MDM_OK;
        }
    }

    return MDM_ERROR;
}


static int
mdm_xml_skip_until(const char *p, const char *end, const char *stop,
    const char **next)
{
    size_t       n;
    const char  *q;

    n = strlen(stop);

    for (q = p; end - q >= (ptrdiff_t) n; q++) {
        q = memchr(q, stop[0], end - q);

        if (q == NULL || end - q < (ptrdiff_t) n) {
            break;
        }

        if (memcmp(q, stop, n) == 0) {
            *next = q + n;
            return MDM_OK;
        }
    }

    return MDM_ERROR;
}


/*
 * libplist 2.2 parses binary plists recursively, with no depth limit and
 * copying shared objects, so the object graph is walked here first with an
 * explicit stack of at most MDM_PLIST_MAX_DEPTH frames, which also stops
 * reference cycles. Every reachable string is checked on the way.
 */
static int
mdm_bplist_scan(const char *body, size_t len, mdm_err_t *err)
{
    int                  depth;
    uint64_t             ref, nodes, max_nodes, bytes, max_bytes;
    mdm_bplist_t         bp;
    mdm_bplist_frame_t   stack[MDM_PLIST_MAX_DEPTH], child;
    mdm_bplist_frame_t  *top;

    if (mdm_bplist_init(&bp, (const unsigned char *) body, len) != MDM_OK) {
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "malformed binary plist trailer");
    }

    max_nodes = (uint64_t) len * MDM_BPLIST_EXPANSION;
    max_bytes = (uint64_t) len * MDM_BPLIST_EXPANSION;
    ref = mdm_bplist_uint(bp.buf + len - MDM_BPLIST_TRAILER + 16, 8);

    if (mdm_bplist_object(&bp, ref, &stack[0], err) != MDM_OK) {
        return MDM_ERROR;
    }

    depth = 1;
    nodes = 1;
    bytes = stack[0].bytes;

    while (depth > 0) {
        top = &stack[depth - 1];

        if (top->next == top->nrefs) {
            depth--;
            continue;
        }

        ref = mdm_bplist_uint(bp.buf + top->refs + top->next * bp.ref_size,
                              bp.ref_size);
        top->next++;

        if (++nodes > max_nodes) {
            return mdm_err_as(err, MDM_REFUSED_TOO_LARGE,
                              "binary plist expands to too many objects");
        }

        if (mdm_bplist_object(&bp, ref, &child, err) != MDM_OK) {
            return MDM_ERROR;
        }

        /* libplist copies an object for every reference to it */
        bytes += child.bytes;
        if (bytes > max_bytes) {
            return mdm_err_as(err, MDM_REFUSED_TOO_LARGE,
                              "binary plist expands to too many bytes");
        }

        if (child.nrefs == 0) {
            continue;
        }

        if (depth == MDM_PLIST_MAX_DEPTH) {
            return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                              "plist nested deeper than %d levels",
                              MDM_PLIST_MAX_DEPTH);
        }

        stack[depth++] = child;
    }

    return MDM_OK;
}


static int
mdm_bplist_init(mdm_bplist_t *bp, const unsigned char *buf, size_t len)
{
    uint64_t              table;
    const unsigned char  *trailer;

    if (len < MDM_BPLIST_MAGIC_LEN + MDM_BPLIST_TRAILER) {
        return MDM_ERROR;
    }

    trailer = buf + len - MDM_BPLIST_TRAILER;

    bp->buf = buf;
    bp->len = len;
    bp->offset_size = trailer[6];
    bp->ref_size = trailer[7];
    bp->nobjects = mdm_bplist_uint(trailer + 8, 8);
    table = mdm_bplist_uint(trailer + 24, 8);

    if (bp->offset_size < 1 || bp->offset_size > 8
        || bp->ref_size < 1 || bp->ref_size > 8
        || bp->nobjects == 0
        || table < MDM_BPLIST_MAGIC_LEN
        || table > len - MDM_BPLIST_TRAILER
        || bp->nobjects > (len - MDM_BPLIST_TRAILER - table)
                          / bp->offset_size)
    {
        return MDM_ERROR;
    }

    bp->table = (size_t) table;

    return MDM_OK;
}


/*
 * Locates object `ref`; a container gets its references in frame, anything
 * else gets nrefs 0.
 */
static int
mdm_bplist_object(const mdm_bplist_t *bp, uint64_t ref,
    mdm_bplist_frame_t *frame, mdm_err_t *err)
{
    unsigned              kind;
    uint64_t              offset, count, room;
    const unsigned char  *p;

    if (ref >= bp->nobjects) {
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "malformed binary plist object");
    }

    offset = mdm_bplist_uint(bp->buf + bp->table + ref * bp->offset_size,
                             bp->offset_size);

    if (offset < MDM_BPLIST_MAGIC_LEN || offset >= bp->table) {
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "malformed binary plist object");
    }

    p = bp->buf + offset;
    kind = p[0] >> 4;
    frame->nrefs = 0;
    frame->next = 0;
    frame->bytes = 0;

    /* data, ASCII and UTF-16 strings, array, set, dict */
    if (kind != 0x4 && kind != 0x5 && kind != 0x6 && kind != 0xA
        && kind != 0xC && kind != 0xD)
    {
        return MDM_OK;
    }

    if (mdm_bplist_count(bp, &p, &count) != MDM_OK) {
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "malformed binary plist object");
    }

    if (kind == 0x4) {
        frame->bytes = count;
        return MDM_OK;
    }

    if (kind == 0x5 || kind == 0x6) {
        frame->bytes = (kind == 0x6) ? 2 * count : count;
        return mdm_bplist_string(bp, p, count, kind == 0x6, err);
    }

    room = (bp->table - (p - bp->buf)) / bp->ref_size;

    if (kind == 0xD) {
        if (count > room / 2) {
            return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                              "malformed binary plist object");
        }

        count *= 2;

    } else if (count > room) {
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "malformed binary plist object");
    }

    frame->refs = p - bp->buf;
    frame->nrefs = count;

    return MDM_OK;
}


/*
 * Reads the element count of the object whose marker is at *p and moves *p
 * past it: the marker's low nibble, or 0xF and an integer object of 1, 2, 4
 * or 8 bytes.
 */
static int
mdm_bplist_count(const mdm_bplist_t *bp, const unsigned char **p,
    uint64_t *count)
{
    size_t                size;
    const unsigned char  *q;

    q = *p;
    *count = q[0] & 0x0F;
    q++;

    if (*count == 0x0F) {
        if ((size_t) (q - bp->buf) >= bp->table || (q[0] >> 4) != 0x1
            || (q[0] & 0x0F) > 3)
        {
            return MDM_ERROR;
        }

        size = (size_t) 1 << (q[0] & 0x0F);

        if ((size_t) (q + 1 - bp->buf) + size > bp->table) {
            return MDM_ERROR;
        }

        *count = mdm_bplist_uint(q + 1, size);
        q += 1 + size;
    }

    *p = q;

    return MDM_OK;
}


/*
 * libplist 2.2 asserts (aborting the process) when a string or dict key
 * holds a NUL character, so such strings are refused here.
 */
static int
mdm_bplist_string(const mdm_bplist_t *bp, const unsigned char *p,
    uint64_t count, int utf16, mdm_err_t *err)
{
    uint64_t  i, room;

    room = bp->table - (p - bp->buf);

    if (count > (utf16 ? room / 2 : room)) {
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "malformed binary plist object");
    }

    for (i = 0; i < count; i++) {
        if (utf16 ? (p[2 * i] | p[2 * i + 1]) == 0 : p[i] == 0) {
            return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                              "binary plist string contains a NUL");
        }
    }

    return MDM_OK;
}


static uint64_t
mdm_bplist_uint(const unsigned char *p, unsigned size)
{
    unsigned  i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < size; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


/*
 * Checks depth and key uniqueness and counts dict entries; the recursion is
 * bounded by the pre-scan.
 */
static int
mdm_walk(plist_t node, int depth, size_t *entries, mdm_err_t *err)
{
    plist_t           item;
    plist_type        type;
    plist_array_iter  iter;

    type = plist_get_node_type(node);

    if (type != PLIST_DICT && type != PLIST_ARRAY) {
        return MDM_OK;
    }

    if (depth > MDM_PLIST_MAX_DEPTH) {
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "plist nested deeper than %d levels",
                          MDM_PLIST_MAX_DEPTH);
    }

    if (type == PLIST_DICT) {
        return mdm_walk_dict(node, depth, entries, err);
    }

    iter = NULL;
    plist_array_new_iter(node, &iter);

    if (iter == NULL) {
        return mdm_err_as(err, MDM_REFUSED_NO_MEMORY, "out of memory");
    }

    for ( ;; ) {
        item = NULL;
        plist_array_next_item(node, iter, &item);

        if (item == NULL
            || mdm_walk(item, depth + 1, entries, err) != MDM_OK)
        {
            break;
        }
    }

    free(iter);

    return item == NULL ? MDM_OK : MDM_ERROR;
}


/*
 * Sorting the keys finds duplicates in n log n; libplist keeps them in a
 * binary dict (and then returns the first on lookup).
 */
static int
mdm_walk_dict(plist_t dict, int depth, size_t *entries, mdm_err_t *err)
{
    int              rc;
    char           **keys, *key;
    size_t           i, n, size;
    plist_t          val;
    plist_dict_iter  iter;

    size = plist_dict_get_size(dict);
    *entries += size;

    if (size == 0) {
        return MDM_OK;
    }

    keys = calloc(size, sizeof(char *));
    iter = NULL;
    plist_dict_new_iter(dict, &iter);

    if (keys == NULL || iter == NULL) {
        free(keys);
        free(iter);
        return mdm_err_as(err, MDM_REFUSED_NO_MEMORY, "out of memory");
    }

    rc = MDM_OK;

    for (n = 0; n < size; n++) {
        key = NULL;
        val = NULL;
        plist_dict_next_item(dict, iter, &key, &val);

        if (key == NULL) {
            break;
        }

        keys[n] = key;

        if (mdm_walk(val, depth + 1, entries, err) != MDM_OK) {
            rc = MDM_ERROR;
            n++;
            break;
        }
    }

    if (rc == MDM_OK) {
        qsort(keys, n, sizeof(char *), mdm_key_cmp);

        for (i = 1; i < n; i++) {
            if (strcmp(keys[i - 1], keys[i]) == 0) {
                rc = mdm_err_as(err, MDM_REFUSED_MALFORMED,
                                "duplicated key \"%.64s\" in a dict",
                                keys[i]);
                break;
            }
        }
    }

    for (i = 0; i < n; i++) {
        free(keys[i]);
    }

    free(keys);
    free(iter);

    return rc;
}


static int
mdm_key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


/* Looks key up and checks its type; *rc tells absent from wrong type. */
static plist_t
mdm_plist_get(plist_t dict, const char *key, plist_type type,
    const char *type_name, mdm_err_t *err, int *rc)
{
    plist_t  node;

    node = plist_dict_get_item(dict, key);

    if (node == NULL) {
        *rc = MDM_ABSENT;
        return NULL;
    }

    if (plist_get_node_type(node) != type) {
        *rc = mdm_err_as(err, MDM_REFUSED_WRONG_TYPE, "key %s must be %s", key,
                         type_name);
        return NULL;
    }

    *rc = MDM_OK;

    return node;
}


int
mdm_plist_get_string(plist_t dict, const char *key, const char **val,
    mdm_err_t *err)
{
    int       rc;
    plist_t   node;
    uint64_t  len;

    node = mdm_plist_get(dict, key, PLIST_STRING, "a string", err, &rc);

    if (node != NULL) {
        *val = plist_get_string_ptr(node, &len);
    }

    return rc;
}


int
mdm_plist_get_data(plist_t dict, const char *key, mdm_bytes_t *val,
    mdm_err_t *err)
{
    int                   rc;
    plist_t               node;
    uint64_t              len;
    const unsigned char  *data;

    node = mdm_plist_get(dict, key, PLIST_DATA, "data", err, &rc);

    if (node != NULL) {
        data = (const unsigned char *) plist_get_data_ptr(node, &len);

        /* zero-length data is a valid value, not an absent one */
        val->data = data != NULL ? data : (const unsigned char *) "";
        val->len = data != NULL ? (size_t) len : 0;
    }

    return rc;
}


int
mdm_plist_get_bool(plist_t dict, const char *key, int *val, mdm_err_t *err)
{
    int       rc;
    uint8_t   b;
    plist_t   node;

    node = mdm_plist_get(dict, key, PLIST_BOOLEAN, "a boolean", err, &rc);

    if (node != NULL) {
        b = 0;
        plist_get_bool_val(node, &b);
        *val = b != 0;
    }

    return rc;
}


int
mdm_plist_get_integer(plist_t dict, const char *key, int64_t *val,
    mdm_err_t *err)
{
    int       rc;
    plist_t   node;
    uint64_t  u;

    node = mdm_plist_get(dict, key, PLIST_UINT, "an integer", err, &rc);

    if (node != NULL) {
        /* libplist 2.2 stores negative integers two's complement */
        u = 0;
        plist_get_uint_val(node, &u);
        *val = (int64_t) u;
    }

    return rc;
}


int
mdm_plist_get_dict(plist_t dict, const char *key, plist_t *val,
    mdm_err_t *err)
{
    int  rc;

    *val = mdm_plist_get(dict, key, PLIST_DICT, "a dict", err, &rc);

    return rc;
}


int
mdm_plist_get_array(plist_t dict, const char *key, plist_t *val,
    mdm_err_t *err)
{
    int  rc;

    *val = mdm_plist_get(dict, key, PLIST_ARRAY, "an array", err, &rc);

    return rc;
}


int
mdm_plist_to_binary(plist_t dict, const mdm_alloc_t *a, mdm_buf_t *out)
{
    char      *bin = NULL;
    uint32_t   n = 0;

    plist_to_bin(dict, &bin, &n);
    if (bin == NULL) {
        return -1;
    }

    return mdm_buf_adopt(a, out, bin, n, plist_to_bin_free);
}
