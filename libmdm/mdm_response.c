#include <stdlib.h>

#include <plist/plist.h>

#include "mdm_response.h"


/* Serializes and frees dict. */
static int
mdm_response_finish(plist_t dict, mdm_buf_t *out)
{
    char      *xml = NULL;
    uint32_t   len = 0;

    plist_to_xml(dict, &xml, &len);
    plist_free(dict);

    if (xml == NULL) {
        return -1;
    }

    out->data = xml;
    out->len = len;

    return 0;
}


static int
mdm_response_single(const char *key, plist_t value, mdm_buf_t *out)
{
    plist_t  dict;

    dict = plist_new_dict();
    plist_dict_set_item(dict, key, value);

    return mdm_response_finish(dict, out);
}


int
mdm_response_bootstrap_token(const unsigned char *token, size_t len,
    mdm_buf_t *out)
{
    return mdm_response_single("BootstrapToken",
                               plist_new_data((const char *) token, len),
                               out);
}


int
mdm_response_digest_challenge(const char *challenge, mdm_buf_t *out)
{
    return mdm_response_single("DigestChallenge",
                               plist_new_string(challenge), out);
}


int
mdm_response_token_data(const unsigned char *token, size_t len,
    mdm_buf_t *out)
{
    return mdm_response_single("TokenData",
                               plist_new_data((const char *) token, len),
                               out);
}


int
mdm_response_return_to_service(int enabled, mdm_buf_t *out)
{
    plist_t  rts;

    rts = plist_new_dict();
    plist_dict_set_item(rts, "Enabled", plist_new_bool(enabled != 0));

    return mdm_response_single("ReturnToService", rts, out);
}
