#include <string.h>

#include <openssl/sha.h>

#include "mdm_hex.h"
#include "mdm_script.h"


const mdm_script_t *
mdm_script_find(const char *name)
{
    const mdm_script_t *s;

    for (s = mdm_scripts; s->name != NULL; s++) {
        if (strcmp(s->name, name) == 0) {
            return s;
        }
    }

    return NULL;
}


void
mdm_script_sha1_hex(const mdm_script_t *s, char out[MDM_SHA1_HEX_LEN + 1])
{
    unsigned char md[SHA_DIGEST_LENGTH];

    SHA1((const unsigned char *) s->src, s->len, md);
    mdm_hex_encode(md, sizeof(md), out);
}
