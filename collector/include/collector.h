/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector.h - kubepulse's metric collector: Node/Pod caches kept warm by
 * list+watch (always), and, while leading, a scrape cycle on wall-clock
 * multiples of the resolution (the grid, sched.c) that fetches every kubelet's Summary
 * concurrently, parses it as it streams in and hands Heapster-model points
 * to a sink callback, one batch per Summary element as soon as it is decoded:
 * a node's system containers, each of its pods (with its containers,
 * filesystems and volumes), then the node's own series once its response
 * completed; then one batch of namespace and cluster points at cycle end. A
 * response that fails midway keeps the pods it already wrote; its node's own
 * series are not written (model.h).
 */
#ifndef KP_COLLECTOR_H
#define KP_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "metric.h"
#include "stats.h"

struct ev_loop;
struct http_client;
struct kube_client;

/* Clocks, injectable for tests. NULL members use the system clocks. */
struct collector_clock {
    double (*mono_now)(void *ud); /* seconds on a monotonic clock: durations */
    double (*wall_now)(void *ud); /* seconds since the epoch: the grid and the points' time */
    void *ud;
};

struct collector_opts {
    double resolution_s;                 /* --metric-resolution; required, > 0 */
    const char *preferred_address_types; /* borrowed, copied; NULL: Heapster's order */
    long kubelet_port;                   /* default 10250 */
    bool kubelet_port_fixed;             /* every node on kubelet_port, not its own */
    const char *kubelet_ca_file;         /* borrowed, copied; NULL: the cluster CA */
    bool kubelet_insecure_tls;           /* logs a warning */
    double kubelet_timeout_s;            /* per scrape; default 10 */
    long max_concurrency;                /* scrapes in flight; 0: unlimited */
    long long max_body_bytes;            /* per Summary; 0: 64 MiB */
    const char *kubelet_scheme;          /* "https" (default) or "http" (tests) */
    const char *kubelet_token_file;      /* borrowed, copied; NULL: the API token */
    bool skip_pod_watch;                 /* --watch-pods=false: no labels/requests */
    /* Heapster's --label_separator, --ignore_label, --store_label ("name", "newName=name") */
    const char *label_separator;      /* borrowed, copied; NULL: "," */
    const char *const *ignore_labels; /* borrowed, copied */
    size_t nignore_labels;
    const char *const *store_labels; /* borrowed, copied; at most 4 tags fit a series */
    size_t nstore_labels;
    struct collector_clock clock;
    /* Scope (borrowed; NULL or "": everything). Comma-separated names or fnmatch patterns. */
    const char *metric_allow, *metric_deny;            /* metric names or patterns */
    const char *namespace_include, *namespace_exclude; /* pods (and their ns) written */
    const char *node_selector; /* label selector of the nodes scraped (node LIST/WATCH) */
};

/* The scope options' checks, as the flags are parsed. One list of metric names or patterns
 * (each must match a metric), one of namespace names or patterns: 0, or -1 with a message
 * that leaves the flag's name to the caller (kp_opt_check_fn). */
int collector_check_metrics(const char *list, char *err, size_t errlen);
int collector_check_namespaces(const char *list, char *err, size_t errlen);
/* All of o's scope options together (each list, the node selector, and that the metric lists
 * leave a metric to write): 0, or -1 with a message naming the flag. */
int collector_scope_check(const struct collector_opts *o, char *err, size_t errlen);

struct collector_sink {
    /* A batch of points; valid only during the call. */
    void (*write)(const struct kp_batch *b, void *ud);
    /* A cycle ended (every node done, failed or timed out). */
    void (*cycle_done)(int64_t cycle_ts_ns, void *ud);
    void *ud;
};

enum collector_fail {
    COLLECTOR_FAIL_CONNECT,
    COLLECTOR_FAIL_TIMEOUT,
    COLLECTOR_FAIL_TLS,
    COLLECTOR_FAIL_HTTP,
    COLLECTOR_FAIL_TOO_LARGE,
    COLLECTOR_FAIL_MALFORMED,
    COLLECTOR_FAIL_IO,
    COLLECTOR_FAIL_NO_ADDRESS,
    COLLECTOR_FAIL__COUNT
};
const char *collector_fail_name(enum collector_fail f);

struct collector_stats {
    uint64_t cycles, cycles_skipped;
    double last_cycle_s;
    struct kp_hist cycle_duration;  /* whole cycles, seconds */
    struct kp_hist scrape_duration; /* each kubelet request, any outcome, seconds */
    uint64_t nodes_scraped, nodes_failed[COLLECTOR_FAIL__COUNT];
    uint64_t bytes_received, points, parse_type_errors, parse_negatives;
    uint64_t nodes_cached, pods_cached, rate_series;
    uint64_t last_cycle_points; /* points of the last completed cycle */
};
/* How /metrics and /status show struct collector_stats (stats.h). */
extern const struct stat_desc collector_stat_descs[];
extern const size_t collector_stat_ndescs;

struct collector;
struct collector *collector_new(struct ev_loop *loop, struct http_client *http,
                                struct kube_client *kube, const struct collector_opts *opts,
                                const struct collector_sink *sink, char *err, size_t errlen);
/* On: cycles run on the resolution grid. released: the time (collector_wall)
 * the previous holder's release of the Lease was observed, or < 0. The first
 * cycle starts on the next tick after a release in the current interval (the
 * previous holder completed it), else as soon as the caches have listed,
 * unless the next tick is within 1 s (sched_lead). Off: the cycle in flight is
 * cancelled and nothing more is emitted. */
void collector_set_leading(struct collector *c, bool leading, double released);
/* The wall clock the grid runs on (collector_opts.clock, else the system's): seconds
 * since the epoch. */
double collector_wall(const struct collector *c);
/* At shutdown: the current interval's cycle runs, or its tick is due; releasing
 * the Lease now would lose that interval. */
bool collector_cycle_due(const struct collector *c);
/* The resolution grid, the one formula for it: the grid time of the interval wall (seconds
 * since the epoch) falls in, the largest multiple of resolution_s at or before it. Every
 * point of a cycle carries the grid time of the tick it started on. */
double collector_grid(double resolution_s, double wall);
/* Start what is due on the clock now (the loop's timer calls this; tests with
 * an injected clock and no loop call it themselves). Returns the wall time of
 * the next tick while leading, else -1. */
double collector_run_timers(struct collector *c);
/* Node and pod caches have completed their first list. */
bool collector_ready(const struct collector *c);
/* A scrape cycle has started and not ended yet (its cycle_done is still to come). */
bool collector_in_cycle(const struct collector *c);
void collector_get_stats(const struct collector *c, struct collector_stats *out);
void collector_free(struct collector *c);

#endif
