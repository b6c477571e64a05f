/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mapi_bench.c - micro-benchmark of the metrics API's request side (src/app/metricsapi): a
 * store fed two cycles of N nodes x P pods x 2 containers, as the collector's per-node
 * batches carry them, then each list `kubectl top` asks for answered `rounds` times: CPU
 * seconds per answer, its bytes, and the process's peak RSS after it (what one answer costs
 * on the daemon's loop at 5,000 x 30, issue #20). Also the followers' copy (export, import).
 * Usage: mapi_bench [N] [P] [rounds]        (default 5000 30 3)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "metricsapi.h"

#define NS_PER_S 1000000000LL
#define CTRS     2

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        perror("strdup");
        exit(1);
    }
    return d;
}

/* The names and labels of node n, kept for the batches (borrowed by them). */
struct names {
    char *node, *node_labels;
    char **pod, **ns, **pod_labels;
};

static void point(struct kp_point *pt, size_t *np, uint32_t series, int metric, int64_t v,
                  int64_t ts)
{
    pt[(*np)++] =
        (struct kp_point){.series = series, .metric = (uint16_t)metric, .v.i = v, .ts_ns = ts};
}

static void feed_node(struct mapi_store *st, const struct names *nm, int n, int pods, int cycle,
                      int64_t ts)
{
    static const char *const cname[CTRS] = {"app", "sidecar"};
    size_t nseries = 1 + (size_t)pods * CTRS, np = 0;
    struct kp_series *se = calloc(nseries, sizeof(*se));
    struct kp_point *pt = calloc(nseries * 3, sizeof(*pt));
    int64_t *sampled = calloc(nseries, sizeof(*sampled));
    if (!se || !pt || !sampled) {
        perror("calloc");
        exit(1);
    }
    int64_t boot = ts - 604800 * NS_PER_S;
    se[0].labels[0] = (struct kp_label){"labels", nm->node_labels};
    se[0].labels[1] = (struct kp_label){"nodename", nm->node};
    se[0].labels[2] = (struct kp_label){"type", "node"};
    se[0].nlabels = 3;
    sampled[0] = ts;
    uint64_t ncpu = 0, nmem = 0;
    size_t s = 1;
    for (int j = 0; j < pods; j++) {
        for (int k = 0; k < CTRS; k++, s++) {
            struct kp_series *c = &se[s];
            c->labels[0] = (struct kp_label){"container_name", cname[k]};
            c->labels[1] = (struct kp_label){"labels", nm->pod_labels[j]};
            c->labels[2] = (struct kp_label){"namespace_name", nm->ns[j]};
            c->labels[3] = (struct kp_label){"nodename", nm->node};
            c->labels[4] = (struct kp_label){"pod_name", nm->pod[j]};
            c->labels[5] = (struct kp_label){"type", "pod_container"};
            c->nlabels = 6;
            sampled[s] = ts;
            uint64_t rate = 5 + (uint64_t)(n * 131 + j * 31 + k * 7) * 37 % 100; /* millicores */
            uint64_t cpu = rate * 1000000ULL * (uint64_t)(3600 + cycle * 15);
            uint64_t mem = (16 + (uint64_t)(n * 131 + j * 31 + k * 7) * 13 % 240) << 20;
            point(pt, &np, (uint32_t)s, KP_M_CPU_USAGE, (int64_t)cpu, ts);
            point(pt, &np, (uint32_t)s, KP_M_MEM_WORKING_SET, (int64_t)mem, ts);
            point(pt, &np, (uint32_t)s, KP_M_UPTIME, 3600000 + cycle * 15000, ts);
            ncpu += cpu;
            nmem += mem;
        }
    }
    point(pt, &np, 0, KP_M_CPU_USAGE, (int64_t)ncpu, ts);
    point(pt, &np, 0, KP_M_MEM_WORKING_SET, (int64_t)(nmem + (512u << 20)), ts);
    point(pt, &np, 0, KP_M_UPTIME, (ts - boot) / 1000000, ts);
    struct kp_batch b = {se, nseries, pt, np, sampled};
    if (mapi_store_add_batch(st, &b) < 0) {
        fprintf(stderr, "mapi_store_add_batch: out of memory\n");
        exit(1);
    }
    free(se);
    free(pt);
    free(sampled);
}

static void answer(const struct mapi_store *st, const char *target, int rounds, int64_t now)
{
    double total = 0;
    size_t len = 0;
    int code = 0;
    for (int r = 0; r < rounds; r++) {
        struct mapi_response resp;
        double c0 = cpu_s();
        mapi_handle(st, "GET", target, now, &resp);
        total += cpu_s() - c0;
        len = resp.len;
        code = resp.code;
        free(resp.body);
    }
    printf("%-58s %d %11zu B %8.3f CPU-s per answer  peak RSS %ld KiB\n", target, code, len,
           total / rounds, peak_kib());
}

int main(int argc, char **argv)
{
    int nodes = argc > 1 ? atoi(argv[1]) : 5000, pods = argc > 2 ? atoi(argv[2]) : 30;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (nodes <= 0 || pods <= 0 || rounds <= 0) {
        fprintf(stderr, "usage: mapi_bench [N] [P] [rounds]\n");
        return 2;
    }
    struct names *nm = calloc((size_t)nodes, sizeof(*nm));
    if (!nm)
        return 1;
    char buf[256];
    for (int n = 0; n < nodes; n++) {
        snprintf(buf, sizeof(buf), "node-%04d", n);
        nm[n].node = xstrdup(buf);
        snprintf(buf, sizeof(buf), "kubernetes.io/hostname:node-%04d,zone:zone-%c", n, 'a' + n % 3);
        nm[n].node_labels = xstrdup(buf);
        nm[n].pod = calloc((size_t)pods, sizeof(char *));
        nm[n].ns = calloc((size_t)pods, sizeof(char *));
        nm[n].pod_labels = calloc((size_t)pods, sizeof(char *));
        if (!nm[n].pod || !nm[n].ns || !nm[n].pod_labels)
            return 1;
        for (int j = 0; j < pods; j++) {
            snprintf(buf, sizeof(buf), "p%03d-node-%04d", j, n);
            nm[n].pod[j] = xstrdup(buf);
            snprintf(buf, sizeof(buf), "ns-%d", (n * pods + j) % 5);
            nm[n].ns[j] = xstrdup(buf);
            snprintf(buf, sizeof(buf), "app:%s,pod-template-hash:%08x", j % 3 ? "web" : "db",
                     (unsigned)(n * 7919 + j));
            nm[n].pod_labels[j] = xstrdup(buf);
        }
    }
    struct mapi_store *st = mapi_store_new(15);
    int64_t t0 = 1700000000LL * NS_PER_S;
    double c0 = cpu_s();
    for (int cycle = 0; cycle < 2; cycle++) {
        for (int n = 0; n < nodes; n++)
            feed_node(st, &nm[n], n, pods, cycle, t0 + cycle * 15 * NS_PER_S);
        mapi_store_commit(st);
    }
    printf("# N=%d P=%d x %d containers: %zu nodes, %zu pods served; two cycles fed in %.3f "
           "CPU-s; peak RSS %ld KiB\n",
           nodes, pods, CTRS, mapi_store_node_count(st), mapi_store_pod_count(st), cpu_s() - c0,
           peak_kib());
    int64_t now = t0 + 20 * NS_PER_S;
    answer(st, "/apis/metrics.k8s.io/v1beta1/nodes", rounds, now);
    answer(st, "/apis/metrics.k8s.io/v1beta1/namespaces/ns-1/pods", rounds, now);
    answer(st, "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Ddb", rounds, now);
    answer(st, "/apis/metrics.k8s.io/v1beta1/pods", rounds, now);
    answer(st, "/apis/metrics.k8s.io/v1beta1/namespaces/ns-1/pods/p001-node-0001", rounds, now);
    size_t len = 0;
    c0 = cpu_s();
    char *doc = mapi_store_export(st, &len);
    double exp_s = cpu_s() - c0;
    struct mapi_store *f = mapi_store_new(15);
    char err[256] = "";
    c0 = cpu_s();
    int rc = doc ? mapi_store_import(f, doc, len, err, sizeof(err)) : -1;
    printf("followers' copy: export %zu B in %.3f CPU-s, import %s in %.3f CPU-s; peak RSS %ld "
           "KiB\n",
           len, exp_s, rc == 0 ? "ok" : err, cpu_s() - c0, peak_kib());
    free(doc);
    mapi_store_free(f);
    mapi_store_free(st);
    for (int n = 0; n < nodes; n++) {
        for (int j = 0; j < pods; j++) {
            free(nm[n].pod[j]);
            free(nm[n].ns[j]);
            free(nm[n].pod_labels[j]);
        }
        free(nm[n].pod);
        free(nm[n].ns);
        free(nm[n].pod_labels);
        free(nm[n].node);
        free(nm[n].node_labels);
    }
    free(nm);
    return 0;
}
