/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testcert.c - test certificates made in memory (testcert.h).
 */
#include "testcert.h"

#include <stdint.h>
#include <time.h>

X509 *testcert_self_signed(const char *cn, EVP_PKEY **key)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!k || !x)
        goto fail;
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL) ^ (long)(uintptr_t)x);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    if (X509_sign(x, k, EVP_sha256()) <= 0)
        goto fail;
    *key = k;
    return x;
fail:
    X509_free(x);
    EVP_PKEY_free(k);
    return NULL;
}
