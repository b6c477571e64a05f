/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache.h - the Node and Pod caches the collector keeps warm from list+watch
 * (kube_watch), leader or not. The apply functions take one object of a
 * watch event, so they are testable without a server.
 */
#ifndef KP_COLLECTOR_CACHE_H
#define KP_COLLECTOR_CACHE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "kube.h"
#include "model.h"
#include "strmap.h"

#define CACHE_MAX_LABELS_STR 4096 /* the rendered "k:v,k:v" labels value */

struct cache_node {
    char *name, *address, *hostname, *host_id, *labels; /* owned */
    char *stored;                                       /* owned: stored labels, or NULL */
    long port;                                          /* kubelet port, 0: the default */
    int64_t cpu_capacity_m, cpu_allocatable_m, mem_capacity, mem_allocatable; /* -1 unknown */
    bool seen;      /* since the last list_begin */
    int last_error; /* the scraper's last reason, for logging changes only */
};

/* Heapster's --label_separator, --ignore_label and --store_label (its util.LabelCopier): the
 * "labels" tag joins every label but the ignored ones; a stored label is also a tag of its own,
 * named newName for "newName=name". */
struct cache_label_policy {
    const char *separator;     /* borrowed; NULL: "," */
    const char *const *ignore; /* borrowed */
    size_t nignore;
    const char *const *store; /* borrowed: "name" or "newName=name" */
    size_t nstore;
};
/* Stored labels as one string: KEY CACHE_STORED_KV VALUE, pairs separated by CACHE_STORED_SEP
 * (bytes no label key or value contains). */
#define CACHE_STORED_KV  '\x1f'
#define CACHE_STORED_SEP '\x1e'

struct node_cache {
    const struct cache_label_policy *lp; /* borrowed; NULL: Heapster's defaults */
    struct strmap nodes;                 /* name -> struct cache_node (owned) */
    char *addr_types[8];                 /* owned: preferred address types, in order */
    int naddr_types;
};

/* A relist begins: every value in m (a struct with a bool at seen_off) counts as unseen until
 * the list names it again; list_done then removes what it did not name. */
void cache_unsee_all(struct strmap *m, size_t seen_off);

int node_cache_init(struct node_cache *nc, const char *preferred_types, char *err, size_t errlen);
void node_cache_fini(struct node_cache *nc);
void node_cache_apply(struct node_cache *nc, enum kube_event_type type, json_object *node);
void node_cache_list_begin(struct node_cache *nc);
void node_cache_list_done(struct node_cache *nc);

/* One pod: only what the metric model needs. Strings shared by many pods
 * (namespace, labels, container names, images) are interned in the cache. */
struct cache_pod {
    struct model_pod_info info; /* labels, containers: interned / inline */
    const char *ns;             /* interned */
    const char *name_key;       /* borrowed: this pod's key in by_name ("ns/name") */
    bool seen;
    struct model_pod_container containers[]; /* info.ncontainers */
};

struct cache_ns {
    bool seen;
    char uid[]; /* the Namespace's uid */
};

struct pod_cache {
    const struct cache_label_policy *lp; /* borrowed; NULL: Heapster's defaults */
    struct strmap pods;                  /* uid -> struct cache_pod (owned) */
    struct strmap by_name;               /* "ns/name" -> struct cache_pod (borrowed from pods) */
    struct strmap namespaces;            /* name -> struct cache_ns (owned) */
    struct strmap strings;               /* interned strings -> reference count */
};

void pod_cache_init(struct pod_cache *pc);
void pod_cache_fini(struct pod_cache *pc);
void pod_cache_apply(struct pod_cache *pc, enum kube_event_type type, json_object *pod);
void pod_cache_list_begin(struct pod_cache *pc);
void pod_cache_list_done(struct pod_cache *pc);
void pod_cache_apply_namespace(struct pod_cache *pc, enum kube_event_type type, json_object *ns);
void pod_cache_ns_list_begin(struct pod_cache *pc);
void pod_cache_ns_list_done(struct pod_cache *pc);
/* model_pod_lookup_fn over the cache (ud: struct pod_cache *): by uid, else
 * by namespace and name (static pods: the kubelet reports its own uid, the
 * API server's mirror pod has another). */
const struct model_pod_info *pod_cache_lookup(const char *uid, const char *ns, const char *name,
                                              void *ud);

/* Render metadata.labels as Heapster's "k:v,k:v" (sorted, lp's separator, ignored labels left
 * out) into out, and the stored labels into stored (both at most CACHE_MAX_LABELS_STR - 1
 * bytes: the tail is dropped). Returns strlen(out). */
size_t cache_labels_render(const struct cache_label_policy *lp, json_object *labels,
                           char out[CACHE_MAX_LABELS_STR], char stored[CACHE_MAX_LABELS_STR]);
/* The same, strdup'ed; NULL when empty. */
char *cache_labels_string(const struct cache_label_policy *lp, json_object *labels, char **stored);

#endif
