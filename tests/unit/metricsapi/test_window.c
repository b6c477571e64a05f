/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_window.c - Heapster's model API (window.c): the entity and metric lists, a metric's
 * points between start and end, the 15-minute window of cpu/usage_rate and memory/usage and
 * the 140-second one of the other metrics, bad times refused; on demand (an injected clock):
 * idle until a request, recording while requests come, stopped and freed after 15 minutes
 * without one; always: recording from the start.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapi_int.h"
#include "kp_test.h"

#define S  1000000000LL
#define T0 (1700000000LL * S) /* 2023-11-14T22:13:20Z */

static struct mapi_window *window_new(enum mapi_window_mode mode, int64_t (*clock)(void *),
                                      void *ud)
{
    struct mapi_window_opts o = {
        .resolution_s = 60, .mode = mode, .mono_ns = clock, .clock_ud = ud};
    struct mapi_window *w = mapi_window_new(&o);
    assert_non_null(w);
    return w;
}

/* Heapster's behaviour: the tests of the answers record from the start. */
static struct mapi_window *always_new(void)
{
    return window_new(MAPI_WINDOW_ALWAYS, NULL, NULL);
}

static void feed_cycle(struct mapi_window *w, int64_t ts, int64_t mem)
{
    struct kp_series se[3] = {
        {.labels = {{"namespace_name", "spark-cluster"}, {"type", "ns"}}, .nlabels = 2},
        {.labels = {{"namespace_name", "spark-cluster"},
                    {"nodename", "n1"},
                    {"pod_name", "driver"},
                    {"type", "pod"}},
         .nlabels = 4},
        {.labels = {{"nodename", "n1"}, {"type", "node"}}, .nlabels = 2},
    };
    struct kp_point pt[5] = {
        {0, KP_M_CPU_USAGE_RATE, {.i = 250}, ts}, {0, KP_M_MEM_USAGE, {.i = mem}, ts},
        {1, KP_M_MEM_USAGE, {.i = mem / 2}, ts},  {1, KP_M_MEM_RSS, {.i = 7}, ts},
        {2, KP_M_NET_RX_RATE, {.f = 12.9}, ts},
    };
    struct kp_batch b = {se, 3, pt, 5, NULL};
    mapi_window_add_batch(w, &b);
}

static json_object *get(struct mapi_window *w, const char *path, const char *query, int code)
{
    struct mapi_response r;
    mapi_window_handle(w, path, query, T0 + 3600 * S, &r);
    if (r.code != code)
        fail_msg("%s?%s: %d, want %d: %s", path, query ? query : "", r.code, code,
                 r.body ? r.body : "");
    json_object *o = code == 200 ? json_tokener_parse(r.body) : NULL;
    if (code == 200)
        assert_non_null(o);
    free(r.body);
    return o;
}

KP_TEST(test_model_api)
{
    (void)state;
    struct mapi_window *w = always_new();
    for (int i = 0; i < 30; i++) /* 30 minutes at one point a minute */
        feed_cycle(w, T0 + i * 60 * S, 1000 + i);
    json_object *o = get(w, "/api/v1/model/namespaces/", NULL, 200);
    assert_string_equal(json_object_to_json_string(o), "[ \"spark-cluster\" ]");
    json_object_put(o);
    o = get(w, "/api/v1/model/nodes", NULL, 200);
    assert_string_equal(json_object_to_json_string(o), "[ \"n1\" ]");
    json_object_put(o);
    o = get(w, "/api/v1/model/namespaces/spark-cluster/pods/", NULL, 200);
    assert_string_equal(json_object_to_json_string(o), "[ \"driver\" ]");
    json_object_put(o);
    o = get(w, "/api/v1/model/namespaces/spark-cluster/metrics/", NULL, 200);
    assert_string_equal(json_object_to_json_string(o),
                        "[ \"cpu\\/usage_rate\", \"memory\\/usage\" ]");
    json_object_put(o);
    /* the seed notes' query: two minutes of memory/usage */
    o = get(w, "/api/v1/model/namespaces/spark-cluster/metrics/memory/usage",
            "start=2023-11-14T22:40:20Z&end=2023-11-14T22:42:20Z", 200);
    json_object *m = json_object_object_get(o, "metrics");
    assert_int_equal(json_object_array_length(m), 3);
    assert_string_equal(json_object_get_string(
                            json_object_object_get(json_object_array_get_idx(m, 0), "timestamp")),
                        "2023-11-14T22:40:20Z");
    assert_int_equal(
        json_object_get_int64(json_object_object_get(json_object_array_get_idx(m, 0), "value")),
        1027);
    assert_string_equal(json_object_get_string(json_object_object_get(o, "latestTimestamp")),
                        "2023-11-14T22:42:20Z");
    json_object_put(o);
    /* 15 minutes kept: of 30 points, the last 16 or 17 */
    o = get(w, "/api/v1/model/namespaces/spark-cluster/metrics/memory/usage", NULL, 200);
    size_t n = json_object_array_length(json_object_object_get(o, "metrics"));
    assert_true(n >= 15 && n <= 17);
    json_object_put(o);
    /* other metrics: 140 s */
    o = get(w, "/api/v1/model/namespaces/spark-cluster/pods/driver/metrics/memory/rss", NULL, 200);
    n = json_object_array_length(json_object_object_get(o, "metrics"));
    assert_true(n >= 2 && n <= 4);
    json_object_put(o);
    o = get(w, "/api/v1/model/nodes/n1/metrics/network/rx_rate", "end=2023-11-14T22:42:20Z", 200);
    assert_int_equal(
        json_object_get_int64(json_object_object_get(
            json_object_array_get_idx(json_object_object_get(o, "metrics"), 0), "value")),
        12);
    json_object_put(o);
    /* unknown entity or metric: no points, as Heapster answered */
    o = get(w, "/api/v1/model/namespaces/nope/metrics/memory/usage", NULL, 200);
    assert_int_equal(json_object_array_length(json_object_object_get(o, "metrics")), 0);
    json_object_put(o);
    get(w, "/api/v1/model/namespaces/spark-cluster/metrics/memory/usage", "start=yesterday", 400);
    /* outside what Unix nanoseconds hold (fuzz_metrics_request: signed overflow) */
    get(w, "/api/v1/model/namespaces/spark-cluster/metrics/memory/usage",
        "start=1012-01-01T00:00:00Z", 400);
    get(w, "/api/v1/model/namespaces/spark-cluster/metrics/memory/usage",
        "end=9999-12-31T23:59:59Z", 400);
    /* "endxx" is no "start" (both names were matched by prefix: it hid every point) */
    o = get(w, "/api/v1/model/namespaces/spark-cluster/metrics/memory/usage",
            "endxx=2030-01-01T00:00:00Z", 200);
    assert_true(json_object_array_length(json_object_object_get(o, "metrics")) > 0);
    json_object_put(o);
    get(w, "/api/v1/model/bogus", NULL, 404);
    get(w, "/api/v2/model/namespaces/", NULL, 404);
    assert_true(mapi_window_points(w) > 0);
    mapi_window_free(w);
}

static void feed_node(struct mapi_window *w, int64_t ts, int64_t mem)
{
    struct kp_series se = {.labels = {{"nodename", "n1"}, {"type", "node"}}, .nlabels = 2};
    struct kp_point pt = {0, KP_M_MEM_USAGE, {.i = mem}, ts};
    struct kp_batch b = {&se, 1, &pt, 1, NULL};
    mapi_window_add_batch(w, &b);
}

static int64_t point_value(json_object *o, size_t i)
{
    json_object *m = json_object_object_get(o, "metrics");
    return json_object_get_int64(json_object_object_get(json_object_array_get_idx(m, i), "value"));
}

/* Points are kept exactly when they do not fit the narrow ring (whole seconds after the
 * series' first point, int32 values): the ring widens, before and after it wraps. */
KP_TEST(test_wide_points)
{
    (void)state;
    const char *path = "/api/v1/model/nodes/n1/metrics/memory/usage";
    struct mapi_window *w = always_new();
    feed_node(w, T0, 5);
    feed_node(w, T0 + 60 * S, 3000000000LL);  /* above int32 */
    feed_node(w, T0 + 120 * S + S / 2, 7);    /* half a second */
    feed_node(w, T0 + 180 * S, -(1LL << 40)); /* answered as 0 */
    feed_node(w, T0 + 240 * S, INT64_MAX);
    json_object *o = get(w, path, NULL, 200);
    assert_int_equal(json_object_array_length(json_object_object_get(o, "metrics")), 5);
    assert_int_equal(point_value(o, 0), 5);
    assert_int_equal(point_value(o, 1), 3000000000LL);
    assert_int_equal(point_value(o, 2), 7);
    assert_int_equal(point_value(o, 3), 0);
    assert_int_equal(point_value(o, 4), INT64_MAX);
    json_object_put(o);
    /* the half second is kept: 22:15:20.5 is after .4 and before .6 */
    o = get(w, path, "start=2023-11-14T22:15:20.4Z", 200);
    assert_int_equal(json_object_array_length(json_object_object_get(o, "metrics")), 3);
    json_object_put(o);
    o = get(w, path, "start=2023-11-14T22:15:20.6Z", 200);
    assert_int_equal(json_object_array_length(json_object_object_get(o, "metrics")), 2);
    json_object_put(o);
    /* 40 more minutes: the ring wraps with its wide arrays, the newest 17 stay */
    for (int i = 5; i < 45; i++)
        feed_node(w, T0 + i * 60 * S, 4000000000LL + i);
    o = get(w, path, NULL, 200);
    assert_int_equal(json_object_array_length(json_object_object_get(o, "metrics")), 17);
    assert_int_equal(point_value(o, 0), 4000000000LL + 28);
    assert_int_equal(point_value(o, 16), 4000000000LL + 44);
    json_object_put(o);
    mapi_window_free(w);
}

static int64_t fake_now(void *ud)
{
    return *(int64_t *)ud;
}

static void assert_idle(struct mapi_window *w)
{
    struct mapi_window_stats st;
    mapi_window_get_stats(w, &st);
    assert_false(st.recording);
    assert_false(mapi_window_recording(w));
    assert_int_equal(mapi_window_points(w), 0);
    assert_int_equal(st.points, 0);
    assert_int_equal(st.slots, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.entities, 0);
}

/* The points of node n1's metric (a request to the model API). */
static size_t points_of_node(struct mapi_window *w, const char *metric)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/model/nodes/n1/metrics/%s", metric);
    json_object *o = get(w, path, NULL, 200);
    size_t n = json_object_array_length(json_object_object_get(o, "metrics"));
    json_object_put(o);
    return n;
}

/* --model-api=on-demand: nothing is kept until a request; from then on every batch is; 15
 * minutes without a request stop it and free everything; a request starts it again. */
KP_TEST(test_on_demand)
{
    (void)state;
    int64_t now = 5 * 3600 * S; /* monotonic */
    struct mapi_window *w = window_new(MAPI_WINDOW_ON_DEMAND, fake_now, &now);
    struct mapi_window_stats st;
    /* idle: batches are not kept */
    for (int i = 0; i < 5; i++)
        feed_cycle(w, T0 + i * 60 * S, 1000 + i);
    assert_idle(w);
    /* the first request is answered from the empty window, in Heapster's shapes */
    json_object *o = get(w, "/api/v1/model/nodes/", NULL, 200);
    assert_string_equal(json_object_to_json_string(o), "[ ]");
    json_object_put(o);
    assert_true(mapi_window_recording(w));
    o = get(w, "/api/v1/model/nodes/n1/metrics/memory/usage", NULL, 200);
    assert_int_equal(json_object_array_length(json_object_object_get(o, "metrics")), 0);
    assert_non_null(json_object_object_get(o, "latestTimestamp"));
    json_object_put(o);
    o = get(w, "/api/v1/model/namespaces/spark-cluster/metrics/", NULL, 200);
    assert_string_equal(json_object_to_json_string(o), "[ ]");
    json_object_put(o);
    /* from then on every batch is kept */
    for (int i = 5; i < 10; i++) {
        now += 60 * S;
        feed_cycle(w, T0 + i * 60 * S, 1000 + i);
    }
    mapi_window_get_stats(w, &st);
    assert_true(st.recording);
    assert_int_equal(st.points, mapi_window_points(w));
    /* 5 cycles of 5 points; memory/rss and network/rx_rate keep 140 s: 4 of theirs */
    assert_int_equal(st.points, 3 * 5 + 2 * 4);
    assert_true(st.bytes >= st.slots * 8 && st.slots >= st.points);
    assert_int_equal(st.entities, 3);
    assert_int_equal(st.recordings_started, 1);
    o = get(w, "/api/v1/model/nodes/", NULL, 200);
    assert_string_equal(json_object_to_json_string(o), "[ \"n1\" ]");
    json_object_put(o);
    /* a request 10 minutes later postpones the stop: 15 minutes after it, not after the
     * first (the last request was at cycle 9's time) */
    for (int i = 10; i < 20; i++) {
        now += 60 * S;
        feed_cycle(w, T0 + i * 60 * S, 1000 + i);
    }
    assert_true(points_of_node(w, "network/rx_rate") > 0); /* 10 minutes later */
    int64_t last = now;
    for (int i = 20; i < 34; i++) {
        now += 60 * S;
        feed_cycle(w, T0 + i * 60 * S, 1000 + i);
    }
    assert_true(mapi_window_recording(w)); /* 14 minutes after the last request */
    assert_true(mapi_window_points(w) > 0);
    now = last + MAPI_WINDOW_IDLE_NS - 1;
    feed_cycle(w, T0 + 34 * 60 * S, 1034);
    assert_true(mapi_window_recording(w));
    /* 15 minutes without a request: the next batch finds it stopped, and it is freed */
    now = last + MAPI_WINDOW_IDLE_NS;
    feed_cycle(w, T0 + 35 * 60 * S, 1035);
    assert_idle(w);
    feed_cycle(w, T0 + 36 * 60 * S, 1036);
    assert_idle(w);
    /* a request starts it again, from nothing */
    assert_int_equal(points_of_node(w, "network/rx_rate"), 0);
    assert_true(mapi_window_recording(w));
    feed_cycle(w, T0 + 37 * 60 * S, 1037);
    assert_int_equal(points_of_node(w, "network/rx_rate"), 1);
    mapi_window_get_stats(w, &st);
    assert_int_equal(st.recordings_started, 2);
    /* without batches (a follower), the timer's tick stops and frees it */
    now += MAPI_WINDOW_IDLE_NS - S;
    mapi_window_tick(w);
    assert_true(mapi_window_points(w) > 0);
    now += S;
    mapi_window_tick(w);
    assert_idle(w);
    /* a request long after the stop finds it empty (not the points of before) */
    feed_cycle(w, T0 + 60 * 60 * S, 1060);
    assert_int_equal(points_of_node(w, "network/rx_rate"), 0);
    mapi_window_free(w);
}

/* --model-api=always: Heapster's, recording from the start whatever the requests. */
KP_TEST(test_always)
{
    (void)state;
    int64_t now = 5 * 3600 * S;
    struct mapi_window *w = window_new(MAPI_WINDOW_ALWAYS, fake_now, &now);
    struct mapi_window_stats st;
    mapi_window_get_stats(w, &st);
    assert_true(st.recording);
    assert_int_equal(st.recordings_started, 1);
    for (int i = 0; i < 60; i++) { /* an hour without a request */
        now += 60 * S;
        feed_node(w, T0 + i * 60 * S, i);
        mapi_window_tick(w);
    }
    assert_true(mapi_window_recording(w));
    /* 15 minutes at one point a minute, + 2 */
    assert_int_equal(points_of_node(w, "memory/usage"), 17);
    now += 24 * 3600 * S;
    mapi_window_tick(w);
    assert_true(mapi_window_recording(w));
    assert_int_equal(points_of_node(w, "memory/usage"), 17);
    mapi_window_free(w);
}
