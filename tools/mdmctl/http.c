/*
 * One blocking HTTP call to the API with libcurl, and what its answer means
 * as an exit code.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "mdmctl.h"


#define MDMCTL_MAX_BODY  (256u * 1024 * 1024)


static size_t mdmctl_http_write(char *data, size_t size, size_t n,
    void *ctx);


int
mdmctl_http(const struct mdmctl_conf *conf, const char *method,
    const char *path, const char *body, size_t body_len,
    const char *content_type, struct mdmctl_resp *resp)
{
    CURL               *curl;
    CURLcode            rc;
    struct curl_slist  *headers = NULL;
    char               *url, hdr[256];
    size_t              n;

    memset(resp, 0, sizeof(*resp));
    n = strlen(conf->url) + strlen(path) + 1;
    url = malloc(n);
    curl = curl_easy_init();
    if (url == NULL || curl == NULL) {
        free(url);
        if (curl != NULL)
            curl_easy_cleanup(curl);
        snprintf(resp->error, sizeof(resp->error), "out of memory");
        return -1;
    }
    snprintf(url, n, "%s%s", conf->url, path);

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, conf->timeout);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, mdmctl_http_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
    if (conf->api_key) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, conf->user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, conf->api_key);
    }
    if (conf->cacert)
        curl_easy_setopt(curl, CURLOPT_CAINFO, conf->cacert);
    if (conf->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t) body_len);
        snprintf(hdr, sizeof(hdr), "Content-Type: %s",
                 content_type ? content_type : "application/octet-stream");
        headers = curl_slist_append(headers, hdr);
    }
    /* bodies go in one piece: no 100-continue round trip */
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

    if (conf->verbose)
        fprintf(stderr, "mdmctl: %s %s\n", method, url);
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s %s: %s", method, url,
                 curl_easy_strerror(rc));
        resp->status = 0;
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    }
    if (resp->body.data == NULL && mdm_buf_append(&resp->body, "", 0) != 0) {
        snprintf(resp->error, sizeof(resp->error), "out of memory");
        resp->status = 0;
        rc = CURLE_OUT_OF_MEMORY;
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(url);
    return rc == CURLE_OK ? 0 : -1;
}


static size_t
mdmctl_http_write(char *data, size_t size, size_t n, void *ctx)
{
    struct mdmctl_resp  *resp = ctx;
    size_t               add = size * n;

    if (resp->body.len + add > MDMCTL_MAX_BODY
        || mdm_buf_append(&resp->body, data, add) != 0)
        return 0;
    return add;
}


void
mdmctl_resp_free(struct mdmctl_resp *resp)
{
    mdm_buf_free(&resp->body);
}


/*
 * NanoMDM's per-ID calls answer 207 when some targets failed and 500 when
 * all did, with the per-ID status in the body: that is the API refusing the
 * targets (1), not a broken server (3).
 */
int
mdmctl_exit_code(const struct mdmctl_resp *resp)
{
    json_t  *root;
    int      per_id;

    if (resp->status == 0)
        return MDMCTL_SERVER;
    if (resp->status >= 200 && resp->status < 300)
        return resp->status == 207 ? MDMCTL_API_ERROR : MDMCTL_OK;
    if (resp->status >= 400 && resp->status < 500)
        return MDMCTL_API_ERROR;
    root = json_loadb(resp->body.data, resp->body.len, 0, NULL);
    per_id = json_is_object(json_object_get(root, "status"));
    json_decref(root);
    return per_id ? MDMCTL_API_ERROR : MDMCTL_SERVER;
}


/* Percent-encodes everything but unreserved characters (query values). */
char *
mdmctl_escape(const char *s)
{
    static const char  hex[] = "0123456789ABCDEF";
    char              *out, *p;

    out = p = malloc(strlen(s) * 3 + 1);
    if (out == NULL)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (isalnum(c) || strchr("-._~", c)) {
            *p++ = c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return out;
}


/*
 * prefix + id,id,... in buf. IDs are sent as given (':' is part of user
 * channel IDs); one the URL cannot carry is refused here.
 */
int
mdmctl_path_ids(char *buf, size_t size, const char *prefix, char **ids,
    int n)
{
    size_t  len;
    int     i;

    len = (size_t) snprintf(buf, size, "%s", prefix);
    for (i = 0; i < n; i++) {
        const char *c;
        for (c = ids[i]; *c; c++) {
            if ((unsigned char) *c <= ' ' || strchr(",/?#%{}", *c)) {
                fprintf(stderr, "mdmctl: bad ID \"%s\"\n", ids[i]);
                return -1;
            }
        }
        if (*ids[i] == '\0') {
            fprintf(stderr, "mdmctl: empty ID\n");
            return -1;
        }
        len += (size_t) snprintf(buf + len, len < size ? size - len : 0,
                                 "%s%s", i ? "," : "", ids[i]);
        if (len >= size) {
            fprintf(stderr, "mdmctl: too many IDs for one URL: use "
                    "--ids-file\n");
            return -1;
        }
    }
    return 0;
}
