/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metricsapi.h - the resource metrics API (metrics.k8s.io/v1beta1) that
 * `kubectl top` and the HorizontalPodAutoscaler read, served from the
 * leader's scrape cycles.
 *
 * The store keeps, per node and per container, the last two samples of the
 * cumulative CPU usage and the memory working set, chosen by metrics-server's
 * rules (pkg/storage), and computes usage and timestamp/window from them as
 * metrics-server does. It is fed the same batches the sinks get; a cycle's
 * batches become visible together when the cycle ends.
 *
 * The request side (mapi_handle) renders discovery, NodeMetrics and
 * PodMetrics (list and get, label and field selectors) and the OpenAPI
 * documents as JSON. It knows no sockets and no authentication: the caller
 * serves it over HTTPS after authorizing the request.
 */
#ifndef KP_METRICSAPI_H
#define KP_METRICSAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metric.h"
#include "stats.h"

struct mapi_store;

/* resolution_s: the scrape period (metrics-server's --metric-resolution), used by its rule
 * for containers younger than one period. */
struct mapi_store *mapi_store_new(double resolution_s);
void mapi_store_free(struct mapi_store *s);
/* A batch of the cycle in progress (node and pod_container series are used). Returns 0, or
 * -1 when out of memory (the cycle is then dropped at commit). */
int mapi_store_add_batch(struct mapi_store *s, const struct kp_batch *b);
/* The cycle ended: its samples replace the served ones. */
void mapi_store_commit(struct mapi_store *s);
/* The cycle was cancelled (leadership lost): forget what it added. */
void mapi_store_discard(struct mapi_store *s);
/* Nodes and pods whose usage can be served now (both have two samples). */
size_t mapi_store_node_count(const struct mapi_store *s);
size_t mapi_store_pod_count(const struct mapi_store *s);

/* The samples served now, as JSON for a follower (mapi_store_import): malloc'd, *len set;
 * NULL when out of memory. Every sample travels, so a follower that takes over computes
 * the next interval from the previous leader's last samples. */
char *mapi_store_export(const struct mapi_store *s, size_t *len);
/* Replace the served samples by an export (a follower's copy of the leader's); the cycle in
 * progress, if any, is dropped. Bounded: MAPI_IMPORT_MAX bytes, names and labels as the
 * API allows. 0, or -1 with err filled (nothing changes). */
#define MAPI_IMPORT_MAX (512u << 20)
int mapi_store_import(struct mapi_store *s, const char *json, size_t len, char *err, size_t errlen);

/* One usage value as metrics-server computes it. */
struct mapi_usage {
    int64_t ts_ns;      /* the last sample's time (CPU's) */
    int64_t window_ns;  /* last - previous sample time */
    uint64_t cpu_nano;  /* nanocores over the window */
    uint64_t mem_bytes; /* working set at ts_ns */
};
/* Usage of one node; 0, or -1 when unknown or not computable (a counter went back). */
int mapi_store_node_usage(const struct mapi_store *s, const char *node, struct mapi_usage *out);
/* Usage of one container; the same contract. */
int mapi_store_container_usage(const struct mapi_store *s, const char *ns, const char *pod,
                               const char *container, struct mapi_usage *out);

/* ---- requests ------------------------------------------------------------ */

struct mapi_response {
    int code;
    const char *content_type; /* static */
    char *body;               /* owned by the caller after mapi_handle: free() */
    size_t len;
};

/* What a request does, for authorization (a SubjectAccessReview's attributes). */
struct mapi_attrs {
    bool resource;    /* a NodeMetrics/PodMetrics request; else a non-resource path */
    const char *verb; /* "get", "list"; other methods: their lower-case name */
    const char *kind; /* "nodes" or "pods" */
    char ns[254], name[254];
    char path[1024]; /* the non-resource path (no query) */
};
/* 0, or -1 when the target does not parse (mapi_handle answers it 400). */
int mapi_request_attrs(const char *method, const char *target, struct mapi_attrs *out);
/* A Status body for code (401, 403, 503 ...) with message: malloc'd JSON in resp. */
void mapi_status(struct mapi_response *resp, int code, const char *message);

/* Answer GET target (path and query, still percent-encoded). now_ns stamps the objects'
 * creationTimestamp, as metrics-server does. Always fills resp (an error is a Status). */
void mapi_handle(const struct mapi_store *s, const char *method, const char *target, int64_t now_ns,
                 struct mapi_response *resp);

/* ---- Heapster's model API (window.c) ------------------------------------ */

/* Bound of the window: points of every ring together (16 bytes each). */
#define MAPI_WINDOW_MAX_POINTS (8u << 20)
/* On demand, the window stops recording and frees what it holds after this long without a
 * model API request: its long span (15 minutes), so that a client that polls at least that
 * often always finds the span it asks for. */
#define MAPI_WINDOW_IDLE_NS (900LL * 1000000000LL)

enum mapi_window_mode {
    MAPI_WINDOW_ON_DEMAND, /* records from the first request until MAPI_WINDOW_IDLE_NS after
                            * the last one */
    MAPI_WINDOW_ALWAYS,    /* Heapster's: records from the start */
};

struct mapi_window_opts {
    double resolution_s;
    enum mapi_window_mode mode;
    int64_t (*mono_ns)(void *ud); /* a monotonic clock; NULL: CLOCK_MONOTONIC */
    void *clock_ud;
};

/* What /metrics and /status show of the window (mapi_window_stat_descs). */
struct mapi_window_stats {
    bool recording;
    uint64_t points;   /* points held */
    uint64_t slots;    /* points the rings have room for (bounded by MAPI_WINDOW_MAX_POINTS) */
    uint64_t bytes;    /* bytes of the rings */
    uint64_t entities; /* the cluster, nodes, namespaces, pods, containers */
    uint64_t recordings_started;
};
extern const struct stat_desc mapi_window_stat_descs[];
extern const size_t mapi_window_stat_ndescs;

struct mapi_window;
struct mapi_window *mapi_window_new(const struct mapi_window_opts *o);
void mapi_window_free(struct mapi_window *w);
/* A batch of the leader's cycle; kept only while recording. */
void mapi_window_add_batch(struct mapi_window *w, const struct kp_batch *b);
/* Answer GET /api/v1/model/... path with its query ("start=...&end=..."; may be NULL) from
 * what the window holds. Any request starts an idle window recording (on demand), and
 * postpones its stop. */
void mapi_window_handle(struct mapi_window *w, const char *path, const char *query, int64_t now_ns,
                        struct mapi_response *r);
/* On demand: stop recording and free everything once MAPI_WINDOW_IDLE_NS passed without a
 * request (add_batch checks too; a timer calls this when no batches come). */
void mapi_window_tick(struct mapi_window *w);
bool mapi_window_recording(const struct mapi_window *w);
size_t mapi_window_points(const struct mapi_window *w); /* points held */
void mapi_window_get_stats(const struct mapi_window *w, struct mapi_window_stats *st);

#endif
