/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.h - asynchronous HTTP(S) client on curl's multi-socket API, driven by
 * one libev loop (the pattern of curl's evhiperfifo example).
 *
 * One struct http_client per loop owns the CURLM handle, its socket and timer
 * watchers and curl's connection cache, so connections to the same host are
 * reused across requests and across scrape cycles. A request either streams
 * its body to on_data as bytes arrive (kubelet Summary, watch streams) or is
 * collected up to max_body and handed to on_done (small API calls).
 *
 * TLS is verified by default. Material may be given as files or PEM blobs; it
 * is parsed once per distinct configuration (keyed by content, so a copy of a
 * struct http_tls finds the same material) and shared by every connection.
 * Files are compared with the disk at most once a minute and loaded again
 * when they changed (src/http_tls.c).
 * server_name (kubeconfig's tls-server-name) is implemented by rewriting the
 * URL's host to that name and pinning the real address with CURLOPT_CONNECT_TO,
 * so SNI and certificate verification use server_name while the TCP connection
 * (and the Host header) still go to the URL's host.
 *
 * Re-entrancy: http_request_start and http_request_cancel may be called from
 * inside on_data and on_done (of any request). http_client_free may not.
 * Everything runs on the loop's thread; nothing blocks.
 */
#ifndef KP_HTTP_H
#define KP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct http_client;
struct http_request;

struct http_tls {
    const char *ca_file; /* borrowed; NULL: system CAs unless ca_pem */
    const char *ca_pem;  /* borrowed PEM blob, ca_pem_len bytes */
    size_t ca_pem_len;
    const char *cert_file; /* client certificate (PEM), or cert_pem */
    const char *cert_pem;
    size_t cert_pem_len;
    const char *key_file; /* client key (PEM), or key_pem */
    const char *key_pem;
    size_t key_pem_len;
    const char *server_name; /* verify the certificate against this name */
    bool insecure;           /* skip verification: callers log a warning */
};

#define HTTP_MAX_SHARDS 256

struct http_client_opts {
    long max_total_connections;  /* 0: unlimited; needs shards <= 1 */
    long max_host_connections;   /* 0: unlimited (per host, so per shard is the same) */
    long max_cached_connections; /* curl's connection cache of each shard; 0: curl's default */
    long shards;                 /* curl multi handles to spread hosts over; 0 or 1: one */
    const char *user_agent;      /* borrowed, copied */
};

/* What happened to a request. Valid only during the on_done call. */
struct http_result {
    int error;             /* 0, or an HTTP_ERR_* below */
    const char *error_msg; /* human-readable detail when error != 0 */
    long status;           /* HTTP status, 0 if none was received */
    const char *body;      /* collected body (NUL-terminated) when no on_data */
    size_t body_len;
    size_t bytes_received; /* body bytes, streamed or collected */
    double retry_after_s;  /* parsed Retry-After header, or -1 */
    double total_time_s;
};

enum http_error {
    HTTP_OK = 0,
    HTTP_ERR_CONNECT = 1, /* refused, unreachable, DNS */
    HTTP_ERR_TIMEOUT = 2,
    HTTP_ERR_TLS = 3,       /* handshake or verification failure */
    HTTP_ERR_TOO_LARGE = 4, /* body exceeded max_body */
    HTTP_ERR_ABORTED = 5,   /* on_data returned < 0 */
    HTTP_ERR_IO = 6,        /* connection reset, truncated, other transport error */
};
const char *http_error_name(int error); /* "connect", "timeout", "tls", ... */

/* Return < 0 to abort the transfer (result error HTTP_ERR_ABORTED). */
typedef int (*http_data_fn)(const char *data, size_t len, void *ud);
/* Called once per request, unless cancelled. The request is freed after it returns. */
typedef void (*http_done_fn)(const struct http_result *res, void *ud);

struct http_request_opts {
    const char *method;         /* "GET" when NULL */
    const char *url;            /* borrowed, copied */
    const char *const *headers; /* NULL-terminated "Name: value" list, copied */
    const char *body;           /* borrowed: must stay valid until on_done */
    size_t body_len;
    const struct http_tls *tls; /* borrowed, read at start; NULL: defaults */
    long timeout_ms;            /* whole transfer; 0: none */
    long connect_timeout_ms;    /* 0: curl's default */
    long low_speed_time_s;      /* abort if < low_speed_limit B/s for this long; 0: off */
    long low_speed_limit;
    size_t max_body;      /* 0: unlimited */
    http_data_fn on_data; /* NULL: collect the body */
    http_done_fn on_done;
    void *ud;
};

struct http_client *http_client_new(struct ev_loop *loop, const struct http_client_opts *opts,
                                    char *err, size_t errlen);
/* Cancels every request still in flight (their on_done is not called). */
void http_client_free(struct http_client *c);

/* Starts a request; NULL with err filled on a bad option. */
struct http_request *http_request_start(struct http_client *c, const struct http_request_opts *opts,
                                        char *err, size_t errlen);
/* Cancels a request in flight; its on_done is not called. NULL is a no-op. */
void http_request_cancel(struct http_request *r);

size_t http_client_in_flight(const struct http_client *c);

/* Resize curl's connection cache (idle connections kept for reuse). A scraper that
 * visits every node once per cycle needs room for all of them, or the cache, evicting
 * the oldest, never hits. */
void http_client_set_max_cached(struct http_client *c, long n);

/* HTTP status of the response being received (0 before the status line): for
 * on_data, to tell an error body from a stream. */
long http_request_status(const struct http_request *r);

/* Parse a Retry-After value: delay-seconds or an HTTP-date (relative to now,
 * a wall-clock time). Returns seconds >= 0, or -1 when unparseable. */
double http_parse_retry_after(const char *value, long now);

#endif
