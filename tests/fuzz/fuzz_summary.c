/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_summary.c - libFuzzer target of the streaming Summary parser and the
 * model behind it. The input is fed in chunks whose sizes come from its first
 * byte, so chunk boundaries are fuzzed too; twice, to exercise rates. Then an
 * oracle: the same bytes parsed in one piece, in those chunks and byte by byte
 * (which never reaches the scanner's 16-byte blocks) must give the same result,
 * the same error message and the same decoded elements (a digest of every
 * field), or the target traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "rates.h"
#include "summary.h"

/* Reads every label and sample time of a batch, so that ASan sees a string the model lends
 * past its life (a batch borrows the element's strings for the call). */
static void sink(const struct kp_batch *b, void *ud)
{
    size_t *n = ud, sum = 0;
    for (size_t i = 0; i < b->nseries; i++) {
        for (uint8_t l = 0; l < b->series[i].nlabels; l++)
            sum += strlen(b->series[i].labels[l].key) + strlen(b->series[i].labels[l].value);
        sum += b->sampled_ns ? (size_t)(b->sampled_ns[i] & 1) : 0;
    }
    for (size_t i = 0; i < b->npoints; i++)
        if (b->points[i].series >= b->nseries)
            __builtin_trap();
    *n += sum;
}

/* FNV-1a over the decoded structs, field by field (no padding bytes). */
static void mix(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 1099511628211ULL;
}

static void mix_stats(uint64_t *h, const struct summary_stats *st)
{
    mix(h, &st->start_ns, sizeof(st->start_ns));
    mix(h, st->ts_ns, sizeof(st->ts_ns));
    for (int i = 0; i < SV__COUNT; i++)
        if (st->has & (1u << i))
            mix(h, &st->v[i], sizeof(st->v[i]));
    mix(h, &st->has, sizeof(st->has));
}

static void mix_fs(uint64_t *h, const struct summary_fs *fs)
{
    mix(h, fs->name, strlen(fs->name));
    mix(h, &fs->has, sizeof(fs->has));
    for (int i = 0; i < SF__COUNT; i++)
        if (fs->has & (1u << i))
            mix(h, &fs->v[i], sizeof(fs->v[i]));
}

static void mix_container(uint64_t *h, const struct summary_container *c)
{
    mix(h, c->name, strlen(c->name));
    mix_stats(h, &c->st);
    mix_fs(h, &c->rootfs);
    mix_fs(h, &c->logs);
}

static int digest_node(const struct summary_node *n, void *ud)
{
    uint64_t *h = ud;
    mix(h, n->name, strlen(n->name));
    mix_stats(h, &n->st);
    mix_fs(h, &n->fs);
    for (size_t i = 0; i < n->nsys; i++)
        mix_container(h, &n->sys[i]);
    return 0;
}

static int digest_pod(const struct summary_pod *p, void *ud)
{
    uint64_t *h = ud;
    mix(h, p->name, strlen(p->name) + 1);
    mix(h, p->ns, strlen(p->ns) + 1);
    mix(h, p->uid, strlen(p->uid) + 1);
    mix_stats(h, &p->st);
    if (p->has_ephemeral)
        mix(h, &p->ephemeral_used, sizeof(p->ephemeral_used));
    for (size_t i = 0; i < p->ncontainers; i++)
        mix_container(h, &p->containers[i]);
    for (size_t i = 0; i < p->nvolumes; i++)
        mix_fs(h, &p->volumes[i]);
    return 0;
}

/* Parse data in chunks of `chunk` bytes; the digest and the counts out. */
static int digest_parse(struct summary_parser *p, const uint8_t *data, size_t size, size_t chunk,
                        uint64_t *h, struct summary_counts *cnt, char *err)
{
    static const struct summary_handlers hs = {.node = digest_node, .pod = digest_pod};
    err[0] = '\0';
    *h = 1469598103934665603ULL;
    summary_parse_reset(p, &hs, h);
    int rc = 0;
    for (size_t off = 0; off < size && rc == 0; off += chunk)
        rc = summary_parse_feed(p, (const char *)data + off,
                                size - off < chunk ? size - off : chunk, err, 256);
    if (rc == 0)
        rc = summary_parse_finish(p, err, 256);
    *cnt = *summary_parse_counts(p);
    return rc;
}

static void check_chunking(struct summary_parser *p, const uint8_t *data, size_t size, size_t chunk)
{
    uint64_t h1, h2;
    struct summary_counts c1, c2;
    char e1[256], e2[256];
    int r1 = digest_parse(p, data, size, size ? size : 1, &h1, &c1, e1);
    int r2 = digest_parse(p, data, size, chunk, &h2, &c2, e2);
    if (r1 != r2 || strcmp(e1, e2) != 0)
        __builtin_trap();
    if (r1 == 0 && (h1 != h2 || c1.type_errors != c2.type_errors || c1.negatives != c2.negatives ||
                    c1.dropped != c2.dropped || c1.pods != c2.pods || c1.bytes != c2.bytes))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct summary_handlers hs = {.node = model_node_on_node,
                                               .pod = model_node_on_pod};
    static const struct model_node_info ni = {.name = "n",
                                              .cpu_capacity_m = 1000,
                                              .cpu_allocatable_m = 1000,
                                              .mem_capacity = 1,
                                              .mem_allocatable = 1};
    char err[256];
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 64 + 1;
    data++, size--;
    struct rates *r = rates_new();
    struct model *m = model_new(r, NULL, NULL);
    size_t seen = 0;
    struct model_node *mn = model_node_new(m, sink, &seen);
    struct summary_parser *p = summary_parser_new();
    for (uint32_t cycle = 1; cycle <= 2; cycle++) {
        model_cycle_begin(m, cycle, (int64_t)cycle * 1000000000);
        model_node_begin(mn, &ni);
        summary_parse_reset(p, &hs, mn);
        int rc = 0;
        for (size_t off = 0; off < size && rc == 0; off += chunk)
            rc = summary_parse_feed(p, (const char *)data + off,
                                    size - off < chunk ? size - off : chunk, err, sizeof(err));
        if (rc == 0 && summary_parse_finish(p, err, sizeof(err)) == 0)
            model_node_finish(mn);
        model_cycle_end(m, sink, &seen);
    }
    check_chunking(p, data, size, chunk);
    if (chunk != 1)
        check_chunking(p, data, size, 1);
    summary_parser_free(p);
    model_node_free(mn);
    model_free(m);
    rates_free(r);
    return 0;
}
