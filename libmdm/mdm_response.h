#ifndef MDM_RESPONSE_H
#define MDM_RESPONSE_H

/*
 * Plist bodies the server sends back to check-ins (protocol.md §2.3). Each
 * returns 0 with an XML plist in out, from a (NULL: malloc'd, free with
 * mdm_buf_free), or -1.
 */

#include <stddef.h>

#include "mdm_buf.h"

/* GetBootstrapToken: {BootstrapToken: data} (zero-length when none). */
int mdm_response_bootstrap_token(const unsigned char *token, size_t len,
    const mdm_alloc_t *a, mdm_buf_t *out);

/* UserAuthenticate, first message: {DigestChallenge: challenge}. */
int mdm_response_digest_challenge(const char *challenge,
    const mdm_alloc_t *a, mdm_buf_t *out);

/* GetToken: {TokenData: data}. */
int mdm_response_token_data(const unsigned char *token, size_t len,
    const mdm_alloc_t *a, mdm_buf_t *out);

/* ReturnToService: {ReturnToService: {Enabled: enabled}}. */
int mdm_response_return_to_service(int enabled, const mdm_alloc_t *a,
    mdm_buf_t *out);

#endif
