/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model_int.h - internals shared by model.c (series building, node and
 * system containers) and model_agg.c (pods, containers, namespaces, cluster).
 */
#ifndef KP_COLLECTOR_MODEL_INT_H
#define KP_COLLECTOR_MODEL_INT_H

#include "model.h"
#include "rates.h"
#include "strmap.h"

/* An arena chunk: the node's own strings (its rendered labels are below 4 KiB,
 * CACHE_MAX_LABELS_STR) and one batch's; a node with more takes a second. */
#define MN_CHUNK 4096

struct model_vals {
    uint64_t has;       /* bit per enum kp_metric_id */
    int64_t ts_ns;      /* the points' time: the cycle's */
    int64_t sampled_ns; /* the kubelet's sample time of these values (ts_ns when none) */
    union {
        int64_t i;
        double f;
    } v[KP_M__COUNT];
};

/* Heapster's label set; NULL or empty values are left out. */
struct model_labels {
    const char *container_base_image, *container_name, *host_id, *hostname, *labels, *namespace_id,
        *namespace_name, *nodename, *pod_id, *pod_name, *resource_id, *type;
    const char *stored; /* --store_label tags: "k\x1fv\x1ek\x1fv" (cache.h), or NULL */
};

/* The six metrics namespaces and the cluster sum. */
enum { AGG_CPU_RATE, AGG_MEM_USAGE, AGG_CPU_REQ, AGG_CPU_LIM, AGG_MEM_REQ, AGG_MEM_LIM, AGG__N };
extern const uint8_t model_agg_metric[AGG__N];

struct ns_sum {
    char *uid; /* owned or NULL */
    int64_t v[AGG__N];
    uint8_t has;
    uint32_t cycle; /* last cycle with a pod; older entries are not emitted */
};

/* One pod's contribution to its namespace, applied as the pod is emitted. */
struct ns_add {
    const char *ns, *ns_uid; /* borrowed for the call */
    int64_t v[AGG__N];
    uint8_t has;
};

struct mn_chunk {
    struct mn_chunk *next; /* owned */
    size_t used;
    char data[];
};

/*
 * The batch being built: the system containers, one pod, or a node's own series. A batch is
 * built and emitted within one call (a parser handler or model_node_finish), so every node in
 * flight shares one (struct model's): its arrays and its arena (the strings made for the
 * batch: volume resource ids, --store_label tags) are reused for the next.
 */
struct model_batch {
    struct kp_series *series; /* owned */
    int64_t *sampled;         /* owned, beside series: kp_batch.sampled_ns */
    size_t nseries, scap, sacap;
    struct kp_point *points; /* owned */
    size_t npoints, pcap;
    struct mn_chunk *chunks, *cur; /* owned list; cur borrowed */
    int oom;                       /* a series was lost: the batch is not emitted */
};

/* One node's scrape: what it sums over its pods and its own strings (copied at begin). */
struct model_node {
    struct model *m; /* borrowed */
    model_emit_fn emit;
    void *emit_ud;
    struct model_node_info info; /* strings in strs */
    struct model_labels base;    /* nodename, hostname, host_id */
    char *strs;                  /* owned: the node's strings, one after another */
    size_t strs_cap;
    size_t emitted; /* points of this node handed to emit so far */
    /* The pods of this response so far (hashes of their uids, open addressing, 0: empty):
     * a copy of a pod already emitted is skipped rather than written and summed again. */
    uint64_t *seen; /* owned */
    size_t nseen, seencap;
    int have_node;
    struct summary_stats node_stats;
    struct rate_out node_rate;
    struct summary_fs node_fs;
    int64_t req[4]; /* sums of scraped pods' cpu req/lim, mem req/lim */
};

struct model {
    struct rates *rates; /* borrowed */
    model_pod_lookup_fn lookup;
    void *lookup_ud;
    const struct scope *scope; /* borrowed; NULL: everything */
    uint64_t metrics;          /* bit per enum kp_metric_id: written */
    uint32_t cycle;
    int64_t cycle_ts;
    struct strmap ns; /* namespace name -> struct ns_sum (owned) */
    struct model_batch batch;
};

/* Sums of kubelet-supplied values saturate rather than wrap. */
static inline int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* A copy of s for the batch being built (NULL for NULL or ""), valid until it is emitted. */
const char *mn_strdup(struct model_node *mn, const char *s);
void model_batch_fini(struct model_batch *b);
void mn_flush(struct model_node *mn, const struct model_labels *l, const struct model_vals *v);
void vals_reset(struct model_vals *v, int64_t ts);
int64_t stats_ts(const struct summary_stats *st, int64_t fallback);
void vals_from_stats(struct model_vals *v, const struct summary_stats *st,
                     const struct rate_out *r);
void mn_flush_fs(struct model_node *mn, struct model_labels l, const char *resource_id,
                 const struct summary_fs *fs, int64_t ts);
void model_ns_apply(struct model *m, const struct ns_add *a, size_t n);
void vals_set_i(struct model_vals *v, int id, int64_t x);
void vals_set_f(struct model_vals *v, int id, double x);

#endif
