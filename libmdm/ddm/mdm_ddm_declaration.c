/*
 * The declaration envelope, then the payload walk, then the token and the
 * served document.
 */

#include <stdlib.h>
#include <string.h>

#include "mdm_plist.h"
#include "ddm/mdm_ddm_declaration.h"


static int mdm_ddm_envelope(mdm_ddm_declaration_t *d, unsigned flags,
    mdm_ddm_error_t *err);
static int mdm_ddm_render(mdm_ddm_declaration_t *d, mdm_ddm_error_t *err);


int
mdm_ddm_declaration_parse(const char *json, size_t len, unsigned flags,
    mdm_ddm_declaration_t *d, mdm_ddm_error_t *err)
{
    json_error_t  jerr;

    memset(d, 0, sizeof(*d));

    if (len > MDM_DDM_DECLARATION_MAX) {
        return mdm_ddm_fail(err, "size", "", "declaration is larger than "
                            "%d bytes", MDM_DDM_DECLARATION_MAX);
    }

    d->root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (d->root == NULL) {
        return mdm_ddm_fail(err, "json", "", "invalid JSON: %s (line %d, "
                            "column %d)", jerr.text, jerr.line, jerr.column);
    }

    if (mdm_ddm_envelope(d, flags, err) != MDM_OK
        || (d->schema != NULL
            && mdm_ddm_validate_payload(d->schema,
                                        json_object_get(d->root, "Payload"),
                                        flags, &d->refs, err) != MDM_OK)
        || mdm_ddm_declaration_touch(d, 0, err) != MDM_OK)
    {
        mdm_ddm_declaration_free(d);
        return MDM_ERROR;
    }

    return MDM_OK;
}


int
mdm_ddm_declaration_touch(mdm_ddm_declaration_t *d, unsigned long touch,
    mdm_ddm_error_t *err)
{
    d->touch = touch;

    if (d->canonical == NULL) {
        json_object_del(d->root, "ServerToken");
        d->canonical = mdm_ddm_canonical(d->root, &d->canonical_len);

        if (d->canonical == NULL) {
            return mdm_ddm_fail(err, "memory", "", "out of memory");
        }
    }

    if (mdm_ddm_server_token(d->canonical, d->canonical_len, touch,
                             d->server_token) != MDM_OK)
    {
        return mdm_ddm_fail(err, "memory", "", "out of memory");
    }

    return mdm_ddm_render(d, err);
}


void
mdm_ddm_declaration_free(mdm_ddm_declaration_t *d)
{
    json_decref(d->root);
    free(d->canonical);
    free(d->document);
    mdm_ddm_refs_free(&d->refs);
    memset(d, 0, sizeof(*d));
}


static int
mdm_ddm_envelope(mdm_ddm_declaration_t *d, unsigned flags,
    mdm_ddm_error_t *err)
{
    json_t      *type, *id, *payload, *val;
    const char  *name;

    if (!json_is_object(d->root)) {
        return mdm_ddm_fail(err, "type", "", "a declaration is a JSON "
                            "object");
    }

    json_object_foreach(d->root, name, val) {
        if (strcmp(name, "Type") != 0 && strcmp(name, "Identifier") != 0
            && strcmp(name, "Payload") != 0
            && strcmp(name, "ServerToken") != 0
            && !(flags & MDM_DDM_ALLOW_UNKNOWN_KEYS))
        {
            return mdm_ddm_fail(err, "unknown-key", name, "%s is not a key "
                                "of a declaration", name);
        }
    }

    type = json_object_get(d->root, "Type");
    id = json_object_get(d->root, "Identifier");
    payload = json_object_get(d->root, "Payload");

    if (type == NULL) {
        return mdm_ddm_fail(err, "required", "Type", "Type is required");
    }

    if (!json_is_string(type) || json_string_length(type) == 0
        || json_string_length(type) > MDM_DDM_TYPE_MAX)
    {
        return mdm_ddm_fail(err, "type", "Type", "Type must be a string of "
                            "1 to %d octets", MDM_DDM_TYPE_MAX);
    }

    d->type = json_string_value(type);
    d->kind = mdm_ddm_kind_of_type(d->type);
    d->schema = mdm_ddm_schema_find(d->type);

    /* a Type outside com.apple.<kind>. has no manifest bucket at all */
    if (d->kind == MDM_DDM_NKINDS
        || (d->schema == NULL && !(flags & MDM_DDM_ALLOW_UNKNOWN_TYPES)))
    {
        return mdm_ddm_fail(err, "unknown-type", "Type", "Type %s is not a "
                            "declaration type of the schema", d->type);
    }

    if (id == NULL) {
        return mdm_ddm_fail(err, "required", "Identifier",
                            "Identifier is required");
    }

    if (!json_is_string(id)) {
        return mdm_ddm_fail(err, "type", "Identifier",
                            "Identifier must be a string");
    }

    if (!mdm_ddm_id_valid(json_string_value(id), json_string_length(id))) {
        return mdm_ddm_fail(err, "length", "Identifier", "Identifier must "
                            "be 1 to %d octets without control characters",
                            MDM_DDM_ID_MAX);
    }

    d->identifier = json_string_value(id);

    if (payload == NULL) {
        return mdm_ddm_fail(err, "required", "Payload",
                            "Payload is required");
    }

    if (!json_is_object(payload)) {
        return mdm_ddm_fail(err, "type", "Payload",
                            "Payload must be a dictionary");
    }

    return MDM_OK;
}


static int
mdm_ddm_render(mdm_ddm_declaration_t *d, mdm_ddm_error_t *err)
{
    json_t  *token;

    token = json_string(d->server_token);

    if (token == NULL
        || json_object_set_new(d->root, "ServerToken", token) != 0)
    {
        return mdm_ddm_fail(err, "memory", "", "out of memory");
    }

    free(d->document);
    d->document = mdm_ddm_canonical(d->root, &d->document_len);

    if (d->document == NULL) {
        return mdm_ddm_fail(err, "memory", "", "out of memory");
    }

    return MDM_OK;
}
