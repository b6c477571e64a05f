/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model_bench.c - micro-benchmark of a node-scrape's work between the socket and the encoder:
 * the streaming Summary parser feeding the metric model (collector/model.h) with its rate
 * state, for N saved /stats/summary responses (DIR/0.json ... DIR/N-1.json, one per node, so
 * the rate table holds N nodes' keys as in the daemon), fed in 16 KiB pieces as curl hands
 * them over, `rounds` cycles. The batches are counted, not encoded (lineproto_bench times the
 * encoder). Prints the best cycle's CPU per node-scrape.
 * Usage: model_bench DIR N [rounds]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "rates.h"
#include "summary.h"

#define BODY_MAX (16u << 20)

struct body {
    char *data; /* owned */
    size_t len;
};

static unsigned long long points;

static void count_batch(const struct kp_batch *b, void *ud)
{
    (void)ud;
    points += b->npoints;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load(const char *dir, int i, struct body *b)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%d.json", dir, i);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    b->data = malloc(BODY_MAX);
    b->len = b->data ? fread(b->data, 1, BODY_MAX, f) : 0;
    fclose(f);
    if (!b->len) {
        fprintf(stderr, "model_bench: %s: empty or unreadable\n", path);
        return -1;
    }
    return 0;
}

/* One node-scrape: the response in 16 KiB pieces through the parser into the model. */
static int scrape(struct summary_parser *p, struct model_node *mn, const struct body *b, int node)
{
    char err[256], name[32];
    struct summary_handlers h = {.node = model_node_on_node, .pod = model_node_on_pod};
    snprintf(name, sizeof(name), "node-%04d", node);
    struct model_node_info ni = {.name = name,
                                 .cpu_capacity_m = 4000,
                                 .cpu_allocatable_m = 3900,
                                 .mem_capacity = 16LL << 30,
                                 .mem_allocatable = 15LL << 30};
    model_node_begin(mn, &ni);
    summary_parse_reset(p, &h, mn);
    for (size_t off = 0; off < b->len; off += 16384) {
        size_t n = b->len - off < 16384 ? b->len - off : 16384;
        if (summary_parse_feed(p, b->data + off, n, err, sizeof(err)) < 0) {
            fprintf(stderr, "model_bench: parse error: %s\n", err);
            return -1;
        }
    }
    if (summary_parse_finish(p, err, sizeof(err)) < 0) {
        fprintf(stderr, "model_bench: %s\n", err);
        return -1;
    }
    model_node_finish(mn);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: model_bench DIR N [rounds]\n");
        return 2;
    }
    int nodes = atoi(argv[2]), rounds = argc > 3 ? atoi(argv[3]) : 30;
    if (nodes < 1 || rounds < 1)
        return 2;
    struct body *bodies = calloc((size_t)nodes, sizeof(*bodies));
    struct rates *r = rates_new();
    struct model *m = r ? model_new(r, NULL, NULL) : NULL;
    struct model_node *mn = m ? model_node_new(m, count_batch, NULL) : NULL;
    struct summary_parser *p = summary_parser_new();
    int rc = 1;
    if (!bodies || !mn || !p)
        goto done;
    for (int i = 0; i < nodes; i++)
        if (load(argv[1], i, &bodies[i]) < 0)
            goto done;
    double best = 1e30;
    for (int c = 0; c < rounds; c++) {
        double t0 = cpu_s();
        model_cycle_begin(m, (uint32_t)c + 1, 1000000000LL * (c + 1));
        for (int i = 0; i < nodes; i++)
            if (scrape(p, mn, &bodies[i], i) < 0)
                goto done;
        model_cycle_end(m, count_batch, NULL);
        double dt = cpu_s() - t0;
        best = dt < best ? dt : best;
    }
    printf("nodes=%d rounds=%d points/node-scrape=%llu best: %.1f us per node-scrape "
           "(parse + model, no encoding)\n",
           nodes, rounds, points / (unsigned long long)rounds / (unsigned long long)nodes,
           best / nodes * 1e6);
    rc = 0;
done:
    summary_parser_free(p);
    model_node_free(mn);
    model_free(m);
    rates_free(r);
    for (int i = 0; bodies && i < nodes; i++)
        free(bodies[i].data);
    free(bodies);
    return rc;
}
