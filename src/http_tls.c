/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_tls.c - the HTTP client's TLS material, prepared once per distinct
 * configuration and shared by every connection that uses it. Owns the cache of
 * entries (one per http_client); per entry, one X509_STORE of CA certificates,
 * the client X509 with its chain and the EVP_PKEY; and the TLS options of each
 * curl easy handle (http_tls_apply).
 *
 * Why: given the material as CURLOPT_*_BLOB or file options, curl's OpenSSL
 * backend builds a new SSL_CTX per connection and parses the CA, the
 * certificate and the (RSA) key into it again; with one kept connection per
 * kubelet that is thousands of copies. Here each connection's SSL_CTX only takes
 * references (http_tls_entry_install, from CURLOPT_SSL_CTX_FUNCTION).
 *
 * Cache key: the content, not the pointer. Callers pass struct http_tls copies on
 * the stack (the collector) or repoint them at new exec-plugin credentials, so
 * the key is a SHA-256 over what the configuration says: the PEM bytes of
 * inline material, the path of a file, the insecure flag.
 *
 * Files (CA bundles, kubeconfig client-certificate/client-key files) can be
 * rotated on disk. An entry read from files remembers each file's device,
 * inode, size and mtime; at most every HTTP_TLS_RECHECK_S it stats them and,
 * when one changed, loads the files again into a new entry (a new name, so
 * connections made with the old material are not reused). If the new files do
 * not load (half-written, key not matching the certificate yet), the previous
 * entry stays in use and the load is retried at the next check. Before this
 * cache, curl read the files at every new connection; now a rotation is seen
 * within HTTP_TLS_RECHECK_S.
 *
 * The cache is bounded (HTTP_TLS_CACHE_MAX entries, least recently used out);
 * entries are reference-counted so one evicted while a request still needs it
 * lives until that request ends.
 *
 * curl never sees the material, so it cannot tell two configurations apart
 * when it matches a request to a kept connection or a cached TLS session: each
 * entry's unique name goes in CURLOPT_CAPATH, which curl compares. curl 7.88
 * loads CAINFO/CAPATH into whatever store the SSL_CTX holds *after* our
 * callback, i.e. into the entry's store: CAINFO is NULL (no bundle parsed per
 * connection) and the name lies under /dev/null (a directory that cannot
 * exist, so it adds no certificate). curl's CA cache is off for these handles:
 * it would swap its cached store in. VERIFYPEER/VERIFYHOST stay on. Parsing
 * and file reading live in http_tls_load.c.
 */
#include "http_tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_tls_load.h"
#include "log.h"
#include "util.h"

#define DIGEST_LEN 32

enum { PART_CA, PART_CERT, PART_KEY, PART_N };

struct http_tls_entry {
    unsigned char digest[DIGEST_LEN];
    unsigned refs;
    char name[64];                 /* see http_tls_entry_name */
    X509_STORE *store;             /* owned reference; NULL when verification is off */
    struct http_tls_client client; /* all NULL without a client certificate */
    struct http_tls_stamp files[PART_N];
    double checked_at; /* monotonic: when the files were last compared with their stamps */
};

struct http_tls_cache {
    struct http_tls_entry *slots[HTTP_TLS_CACHE_MAX]; /* owned references */
    unsigned long used[HTTP_TLS_CACHE_MAX];           /* LRU clock value of the last use */
    unsigned long clock;
    EVP_MD *sha256;        /* owned */
    EVP_MD_CTX *md;        /* owned */
    char *default_ca_file; /* owned or NULL: curl's built-in CA bundle */
    char *default_ca_path; /* owned or NULL: curl's built-in CA directory */
    bool shared;           /* curl runs on our OpenSSL: CURLOPT_SSL_CTX_FUNCTION is usable */
};

static unsigned long next_entry_id; /* entry names stay unique within the process */

/* ---- keys ------------------------------------------------------------------------ */

static void parts_of(const struct http_tls *t, struct http_tls_source src[PART_N])
{
    memset(src, 0, sizeof(struct http_tls_source) * PART_N);
    if (!t->insecure) {
        if (t->ca_pem && t->ca_pem_len)
            src[PART_CA] = (struct http_tls_source){.pem = t->ca_pem, .len = t->ca_pem_len};
        else if (t->ca_file)
            src[PART_CA].file = t->ca_file;
    }
    if (t->cert_pem && t->cert_pem_len)
        src[PART_CERT] = (struct http_tls_source){.pem = t->cert_pem, .len = t->cert_pem_len};
    else if (t->cert_file)
        src[PART_CERT].file = t->cert_file;
    if (!src[PART_CERT].pem && !src[PART_CERT].file)
        return; /* a key without a certificate is ignored, as curl did */
    if (t->key_pem && t->key_pem_len)
        src[PART_KEY] = (struct http_tls_source){.pem = t->key_pem, .len = t->key_pem_len};
    else if (t->key_file)
        src[PART_KEY].file = t->key_file;
    else
        src[PART_KEY] = src[PART_CERT]; /* the key in the certificate's PEM, as curl did */
}

bool http_tls_wants_entry(const struct http_tls *t)
{
    if (!t)
        return false;
    bool ca = !t->insecure && ((t->ca_pem && t->ca_pem_len) || t->ca_file);
    return ca || (t->cert_pem && t->cert_pem_len) || t->cert_file;
}

static void md_field(EVP_MD_CTX *md, char tag, const void *data, size_t len)
{
    uint64_t n = len;
    EVP_DigestUpdate(md, &tag, 1);
    EVP_DigestUpdate(md, &n, sizeof(n));
    if (len)
        EVP_DigestUpdate(md, data, len);
}

static int digest_of(struct http_tls_cache *tc, const struct http_tls *t,
                     unsigned char out[DIGEST_LEN])
{
    struct http_tls_source src[PART_N];
    unsigned int n = 0;
    parts_of(t, src);
    if (EVP_DigestInit_ex(tc->md, tc->sha256, NULL) != 1)
        return -1;
    md_field(tc->md, t->insecure ? 'I' : 'V', NULL, 0);
    for (int i = 0; i < PART_N; i++) {
        if (src[i].pem)
            md_field(tc->md, (char)('A' + i), src[i].pem, src[i].len);
        else if (src[i].file)
            md_field(tc->md, (char)('a' + i), src[i].file, strlen(src[i].file));
        else
            md_field(tc->md, '-', NULL, 0);
    }
    if (EVP_DigestFinal_ex(tc->md, out, &n) != 1 || n != DIGEST_LEN)
        return -1;
    return 0;
}

/* ---- entries ------------------------------------------------------------------------ */

static int load_ca(struct http_tls_cache *tc, struct http_tls_entry *x,
                   const struct http_tls_source *s, char *err, size_t errlen)
{
    struct http_tls_source def = {.file = tc->default_ca_file};
    if (!(x->store = X509_STORE_new())) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* what curl sets on its own store */
    X509_STORE_set_flags(x->store, X509_V_FLAG_TRUSTED_FIRST | X509_V_FLAG_PARTIAL_CHAIN);
    if (s->pem || s->file)
        return http_tls_load_ca(x->store, s, &x->files[PART_CA], err, errlen);
    /* no CA named: curl's built-in locations, or OpenSSL's when curl has none */
    if (tc->default_ca_path && X509_STORE_load_path(x->store, tc->default_ca_path) != 1)
        ERR_clear_error();
    if (def.file)
        return http_tls_load_ca(x->store, &def, &x->files[PART_CA], err, errlen);
    if (!tc->default_ca_path && X509_STORE_set_default_paths(x->store) != 1)
        ERR_clear_error();
    return 0;
}

static void entry_free(struct http_tls_entry *x)
{
    X509_STORE_free(x->store);
    http_tls_client_fini(&x->client);
    for (int i = 0; i < PART_N; i++)
        http_tls_stamp_fini(&x->files[i]);
    free(x);
}

void http_tls_entry_release(struct http_tls_entry *x)
{
    if (x && --x->refs == 0)
        entry_free(x);
}

static struct http_tls_entry *entry_build(struct http_tls_cache *tc, const struct http_tls *t,
                                          const unsigned char digest[DIGEST_LEN], double now,
                                          char *err, size_t errlen)
{
    struct http_tls_source src[PART_N];
    struct http_tls_entry *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ERR_clear_error(); /* errors below are this build's */
    x->refs = 1;
    memcpy(x->digest, digest, DIGEST_LEN);
    x->checked_at = now;
    snprintf(x->name, sizeof(x->name), "/dev/null/kubepulse-tls/%lu", ++next_entry_id);
    parts_of(t, src);
    bool client = src[PART_CERT].pem || src[PART_CERT].file;
    if ((!t->insecure && load_ca(tc, x, &src[PART_CA], err, errlen) < 0) ||
        (client && http_tls_load_client(&src[PART_CERT], &src[PART_KEY], &x->client,
                                        &x->files[PART_CERT], err, errlen) < 0)) {
        entry_free(x);
        return NULL;
    }
    return x;
}

static bool entry_files_changed(const struct http_tls_entry *x)
{
    for (int i = 0; i < PART_N; i++)
        if (http_tls_stamp_changed(&x->files[i]))
            return true;
    return false;
}

const char *http_tls_entry_name(const struct http_tls_entry *x)
{
    return x->name;
}

int http_tls_entry_install(const struct http_tls_entry *x, void *ssl_ctx)
{
    SSL_CTX *ctx = ssl_ctx;
    /* idle kept connections give back their ~2 x 17 KB record buffers */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (!x)
        return 0;
    if (x->store)
        SSL_CTX_set1_cert_store(ctx, x->store); /* a reference, not a copy */
    const struct http_tls_client *c = &x->client;
    if (c->cert &&
        (SSL_CTX_use_certificate(ctx, c->cert) != 1 ||
         (c->chain && SSL_CTX_set1_chain(ctx, c->chain) != 1) ||
         SSL_CTX_use_PrivateKey(ctx, c->key) != 1 || SSL_CTX_check_private_key(ctx) != 1)) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* ---- the cache ---------------------------------------------------------------------- */

/* The SSL_CTX that curl hands to CURLOPT_SSL_CTX_FUNCTION is only ours to fill when curl
 * runs on the OpenSSL we link (same major version). */
static bool curl_uses_our_openssl(void)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    char want[32];
    snprintf(want, sizeof(want), "OpenSSL/%d.", OPENSSL_VERSION_MAJOR);
    return v && v->ssl_version && strncmp(v->ssl_version, want, strlen(want)) == 0;
}

/* curl's built-in CA bundle and directory, copied. */
static int curl_ca_defaults(struct http_tls_cache *tc)
{
    char *file = NULL, *path = NULL;
    CURL *e = curl_easy_init();
    if (!e)
        return -1;
#if LIBCURL_VERSION_NUM >= 0x075400
    curl_easy_getinfo(e, CURLINFO_CAINFO, &file);
    curl_easy_getinfo(e, CURLINFO_CAPATH, &path);
#endif
    tc->default_ca_file = file ? strdup(file) : NULL;
    tc->default_ca_path = path ? strdup(path) : NULL;
    curl_easy_cleanup(e);
    return (file && !tc->default_ca_file) || (path && !tc->default_ca_path) ? -1 : 0;
}

struct http_tls_cache *http_tls_cache_new(void)
{
    struct http_tls_cache *tc = calloc(1, sizeof(*tc));
    if (!tc)
        return NULL;
    tc->shared = curl_uses_our_openssl();
    tc->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); /* once: fetching is not cheap */
    tc->md = EVP_MD_CTX_new();
    if (!tc->sha256 || !tc->md || curl_ca_defaults(tc) < 0) {
        http_tls_cache_free(tc);
        return NULL;
    }
    return tc;
}

void http_tls_cache_free(struct http_tls_cache *tc)
{
    if (!tc)
        return;
    for (int i = 0; i < HTTP_TLS_CACHE_MAX; i++)
        http_tls_entry_release(tc->slots[i]);
    EVP_MD_free(tc->sha256);
    EVP_MD_CTX_free(tc->md);
    free(tc->default_ca_file);
    free(tc->default_ca_path);
    free(tc);
}

size_t http_tls_cache_size(const struct http_tls_cache *tc)
{
    size_t n = 0;
    for (int i = 0; i < HTTP_TLS_CACHE_MAX; i++)
        n += tc->slots[i] != NULL;
    return n;
}

static int cache_find(const struct http_tls_cache *tc, const unsigned char digest[DIGEST_LEN])
{
    for (int i = 0; i < HTTP_TLS_CACHE_MAX; i++)
        if (tc->slots[i] && memcmp(tc->slots[i]->digest, digest, DIGEST_LEN) == 0)
            return i;
    return -1;
}

static int cache_victim(const struct http_tls_cache *tc)
{
    int v = 0;
    for (int i = 0; i < HTTP_TLS_CACHE_MAX; i++) {
        if (!tc->slots[i])
            return i;
        if (tc->used[i] < tc->used[v])
            v = i;
    }
    return v;
}

/* A due re-check of slot i's files; a changed file that loads replaces the entry. */
static void cache_recheck(struct http_tls_cache *tc, int i, const struct http_tls *t, double now)
{
    struct http_tls_entry *old = tc->slots[i], *x;
    char err[512];
    if (now - old->checked_at < HTTP_TLS_RECHECK_S)
        return;
    old->checked_at = now;
    if (!entry_files_changed(old))
        return;
    if (!(x = entry_build(tc, t, old->digest, now, err, sizeof(err)))) {
        log_warn("TLS files changed but do not load; keeping the previous material", LF_ERR(err));
        return;
    }
    log_info("TLS files changed on disk: loaded again", LF_STR("entry", x->name));
    tc->slots[i] = x;
    http_tls_entry_release(old);
}

struct http_tls_entry *http_tls_cache_get(struct http_tls_cache *tc, const struct http_tls *t,
                                          double now, char *err, size_t errlen)
{
    unsigned char digest[DIGEST_LEN];
    if (digest_of(tc, t, digest) < 0) {
        ERR_clear_error();
        snprintf(err, errlen, "cannot hash the TLS configuration");
        return NULL;
    }
    int i = cache_find(tc, digest);
    if (i >= 0) {
        cache_recheck(tc, i, t, now);
    } else {
        struct http_tls_entry *x = entry_build(tc, t, digest, now, err, errlen);
        if (!x)
            return NULL;
        i = cache_victim(tc);
        http_tls_entry_release(tc->slots[i]);
        tc->slots[i] = x;
    }
    tc->used[i] = ++tc->clock;
    tc->slots[i]->refs++;
    return tc->slots[i];
}

/* ---- curl options --------------------------------------------------------------------- */

static void set_blob(CURL *e, CURLoption opt, const char *data, size_t len)
{
    struct curl_blob b = {.data = (void *)data, .len = len, .flags = CURL_BLOB_COPY};
    curl_easy_setopt(e, opt, &b);
}

/* The material as curl options, parsed by curl for every connection: only for a curl
 * whose TLS backend is not our OpenSSL. */
static void apply_options(CURL *e, const struct http_tls *t)
{
    if (t->ca_pem && t->ca_pem_len)
        set_blob(e, CURLOPT_CAINFO_BLOB, t->ca_pem, t->ca_pem_len);
    else if (t->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
    if (t->cert_pem && t->cert_pem_len) {
        set_blob(e, CURLOPT_SSLCERT_BLOB, t->cert_pem, t->cert_pem_len);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (t->cert_file) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert_file);
    }
    if (t->key_pem && t->key_pem_len) {
        set_blob(e, CURLOPT_SSLKEY_BLOB, t->key_pem, t->key_pem_len);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (t->key_file) {
        curl_easy_setopt(e, CURLOPT_SSLKEY, t->key_file);
    }
}

/* Per new connection, before curl uses the SSL_CTX. */
static CURLcode ssl_ctx_cb(CURL *e, void *ssl_ctx, void *ud)
{
    (void)e;
    struct http_tls_use *u = ud;
    if (u->err[0])
        return CURLE_SSL_CERTPROBLEM; /* the material did not load: u->err says why */
    if (http_tls_entry_install(u->entry, ssl_ctx) < 0) {
        snprintf(u->err, sizeof(u->err), "out of memory installing the TLS material");
        return CURLE_SSL_CERTPROBLEM;
    }
    return CURLE_OK;
}

void http_tls_apply(struct http_tls_cache *tc, CURL *e, const struct http_tls *t,
                    struct http_tls_use *u)
{
    if (t && t->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!tc->shared || curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb) != CURLE_OK) {
        if (t)
            apply_options(e, t);
        return;
    }
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, u);
    if (!http_tls_wants_entry(t))
        return; /* curl's own CA defaults; the callback only sets the buffer mode */
    u->entry = http_tls_cache_get(tc, t, kp_mono_now(), u->err, sizeof(u->err));
    curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
    curl_easy_setopt(e, CURLOPT_CAPATH, u->entry ? http_tls_entry_name(u->entry) : NULL);
#if LIBCURL_VERSION_NUM >= 0x075700
    curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 0L); /* its cached store would replace ours */
#endif
}

/* ---- a connection's record buffers ------------------------------------------------ */

/* SSL_MODE_RELEASE_BUFFERS gives the read buffer back only when an SSL_read consumed the
 * last record; curl reads until SSL_read says WANT_READ, which sets up a new buffer first,
 * so every kept connection held ~17 KB while idle: a megabyte per hundred kubelets. After
 * a request, SSL_free_buffers gives it back (it declines when data is pending). curl does
 * not say whether it kept or closed the connection, so the request marks the SSL (ex_data)
 * and OpenSSL's free callback clears the request's pointer when the SSL goes first. */
static int use_index = -1;
static unsigned long buffers_released;

static void on_ssl_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (ptr)
        ((struct http_tls_use *)ptr)->ssl = NULL;
}

void http_tls_use_track_ssl(struct http_tls_use *u, void *ssl)
{
    if (!ssl || u->ssl)
        return;
    if (use_index < 0 && (use_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, on_ssl_free)) < 0) {
        ERR_clear_error();
        return;
    }
    /* a request still marked on this connection is over: it must not touch it again */
    struct http_tls_use *prev = SSL_get_ex_data(ssl, use_index);
    if (prev)
        prev->ssl = NULL;
    if (SSL_set_ex_data(ssl, use_index, u) != 1) {
        ERR_clear_error();
        return;
    }
    u->ssl = ssl;
}

void http_tls_use_track(struct http_tls_cache *tc, CURL *e, struct http_tls_use *u)
{
    struct curl_tlssessioninfo *info = NULL;
    if (u->tracked || !tc->shared)
        return;
    u->tracked = true;
    if (curl_easy_getinfo(e, CURLINFO_TLS_SSL_PTR, &info) == CURLE_OK && info &&
        info->backend == CURLSSLBACKEND_OPENSSL)
        http_tls_use_track_ssl(u, info->internals);
}

unsigned long http_tls_buffers_released(void)
{
    return buffers_released;
}

void http_tls_use_fini(struct http_tls_use *u)
{
    if (u->ssl) {
        SSL_set_ex_data(u->ssl, use_index, NULL);
        if (SSL_free_buffers(u->ssl) == 1)
            buffers_released++;
        u->ssl = NULL;
    }
    u->tracked = false;
    http_tls_entry_release(u->entry);
    u->entry = NULL;
    u->err[0] = '\0';
}
