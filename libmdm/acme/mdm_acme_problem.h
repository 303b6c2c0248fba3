#ifndef MDM_ACME_PROBLEM_H
#define MDM_ACME_PROBLEM_H

/*
 * RFC 8555 §6.7 problem documents (RFC 7807, application/problem+json):
 * the error types an ACME server answers with, their HTTP status, and the
 * document. badAttestationStatement is draft-acme-device-attest's; its
 * identifier mismatch is a rejectedIdentifier subproblem (§6.7.1).
 */

#include <stddef.h>

#include "mdm_plist.h"   /* MDM_ERR_LEN */

#define MDM_ACME_CT_PROBLEM  "application/problem+json"
#define MDM_ACME_ERR_PREFIX  "urn:ietf:params:acme:error:"

typedef enum {
    MDM_ACME_OK = 0,
    MDM_ACME_MALFORMED,
    MDM_ACME_BAD_NONCE,
    MDM_ACME_BAD_SIGNATURE_ALGORITHM,
    MDM_ACME_BAD_PUBLIC_KEY,
    MDM_ACME_UNAUTHORIZED,
    MDM_ACME_ACCOUNT_DOES_NOT_EXIST,
    MDM_ACME_UNSUPPORTED_IDENTIFIER,
    MDM_ACME_REJECTED_IDENTIFIER,
    MDM_ACME_ORDER_NOT_READY,
    MDM_ACME_BAD_CSR,
    MDM_ACME_BAD_ATTESTATION,        /* badAttestationStatement */
    MDM_ACME_SERVER_INTERNAL,
    MDM_ACME_PROBLEMS
} mdm_acme_problem_e;

/* a refusal: its type, a sentence for the client and the log, and for
 * rejectedIdentifier the identifier value it is about */
typedef struct {
    mdm_acme_problem_e  type;
    char                detail[MDM_ERR_LEN];
    char                identifier[128];   /* "" when not about one */
} mdm_acme_err_t;

/* "badNonce", ... (the part after the URN prefix) */
const char *mdm_acme_problem_name(mdm_acme_problem_e type);

/* The HTTP status RFC 8555 gives the type (400, 403, 500). */
int mdm_acme_problem_status(mdm_acme_problem_e type);

/* Sets err and returns -1, for `return mdm_acme_fail(...)`. */
int mdm_acme_fail(mdm_acme_err_t *err, mdm_acme_problem_e type,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * The problem document of err, malloc'd (free()); NULL without memory.
 * With err->identifier set, a badAttestationStatement or rejectedIdentifier
 * carries one subproblem rejectedIdentifier about a permanent-identifier.
 */
char *mdm_acme_problem_json(const mdm_acme_err_t *err, size_t *len);

#endif
