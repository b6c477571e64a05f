/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_model.c - the metric model end to end on hand-written Summary
 * fixtures (fixtures/n1_t0.json, n1_t1.json: node n1, pods web-1 (default,
 * containers app + sidecar, no pod-level cpu/memory) and db-0 (prod, one
 * container, pod-level cpu/memory); n2_*: node n2, pod job-x in default).
 * t0 = 2024-01-01T00:00:00Z, t1 = t0 + 10 s. Every expected value below is
 * computed by hand from the fixture numbers, arithmetic in the comments.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "harness.h"
#include "rates.h"
#include "scope.h"

#define T1_NS 1704067210000000000LL /* 2024-01-01T00:00:10Z */
#define T0_NS 1704067200000000000LL

static const struct model_node_info n1_info = {
    .name = "n1",
    .hostname = "n1.example",
    .host_id = "aws:///eu-west-1a/i-0abc",
    .labels = "zone:a",
    .cpu_capacity_m = 4000,
    .cpu_allocatable_m = 3800,
    .mem_capacity = 17179869184LL,    /* 16Gi */
    .mem_allocatable = 16106127360LL, /* 15Gi */
};
static const struct model_node_info n2_info = {
    .name = "n2",
    .cpu_capacity_m = 2000,
    .cpu_allocatable_m = 2000,
    .mem_capacity = -1,
    .mem_allocatable = -1,
};

struct env {
    struct rates *rates;
    struct model *model;
    struct summary_parser *parser;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    e->rates = rates_new();
    e->model = model_new(e->rates, h_lookup, NULL);
    e->parser = summary_parser_new();
    h_reset();
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    summary_parser_free(e->parser);
    model_free(e->model);
    rates_free(e->rates);
    free(e);
    return 0;
}

static void scrape(struct env *e, const char *fixture, const struct model_node_info *ni,
                   size_t chunk)
{
    size_t len;
    char err[256];
    char *data = h_read_fixture(fixture, &len);
    int rc = h_scrape(e->model, e->parser, data, len, ni, chunk, err, sizeof(err));
    if (rc)
        fail_msg("%s: %s", fixture, err);
    free(data);
}

/* One whole response (data) through slot mn for node ni; model_node_finish is the caller's. */
static void slot_feed(struct env *e, struct model_node *mn, const struct model_node_info *ni,
                      const char *data, size_t len)
{
    static const struct summary_handlers hs = {.node = model_node_on_node,
                                               .pod = model_node_on_pod};
    char err[256];
    model_node_begin(mn, ni);
    summary_parse_reset(e->parser, &hs, mn);
    assert_int_equal(summary_parse_feed(e->parser, data, len, err, sizeof(err)), 0);
    assert_int_equal(summary_parse_finish(e->parser, err, sizeof(err)), 0);
}

/* Two cycles of n1 (and n2), keeping only the second cycle's points. */
static void two_cycles(struct env *e, size_t chunk, int with_n2)
{
    model_cycle_begin(e->model, 1, T0_NS);
    scrape(e, "n1_t0.json", &n1_info, chunk);
    if (with_n2)
        scrape(e, "n2_t0.json", &n2_info, chunk);
    model_cycle_end(e->model, NULL, NULL);
    h_reset();
    model_cycle_begin(e->model, 2, T1_NS);
    scrape(e, "n1_t1.json", &n1_info, chunk);
    if (with_n2)
        scrape(e, "n2_t1.json", &n2_info, chunk);
    model_cycle_end(e->model, h_collect, NULL);
}

KP_TEST_F(test_node_metrics, setup, teardown)
{
    struct env *e = *state;
    two_cycles(e, 0, 0);
    assert_int_equal(h_order_violations, 0);
    const char *n = "type=node,nodename=n1,hostname=n1.example,host_id=aws:///eu-west-1a/i-0abc,"
                    "labels=zone:a";
    /* startTime 2023-12-31T00:00:00Z, sample t1: 86400 s + 10 s = 86410000 ms */
    assert_int_equal(h_int(n, KP_M_UPTIME), 86410000);
    assert_int_equal(h_find(n, KP_M_UPTIME)->ts, T1_NS);
    assert_int_equal(h_int(n, KP_M_CPU_USAGE), 1020000000000LL); /* 1e12 + 2e10 */
    /* (1.02e12 - 1e12) ns * 1000 / 1e10 ns = 2000 millicores */
    assert_int_equal(h_int(n, KP_M_CPU_USAGE_RATE), 2000);
    assert_int_equal(h_int(n, KP_M_MEM_USAGE), 4500000000LL);
    assert_int_equal(h_int(n, KP_M_MEM_WORKING_SET), 3000000000LL);
    assert_int_equal(h_int(n, KP_M_MEM_RSS), 2000000000LL);
    assert_int_equal(h_int(n, KP_M_MEM_PAGE_FAULTS), 1500);
    assert_float_equal(h_float(n, KP_M_MEM_PAGE_FAULTS_RATE), 50.0, 1e-9);      /* 500/10 s */
    assert_float_equal(h_float(n, KP_M_MEM_MAJOR_PAGE_FAULTS_RATE), 0.2, 1e-9); /* 2/10 s */
    assert_int_equal(h_int(n, KP_M_NET_RX), 1001000000LL);
    assert_float_equal(h_float(n, KP_M_NET_RX_RATE), 100000.0, 1e-6); /* 1e6 B / 10 s */
    assert_float_equal(h_float(n, KP_M_NET_RX_ERRORS_RATE), 0.0, 1e-9);
    assert_float_equal(h_float(n, KP_M_NET_TX_RATE), 50000.0, 1e-6); /* 5e5 B / 10 s */
    assert_int_equal(h_int(n, KP_M_NET_TX_ERRORS), 4);
    assert_float_equal(h_float(n, KP_M_NET_TX_ERRORS_RATE), 0.1, 1e-9); /* 1 / 10 s */
    /* requests: scraped pods' sums; web-1 250+100 = 350, db-0 1000 -> 1350 */
    assert_int_equal(h_int(n, KP_M_CPU_REQUEST), 1350);
    assert_int_equal(h_int(n, KP_M_CPU_LIMIT), 2500);         /* 500 + 0 + 2000 */
    assert_int_equal(h_int(n, KP_M_MEM_REQUEST), 1275068416); /* 192Mi + 1Gi */
    assert_int_equal(h_int(n, KP_M_MEM_LIMIT), 2415919104LL); /* 256Mi + 2Gi */
    assert_float_equal(h_float(n, KP_M_CPU_NODE_CAPACITY), 4000.0, 0);
    assert_float_equal(h_float(n, KP_M_CPU_NODE_ALLOCATABLE), 3800.0, 0);
    assert_float_equal(h_float(n, KP_M_MEM_NODE_CAPACITY), 17179869184.0, 0);
    assert_float_equal(h_float(n, KP_M_MEM_NODE_ALLOCATABLE), 16106127360.0, 0);
    assert_float_equal(h_float(n, KP_M_CPU_NODE_UTILIZATION), 2000.0 / 3800, 1e-12);
    assert_float_equal(h_float(n, KP_M_CPU_NODE_RESERVATION), 1350.0 / 3800, 1e-12);
    /* memory/usage 4.5e9 / 15Gi = 0.27939677...; 1216Mi / 15360Mi = 0.0791666... */
    assert_float_equal(h_float(n, KP_M_MEM_NODE_UTILIZATION), 4.5e9 / 16106127360.0, 1e-12);
    assert_float_equal(h_float(n, KP_M_MEM_NODE_RESERVATION), 1216.0 / 15360.0, 1e-12);
    /* node fs, resource_id "/" */
    const char *fs = "type=node,nodename=n1,resource_id=/";
    assert_int_equal(h_int(fs, KP_M_FS_USAGE), 40000000000LL);
    assert_int_equal(h_int(fs, KP_M_FS_LIMIT), 100000000000LL);
    assert_int_equal(h_int(fs, KP_M_FS_AVAILABLE), 60000000000LL);
    assert_int_equal(h_int(fs, KP_M_FS_INODES), 6553600);
    assert_int_equal(h_int(fs, KP_M_FS_INODES_FREE), 6000000);
}

KP_TEST_F(test_sys_containers, setup, teardown)
{
    struct env *e = *state;
    two_cycles(e, 0, 0);
    const char *k = "type=sys_container,nodename=n1,container_name=kubelet";
    /* 1e8 ns more CPU in 10 s: 1e8 * 1000 / 1e10 = 10 millicores */
    assert_int_equal(h_int(k, KP_M_CPU_USAGE_RATE), 10);
    assert_int_equal(h_int(k, KP_M_MEM_WORKING_SET), 70000000);
    assert_float_equal(h_float(k, KP_M_MEM_PAGE_FAULTS_RATE), 0.0, 0);
    /* Summary "runtime" is Heapster's legacy "docker-daemon": 3e8 * 1000 / 1e10 = 30 */
    const char *r = "type=sys_container,nodename=n1,container_name=docker-daemon";
    assert_int_equal(h_int(r, KP_M_CPU_USAGE_RATE), 30);
    /* t1 - 2023-12-31T00:00:06Z = 86404 s */
    assert_int_equal(h_int(r, KP_M_UPTIME), 86404000);
}

KP_TEST_F(test_containers_and_pods, setup, teardown)
{
    struct env *e = *state;
    two_cycles(e, 0, 0);
    const char *app = "type=pod_container,nodename=n1,pod_name=web-1,pod_id=uid-a,"
                      "namespace_name=default,namespace_id=ns-default-uid,"
                      "labels=app:web\\,tier:front,container_name=app,"
                      "container_base_image=nginx:1.25";
    (void)app; /* the labels value has a comma: match on the rest */
    const char *a =
        "type=pod_container,pod_name=web-1,container_name=app,"
        "container_base_image=nginx:1.25,namespace_id=ns-default-uid,hostname=n1.example";
    assert_int_equal(h_int(a, KP_M_CPU_USAGE_RATE), 500); /* 5e9 * 1000 / 1e10 */
    assert_int_equal(h_int(a, KP_M_MEM_USAGE), 210000000);
    assert_float_equal(h_float(a, KP_M_MEM_PAGE_FAULTS_RATE), 10.0, 1e-9); /* 100 / 10 s */
    assert_int_equal(h_int(a, KP_M_CPU_REQUEST), 250);
    assert_int_equal(h_int(a, KP_M_CPU_LIMIT), 500);
    assert_int_equal(h_int(a, KP_M_MEM_REQUEST), 134217728);
    assert_int_equal(h_int(a, KP_M_MEM_LIMIT), 268435456);
    /* t1 - 2023-12-31T12:00:00Z = 43210 s */
    assert_int_equal(h_int(a, KP_M_UPTIME), 43210000);
    assert_int_equal(h_int("type=pod_container,container_name=app,resource_id=logs", KP_M_FS_USAGE),
                     4096);
    assert_int_equal(h_int("type=pod_container,container_name=app,resource_id=/", KP_M_FS_USAGE),
                     20000);
    const char *s = "type=pod_container,pod_name=web-1,container_name=sidecar";
    assert_int_equal(h_int(s, KP_M_CPU_USAGE_RATE), 100); /* 1e9 * 1000 / 1e10 */
    assert_null(h_find(s, KP_M_MEM_RSS));                 /* not in the Summary */

    /* web-1: no pod-level cpu/memory, so gauges are container sums */
    const char *p = "type=pod,pod_name=web-1,pod_id=uid-a,namespace_name=default,"
                    "namespace_id=ns-default-uid,nodename=n1";
    assert_int_equal(h_int(p, KP_M_CPU_USAGE_RATE), 600);                  /* 500 + 100 */
    assert_int_equal(h_int(p, KP_M_MEM_USAGE), 260000000);                 /* 210e6 + 50e6 */
    assert_int_equal(h_int(p, KP_M_MEM_WORKING_SET), 190000000);           /* 150e6 + 40e6 */
    assert_int_equal(h_int(p, KP_M_MEM_RSS), 100000000);                   /* app only */
    assert_float_equal(h_float(p, KP_M_MEM_PAGE_FAULTS_RATE), 10.0, 1e-9); /* 10 + 0 */
    assert_null(h_find(p, KP_M_CPU_USAGE)); /* cumulative: not summed (Heapster) */
    assert_int_equal(h_int(p, KP_M_CPU_REQUEST), 350);
    assert_int_equal(h_int(p, KP_M_MEM_REQUEST), 201326592);
    assert_int_equal(h_int(p, KP_M_NET_RX), 2200000);
    assert_float_equal(h_float(p, KP_M_NET_RX_RATE), 20000.0, 1e-6); /* 2e5 / 10 s */
    assert_float_equal(h_float(p, KP_M_NET_TX_RATE), 10000.0, 1e-6); /* 1e5 / 10 s */
    assert_int_equal(h_int(p, KP_M_EPHEMERAL_STORAGE_USAGE), 5000000);
    assert_int_equal(h_int(p, KP_M_UPTIME), 43270000); /* since 11:59:00: 43270 s */
    const char *v = "type=pod,pod_name=web-1,resource_id=Volume:data";
    assert_int_equal(h_int(v, KP_M_FS_USAGE), 1000000);
    assert_int_equal(h_int(v, KP_M_FS_INODES_FREE), 1000);
    assert_non_null(strstr(h_find(p, KP_M_UPTIME)->series, "labels=app:web,tier:front"));

    /* db-0: pod-level values win over the container's */
    const char *b = "type=pod,pod_name=db-0,namespace_name=prod";
    assert_int_equal(h_int(b, KP_M_CPU_USAGE), 220500000000LL);
    assert_int_equal(h_int(b, KP_M_CPU_USAGE_RATE), 1050); /* 1.05e10 * 1000 / 1e10 */
    assert_int_equal(h_int(b, KP_M_MEM_USAGE), 1100000000);
    assert_int_equal(h_int(b, KP_M_MEM_RSS), 800000000); /* pod lacks it: container's */
    assert_int_equal(h_int("type=pod_container,pod_name=db-0", KP_M_CPU_USAGE_RATE), 1000);
    assert_int_equal(h_order_violations, 0);
}

/* Every point of a cycle carries the cycle's grid time, whatever the kubelets'
 * sample times; rates and uptime still come from the sample times. */
KP_TEST_F(test_points_carry_cycle_time, setup, teardown)
{
    struct env *e = *state;
    const int64_t g0 = T0_NS + 3000000000LL, g1 = g0 + 15000000000LL; /* not the samples' */
    model_cycle_begin(e->model, 1, g0);
    scrape(e, "n1_t0.json", &n1_info, 0);
    scrape(e, "n2_t0.json", &n2_info, 0);
    model_cycle_end(e->model, NULL, NULL);
    h_reset();
    model_cycle_begin(e->model, 2, g1);
    scrape(e, "n1_t1.json", &n1_info, 0);
    scrape(e, "n2_t1.json", &n2_info, 0);
    model_cycle_end(e->model, h_collect, NULL);
    assert_true(h_nrecs > 50);
    for (size_t i = 0; i < h_nrecs; i++)
        if (h_recs[i].ts != g1)
            fail_msg("%s metric %u at %lld, not the cycle's %lld", h_recs[i].series,
                     h_recs[i].metric, (long long)h_recs[i].ts, (long long)g1);
    const char *n = "type=node,nodename=n1,hostname=n1.example,host_id=aws:///eu-west-1a/i-0abc,"
                    "labels=zone:a";
    /* samples 10 s apart (stamps 15 s apart): 2e10 ns * 1000 / 1e10 ns = 2000 millicores */
    assert_int_equal(h_int(n, KP_M_CPU_USAGE_RATE), 2000);
    assert_int_equal(h_int(n, KP_M_UPTIME), 86410000); /* sample t1 - startTime */
    assert_int_equal(h_int("type=cluster", KP_M_CPU_USAGE_RATE), 1950);
    /* the kubelet's own sample time rides beside the points (the metrics API's windows) */
    assert_int_equal(h_find(n, KP_M_CPU_USAGE)->sampled, T1_NS);
    assert_int_equal(h_find("type=cluster", KP_M_CPU_USAGE_RATE)->sampled, -1);
}

KP_TEST_F(test_ns_and_cluster, setup, teardown)
{
    struct env *e = *state;
    two_cycles(e, 0, 1);
    /* n2/job-x: 3e9 * 1000 / 1e10 = 300 millicores, request 200 */
    const char *d = "type=ns,namespace_name=default,namespace_id=ns-default-uid";
    assert_int_equal(h_int(d, KP_M_CPU_USAGE_RATE), 900);  /* 600 + 300 */
    assert_int_equal(h_int(d, KP_M_MEM_USAGE), 290000000); /* 260e6 + 30e6 */
    assert_int_equal(h_int(d, KP_M_CPU_REQUEST), 550);     /* 350 + 200 */
    assert_int_equal(h_int(d, KP_M_MEM_LIMIT), 268435456); /* 256Mi + 0 */
    assert_int_equal(h_find(d, KP_M_CPU_REQUEST)->ts, T1_NS);
    const char *pr = "type=ns,namespace_name=prod";
    assert_int_equal(h_int(pr, KP_M_CPU_USAGE_RATE), 1050);
    assert_int_equal(h_int(pr, KP_M_MEM_USAGE), 1100000000);
    assert_int_equal(h_int("type=cluster", KP_M_CPU_USAGE_RATE), 1950); /* 900 + 1050 */
    assert_int_equal(h_int("type=cluster", KP_M_MEM_USAGE), 1390000000);
    assert_int_equal(h_int("type=cluster", KP_M_CPU_REQUEST), 1550); /* 550 + 1000 */
    assert_int_equal(h_int("type=cluster", KP_M_MEM_REQUEST), 1275068416);
    /* n2 has no memory allocatable: no memory ratios, cpu ones from 2000 */
    const char *n2 = "type=node,nodename=n2,hostname=n2";
    assert_null(h_find(n2, KP_M_MEM_NODE_UTILIZATION));
    assert_float_equal(h_float(n2, KP_M_CPU_NODE_UTILIZATION), 1000.0 / 2000, 1e-12);
    assert_int_equal(h_order_violations, 0);
}

/* A response cut inside db-0's element (n1 truncated after web-1): the elements decoded before
 * the cut were complete and valid and stay written (n1's system containers, web-1 with its
 * containers and volume) and count in their namespace; db-0 and n1's own series (which need
 * every pod's requests) are not written. */
KP_TEST_F(test_failed_node_keeps_pods_written, setup, teardown)
{
    struct env *e = *state;
    size_t len;
    char err[256];
    model_cycle_begin(e->model, 1, T0_NS);
    scrape(e, "n2_t0.json", &n2_info, 0);
    h_reset();
    char *data = h_read_fixture("n1_t0.json", &len);
    const char *cut = strstr(data, "\"db-0\"");
    assert_non_null(cut);
    assert_int_not_equal(
        h_scrape(e->model, e->parser, data, (size_t)(cut - data), &n1_info, 0, err, sizeof(err)),
        0);
    free(data);
    assert_int_equal(h_order_violations, 0);
    assert_true(h_count("type=sys_container,nodename=n1,container_name=kubelet") > 0);
    assert_int_equal(h_int("type=pod,pod_name=web-1,nodename=n1", KP_M_CPU_REQUEST), 350);
    assert_int_equal(
        h_int("type=pod_container,pod_name=web-1,container_name=sidecar", KP_M_CPU_REQUEST), 100);
    assert_true(h_count("type=pod,pod_name=web-1,resource_id=Volume:data") > 0);
    assert_int_equal(h_count("pod_name=db-0"), 0);
    assert_int_equal(h_count("type=node"), 0); /* nor its filesystem */
    h_reset();
    model_cycle_end(e->model, h_collect, NULL);
    /* the sums are the pods written: job-x (n2) 200 + web-1 350; no db-0, so no prod */
    assert_int_equal(h_count("type=ns,namespace_name=prod"), 0);
    assert_int_equal(h_int("type=ns,namespace_name=default", KP_M_CPU_REQUEST), 550);
    assert_int_equal(h_int("type=ns,namespace_name=default", KP_M_MEM_REQUEST), 201326592);
    assert_int_equal(h_int("type=cluster", KP_M_CPU_REQUEST), 550);
}

/* What a response is cut into: one batch per Summary element, as each is decoded (the
 * system containers, then each pod whole), and the node's own series last, from
 * model_node_finish. */
static struct {
    size_t start[16]; /* h_nrecs before each batch */
    size_t n;
} batches;

static void batch_collect(const struct kp_batch *b, void *ud)
{
    assert_true(batches.n < 16);
    batches.start[batches.n++] = h_nrecs;
    h_collect(b, ud);
}

/* Every record of batch i matches query. */
static void batch_all(size_t i, const char *query)
{
    size_t end = i + 1 < batches.n ? batches.start[i + 1] : h_nrecs;
    assert_true(end > batches.start[i]);
    for (size_t r = batches.start[i]; r < end; r++)
        if (!strstr(h_recs[r].series, query))
            fail_msg("batch %zu: %s is not %s", i, h_recs[r].series, query);
}

KP_TEST_F(test_batch_per_element, setup, teardown)
{
    struct env *e = *state;
    size_t len;
    char *data = h_read_fixture("n1_t0.json", &len);
    struct model_node *mn = model_node_new(e->model, batch_collect, NULL);
    assert_non_null(mn);
    memset(&batches, 0, sizeof(batches));
    model_cycle_begin(e->model, 1, T0_NS);
    slot_feed(e, mn, &n1_info, data, len);
    assert_int_equal(batches.n, 3); /* system containers, web-1, db-0 */
    size_t pods_points = h_nrecs, all = model_node_finish(mn);
    assert_int_equal(all, h_nrecs); /* every point of the node, its pods' too */
    assert_true(h_nrecs > pods_points);
    assert_int_equal(batches.n, 4);
    batch_all(0, "type=sys_container");
    batch_all(1, "pod_name=web-1");
    batch_all(2, "pod_name=db-0");
    batch_all(3, "type=node");
    assert_int_equal(h_order_violations, 0);
    /* the same slot again, the next cycle: its buffers and strings are reused */
    h_reset();
    memset(&batches, 0, sizeof(batches));
    model_cycle_begin(e->model, 2, T1_NS);
    slot_feed(e, mn, &n1_info, data, len);
    model_node_finish(mn);
    assert_int_equal(batches.n, 4);
    batch_all(1, "pod_name=web-1");
    assert_int_equal(h_int("type=pod,pod_name=web-1,nodename=n1,hostname=n1.example,"
                           "host_id=aws:///eu-west-1a/i-0abc,labels=app:web,tier:front",
                           KP_M_CPU_REQUEST),
                     350);
    free(data);
    model_node_free(mn);
}

/* A body that repeats its elements (kubeletsim's huge and endless faults fill with copies of a
 * pod until the body limit): each pod is written and summed once, the first "node" element
 * counts. */
KP_TEST_F(test_repeated_elements_once, setup, teardown)
{
    struct env *e = *state;
    char err[256];
#define WEB1                                                                                       \
    "{\"podRef\":{\"name\":\"web-1\",\"namespace\":\"default\",\"uid\":\"uid-a\"},"                \
    "\"containers\":[{\"name\":\"app\",\"memory\":{\"time\":\"2024-01-01T00:00:00Z\","             \
    "\"usageBytes\":1000}}]}"
    static const char body[] =
        "{\"node\":{\"nodeName\":\"n1\",\"memory\":{\"time\":\"2024-01-01T00:00:00Z\","
        "\"usageBytes\":7}},\"pods\":[" WEB1 "," WEB1 "," WEB1 "],"
        "\"node\":{\"nodeName\":\"n1\",\"memory\":{\"time\":\"2024-01-01T00:00:00Z\","
        "\"usageBytes\":9}}}";
#undef WEB1
    model_cycle_begin(e->model, 1, T0_NS);
    for (int round = 0; round < 2; round++) { /* the slot's table is cleared between */
        h_reset();
        assert_int_equal(
            h_scrape(e->model, e->parser, body, sizeof(body) - 1, &n1_info, 0, err, sizeof(err)),
            0);
        assert_int_equal(h_int("type=pod,pod_name=web-1", KP_M_CPU_REQUEST), 350);
        assert_int_equal(h_int("type=pod_container,container_name=app", KP_M_MEM_USAGE), 1000);
        assert_int_equal(h_int("type=node,nodename=n1", KP_M_CPU_REQUEST), 350);
        assert_int_equal(h_int("type=node,nodename=n1", KP_M_MEM_USAGE), 7);
    }
    h_reset();
    model_cycle_end(e->model, h_collect, NULL);
    /* two responses of this cycle, one copy of web-1 each */
    assert_int_equal(h_int("type=ns,namespace_name=default", KP_M_CPU_REQUEST), 700);
    assert_int_equal(h_int("type=ns,namespace_name=default", KP_M_MEM_USAGE), 2000);
}

/* The longest "labels" value of the node series emitted, whole (h_collect keeps 768 bytes). */
static size_t node_labels_len;

static void labels_collect(const struct kp_batch *b, void *ud)
{
    for (size_t i = 0; i < b->nseries; i++) {
        const struct kp_series *se = &b->series[i];
        bool node = false;
        size_t len = 0;
        for (uint8_t l = 0; l < se->nlabels; l++) {
            if (!strcmp(se->labels[l].key, "type"))
                node = !strcmp(se->labels[l].value, "node");
            if (!strcmp(se->labels[l].key, "labels"))
                len = strlen(se->labels[l].value);
        }
        if (node && len > node_labels_len)
            node_labels_len = len;
    }
    h_collect(b, ud);
}

/* The longest labels the node cache renders (CACHE_MAX_LABELS_STR - 1 bytes) fit the arena,
 * after the node's other strings, cycle after cycle. */
KP_TEST_F(test_longest_node_labels, setup, teardown)
{
    struct env *e = *state;
    static char labels[4096];
    size_t len;
    memset(labels, 'x', sizeof(labels) - 1);
    memcpy(labels, "k:", 2);
    struct model_node_info ni = n1_info;
    ni.labels = labels;
    struct model_node *mn = model_node_new(e->model, labels_collect, NULL);
    for (uint32_t cycle = 1; cycle <= 2; cycle++) {
        char *data = h_read_fixture(cycle == 1 ? "n1_t0.json" : "n1_t1.json", &len);
        h_reset();
        node_labels_len = 0;
        model_cycle_begin(e->model, cycle, cycle == 1 ? T0_NS : T1_NS);
        slot_feed(e, mn, &ni, data, len);
        model_node_finish(mn);
        free(data);
        assert_int_equal(node_labels_len, sizeof(labels) - 1);
        assert_true(h_int("type=pod,pod_name=web-1,resource_id=Volume:data", KP_M_FS_USAGE) > 0);
    }
    model_node_free(mn);
}

/* The scope: prod's pods are out (no pod, container, volume or ns series; the cluster sums
 * only default), n1's own requests still count db-0's; only the cpu metrics but cpu/usage,
 * and memory/usage, written. */
KP_TEST_F(test_scope, setup, teardown)
{
    struct env *e = *state;
    struct scope sc;
    char err[256];
    assert_int_equal(
        scope_init(&sc, "cpu/*,memory/usage", "cpu/usage", "", "prod", err, sizeof(err)), 0);
    model_set_scope(e->model, &sc);
    two_cycles(e, 0, 1);
    assert_int_equal(h_count("namespace_name=prod"), 0);
    assert_true(h_count("namespace_name=default") > 0);
    assert_int_equal(h_int("type=cluster", KP_M_CPU_USAGE_RATE), 900); /* default only */
    assert_int_equal(h_int("type=cluster", KP_M_CPU_REQUEST), 550);
    assert_int_equal(h_int("type=cluster", KP_M_MEM_USAGE), 290000000);
    const char *n = "type=node,nodename=n1,hostname=n1.example";
    assert_int_equal(h_int(n, KP_M_CPU_REQUEST), 1350); /* web-1 350 + db-0 1000 */
    assert_int_equal(h_int(n, KP_M_CPU_USAGE_RATE), 2000);
    assert_float_equal(h_float(n, KP_M_CPU_NODE_UTILIZATION), 2000.0 / 3800, 1e-12);
    for (size_t i = 0; i < h_nrecs; i++) {
        const char *name = kp_metrics[h_recs[i].metric].name;
        if (strncmp(name, "cpu/", 4) != 0 && strcmp(name, "memory/usage") != 0)
            fail_msg("%s written: not in --metric-allow", name);
        if (h_recs[i].metric == KP_M_CPU_USAGE)
            fail_msg("cpu/usage written: in --metric-deny");
    }
    assert_int_equal(h_order_violations, 0);
    /* no filesystem metric is allowed: filesystem series carry no point, so none exist */
    assert_int_equal(h_count("resource_id=logs"), 0);
    scope_fini(&sc);
}

KP_TEST_F(test_scope_include, setup, teardown)
{
    struct env *e = *state;
    struct scope sc;
    char err[256];
    assert_int_equal(scope_init(&sc, NULL, NULL, "prod,kube-*", NULL, err, sizeof(err)), 0);
    assert_true(scope_namespace(&sc, "prod"));
    assert_true(scope_namespace(&sc, "kube-system"));
    assert_false(scope_namespace(&sc, "default"));
    model_set_scope(e->model, &sc);
    two_cycles(e, 0, 1);
    assert_int_equal(h_count("namespace_name=default"), 0);
    assert_true(h_count("type=pod,namespace_name=prod,pod_name=db-0") > 0);
    assert_int_equal(h_int("type=cluster", KP_M_CPU_USAGE_RATE), 1050);
    scope_fini(&sc);
}

KP_TEST(test_scope_errors)
{
    (void)state;
    static const struct {
        const char *allow, *deny, *inc, *exc, *msg;
    } bad[] = {
        {"cpu/usgae", NULL, NULL, NULL, "flag --metric-allow: \"cpu/usgae\" matches no metric"},
        {NULL, "disk/*", NULL, NULL, "flag --metric-deny: \"disk/*\" matches no metric"},
        {"cpu/*,", NULL, NULL, NULL, "flag --metric-allow: empty entry in \"cpu/*,\""},
        {"cpu/*", "cpu/*", NULL, NULL, "leave no metric to write"},
        {NULL, NULL, "Prod", NULL, "flag --namespace-include: \"Prod\" is not a namespace"},
        {NULL, NULL, NULL, "a_b", "flag --namespace-exclude: \"a_b\" is not a namespace"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct scope sc;
        char err[256] = "";
        assert_int_equal(
            scope_init(&sc, bad[i].allow, bad[i].deny, bad[i].inc, bad[i].exc, err, sizeof(err)),
            -1);
        if (!strstr(err, bad[i].msg))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].msg);
    }
    struct scope sc;
    char err[256];
    assert_int_equal(
        scope_init(&sc, " cpu/usage_rate , memory/* ", "", "", " kube-* ", err, sizeof(err)), 0);
    assert_int_equal(sc.metrics & (1ULL << KP_M_CPU_USAGE), 0);
    assert_true(sc.metrics & (1ULL << KP_M_CPU_USAGE_RATE));
    assert_true(sc.metrics & (1ULL << KP_M_MEM_WORKING_SET));
    assert_false(scope_namespace(&sc, "kube-system"));
    assert_true(scope_namespace(&sc, "default"));
    scope_fini(&sc);
}

/* Render every record to a string so whole runs can be compared. */
static char *render_all(void)
{
    size_t cap = h_nrecs * 900 + 1, off = 0;
    char *s = malloc(cap);
    s[0] = '\0';
    for (size_t i = 0; i < h_nrecs; i++)
        off += (size_t)snprintf(s + off, cap - off, "%s|%u|%lld|%.17g|%lld\n", h_recs[i].series,
                                h_recs[i].metric, (long long)h_recs[i].i, h_recs[i].f,
                                (long long)h_recs[i].ts);
    return s;
}

KP_TEST_F(test_chunking_identical, setup, teardown)
{
    struct env *e = *state;
    two_cycles(e, 0, 1);
    char *whole = render_all();
    size_t n = h_nrecs;
    assert_true(n > 150);
    static const size_t chunks[] = {1, 2, 7, 4096};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        teardown(state);
        setup(state);
        e = *state;
        two_cycles(e, chunks[i], 1);
        char *other = render_all();
        assert_string_equal(whole, other);
        free(other);
    }
    free(whole);
}

static int cmp_rec(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    int c = strcmp(x->series, y->series);
    return c ? c : (int)x->metric - (int)y->metric;
}

/* Two nodes in flight at once, their bytes interleaved as two connections' would be: every
 * node shares the model's one batch (each is built and emitted within one handler call), so
 * the points are those of the two nodes scraped one after the other. */
KP_TEST_F(test_interleaved_nodes, setup, teardown)
{
    static const struct summary_handlers hs = {.node = model_node_on_node,
                                               .pod = model_node_on_pod};
    struct env *e = *state;
    char err[256];
    size_t l1, l2;
    char *d1 = h_read_fixture("n1_t0.json", &l1), *d2 = h_read_fixture("n2_t0.json", &l2);
    memset(h_recs, 0, sizeof(h_recs)); /* render_all prints both values of a record */
    model_cycle_begin(e->model, 1, T0_NS);
    scrape(e, "n1_t0.json", &n1_info, 0);
    scrape(e, "n2_t0.json", &n2_info, 0);
    model_cycle_end(e->model, h_collect, NULL);
    qsort(h_recs, h_nrecs, sizeof(h_recs[0]), cmp_rec);
    char *sequential = render_all();
    size_t n = h_nrecs;

    teardown(state);
    setup(state);
    e = *state;
    memset(h_recs, 0, sizeof(h_recs));
    struct summary_parser *p2 = summary_parser_new();
    struct model_node *a = model_node_new(e->model, h_collect, NULL);
    struct model_node *b = model_node_new(e->model, h_collect, NULL);
    model_cycle_begin(e->model, 1, T0_NS);
    model_node_begin(a, &n1_info);
    model_node_begin(b, &n2_info);
    summary_parse_reset(e->parser, &hs, a);
    summary_parse_reset(p2, &hs, b);
    for (size_t off = 0; off < l1 || off < l2; off += 97) {
        if (off < l1)
            assert_int_equal(summary_parse_feed(e->parser, d1 + off, l1 - off < 97 ? l1 - off : 97,
                                                err, sizeof(err)),
                             0);
        if (off < l2)
            assert_int_equal(
                summary_parse_feed(p2, d2 + off, l2 - off < 97 ? l2 - off : 97, err, sizeof(err)),
                0);
    }
    assert_int_equal(summary_parse_finish(e->parser, err, sizeof(err)), 0);
    assert_int_equal(summary_parse_finish(p2, err, sizeof(err)), 0);
    model_node_finish(b);
    model_node_finish(a);
    model_cycle_end(e->model, h_collect, NULL);
    assert_int_equal(h_order_violations, 0);
    assert_int_equal(h_nrecs, n);
    qsort(h_recs, h_nrecs, sizeof(h_recs[0]), cmp_rec);
    char *interleaved = render_all();
    assert_string_equal(sequential, interleaved);
    free(sequential);
    free(interleaved);
    model_node_free(a);
    model_node_free(b);
    summary_parser_free(p2);
    free(d1);
    free(d2);
}
