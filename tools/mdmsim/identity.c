/*
 * Device identities: one key and certificate per device, issued by the CA
 * given on the command line, CN = UDID, clientAuth, like the identity a real
 * device gets from SCEP or ACME. Key generation is the slow part (RSA 2048:
 * tens of ms), so identities are cached as one PEM file per UDID and reused
 * whenever the cached certificate was issued by the same CA key.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mdmsim.h"


#define MDMSIM_CERT_DAYS  3650


static int mdmsim_add_ext(X509 *cert, X509 *issuer, int nid,
    const char *value);
static X509 *mdmsim_issue(EVP_PKEY *key, const char *udid, X509 *ca_cert,
    EVP_PKEY *ca_key, int ec);
static int mdmsim_identity_generate(struct mdmsim_device *dev,
    X509 *ca_cert, EVP_PKEY *ca_key, int ec);
static void mdmsim_identity_path(const char *dir,
    const struct mdmsim_device *dev, char *path, size_t size);
static int mdmsim_identity_read(const char *dir, struct mdmsim_device *dev,
    X509 *ca_cert, int ec);
static int mdmsim_identity_write(const char *dir,
    const struct mdmsim_device *dev);
static int mdmsim_generate_missing(struct mdmsim_fleet *fleet,
    X509 *ca_cert, EVP_PKEY *ca_key, long *missing, long nmissing);
static int mdmsim_generate_share(struct mdmsim_fleet *fleet, X509 *ca_cert,
    EVP_PKEY *ca_key, long *missing, long nmissing, long job, long jobs);
static int mdmsim_load_ca(const struct mdmsim_opts *opts, X509 **cert,
    EVP_PKEY **key);


static int
mdmsim_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX       ctx;
    X509_EXTENSION  *ext;
    int              ok;

    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) {
        return -1;
    }
    ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}


static X509 *
mdmsim_issue(EVP_PKEY *key, const char *udid, X509 *ca_cert,
    EVP_PKEY *ca_key, int ec)
{
    X509       *cert = X509_new();
    X509_NAME  *name = X509_NAME_new();
    BIGNUM     *serial = BN_new();

    if (cert == NULL || name == NULL || serial == NULL
        || !X509_set_version(cert, 2)
        || !BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)
        || BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) == NULL
        || !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                       (const unsigned char *) "mdmsim",
                                       -1, -1, 0)
        || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       (const unsigned char *) udid,
                                       -1, -1, 0)
        || !X509_set_subject_name(cert, name)
        || !X509_set_issuer_name(cert, X509_get_subject_name(ca_cert))
        || X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL
        || X509_time_adj_ex(X509_getm_notAfter(cert), MDMSIM_CERT_DAYS, 0,
                            NULL) == NULL
        || !X509_set_pubkey(cert, key)
        || mdmsim_add_ext(cert, ca_cert, NID_basic_constraints,
                          "critical,CA:FALSE") != 0
        || mdmsim_add_ext(cert, ca_cert, NID_key_usage,
                          ec ? "critical,digitalSignature"
                             : "critical,digitalSignature,keyEncipherment")
           != 0
        || mdmsim_add_ext(cert, ca_cert, NID_ext_key_usage, "clientAuth")
           != 0
        || mdmsim_add_ext(cert, ca_cert, NID_subject_key_identifier, "hash")
           != 0
        || X509_sign(cert, ca_key, EVP_sha256()) == 0)
    {
        X509_free(cert);
        cert = NULL;
    }
    X509_NAME_free(name);
    BN_free(serial);
    return cert;
}


static int
mdmsim_identity_generate(struct mdmsim_device *dev, X509 *ca_cert,
    EVP_PKEY *ca_key, int ec)
{
    dev->key = ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
    if (dev->key == NULL) {
        return -1;
    }
    dev->cert = mdmsim_issue(dev->key, dev->udid, ca_cert, ca_key, ec);
    return dev->cert ? 0 : -1;
}


static void
mdmsim_identity_path(const char *dir, const struct mdmsim_device *dev,
    char *path, size_t size)
{
    snprintf(path, size, "%s/%s.pem", dir, dev->udid);
}


/* A cached identity counts only if it matches the CA and the key type. */
static int
mdmsim_identity_read(const char *dir, struct mdmsim_device *dev,
    X509 *ca_cert, int ec)
{
    char   path[4096];
    FILE  *f;
    int    want = ec ? EVP_PKEY_EC : EVP_PKEY_RSA;

    mdmsim_identity_path(dir, dev, path, sizeof(path));
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    dev->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    dev->cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);

    if (dev->key != NULL && dev->cert != NULL
        && EVP_PKEY_get_base_id(dev->key) == want
        && X509_check_private_key(dev->cert, dev->key) == 1
        && X509_verify(dev->cert, X509_get0_pubkey(ca_cert)) == 1)
    {
        return 0;
    }
    EVP_PKEY_free(dev->key);
    X509_free(dev->cert);
    dev->key = NULL;
    dev->cert = NULL;
    return -1;
}


/* Written under a temporary name so a reader never sees half a file. */
static int
mdmsim_identity_write(const char *dir, const struct mdmsim_device *dev)
{
    char   path[4096], tmp[4200];
    FILE  *f;
    int    ok;

    mdmsim_identity_path(dir, dev, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long) getpid());
    f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "mdmsim: %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    fchmod(fileno(f), 0600);
    ok = PEM_write_PrivateKey(f, dev->key, NULL, NULL, 0, NULL, NULL)
         && PEM_write_X509(f, dev->cert);
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        fprintf(stderr, "mdmsim: cannot write %s\n", path);
        unlink(tmp);
        return -1;
    }
    return 0;
}


static int
mdmsim_generate_share(struct mdmsim_fleet *fleet, X509 *ca_cert,
    EVP_PKEY *ca_key, long *missing, long nmissing, long job, long jobs)
{
    const struct mdmsim_opts  *opts = fleet->opts;
    struct mdmsim_device      *dev;
    long                       i;

    for (i = job; i < nmissing; i += jobs) {
        dev = &fleet->devices[missing[i]];
        if (mdmsim_identity_generate(dev, ca_cert, ca_key, opts->ec) != 0) {
            fprintf(stderr, "mdmsim: cannot create identity %s\n", dev->udid);
            return -1;
        }
        if (opts->id_dir != NULL
            && mdmsim_identity_write(opts->id_dir, dev) != 0)
        {
            return -1;
        }
    }
    return 0;
}


/*
 * With a cache directory, --jobs child processes share the key generation
 * (it is CPU bound) and the parent reads their files back afterwards.
 */
static int
mdmsim_generate_missing(struct mdmsim_fleet *fleet, X509 *ca_cert,
    EVP_PKEY *ca_key, long *missing, long nmissing)
{
    const struct mdmsim_opts  *opts = fleet->opts;
    long                       job, jobs = opts->jobs, failed = 0, i;
    pid_t                      pid;
    int                        status;

    if (opts->id_dir == NULL || jobs <= 1 || nmissing < 2 * jobs) {
        return mdmsim_generate_share(fleet, ca_cert, ca_key, missing,
                                     nmissing, 0, 1);
    }

    fflush(NULL);
    for (job = 0; job < jobs; job++) {
        pid = fork();
        if (pid < 0) {
            fprintf(stderr, "mdmsim: fork: %s\n", strerror(errno));
            failed++;
            break;
        }
        if (pid == 0) {
            _exit(mdmsim_generate_share(fleet, ca_cert, ca_key, missing,
                                        nmissing, job, jobs) ? 1 : 0);
        }
    }
    while (wait(&status) > 0) {
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failed++;
        }
    }
    if (failed) {
        return -1;
    }
    for (i = 0; i < nmissing; i++) {
        if (mdmsim_identity_read(opts->id_dir, &fleet->devices[missing[i]],
                                 ca_cert, opts->ec) != 0)
        {
            fprintf(stderr, "mdmsim: identity %s missing after generation\n",
                    fleet->devices[missing[i]].udid);
            return -1;
        }
    }
    return 0;
}


static int
mdmsim_load_ca(const struct mdmsim_opts *opts, X509 **cert, EVP_PKEY **key)
{
    FILE  *f;

    if (opts->ca_cert == NULL || opts->ca_key == NULL) {
        fprintf(stderr, "mdmsim: --ca-cert and --ca-key are required to "
                "create device identities\n");
        return -1;
    }
    f = fopen(opts->ca_cert, "r");
    *cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) {
        fclose(f);
    }
    f = fopen(opts->ca_key, "r");
    *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) {
        fclose(f);
    }
    if (*cert == NULL || *key == NULL
        || X509_check_private_key(*cert, *key) != 1)
    {
        fprintf(stderr, "mdmsim: cannot load the CA from %s and %s (or the "
                "key does not match)\n", opts->ca_cert, opts->ca_key);
        return -1;
    }
    return 0;
}


int
mdmsim_identities_load(struct mdmsim_fleet *fleet)
{
    const struct mdmsim_opts  *opts = fleet->opts;
    EVP_PKEY                  *ca_key = NULL;
    long                      *missing, nmissing = 0, i;
    int                        rc = -1;

    if (mdmsim_load_ca(opts, &fleet->ca_cert, &ca_key) != 0) {
        EVP_PKEY_free(ca_key);
        return -1;
    }
    if (opts->id_dir != NULL && mkdir(opts->id_dir, 0700) != 0
        && errno != EEXIST)
    {
        fprintf(stderr, "mdmsim: %s: %s\n", opts->id_dir, strerror(errno));
        EVP_PKEY_free(ca_key);
        return -1;
    }

    missing = calloc(fleet->count, sizeof(long));
    if (missing == NULL) {
        EVP_PKEY_free(ca_key);
        return -1;
    }
    for (i = 0; i < fleet->count; i++) {
        if (opts->id_dir == NULL
            || mdmsim_identity_read(opts->id_dir, &fleet->devices[i],
                                    fleet->ca_cert, opts->ec) != 0)
        {
            missing[nmissing++] = i;
        }
    }
    if (nmissing > 0 && opts->verbose) {
        fprintf(stderr, "mdmsim: generating %ld %s identities\n", nmissing,
                opts->ec ? "P-256" : "RSA 2048");
    }
    rc = mdmsim_generate_missing(fleet, fleet->ca_cert, ca_key, missing,
                                 nmissing);
    free(missing);
    EVP_PKEY_free(ca_key);
    return rc;
}
