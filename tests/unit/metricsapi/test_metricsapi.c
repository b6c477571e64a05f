/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_metricsapi.c - the store (metrics-server's rules for samples, usage,
 * timestamp and window), the value formats and the request side.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapi_int.h"
#include "kp_test.h"

#define S  1000000000LL
#define T0 (1700000000LL * S)

/* ---- building batches as the collector emits them ---------------------------------- */

struct tb {
    struct kp_series series[16];
    struct kp_point points[64];
    size_t ns, np;
};

static void tb_point(struct tb *b, int metric, int64_t v, int64_t ts)
{
    b->points[b->np++] = (struct kp_point){
        .series = (uint32_t)(b->ns - 1), .metric = (uint16_t)metric, .v.i = v, .ts_ns = ts};
}

/* cpu: cumulative core-ns; start: Unix ns (0: no uptime point) */
static void tb_values(struct tb *b, uint64_t cpu, uint64_t mem, int64_t ts, int64_t start)
{
    tb_point(b, KP_M_CPU_USAGE, (int64_t)cpu, ts);
    tb_point(b, KP_M_MEM_WORKING_SET, (int64_t)mem, ts);
    if (start)
        tb_point(b, KP_M_UPTIME, (ts - start) / 1000000, ts);
}

static void tb_node(struct tb *b, const char *name, const char *labels, uint64_t cpu, uint64_t mem,
                    int64_t ts)
{
    struct kp_series *s = &b->series[b->ns++];
    s->nlabels = 0;
    if (labels)
        s->labels[s->nlabels++] = (struct kp_label){"labels", labels};
    s->labels[s->nlabels++] = (struct kp_label){"nodename", name};
    s->labels[s->nlabels++] = (struct kp_label){"type", "node"};
    tb_values(b, cpu, mem, ts, T0 - 1000 * S);
}

static void tb_ctr(struct tb *b, const char *ns, const char *pod, const char *c, const char *labels,
                   uint64_t cpu, uint64_t mem, int64_t ts, int64_t start)
{
    struct kp_series *s = &b->series[b->ns++];
    s->nlabels = 0;
    s->labels[s->nlabels++] = (struct kp_label){"container_name", c};
    if (labels)
        s->labels[s->nlabels++] = (struct kp_label){"labels", labels};
    s->labels[s->nlabels++] = (struct kp_label){"namespace_name", ns};
    s->labels[s->nlabels++] = (struct kp_label){"nodename", "n1"};
    s->labels[s->nlabels++] = (struct kp_label){"pod_name", pod};
    s->labels[s->nlabels++] = (struct kp_label){"type", "pod_container"};
    tb_values(b, cpu, mem, ts, start);
}

static void feed(struct mapi_store *st, struct tb *b)
{
    struct kp_batch kb = {b->series, b->ns, b->points, b->np, NULL};
    assert_int_equal(mapi_store_add_batch(st, &kb), 0);
    mapi_store_commit(st);
    memset(b, 0, sizeof(*b));
}

/* One cycle in which the only series is node name's. */
static void node_cycle(struct mapi_store *st, const char *name, uint64_t cpu, uint64_t mem,
                       int64_t ts)
{
    struct tb b = {0};
    tb_node(&b, name, NULL, cpu, mem, ts);
    feed(st, &b);
}

/* Each store test gets a new store with a 60 s resolution in *state. */
static int store_setup(void **state)
{
    *state = mapi_store_new(60);
    return *state ? 0 : -1;
}

static int store_teardown(void **state)
{
    mapi_store_free(*state);
    return 0;
}

/* ---- nodes ---------------------------------------------------------------------------- */

/* Points carry the cycle's grid time; the store must take the kubelet's sample time from
 * kp_batch.sampled_ns, or a kubelet that repeats a sample in the next cycle reads as 0 CPU
 * over one resolution. */
KP_TEST_F(test_node_usage_from_kubelet_sample_time, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    struct tb b = {0};
    struct mapi_usage u;
    const int64_t sampled[][1] = {{T0 - 7 * S}, {T0 + 50 * S}, {T0 + 50 * S}};
    const uint64_t cpu[] = {1000 * S, 1015 * S, 1015 * S};
    for (int cycle = 0; cycle < 3; cycle++) {
        tb_node(&b, "n1", NULL, cpu[cycle], 8192, T0 + cycle * 60 * S); /* the grid */
        /* uptime as the collector computes it: from the sample time (tb_node's start) */
        b.points[b.np - 1].v.i = (sampled[cycle][0] - (T0 - 1000 * S)) / 1000000;
        struct kp_batch kb = {b.series, b.ns, b.points, b.np, sampled[cycle]};
        assert_int_equal(mapi_store_add_batch(st, &kb), 0);
        mapi_store_commit(st);
        memset(&b, 0, sizeof(b));
    }
    /* 15 core-seconds over the kubelet's 57 s, not 0 over the grid's last 60 s */
    assert_int_equal(mapi_store_node_usage(st, "n1", &u), 0);
    assert_int_equal(u.ts_ns, T0 + 50 * S);
    assert_int_equal(u.window_ns, 57 * S);
    assert_in_range(u.cpu_nano, 263157894, 263157895); /* 15e9 core-ns / 57 s */
}

KP_TEST_F(test_node_usage_over_window, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    struct mapi_usage u;
    node_cycle(st, "n1", 1000 * S, 4096, T0);
    /* one sample: nothing to serve, as metrics-server needs two */
    assert_int_equal(mapi_store_node_usage(st, "n1", &u), -1);
    assert_int_equal(mapi_store_node_count(st), 0);
    /* 15 core-seconds over 60 s: 250 millicores */
    node_cycle(st, "n1", 1015 * S, 8192, T0 + 60 * S);
    assert_int_equal(mapi_store_node_usage(st, "n1", &u), 0);
    assert_int_equal(u.cpu_nano, 250000000);
    assert_int_equal(u.mem_bytes, 8192);
    assert_int_equal(u.ts_ns, T0 + 60 * S);
    assert_int_equal(u.window_ns, 60 * S);
    /* a repeated sample keeps the previous one: the window stays */
    node_cycle(st, "n1", 1015 * S, 8192, T0 + 60 * S);
    assert_int_equal(mapi_store_node_usage(st, "n1", &u), 0);
    assert_int_equal(u.window_ns, 60 * S);
    /* a node missing from a cycle (its scrape failed) is gone */
    node_cycle(st, "n2", 1, 1, T0 + 120 * S);
    assert_int_equal(mapi_store_node_usage(st, "n1", &u), -1);
}

KP_TEST_F(test_node_counter_back, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    struct mapi_usage u;
    node_cycle(st, "n1", 1000 * S, 1, T0);
    node_cycle(st, "n1", 999 * S, 1, T0 + 60 * S);
    assert_int_equal(mapi_store_node_usage(st, "n1", &u), -1);
    /* the next interval is computable again */
    node_cycle(st, "n1", 1005 * S, 1, T0 + 120 * S);
    assert_int_equal(mapi_store_node_usage(st, "n1", &u), 0);
    assert_int_equal(u.cpu_nano, 100000000);
}

/* ---- pods ------------------------------------------------------------------------------ */

KP_TEST_F(test_pod_rules, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    struct tb b = {0};
    struct mapi_usage u;
    int64_t old = T0 - 3600 * S;
    tb_ctr(&b, "ns", "p", "a", NULL, 10 * S, 100, T0, old);
    tb_ctr(&b, "ns", "p", "b", NULL, 20 * S, 200, T0 + S, old);
    feed(st, &b);
    assert_int_equal(mapi_store_pod_count(st), 0);
    tb_ctr(&b, "ns", "p", "a", NULL, 16 * S, 300, T0 + 60 * S, old);
    tb_ctr(&b, "ns", "p", "b", NULL, 50 * S, 400, T0 + 61 * S, old);
    feed(st, &b);
    assert_int_equal(mapi_store_pod_count(st), 1);
    assert_int_equal(mapi_store_container_usage(st, "ns", "p", "a", &u), 0);
    assert_int_equal(u.cpu_nano, 100000000);
    assert_int_equal(u.mem_bytes, 300);
    assert_int_equal(mapi_store_container_usage(st, "ns", "p", "b", &u), 0);
    assert_int_equal(u.cpu_nano, 500000000);
    /* the pod's timestamp is its earliest container's */
    const struct mapi_pod *p = mapi_set_pod(mapi_store_set(st), "ns", "p");
    struct mapi_usage ti, us[2];
    bool ok[2];
    assert_non_null(p);
    assert_int_equal(mapi_pod_usage(p, &ti, us, ok), 0);
    assert_int_equal(ti.ts_ns, T0 + 60 * S);

    /* container b restarted after the last sample: no previous one, the pod is not served */
    tb_ctr(&b, "ns", "p", "a", NULL, 22 * S, 300, T0 + 120 * S, old);
    tb_ctr(&b, "ns", "p", "b", NULL, 1 * S, 400, T0 + 125 * S, T0 + 62 * S);
    feed(st, &b);
    assert_int_equal(mapi_store_pod_count(st), 0);
    assert_int_equal(mapi_store_container_usage(st, "ns", "p", "a", &u), -1);
}

KP_TEST_F(test_fresh_container, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    struct tb b = {0};
    struct mapi_usage u;
    /* started 20 s ago (under a resolution, at least 10 s): served from its start */
    tb_ctr(&b, "ns", "young", "c", NULL, 5 * S, 1, T0, T0 - 20 * S);
    /* started 5 s ago: too fresh, waits for a second sample */
    tb_ctr(&b, "ns", "newborn", "c", NULL, 1 * S, 1, T0, T0 - 5 * S);
    feed(st, &b);
    assert_int_equal(mapi_store_container_usage(st, "ns", "young", "c", &u), 0);
    assert_int_equal(u.cpu_nano, 250000000);
    assert_int_equal(u.window_ns, 20 * S);
    assert_int_equal(mapi_store_container_usage(st, "ns", "newborn", "c", &u), -1);
}

KP_TEST_F(test_pod_missing_value_dropped, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    struct tb b = {0};
    for (int i = 0; i < 2; i++) {
        tb_ctr(&b, "ns", "p", "a", NULL, (uint64_t)(10 + i) * S, 1, T0 + i * 60 * S, T0 - S * 999);
        struct kp_series *s = &b.series[b.ns++];
        *s = b.series[0];
        s->labels[0].value = "b";
        tb_point(&b, KP_M_CPU_USAGE, 5 * S, T0 + i * 60 * S); /* no working set */
        feed(st, &b);
    }
    assert_null(mapi_set_pod(mapi_store_set(st), "ns", "p"));
}

KP_TEST_F(test_discard, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    struct tb b = {0};
    struct mapi_usage u;
    node_cycle(st, "n1", 1000 * S, 1, T0);
    node_cycle(st, "n1", 1060 * S, 1, T0 + 60 * S);
    tb_node(&b, "n1", NULL, 9000 * S, 1, T0 + 120 * S);
    struct kp_batch kb = {b.series, b.ns, b.points, b.np, NULL};
    assert_int_equal(mapi_store_add_batch(st, &kb), 0);
    mapi_store_discard(st); /* leadership lost mid-cycle */
    assert_int_equal(mapi_store_node_usage(st, "n1", &u), 0);
    assert_int_equal(u.cpu_nano, 1000000000);
}

/* ---- formats ---------------------------------------------------------------------------- */

KP_TEST(test_formats)
{
    (void)state;
    char q[32], d[40], t[32];
    static const struct {
        uint64_t v;
        const char *s;
    } dec[] = {{0, "0"},
               {1, "1n"},
               {250000000, "250m"},
               {1500000, "1500u"},
               {123456789, "123456789n"},
               {1000000000, "1"},
               {2500000000, "2500m"},
               {10, "10n"},
               {12000, "12u"}};
    for (size_t i = 0; i < sizeof(dec) / sizeof(dec[0]); i++) {
        mapi_fmt_decimal(q, dec[i].v, -9);
        assert_string_equal(q, dec[i].s);
    }
    static const struct {
        uint64_t v;
        const char *s;
    } bin[] = {{0, "0"},
               {512, "512"},
               {1000, "1k"},
               {1024, "1Ki"},
               {1500, "1500"},
               {1048576, "1Mi"},
               {3 * 1073741824ULL, "3Gi"},
               {1049600, "1025Ki"}};
    for (size_t i = 0; i < sizeof(bin) / sizeof(bin[0]); i++) {
        mapi_fmt_binary(q, bin[i].v);
        assert_string_equal(q, bin[i].s);
    }
    static const struct {
        int64_t v;
        const char *s;
    } dur[] = {{0, "0s"},
               {60 * S, "1m0s"},
               {15 * S + S / 2, "15.5s"},
               {3600 * S, "1h0m0s"},
               {1500000, "1.5ms"},
               {999, "999ns"},
               {61 * S + 1, "1m1.000000001s"},
               {-2 * S, "-2s"},
               {1500, "1.5\xc2\xb5s"}};
    for (size_t i = 0; i < sizeof(dur) / sizeof(dur[0]); i++) {
        mapi_fmt_duration(d, dur[i].v);
        assert_string_equal(d, dur[i].s);
    }
    mapi_fmt_time(t, T0 + S / 2);
    assert_string_equal(t, "2023-11-14T22:13:20Z");
}

/* ---- the request side --------------------------------------------------------------------- */

static json_object *get(const struct mapi_store *st, const char *target, int code)
{
    struct mapi_response r;
    mapi_handle(st, "GET", target, T0 + 100 * S, &r);
    if (r.code != code)
        fail_msg("%s: %d, expected %d: %s", target, r.code, code, r.body);
    assert_string_equal(r.content_type, "application/json");
    json_object *o = json_tokener_parse(r.body);
    assert_non_null(o);
    free(r.body);
    return o;
}

static const char *jstr(json_object *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
        json_object *n = NULL;
        if (*k >= '0' && *k <= '9')
            n = json_object_array_get_idx(o, (size_t)atoi(k));
        else
            json_object_object_get_ex(o, k, &n);
        o = n;
    }
    return o ? json_object_get_string(o) : NULL;
}

static size_t nitems(json_object *o)
{
    json_object *it = NULL;
    assert_true(json_object_object_get_ex(o, "items", &it));
    return json_object_array_length(it);
}

/* A list request answered 200 with exactly one item, named name (NULL: any name). */
static void expect_one(struct mapi_store *st, const char *path, const char *name)
{
    json_object *o = get(st, path, 200);
    assert_int_equal(nitems(o), 1);
    if (name)
        assert_string_equal(jstr(o, "items.0.metadata.name"), name);
    json_object_put(o);
}

/* Two cycles of two nodes and three containers in two pods, into st. */
static void two_cycles(struct mapi_store *st)
{
    struct tb b = {0};
    int64_t old = T0 - 3600 * S;
    for (int i = 0; i < 2; i++) {
        int64_t ts = T0 + i * 60 * S;
        uint64_t k = (uint64_t)i;
        tb_node(&b, "n1", "kubernetes.io/hostname:n1,zone:a", 100 * S + k * 60 * S, 1048576, ts);
        tb_node(&b, "n2", "zone:b", 100 * S + k * 30 * S, 2048, ts);
        tb_ctr(&b, "kube-system", "dns", "coredns", "k8s-app:kube-dns", S + k * 6 * S, 1000, ts,
               old);
        tb_ctr(&b, "kube-system", "dns", "sidecar", "k8s-app:kube-dns", S + k * 3 * S, 24, ts, old);
        tb_ctr(&b, "default", "web", "nginx", "app:web,tier:front", S + k * 12 * S, 5000, ts, old);
        feed(st, &b);
    }
}

KP_TEST_F(test_discovery, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    json_object *o = get(st, "/apis", 200);
    assert_string_equal(jstr(o, "groups.0.name"), "metrics.k8s.io");
    assert_string_equal(jstr(o, "groups.0.preferredVersion.groupVersion"),
                        "metrics.k8s.io/v1beta1");
    json_object_put(o);
    o = get(st, "/apis/metrics.k8s.io", 200);
    assert_string_equal(jstr(o, "kind"), "APIGroup");
    json_object_put(o);
    o = get(st, "/apis/metrics.k8s.io/v1beta1/", 200);
    assert_string_equal(jstr(o, "resources.0.name"), "nodes");
    assert_string_equal(jstr(o, "resources.1.kind"), "PodMetrics");
    assert_string_equal(jstr(o, "resources.1.namespaced"), "true");
    json_object_put(o);
    o = get(st, "/openapi/v2", 200);
    assert_string_equal(jstr(o, "swagger"), "2.0");
    json_object_put(o);
    o = get(st, "/openapi/v3", 200);
    json_object *paths = NULL, *gv = NULL;
    assert_true(json_object_object_get_ex(o, "paths", &paths));
    assert_true(json_object_object_get_ex(paths, "apis/metrics.k8s.io/v1beta1", &gv));
    json_object_put(o);
    o = get(st, "/openapi/v3/apis/metrics.k8s.io/v1beta1", 200);
    assert_string_equal(jstr(o, "openapi"), "3.0.0");
    json_object_put(o);
    json_object_put(get(st, "/apis/other.k8s.io", 404));
    json_object_put(get(st, "/apis/metrics.k8s.io/v1beta1/services", 404));
}

KP_TEST_F(test_nodes, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    two_cycles(st);
    json_object *o = get(st, "/apis/metrics.k8s.io/v1beta1/nodes", 200);
    assert_string_equal(jstr(o, "kind"), "NodeMetricsList");
    assert_int_equal(nitems(o), 2);
    assert_string_equal(jstr(o, "items.0.metadata.name"), "n1");
    assert_string_equal(jstr(o, "items.0.usage.cpu"), "1");
    assert_string_equal(jstr(o, "items.0.usage.memory"), "1Mi");
    assert_string_equal(jstr(o, "items.0.window"), "1m0s");
    assert_string_equal(jstr(o, "items.0.timestamp"), "2023-11-14T22:14:20Z");
    assert_string_equal(jstr(o, "items.0.metadata.labels.zone"), "a");
    assert_string_equal(jstr(o, "items.1.usage.cpu"), "500m");
    assert_string_equal(jstr(o, "items.1.usage.memory"), "2Ki");
    json_object_put(o);
    expect_one(st, "/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Db", "n2");
    expect_one(st, "/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector=metadata.name!%3Dn2", "n1");
    o = get(st, "/apis/metrics.k8s.io/v1beta1/nodes/n2", 200);
    assert_string_equal(jstr(o, "kind"), "NodeMetrics");
    assert_string_equal(jstr(o, "usage.cpu"), "500m");
    json_object_put(o);
    o = get(st, "/apis/metrics.k8s.io/v1beta1/nodes/n3", 404);
    assert_string_equal(jstr(o, "reason"), "NotFound");
    assert_string_equal(jstr(o, "message"), "nodemetrics.metrics.k8s.io \"n3\" not found");
    json_object_put(o);
    o = get(st, "/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone+in+(a", 400);
    assert_string_equal(jstr(o, "reason"), "BadRequest");
    json_object_put(o);
}

/* A node that cannot be rendered yet (one sample, no rate) is left out of a list whole, the
 * comma before it too: the body stays strict JSON (json-c's default parser would take
 * "[{...},]"). */
KP_TEST_F(test_list_leaves_out_whole_item, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    struct tb b = {0};
    for (int i = 0; i < 2; i++) {
        uint64_t k = (uint64_t)i;
        tb_node(&b, "n1", NULL, 100 * S + k * 60 * S, 1048576, T0 + i * 60 * S);
        if (i == 1)
            tb_node(&b, "n2", NULL, 100 * S, 2048, T0 + i * 60 * S);
        feed(st, &b);
    }
    struct mapi_response r;
    mapi_handle(st, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", T0 + 100 * S, &r);
    assert_int_equal(r.code, 200);
    json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex(tok, r.body, (int)strlen(r.body));
    if (!o)
        fail_msg("not strict JSON: %s", r.body);
    assert_int_equal(nitems(o), 1);
    assert_string_equal(jstr(o, "items.0.metadata.name"), "n1");
    json_object_put(o);
    json_tokener_free(tok);
    free(r.body);
}

KP_TEST_F(test_pods, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    two_cycles(st);
    json_object *o = get(st, "/apis/metrics.k8s.io/v1beta1/pods", 200);
    assert_int_equal(nitems(o), 2);
    /* sorted by namespace, then name */
    assert_string_equal(jstr(o, "items.0.metadata.namespace"), "default");
    assert_string_equal(jstr(o, "items.0.containers.0.usage.cpu"), "200m");
    assert_string_equal(jstr(o, "items.1.metadata.name"), "dns");
    assert_string_equal(jstr(o, "items.1.containers.0.name"), "coredns");
    assert_string_equal(jstr(o, "items.1.containers.0.usage.cpu"), "100m");
    assert_string_equal(jstr(o, "items.1.containers.0.usage.memory"), "1k");
    assert_string_equal(jstr(o, "items.1.containers.1.usage.cpu"), "50m");
    assert_string_equal(jstr(o, "items.1.metadata.labels.k8s-app"), "kube-dns");
    json_object_put(o);
    expect_one(st, "/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods", NULL);
    expect_one(st, "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=k8s-app%3Dkube-dns", NULL);
    expect_one(st, "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=tier+notin+(back),app", "web");
    expect_one(st, "/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=metadata.namespace%3Ddefault",
               NULL);
    o = get(st, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web", 200);
    assert_string_equal(jstr(o, "kind"), "PodMetrics");
    json_object_put(o);
    o = get(st, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/dns", 404);
    assert_string_equal(jstr(o, "message"), "podmetrics.metrics.k8s.io \"default/dns\" not found");
    json_object_put(o);
    json_object_put(get(st, "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=%zz", 400));
    /* a good label selector with a bad field selector: both freed (found by the fuzzer) */
    json_object_put(
        get(st, "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=a+in+(b)&fieldSelector=x", 400));
    json_object_put(get(st, "/apis/metrics.k8s.io/v1beta1/pods/x/y", 404));
    struct mapi_response r;
    mapi_handle(st, "POST", "/apis/metrics.k8s.io/v1beta1/pods", 0, &r);
    assert_int_equal(r.code, 405);
    free(r.body);
}

/* A follower's copy: the same answers; after a takeover the next cycle is served at once. */
KP_TEST_F(test_export_import, store_setup, store_teardown)
{
    struct mapi_store *leader = *state, *follower = mapi_store_new(60);
    two_cycles(leader);
    struct mapi_usage a, b;
    size_t len;
    char *doc = mapi_store_export(leader, &len), err[256];
    assert_non_null(doc);
    assert_int_equal(mapi_store_import(follower, doc, len, err, sizeof err), 0);
    assert_int_equal(mapi_store_node_count(follower), 2);
    assert_int_equal(mapi_store_pod_count(follower), 2);
    assert_int_equal(mapi_store_node_usage(leader, "n2", &a), 0);
    assert_int_equal(mapi_store_node_usage(follower, "n2", &b), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(mapi_store_container_usage(follower, "kube-system", "dns", "sidecar", &b), 0);
    assert_int_equal(b.cpu_nano, 50000000);
    json_object *o =
        get(follower, "/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Da", 200);
    assert_int_equal(nitems(o), 1);
    json_object_put(o);
    /* the follower takes over: its first cycle has the previous leader's last sample */
    struct tb t = {0};
    tb_node(&t, "n2", "zone:b", 100 * S + 30 * S + 60 * S, 4096, T0 + 120 * S);
    feed(follower, &t);
    assert_int_equal(mapi_store_node_usage(follower, "n2", &b), 0);
    assert_int_equal(b.cpu_nano, 1000000000);
    assert_int_equal(b.window_ns, 60 * S);
    /* a bad document changes nothing */
    static const char *const bad[] = {
        "",
        "[]",
        "{\"v\":2,\"nodes\":[],\"pods\":[]}",
        "{\"v\":1,\"nodes\":[{}],\"pods\":[]}",
        "{\"v\":1,\"nodes\":[{\"n\":\"a\",\"s\":[1,0,1]}],\"pods\":[]}",
        "{\"v\":1,\"nodes\":[{\"n\":\"a\",\"s\":[1,0,1,1]},{\"n\":\"a\",\"s\":[1,0,1,1]}],"
        "\"pods\":[]}",
        "{\"v\":1,\"nodes\":[],\"pods\":[{\"ns\":\"x\",\"n\":\"p\",\"c\":[{\"n\":\"c\","
        "\"s\":[1,0,1,1]},{\"n\":\"c\",\"s\":[1,0,1,1]}]}]}",
        "{\"v\":1,\"nodes\":[],\"pods\":[]} trailing",
        "{\"v\":1,\"nodes\":[],\"pods\":[7]}",
        "{\"v\":1,\"nodes\":[],\"pods\":[{\"ns\":\"x\",\"n\":\"p\",\"c\":[]},"
        "{\"ns\":\"x\",\"n\":\"p\",\"c\":[]}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mapi_store_import(follower, bad[i], strlen(bad[i]), err, sizeof err) == 0)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(mapi_store_node_usage(follower, "n2", &b), 0);
    }
    free(doc);
    mapi_store_free(follower);
}

/* The answers' text, byte for byte: what the json-c tree printed before render.c (captured
 * from that code) for names and labels with every character JSON escapes, '/', DEL and UTF-8,
 * and json-c's own printing of the parsed answer (the same members, order and escapes). */
static const struct {
    const char *target, *body;
} render_cases[] = {
    {"/apis/metrics.k8s.io/v1beta1/nodes",
     "{\"kind\":\"NodeMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1beta1\",\"metada"
     "ta\":{},\"items\":[{\"metadata\":{\"name\":\"n/\\\"q\\\\\",\"creationTimestamp\""
     ":\"2023-11-14T22:15:00Z\",\"labels\":{\"a/b\":\"c\\\"d\\\\e\\u0001\177\303\251\""
     ",\"zone\":\"a\"}},\"timestamp\":\"2023-11-14T22:14:20Z\",\"window\":\"1m0s\",\"u"
     "sage\":{\"cpu\":\"1016666666n\",\"memory\":\"1048577\"}},{\"metadata\":{\"name\""
     ":\"n2\",\"creationTimestamp\":\"2023-11-14T22:15:00Z\"},\"timestamp\":\"2023-11-"
     "14T22:14:20Z\",\"window\":\"1m0s\",\"usage\":{\"cpu\":\"116666666n\",\"memory\":"
     "\"1023\"}}]}"},
    {"/apis/metrics.k8s.io/v1beta1/nodes/n%2F%22q%5C",
     "{\"metadata\":{\"name\":\"n/\\\"q\\\\\",\"creationTimestamp\":\"2023-11-14T22:15"
     ":00Z\",\"labels\":{\"a/b\":\"c\\\"d\\\\e\\u0001\177\303\251\",\"zone\":\"a\"}},"
     "\"timestamp\":\"2023-11-14T22:14:20Z\",\"window\":\"1m0s\",\"usage\":{\"cpu\":\""
     "1016666666n\",\"memory\":\"1048577\"},\"kind\":\"NodeMetrics\",\"apiVersion\":\""
     "metrics.k8s.io/v1beta1\"}"},
    {"/apis/metrics.k8s.io/v1beta1/pods",
     "{\"kind\":\"PodMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1beta1\",\"metadat"
     "a\":{},\"items\":[{\"metadata\":{\"name\":\"dns\",\"namespace\":\"kube-system\","
     "\"creationTimestamp\":\"2023-11-14T22:15:00Z\",\"labels\":{\"k8s-app\":\"kube-dn"
     "s\"}},\"timestamp\":\"2023-11-14T22:14:20Z\",\"window\":\"1m0s\",\"containers\":"
     "[{\"name\":\"coredns\",\"usage\":{\"cpu\":\"50m\",\"memory\":\"24\"}}]},{\"metad"
     "ata\":{\"name\":\"p\\t\\\"\\\\\\u0001\\u001f\177\303\251\",\"namespace\":\"ns/x"
     "\",\"creationTimestamp\":\"2023-11-14T22:15:00Z\",\"labels\":{\"k\":\"v\\u001f\""
     "}},\"timestamp\":\"2023-11-14T22:14:20Z\",\"window\":\"1m0s\",\"containers\":[{"
     "\"name\":\"c\\b\\f\\n\\r\",\"usage\":{\"cpu\":\"100m\",\"memory\":\"5Mi\"}},{\"n"
     "ame\":\"d\",\"usage\":{\"cpu\":\"16666n\",\"memory\":\"1000000000\"}}]}]}"},
    {"/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods",
     "{\"kind\":\"PodMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1beta1\",\"metadat"
     "a\":{},\"items\":[{\"metadata\":{\"name\":\"dns\",\"namespace\":\"kube-system\","
     "\"creationTimestamp\":\"2023-11-14T22:15:00Z\",\"labels\":{\"k8s-app\":\"kube-dn"
     "s\"}},\"timestamp\":\"2023-11-14T22:14:20Z\",\"window\":\"1m0s\",\"containers\":"
     "[{\"name\":\"coredns\",\"usage\":{\"cpu\":\"50m\",\"memory\":\"24\"}}]}]}"},
    {"/apis/metrics.k8s.io/v1beta1/namespaces/ns%2Fx/pods/p%09%22%5C%01%1F%7F%C3%A9",
     "{\"metadata\":{\"name\":\"p\\t\\\"\\\\\\u0001\\u001f\177\303\251\",\"namespace\""
     ":\"ns/x\",\"creationTimestamp\":\"2023-11-14T22:15:00Z\",\"labels\":{\"k\":\"v\\"
     "u001f\"}},\"timestamp\":\"2023-11-14T22:14:20Z\",\"window\":\"1m0s\",\"container"
     "s\":[{\"name\":\"c\\b\\f\\n\\r\",\"usage\":{\"cpu\":\"100m\",\"memory\":\"5Mi\"}"
     "},{\"name\":\"d\",\"usage\":{\"cpu\":\"16666n\",\"memory\":\"1000000000\"}}],\"k"
     "ind\":\"PodMetrics\",\"apiVersion\":\"metrics.k8s.io/v1beta1\"}"},
    {"/apis/metrics.k8s.io/v1beta1/namespaces/none/pods",
     "{\"kind\":\"PodMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1beta1\",\"metadat"
     "a\":{},\"items\":[]}"},
    {"/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Dnone",
     "{\"kind\":\"NodeMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1beta1\",\"metada"
     "ta\":{},\"items\":[]}"},
};

KP_TEST_F(test_render_text, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    struct tb b = {0};
    int64_t old = T0 - 3600 * S;
    for (int i = 0; i < 2; i++) {
        int64_t ts = T0 + i * 60 * S;
        uint64_t k = (uint64_t)i;
        tb_node(&b, "n/\"q\\", "a/b:c\"d\\e\x01\x7f\xc3\xa9,zone:a", 100 * S + k * 61 * S, 1048577,
                ts);
        tb_node(&b, "n2", NULL, 100 * S + k * 7 * S, 1023, ts);
        tb_ctr(&b, "ns/x", "p\t\"\\\x01\x1f\x7f\xc3\xa9", "c\b\f\n\r", "k:v\x1f", S + k * 6 * S,
               5 << 20, ts, old);
        tb_ctr(&b, "ns/x", "p\t\"\\\x01\x1f\x7f\xc3\xa9", "d", NULL, S + k * S / 1000, 1000000000,
               ts, old);
        tb_ctr(&b, "kube-system", "dns", "coredns", "k8s-app:kube-dns", S + k * 3 * S, 24, ts, old);
        feed(st, &b);
    }
    for (size_t i = 0; i < sizeof(render_cases) / sizeof(render_cases[0]); i++) {
        struct mapi_response r;
        mapi_handle(st, "GET", render_cases[i].target, T0 + 100 * S, &r);
        assert_int_equal(r.code, 200);
        assert_int_equal(r.len, strlen(r.body));
        json_object *o = json_tokener_parse(r.body);
        assert_non_null(o);
        assert_string_equal(r.body,
                            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
        assert_string_equal(r.body, render_cases[i].body);
        json_object_put(o);
        free(r.body);
    }
    /* the followers' copy of the same store: json-c's printing of the parsed export, which
     * imports to the same answers */
    size_t len;
    char *doc = mapi_store_export(st, &len), err[256];
    assert_non_null(doc);
    assert_int_equal(len, strlen(doc));
    json_object *o = json_tokener_parse(doc);
    assert_non_null(o);
    assert_string_equal(doc, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    struct mapi_store *f = mapi_store_new(60);
    assert_int_equal(mapi_store_import(f, doc, len, err, sizeof err), 0);
    for (size_t i = 0; i < sizeof(render_cases) / sizeof(render_cases[0]); i++) {
        struct mapi_response r;
        mapi_handle(f, "GET", render_cases[i].target, T0 + 100 * S, &r);
        assert_string_equal(r.body, render_cases[i].body);
        free(r.body);
    }
    mapi_store_free(f);
    free(doc);
}

/* import.c's reader: members in any order, unknown ones skipped, escapes decoded; what it
 * refuses changes nothing. */
KP_TEST_F(test_import_grammar, store_setup, store_teardown)
{
    struct mapi_store *st = *state;
    struct mapi_usage u;
    char err[256];
    static const char good[] =
        " {\"pods\":[{\"c\":[{\"p\":[1,0,0,0],\"n\":\"c\",\"s\":[2000000000,0,1000000000,5]}],"
        "\"n\":\"p\",\"ns\":\"x\",\"extra\":[]}],\"x\":{\"a\":[1,-2,{\"b\":null}],\"t\":true,"
        "\"f\":false,\"s\":\"\\u00e9\"},\"nodes\":[{\"s\":[2000000000,0,3000000000,7],\"n\":"
        "\"a\\u00e9\\ud83d\\ude00\\/\\\"\",\"zz\":true,\"p\":[1000000000,0,1000000000,7]}],"
        "\"v\":1}";
    assert_int_equal(mapi_store_import(st, good, strlen(good), err, sizeof err), 0);
    assert_int_equal(mapi_store_node_usage(st, "a\xc3\xa9\xf0\x9f\x98\x80/\"", &u), 0);
    assert_int_equal(u.cpu_nano, 2000000000);
    assert_int_equal(mapi_store_container_usage(st, "x", "p", "c", &u), 0);
    assert_int_equal(u.cpu_nano, 500000000);
#define DOC(nodes)    "{\"v\":1,\"nodes\":[" nodes "],\"pods\":[]}"
#define NODE(name, s) "{\"n\":\"" name "\",\"s\":[" s "]}"
    static const char *const bad[] = {
        DOC(NODE("a\\u0000b", "1,0,1,1")),
        DOC(NODE("a\\ud800", "1,0,1,1")),
        DOC(NODE("a\\udc00", "1,0,1,1")),
        DOC(NODE("a\\ud800\\u0041", "1,0,1,1")),
        DOC(NODE("a\\x", "1,0,1,1")),
        DOC(NODE("a\\u00g0", "1,0,1,1")),
        DOC(NODE("a\tb", "1,0,1,1")),
        DOC(NODE("", "1,0,1,1")),
        DOC(NODE("a", "01,0,1,1")),
        DOC(NODE("a", "1.5,0,1,1")),
        DOC(NODE("a", "1e3,0,1,1")),
        DOC(NODE("a", "-1,0,1,1")),
        DOC(NODE("a", "0,0,1,1")),
        DOC(NODE("a", "1,-5,1,1")),
        DOC(NODE("a", "1,0,-1,1")),
        DOC(NODE("a", "1,0,1")),
        DOC(NODE("a", "1,0,1,1,1")),
        DOC(NODE("a", "1,0,18446744073709551616,1")),
        DOC(NODE("a", "9223372036854775808,0,1,1")),
        DOC("{\"n\":\"a\"}"),
        DOC("{\"n\":\"a\",\"s\":[1,0,1,1],\"x\":[[[[[[[[1]]]]]]]]}"),
        DOC(NODE("a", "1,0,1,1") ","),
        DOC("{\"n\":\"a\",\"s\":[1,0,1,1],}"),
        DOC("{\"n\":\"a\" \"s\":[1,0,1,1]}"),
        DOC("{\"n\":\"a\",\"s\":[1,0,1,1],\"x\":tru}"),
        "{\"v\":1,\"nodes\":[" NODE("a", "1,0,1,1") "],\"pods\":[]} ",
        "{\"v\":1,\"nodes\":[" NODE("a", "1,0,1,1") "],\"pods\":[]",
        "{\"v\":1,\"nodes\":[" NODE("a", "1,0,1,1") "]}",
        "{\"v\":2,\"nodes\":[],\"pods\":[]}",
        "{\"v\":\"1\",\"nodes\":[],\"pods\":[]}",
        "{\"v\":1,\"nodes\":[],\"pods\":[{\"ns\":\"x\",\"n\":\"p\"}]}",
        "{\"v\":1,\"nodes\":[],\"pods\":[{\"ns\":\"x\",\"c\":[]}]}",
        "{\"v\":1,\"nodes\":[],\"pods\":[{\"ns\":\"x\",\"n\":\"p\",\"c\":[{\"n\":\"c\"}]}]}",
        "{\"v\":1,\"nodes\":[],\"pods\":[{\"ns\":\"x\",\"n\":\"p\",\"c\":[],\"c\":[]}]}",
        "{\"v\":1,\"nodes\":[],\"nodes\":[],\"pods\":[]}",
        "{\"v\":1,\"nodes\":[],\"pods\":[]}{}",
        "\"x\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mapi_store_import(st, bad[i], strlen(bad[i]), err, sizeof err) == 0)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(mapi_store_node_usage(st, "a\xc3\xa9\xf0\x9f\x98\x80/\"", &u), 0);
    }
    /* a name of 253 bytes is one; 254 are too many; 257 containers are too many */
    char doc[20000], name[300];
    memset(name, 'n', 254);
    name[254] = '\0';
    snprintf(doc, sizeof doc, DOC(NODE("%s", "1,0,1,1")), name);
    assert_int_not_equal(mapi_store_import(st, doc, strlen(doc), err, sizeof err), 0);
    name[253] = '\0';
    snprintf(doc, sizeof doc, DOC(NODE("%s", "1,0,1,1")), name);
    assert_int_equal(mapi_store_import(st, doc, strlen(doc), err, sizeof err), 0);
    size_t n = (size_t)snprintf(
        doc, sizeof doc, "{\"v\":1,\"nodes\":[],\"pods\":[{\"ns\":\"x\",\"n\":\"p\",\"c\":[");
    for (int i = 0; i < 257; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "%s{\"n\":\"c%d\",\"s\":[1,0,1,1]}",
                              i ? "," : "", i);
    snprintf(doc + n, sizeof doc - n, "]}]}");
    assert_int_not_equal(mapi_store_import(st, doc, strlen(doc), err, sizeof err), 0);
#undef DOC
#undef NODE
}
