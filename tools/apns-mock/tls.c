/*
 * TLS like APNs: 1.2 or later, h2 or nothing, and a client certificate
 * issued by the configured CA, whose subject UID is the push topic.
 */

#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "mock.h"


static int am_tls_client_hello_cb(SSL *ssl, int *alert, void *arg);
static int am_tls_alpn_cb(SSL *ssl, const unsigned char **out,
    unsigned char *outlen, const unsigned char *in, unsigned int inlen,
    void *arg);
static int am_tls_load(SSL_CTX *ctx, const am_config_t *cfg);


static const unsigned char am_alpn_h2[] = { 2, 'h', '2' };


/*
 * A client hello without ALPN would otherwise complete the handshake
 * and only be dropped afterwards; APNs-like clients must offer h2.
 */
static int
am_tls_client_hello_cb(SSL *ssl, int *alert, void *arg)
{
    const unsigned char  *ext;
    size_t                len;

    (void) arg;

    if (!SSL_client_hello_get0_ext(ssl,
            TLSEXT_TYPE_application_layer_protocol_negotiation, &ext, &len))
    {
        *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
        return SSL_CLIENT_HELLO_ERROR;
    }

    return SSL_CLIENT_HELLO_SUCCESS;
}


static int
am_tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned char  *selected;

    (void) ssl;
    (void) arg;

    if (SSL_select_next_proto(&selected, outlen, am_alpn_h2,
                              sizeof(am_alpn_h2), in, inlen)
        != OPENSSL_NPN_NEGOTIATED)
    {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }

    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}


static int
am_tls_load(SSL_CTX *ctx, const am_config_t *cfg)
{
    STACK_OF(X509_NAME)  *names;

    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(ctx) != 1)
    {
        fprintf(stderr, "apns-mock: cannot load --cert %s / --key %s\n",
                cfg->cert, cfg->key);
        return -1;
    }

    names = SSL_load_client_CA_file(cfg->ca);
    if (names == NULL
        || SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1)
    {
        fprintf(stderr, "apns-mock: cannot load --ca %s\n", cfg->ca);
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return -1;
    }
    SSL_CTX_set_client_CA_list(ctx, names);

    return 0;
}


SSL_CTX *
am_tls_ctx_new(const am_config_t *cfg)
{
    SSL_CTX                     *ctx;
    static const unsigned char   sid_ctx[] = "apns-mock";

    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        return NULL;
    }

    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                             | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Partial writes let one big buffer of frames drain across events. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       NULL);
    /* Resumed sessions with client auth need a session id context. */
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_client_hello_cb(ctx, am_tls_client_hello_cb, NULL);
    SSL_CTX_set_alpn_select_cb(ctx, am_tls_alpn_cb, NULL);

    if (am_tls_load(ctx, cfg) != 0) {
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(ctx);
        return NULL;
    }

    return ctx;
}


int
am_tls_peer_topic(SSL *ssl, char *topic, size_t size)
{
    X509            *cert;
    X509_NAME       *subject;
    unsigned char   *utf8;
    int              idx, len, found = 0;

    cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL) {
        return 0;
    }

    subject = X509_get_subject_name(cert);
    idx = X509_NAME_get_index_by_NID(subject, NID_userId, -1);
    if (idx < 0) {
        return 0;
    }

    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
                                  X509_NAME_get_entry(subject, idx)));
    if (len > 0 && (size_t) len < size && memchr(utf8, '\0', len) == NULL) {
        memcpy(topic, utf8, len);
        topic[len] = '\0';
        found = 1;
    }
    if (len >= 0) {
        OPENSSL_free(utf8);
    }

    return found;
}


/* The client certificate's serial in hex, so that a test can tell which of
 * two certificates for one topic a provider connected with. */
int
am_tls_peer_serial(SSL *ssl, char *hex, size_t size)
{
    X509    *cert;
    BIGNUM  *bn;
    char    *s;
    int      found = 0;

    cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL) {
        return 0;
    }

    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    s = bn ? BN_bn2hex(bn) : NULL;
    if (s != NULL && strlen(s) < size) {
        memcpy(hex, s, strlen(s) + 1);
        found = 1;
    }
    OPENSSL_free(s);
    BN_free(bn);

    return found;
}
