#ifndef MDMSIM_PROFILE_H
#define MDMSIM_PROFILE_H

/* mdmsim enroll --profile URL (profile.c): a device's enrollment through
 * a downloaded enrollment profile and SCEP. */

#include <openssl/x509.h>

#include "mdmsim.h"
#include "mdm_buf.h"


/* What a device reads from a verified enrollment profile. */
struct mdmsim_profile {
    char                  *scep_url;
    char                  *challenge;
    X509_NAME             *subject;
    int                    key_size;
    char                  *server_url;
    char                  *check_in_url;   /* NULL: ServerURL */
    char                  *topic;
    int                    sign_message;
};

/* Every device downloads, verifies and parses its own profile and gets
 * its identity by SCEP; opts then carries the profile's URLs, topic and
 * identity mode (SignMessage: Mdm-Signature, else the TLS certificate). */
int mdmsim_profile_enroll(struct mdmsim_fleet *fleet,
    struct mdmsim_opts *opts);

void mdmsim_profile_free(struct mdmsim_profile *p);

/* GET url (body NULL) or POST body as application/pkcs7-signature, new
 * connection; out gets a 200 application/x-apple-aspen-config answer. */
int mdmsim_profile_fetch(const struct mdmsim_opts *opts, const char *url,
    const unsigned char *body, size_t body_len, mdm_buf_t *out,
    char *err, size_t errlen);

/* The CMS signature of a profile against --profile-ca; xml its content. */
int mdmsim_profile_verify(const struct mdmsim_opts *opts,
    mdm_buf_t *der, mdm_buf_t *xml, char *err,
    size_t errlen);

/* printf into err; -1 */
int mdmsim_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* MDMSIM_PROFILE_H */
