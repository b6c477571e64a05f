/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_http_tls.c - the HTTP client's shared TLS material (src/http_tls.c,
 * http_tls_load.c): the cache key is the content, the cache is bounded and
 * reference-counted, rotated files are picked up after the re-check interval
 * (a broken rotation keeps the previous material), bad material gives errors
 * that name the part and never hold key bytes, and what is installed into an
 * SSL_CTX is shared, not copied. Keys and certificates are made at run time.
 * The handshakes themselves (wrong CA, host name, client certificate) are in
 * tests/integration/test_http_tls.py against the real kube-apiserver.
 */
#include <stdarg.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kp_test.h"
#include "http_tls.h"
#include "testcert.h"

/* ---- material made at run time -------------------------------------------------- */

struct pem_pair {
    char *cert, *key; /* malloc'd PEM */
    X509 *x509;
};

static char *bio_string(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

/* A self-signed P-256 certificate (usable as a CA or as a client certificate). */
static struct pem_pair make_pair(const char *cn)
{
    struct pem_pair p = {0};
    EVP_PKEY *k = NULL;
    X509 *x = testcert_self_signed(cn, &k);
    assert_non_null(x);
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cb, x);
    PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL);
    p.cert = bio_string(cb);
    p.key = bio_string(kb);
    p.x509 = x;
    EVP_PKEY_free(k);
    return p;
}

static void free_pair(struct pem_pair *p)
{
    free(p->cert);
    free(p->key);
    X509_free(p->x509);
}

static struct pem_pair a, b;
static char dir[64];

static int setup(void **state)
{
    (void)state;
    a = make_pair("client-a");
    b = make_pair("client-b");
    snprintf(dir, sizeof(dir), "/tmp/kp-test-http-tls-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free_pair(&a);
    free_pair(&b);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

KP_TEST_GROUP(setup, teardown);

static const char *write_file(const char *name, const char *content)
{
    static char paths[8][128];
    static int next;
    char *path = paths[next++ % 8], tmp[160];
    snprintf(path, 128, "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0); /* like a rotation: a new inode */
    return path;
}

static struct http_tls inline_tls(const struct pem_pair *ca, const struct pem_pair *client)
{
    struct http_tls t = {0};
    if (ca) {
        t.ca_pem = ca->cert;
        t.ca_pem_len = strlen(ca->cert);
    }
    if (client) {
        t.cert_pem = client->cert;
        t.cert_pem_len = strlen(client->cert);
        t.key_pem = client->key;
        t.key_pem_len = strlen(client->key);
    }
    return t;
}

/* The certificate an entry installs into a fresh SSL_CTX. */
static bool installs_cert(const struct http_tls_entry *x, X509 *want)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_int_equal(http_tls_entry_install(x, ctx), 0);
    X509 *got = SSL_CTX_get0_certificate(ctx);
    bool same = got && X509_cmp(got, want) == 0;
    SSL_CTX_free(ctx);
    return same;
}

/* ---- tests ---------------------------------------------------------------------------- */

KP_TEST(test_wants_entry)
{
    (void)state;
    struct http_tls t = {0};
    assert_false(http_tls_wants_entry(NULL));
    assert_false(http_tls_wants_entry(&t)); /* system CAs: left to curl */
    t.insecure = true;
    assert_false(http_tls_wants_entry(&t));
    t.ca_file = "/x/ca.crt";
    assert_false(http_tls_wants_entry(&t)); /* no verification: no CA needed */
    t.insecure = false;
    assert_true(http_tls_wants_entry(&t));
    t = (struct http_tls){.insecure = true, .cert_file = "/x/c.crt", .key_file = "/x/c.key"};
    assert_true(http_tls_wants_entry(&t));
}

KP_TEST(test_key_is_content_not_pointer)
{
    (void)state;
    struct http_tls_cache *tc = http_tls_cache_new();
    char err[512];
    struct http_tls t1 = inline_tls(&a, &b);
    char *copy = strdup(a.cert); /* the same CA at another address, like a stack copy */
    struct http_tls t2 = t1;
    t2.ca_pem = copy;
    t2.server_name = "other"; /* curl's business, not the material's */
    struct http_tls_entry *x1 = http_tls_cache_get(tc, &t1, 0, err, sizeof(err));
    assert_non_null(x1);
    struct http_tls_entry *x2 = http_tls_cache_get(tc, &t2, 0, err, sizeof(err));
    assert_ptr_equal(x1, x2);
    copy[40] ^= 1; /* same pointer, different content */
    struct http_tls_entry *x3 = http_tls_cache_get(tc, &t2, 0, err, sizeof(err));
    assert_true(x3 == NULL || x3 != x1); /* a corrupted CA may not parse at all */
    http_tls_entry_release(x3);
    struct http_tls t4 = inline_tls(&b, &a);
    struct http_tls_entry *x4 = http_tls_cache_get(tc, &t4, 0, err, sizeof(err));
    assert_non_null(x4);
    assert_ptr_not_equal(x4, x1);
    assert_string_not_equal(http_tls_entry_name(x1), http_tls_entry_name(x4));
    assert_true(strncmp(http_tls_entry_name(x1), "/dev/null/", 10) == 0);
    assert_true(installs_cert(x1, b.x509));
    assert_true(installs_cert(x4, a.x509));
    t1.insecure = true; /* no store, a different entry */
    struct http_tls_entry *x5 = http_tls_cache_get(tc, &t1, 0, err, sizeof(err));
    assert_ptr_not_equal(x5, x1);
    http_tls_entry_release(x1);
    http_tls_entry_release(x2);
    http_tls_entry_release(x4);
    http_tls_entry_release(x5);
    free(copy);
    http_tls_cache_free(tc);
}

KP_TEST(test_bounded_and_refcounted)
{
    (void)state;
    struct http_tls_cache *tc = http_tls_cache_new();
    char err[512];
    struct pem_pair cas[HTTP_TLS_CACHE_MAX + 3];
    struct http_tls_entry *first = NULL;
    for (int i = 0; i < HTTP_TLS_CACHE_MAX + 3; i++) {
        cas[i] = make_pair("ca");
        struct http_tls t = inline_tls(&cas[i], NULL);
        struct http_tls_entry *x = http_tls_cache_get(tc, &t, 0, err, sizeof(err));
        assert_non_null(x);
        if (i == 0)
            first = x; /* held while evicted */
        else
            http_tls_entry_release(x);
        assert_true(http_tls_cache_size(tc) <= HTTP_TLS_CACHE_MAX);
    }
    assert_int_equal(http_tls_cache_size(tc), HTTP_TLS_CACHE_MAX);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_int_equal(http_tls_entry_install(first, ctx), 0); /* still alive */
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    assert_int_equal(sk_X509_OBJECT_num(X509_STORE_get0_objects(store)), 1);
    http_tls_entry_release(first);
    http_tls_cache_free(tc);
    /* the SSL_CTX holds its own reference to the store */
    assert_int_equal(sk_X509_OBJECT_num(X509_STORE_get0_objects(store)), 1);
    SSL_CTX_free(ctx);
    for (int i = 0; i < HTTP_TLS_CACHE_MAX + 3; i++)
        free_pair(&cas[i]);
}

KP_TEST(test_install_shares_and_releases_buffers)
{
    (void)state;
    struct http_tls_cache *tc = http_tls_cache_new();
    char err[512];
    struct http_tls t = inline_tls(&a, &b);
    struct http_tls_entry *x = http_tls_cache_get(tc, &t, 0, err, sizeof(err));
    assert_non_null(x);
    SSL_CTX *c1 = SSL_CTX_new(TLS_client_method()), *c2 = SSL_CTX_new(TLS_client_method());
    assert_int_equal(http_tls_entry_install(x, c1), 0);
    assert_int_equal(http_tls_entry_install(x, c2), 0);
    assert_true(SSL_CTX_get_mode(c1) & SSL_MODE_RELEASE_BUFFERS);
    assert_ptr_equal(SSL_CTX_get_cert_store(c1), SSL_CTX_get_cert_store(c2));
    assert_ptr_equal(SSL_CTX_get0_certificate(c1), SSL_CTX_get0_certificate(c2));
    assert_ptr_equal(SSL_CTX_get0_privatekey(c1), SSL_CTX_get0_privatekey(c2));
    SSL_CTX *c3 = SSL_CTX_new(TLS_client_method());
    assert_int_equal(http_tls_entry_install(NULL, c3), 0); /* defaults: only the mode */
    assert_true(SSL_CTX_get_mode(c3) & SSL_MODE_RELEASE_BUFFERS);
    assert_null(SSL_CTX_get0_certificate(c3));
    SSL_CTX_free(c1);
    SSL_CTX_free(c2);
    SSL_CTX_free(c3);
    http_tls_entry_release(x);
    http_tls_cache_free(tc);
}

/* A request marks its connection's SSL so that its end gives the record buffers back
 * (http_tls_use_fini); the mark never outlives either side: an SSL freed first clears the
 * request's pointer, a request ended first clears the SSL's mark (ASan sees a write to the
 * freed request otherwise), and a second request on the connection takes the mark over. */
KP_TEST(test_use_tracks_connection_ssl)
{
    (void)state;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *s1 = SSL_new(ctx), *s2 = SSL_new(ctx);
    assert_non_null(s1);
    assert_non_null(s2);
    unsigned long released = http_tls_buffers_released();

    /* the request ends first: buffers given back, the SSL no longer points at it */
    struct http_tls_use *u = calloc(1, sizeof(*u));
    http_tls_use_track_ssl(u, s1);
    assert_ptr_equal(u->ssl, s1);
    http_tls_use_fini(u);
    assert_null(u->ssl);
    assert_int_equal(http_tls_buffers_released(), released + 1);
    free(u);

    /* a second request on the kept connection takes the mark over */
    struct http_tls_use a1 = {0}, a2 = {0};
    http_tls_use_track_ssl(&a1, s1);
    http_tls_use_track_ssl(&a2, s1);
    assert_null(a1.ssl);
    assert_ptr_equal(a2.ssl, s1);
    http_tls_use_fini(&a1);
    assert_int_equal(http_tls_buffers_released(), released + 1);
    http_tls_use_fini(&a2);
    assert_int_equal(http_tls_buffers_released(), released + 2);
    SSL_free(s1); /* unmarked now: touches neither request */

    /* the connection is closed first: the request forgets it and frees nothing */
    struct http_tls_use b1 = {0};
    http_tls_use_track_ssl(&b1, s2);
    SSL_free(s2);
    assert_null(b1.ssl);
    http_tls_use_fini(&b1);
    assert_int_equal(http_tls_buffers_released(), released + 2);

    http_tls_use_track_ssl(&b1, NULL); /* plain HTTP: nothing to track */
    assert_null(b1.ssl);
    SSL_CTX_free(ctx);
}

/* No 16 characters of any base64 line of key appear in err. */
static void assert_no_key_bytes(const char *err, const char *key)
{
    char chunk[17];
    for (const char *k = key; (k = strchr(k, '\n')) && k[1]; k++) {
        if (k[1] == '-')
            continue;
        snprintf(chunk, sizeof(chunk), "%.16s", k + 1);
        assert_null(strstr(err, chunk));
    }
}

static void assert_fails(struct http_tls_cache *tc, const struct http_tls *t, const char *want)
{
    char err[512] = "";
    struct http_tls_entry *x = http_tls_cache_get(tc, t, 0, err, sizeof(err));
    assert_null(x);
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
    assert_no_key_bytes(err, a.key);
    assert_no_key_bytes(err, b.key);
}

KP_TEST(test_bad_material_errors)
{
    (void)state;
    struct http_tls_cache *tc = http_tls_cache_new();
    struct http_tls t = inline_tls(&a, &b);
    t.ca_pem = "not a PEM";
    t.ca_pem_len = strlen(t.ca_pem);
    assert_fails(tc, &t, "CA certificates (inline PEM data)");
    t = inline_tls(&a, &b);
    t.key_pem = a.key; /* a's key, b's certificate */
    t.key_pem_len = strlen(a.key);
    assert_fails(tc, &t, "client key (inline PEM data) does not match the client certificate");
    t.key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    t.key_pem_len = strlen(t.key_pem);
    assert_fails(tc, &t, "client key (inline PEM data): cannot parse PEM");
    t = inline_tls(&a, &b);
    t.cert_pem = a.key; /* a key where the certificate should be */
    t.cert_pem_len = strlen(a.key);
    assert_fails(tc, &t, "client certificate (inline PEM data): cannot parse PEM");
    t = (struct http_tls){.ca_file = "/nonexistent/ca.crt"};
    assert_fails(tc, &t, "CA certificates: cannot open '/nonexistent/ca.crt'");
    t = (struct http_tls){.ca_file = dir};
    assert_fails(tc, &t, "is not a regular file");
    t = (struct http_tls){.ca_file = write_file("key-as-ca", a.key)};
    assert_fails(tc, &t, "no certificate found");
    assert_int_equal(http_tls_cache_size(tc), 0); /* failures are not cached */
    http_tls_cache_free(tc);
}

KP_TEST(test_rotated_files)
{
    (void)state;
    struct http_tls_cache *tc = http_tls_cache_new();
    char err[512];
    struct http_tls t = {.ca_file = write_file("ca.crt", a.cert),
                         .cert_file = write_file("c.crt", a.cert),
                         .key_file = write_file("c.key", a.key)};
    struct http_tls_entry *x1 = http_tls_cache_get(tc, &t, 100, err, sizeof(err));
    assert_non_null(x1);
    assert_true(installs_cert(x1, a.x509));
    write_file("c.crt", b.cert); /* the key first would leave a mismatch: see below */
    write_file("c.key", b.key);
    struct http_tls_entry *x =
        http_tls_cache_get(tc, &t, 100 + HTTP_TLS_RECHECK_S / 2, err, sizeof(err));
    assert_ptr_equal(x, x1); /* not checked yet */
    http_tls_entry_release(x);
    struct http_tls_entry *x2 =
        http_tls_cache_get(tc, &t, 100 + HTTP_TLS_RECHECK_S, err, sizeof(err));
    assert_ptr_not_equal(x2, x1);
    assert_true(installs_cert(x2, b.x509));
    assert_string_not_equal(http_tls_entry_name(x1), http_tls_entry_name(x2));
    assert_true(installs_cert(x1, a.x509)); /* a request still holding x1 keeps its material */
    http_tls_entry_release(x1);
    /* half-way through a rotation (certificate a, key still b): keep the previous */
    write_file("c.crt", a.cert);
    x = http_tls_cache_get(tc, &t, 100 + 2 * HTTP_TLS_RECHECK_S, err, sizeof(err));
    assert_ptr_equal(x, x2);
    http_tls_entry_release(x);
    write_file("c.key", a.key); /* complete: loaded at the next check */
    x = http_tls_cache_get(tc, &t, 100 + 3 * HTTP_TLS_RECHECK_S, err, sizeof(err));
    assert_ptr_not_equal(x, x2);
    assert_true(installs_cert(x, a.x509));
    http_tls_entry_release(x);
    http_tls_entry_release(x2);
    assert_int_equal(http_tls_cache_size(tc), 1);
    http_tls_cache_free(tc);
}

KP_TEST(test_client_cert_without_ca_uses_curl_defaults)
{
    (void)state;
    if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) != 0)
        skip();
    struct http_tls_cache *tc = http_tls_cache_new();
    char err[512] = "";
    struct http_tls t = inline_tls(NULL, &a);
    struct http_tls_entry *x = http_tls_cache_get(tc, &t, 0, err, sizeof(err));
    if (!x)
        fail_msg("%s", err);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_int_equal(http_tls_entry_install(x, ctx), 0);
    assert_true(sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx))) > 10);
    SSL_CTX_free(ctx);
    http_tls_entry_release(x);
    http_tls_cache_free(tc);
}
