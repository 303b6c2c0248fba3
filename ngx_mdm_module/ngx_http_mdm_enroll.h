#ifndef _NGX_HTTP_MDM_ENROLL_H_INCLUDED_
#define _NGX_HTTP_MDM_ENROLL_H_INCLUDED_

/*
 * Enrollment: the `mdm_enroll` location serves a fresh signed enrollment
 * profile per GET (ngx_http_mdm_enroll.c) and hands POSTs (ADE MachineInfo)
 * to ngx_http_mdm_enroll_ade_handler(); the API's one-time enrollment links
 * are in ngx_http_mdm_api_enroll.c. Its directives are a module of their
 * own (ngx_http_mdm_enroll_module, in the same .so) so that the profile's
 * many settings stay out of the device endpoints' configuration.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "enroll/mdm_enroll_profile.h"


#define NGX_HTTP_MDM_ENROLL_TOKEN_OFF       0
#define NGX_HTTP_MDM_ENROLL_TOKEN_OPTIONAL  1
#define NGX_HTTP_MDM_ENROLL_TOKEN_REQUIRED  2

/* what ngx_http_mdm_enroll_send_kind() serves */
#define NGX_HTTP_MDM_ENROLL_FULL          1   /* SCEP + MDM (+ anchors) */
#define NGX_HTTP_MDM_ENROLL_OTA_SERVICE   2   /* OTA phase 1 */
#define NGX_HTTP_MDM_ENROLL_SCEP_ONLY     3   /* OTA phase 2 */


typedef struct {
    ngx_flag_t                  enabled;        /* mdm_enroll */

    ngx_str_t                   server_url;
    ngx_str_t                   checkin_url;
    ngx_str_t                   topic;
    ngx_str_t                   push_cert;
    ngx_str_t                   scep_url;
    ngx_str_t                   acme_url;
    ngx_str_t                   scep_name;
    ngx_str_t                   organization;
    ngx_str_t                   identifier;
    ngx_str_t                   display_name;
    ngx_str_t                   description;
    ngx_str_t                   subject_cn;
    ngx_int_t                   key_size;
    ngx_int_t                   access_rights;
    ngx_flag_t                  sign_message;
    ngx_flag_t                  check_out_when_removed;
    ngx_uint_t                  capabilities;
    ngx_array_t                *anchor_files;   /* ngx_str_t */
    ngx_array_t                *signer;         /* cert, key[, chain] */
    ngx_http_complex_value_t   *user;
    time_t                      challenge_ttl;
    ngx_uint_t                  token;
    ngx_str_t                   ota_url;        /* mdm_enroll_ota: OTA on */

    /* at the API location: POST /v1/enroll/tokens */
    ngx_str_t                   link_url;
    time_t                      link_ttl;

    /* built at "nginx -t" from the above, for an mdm_enroll location */
    mdm_enroll_profile_conf_t  *profile;
    X509                       *sign_cert;      /* NULL: unsigned profiles */
    EVP_PKEY                   *sign_key;
    STACK_OF(X509)             *sign_chain;
} ngx_http_mdm_enroll_loc_conf_t;


/* What the challenge record says about the enrollment it starts. */
typedef struct {
    ngx_str_t                   user;
    ngx_str_t                   link;           /* token, or empty */
    ngx_str_t                   tags;           /* the link's, JSON array */
    ngx_str_t                   udid;           /* ADE facts, or empty */
    ngx_str_t                   serial;
    ngx_str_t                   renew;          /* enrollment ID, or empty */
} ngx_http_mdm_enroll_facts_t;


extern ngx_module_t  ngx_http_mdm_enroll_module;


/* The content handler of an mdm_enroll location. */
ngx_int_t ngx_http_mdm_enroll_handler(ngx_http_request_t *r);

/*
 * Writes a fresh one-time challenge with facts (one script call), then
 * builds, signs and sends the profile of r's mdm_enroll location. Returns
 * what a content handler returns (NGX_DONE while Redis answers). For the
 * ADE handler: call it once the request body has been read and judged;
 * facts is copied, the strings it points at must live as long as r (its
 * pool). A renewal profile sets facts->renew.
 */
ngx_int_t ngx_http_mdm_enroll_send_profile(ngx_http_request_t *r,
    ngx_http_mdm_enroll_facts_t *facts);

/* The same with what to serve (NGX_HTTP_MDM_ENROLL_*): the OTA phases.
 * The OTA service profile's challenge is an mdm:enroll:ota:{} record,
 * the others are SCEP challenges. */
ngx_int_t ngx_http_mdm_enroll_send_kind(ngx_http_request_t *r,
    ngx_http_mdm_enroll_facts_t *facts, ngx_uint_t kind);

/*
 * A device's CMS-signed POST to the enroll URL (ADE MachineInfo, the OTA
 * profile service's attributes): refused with 400 and a log line unless it
 * says application/pkcs7-signature and fits MDM_MACHINEINFO_MAX, before and
 * after it is read; then process() answers it. what names it in the log.
 */
typedef ngx_int_t (*ngx_http_mdm_enroll_signed_pt)(ngx_http_request_t *r,
    ngx_str_t *der);

ngx_int_t ngx_http_mdm_enroll_signed_intake(ngx_http_request_t *r,
    const char *what, ngx_http_client_body_handler_pt body_handler);
void ngx_http_mdm_enroll_signed_body(ngx_http_request_t *r, const char *what,
    ngx_http_mdm_enroll_signed_pt process);

/* POST on an mdm_enroll_ota location: phases 2 and 3
 * (ngx_http_mdm_enroll_ota.c). */
ngx_int_t ngx_http_mdm_enroll_ota_handler(ngx_http_request_t *r);

/* The Apple device CA of mdm_enroll_ade_anchor here, or NULL. */
X509_STORE *ngx_http_mdm_enroll_ade_anchors(ngx_http_request_t *r);

/* POST on the enrollment URL (ADE MachineInfo): ngx_http_mdm_enroll_ade.c
 * (branch ade). ngx_http_mdm_enroll.c has a weak stand-in answering 405. */
ngx_int_t ngx_http_mdm_enroll_ade_handler(ngx_http_request_t *r);

/* Whether r is an ADE request: a POST, or the web view's GET with an
 * x-apple-aspen-deviceinfo header (ngx_http_mdm_enroll_ade.c). */
ngx_int_t ngx_http_mdm_enroll_ade_request(ngx_http_request_t *r);

/* "user" of the request: the mdm_enroll_user value (default $remote_user);
 * empty when there is none, NGX_ERROR when it cannot go into a profile. */
ngx_int_t ngx_http_mdm_enroll_user(ngx_http_request_t *r, ngx_str_t *user);

#endif /* _NGX_HTTP_MDM_ENROLL_H_INCLUDED_ */
