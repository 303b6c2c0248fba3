/*
 * libFuzzer target for the declaration validator (what an API PUT of a
 * declaration runs): mdm_ddm_declaration_parse, strict and with both
 * flags. Built by `make fuzz` from the repository root.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "ddm/mdm_ddm_declaration.h"


/* What every accepted declaration must satisfy. */
static void
fuzz_check(const mdm_ddm_declaration_t *d, unsigned flags)
{
    size_t                 i;
    json_t                *doc;
    mdm_ddm_error_t        err;
    mdm_ddm_declaration_t  again;

    fuzz_assert(d->kind < MDM_DDM_NKINDS);
    fuzz_assert(mdm_ddm_id_valid(d->identifier, strlen(d->identifier)));
    fuzz_assert(strlen(d->server_token) == MDM_DDM_SERVER_TOKEN_LEN);

    /* the served document is JSON with the computed token in it */
    doc = json_loadb(d->document, d->document_len, 0, NULL);
    fuzz_assert(doc != NULL);
    fuzz_assert(strcmp(json_string_value(json_object_get(doc, "ServerToken")),
                       d->server_token) == 0);
    json_decref(doc);

    /* and accepted again it is the same declaration, byte for byte */
    fuzz_assert(mdm_ddm_declaration_parse(d->document, d->document_len, flags,
                                          &again, &err) == MDM_OK);
    fuzz_assert(strcmp(again.server_token, d->server_token) == 0);
    fuzz_assert(again.document_len == d->document_len
                && memcmp(again.document, d->document,
                          d->document_len) == 0);
    fuzz_assert(again.refs.n == d->refs.n);
    mdm_ddm_declaration_free(&again);

    for (i = 0; i < d->refs.n; i++) {
        fuzz_assert(strncmp(d->refs.refs[i].path, "Payload.", 8) == 0);
        fuzz_assert(d->refs.refs[i].kind == MDM_DDM_ASSET
                    || d->refs.refs[i].kind == MDM_DDM_CONFIGURATION);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    strict_ok;
    char                   token[MDM_DDM_SERVER_TOKEN_LEN + 1];
    unsigned               lenient;
    mdm_ddm_error_t        err;
    mdm_ddm_declaration_t  d;

    lenient = MDM_DDM_ALLOW_UNKNOWN_KEYS | MDM_DDM_ALLOW_UNKNOWN_TYPES;

    strict_ok = mdm_ddm_declaration_parse((const char *) data, size, 0, &d,
                                          &err) == MDM_OK;
    if (strict_ok) {
        fuzz_check(&d, 0);
        memcpy(token, d.server_token, sizeof(token));
        mdm_ddm_declaration_free(&d);

    } else {
        fuzz_assert(err.rule != NULL);
        fuzz_check_msg(err.msg, sizeof(err.msg));
        fuzz_assert(d.root == NULL && d.document == NULL);
    }

    /* the flags only ever accept more, never change a token */
    if (mdm_ddm_declaration_parse((const char *) data, size, lenient, &d,
                                  &err) == MDM_OK)
    {
        fuzz_check(&d, lenient);
        fuzz_assert(!strict_ok || strcmp(token, d.server_token) == 0);
        mdm_ddm_declaration_free(&d);

    } else {
        fuzz_assert(!strict_ok);
    }

    return 0;
}
