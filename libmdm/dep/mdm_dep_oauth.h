#ifndef MDM_DEP_OAUTH_H
#define MDM_DEP_OAUTH_H

/*
 * OAuth 1.0a (RFC 5849) HMAC-SHA1 signing of the Device Assignment
 * service's GET /session (services.md 5.1): the consumer key/secret and the
 * access token/secret of a server token sign the method, the base URL and
 * the oauth_* (plus any query) parameters. The caller gives the timestamp
 * and nonce so that tests can reproduce RFC 5849's example.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char  *consumer_key;
    const char  *consumer_secret;
    const char  *access_token;
    const char  *access_secret;
} mdm_dep_oauth_creds_t;

typedef struct {
    const char  *name;
    const char  *value;
} mdm_dep_oauth_param_t;

/* RFC 5849 3.6 percent-encoding of len bytes of in into out (3 * len + 1
 * bytes at most); returns the length written. */
size_t mdm_dep_oauth_encode(const char *in, size_t len, char *out);

/*
 * The base64 HMAC-SHA1 signature (28 characters and a NUL) of method +
 * base_url (scheme://host[:port]/path, no query) + the oauth parameters
 * (consumer key, token, HMAC-SHA1, timestamp, nonce, version "1.0" unless
 * with_version is 0) + extra (query parameters; n_extra of them). 0 or -1.
 */
int mdm_dep_oauth_sign(const mdm_dep_oauth_creds_t *c, const char *method,
    const char *base_url, const mdm_dep_oauth_param_t *extra, size_t n_extra,
    int64_t timestamp, const char *nonce, int with_version, char sig[29]);

/*
 * The whole `Authorization: OAuth realm="ADM", ...` header value into out
 * (out_len bytes); the nonce is 32 random hex digits. 0, or -1 when out is
 * too small or a credential is missing.
 */
int mdm_dep_oauth_header(const mdm_dep_oauth_creds_t *c, const char *method,
    const char *base_url, int64_t timestamp, char *out, size_t out_len);

#endif
