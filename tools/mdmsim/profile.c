/*
 * mdmsim enroll --profile URL: what a device does with an enrollment
 * profile before its first check-in. Download it, check its CMS signature
 * against the server's CA, read the SCEP and MDM payloads, make the key the
 * SCEP payload asks for and get it certified by the SCEP server (scep.c);
 * the runner then sends Authenticate and TokenUpdate to the profile's
 * CheckInURL with that identity, on TLS or as Mdm-Signature as SignMessage
 * says. Each device downloads its own profile: challenges are one-time.
 *
 * Downloads and SCEP are blocking (libcurl); --jobs processes share the
 * devices, because key generation and the CA's signatures dominate.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <plist/plist.h>

#include "mdmsim.h"
#include "mdm_buf.h"
#include "ade.h"
#include "ota.h"
#include "profile.h"


#define MDMSIM_PROFILE_MAX  (1 << 20)


static int mdmsim_profile_one(const struct mdmsim_opts *opts,
    struct mdmsim_device *dev, struct mdmsim_profile *p, char *err,
    size_t errlen);
static int mdmsim_profile_download(const struct mdmsim_opts *opts,
    const struct mdmsim_device *dev,
    mdm_buf_t *out, char *err, size_t errlen);
static size_t mdmsim_profile_write(char *ptr, size_t size, size_t n,
    void *data);
static int mdmsim_profile_parse(mdm_buf_t *xml,
    struct mdmsim_profile *p, char *err, size_t errlen);
static plist_t mdmsim_profile_payload(plist_t top, const char *type);
static char *mdmsim_profile_string(plist_t dict, const char *key);
static X509_NAME *mdmsim_profile_subject(plist_t subject);
static int mdmsim_profile_share(struct mdmsim_fleet *fleet,
    struct mdmsim_opts *opts, const char *dir, long job, long jobs);
static int mdmsim_profile_save(const char *dir, struct mdmsim_device *dev,
    struct mdmsim_profile *p);
static int mdmsim_profile_load(const char *dir, struct mdmsim_device *dev,
    struct mdmsim_profile *p);
static int mdmsim_profile_scep(const struct mdmsim_opts *opts,
    struct mdmsim_profile *p, struct mdmsim_device *dev, char *err,
    size_t errlen);
static int mdmsim_profile_keep(const struct mdmsim_opts *opts,
    const struct mdmsim_device *dev);
static EVP_PKEY *mdmsim_profile_key(const struct mdmsim_opts *opts,
    const struct mdmsim_device *dev, int bits);


int
mdmsim_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}


void
mdmsim_profile_free(struct mdmsim_profile *p)
{
    free(p->scep_url);
    free(p->challenge);
    free(p->server_url);
    free(p->check_in_url);
    free(p->topic);
    X509_NAME_free(p->subject);
    memset(p, 0, sizeof(*p));
}


/*
 * Enrolls every device of the fleet through the profile; on success the
 * devices hold their SCEP identities and opts the profile's URLs, topic and
 * identity mode, ready for the runner's enroll scenario.
 */
int
mdmsim_profile_enroll(struct mdmsim_fleet *fleet, struct mdmsim_opts *opts)
{
    long                   job, jobs, i, failed;
    char                   dir[] = "/tmp/mdmsim-enroll-XXXXXX";
    pid_t                  pid;
    int                    status;
    struct mdmsim_profile  p, first;
    static char            server_url[2048], check_in_url[2048], topic[256];

    jobs = opts->jobs < 1 ? 1 : opts->jobs;
    if (jobs > fleet->count) {
        jobs = fleet->count;
    }

    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "mdmsim: mkdtemp: %s\n", strerror(errno));
        return -1;
    }

    failed = 0;

    for (job = 0; job < jobs; job++) {
        pid = fork();
        if (pid < 0) {
            fprintf(stderr, "mdmsim: fork: %s\n", strerror(errno));
            failed++;
            break;
        }
        if (pid == 0) {
            _exit(mdmsim_profile_share(fleet, opts, dir, job, jobs) ? 1 : 0);
        }
    }

    while (wait(&status) > 0) {
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failed++;
        }
    }

    memset(&first, 0, sizeof(first));

    for (i = 0; i < fleet->count && failed == 0; i++) {
        memset(&p, 0, sizeof(p));
        if (mdmsim_profile_load(dir, &fleet->devices[i], &p) != 0) {
            fprintf(stderr, "mdmsim: no identity for %s\n",
                    fleet->devices[i].udid);
            failed++;
        } else if (i == 0) {
            first = p;
        } else {
            mdmsim_profile_free(&p);
        }
    }

    rmdir(dir);

    if (failed) {
        mdmsim_profile_free(&first);
        return -1;
    }

    /* the profile decides where and how the device checks in; opts lives
     * as long as the process, so the values do too */
    snprintf(server_url, sizeof(server_url), "%s", first.server_url);
    snprintf(check_in_url, sizeof(check_in_url), "%s",
             first.check_in_url ? first.check_in_url : first.server_url);
    snprintf(topic, sizeof(topic), "%s", first.topic);
    opts->server_url = server_url;
    opts->check_in_url = check_in_url;
    opts->topic = topic;
    opts->mode = first.sign_message ? MDMSIM_MODE_SIGN : MDMSIM_MODE_TLS;
    mdmsim_profile_free(&first);

    if (opts->verbose) {
        fprintf(stderr, "mdmsim: %ld devices enrolled by SCEP; check-in at "
                "%s, identity %s\n", fleet->count, opts->check_in_url,
                opts->mode == MDMSIM_MODE_SIGN ? "Mdm-Signature" : "TLS");
    }

    return 0;
}


static int
mdmsim_profile_share(struct mdmsim_fleet *fleet, struct mdmsim_opts *opts,
    const char *dir, long job, long jobs)
{
    long                   i;
    char                   err[512];
    struct mdmsim_profile  p;

    for (i = job; i < fleet->count; i += jobs) {
        memset(&p, 0, sizeof(p));

        if (mdmsim_profile_one(opts, &fleet->devices[i], &p, err,
                               sizeof(err)) != 0)
        {
            fprintf(stderr, "mdmsim enroll --profile: %s: %s\n",
                    fleet->devices[i].udid, err);
            mdmsim_profile_free(&p);
            return -1;
        }

        if (mdmsim_profile_save(dir, &fleet->devices[i], &p) != 0) {
            mdmsim_profile_free(&p);
            return -1;
        }

        mdmsim_profile_free(&p);
    }

    return 0;
}


static int
mdmsim_profile_one(const struct mdmsim_opts *opts, struct mdmsim_device *dev,
    struct mdmsim_profile *p, char *err, size_t errlen)
{
    int                rc;
    mdm_buf_t  der = { NULL, 0, 0 }, xml = { NULL, 0, 0 };

    rc = mdmsim_profile_download(opts, dev, &der, err, errlen);

    if (rc == 0) {
        rc = mdmsim_profile_verify(opts, &der, &xml, err, errlen);
    }

    /* OTA: that was phase 1's profile service; phases 2 and 3 bring the
     * enrollment profile */
    if (rc == 0 && opts->ota_identity != NULL) {
        rc = mdmsim_ota_phases(opts, dev, &xml, err, errlen);
    }

    if (rc == 0) {
        rc = mdmsim_profile_parse(&xml, p, err, errlen);
    }

    mdm_buf_free(&der);
    mdm_buf_free(&xml);

    if (rc != 0) {
        return -1;
    }

    EVP_PKEY_free(dev->key);
    X509_free(dev->cert);
    dev->cert = NULL;
    dev->key = mdmsim_profile_key(opts, dev, p->key_size);

    if (dev->key == NULL) {
        return mdmsim_fail(err, errlen, "RSA %d key generation failed",
                           p->key_size);
    }

    return mdmsim_profile_scep(opts, p, dev, err, errlen);
}


/* scep.c's client, with what the SCEP payload says, for dev's key */
static int
mdmsim_profile_scep(const struct mdmsim_opts *opts, struct mdmsim_profile *p,
    struct mdmsim_device *dev, char *err, size_t errlen)
{
    struct mdmsim_scep_opts    so;
    struct mdmsim_scep_result  res;

    memset(&so, 0, sizeof(so));
    so.url = p->scep_url;
    so.challenge = p->challenge;
    so.tls_ca_file = opts->ca_file;
    so.insecure = opts->insecure;
    so.subject = p->subject;
    so.key = dev->key;
    so.verbose = opts->verbose;

    if (mdmsim_scep_enroll(&so, &res) != 0) {
        EVP_PKEY_free(res.key);
        X509_free(res.cert);
        return mdmsim_fail(err, errlen, "SCEP %s: %s", p->scep_url,
                           res.error);
    }

    EVP_PKEY_free(res.key);     /* dev->key, referenced once more */
    dev->cert = res.cert;

    return mdmsim_profile_keep(opts, dev);
}


/*
 * The key the SCEP payload asks for. With --id-dir the key of an identity
 * kept there is reused by later runs: key generation is the device's work,
 * and on the server's machine it would crowd out what a benchmark
 * measures.
 */
static EVP_PKEY *
mdmsim_profile_key(const struct mdmsim_opts *opts,
    const struct mdmsim_device *dev, int bits)
{
    FILE      *f;
    char       path[4096];
    EVP_PKEY  *key;

    if (opts->id_dir == NULL) {
        return EVP_RSA_gen(bits);
    }

    mkdir(opts->id_dir, 0700);

    snprintf(path, sizeof(path), "%s/%s.pem", opts->id_dir, dev->udid);
    f = fopen(path, "r");
    if (f != NULL) {
        key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (key != NULL && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA
            && EVP_PKEY_get_bits(key) == bits)
        {
            return key;
        }
        EVP_PKEY_free(key);
    }

    return EVP_RSA_gen(bits);
}


/*
 * With --id-dir the issued identity is kept as identity.c caches them
 * (<udid>.pem: key, certificate), so that `mdmsim session --id-dir` with
 * --ca-cert of the SCEP CA speaks with the identity the server bound.
 */
static int
mdmsim_profile_keep(const struct mdmsim_opts *opts,
    const struct mdmsim_device *dev)
{
    FILE  *f;
    char   path[4096], tmp[4200];
    int    ok;

    if (opts->id_dir == NULL) {
        return 0;
    }

    snprintf(path, sizeof(path), "%s/%s.pem", opts->id_dir, dev->udid);
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
mdmsim_profile_download(const struct mdmsim_opts *opts,
    const struct mdmsim_device *dev, mdm_buf_t *out, char *err,
    size_t errlen)
{
    int             rc;
    size_t          mi_len;
    unsigned char  *mi;

    if (opts->ade_identity == NULL) {
        return mdmsim_profile_fetch(opts, opts->profile_url, NULL, 0, out,
                                    err, errlen);
    }

    /* ADE: Setup Assistant POSTs its signed MachineInfo to the same URL */
    if (mdmsim_ade_machineinfo(opts, dev, &mi, &mi_len, err, errlen) != 0) {
        return -1;
    }

    rc = mdmsim_profile_fetch(opts, opts->profile_url, mi, mi_len, out, err,
                              errlen);
    free(mi);

    return rc;
}


int
mdmsim_profile_fetch(const struct mdmsim_opts *opts, const char *url,
    const unsigned char *body, size_t body_len, mdm_buf_t *out,
    char *err, size_t errlen)
{
    CURL               *curl;
    long                status;
    CURLcode            rc;
    char                curl_err[CURL_ERROR_SIZE] = "";
    char               *ct;
    const char         *method;
    struct curl_slist  *headers;

    headers = NULL;
    method = body != NULL ? "POST" : "GET";

    if (body != NULL) {
        headers = curl_slist_append(NULL,
                      "Content-Type: application/pkcs7-signature");
    }

    curl = curl_easy_init();
    if (curl == NULL) {
        curl_slist_free_all(headers);
        return mdmsim_fail(err, errlen, "curl_easy_init failed");
    }

    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *) body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) body_len);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    }

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, mdmsim_profile_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) (opts->timeout * 1000));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "mdmsim (profile download)");
    /* a fresh connection per download, as a device's first contact is */
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);

    if (opts->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (opts->ca_file != NULL) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, opts->ca_file);
    }

    rc = curl_easy_perform(curl);
    status = 0;
    ct = NULL;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    curl_slist_free_all(headers);

    if (rc != CURLE_OK) {
        mdmsim_fail(err, errlen, "%s %s: %s", method, url,
                    curl_err[0] ? curl_err : curl_easy_strerror(rc));
        curl_easy_cleanup(curl);
        return -1;
    }

    if (status != 200 || ct == NULL
        || strncmp(ct, "application/x-apple-aspen-config", 32) != 0)
    {
        /* an ADE refusal is a 403 document worth showing as it is */
        mdmsim_fail(err, errlen, "%s %s: status %ld, Content-Type %s%s%.*s",
                    method, url, status, ct ? ct : "(none)",
                    status == 403 && out->len ? ": " : "",
                    status == 403 ? (int) (out->len > 300 ? 300 : out->len)
                                  : 0,
                    out->data ? (char *) out->data : "");
        curl_easy_cleanup(curl);
        return -1;
    }

    curl_easy_cleanup(curl);

    return 0;
}


static size_t
mdmsim_profile_write(char *ptr, size_t size, size_t n, void *data)
{
    mdm_buf_t  *b = data;

    if (b->len + size * n > MDMSIM_PROFILE_MAX
        || mdm_buf_append(b, ptr, size * n) != 0)
    {
        return 0;
    }

    return size * n;
}


/*
 * A device shows a profile as verified when its signer chains to a trusted
 * root: the signer's chain comes in the SignedData, the root from
 * --profile-ca (default --ca-file). An unsigned profile is refused.
 */
int
mdmsim_profile_verify(const struct mdmsim_opts *opts, mdm_buf_t *der,
    mdm_buf_t *xml, char *err, size_t errlen)
{
    int                   ok;
    BIO                  *out;
    BUF_MEM              *mem;
    X509_STORE           *store;
    const char           *ca;
    CMS_ContentInfo      *cms;
    const unsigned char  *p;

    ca = opts->profile_ca ? opts->profile_ca : opts->ca_file;
    if (ca == NULL) {
        return mdmsim_fail(err, errlen, "--profile-ca or --ca-file is needed "
                           "to verify the profile's signature");
    }

    p = (const unsigned char *) der->data;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long) der->len);
    if (cms == NULL) {
        ERR_clear_error();
        return mdmsim_fail(err, errlen, "the profile is not CMS SignedData "
                           "(unsigned?)");
    }

    store = X509_STORE_new();
    out = BIO_new(BIO_s_mem());
    ok = store != NULL && out != NULL
         && X509_STORE_load_file(store, ca) == 1
         && CMS_verify(cms, NULL, store, NULL, out, CMS_BINARY) == 1;

    if (!ok) {
        mdmsim_fail(err, errlen, "profile signature not verified against "
                    "%s: %s", ca,
                    ERR_reason_error_string(ERR_peek_last_error())
                    ? ERR_reason_error_string(ERR_peek_last_error()) : "?");
        ERR_clear_error();
    } else {
        BIO_get_mem_ptr(out, &mem);
        xml->data = malloc(mem->length + 1);
        if (xml->data != NULL) {
            memcpy(xml->data, mem->data, mem->length);
            xml->len = mem->length;
            xml->data[xml->len] = '\0';
        }
        ok = xml->data != NULL;
    }

    BIO_free(out);
    X509_STORE_free(store);
    CMS_ContentInfo_free(cms);

    return ok ? 0 : -1;
}


static int
mdmsim_profile_parse(mdm_buf_t *xml, struct mdmsim_profile *p,
    char *err, size_t errlen)
{
    int       rc;
    char     *scep_uuid, *identity_uuid;
    plist_t   top, scep, mdm, content, node;
    uint64_t  n;
    uint8_t   b;

    top = NULL;
    plist_from_xml(xml->data, (uint32_t) xml->len, &top);

    if (top == NULL || plist_get_node_type(top) != PLIST_DICT) {
        plist_free(top);
        return mdmsim_fail(err, errlen, "the signed content is not a plist "
                           "dict");
    }

    scep = mdmsim_profile_payload(top, "com.apple.security.scep");
    mdm = mdmsim_profile_payload(top, "com.apple.mdm");
    content = scep ? plist_dict_get_item(scep, "PayloadContent") : NULL;
    rc = -1;

    if (mdm == NULL || content == NULL
        || plist_get_node_type(content) != PLIST_DICT)
    {
        mdmsim_fail(err, errlen, "no SCEP payload or no MDM payload");
        goto done;
    }

    scep_uuid = mdmsim_profile_string(scep, "PayloadUUID");
    identity_uuid = mdmsim_profile_string(mdm, "IdentityCertificateUUID");
    rc = (scep_uuid && identity_uuid && strcmp(scep_uuid, identity_uuid) == 0)
         ? 0 : -1;
    free(scep_uuid);
    free(identity_uuid);

    if (rc != 0) {
        mdmsim_fail(err, errlen, "IdentityCertificateUUID is not the SCEP "
                    "payload's PayloadUUID");
        goto done;
    }

    p->scep_url = mdmsim_profile_string(content, "URL");
    p->challenge = mdmsim_profile_string(content, "Challenge");
    p->server_url = mdmsim_profile_string(mdm, "ServerURL");
    p->check_in_url = mdmsim_profile_string(mdm, "CheckInURL");
    p->topic = mdmsim_profile_string(mdm, "Topic");
    p->subject = mdmsim_profile_subject(plist_dict_get_item(content,
                                                            "Subject"));

    node = plist_dict_get_item(content, "Keysize");
    n = 1024;       /* Apple's default */
    if (node != NULL && plist_get_node_type(node) == PLIST_UINT) {
        plist_get_uint_val(node, &n);
    }
    p->key_size = (int) n;

    node = plist_dict_get_item(mdm, "SignMessage");
    b = 0;
    if (node != NULL && plist_get_node_type(node) == PLIST_BOOLEAN) {
        plist_get_bool_val(node, &b);
    }
    p->sign_message = b;

    if (p->scep_url == NULL || p->server_url == NULL || p->topic == NULL
        || p->subject == NULL || (n != 1024 && n != 2048 && n != 4096))
    {
        mdmsim_fail(err, errlen, "the profile lacks URL, Subject, Keysize, "
                    "ServerURL or Topic");
        rc = -1;
    }

done:

    plist_free(top);
    return rc;
}


static plist_t
mdmsim_profile_payload(plist_t top, const char *type)
{
    uint32_t  i;
    plist_t   content, p;
    char     *t;
    int       match;

    content = plist_dict_get_item(top, "PayloadContent");
    if (content == NULL || plist_get_node_type(content) != PLIST_ARRAY) {
        return NULL;
    }

    for (i = 0; i < plist_array_get_size(content); i++) {
        p = plist_array_get_item(content, i);
        if (plist_get_node_type(p) != PLIST_DICT) {
            continue;
        }

        t = mdmsim_profile_string(p, "PayloadType");
        match = t != NULL && strcmp(t, type) == 0;
        free(t);

        if (match) {
            return p;
        }
    }

    return NULL;
}


static char *
mdmsim_profile_string(plist_t dict, const char *key)
{
    char     *s;
    plist_t   node;

    node = plist_dict_get_item(dict, key);
    if (node == NULL || plist_get_node_type(node) != PLIST_STRING) {
        return NULL;
    }

    s = NULL;
    plist_get_string_val(node, &s);
    return s;
}


/* [[["O", "x"]], [["CN", "y"]], [["0.9.2342...", "z"]]] as an X509_NAME */
static X509_NAME *
mdmsim_profile_subject(plist_t subject)
{
    uint32_t    i, j;
    plist_t     rdn, pair;
    char       *type, *value;
    int         ok;
    X509_NAME  *name;

    if (subject == NULL || plist_get_node_type(subject) != PLIST_ARRAY) {
        return NULL;
    }

    name = X509_NAME_new();
    if (name == NULL) {
        return NULL;
    }

    for (i = 0; i < plist_array_get_size(subject); i++) {
        rdn = plist_array_get_item(subject, i);
        if (plist_get_node_type(rdn) != PLIST_ARRAY) {
            goto failed;
        }

        for (j = 0; j < plist_array_get_size(rdn); j++) {
            pair = plist_array_get_item(rdn, j);
            if (plist_get_node_type(pair) != PLIST_ARRAY
                || plist_array_get_size(pair) != 2
                || plist_get_node_type(plist_array_get_item(pair, 0))
                   != PLIST_STRING
                || plist_get_node_type(plist_array_get_item(pair, 1))
                   != PLIST_STRING)
            {
                goto failed;
            }

            type = value = NULL;
            plist_get_string_val(plist_array_get_item(pair, 0), &type);
            plist_get_string_val(plist_array_get_item(pair, 1), &value);
            ok = X509_NAME_add_entry_by_txt(name, type, MBSTRING_UTF8,
                                            (unsigned char *) value, -1, -1,
                                            j > 0 ? 1 : 0);
            free(type);
            free(value);

            if (!ok) {
                goto failed;
            }
        }
    }

    return name;

failed:

    ERR_clear_error();
    X509_NAME_free(name);
    return NULL;
}


/* <dir>/<index>: the profile's settings, then the key and certificate. */
static int
mdmsim_profile_save(const char *dir, struct mdmsim_device *dev,
    struct mdmsim_profile *p)
{
    FILE  *f;
    char   path[4096];
    int    ok;

    snprintf(path, sizeof(path), "%s/%ld", dir, dev->index);
    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "mdmsim: %s: %s\n", path, strerror(errno));
        return -1;
    }

    ok = fprintf(f, "%s\n%s\n%s\n%d\n", p->server_url,
                 p->check_in_url ? p->check_in_url : "", p->topic,
                 p->sign_message) > 0
         && PEM_write_PrivateKey(f, dev->key, NULL, NULL, 0, NULL, NULL)
         && PEM_write_X509(f, dev->cert);

    return (fclose(f) == 0 && ok) ? 0 : -1;
}


static int
mdmsim_profile_load(const char *dir, struct mdmsim_device *dev,
    struct mdmsim_profile *p)
{
    FILE    *f;
    char     path[4096], line[3][2048];
    int      i, sign;
    size_t   n;

    snprintf(path, sizeof(path), "%s/%ld", dir, dev->index);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    for (i = 0; i < 3; i++) {
        if (fgets(line[i], sizeof(line[i]), f) == NULL) {
            fclose(f);
            unlink(path);
            return -1;
        }
        n = strlen(line[i]);
        if (n && line[i][n - 1] == '\n') {
            line[i][n - 1] = '\0';
        }
    }

    sign = 0;
    if (fscanf(f, "%d\n", &sign) != 1) {
        fclose(f);
        unlink(path);
        return -1;
    }

    EVP_PKEY_free(dev->key);
    X509_free(dev->cert);
    dev->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    dev->cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    unlink(path);

    p->server_url = strdup(line[0]);
    p->check_in_url = line[1][0] ? strdup(line[1]) : NULL;
    p->topic = strdup(line[2]);
    p->sign_message = sign;

    return (dev->key && dev->cert && p->server_url && p->topic) ? 0 : -1;
}
