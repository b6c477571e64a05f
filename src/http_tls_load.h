/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_tls_load.h - internal to http_tls.c: reading TLS material from PEM data
 * or files (bounded, stamped for rotation checks) and parsing it into OpenSSL
 * objects, with errors that name the part and its source but never its bytes.
 */
#ifndef KP_HTTP_TLS_LOAD_H
#define KP_HTTP_TLS_LOAD_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define HTTP_TLS_FILE_MAX (8u << 20) /* a CA bundle, certificate or key: file or inline */

/* Where one part comes from: inline PEM (borrowed), a file, or neither. */
struct http_tls_source {
    const char *pem;
    size_t len;
    const char *file; /* borrowed */
};

/* A file as it was read; zeroed: the part was not read from a file. */
struct http_tls_stamp {
    char *path; /* owned */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

/* Whether the file now differs (or is gone) from when it was stamped. */
bool http_tls_stamp_changed(const struct http_tls_stamp *st);
void http_tls_stamp_fini(struct http_tls_stamp *st);

/* Add every certificate (and CRL) of s to store; at least one certificate is required.
 * Stamps st when s is a file. */
int http_tls_load_ca(X509_STORE *store, const struct http_tls_source *s, struct http_tls_stamp *st,
                     char *err, size_t errlen);

/* A client certificate, the chain sent after it and its private key. */
struct http_tls_client {
    X509 *cert;             /* owned */
    STACK_OF(X509) * chain; /* owned, or NULL */
    EVP_PKEY *key;          /* owned */
};

/* Parse the certificate (+ chain) of cert and the key of key, and check that they match.
 * Stamps st[0] / st[1] for files. Buffers read from files are wiped. On error *out holds
 * what was parsed: free it with http_tls_client_fini. */
int http_tls_load_client(const struct http_tls_source *cert, const struct http_tls_source *key,
                         struct http_tls_client *out, struct http_tls_stamp st[2], char *err,
                         size_t errlen);
void http_tls_client_fini(struct http_tls_client *c);

#endif
