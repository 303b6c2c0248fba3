#include <stdlib.h>

#include <plist/plist.h>

#include "mdm_response.h"


/* Serializes and frees dict. */
static int
mdm_response_finish(plist_t dict, const mdm_alloc_t *a, mdm_buf_t *out)
{
    char      *xml = NULL;
    uint32_t   len = 0;

    plist_to_xml(dict, &xml, &len);
    plist_free(dict);

    if (xml == NULL) {
        return -1;
    }

    return mdm_buf_adopt(a, out, xml, len, plist_to_xml_free);
}


static int
mdm_response_single(const char *key, plist_t value, const mdm_alloc_t *a,
    mdm_buf_t *out)
{
    plist_t  dict;

    dict = plist_new_dict();
    plist_dict_set_item(dict, key, value);

    return mdm_response_finish(dict, a, out);
}


int
mdm_response_bootstrap_token(const unsigned char *token, size_t len,
    const mdm_alloc_t *a, mdm_buf_t *out)
{
    return mdm_response_single("BootstrapToken",
                               plist_new_data((const char *) token, len),
                               a, out);
}


int
mdm_response_digest_challenge(const char *challenge, const mdm_alloc_t *a,
    mdm_buf_t *out)
{
    return mdm_response_single("DigestChallenge",
                               plist_new_string(challenge), a, out);
}


int
mdm_response_token_data(const unsigned char *token, size_t len,
    const mdm_alloc_t *a, mdm_buf_t *out)
{
    return mdm_response_single("TokenData",
                               plist_new_data((const char *) token, len),
                               a, out);
}


int
mdm_response_return_to_service(int enabled, const mdm_alloc_t *a,
    mdm_buf_t *out)
{
    plist_t  rts;

    rts = plist_new_dict();
    plist_dict_set_item(rts, "Enabled", plist_new_bool(enabled != 0));

    return mdm_response_single("ReturnToService", rts, a, out);
}
