/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cache.c - the Node and Pod caches fed with watch objects: node
 * address and port choice, labels rendering, pod lookup by uid and by
 * namespace/name (static pods), re-created pods, relists, interning, and the
 * cache's memory per pod (KP_BENCH_PODS=150000 to measure a large cluster).
 */
#include <malloc.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "cache.h"
#include "strmap.h"

static json_object *parse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_object *parse(const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_object *o = json_tokener_parse(buf);
    assert_non_null(o);
    return o;
}

static void apply_node(struct node_cache *nc, enum kube_event_type t, const char *json)
{
    json_object *o = parse("%s", json);
    node_cache_apply(nc, t, o);
    json_object_put(o);
}

static const char NODE_A[] =
    "{\"metadata\":{\"name\":\"a\",\"labels\":{\"kubernetes.io/hostname\":\"a\",\"zone\":\"z1\"}},"
    "\"spec\":{\"providerID\":\"aws:///i-1\"},"
    "\"status\":{\"addresses\":[{\"type\":\"Hostname\",\"address\":\"host-a\"},"
    "{\"type\":\"ExternalIP\",\"address\":\"203.0.113.7\"},"
    "{\"type\":\"InternalIP\",\"address\":\"10.0.0.7\"}],"
    "\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":10251}},"
    "\"capacity\":{\"cpu\":\"4\",\"memory\":\"16Gi\"},"
    "\"allocatable\":{\"cpu\":\"3500m\",\"memory\":\"15Gi\"}}}";

KP_TEST(test_node_address_and_port)
{
    (void)state;
    struct node_cache nc;
    char err[128];
    assert_int_equal(node_cache_init(&nc, NULL, err, sizeof(err)), 0);
    apply_node(&nc, KUBE_EVENT_ADDED, NODE_A);
    struct cache_node *n = strmap_get(&nc.nodes, "a");
    assert_non_null(n);
    assert_string_equal(n->address, "10.0.0.7"); /* InternalIP first by default */
    assert_string_equal(n->hostname, "host-a");
    assert_string_equal(n->host_id, "aws:///i-1");
    assert_int_equal(n->port, 10251);
    /* label keys with dots keep their values */
    assert_string_equal(n->labels, "kubernetes.io/hostname:a,zone:z1");
    assert_int_equal(n->cpu_capacity_m, 4000);
    assert_int_equal(n->cpu_allocatable_m, 3500);
    assert_int_equal(n->mem_allocatable, 15LL << 30);
    node_cache_fini(&nc);

    assert_int_equal(node_cache_init(&nc, "ExternalIP,Hostname", err, sizeof(err)), 0);
    apply_node(&nc, KUBE_EVENT_ADDED, NODE_A);
    assert_string_equal(((struct cache_node *)strmap_get(&nc.nodes, "a"))->address, "203.0.113.7");
    /* no daemonEndpoints: port 0 (the flag's default), no address of a wanted type */
    apply_node(&nc, KUBE_EVENT_ADDED,
               "{\"metadata\":{\"name\":\"b\"},\"status\":{\"addresses\":"
               "[{\"type\":\"InternalIP\",\"address\":\"10.0.0.8\"}]}}");
    n = strmap_get(&nc.nodes, "b");
    assert_int_equal(n->port, 0);
    assert_null(n->address);
    /* a relist without "b" removes it */
    node_cache_list_begin(&nc);
    apply_node(&nc, KUBE_EVENT_ADDED, NODE_A);
    node_cache_list_done(&nc);
    assert_int_equal(nc.nodes.count, 1);
    node_cache_fini(&nc);
}

static void apply_pod(struct pod_cache *pc, enum kube_event_type t, const char *ns,
                      const char *name, const char *uid, const char *labels)
{
    json_object *o =
        parse("{\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"uid\":\"%s\",\"labels\":{%s}},"
              "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"img:1\",\"resources\":"
              "{\"requests\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"},\"limits\":{\"cpu\":\"1\"}}},"
              "{\"name\":\"side\",\"image\":\"envoy:2\"}]}}",
              ns, name, uid, labels);
    pod_cache_apply(pc, t, o);
    json_object_put(o);
}

static void apply_ns(struct pod_cache *pc, const char *name, const char *uid)
{
    json_object *o = parse("{\"metadata\":{\"name\":\"%s\",\"uid\":\"%s\"}}", name, uid);
    pod_cache_apply_namespace(pc, KUBE_EVENT_ADDED, o);
    json_object_put(o);
}

/* The pod tests' fixture: an empty pod cache in *state. */
static int pod_setup(void **state)
{
    struct pod_cache *pc = malloc(sizeof(*pc));
    if (!pc)
        return -1;
    pod_cache_init(pc);
    *state = pc;
    return 0;
}

static int pod_teardown(void **state)
{
    pod_cache_fini(*state);
    free(*state);
    return 0;
}

KP_TEST_F(test_pod_lookup, pod_setup, pod_teardown)
{
    struct pod_cache *pc = *state;
    apply_ns(pc, "kube-system", "ns-uid-ks");
    apply_pod(pc, KUBE_EVENT_ADDED, "kube-system", "etcd-node1", "mirror-uid",
              "\"component\":\"etcd\",\"tier\":\"control-plane\"");
    const struct model_pod_info *pi = pod_cache_lookup("mirror-uid", NULL, NULL, pc);
    assert_non_null(pi);
    assert_string_equal(pi->labels, "component:etcd,tier:control-plane");
    assert_string_equal(pi->namespace_uid, "ns-uid-ks");
    assert_int_equal(pi->ncontainers, 2);
    assert_int_equal(pi->cpu_request_m, 250);
    assert_int_equal(pi->cpu_limit_m, 1000);
    assert_int_equal(pi->mem_request, 64 << 20);
    assert_string_equal(pi->containers[1].image, "envoy:2");
    /* a static pod: the Summary has the kubelet's uid (config hash), the API
     * server's mirror pod another one: found by namespace/name */
    assert_ptr_equal(pod_cache_lookup("config-hash-uid", "kube-system", "etcd-node1", pc), pi);
    assert_null(pod_cache_lookup("config-hash-uid", "kube-system", "etcd-node2", pc));
    assert_null(pod_cache_lookup("config-hash-uid", NULL, NULL, pc));
    apply_pod(pc, KUBE_EVENT_DELETED, "kube-system", "etcd-node1", "mirror-uid", "");
    assert_null(pod_cache_lookup("config-hash-uid", "kube-system", "etcd-node1", pc));
}

KP_TEST_F(test_pod_recreated, pod_setup, pod_teardown)
{
    struct pod_cache *pc = *state;
    /* a StatefulSet pod re-created under the same name with a new uid; the
     * old one's DELETED event comes late (or a relist drops it) */
    apply_pod(pc, KUBE_EVENT_ADDED, "db", "pg-0", "uid-old", "\"app\":\"pg\"");
    apply_pod(pc, KUBE_EVENT_ADDED, "db", "pg-0", "uid-new", "\"app\":\"pg\",\"gen\":\"2\"");
    assert_string_equal(pod_cache_lookup("x", "db", "pg-0", pc)->labels, "app:pg,gen:2");
    apply_pod(pc, KUBE_EVENT_DELETED, "db", "pg-0", "uid-new", "");
    assert_null(pod_cache_lookup("x", "db", "pg-0", pc));
    assert_non_null(pod_cache_lookup("uid-old", NULL, NULL, pc));
    apply_pod(pc, KUBE_EVENT_DELETED, "db", "pg-0", "uid-old", ""); /* no stale index entry */
    assert_int_equal(pc->by_name.count, 0);
    /* the same uid modified: one entry, current labels */
    apply_pod(pc, KUBE_EVENT_ADDED, "db", "pg-1", "uid-1", "\"v\":\"1\"");
    apply_pod(pc, KUBE_EVENT_MODIFIED, "db", "pg-1", "uid-1", "\"v\":\"2\"");
    assert_string_equal(pod_cache_lookup("uid-1", NULL, NULL, pc)->labels, "v:2");
    assert_string_equal(pod_cache_lookup("?", "db", "pg-1", pc)->labels, "v:2");
    /* a relist without it drops it, and every interned string goes with it */
    pod_cache_list_begin(pc);
    pod_cache_list_done(pc);
    assert_int_equal(pc->pods.count, 0);
    assert_int_equal(pc->by_name.count, 0);
    assert_int_equal(pc->strings.count, 0);
}

KP_TEST_F(test_interning_shares, pod_setup, pod_teardown)
{
    struct pod_cache *pc = *state;
    apply_pod(pc, KUBE_EVENT_ADDED, "web", "w-1", "u1", "\"app\":\"web\"");
    apply_pod(pc, KUBE_EVENT_ADDED, "web", "w-2", "u2", "\"app\":\"web\"");
    const struct model_pod_info *a = pod_cache_lookup("u1", NULL, NULL, pc);
    const struct model_pod_info *b = pod_cache_lookup("u2", NULL, NULL, pc);
    assert_ptr_equal(a->labels, b->labels);
    assert_ptr_equal(a->containers[0].image, b->containers[0].image);
    assert_ptr_equal(a->containers[1].name, b->containers[1].name);
    /* ns, labels, 2 names, 2 images */
    assert_int_equal(pc->strings.count, 6);
    apply_pod(pc, KUBE_EVENT_DELETED, "web", "w-1", "u1", "");
    assert_string_equal(pod_cache_lookup("u2", NULL, NULL, pc)->labels, "app:web");
    assert_int_equal(pc->strings.count, 6);
}

KP_TEST_F(test_namespace_relist, pod_setup, pod_teardown)
{
    struct pod_cache *pc = *state;
    apply_ns(pc, "gone", "u-gone");
    apply_ns(pc, "kept", "u-kept");
    pod_cache_ns_list_begin(pc);
    apply_ns(pc, "kept", "u-kept2");
    pod_cache_ns_list_done(pc);
    assert_null(strmap_get(&pc->namespaces, "gone"));
    assert_string_equal(((struct cache_ns *)strmap_get(&pc->namespaces, "kept"))->uid, "u-kept2");
}

/* Bytes of heap per cached pod for a realistic shape: 2 containers with
 * requests and limits, a ReplicaSet's labels shared by 10 pods, 50
 * namespaces, 20 images. */
/* Heapster's LabelCopier (metrics/util/label_copier.go): the labels tag joins every label but
 * the ignored ones with the separator, sorted; stored labels are copied under their name. */
KP_TEST(test_label_policy)
{
    (void)state;
    json_object *l = json_tokener_parse(
        "{\"tier\":\"front\",\"app\":\"web\",\"pod-template-hash\":\"x1\",\"e\":\"\"}");
    char out[CACHE_MAX_LABELS_STR], stored[CACHE_MAX_LABELS_STR];
    size_t n = cache_labels_render(NULL, l, out, stored);
    assert_int_equal(n, strlen(out));
    assert_string_equal(out, "app:web,e:,pod-template-hash:x1,tier:front");
    assert_string_equal(stored, "");
    const char *ignore[] = {"pod-template-hash"}, *store[] = {"tier", "application=app", "e"};
    struct cache_label_policy lp = {" | ", ignore, 1, store, 3};
    cache_labels_render(&lp, l, out, stored);
    assert_string_equal(out, "app:web | e: | tier:front");
    /* sorted by label key; an empty value is not a tag (InfluxDB has none) */
    assert_string_equal(stored, "application\x1fweb\x1etier\x1f"
                                "front");
    char *st = NULL, *s = cache_labels_string(&lp, l, &st);
    assert_string_equal(s, out);
    assert_string_equal(st, stored);
    free(s);
    free(st);
    json_object_put(l);
}

KP_TEST(test_memory_per_pod)
{
    (void)state;
    const char *env = getenv("KP_BENCH_PODS");
    long n = env ? atol(env) : 20000;
    if (n < 100)
        n = 100;
    struct pod_cache pc;
    json_object **objs = calloc((size_t)n, sizeof(*objs));
    assert_non_null(objs);
    for (long i = 0; i < n; i++)
        objs[i] =
            parse("{\"metadata\":{\"namespace\":\"team-%02ld\",\"name\":\"web-%05lx-%05ld\","
                  "\"uid\":\"%08lx-1b2c-4d3e-8f40-%012lx\",\"labels\":{\"app\":\"web-%05ld\","
                  "\"pod-template-hash\":\"%09lx\",\"app.kubernetes.io/part-of\":\"shop\"}},"
                  "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"registry.example.com/"
                  "team/app:%ld\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":"
                  "\"128Mi\"},\"limits\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"}}},{\"name\":"
                  "\"istio-proxy\",\"image\":\"docker.io/istio/proxyv2:1.22.1\",\"resources\":"
                  "{\"requests\":{\"cpu\":\"10m\",\"memory\":\"40Mi\"}}}]}}",
                  i % 50, (unsigned long)i / 10, i, (unsigned long)i, (unsigned long)i * 7919,
                  i / 10, (unsigned long)(i / 10) * 2654435761UL, i % 20);
    struct mallinfo2 before = mallinfo2();
    pod_cache_init(&pc);
    for (long i = 0; i < n; i++)
        pod_cache_apply(&pc, KUBE_EVENT_ADDED, objs[i]);
    struct mallinfo2 after = mallinfo2();
    double per_pod = (double)(after.uordblks - before.uordblks) / (double)n;
    printf("pod cache: %ld pods, %.0f bytes per pod (heap in use), %zu interned strings\n", n,
           per_pod, pc.strings.count);
    assert_int_equal(pc.pods.count, (size_t)n);
    assert_true(per_pod < 600);
    pod_cache_fini(&pc);
    for (long i = 0; i < n; i++)
        json_object_put(objs[i]);
    free(objs);
}
