#include <string.h>

#include "mdm_checkin.h"


typedef enum {
    MDM_CHECKIN_KEY_STRING,
    MDM_CHECKIN_KEY_DATA,
    MDM_CHECKIN_KEY_BOOL,
    MDM_CHECKIN_KEY_DICT
} mdm_checkin_key_kind_e;


typedef struct {
    const char      *name;
    mdm_checkin_key_kind_e   kind;
    int              required;
    size_t           offset;
} mdm_checkin_key_t;


typedef struct {
    mdm_checkin_type_e     type;
    const char            *name;
    const mdm_checkin_key_t  *keys;
} mdm_checkin_spec_t;


#define MDM_CHECKIN_KEY(name, kind, required, field)                         \
    { name, MDM_CHECKIN_KEY_##kind, required,                                \
      offsetof(mdm_checkin_t, field) }

#define MDM_CHECKIN_KEYS_END  { NULL, MDM_CHECKIN_KEY_STRING, 0, 0 }


/*
 * Required keys as protocol.md §2.3 has them after §10's corrections:
 * identity keys are resolved separately, UserAuthenticate's DigestResponse
 * is missing in the first request, and keys required only on some platforms
 * (macOS device facts, NotOnConsole, UserLongName) are optional here.
 */
static const mdm_checkin_key_t  mdm_authenticate_keys[] = {
    MDM_CHECKIN_KEY("Topic", STRING, 1, topic),
    MDM_CHECKIN_KEY("SerialNumber", STRING, 0, serial_number),
    MDM_CHECKIN_KEY("Model", STRING, 0, model),
    MDM_CHECKIN_KEY("ModelName", STRING, 0, model_name),
    MDM_CHECKIN_KEY("ProductName", STRING, 0, product_name),
    MDM_CHECKIN_KEY("OSVersion", STRING, 0, os_version),
    MDM_CHECKIN_KEY("BuildVersion", STRING, 0, build_version),
    MDM_CHECKIN_KEY("DeviceName", STRING, 0, device_name),
    MDM_CHECKIN_KEY("IMEI", STRING, 0, imei),
    MDM_CHECKIN_KEY("MEID", STRING, 0, meid),
    MDM_CHECKIN_KEYS_END
};

static const mdm_checkin_key_t  mdm_token_update_keys[] = {
    MDM_CHECKIN_KEY("Topic", STRING, 1, topic),
    MDM_CHECKIN_KEY("Token", DATA, 1, token),
    MDM_CHECKIN_KEY("PushMagic", STRING, 1, push_magic),
    MDM_CHECKIN_KEY("UnlockToken", DATA, 0, unlock_token),
    MDM_CHECKIN_KEY("AwaitingConfiguration", BOOL, 0, awaiting_configuration),
    MDM_CHECKIN_KEY("NotOnConsole", BOOL, 0, not_on_console),
    MDM_CHECKIN_KEYS_END
};

static const mdm_checkin_key_t  mdm_check_out_keys[] = {
    MDM_CHECKIN_KEY("Topic", STRING, 1, topic),
    MDM_CHECKIN_KEYS_END
};

/* only a macOS user channel authenticates a user */
static const mdm_checkin_key_t  mdm_user_authenticate_keys[] = {
    MDM_CHECKIN_KEY("UserID", STRING, 1, id_keys.user_id),
    MDM_CHECKIN_KEY("DigestResponse", STRING, 0, digest_response),
    MDM_CHECKIN_KEYS_END
};

static const mdm_checkin_key_t  mdm_set_bootstrap_token_keys[] = {
    MDM_CHECKIN_KEY("BootstrapToken", DATA, 0, bootstrap_token),
    MDM_CHECKIN_KEY("AwaitingConfiguration", BOOL, 0, awaiting_configuration),
    MDM_CHECKIN_KEYS_END
};

static const mdm_checkin_key_t  mdm_get_bootstrap_token_keys[] = {
    MDM_CHECKIN_KEY("AwaitingConfiguration", BOOL, 0, awaiting_configuration),
    MDM_CHECKIN_KEYS_END
};

static const mdm_checkin_key_t  mdm_declarative_management_keys[] = {
    MDM_CHECKIN_KEY("Endpoint", STRING, 1, endpoint),
    MDM_CHECKIN_KEY("Data", DATA, 0, data),
    MDM_CHECKIN_KEYS_END
};

static const mdm_checkin_key_t  mdm_get_token_keys[] = {
    MDM_CHECKIN_KEY("TokenServiceType", STRING, 1, token_service_type),
    MDM_CHECKIN_KEY("TokenParameters", DICT, 0, token_parameters),
    MDM_CHECKIN_KEYS_END
};

static const mdm_checkin_key_t  mdm_return_to_service_keys[] = {
    MDM_CHECKIN_KEYS_END
};


static const mdm_checkin_spec_t  mdm_messages[] = {
    { MDM_CHECKIN_AUTHENTICATE, "Authenticate", mdm_authenticate_keys },
    { MDM_CHECKIN_TOKEN_UPDATE, "TokenUpdate", mdm_token_update_keys },
    { MDM_CHECKIN_CHECK_OUT, "CheckOut", mdm_check_out_keys },
    { MDM_CHECKIN_USER_AUTHENTICATE, "UserAuthenticate",
      mdm_user_authenticate_keys },
    { MDM_CHECKIN_SET_BOOTSTRAP_TOKEN, "SetBootstrapToken",
      mdm_set_bootstrap_token_keys },
    { MDM_CHECKIN_GET_BOOTSTRAP_TOKEN, "GetBootstrapToken",
      mdm_get_bootstrap_token_keys },
    { MDM_CHECKIN_DECLARATIVE_MANAGEMENT, "DeclarativeManagement",
      mdm_declarative_management_keys },
    { MDM_CHECKIN_GET_TOKEN, "GetToken", mdm_get_token_keys },
    { MDM_CHECKIN_RETURN_TO_SERVICE, "ReturnToService",
      mdm_return_to_service_keys },
};

#define MDM_NMESSAGES  (sizeof(mdm_messages) / sizeof(mdm_messages[0]))


static int mdm_checkin_read_keys(mdm_checkin_t *ci,
    const mdm_checkin_key_t *keys, mdm_err_t *err);
static int mdm_checkin_read_key(mdm_checkin_t *ci,
    const mdm_checkin_key_t *key, mdm_err_t *err);


int
mdm_checkin_decode(const char *body, size_t len, size_t max_len,
    mdm_checkin_t *ci, mdm_err_t *err)
{
    int                        rc;
    size_t                     i;
    const mdm_checkin_spec_t  *msg;

    memset(ci, 0, sizeof(mdm_checkin_t));

    if (mdm_plist_parse(body, len, max_len, &ci->root, err) != MDM_OK) {
        return MDM_ERROR;
    }

    rc = mdm_plist_get_string(ci->root, "MessageType", &ci->message_type,
                              err);

    if (rc == MDM_ABSENT) {
        mdm_err_as(err, MDM_REFUSED_MISSING_KEY,
                   "missing required key MessageType");
    }

    if (rc != MDM_OK) {
        goto failed;
    }

    msg = NULL;

    for (i = 0; i < MDM_NMESSAGES; i++) {
        if (strcmp(ci->message_type, mdm_messages[i].name) == 0) {
            msg = &mdm_messages[i];
            break;
        }
    }

    if (msg == NULL) {
        mdm_err_as(err, MDM_REFUSED_UNKNOWN_TYPE,
                   "unknown MessageType \"%.64s\"", ci->message_type);
        goto failed;
    }

    ci->type = msg->type;

    if (mdm_enrollment_keys_read(ci->root, &ci->id_keys, err) != MDM_OK
        || mdm_enrollment_resolve(&ci->id_keys, &ci->enrollment, err)
           != MDM_OK
        || mdm_checkin_read_keys(ci, msg->keys, err) != MDM_OK)
    {
        goto failed;
    }

    /* the topic names a Redis key (the push certificate's) */
    if (ci->topic != NULL && mdm_id_check("Topic", ci->topic, err) != MDM_OK)
    {
        goto failed;
    }

    return MDM_OK;

failed:

    mdm_checkin_free(ci);

    return MDM_ERROR;
}


static int
mdm_checkin_read_keys(mdm_checkin_t *ci, const mdm_checkin_key_t *keys,
    mdm_err_t *err)
{
    const mdm_checkin_key_t  *key;

    for (key = keys; key->name != NULL; key++) {
        if (mdm_checkin_read_key(ci, key, err) != MDM_OK) {
            return MDM_ERROR;
        }
    }

    return MDM_OK;
}


static int
mdm_checkin_read_key(mdm_checkin_t *ci, const mdm_checkin_key_t *key,
    mdm_err_t *err)
{
    int    rc;
    void  *field;

    field = (char *) ci + key->offset;

    switch (key->kind) {
    case MDM_CHECKIN_KEY_STRING:
        rc = mdm_plist_get_string(ci->root, key->name, field, err);
        break;
    case MDM_CHECKIN_KEY_DATA:
        rc = mdm_plist_get_data(ci->root, key->name, field, err);
        break;
    case MDM_CHECKIN_KEY_BOOL:
        rc = mdm_plist_get_bool(ci->root, key->name, field, err);
        break;
    default:
        rc = mdm_plist_get_dict(ci->root, key->name, field, err);
        break;
    }

    if (rc == MDM_ABSENT) {
        if (key->required) {
            return mdm_err_as(err, MDM_REFUSED_MISSING_KEY,
                              "missing required key %s", key->name);
        }

        return MDM_OK;
    }

    return rc;
}


void
mdm_checkin_free(mdm_checkin_t *ci)
{
    if (ci->root != NULL) {
        plist_free(ci->root);
    }

    memset(ci, 0, sizeof(mdm_checkin_t));
}


const char *
mdm_checkin_type_name(mdm_checkin_type_e type)
{
    size_t  i;

    for (i = 0; i < MDM_NMESSAGES; i++) {
        if (mdm_messages[i].type == type) {
            return mdm_messages[i].name;
        }
    }

    return "unknown";
}
