/*
 * A simulated device's identity attributes and the check-in and Idle bodies
 * it sends. Everything derives from the UDID prefix, the device index and the
 * seed, so two runs with the same flags send the same bytes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <plist/plist.h>

#include "mdmsim.h"
#include "ddm.h"


#define MDMSIM_UNLOCK_TOKEN_LEN  1300


static uint64_t mdmsim_hash_string(const char *s, uint64_t seed);
static void mdmsim_format_uuid(uint64_t *state, char *out);
static plist_t mdmsim_checkin_new(const struct mdmsim_device *dev,
    const char *type);
static int mdmsim_build_token_update(struct mdmsim_device *dev,
    const struct mdmsim_opts *opts, int user, struct mdmsim_body *body);


/* splitmix64: tiny, well mixed, and enough for deterministic test data. */
uint64_t
mdmsim_rng_next(uint64_t *state)
{
    uint64_t  z;

    z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}


static uint64_t
mdmsim_hash_string(const char *s, uint64_t seed)
{
    uint64_t  h = 0xcbf29ce484222325ULL ^ seed;

    while (*s) {
        h = (h ^ (unsigned char) *s++) * 0x100000001b3ULL;
    }
    return h;
}


static void
mdmsim_format_uuid(uint64_t *state, char *out)
{
    uint64_t  hi = mdmsim_rng_next(state), lo = mdmsim_rng_next(state);

    snprintf(out, 37, "%08X-%04X-4%03X-%04X-%012llX",
             (unsigned) (hi >> 32), (unsigned) (hi >> 16) & 0xffff,
             (unsigned) hi & 0xfff,
             (unsigned) ((lo >> 48) & 0x3fff) | 0x8000,
             (unsigned long long) (lo & 0xffffffffffffULL));
}


void
mdmsim_device_init(struct mdmsim_device *dev, const struct mdmsim_opts *opts,
    long index)
{
    static const char  serial_chars[] = "0123456789CDFGHJKLMNPQRTVWXY";
    uint64_t           state;
    size_t             i;

    memset(dev, 0, sizeof(*dev));
    dev->index = index;
    snprintf(dev->udid, sizeof(dev->udid), "%s%016lX", opts->udid_prefix,
             (unsigned long) index);

    state = mdmsim_hash_string(dev->udid, opts->seed);
    for (i = 0; i < 12; i++) {
        dev->serial[i] = serial_chars[mdmsim_rng_next(&state)
                                      % (sizeof(serial_chars) - 1)];
    }
    for (i = 0; i < sizeof(dev->token); i += 8) {
        uint64_t  r = mdmsim_rng_next(&state);

        memcpy(dev->token + i, &r, 8);
    }
    mdmsim_format_uuid(&state, dev->push_magic);
    mdmsim_format_uuid(&state, dev->user_id);
}


int
mdmsim_plist_body(void *plist, struct mdmsim_body *body)
{
    char      *xml = NULL;
    uint32_t   len = 0;

    plist_to_xml(plist, &xml, &len);
    if (xml == NULL) {
        return -1;
    }
    /* Our own copy so that every body is released with free(). */
    body->data = malloc(len + 1);
    if (body->data == NULL) {
        plist_to_xml_free(xml);
        return -1;
    }
    memcpy(body->data, xml, len);
    body->data[len] = '\0';
    body->len = len;
    body->signature = NULL;
    plist_to_xml_free(xml);
    return 0;
}


static plist_t
mdmsim_checkin_new(const struct mdmsim_device *dev, const char *type)
{
    plist_t  dict = plist_new_dict();

    plist_dict_set_item(dict, "MessageType", plist_new_string(type));
    plist_dict_set_item(dict, "UDID", plist_new_string(dev->udid));
    return dict;
}


static int
mdmsim_build_token_update(struct mdmsim_device *dev,
    const struct mdmsim_opts *opts, int user, struct mdmsim_body *body)
{
    plist_t   dict = mdmsim_checkin_new(dev, "TokenUpdate");
    char      unlock[MDMSIM_UNLOCK_TOKEN_LEN];
    uint64_t  state;
    size_t    i;
    int       rc;

    plist_dict_set_item(dict, "Topic", plist_new_string(opts->topic));
    plist_dict_set_item(dict, "Token",
                        plist_new_data((const char *) dev->token,
                                       sizeof(dev->token)));
    plist_dict_set_item(dict, "PushMagic", plist_new_string(dev->push_magic));
    plist_dict_set_item(dict, "AwaitingConfiguration", plist_new_bool(0));

    if (user) {
        plist_dict_set_item(dict, "UserID", plist_new_string(dev->user_id));
        plist_dict_set_item(dict, "UserLongName",
                            plist_new_string("Simulated User"));
        plist_dict_set_item(dict, "UserShortName",
                            plist_new_string("simuser"));
        plist_dict_set_item(dict, "NotOnConsole", plist_new_bool(0));

    } else if (opts->unlock_token) {
        /* Real unlock tokens are opaque keybags of a kilobyte or more. */
        state = mdmsim_hash_string(dev->push_magic, opts->seed);
        for (i = 0; i < sizeof(unlock); i++) {
            unlock[i] = (char) mdmsim_rng_next(&state);
        }
        plist_dict_set_item(dict, "UnlockToken",
                            plist_new_data(unlock, sizeof(unlock)));
    }

    rc = mdmsim_plist_body(dict, body);
    plist_free(dict);
    return rc;
}


int
mdmsim_device_build_bodies(struct mdmsim_device *dev,
    const struct mdmsim_opts *opts)
{
    plist_t  dict;
    int      rc;

    /* DeviceName, Model and ModelName are macOS-only in Authenticate. */
    dict = mdmsim_checkin_new(dev, "Authenticate");
    plist_dict_set_item(dict, "Topic", plist_new_string(opts->topic));
    plist_dict_set_item(dict, "SerialNumber", plist_new_string(dev->serial));
    plist_dict_set_item(dict, "ProductName", plist_new_string("iPhone15,2"));
    plist_dict_set_item(dict, "OSVersion", plist_new_string("17.5.1"));
    plist_dict_set_item(dict, "BuildVersion", plist_new_string("21F90"));
    rc = mdmsim_plist_body(dict, &dev->authenticate);
    plist_free(dict);
    if (rc != 0) {
        return -1;
    }

    if (mdmsim_build_token_update(dev, opts, 0, &dev->token_update) != 0
        || mdmsim_build_token_update(dev, opts, 1, &dev->user_token_update)
           != 0)
    {
        return -1;
    }

    /* Idle has no MessageType: it is a command report, not a check-in. */
    dict = plist_new_dict();
    plist_dict_set_item(dict, "Status", plist_new_string("Idle"));
    plist_dict_set_item(dict, "UDID", plist_new_string(dev->udid));
    rc = mdmsim_plist_body(dict, &dev->idle);
    plist_free(dict);
    if (rc != 0) {
        return -1;
    }

    /* the check-in the ddm-items load scenario repeats */
    return mdmsim_ddm_checkin(dev, "declaration-items", NULL, 0,
                              &dev->ddm_items);
}
