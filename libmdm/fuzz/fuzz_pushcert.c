/*
 * libFuzzer target for the push certificate upload (PUT /v1/pushcert): a
 * PEM body with a certificate and its private key. What is accepted has an
 * MDM topic and PEM copies that parse again to the same topic.
 */

#include "fuzz.h"
#include "mdm_pushcert.h"


/* A fixed "now" keeps runs reproducible (2026-01-01). */
#define FUZZ_NOW  1767225600


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t           n;
    char            *body;
    mdm_err_t        err;
    mdm_pushcert_t   pc, again;

    if (mdm_pushcert_parse((const char *) data, size, FUZZ_NOW, &pc, &err)
        != MDM_OK)
    {
        fuzz_check_msg(err.msg, sizeof(err.msg));
        return 0;
    }

    fuzz_assert(strncmp(pc.topic, MDM_PUSHCERT_TOPIC_PREFIX,
                        sizeof(MDM_PUSHCERT_TOPIC_PREFIX) - 1) == 0);
    fuzz_assert(pc.not_after > FUZZ_NOW && pc.cert_pem != NULL
                && pc.key_pem != NULL);

    /* What is stored must load again, as the worker will load it. */
    n = pc.cert_pem_len + pc.key_pem_len;
    body = malloc(n);
    fuzz_assert(body != NULL);
    memcpy(body, pc.cert_pem, pc.cert_pem_len);
    memcpy(body + pc.cert_pem_len, pc.key_pem, pc.key_pem_len);

    fuzz_assert(mdm_pushcert_parse(body, n, FUZZ_NOW, &again, &err)
                == MDM_OK);
    fuzz_assert(strcmp(again.topic, pc.topic) == 0);

    mdm_pushcert_free(&again);
    free(body);
    mdm_pushcert_free(&pc);
    return 0;
}
