/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model.h - Heapster's metric model built from parsed Summary elements: the
 * series (node, sys_container, pod, pod_container, ns, cluster and their
 * filesystems) with Heapster's labels, rates from counters, the container ->
 * pod -> namespace -> cluster aggregation and the node autoscaling metrics.
 *
 * One struct model per collector holds what spans nodes (rates, namespace
 * sums) and the one batch being built. One struct model_node per node scrape
 * in flight builds that node's series one Summary element at a time and hands
 * each over as soon as it is built, so it holds what it sums over its pods and
 * its own strings, no series or points:
 *  - the system containers (and their filesystems): one batch, when the "node"
 *    element has been decoded;
 *  - each pod with its containers, filesystems and volumes: one batch, when its
 *    element of "pods" has been decoded; its namespace sums are added then, so
 *    the ns and cluster series always sum the pods written;
 *  - the node's own series and filesystem (its requests are the sum of all its
 *    pods'): one batch, from model_node_finish, only when the response was
 *    complete and valid.
 * A response that fails after some pods (truncated, malformed further on, a
 * timeout or reset mid-body) keeps what was already emitted: those pods were
 * complete, valid elements. Its node series are not written and the node
 * counts as failed.
 */
#ifndef KP_COLLECTOR_MODEL_H
#define KP_COLLECTOR_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "metric.h"
#include "summary.h"

struct rates;

/* The Node object facts a scrape needs (from the node cache). */
struct model_node_info {
    const char *name, *hostname, *host_id, *labels; /* borrowed; copied at begin */
    int64_t cpu_capacity_m, cpu_allocatable_m;      /* millicores, -1: unknown */
    int64_t mem_capacity, mem_allocatable;          /* bytes, -1: unknown */
    const char *stored; /* borrowed, copied: --store_label tags (cache.h's encoding) or NULL */
};

/* What the pod cache knows of one pod's container. */
struct model_pod_container {
    const char *name, *image; /* borrowed */
    int64_t cpu_request_m, cpu_limit_m, mem_request, mem_limit;
};
struct model_pod_info {
    const char *namespace_uid, *labels;                         /* borrowed; may be NULL */
    int64_t cpu_request_m, cpu_limit_m, mem_request, mem_limit; /* sums over containers */
    const struct model_pod_container *containers;               /* borrowed */
    size_t ncontainers;
    const char *stored; /* borrowed; --store_label tags (cache.h's encoding) or NULL */
};
/* Look a pod up by the Summary's uid, else by namespace and name (a static
 * pod's Summary uid is not its mirror pod's); NULL when the cache does not
 * know it (yet). */
typedef const struct model_pod_info *(*model_pod_lookup_fn)(const char *uid, const char *ns,
                                                            const char *name, void *ud);

typedef void (*model_emit_fn)(const struct kp_batch *b, void *ud);

struct model;
struct model *model_new(struct rates *rates, model_pod_lookup_fn lookup, void *lookup_ud);
void model_free(struct model *m);
/* Write only the metrics and namespaces in scope (borrowed; NULL: everything). Pods of a
 * namespace out of scope are left out of the pod, container, ns and cluster series; their
 * requests still count in their node's. */
struct scope;
void model_set_scope(struct model *m, const struct scope *scope);
/* A new cycle: resets the namespace sums. */
void model_cycle_begin(struct model *m, uint32_t cycle, int64_t cycle_ts_ns);
/* Emit the ns and cluster series: the sums of the pods written this cycle. */
void model_cycle_end(struct model *m, model_emit_fn emit, void *ud);

struct model_node;
/* emit(batch, ud) receives every batch of the nodes this model_node scrapes. */
struct model_node *model_node_new(struct model *m, model_emit_fn emit, void *ud);
void model_node_free(struct model_node *mn);
void model_node_begin(struct model_node *mn, const struct model_node_info *ni);
/* Summary parser handlers (summary_handlers-compatible signatures). */
int model_node_on_node(const struct summary_node *n, void *mn);
int model_node_on_pod(const struct summary_pod *p, void *mn);
/* The response was complete: emit the node's own series (the last batch of the node).
 * Returns the number of points this node emitted, its pods' and system containers' too.
 * A node whose response failed is simply not finished: the next model_node_begin starts
 * over. */
size_t model_node_finish(struct model_node *mn);

#endif
