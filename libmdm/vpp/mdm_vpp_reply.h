#ifndef MDM_VPP_REPLY_H
#define MDM_VPP_REPLY_H

/*
 * The JSON replies of Apple's Apps and Books Management API v2
 * (services.md §7.2–7.4) and the notifications it POSTs (§7.3).
 *
 * Every body is checked for an ErrorResponse (errorNumber, errorMessage),
 * whatever the HTTP status: Apple answers some token errors with 200.
 * Paging and stamp fields are read into the reply; the item arrays (assets,
 * assignments, users, failures) are read one item at a time with the
 * typed readers. Strings point into the reply and live as long as it does.
 * A value of the wrong type is refused (MDM_ERROR, err says which key), an
 * identifier we would put into a Redis key is checked here: adamId is 1 to
 * 20 digits, serial numbers and clientUserIds 1 to 128 printable ASCII
 * characters without space.
 */

#include <stdint.h>

#include <jansson.h>

#include "mdm_plist.h"

#define MDM_VPP_MAX_BODY   (8 * 1024 * 1024)
#define MDM_VPP_MAX_ID     128

/* errorNumbers the client acts on (every one is in services.md §7.4) */
#define MDM_VPP_E_LOGIN          9601
#define MDM_VPP_E_INVALID_ARG    9602
#define MDM_VPP_E_INTERNAL       9603
#define MDM_VPP_E_USER_NOT_FOUND 9609
#define MDM_VPP_E_EXPIRED        9621
#define MDM_VPP_E_INVALID_TOKEN  9622
#define MDM_VPP_E_REVOKED        9625
#define MDM_VPP_E_TOO_MANY       9646
#define MDM_VPP_E_LEGACY         9647
#define MDM_VPP_E_NO_LICENSES    9709
#define MDM_VPP_E_NO_ASSET       9718
#define MDM_VPP_E_UNAVAILABLE    9729

typedef struct {
    json_t      *root;
    int64_t      error_number;     /* 0: no ErrorResponse */
    const char  *error_message;    /* "" when absent */
    int64_t      current_page;     /* -1 when absent */
    int64_t      next_page;        /* -1: no next page */
    int64_t      total_pages;      /* -1 when absent */
    char         version_id[32];   /* "" when absent */
    const char  *token_expiration; /* NULL when absent */
    const char  *uid;
    const char  *event_id;
} mdm_vpp_reply_t;

/* MDM_OK (an ErrorResponse too: see error_number) or MDM_ERROR. */
int mdm_vpp_reply_parse(const char *body, size_t len, mdm_vpp_reply_t *r,
    mdm_err_t *err);
void mdm_vpp_reply_free(mdm_vpp_reply_t *r);

/* Whether an errorNumber means the token is unusable (expired, invalid,
 * revoked, legacy, login required): the location must stop. */
int mdm_vpp_error_is_token(int64_t number);

/* root[key] as an array: MDM_OK, MDM_ABSENT (*arr NULL) or MDM_ERROR. */
int mdm_vpp_items(json_t *root, const char *key, json_t **arr, mdm_err_t *err);

/* An array element as a checked identifier string; NULL if it is not one. */
const char *mdm_vpp_id_at(json_t *arr, size_t i);
int mdm_vpp_id_ok(const char *s);
int mdm_vpp_adam_id_ok(const char *s);

typedef enum {
    MDM_VPP_PLATFORM_IOS = 1,
    MDM_VPP_PLATFORM_MACOS = 2,
    MDM_VPP_PLATFORM_TVOS = 4,
    MDM_VPP_PLATFORM_VISIONOS = 8,
    MDM_VPP_PLATFORM_WATCHOS = 16
} mdm_vpp_platform_e;

typedef struct {
    const char  *adam_id;
    const char  *pricing;          /* STDQ or PLUS */
    const char  *product_type;     /* App, Book, "" when absent */
    int64_t      total, assigned, available, retired;
    int          device_assignable, revocable;
    unsigned     platforms;        /* mdm_vpp_platform_e bits */
} mdm_vpp_asset_t;

typedef struct {
    const char  *adam_id;
    const char  *pricing;
    const char  *serial;           /* exactly one of serial, client_user_id */
    const char  *client_user_id;
} mdm_vpp_assignment_t;

typedef struct {
    const char  *client_user_id;
    const char  *email;            /* "" when absent */
    const char  *invite_code;
    const char  *status;           /* Registered, Associated, Retired */
    const char  *id_hash;
} mdm_vpp_user_t;

int mdm_vpp_asset_of(json_t *item, mdm_vpp_asset_t *a, mdm_err_t *err);
int mdm_vpp_assignment_of(json_t *item, mdm_vpp_assignment_t *a, mdm_err_t *err);
int mdm_vpp_user_of(json_t *item, mdm_vpp_user_t *u, mdm_err_t *err);

typedef enum {
    MDM_VPP_EVENT_PENDING = 0,
    MDM_VPP_EVENT_COMPLETE,
    MDM_VPP_EVENT_FAILED
} mdm_vpp_event_status_e;

typedef struct {
    mdm_vpp_event_status_e  status;
    const char             *type;  /* ASSOCIATE, DISASSOCIATE, ... */
    int64_t                 num_completed, num_requested;
    json_t                 *failures;  /* array of ErrorResponse, or NULL */
} mdm_vpp_status_t;

int mdm_vpp_status_of(const mdm_vpp_reply_t *r, mdm_vpp_status_t *s,
    mdm_err_t *err);

/* One failures[] entry (or a notification's error): its number, message
 * and errorInfo arrays (NULL when absent; read with mdm_vpp_id_at). */
typedef struct {
    int64_t      number;
    const char  *message;
    json_t      *assets;           /* [{adamId, pricingParam}] */
    json_t      *serials;
    json_t      *client_user_ids;
} mdm_vpp_failure_t;

int mdm_vpp_failure_of(json_t *item, mdm_vpp_failure_t *f, mdm_err_t *err);

typedef struct {
    const char  *location_name;
    const char  *country;
    const char  *default_platform;
    const char  *mdm_id;           /* NULL: no MDM claims the token */
    const char  *mdm_name;
    const char  *notification_url;
    const char  *token_expiration;
    const char  *uid;
} mdm_vpp_client_config_t;

int mdm_vpp_client_config_of(const mdm_vpp_reply_t *r,
    mdm_vpp_client_config_t *c, mdm_err_t *err);

/* The limits of GET /service/config; a limit absent keeps the documented
 * value (services.md §7.2), one that is not a positive integer is refused. */
typedef struct {
    int64_t  max_assets, max_serials, max_client_user_ids, max_users;
    int64_t  max_revoke_serials, max_revoke_client_user_ids;
    int64_t  max_requests_per_second;
} mdm_vpp_limits_t;

void mdm_vpp_limits_default(mdm_vpp_limits_t *l);
int mdm_vpp_limits_of(const mdm_vpp_reply_t *r, mdm_vpp_limits_t *l,
    mdm_err_t *err);

/* A notification envelope {notification, notificationId, notificationType,
 * uId}. For ASSET_MANAGEMENT / USER_MANAGEMENT: event_id, result (SUCCESS,
 * FAILURE), type, items (assignments or users) and error (or NULL). */
typedef struct {
    json_t      *root;
    const char  *id;
    const char  *type;
    const char  *uid;
    json_t      *body;
    const char  *event_id;
    const char  *result;
    const char  *event_type;
    json_t      *items;
    json_t      *error;
} mdm_vpp_notification_t;

int mdm_vpp_notification_parse(const char *body, size_t len,
    mdm_vpp_notification_t *n, mdm_err_t *err);
void mdm_vpp_notification_free(mdm_vpp_notification_t *n);

#endif
