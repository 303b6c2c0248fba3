#ifndef MDMSIM_PROFILE_H
#define MDMSIM_PROFILE_H

/* mdmsim enroll --profile URL (profile.c): a device's enrollment through
 * a downloaded enrollment profile and SCEP. */

#include <openssl/x509.h>

#include "mdmsim.h"


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

#endif /* MDMSIM_PROFILE_H */
