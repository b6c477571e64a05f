/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_stats.c - histograms and the table renderers (stats.h): bucket edges,
 * the Prometheus text of every kind (with and without an instance label),
 * families present with no instance, /status JSON.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "stats.h"
#include "status.h"

struct demo_stats {
    uint64_t requests;
    double last_s;
    bool held;
    long last_status;
    uint64_t dropped[2];
    struct kp_hist latency;
};

static const char *why(int i)
{
    return i == 0 ? "full" : "rejected";
}

static const double BOUNDS[] = {0.1, 1};

#define S struct demo_stats
static const struct stat_desc demo[] = {
    STAT_COUNTER_U64(S, requests, "demo_requests_total", "Requests.", "requests"),
    STAT_GAUGE_DBL(S, last_s, NULL, NULL, "lastSeconds"),
    STAT_GAUGE_BOOL(S, held, "demo_held", "Held.", "held"),
    STAT_GAUGE_LONG(S, last_status, NULL, NULL, "lastStatus"),
    STAT_COUNTER_BY(S, dropped, "demo_dropped_total", "Dropped.", "dropped", "reason", 2, why),
    STAT_HIST(S, latency, "demo_latency_seconds", "Latency.", NULL),
};
#undef S

KP_TEST(test_hist_buckets)
{
    (void)state;
    struct kp_hist h;
    kp_hist_init(&h, BOUNDS, 2);
    kp_hist_observe(&h, 0.1); /* le is inclusive */
    kp_hist_observe(&h, 0.5);
    kp_hist_observe(&h, 1.0);
    kp_hist_observe(&h, 7);
    kp_hist_observe(&h, -3);  /* a clock step: counted, adds 0 */
    kp_hist_observe(&h, NAN); /* likewise */
    assert_int_equal(h.counts[0], 3);
    assert_int_equal(h.counts[1], 2);
    assert_int_equal(h.counts[2], 1);
    assert_int_equal(h.count, 6);
    assert_true(fabs(h.sum - 8.6) < 1e-9);
}

KP_TEST(test_prom_text)
{
    (void)state;
    struct demo_stats a = {.requests = 3, .held = true, .dropped = {1, 2}};
    struct demo_stats b = {.requests = 5};
    struct status_buf buf = {0};
    kp_hist_init(&a.latency, BOUNDS, 2);
    kp_hist_init(&b.latency, BOUNDS, 2);
    kp_hist_observe(&a.latency, 0.05);
    kp_hist_observe(&a.latency, 2.5);
    const void *objs[] = {&a, &b};
    const char *names[] = {"one", "t\"wo"};
    stats_render_prom(&buf, demo, STAT_TABLE_LEN(demo), objs, 2, "sink", names);
    assert_false(buf.failed);
    const char *want = "# HELP demo_requests_total Requests.\n"
                       "# TYPE demo_requests_total counter\n"
                       "demo_requests_total{sink=\"one\"} 3\n"
                       "demo_requests_total{sink=\"t\\\"wo\"} 5\n"
                       "# HELP demo_held Held.\n"
                       "# TYPE demo_held gauge\n"
                       "demo_held{sink=\"one\"} 1\n"
                       "demo_held{sink=\"t\\\"wo\"} 0\n"
                       "# HELP demo_dropped_total Dropped.\n"
                       "# TYPE demo_dropped_total counter\n"
                       "demo_dropped_total{sink=\"one\",reason=\"full\"} 1\n"
                       "demo_dropped_total{sink=\"one\",reason=\"rejected\"} 2\n"
                       "demo_dropped_total{sink=\"t\\\"wo\",reason=\"full\"} 0\n"
                       "demo_dropped_total{sink=\"t\\\"wo\",reason=\"rejected\"} 0\n"
                       "# HELP demo_latency_seconds Latency.\n"
                       "# TYPE demo_latency_seconds histogram\n"
                       "demo_latency_seconds_bucket{sink=\"one\",le=\"0.1\"} 1\n"
                       "demo_latency_seconds_bucket{sink=\"one\",le=\"1\"} 1\n"
                       "demo_latency_seconds_bucket{sink=\"one\",le=\"+Inf\"} 2\n"
                       "demo_latency_seconds_sum{sink=\"one\"} 2.5499999999999998\n"
                       "demo_latency_seconds_count{sink=\"one\"} 2\n"
                       "demo_latency_seconds_bucket{sink=\"t\\\"wo\",le=\"0.1\"} 0\n"
                       "demo_latency_seconds_bucket{sink=\"t\\\"wo\",le=\"1\"} 0\n"
                       "demo_latency_seconds_bucket{sink=\"t\\\"wo\",le=\"+Inf\"} 0\n"
                       "demo_latency_seconds_sum{sink=\"t\\\"wo\"} 0\n"
                       "demo_latency_seconds_count{sink=\"t\\\"wo\"} 0\n";
    assert_string_equal(buf.data, want);
    free(buf.data);
}

/* No instance (no sink configured): every family is still declared. */
KP_TEST(test_prom_families_without_instances)
{
    (void)state;
    struct status_buf buf = {0};
    stats_render_prom(&buf, demo, STAT_TABLE_LEN(demo), NULL, 0, "sink", NULL);
    assert_non_null(strstr(buf.data, "# TYPE demo_requests_total counter\n"));
    assert_non_null(strstr(buf.data, "# TYPE demo_latency_seconds histogram\n"));
    assert_null(strstr(buf.data, "demo_requests_total{"));
    free(buf.data);
    /* One unlabelled instance: plain samples. */
    struct demo_stats a = {.requests = 1};
    const void *obj = &a;
    buf = (struct status_buf){0};
    kp_hist_init(&a.latency, BOUNDS, 2);
    stats_render_prom(&buf, demo, STAT_TABLE_LEN(demo), &obj, 1, NULL, NULL);
    assert_non_null(strstr(buf.data, "\ndemo_requests_total 1\n"));
    assert_non_null(strstr(buf.data, "\ndemo_latency_seconds_bucket{le=\"+Inf\"} 0\n"));
    assert_non_null(strstr(buf.data, "\ndemo_dropped_total{reason=\"full\"} 0\n"));
    free(buf.data);
}

KP_TEST(test_json)
{
    (void)state;
    struct demo_stats a = {.requests = UINT64_C(9007199254740993), /* 2^53 + 1: exact */
                           .last_s = 0.25,
                           .held = true,
                           .last_status = 204,
                           .dropped = {4, 5}};
    json_object *o = json_object_new_object();
    stats_render_json(o, demo, STAT_TABLE_LEN(demo), &a);
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "{\"requests\":9007199254740993,\"lastSeconds\":0.25,\"held\":true,"
                        "\"lastStatus\":204,\"dropped\":9}");
    json_object_put(o);
}
