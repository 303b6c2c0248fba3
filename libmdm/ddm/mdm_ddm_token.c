/*
 * Canonical JSON and the hashes over it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "mdm_hex.h"
#include "mdm_plist.h"
#include "mdm_utf8.h"
#include "ddm/mdm_ddm_token.h"


static int mdm_ddm_item_cmp(const void *a, const void *b);


char *
mdm_ddm_canonical(json_t *v, size_t *len)
{
    char  *s;

    s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY
                      | JSON_REAL_PRECISION(17));

    if (s != NULL && len != NULL) {
        *len = strlen(s);
    }

    return s;
}


int
mdm_ddm_server_token(const char *canonical, size_t len, unsigned long touch,
    char out[MDM_DDM_SERVER_TOKEN_LEN + 1])
{
    char           suffix[24];
    unsigned int   dlen;
    EVP_MD_CTX    *ctx;
    unsigned char  digest[EVP_MAX_MD_SIZE];
    char           hex[2 * EVP_MAX_MD_SIZE + 1];

    ctx = EVP_MD_CTX_new();

    if (ctx == NULL
        || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(ctx, canonical, len) != 1
        || (touch != 0
            && EVP_DigestUpdate(ctx, suffix,
                                (size_t) snprintf(suffix, sizeof(suffix),
                                                  "\n%lu", touch)) != 1)
        || EVP_DigestFinal_ex(ctx, digest, &dlen) != 1)
    {
        EVP_MD_CTX_free(ctx);
        return MDM_ERROR;
    }

    EVP_MD_CTX_free(ctx);

    mdm_hex_encode(digest, dlen, hex);
    memcpy(out, hex, MDM_DDM_SERVER_TOKEN_LEN);
    out[MDM_DDM_SERVER_TOKEN_LEN] = '\0';

    return MDM_OK;
}


int
mdm_ddm_items_sort(const mdm_ddm_item_t *items, size_t n,
    const mdm_ddm_item_t ***sorted, mdm_ddm_error_t *err)
{
    size_t                  i;
    const mdm_ddm_item_t  **p;

    *sorted = NULL;

    for (i = 0; i < n; i++) {
        if ((unsigned) items[i].kind >= MDM_DDM_NKINDS
            || items[i].identifier == NULL || items[i].server_token == NULL
            || !mdm_ddm_id_valid(items[i].identifier,
                                 strlen(items[i].identifier))
            || !mdm_utf8_valid(items[i].identifier)
            || !mdm_utf8_valid(items[i].server_token)
            || !mdm_ddm_id_valid(items[i].server_token,
                                 strlen(items[i].server_token)))
        {
            return mdm_ddm_fail(err, "shape", "", "item %zu is not a valid "
                                "kind, Identifier and ServerToken", i);
        }
    }

    if (n == 0) {
        return MDM_OK;
    }

    p = malloc(n * sizeof(*p));
    if (p == NULL) {
        return mdm_ddm_fail(err, "memory", "", "out of memory");
    }

    for (i = 0; i < n; i++) {
        p[i] = &items[i];
    }

    qsort(p, n, sizeof(*p), mdm_ddm_item_cmp);

    for (i = 1; i < n; i++) {
        if (strcmp(p[i - 1]->identifier, p[i]->identifier) == 0) {
            mdm_ddm_fail(err, "duplicate", "", "Identifier %s appears twice",
                         p[i]->identifier);
            free(p);
            return MDM_ERROR;
        }
    }

    *sorted = p;

    return MDM_OK;
}


int
mdm_ddm_declarations_token(const mdm_ddm_item_t *items, size_t n,
    char out[MDM_DDM_DECLARATIONS_TOKEN_LEN + 1], mdm_ddm_error_t *err)
{
    int                     rc;
    const mdm_ddm_item_t  **sorted;

    if (mdm_ddm_items_sort(items, n, &sorted, err) != MDM_OK) {
        return MDM_ERROR;
    }

    rc = mdm_ddm_declarations_token_sorted(sorted, n, out, err);
    free(sorted);

    return rc;
}


int
mdm_ddm_declarations_token_sorted(const mdm_ddm_item_t *const *sorted,
    size_t n, char out[MDM_DDM_DECLARATIONS_TOKEN_LEN + 1],
    mdm_ddm_error_t *err)
{
    int            ok;
    size_t         i;
    unsigned int   dlen;
    EVP_MD_CTX    *ctx;
    unsigned char  digest[EVP_MAX_MD_SIZE];

    ctx = EVP_MD_CTX_new();
    ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1;

    for (i = 0; ok && i < n; i++) {
        ok = EVP_DigestUpdate(ctx, sorted[i]->identifier,
                              strlen(sorted[i]->identifier)) == 1
             && EVP_DigestUpdate(ctx, "\n", 1) == 1
             && EVP_DigestUpdate(ctx, sorted[i]->server_token,
                                 strlen(sorted[i]->server_token)) == 1
             && EVP_DigestUpdate(ctx, "\n", 1) == 1;
    }

    ok = ok && EVP_DigestFinal_ex(ctx, digest, &dlen) == 1 && dlen == 20;
    EVP_MD_CTX_free(ctx);

    if (!ok) {
        return mdm_ddm_fail(err, "memory", "", "SHA-1 failed");
    }

    mdm_hex_encode(digest, dlen, out);

    return MDM_OK;
}


/* Byte order, as strcmp compares, never the locale's collation. */
static int
mdm_ddm_item_cmp(const void *a, const void *b)
{
    const mdm_ddm_item_t  *x = *(const mdm_ddm_item_t *const *) a;
    const mdm_ddm_item_t  *y = *(const mdm_ddm_item_t *const *) b;

    return strcmp(x->identifier, y->identifier);
}
