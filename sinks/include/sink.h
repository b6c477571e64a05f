/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sink.h - where a cycle's points go: InfluxDB 1.x (influxdb:), InfluxDB 2.x / 1.8's v2 API
 * (influxdb2:) and stdout (log). One small interface for all of them:
 *
 *     struct sink *s;
 *     if (sink_open("influxdb:http://influx:8086?db=k8s", &env, &s, err, sizeof err) < 0) ...
 *     sink_write(s, &batch);               // encodes now, never blocks, keeps nothing of batch
 *     sink_flush(s, deadline, done, ud);   // deliver everything buffered, give up at deadline
 *     sink_free(s);
 *
 * A sink sends only while its gate (sink_env.may_send) is open: the daemon opens it while
 * this replica leads. A leader that loses its Lease sends nothing more; what it had buffered
 * waits, and goes out if it leads again.
 *
 * Delivery runs on the libev loop in env: bounded buffer (drop-oldest when full, counted by
 * reason), batches of at most batch_lines lines, gzip, at most `concurrency` requests in
 * flight, retries with exponential backoff and jitter. Nothing is lost silently: every point
 * handed to sink_write ends up counted as written, buffered or dropped (by reason).
 * Everything runs on the loop's thread.
 */
#ifndef KP_SINK_H
#define KP_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "metric.h"
#include "stats.h"

struct ev_loop;
struct http_client;
struct sink;

/* Whether the sink may send now. */
typedef bool (*sink_gate_fn)(void *ud);

/* What every sink gets from the daemon (flags --sink-*), all borrowed for the sink's life. */
struct sink_env {
    struct ev_loop *loop;     /* the daemon's loop */
    struct http_client *http; /* shared HTTP client on that loop */
    const char *identity;     /* this replica, in User-Agent: kubepulse/VERSION (identity=ID) */
    const char *version;      /* kubepulse version */
    long batch_lines;         /* --sink-batch-lines: most lines in one request */
    const char *buffer_size;  /* --sink-buffer-size: "256Mi" bytes or "2000000points" */
    double timeout_s;         /* --sink-timeout: one write request */
    long concurrency;         /* --sink-concurrency: requests in flight (URI may override) */
    FILE *out;                /* the log sink's stream; NULL: stdout */
    sink_gate_fn may_send;    /* NULL: always; asked before every request */
    void *gate_ud;
};

enum sink_drop_reason {
    SINK_DROP_BUFFER_FULL, /* the bound was reached: the oldest points went */
    SINK_DROP_REJECTED,    /* the server refused them (400: parse error, type conflict) */
    SINK_DROP_TOO_LARGE,   /* a single line the server refuses as too large (413) */
    SINK_DROP_NONFINITE,   /* NaN or infinite float values */
    SINK_DROP_INVALID,     /* a point naming a series or metric that does not exist */
    SINK_DROP_SHUTDOWN,    /* still buffered when the sink was freed */
    SINK_DROP__COUNT
};
/* "buffer_full", "rejected", "too_large", "nonfinite", "invalid", "shutdown". */
const char *sink_drop_reason_name(enum sink_drop_reason r);

struct sink_stats {
    uint64_t points_written;                   /* acknowledged by the server */
    uint64_t points_buffered;                  /* waiting or in flight now */
    uint64_t points_dropped[SINK_DROP__COUNT]; /* by reason */
    uint64_t points_filtered;                  /* not wanted (disable_counter_metrics) */
    uint64_t points_rejected;                  /* = points_dropped[SINK_DROP_REJECTED] */
    uint64_t lines_written;
    uint64_t bytes_written;  /* line-protocol bytes acknowledged (before gzip) */
    uint64_t bytes_sent;     /* request bodies sent (after gzip), retries included */
    uint64_t bytes_buffered; /* memory held against the bound now */
    uint64_t buffer_bound;   /* the bound, in bytes or points (buffer_bound_points) */
    bool buffer_bound_points;
    uint64_t requests;             /* write requests completed (any outcome) */
    uint64_t failures;             /* of which not 2xx */
    uint64_t retries;              /* requests re-sent */
    uint64_t auth_failures;        /* 401/403 */
    uint64_t not_found;            /* 404: database/bucket missing */
    long last_status;              /* HTTP status of the last write, 0 for none/network error */
    double last_latency_s;         /* of the last completed write */
    struct kp_hist write_duration; /* every completed write request, seconds */
    bool held;                     /* the gate is closed and points wait behind it */
};

/* done_cb's status: 0 when everything buffered was delivered (or dropped and counted),
 * SINK_FLUSH_TIMEOUT when the deadline came first, SINK_FLUSH_HELD when the gate is closed
 * (in both cases the rest stays buffered). */
#define SINK_FLUSH_TIMEOUT (-1)
#define SINK_FLUSH_HELD    (-2)
typedef void (*sink_flush_fn)(struct sink *s, int status, void *ud);

/*
 * Open a sink from a --sink URI. Fails (negative, err filled) on an unknown prefix, an
 * unknown or malformed option (named), or an unreadable secret file. Network work (database
 * creation) starts asynchronously on the loop; sink_open never blocks on the network.
 */
int sink_open(const char *uri, const struct sink_env *env, struct sink **out, char *err,
              size_t errlen);
/* Everything sink_open checks before it touches anything outside: the prefix, every option
 * (known, well-typed, in bounds) and the rules between them. For flag time. */
int sink_check(const char *uri, char *err, size_t errlen);
/* Each sink type's URI options with their defaults, for --help. */
void sink_print_options(FILE *out);

/* Encode a batch into the buffer. Never blocks; the batch is not retained. Returns 0, or
 * negative with err filled only when out of memory (points counted as dropped). */
int sink_write(struct sink *s, const struct kp_batch *b, char *err, size_t errlen);

/* Deliver everything buffered; done_cb(s, status, ud) once, when done or at deadline_s
 * (ev_now() based, absolute). It may run before sink_flush returns when nothing is pending.
 * A second flush replaces the first (whose done_cb is then not called). */
void sink_flush(struct sink *s, double deadline_s, sink_flush_fn done_cb, void *ud);

/* The gate's answer may have changed. Closed: requests in flight are cancelled and their
 * points wait in the buffer again (the server may have taken some of them already; sending
 * them again later writes the same points, same series and times). Open: delivery resumes. */
void sink_gate_changed(struct sink *s);

void sink_get_stats(const struct sink *s, struct sink_stats *st);
/* How /metrics and /status show struct sink_stats (stats.h); samples are labelled sink="NAME". */
extern const struct stat_desc sink_stat_descs[];
extern const size_t sink_stat_ndescs;
/* The sink's name for logs and status: "influxdb:http://HOST:8086/k8s" (no secrets). */
const char *sink_name(const struct sink *s);

/* Cancels requests in flight; counts what was still buffered as dropped (shutdown). */
void sink_free(struct sink *s);

/* Pure helpers, exported for tests. */
/* A size in bytes as kp_parse_size reads it ("256Mi", "1G", "1000000") or a count of points
 * ("2000000points"); -1 on a bad value or zero. */
int sink_parse_buffer_size(const char *s, uint64_t *bound, bool *points);

#endif
