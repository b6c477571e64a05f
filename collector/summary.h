/* SPDX-License-Identifier: Apache-2.0 */
/*
 * summary.h - the streaming parser of the kubelet Summary API
 * (stats/v1alpha1). Bytes are fed as they arrive; a small structural scanner
 * splits the top-level object into "node" and each element of "pods", and
 * only one such element is ever held and decoded (no JSON tree) at a time, so peak
 * memory is about one pod element whatever the response size.
 *
 * Only the numbers kubepulse needs are extracted, into the compact structs
 * below, which are handed to callbacks and reused for the next element.
 */
#ifndef KP_COLLECTOR_SUMMARY_H
#define KP_COLLECTOR_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#define SUMMARY_MAX_DEPTH        64
#define SUMMARY_MAX_ELEMENT      (4u << 20) /* bytes of one node or pod element */
#define SUMMARY_MAX_NAME         253        /* DNS subdomain: names, namespaces, uids */
#define SUMMARY_MAX_CONTAINERS   128        /* per pod; more are counted and dropped */
#define SUMMARY_MAX_VOLUMES      64
#define SUMMARY_MAX_SYSCONTAINER 8

/* Counters of one group share one sample time. */
enum summary_value {
    SV_CPU_USAGE, /* cpu.usageCoreNanoSeconds */
    SV_MEM_USAGE, /* memory.usageBytes */
    SV_MEM_WORKING_SET,
    SV_MEM_RSS,
    SV_MEM_PAGE_FAULTS,
    SV_MEM_MAJOR_PAGE_FAULTS,
    SV_NET_RX,
    SV_NET_RX_ERRORS,
    SV_NET_TX,
    SV_NET_TX_ERRORS,
    SV__COUNT
};
enum summary_group { SG_CPU, SG_MEM, SG_NET, SG__COUNT };

struct summary_stats {
    int64_t start_ns;         /* startTime, 0 when missing */
    int64_t ts_ns[SG__COUNT]; /* each group's "time", 0 when missing */
    uint64_t v[SV__COUNT];
    uint32_t has; /* bit (1 << enum summary_value) */
};

enum summary_fs_value { SF_AVAILABLE, SF_CAPACITY, SF_USED, SF_INODES, SF_INODES_FREE, SF__COUNT };
struct summary_fs {
    char name[SUMMARY_MAX_NAME + 1]; /* volume name; empty for rootfs/logs */
    int64_t ts_ns;
    uint64_t v[SF__COUNT];
    uint8_t has; /* bit (1 << enum summary_fs_value); 0: the fs is absent */
};

struct summary_container {
    char name[SUMMARY_MAX_NAME + 1];
    struct summary_stats st;
    struct summary_fs rootfs, logs;
};

struct summary_node {
    char name[SUMMARY_MAX_NAME + 1];
    struct summary_stats st;
    struct summary_fs fs;
    struct summary_container sys[SUMMARY_MAX_SYSCONTAINER];
    size_t nsys;
};

struct summary_pod {
    char name[SUMMARY_MAX_NAME + 1], ns[SUMMARY_MAX_NAME + 1], uid[SUMMARY_MAX_NAME + 1];
    struct summary_stats st; /* pod-level cpu/memory (newer kubelets), network */
    int has_ephemeral;
    uint64_t ephemeral_used;
    int64_t ephemeral_ts_ns;
    struct summary_container *containers; /* owned by the parser, reused */
    size_t ncontainers;
    struct summary_fs *volumes; /* owned by the parser, reused */
    size_t nvolumes;
};

/* Per-parse counts of input problems that did not fail the parse. */
struct summary_counts {
    uint64_t bytes;
    uint64_t type_errors; /* a value of the wrong JSON type: skipped */
    uint64_t negatives;   /* a negative or non-finite value where a count was expected */
    uint64_t dropped;     /* containers/volumes beyond the bounds */
    uint64_t pods;
};

struct summary_handlers {
    /* Called once, when the "node" element has been read. */
    int (*node)(const struct summary_node *n, void *ud);
    /* Called per element of "pods". Return < 0 to abort the parse. */
    int (*pod)(const struct summary_pod *p, void *ud);
};

struct summary_parser;
struct summary_parser *summary_parser_new(void);
void summary_parser_free(struct summary_parser *p);
/* Ready the parser for a new response (keeps its buffers). */
void summary_parse_reset(struct summary_parser *p, const struct summary_handlers *h, void *ud);
/* Feed bytes; returns 0, or < 0 with err filled (the response is bad: stop). */
int summary_parse_feed(struct summary_parser *p, const char *buf, size_t len, char *err,
                       size_t errlen);
/* The response ended: returns 0 when it was complete, else < 0 with err. */
int summary_parse_finish(struct summary_parser *p, char *err, size_t errlen);
const struct summary_counts *summary_parse_counts(const struct summary_parser *p);

/* RFC 3339 ("2024-05-01T10:00:00.5Z", "...+02:00"; kp_rfc3339_parse) to Unix ns in
 * 1970..2200; Go's zero time (year 1) reads as 0; 0 or -1. */
int summary_parse_time(const char *s, int64_t *ns);

#endif
