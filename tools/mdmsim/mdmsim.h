#ifndef MDMSIM_H
#define MDMSIM_H

/*
 * mdmsim: an Apple MDM device simulator and load generator. It speaks only
 * Apple's wire protocol (check-in and command PUTs over HTTP/1.1), so it can
 * drive any MDM server at a URL.
 */

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>


enum mdmsim_mode {
    MDMSIM_MODE_NONE,
    MDMSIM_MODE_TLS,
    MDMSIM_MODE_SIGN
};

/* What one unit of work (a "job") of the runner does. */
enum mdmsim_scenario {
    MDMSIM_SCENARIO_ENROLL,
    MDMSIM_SCENARIO_SESSION,
    MDMSIM_SCENARIO_IDLE,
    MDMSIM_SCENARIO_CHECKIN_STORM,
    MDMSIM_SCENARIO_DDM_ITEMS     /* DeclarativeManagement declaration-items */
};

struct mdmsim_opts {
    const char            *check_in_url;
    const char            *server_url;
    const char            *ca_file;
    const char            *ca_cert;
    const char            *ca_key;
    const char            *id_dir;
    const char            *udid_prefix;
    const char            *topic;
    const char            *profile_url;    /* enroll --profile */
    const char            *profile_ca;     /* its signer's root */
    const char            *ade_identity;   /* enroll --ade: POST MachineInfo */
    const char            *ota_identity;   /* enroll --ota: OTA phases 2, 3 */
    enum mdmsim_mode       mode;
    enum mdmsim_scenario   scenario;
    long                   devices;
    long                   first_device;
    long                   concurrency;
    long                   requests;
    long                   sessions;
    long                   max_commands;
    long                   apps;
    long                   jobs;
    double                 duration;
    double                 timeout;
    double                 notnow_share;
    uint64_t               seed;
    int                    ec;
    int                    insecure;
    int                    keepalive;
    int                    tls_resume;
    int                    user_channel;
    int                    unlock_token;
    int                    ddm_full_report;
    int                    json;
    int                    verbose;
    int                    load;
};

/* A request body and, once a signed request needed it, its Mdm-Signature. */
struct mdmsim_body {
    char                  *data;
    size_t                 len;
    char                  *signature;
};

struct mdmsim_device {
    long                   index;
    char                   udid[80];
    char                   serial[16];
    char                   push_magic[40];
    char                   user_id[40];
    unsigned char          token[32];
    EVP_PKEY              *key;
    X509                  *cert;
    SSL_SESSION           *tls_session;    /* --tls-resume */
    struct mdmsim_body     authenticate;
    struct mdmsim_body     token_update;
    struct mdmsim_body     user_token_update;
    struct mdmsim_body     idle;
    struct mdmsim_body     ddm_items;      /* the ddm-items scenario's */
    /* declarative management: the client state, the sync a
     * DeclarativeManagement command asked for and its tokens (Data) */
    struct mdmsim_ddm     *ddm;
    int                    ddm_due;
    char                  *ddm_data;
    size_t                 ddm_data_len;
};

struct mdmsim_fleet {
    const struct mdmsim_opts *opts;
    struct mdmsim_device  *devices;
    long                   count;
    X509                  *ca_cert;
    uint64_t               rng;
};


/* identity.c */

/* Loads the CA and every device identity; creates and caches missing ones. */
int mdmsim_identities_load(struct mdmsim_fleet *fleet);

/* sign.c */

/* Mdm-Signature value for the body: base64 DER detached CMS SignedData. */
char *mdmsim_sign(EVP_PKEY *key, X509 *cert, const char *data, size_t len);

/* The body's signature, computed on first use and kept with the body. */
const char *mdmsim_body_signature(const struct mdmsim_device *dev,
    struct mdmsim_body *body);

void mdmsim_body_free(struct mdmsim_body *body);

/* device.c */

/* Derives a device's repeatable attributes (UDID, serial, token…). */
void mdmsim_device_init(struct mdmsim_device *dev,
    const struct mdmsim_opts *opts, long index);

/* Builds the bodies a device sends again and again: check-ins and Idle. */
int mdmsim_device_build_bodies(struct mdmsim_device *dev,
    const struct mdmsim_opts *opts);

uint64_t mdmsim_rng_next(uint64_t *state);

/* commands.c */

/* What the device did with one command, for logs and statistics. */
struct mdmsim_answer {
    char                   command_uuid[128];
    char                   request_type[64];
    const char            *status;
};

/* Parses a command plist from the server and builds the device's report. */
int mdmsim_answer_command(struct mdmsim_fleet *fleet,
    struct mdmsim_device *dev, const char *cmd, size_t len,
    struct mdmsim_body *report, struct mdmsim_answer *answer);

/* device.c, shared by every file that writes a plist */

/* Serializes a plist to XML into body (malloc'd), without a signature. */
int mdmsim_plist_body(void *plist, struct mdmsim_body *body);

/* scep.c: a SCEP client as a device runs it (RFC 8894): GetCACaps ->
 * GetCACert -> PKIOperation (POST when advertised, else GET). */

struct mdmsim_scep_opts {
    const char            *url;
    const char            *challenge;      /* NULL: none in the CSR */
    const char            *tls_ca_file;    /* https trust; NULL: system */
    int                    insecure;
    const char            *subject_cn;     /* default "mdmsim" */
    X509_NAME             *subject;        /* whole subject: wins over CN */
    EVP_PKEY              *key;            /* the key to certify; NULL: new */
    int                    key_bits;       /* for a new key; default 2048 */
    const char            *san;            /* "DNS:a,email:b" (openssl's
                                              syntax) in the CSR; NULL none */
    X509                  *renew_cert;     /* RenewalReq signed by these */
    EVP_PKEY              *renew_key;
    /* for tests of refusals */
    const char            *recipient_file; /* encrypt to this, not the CA */
    int                    bad_signature;  /* break the SignedData sig */
    int                    foreign_signer; /* signer key is not the CSR's */
    int                    pkcsreq;        /* PKCSReq even when renewing */
    int                    use_get;        /* GET even if POST advertised */
    int                    des3;           /* 3DES instead of AES */
    int                    sha1;           /* SHA-1 instead of SHA-256 */
    const char            *message_out;    /* write the pkiMessage, no send */
    int                    verbose;
};

struct mdmsim_scep_result {
    X509                  *cert;           /* issued; caller frees */
    EVP_PKEY              *key;            /* its key; caller frees */
    int                    pki_status;     /* 0 SUCCESS, 2 FAILURE, -1 */
    int                    fail_info;      /* with FAILURE */
    int                    http_status;
    char                   error[256];
};

/* Runs one enrollment; 0 when a certificate was issued. */
int mdmsim_scep_enroll(const struct mdmsim_scep_opts *o,
    struct mdmsim_scep_result *res);

/* The `mdmsim scep` verb: argv[0] is "scep". */
int mdmsim_scep_main(int argc, char **argv);

#endif /* MDMSIM_H */
