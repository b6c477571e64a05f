/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status.h - a tiny HTTP/1.1 server on the libev loop for /healthz, /readyz,
 * /metrics and /status. It knows no routes: one handler renders every GET.
 *
 * Each connection answers one request and closes. Requests are bounded in
 * size (8 KiB of head) and time (5 s for the head, 5 s for the answer), and
 * connections in number (a quarter of RLIMIT_NOFILE, at most 4096; the oldest
 * is shed for a new one), so a misbehaving client can neither hold memory nor
 * fds nor stall the loop, nor keep a probe from being answered.
 */
#ifndef KP_STATUS_H
#define KP_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct ev_loop;
struct status_server;

/* A growable response body; append with status_buf_printf / status_buf_append. */
struct status_buf {
    char *data; /* owned */
    size_t len, cap;
    int failed; /* an allocation failed: the response becomes a 500 */
};
void status_buf_append(struct status_buf *b, const char *s, size_t n);
void status_buf_printf(struct status_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prometheus text format (0.0.4): "# HELP" and "# TYPE" lines, then samples. */
void status_prom_family(struct status_buf *b, const char *name, const char *type, const char *help);
/* One sample; label_pairs is NULL or a NULL-terminated list of key, value, key, value...
 * Values are escaped as the format requires. */
void status_prom_sample(struct status_buf *b, const char *name, const char *const *label_pairs,
                        double value);

struct status_response {
    const char *query;        /* in: the request's query string after '?', or NULL */
    int code;                 /* 200, 404, 503 ... */
    const char *content_type; /* borrowed static string */
    struct status_buf body;
};

/* Fill resp for GET path (query string removed). code defaults to 404. */
typedef void (*status_handler_fn)(const char *path, struct status_response *resp, void *ud);

/* listen is "HOST:PORT", ":PORT" (all addresses) or "[::1]:PORT". */
struct status_server *status_server_new(struct ev_loop *loop, const char *listen,
                                        status_handler_fn handler, void *ud, char *err,
                                        size_t errlen);
/* The port actually bound (useful with ":0"). */
int status_server_port(const struct status_server *s);

struct status_limits {
    int max_conns;          /* connections open at once; a new one sheds the oldest */
    double head_timeout_s;  /* from accept to a complete request head */
    double write_timeout_s; /* from the request to the answer's last byte sent */
    size_t head_max;        /* request head bytes; more is a 431 */
};
/* Change the bounds (tests); they apply to connections accepted from now on. */
void status_server_set_limits(struct status_server *s, const struct status_limits *l);
void status_server_get_limits(const struct status_server *s, struct status_limits *l);

struct status_server_stats {
    uint64_t open, max_conns;
    uint64_t accepted, requests;
    uint64_t shed;      /* closed to make room for a newer connection */
    uint64_t timed_out; /* closed at a head or answer deadline */
    uint64_t too_large; /* answered 431 */
};
void status_server_get_stats(const struct status_server *s, struct status_server_stats *st);
/* How /metrics shows struct status_server_stats (stats.h). */
extern const struct stat_desc status_stat_descs[];
extern const size_t status_stat_ndescs;
void status_server_free(struct status_server *s);

#endif
