/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_tls.h - internal to the HTTP client (http.c): TLS material prepared once
 * per distinct struct http_tls and shared by every connection that uses it, and
 * the TLS options of each curl easy handle. See http_tls.c for what is cached,
 * for how long, and why.
 */
#ifndef KP_HTTP_TLS_H
#define KP_HTTP_TLS_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "http.h"

#define HTTP_TLS_CACHE_MAX 8    /* distinct configurations kept prepared */
#define HTTP_TLS_RECHECK_S 60.0 /* how often a file-based entry is compared with the disk */

struct http_tls_cache;
struct http_tls_entry;

/* What one request holds: set by http_tls_apply, freed by http_tls_use_fini. Lives in the
 * request (its address is curl's CURLOPT_SSL_CTX_DATA). Zeroed is empty. */
struct http_tls_use {
    struct http_tls_entry *entry; /* owned reference, or NULL */
    void *ssl;     /* borrowed: the connection's SSL (http_tls_use_track); NULL once freed */
    bool tracked;  /* http_tls_use_track looked for it */
    char err[256]; /* why the material did not load; "" when it did */
};

/* One per http_client. Knows curl's built-in CA locations (for a client certificate
 * without a CA) and whether curl runs on the OpenSSL we link; if not, http_tls_apply
 * hands the material to curl as options, as before. NULL: out of memory. */
struct http_tls_cache *http_tls_cache_new(void);
/* Drops the cache's references; entries still held by requests live until released. */
void http_tls_cache_free(struct http_tls_cache *tc);
size_t http_tls_cache_size(const struct http_tls_cache *tc);

/* The TLS options of easy handle e for configuration t (NULL: curl's defaults). A
 * configuration whose material does not load fails the transfer at the TLS step
 * (HTTP_ERR_TLS) with u->err as the message. */
void http_tls_apply(struct http_tls_cache *tc, CURL *e, const struct http_tls *t,
                    struct http_tls_use *u);
/* Called once the response has begun (from curl's header callback): remembers the SSL of the
 * transfer's connection, so that http_tls_use_fini can give back its record buffers. Looks
 * once per request; does nothing when curl does not run on our OpenSSL or over plain HTTP. */
void http_tls_use_track(struct http_tls_cache *tc, CURL *e, struct http_tls_use *u);
/* Drops the entry reference; when a tracked connection is still open (kept for reuse), frees
 * its TLS record buffers (SSL_free_buffers: ~17 KB of read buffer that OpenSSL keeps after
 * curl's last SSL_read ended in WANT_READ; SSL_MODE_RELEASE_BUFFERS does not cover that
 * case). Call it after curl has let go of the transfer (curl_multi_remove_handle). */
void http_tls_use_fini(struct http_tls_use *u);

/* ---- the pieces, for tests ---- */

/* Whether t needs prepared material: a CA to verify against or a client certificate. */
bool http_tls_wants_entry(const struct http_tls *t);

/* The prepared entry for t's content (a new reference: release it), built on first use and
 * rebuilt when a file it was read from has changed (checked at most every
 * HTTP_TLS_RECHECK_S of now, a monotonic time). NULL with err filled when the material
 * cannot be loaded; err never holds key material. */
struct http_tls_entry *http_tls_cache_get(struct http_tls_cache *tc, const struct http_tls *t,
                                          double now, char *err, size_t errlen);
void http_tls_entry_release(struct http_tls_entry *x); /* NULL is a no-op */

/* A name unique to this entry's content, for curl's CURLOPT_CAPATH: curl compares it when
 * it matches a request to a kept connection or a cached TLS session, so a connection made
 * with one certificate or CA is never reused for another. It names no directory
 * ("/dev/null/..."), and the store curl adds it to is the entry's, where it finds nothing. */
const char *http_tls_entry_name(const struct http_tls_entry *x);
/* http_tls_use_track's step once the SSL is known (ssl: an SSL, or NULL); the test's door. */
void http_tls_use_track_ssl(struct http_tls_use *u, void *ssl);
/* Record buffers given back by http_tls_use_fini in this process, for tests. */
unsigned long http_tls_buffers_released(void);

/* Per connection, from CURLOPT_SSL_CTX_FUNCTION: share x's store, certificate and key into
 * ssl_ctx (an SSL_CTX) and set SSL_MODE_RELEASE_BUFFERS. x may be NULL (only the mode).
 * Returns 0, or -1 (out of memory). */
int http_tls_entry_install(const struct http_tls_entry *x, void *ssl_ctx);

#endif
