#include "mdm_keys.h"


size_t
mdm_key(char *buf, mdm_key_id_t k, const char *p1, const char *p2)
{
    const char  *p[MDM_SCHEMA_MAX_PARAMS] = { p1, p2 };

    /* IDs are bounded by mdm_id_check(), so a 0 only guards misuse */
    return mdm_schema_key(buf, MDM_KEY_MAX, k, p, mdm_schema_nparams(k));
}


size_t
mdm_key_enrollment(char *buf, const char *id)
{
    return mdm_key(buf, MDM_K_ENR, id, NULL);
}


size_t
mdm_key_auth(char *buf, const char *id)
{
    return mdm_key(buf, MDM_K_AUTH, id, NULL);
}


size_t
mdm_key_queue(char *buf, const char *id)
{
    return mdm_key(buf, MDM_K_Q, id, NULL);
}


size_t
mdm_key_notnow(char *buf, const char *id)
{
    return mdm_key(buf, MDM_K_NN, id, NULL);
}


size_t
mdm_key_users(char *buf, const char *id)
{
    return mdm_key(buf, MDM_K_USERS, id, NULL);
}


size_t
mdm_key_result(char *buf, const char *id, const char *uuid)
{
    return mdm_key(buf, MDM_K_R, id, uuid);
}


size_t
mdm_key_command(char *buf, const char *uuid)
{
    return mdm_key(buf, MDM_K_CMD, uuid, NULL);
}


size_t
mdm_key_command_ids(char *buf, const char *uuid)
{
    return mdm_key(buf, MDM_K_CMD_IDS, uuid, NULL);
}


size_t
mdm_key_cert(char *buf, const char *sha256_hex)
{
    return mdm_key(buf, MDM_K_CERT, sha256_hex, NULL);
}


size_t
mdm_key_pushcert(char *buf, const char *topic)
{
    return mdm_key(buf, MDM_K_PUSHCERT, topic, NULL);
}


size_t
mdm_key_webhook_dead(char *buf, const char *name)
{
    return mdm_key(buf, MDM_K_WEBHOOK_DEAD, name, NULL);
}


size_t
mdm_key_webhook_retry(char *buf, const char *name)
{
    return mdm_key(buf, MDM_K_WEBHOOK_RETRY, name, NULL);
}


size_t
mdm_key_enroll_link(char *buf, const char *token)
{
    return mdm_key(buf, MDM_K_ENROLL_LINK, token, NULL);
}


size_t
mdm_key_scep_challenge(char *buf, const char *challenge)
{
    return mdm_key(buf, MDM_K_SCEP_CHAL, challenge, NULL);
}


size_t
mdm_key_enroll_ota(char *buf, const char *challenge)
{
    return mdm_key(buf, MDM_K_ENROLL_OTA, challenge, NULL);
}


size_t
mdm_key_enroll_dev(char *buf, const char *serial)
{
    return mdm_key(buf, MDM_K_ENROLL_DEV, serial, NULL);
}


size_t
mdm_key_enroll_known(char *buf, const char *serial)
{
    return mdm_key(buf, MDM_K_ENROLL_KNOWN, serial, NULL);
}


size_t
mdm_key_ca_cert(char *buf, const char *sha256_hex)
{
    return mdm_key(buf, MDM_K_CA_CERT, sha256_hex, NULL);
}


size_t
mdm_key_ca_serial(char *buf, const char *serial_hex)
{
    return mdm_key(buf, MDM_K_CA_SERIAL, serial_hex, NULL);
}


size_t
mdm_key_acme_nonce(char *buf, const char *nonce)
{
    return mdm_key(buf, MDM_K_ACME_NONCE, nonce, NULL);
}


size_t
mdm_key_acme_acct(char *buf, const char *thumbprint)
{
    return mdm_key(buf, MDM_K_ACME_ACCT, thumbprint, NULL);
}


size_t
mdm_key_acme_orders(char *buf, const char *thumbprint)
{
    return mdm_key(buf, MDM_K_ACME_ORDERS, thumbprint, NULL);
}


size_t
mdm_key_acme_order(char *buf, const char *order)
{
    return mdm_key(buf, MDM_K_ACME_ORDER, order, NULL);
}
