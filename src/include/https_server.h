/* SPDX-License-Identifier: Apache-2.0 */
/*
 * https_server.h - an HTTPS/1.1 server on the libev loop (OpenSSL) for the
 * aggregated metrics API: one request per connection, answered by a handler
 * that may answer later (after a TokenReview, say), bounded in connections,
 * head size and time. The serving certificate and key are files re-read when
 * they change on disk (a Secret's update), without a restart; a change that
 * does not load keeps the previous pair and is logged.
 *
 * Client certificates are requested, never required: the TLS layer accepts
 * any, and the handler gets the peer's certificate and chain to verify
 * against a CA it chooses (the front-proxy CA can change at run time).
 */
#ifndef KP_HTTPS_SERVER_H
#define KP_HTTPS_SERVER_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;

#define HTTPS_MAX_HEADERS 64

struct https_header {
    const char *name, *value; /* borrowed, in the request's head buffer */
};

/* A parsed request head. */
struct https_head {
    const char *method, *target; /* borrowed */
    struct https_header headers[HTTPS_MAX_HEADERS];
    size_t nheaders;
};

/* Parse the head buf[0..len) (ending in the blank line) in place: NULs are written into
 * buf. 0, or an HTTP status to answer (400, 431, 501, 505). A request with a body is
 * refused (411/413 as 400): the API has only GETs. */
int https_head_parse(char *buf, size_t len, struct https_head *out);
/* The first header named name (case-insensitive), or NULL. */
const char *https_head_get(const struct https_head *h, const char *name);

struct https_request {
    struct https_head head;
    X509 *peer;                  /* borrowed: the client's certificate, or NULL */
    STACK_OF(X509) * peer_chain; /* borrowed: as sent (may include peer), or NULL */
    char remote[64];             /* "ip:port" for logs */
};

/* Called once per request. Answer with https_respond, now or later; the request stays
 * valid until then (even when the client went away). */
typedef void (*https_handler_fn)(struct https_request *req, void *ud);
/* Send the answer and release req. body is copied. */
void https_respond(struct https_request *req, int code, const char *content_type, const char *body,
                   size_t len);

struct https_server_opts {
    const char *listen;               /* "HOST:PORT", ":PORT", "[::1]:PORT" */
    const char *cert_file, *key_file; /* PEM; the certificate file may hold the chain */
    double reload_check_s;            /* how often the files are compared; 0: 10 s */
    int max_conns;                    /* 0: 1024 */
    double timeout_s;                 /* handshake + head; 0: 10 s. The answer: 60 s */
};

struct https_server;
struct https_server *https_server_new(struct ev_loop *loop, const struct https_server_opts *o,
                                      https_handler_fn handler, void *ud, char *err, size_t errlen);
int https_server_port(const struct https_server *s);

struct https_server_stats {
    uint64_t accepted, requests, handshake_failed, timed_out, shed, cert_reloads,
        cert_reload_failed;
    int open;
};
void https_server_get_stats(const struct https_server *s, struct https_server_stats *st);
/* Requests still waiting for their handler are released without an answer. */
void https_server_free(struct https_server *s);

#endif
