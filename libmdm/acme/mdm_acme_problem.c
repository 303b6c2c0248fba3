/*
 * RFC 8555 problem documents (mdm_acme_problem.h).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acme/mdm_acme_problem.h"


static const struct {
    const char  *name;
    int          status;
} mdm_acme_problems[MDM_ACME_PROBLEMS] = {
    [MDM_ACME_OK]                      = { "",                        200 },
    [MDM_ACME_MALFORMED]               = { "malformed",               400 },
    [MDM_ACME_BAD_NONCE]               = { "badNonce",                400 },
    [MDM_ACME_BAD_SIGNATURE_ALGORITHM] = { "badSignatureAlgorithm",   400 },
    [MDM_ACME_BAD_PUBLIC_KEY]          = { "badPublicKey",            400 },
    [MDM_ACME_UNAUTHORIZED]            = { "unauthorized",            403 },
    [MDM_ACME_ACCOUNT_DOES_NOT_EXIST]  = { "accountDoesNotExist",     400 },
    [MDM_ACME_UNSUPPORTED_IDENTIFIER]  = { "unsupportedIdentifier",   400 },
    [MDM_ACME_REJECTED_IDENTIFIER]     = { "rejectedIdentifier",      400 },
    [MDM_ACME_ORDER_NOT_READY]         = { "orderNotReady",           403 },
    [MDM_ACME_BAD_CSR]                 = { "badCSR",                  400 },
    [MDM_ACME_BAD_ATTESTATION]         = { "badAttestationStatement", 400 },
    [MDM_ACME_SERVER_INTERNAL]         = { "serverInternal",          500 },
};


const char *
mdm_acme_problem_name(mdm_acme_problem_e type)
{
    if ((unsigned) type >= MDM_ACME_PROBLEMS || type == MDM_ACME_OK) {
        type = MDM_ACME_SERVER_INTERNAL;
    }

    return mdm_acme_problems[type].name;
}


int
mdm_acme_problem_status(mdm_acme_problem_e type)
{
    if ((unsigned) type >= MDM_ACME_PROBLEMS || type == MDM_ACME_OK) {
        type = MDM_ACME_SERVER_INTERNAL;
    }

    return mdm_acme_problems[type].status;
}


int
mdm_acme_fail(mdm_acme_err_t *err, mdm_acme_problem_e type,
    const char *fmt, ...)
{
    va_list  ap;

    err->type = type;
    err->identifier[0] = '\0';

    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);

    return -1;
}


static json_t *
mdm_acme_problem_obj(mdm_acme_problem_e type, const char *detail)
{
    char  urn[64];

    snprintf(urn, sizeof(urn), MDM_ACME_ERR_PREFIX "%s",
             mdm_acme_problem_name(type));

    return json_pack("{s:s, s:s}", "type", urn, "detail", detail);
}


char *
mdm_acme_problem_json(const mdm_acme_err_t *err, size_t *len)
{
    char    *out;
    json_t  *doc, *sub;

    doc = mdm_acme_problem_obj(err->type, err->detail);
    if (doc == NULL) {
        return NULL;
    }

    if (err->identifier[0]) {
        sub = mdm_acme_problem_obj(MDM_ACME_REJECTED_IDENTIFIER, err->detail);
        if (sub == NULL
            || json_object_set_new(sub, "identifier",
                   json_pack("{s:s, s:s}", "type", "permanent-identifier",
                             "value", err->identifier)) != 0
            || json_object_set_new(doc, "subproblems",
                                   json_pack("[o]", sub)) != 0)
        {
            json_decref(doc);
            return NULL;
        }
    }

    if (err->type == MDM_ACME_BAD_SIGNATURE_ALGORITHM) {
        json_object_set_new(doc, "algorithms",
                            json_pack("[s,s,s]", "ES256", "ES384", "RS256"));
    }

    out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    if (out != NULL && len != NULL) {
        *len = strlen(out);
    }

    return out;
}
