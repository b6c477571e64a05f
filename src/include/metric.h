/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metric.h - the metric model shared by the collector (which produces points)
 * and the sinks (which encode them). Neither knows the other.
 *
 * A cycle's data travels as batches. A batch is an array of series (one per
 * entity: a node, a system container, a pod, a container, a namespace, the
 * cluster, or one of their labelled resources such as a filesystem) and an
 * array of points that refer to a series by index. Sinks render a series'
 * tags once per batch and then only append a name, a value and a timestamp
 * per point; that is what makes encoding cheap.
 *
 * The collector hands a node's data over as it parses it: one batch of its
 * system containers, one per pod (the pod with its containers, filesystems and
 * volumes: never split), and one of the node's own series, the node's last;
 * the namespaces and the cluster come in one batch at the cycle's end. What
 * keeps state across batches keys it by the series' labels, not by batch.
 *
 * Ordering contract: within a batch, the points of one series and timestamp
 * are contiguous and in ascending metric id order, so that a sink can merge
 * the metrics of one group ("cpu/usage", "cpu/usage_rate", ...) into one line
 * (Heapster's withfields layout) without sorting.
 *
 * The metric table follows Heapster's storage schema; docs/metrics.md holds
 * the same table for operators.
 */
#ifndef KP_METRIC_H
#define KP_METRIC_H

#include <stddef.h>
#include <stdint.h>

enum kp_value_type { KP_VALUE_INT, KP_VALUE_FLOAT };
enum kp_metric_kind { KP_KIND_GAUGE, KP_KIND_CUMULATIVE };

/* X(id, name, group, field, value_type, kind, units), in group order (see the contract
 * above). group and field are the measurement and field of the withfields layout. */
#define KP_METRICS(X)                                                                              \
    X(CPU_LIMIT, "cpu/limit", "cpu", "limit", KP_VALUE_INT, KP_KIND_GAUGE, "millicores")           \
    X(CPU_NODE_ALLOCATABLE, "cpu/node_allocatable", "cpu", "node_allocatable", KP_VALUE_FLOAT,     \
      KP_KIND_GAUGE, "millicores")                                                                 \
    X(CPU_NODE_CAPACITY, "cpu/node_capacity", "cpu", "node_capacity", KP_VALUE_FLOAT,              \
      KP_KIND_GAUGE, "millicores")                                                                 \
    X(CPU_NODE_RESERVATION, "cpu/node_reservation", "cpu", "node_reservation", KP_VALUE_FLOAT,     \
      KP_KIND_GAUGE, "fraction")                                                                   \
    X(CPU_NODE_UTILIZATION, "cpu/node_utilization", "cpu", "node_utilization", KP_VALUE_FLOAT,     \
      KP_KIND_GAUGE, "fraction")                                                                   \
    X(CPU_REQUEST, "cpu/request", "cpu", "request", KP_VALUE_INT, KP_KIND_GAUGE, "millicores")     \
    X(CPU_USAGE, "cpu/usage", "cpu", "usage", KP_VALUE_INT, KP_KIND_CUMULATIVE, "ns")              \
    X(CPU_USAGE_RATE, "cpu/usage_rate", "cpu", "usage_rate", KP_VALUE_INT, KP_KIND_GAUGE,          \
      "millicores")                                                                                \
    X(EPHEMERAL_STORAGE_USAGE, "ephemeral_storage/usage", "ephemeral_storage", "usage",            \
      KP_VALUE_INT, KP_KIND_GAUGE, "bytes")                                                        \
    X(FS_AVAILABLE, "filesystem/available", "filesystem", "available", KP_VALUE_INT,               \
      KP_KIND_GAUGE, "bytes")                                                                      \
    X(FS_INODES, "filesystem/inodes", "filesystem", "inodes", KP_VALUE_INT, KP_KIND_GAUGE,         \
      "count")                                                                                     \
    X(FS_INODES_FREE, "filesystem/inodes_free", "filesystem", "inodes_free", KP_VALUE_INT,         \
      KP_KIND_GAUGE, "count")                                                                      \
    X(FS_LIMIT, "filesystem/limit", "filesystem", "limit", KP_VALUE_INT, KP_KIND_GAUGE, "bytes")   \
    X(FS_USAGE, "filesystem/usage", "filesystem", "usage", KP_VALUE_INT, KP_KIND_GAUGE, "bytes")   \
    X(MEM_CACHE, "memory/cache", "memory", "cache", KP_VALUE_INT, KP_KIND_GAUGE, "bytes")          \
    X(MEM_LIMIT, "memory/limit", "memory", "limit", KP_VALUE_INT, KP_KIND_GAUGE, "bytes")          \
    X(MEM_MAJOR_PAGE_FAULTS, "memory/major_page_faults", "memory", "major_page_faults",            \
      KP_VALUE_INT, KP_KIND_CUMULATIVE, "count")                                                   \
    X(MEM_MAJOR_PAGE_FAULTS_RATE, "memory/major_page_faults_rate", "memory",                       \
      "major_page_faults_rate", KP_VALUE_FLOAT, KP_KIND_GAUGE, "count/s")                          \
    X(MEM_NODE_ALLOCATABLE, "memory/node_allocatable", "memory", "node_allocatable",               \
      KP_VALUE_FLOAT, KP_KIND_GAUGE, "bytes")                                                      \
    X(MEM_NODE_CAPACITY, "memory/node_capacity", "memory", "node_capacity", KP_VALUE_FLOAT,        \
      KP_KIND_GAUGE, "bytes")                                                                      \
    X(MEM_NODE_RESERVATION, "memory/node_reservation", "memory", "node_reservation",               \
      KP_VALUE_FLOAT, KP_KIND_GAUGE, "fraction")                                                   \
    X(MEM_NODE_UTILIZATION, "memory/node_utilization", "memory", "node_utilization",               \
      KP_VALUE_FLOAT, KP_KIND_GAUGE, "fraction")                                                   \
    X(MEM_PAGE_FAULTS, "memory/page_faults", "memory", "page_faults", KP_VALUE_INT,                \
      KP_KIND_CUMULATIVE, "count")                                                                 \
    X(MEM_PAGE_FAULTS_RATE, "memory/page_faults_rate", "memory", "page_faults_rate",               \
      KP_VALUE_FLOAT, KP_KIND_GAUGE, "count/s")                                                    \
    X(MEM_REQUEST, "memory/request", "memory", "request", KP_VALUE_INT, KP_KIND_GAUGE, "bytes")    \
    X(MEM_RSS, "memory/rss", "memory", "rss", KP_VALUE_INT, KP_KIND_GAUGE, "bytes")                \
    X(MEM_USAGE, "memory/usage", "memory", "usage", KP_VALUE_INT, KP_KIND_GAUGE, "bytes")          \
    X(MEM_WORKING_SET, "memory/working_set", "memory", "working_set", KP_VALUE_INT, KP_KIND_GAUGE, \
      "bytes")                                                                                     \
    X(NET_RX, "network/rx", "network", "rx", KP_VALUE_INT, KP_KIND_CUMULATIVE, "bytes")            \
    X(NET_RX_ERRORS, "network/rx_errors", "network", "rx_errors", KP_VALUE_INT,                    \
      KP_KIND_CUMULATIVE, "count")                                                                 \
    X(NET_RX_ERRORS_RATE, "network/rx_errors_rate", "network", "rx_errors_rate", KP_VALUE_FLOAT,   \
      KP_KIND_GAUGE, "count/s")                                                                    \
    X(NET_RX_RATE, "network/rx_rate", "network", "rx_rate", KP_VALUE_FLOAT, KP_KIND_GAUGE,         \
      "bytes/s")                                                                                   \
    X(NET_TX, "network/tx", "network", "tx", KP_VALUE_INT, KP_KIND_CUMULATIVE, "bytes")            \
    X(NET_TX_ERRORS, "network/tx_errors", "network", "tx_errors", KP_VALUE_INT,                    \
      KP_KIND_CUMULATIVE, "count")                                                                 \
    X(NET_TX_ERRORS_RATE, "network/tx_errors_rate", "network", "tx_errors_rate", KP_VALUE_FLOAT,   \
      KP_KIND_GAUGE, "count/s")                                                                    \
    X(NET_TX_RATE, "network/tx_rate", "network", "tx_rate", KP_VALUE_FLOAT, KP_KIND_GAUGE,         \
      "bytes/s")                                                                                   \
    X(UPTIME, "uptime", "uptime", "value", KP_VALUE_INT, KP_KIND_CUMULATIVE, "ms")

enum kp_metric_id {
#define KP_METRIC_ENUM_(id, name, group, field, type, kind, units) KP_M_##id,
    KP_METRICS(KP_METRIC_ENUM_)
#undef KP_METRIC_ENUM_
        KP_M__COUNT
};

struct kp_metric_desc {
    const char *name;  /* "cpu/usage_rate" */
    const char *group; /* "cpu" (withfields measurement); "uptime" for ungrouped */
    const char *field; /* "usage_rate" (withfields field); "value" for ungrouped */
    enum kp_value_type type;
    enum kp_metric_kind kind;
    const char *units;
};
extern const struct kp_metric_desc kp_metrics[KP_M__COUNT];

#define KP_MAX_LABELS 16

struct kp_label {
    const char *key;   /* borrowed, e.g. "pod_name" */
    const char *value; /* borrowed; empty values are omitted by encoders */
};

/* One entity's identity. Labels are sorted by key (byte order). */
struct kp_series {
    struct kp_label labels[KP_MAX_LABELS];
    uint8_t nlabels;
};

struct kp_point {
    uint32_t series; /* index into the batch's series */
    uint16_t metric; /* enum kp_metric_id */
    union {
        int64_t i;
        double f; /* never NaN or infinite: producers drop such values */
    } v;
    int64_t ts_ns; /* the point's time, Unix nanoseconds: the cycle's grid time (Heapster's) */
};

struct kp_batch {
    const struct kp_series *series; /* borrowed */
    size_t nseries;
    const struct kp_point *points; /* borrowed */
    size_t npoints;
    /* borrowed, nseries long, or NULL (aggregates): each series' own kubelet sample time,
     * Heapster's getScrapeTime. Points carry the cycle's time; what computes a rate over two
     * samples (the metrics API, as metrics-server does) needs the kubelet's. */
    const int64_t *sampled_ns;
};

#endif
