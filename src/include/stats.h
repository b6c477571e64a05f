/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.h - statistics described once, rendered by table.
 *
 * Each module's stats struct comes with a table of stat_desc, one line per
 * field: its Prometheus family (name, type, help) and its /status key. The
 * daemon renders /metrics and /status from the tables, so a new counter is one
 * line in its struct and one in its table, and cannot be mislabelled.
 *
 *     static const struct stat_desc tab[] = {
 *         STAT_COUNTER_U64(struct foo_stats, requests, "kubepulse_foo_requests_total",
 *                          "Requests completed.", "requests"),
 *     };
 *
 * Durations are histograms (struct kp_hist) in seconds, as Kubernetes
 * components expose them, so operators can alert on a quantile.
 */
#ifndef KP_STATS_H
#define KP_STATS_H

#include <stddef.h>
#include <stdint.h>

struct status_buf;
struct json_object;

/* ---- histograms ------------------------------------------------------------- */

#define KP_HIST_MAX_BOUNDS 16

struct kp_hist {
    const double *bounds; /* borrowed, static: ascending upper bounds; +Inf is implicit */
    size_t nbounds;
    uint64_t counts[KP_HIST_MAX_BOUNDS + 1]; /* per bucket (not cumulative); last: +Inf */
    uint64_t count;
    double sum;
};

/* Upper bounds in seconds: requests (a kubelet scrape, a write, a Lease renewal)
 * and whole cycles. */
extern const double KP_HIST_REQUEST_S[];
extern const size_t KP_HIST_REQUEST_N;
extern const double KP_HIST_CYCLE_S[];
extern const size_t KP_HIST_CYCLE_N;

void kp_hist_init(struct kp_hist *h, const double *bounds, size_t nbounds);
/* NaN and negative values are counted in the lowest bucket with 0 added to the sum. */
void kp_hist_observe(struct kp_hist *h, double v);

/* ---- descriptors -------------------------------------------------------------- */

enum stat_kind { STAT_KIND_COUNTER, STAT_KIND_GAUGE, STAT_KIND_HISTOGRAM };
enum stat_type {
    STAT_T_U64,    /* uint64_t */
    STAT_T_DOUBLE, /* double */
    STAT_T_BOOL,   /* bool: 0 or 1 */
    STAT_T_LONG,   /* long */
    STAT_T_U64_BY, /* uint64_t[count], labelled label="name(i)"; /status shows the sum */
    STAT_T_HIST,   /* struct kp_hist */
};

struct stat_desc {
    const char *metric; /* Prometheus family; NULL: /status only */
    const char *help;
    const char *json; /* /status key; NULL: /metrics only */
    enum stat_kind kind;
    enum stat_type type;
    size_t offset;
    const char *label;          /* STAT_T_U64_BY */
    int count;                  /* STAT_T_U64_BY */
    const char *(*name)(int i); /* STAT_T_U64_BY */
};

#define STAT_FIELD_(kind_, type_, st, f, m, h, j)                                                  \
    {                                                                                              \
        .metric = (m), .help = (h), .json = (j), .kind = (kind_), .type = (type_),                 \
        .offset = offsetof(st, f)                                                                  \
    }
#define STAT_COUNTER_U64(st, f, m, h, j) STAT_FIELD_(STAT_KIND_COUNTER, STAT_T_U64, st, f, m, h, j)
#define STAT_GAUGE_U64(st, f, m, h, j)   STAT_FIELD_(STAT_KIND_GAUGE, STAT_T_U64, st, f, m, h, j)
#define STAT_GAUGE_DBL(st, f, m, h, j)   STAT_FIELD_(STAT_KIND_GAUGE, STAT_T_DOUBLE, st, f, m, h, j)
#define STAT_GAUGE_BOOL(st, f, m, h, j)  STAT_FIELD_(STAT_KIND_GAUGE, STAT_T_BOOL, st, f, m, h, j)
#define STAT_GAUGE_LONG(st, f, m, h, j)  STAT_FIELD_(STAT_KIND_GAUGE, STAT_T_LONG, st, f, m, h, j)
#define STAT_HIST(st, f, m, h, j)        STAT_FIELD_(STAT_KIND_HISTOGRAM, STAT_T_HIST, st, f, m, h, j)
#define STAT_COUNTER_BY(st, f, m, h, j, lab, n, namefn)                                            \
    {                                                                                              \
        .metric = (m), .help = (h), .json = (j), .kind = STAT_KIND_COUNTER, .type = STAT_T_U64_BY, \
        .offset = offsetof(st, f), .label = (lab), .count = (n), .name = (namefn)                  \
    }

#define STAT_TABLE_LEN(t) (sizeof(t) / sizeof((t)[0]))

/* /metrics: every family of the table with its HELP and TYPE, then one sample (or
 * one histogram, or one per label value) for each of nobjs stats structs. With a
 * key, object i's samples carry key="values[i]". Every family is written even with
 * nobjs == 0 or all values 0, so it exists from the start. */
void stats_render_prom(struct status_buf *b, const struct stat_desc *t, size_t n,
                       const void *const *objs, size_t nobjs, const char *key,
                       const char *const *values);
/* /status: the fields with a json key into o (a JSON object); a histogram shows as
 * its count; a labelled array as its sum. */
void stats_render_json(struct json_object *o, const struct stat_desc *t, size_t n, const void *obj);

#endif
