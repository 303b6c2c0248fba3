#ifndef MDMSIM_ADE_H
#define MDMSIM_ADE_H

/*
 * enroll --ade: the MachineInfo a device sends in Setup Assistant
 * (docs/ade.md), CMS SignedData with the content attached, signed by a
 * test "Apple device" identity (--ade-identity: a PEM with the certificate,
 * its key and the chain to include).
 */

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mdmsim.h"

/* The signed MachineInfo of dev, malloc'd into *der; 0, or -1 with err. */
int mdmsim_ade_machineinfo(const struct mdmsim_opts *opts,
    const struct mdmsim_device *dev, unsigned char **der, size_t *len,
    char *err, size_t errlen);

/* Certificate, key and chain from one PEM file (cached: one file per
 * process); 0 or -1. */
int mdmsim_ade_identity(const char *file, X509 **cert, EVP_PKEY **key,
    STACK_OF(X509) **chain);

/* CMS SignedData over content, attached, DER, malloc'd into *der. */
int mdmsim_ade_sign(X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain,
    const char *content, size_t content_len, unsigned char **der,
    size_t *len);

#endif
