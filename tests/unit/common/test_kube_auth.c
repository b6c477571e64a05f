/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_auth.c - the pieces of delegated authentication (kube_auth.h):
 * the extension-apiserver-authentication ConfigMap's request-header settings,
 * front-proxy certificates (the CA, the client-auth purpose, the allowed
 * names) and the user, groups and extras the headers name. The TokenReview
 * and SubjectAccessReview round trips run against the real API server in
 * tests/integration/test_metrics_api.py.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kp_test.h"
#include "kube_auth.h"

struct cert {
    X509 *x;
    EVP_PKEY *k;
};

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A CA (issuer NULL) or a leaf signed by issuer with the extended key usage eku. */
static struct cert make(const char *cn, const char *org, const struct cert *issuer, const char *eku)
{
    struct cert c = {X509_new(), EVP_EC_gen("P-256")};
    X509_set_version(c.x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.x), rand());
    X509_gmtime_adj(X509_getm_notBefore(c.x), -60);
    X509_gmtime_adj(X509_getm_notAfter(c.x), 3600);
    X509_set_pubkey(c.x, c.k);
    X509_NAME *n = X509_get_subject_name(c.x);
    if (org)
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)org, -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c.x, issuer ? X509_get_subject_name(issuer->x) : n);
    if (!issuer) {
        add_ext(c.x, NULL, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c.x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    } else {
        add_ext(c.x, issuer->x, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(c.x, issuer->x, NID_ext_key_usage, eku);
    }
    assert_true(X509_sign(c.x, issuer ? issuer->k : c.k, EVP_sha256()) > 0);
    return c;
}

static void cert_free(struct cert *c)
{
    X509_free(c->x);
    EVP_PKEY_free(c->k);
}

static char *pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = strndup(data, (size_t)n);
    BIO_free(b);
    return s;
}

static struct kube_auth_config *config(const struct cert *rh_ca, const char *allowed)
{
    json_object *d = json_object_new_object();
    char *p = pem(rh_ca->x);
    json_object_object_add(d, "requestheader-client-ca-file", json_object_new_string(p));
    json_object_object_add(d, "requestheader-allowed-names", json_object_new_string(allowed));
    json_object_object_add(d, "requestheader-username-headers",
                           json_object_new_string("[\"X-Remote-User\",\"X-User\"]"));
    json_object_object_add(d, "requestheader-group-headers",
                           json_object_new_string("[\"X-Remote-Group\"]"));
    json_object_object_add(d, "requestheader-extra-headers-prefix",
                           json_object_new_string("[\"X-Remote-Extra-\"]"));
    char err[512];
    struct kube_auth_config *c = kube_auth_config_parse(d, err, sizeof(err));
    if (!c)
        fail_msg("config: %s", err);
    free(p);
    json_object_put(d);
    return c;
}

KP_TEST(test_front_proxy_certificates)
{
    (void)state;
    struct cert ca = make("front-proxy-ca", NULL, NULL, NULL);
    struct cert other_ca = make("other-ca", NULL, NULL, NULL);
    struct cert good = make("front-proxy-client", NULL, &ca, "clientAuth");
    struct cert wrong_name = make("someone-else", NULL, &ca, "clientAuth");
    struct cert server_only = make("front-proxy-client", NULL, &ca, "serverAuth");
    struct cert foreign = make("front-proxy-client", NULL, &other_ca, "clientAuth");

    struct kube_auth_config *c = config(&ca, "[\"front-proxy-client\"]");
    assert_int_equal(kube_auth_front_proxy_ok(c, good.x, NULL), 1);
    assert_int_equal(kube_auth_front_proxy_ok(c, wrong_name.x, NULL), 0);
    assert_int_equal(kube_auth_front_proxy_ok(c, server_only.x, NULL), 0);
    assert_int_equal(kube_auth_front_proxy_ok(c, foreign.x, NULL), 0);
    assert_int_equal(kube_auth_front_proxy_ok(c, ca.x, NULL), 0);
    assert_int_equal(kube_auth_front_proxy_ok(c, NULL, NULL), 0);
    kube_auth_config_free(c);
    /* an allowed name that is empty still restricts (as the API server's verifier): it is
     * not dropped, leaving no names, which allows any */
    c = config(&ca, "[\"\"]");
    assert_int_equal(kube_auth_front_proxy_ok(c, wrong_name.x, NULL), 0);
    assert_int_equal(kube_auth_front_proxy_ok(c, good.x, NULL), 0);
    kube_auth_config_free(c);
    /* no allowed names: any client certificate of the CA */
    c = config(&ca, "[]");
    assert_int_equal(kube_auth_front_proxy_ok(c, wrong_name.x, NULL), 1);
    assert_int_equal(kube_auth_front_proxy_ok(c, foreign.x, NULL), 0);
    kube_auth_config_free(c);

    cert_free(&ca);
    cert_free(&other_ca);
    cert_free(&good);
    cert_free(&wrong_name);
    cert_free(&server_only);
    cert_free(&foreign);
}

KP_TEST(test_headers_to_user)
{
    (void)state;
    struct cert ca = make("front-proxy-ca", NULL, NULL, NULL);
    struct kube_auth_config *c = config(&ca, "[]");
    struct https_head h;
    json_object *u;
    char head[] = "GET / HTTP/1.1\r\nX-Remote-User: \r\nX-User: alice\r\n"
                  "X-Remote-Group: dev\r\nx-remote-group: system:authenticated\r\n"
                  "X-Remote-Extra-Scopes: a\r\nX-Remote-Extra-Scopes: b\r\n"
                  "X-Remote-Extra-Acme.com%2fProject: kp\r\nX-Remote-Extra-: ignored\r\n\r\n";
    assert_int_equal(https_head_parse(head, strlen(head), &h), 0);
    assert_int_equal(kube_auth_user_from_headers(c, &h, &u), 0);
    assert_string_equal(
        json_object_to_json_string_ext(u, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        "{\"username\":\"alice\",\"groups\":[\"dev\",\"system:authenticated\"],"
        "\"extra\":{\"scopes\":[\"a\",\"b\"],\"acme.com/project\":[\"kp\"]}}");
    json_object_put(u);
    char none[] = "GET / HTTP/1.1\r\nX-Remote-Group: dev\r\n\r\n";
    assert_int_equal(https_head_parse(none, strlen(none), &h), 0);
    assert_int_equal(kube_auth_user_from_headers(c, &h, &u), -1);
    assert_null(u);
    kube_auth_config_free(c);
    cert_free(&ca);
}

KP_TEST(test_config_errors)
{
    (void)state;
    char err[512];
    json_object *d = json_object_new_object();
    json_object_object_add(d, "requestheader-username-headers", json_object_new_string("X-U"));
    assert_null(kube_auth_config_parse(d, err, sizeof(err)));
    assert_non_null(strstr(err, "requestheader-username-headers"));
    json_object_put(d);
    d = json_object_new_object();
    json_object_object_add(d, "requestheader-client-ca-file", json_object_new_string("junk"));
    assert_null(kube_auth_config_parse(d, err, sizeof(err)));
    json_object_put(d);
    assert_null(kube_auth_config_parse(NULL, err, sizeof(err)));
    /* a list entry we cannot hold is an error, not a name left out (fail-open for the
     * allowed names) */
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    char long_list[320];
    snprintf(long_list, sizeof(long_list), "[\"%s\"]", long_name);
    const char *const bad_lists[] = {"[42]", "[\"x\",null]", long_list};
    for (size_t i = 0; i < sizeof(bad_lists) / sizeof(bad_lists[0]); i++) {
        d = json_object_new_object();
        json_object_object_add(d, "requestheader-allowed-names",
                               json_object_new_string(bad_lists[i]));
        assert_null(kube_auth_config_parse(d, err, sizeof(err)));
        assert_non_null(strstr(err, "requestheader-allowed-names"));
        json_object_put(d);
    }
    /* an empty ConfigMap: no front proxy, nothing to verify against */
    d = json_object_new_object();
    struct kube_auth_config *c = kube_auth_config_parse(d, err, sizeof(err));
    assert_non_null(c);
    struct cert ca = make("x", NULL, NULL, NULL);
    assert_int_equal(kube_auth_front_proxy_ok(c, ca.x, NULL), 0);
    cert_free(&ca);
    kube_auth_config_free(c);
    json_object_put(d);
}

/* The certificates' serials come from rand(): a different sequence each run. */
static int seed_serials(void **state)
{
    (void)state;
    srand((unsigned)time(NULL));
    return 0;
}

KP_TEST_GROUP(seed_serials, NULL);
