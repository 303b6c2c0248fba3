/*
 * Profile intake: the bytes (CMS or plist), the top level, the payloads and
 * the identity rules; the per-key walk is mdm_profile_validate.c's.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "mdm_hex.h"
#include "mdm_utf8.h"
#include "profile/mdm_profile.h"


static void mdm_profile_check_payloads(mdm_profile_t *p,
    mdm_profile_problems_t *probs, unsigned flags);
static void mdm_profile_check_payload(mdm_profile_t *p,
    mdm_profile_problems_t *probs, unsigned flags, plist_t item, size_t i);
static void mdm_profile_check_unique(mdm_profile_t *p,
    mdm_profile_problems_t *probs);
static const char *mdm_profile_string(plist_t dict, const char *key);
static int mdm_profile_id_valid(const char *s, int strict);
static int mdm_profile_domain_valid(const char *s);
static int mdm_profile_first_error(const mdm_profile_problems_t *probs,
    mdm_err_t *err);


int
mdm_profile_is_cms(const unsigned char *body, size_t len)
{
    size_t  i;

    for (i = 0; i < len && (body[i] == ' ' || body[i] == '\t'
                            || body[i] == '\r' || body[i] == '\n'); i++)
    {
        /* leading white space before an XML plist */
    }

    /* a DER SEQUENCE; a plist starts with '<' or "bplist" */
    return i == 0 && len > 1 && body[0] == 0x30;
}


int
mdm_profile_identifier_valid(const char *s, size_t len)
{
    char  buf[MDM_PROFILE_ID_MAX + 1];

    if (len == 0 || len > MDM_PROFILE_ID_MAX || memchr(s, '\0', len) != NULL)
    {
        return 0;
    }

    memcpy(buf, s, len);
    buf[len] = '\0';

    return mdm_profile_id_valid(buf, 1);
}


int
mdm_profile_parse(const unsigned char *body, size_t len, size_t max_len,
    unsigned flags, mdm_profile_t *p, mdm_profile_problems_t *probs,
    mdm_err_t *err)
{
    char           path[MDM_PROFILE_PATH_MAX];
    plist_t        enc;
    mdm_buf_t      content;
    unsigned char  md[SHA256_DIGEST_LENGTH];

    memset(p, 0, sizeof(*p));
    memset(probs, 0, sizeof(*probs));
    memset(&content, 0, sizeof(content));

    if (len == 0) {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "plist", "",
                            "the profile is empty");
        return mdm_profile_first_error(probs, err);
    }

    if (len > max_len) {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "size", "",
                            "the profile is larger than %zu bytes", max_len);
        return mdm_profile_first_error(probs, err);
    }

    if (mdm_profile_is_cms(body, len)) {
        if (mdm_profile_cms_unwrap(body, len, p, &content, err) != MDM_OK) {
            mdm_profile_problem(probs, MDM_PROFILE_ERROR,
                                p->is_signed ? "signature" : "cms", "", "%s",
                                err->msg);
            mdm_profile_free(p);
            return mdm_profile_first_error(probs, err);
        }

    } else if (mdm_buf_set(NULL, &content, body, len) != 0) {
        return mdm_err_as(err, MDM_REFUSED_NO_MEMORY, "out of memory");
    }

    p->content = (unsigned char *) content.data;
    p->content_len = content.len;
    SHA256(p->content, p->content_len, md);
    mdm_hex_encode(md, sizeof(md), p->sha256);

    if (mdm_plist_parse((const char *) p->content, p->content_len, max_len,
                        &p->root, err) != MDM_OK)
    {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "plist", "", "%s",
                            err->msg);
        mdm_profile_free(p);
        return mdm_profile_first_error(probs, err);
    }

    enc = plist_dict_get_item(p->root, "IsEncrypted");
    p->encrypted = enc != NULL && plist_get_node_type(enc) == PLIST_BOOLEAN
                   && plist_bool_val_is_true(enc);

    path[0] = '\0';
    mdm_profile_walk_dict(p, probs, p->root, mdm_profile_toplevel.keys,
                          mdm_profile_toplevel.nkeys, 0, 0, path, 0);

    p->identifier = mdm_profile_string(p->root, "PayloadIdentifier");
    p->uuid = mdm_profile_string(p->root, "PayloadUUID");
    p->display_name = mdm_profile_string(p->root, "PayloadDisplayName");

    if (p->identifier != NULL && !mdm_profile_id_valid(p->identifier, 1)) {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "identifier",
                            "PayloadIdentifier", "PayloadIdentifier must be "
                            "1 to %d bytes of UTF-8 without spaces, control "
                            "characters or braces", MDM_PROFILE_ID_MAX);
    }

    if (p->uuid != NULL && !mdm_profile_id_valid(p->uuid, 0)) {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "identifier",
                            "PayloadUUID", "PayloadUUID must be 1 to %d "
                            "bytes of UTF-8 without control characters",
                            MDM_PROFILE_ID_MAX);
    }

    if (p->encrypted
        && plist_dict_get_item(p->root, "EncryptedPayloadContent") == NULL)
    {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "encrypted",
                            "EncryptedPayloadContent", "IsEncrypted is true "
                            "but EncryptedPayloadContent is missing");
    }

    mdm_profile_check_payloads(p, probs, flags);

    if (probs->errors != 0) {
        mdm_profile_first_error(probs, err);
        mdm_profile_free(p);
        return MDM_ERROR;
    }

    return MDM_OK;
}


void
mdm_profile_free(mdm_profile_t *p)
{
    if (p->root != NULL) {
        plist_free(p->root);
    }

    free(p->content);
    free(p->payloads);
    memset(p, 0, sizeof(*p));
}


static void
mdm_profile_check_payloads(mdm_profile_t *p, mdm_profile_problems_t *probs,
    unsigned flags)
{
    size_t    i;
    uint32_t  n;
    plist_t   content, item;

    content = plist_dict_get_item(p->root, "PayloadContent");

    if (content == NULL || plist_get_node_type(content) != PLIST_ARRAY) {
        return;                         /* reported by the walk */
    }

    n = plist_array_get_size(content);
    p->payloads = calloc(n ? n : 1, sizeof(mdm_profile_payload_t));

    if (p->payloads == NULL) {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "memory", "",
                            "out of memory");
        return;
    }

    for (i = 0; i < n; i++) {
        item = plist_array_get_item(content, i);

        if (plist_get_node_type(item) == PLIST_DICT) {
            mdm_profile_check_payload(p, probs, flags, item, i);
        }
    }

    mdm_profile_check_unique(p, probs);
}


static void
mdm_profile_check_payload(mdm_profile_t *p, mdm_profile_problems_t *probs,
    unsigned flags, plist_t item, size_t i)
{
    char                        path[MDM_PROFILE_PATH_MAX];
    mdm_profile_payload_t      *pl;
    const mdm_profile_schema_t *schema;

    snprintf(path, sizeof(path), "PayloadContent[%zu]", i);

    pl = &p->payloads[p->npayloads++];
    pl->type = mdm_profile_string(item, "PayloadType");
    pl->identifier = mdm_profile_string(item, "PayloadIdentifier");
    pl->uuid = mdm_profile_string(item, "PayloadUUID");

    schema = pl->type ? mdm_profile_schema_find(pl->type) : NULL;
    pl->schema = schema;

    if (schema != NULL) {
        mdm_profile_walk_dict(p, probs, item, schema->keys, schema->nkeys,
                              mdm_profile_common.keys,
                              mdm_profile_common.nkeys, path, 1);

    } else {
        /* the common keys only: the rest belongs to the app's domain */
        mdm_profile_walk_dict(p, probs, item, 0, 0, mdm_profile_common.keys,
                              mdm_profile_common.nkeys, path, 1);
    }

    if (pl->type != NULL && schema == NULL) {
        size_t  saved = strlen(path);

        snprintf(path + saved, sizeof(path) - saved, ".PayloadType");

        if (!mdm_profile_domain_valid(pl->type)) {
            mdm_profile_problem(probs, MDM_PROFILE_ERROR, "unknown-type",
                                path, "\"%.64s\" is not a payload type nor "
                                "a preference domain", pl->type);

        } else if (strncmp(pl->type, "com.apple.", 10) == 0) {
            mdm_profile_problem(probs,
                                (flags & MDM_PROFILE_ALLOW_UNKNOWN_TYPES)
                                ? MDM_PROFILE_WARNING : MDM_PROFILE_ERROR,
                                "unknown-type", path, "%.64s is not a "
                                "payload type Apple's schema knows",
                                pl->type);

        } else {
            mdm_profile_problem(probs, MDM_PROFILE_WARNING, "custom-type",
                                path, "%.64s is taken as a custom preference "
                                "domain; its keys are not checked", pl->type);
        }

        path[saved] = '\0';
    }

    if (pl->identifier != NULL && !mdm_profile_id_valid(pl->identifier, 1)) {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "identifier", path,
                            "%s.PayloadIdentifier must be 1 to %d bytes of "
                            "UTF-8 without spaces, control characters or "
                            "braces", path, MDM_PROFILE_ID_MAX);
    }

    if (pl->uuid != NULL && !mdm_profile_id_valid(pl->uuid, 0)) {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "identifier", path,
                            "%s.PayloadUUID must be 1 to %d bytes of UTF-8 "
                            "without control characters", path,
                            MDM_PROFILE_ID_MAX);
    }
}


/* PayloadUUID unique in the profile, PayloadIdentifier among payloads:
 * a device updates payloads in place by the pair, so a repeated one would
 * make two payloads one. Quadratic, on a few dozen payloads at most. */
static void
mdm_profile_check_unique(mdm_profile_t *p, mdm_profile_problems_t *probs)
{
    char                          path[64];
    size_t                        i, j;
    const mdm_profile_payload_t  *a, *b;

    for (i = 0; i < p->npayloads; i++) {
        a = &p->payloads[i];
        snprintf(path, sizeof(path), "PayloadContent[%zu]", i);

        if (a->uuid != NULL && p->uuid != NULL
            && strcmp(a->uuid, p->uuid) == 0)
        {
            mdm_profile_problem(probs, MDM_PROFILE_ERROR, "duplicate-uuid",
                                path, "%s has the profile's PayloadUUID",
                                path);
        }

        for (j = 0; j < i; j++) {
            b = &p->payloads[j];

            if (a->uuid != NULL && b->uuid != NULL
                && strcmp(a->uuid, b->uuid) == 0)
            {
                mdm_profile_problem(probs, MDM_PROFILE_ERROR,
                                    "duplicate-uuid", path, "%s has the "
                                    "PayloadUUID of PayloadContent[%zu]",
                                    path, j);
            }

            if (a->identifier != NULL && b->identifier != NULL
                && strcmp(a->identifier, b->identifier) == 0)
            {
                mdm_profile_problem(probs, MDM_PROFILE_ERROR,
                                    "duplicate-identifier", path, "%s has "
                                    "the PayloadIdentifier of "
                                    "PayloadContent[%zu]", path, j);
            }
        }
    }
}


static const char *
mdm_profile_string(plist_t dict, const char *key)
{
    plist_t  node;

    node = plist_dict_get_item(dict, key);

    if (node == NULL || plist_get_node_type(node) != PLIST_STRING) {
        return NULL;
    }

    return plist_get_string_ptr(node, NULL);
}


/* strict: an identifier, which names keys and commands */
static int
mdm_profile_id_valid(const char *s, int strict)
{
    size_t  i, len;

    len = strlen(s);

    if (len == 0 || len > MDM_PROFILE_ID_MAX || !mdm_utf8_valid(s)) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }

        if (strict && (s[i] == ' ' || s[i] == '{' || s[i] == '}')) {
            return 0;
        }
    }

    return 1;
}


/* a preference domain: reverse-DNS words, at least two */
static int
mdm_profile_domain_valid(const char *s)
{
    size_t  i, len;

    len = strlen(s);

    if (len < 3 || len > MDM_PROFILE_ID_MAX || s[0] == '.'
        || s[len - 1] == '.' || strchr(s, '.') == NULL)
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-'
              || s[i] == '_'))
        {
            return 0;
        }

        if (s[i] == '.' && s[i + 1] == '.') {
            return 0;
        }
    }

    return 1;
}


static int
mdm_profile_first_error(const mdm_profile_problems_t *probs, mdm_err_t *err)
{
    size_t                        i;
    mdm_refused_e                 reason;
    const mdm_profile_problem_t  *pr;

    for (i = 0; i < probs->n; i++) {
        pr = &probs->items[i];

        if (pr->severity != MDM_PROFILE_ERROR) {
            continue;
        }

        reason = strcmp(pr->rule, "plist") == 0 ? MDM_REFUSED_MALFORMED
               : strcmp(pr->rule, "cms") == 0 ? MDM_REFUSED_MALFORMED
               : strcmp(pr->rule, "size") == 0 ? MDM_REFUSED_TOO_LARGE
               : strcmp(pr->rule, "required") == 0 ? MDM_REFUSED_MISSING_KEY
               : strcmp(pr->rule, "type") == 0 ? MDM_REFUSED_WRONG_TYPE
               : strcmp(pr->rule, "unknown-type") == 0
                 ? MDM_REFUSED_UNKNOWN_TYPE
               : strcmp(pr->rule, "memory") == 0 ? MDM_REFUSED_NO_MEMORY
               : MDM_REFUSED_INVALID;

        return mdm_err_as(err, reason, "%s", pr->msg);
    }

    return mdm_err(err, "the profile is not valid");
}
