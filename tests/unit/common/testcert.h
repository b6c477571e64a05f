/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testcert.h - test certificates made in memory with OpenSSL for the TLS unit tests
 * (test_http_tls.c, test_https_server.c): no openssl command, no files checked in.
 */
#ifndef KP_TEST_TESTCERT_H
#define KP_TEST_TESTCERT_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/* A self-signed P-256 certificate for CN cn, valid from a minute ago for an hour (usable as a
 * CA, a server or a client certificate). *key gets its key. The caller frees both; NULL on
 * failure. */
X509 *testcert_self_signed(const char *cn, EVP_PKEY **key);

#endif
