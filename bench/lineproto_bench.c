/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lineproto_bench.c - micro-benchmark of the line-protocol encoder on typical Heapster points:
 * 2000 pods x 2 containers, Heapster's label set, every metric of the table, ints and floats.
 * Prints lines/s for the default layout and for withfields, encoding it as one batch and as
 * batches of one pod each (2 containers' series: what the collector hands over since it emits a
 * batch per pod; the per-batch overhead shows there). Usage: lineproto_bench [rounds [metrics]]:
 * metrics per series, every metric of the table by default; the daemon's series carry 8 points
 * each on average (2,470 points in ~300 series per node), so render_tags weighs more there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lineproto.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Encode the points in batches of batch_series series each (points are in series order), best
 * of rounds; prints one line. */
static void run(const struct kp_series *series, size_t nseries, const struct kp_point *pts,
                size_t np, int wf, size_t batch_series, int rounds)
{
    char err[128];
    struct lp_options o = {.withfields = wf, .cluster_name = "default"};
    struct lp_encoder *e = lp_encoder_new(&o, err, sizeof err);
    struct lp_buf buf = {0};
    struct lp_writer w;
    lp_buf_writer(&buf, &w);
    /* each batch's points with series indices from 0, as a producer makes them */
    struct kp_point *local = calloc(np, sizeof *local);
    size_t per = np / nseries;
    for (size_t i = 0; i < np; i++) {
        local[i] = pts[i];
        local[i].series = (uint32_t)(pts[i].series % batch_series);
    }
    size_t lines = 0, points = 0, bytes = 0, batches = 0;
    double best = 1e9;
    for (int r = 0; r < rounds; r++) {
        struct lp_result res = {0};
        buf.len = 0;
        batches = 0;
        double t0 = now_s();
        for (size_t s0 = 0; s0 < nseries; s0 += batch_series) {
            struct kp_batch b = {series + s0, batch_series, local + s0 * per, batch_series * per,
                                 NULL};
            lp_encode_batch(e, &b, &w, &res, err, sizeof err);
            batches++;
        }
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
        lines = res.lines;
        points = res.points;
        bytes = buf.len;
    }
    printf("%-10s %6zu batches: %zu points, %zu lines, %.1f bytes/line: %.2f M lines/s, "
           "%.2f M points/s, %.0f MB/s, %.1f ns/point (best of %d)\n",
           wf ? "withfields" : "default", batches, points, lines, (double)bytes / (double)lines,
           lines / best / 1e6, points / best / 1e6, bytes / best / 1e6, best / points * 1e9,
           rounds);
    free(local);
    lp_buf_fini(&buf);
    lp_encoder_free(e);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    int nmetrics = argc > 2 ? atoi(argv[2]) : KP_M__COUNT;
    if (nmetrics < 1 || nmetrics > KP_M__COUNT)
        nmetrics = KP_M__COUNT;
    enum { NSERIES = 4000 };
    static char names[NSERIES][4][64];
    struct kp_series *series = calloc(NSERIES, sizeof *series);
    struct kp_point *pts = calloc((size_t)NSERIES * KP_M__COUNT, sizeof *pts);
    size_t np = 0;
    for (int i = 0; i < NSERIES; i++) {
        snprintf(names[i][0], 64, "web-%d-7d9f8c6b5-x%04d", i / 2, i);
        snprintf(names[i][1], 64, "node-%03d.cluster.local", i % 300);
        snprintf(names[i][2], 64, "%08x-1c2d-4e5f-8a9b-%012d", i * 7919, i);
        snprintf(names[i][3], 64, "app:web,pod-template-hash:7d9f8c6b5,tier:front%d", i % 3);
        struct kp_series *s = &series[i];
        struct kp_label l[] = {
            {"container_name", i % 2 ? "sidecar" : "app"},
            {"host_id", names[i][1]},
            {"hostname", names[i][1]},
            {"labels", names[i][3]},
            {"namespace_id", "5b1c9c62-0e4c-4b7e-9d1a-2f3e4a5b6c7d"},
            {"namespace_name", "production"},
            {"nodename", names[i][1]},
            {"pod_id", names[i][2]},
            {"pod_name", names[i][0]},
            {"type", "pod_container"},
        };
        memcpy(s->labels, l, sizeof l);
        s->nlabels = sizeof l / sizeof l[0];
        for (int m = 0; m < nmetrics; m++) {
            struct kp_point *p = &pts[np++];
            p->series = (uint32_t)i;
            p->metric = (uint16_t)m;
            p->ts_ns = 1700000000000000000LL + i;
            if (kp_metrics[m].type == KP_VALUE_INT)
                p->v.i = 123456789LL * (m + 1) + i;
            else
                p->v.f = (i + 1) * 0.0123 + m;
        }
    }
    for (int per_pod = 0; per_pod < 2; per_pod++) {
        for (int wf = 0; wf < 2; wf++)
            run(series, NSERIES, pts, np, wf, per_pod ? 2 : NSERIES, rounds);
    }
    free(series);
    free(pts);
    return 0;
}
