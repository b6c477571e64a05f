/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rates.c - the previous-sample store and the rate rules of rates.h.
 * An open-addressing table (linear probing, backward-shift deletion) of
 * fixed-size entries: no per-series allocation, 104 bytes per series (only the
 * counters a rate is made of are kept, not every value of the sample).
 * Series are identified by a 64-bit FNV-1a hash of their key; at a million
 * series the chance of any collision is about 3e-8, and a collision can only
 * cost one interval's rate (the start time or counters would not match).
 */
#include "rates.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define RATE_N 7 /* the counters of RATE_COUNTERS */

struct rate_entry {
    uint64_t key; /* 0: empty slot */
    int64_t start_ns;
    int64_t ts_ns[SG__COUNT];
    uint64_t v[RATE_N]; /* by rate_slot */
    uint32_t has;
    uint32_t cycle;
};

struct rates {
    struct rate_entry *slots; /* owned */
    size_t cap;               /* power of two */
    size_t count;
};

static const uint8_t rate_group[SV__COUNT] = {
    [SV_CPU_USAGE] = SG_CPU,     [SV_MEM_USAGE] = SG_MEM,       [SV_MEM_WORKING_SET] = SG_MEM,
    [SV_MEM_RSS] = SG_MEM,       [SV_MEM_PAGE_FAULTS] = SG_MEM, [SV_MEM_MAJOR_PAGE_FAULTS] = SG_MEM,
    [SV_NET_RX] = SG_NET,        [SV_NET_RX_ERRORS] = SG_NET,   [SV_NET_TX] = SG_NET,
    [SV_NET_TX_ERRORS] = SG_NET,
};
#define RATE_COUNTERS                                                                              \
    ((1u << SV_CPU_USAGE) | (1u << SV_MEM_PAGE_FAULTS) | (1u << SV_MEM_MAJOR_PAGE_FAULTS) |        \
     (1u << SV_NET_RX) | (1u << SV_NET_RX_ERRORS) | (1u << SV_NET_TX) | (1u << SV_NET_TX_ERRORS))
/* Where a counter of RATE_COUNTERS is kept in rate_entry.v; 0 for the other values. */
static const uint8_t rate_slot[SV__COUNT] = {
    [SV_CPU_USAGE] = 0,     [SV_MEM_PAGE_FAULTS] = 1, [SV_MEM_MAJOR_PAGE_FAULTS] = 2,
    [SV_NET_RX] = 3,        [SV_NET_RX_ERRORS] = 4,   [SV_NET_TX] = 5,
    [SV_NET_TX_ERRORS] = 6,
};
_Static_assert(__builtin_popcount(RATE_COUNTERS) == RATE_N, "one slot per rate counter");

struct rates *rates_new(void)
{
    struct rates *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->cap = 1024;
    r->slots = calloc(r->cap, sizeof(*r->slots));
    if (!r->slots) {
        free(r);
        return NULL;
    }
    return r;
}

void rates_free(struct rates *r)
{
    if (!r)
        return;
    free(r->slots);
    free(r);
}

size_t rates_count(const struct rates *r)
{
    return r->count;
}

size_t rates_memory(const struct rates *r)
{
    return sizeof(*r) + r->cap * sizeof(*r->slots);
}

static struct rate_entry *rates_find(struct rate_entry *slots, size_t cap, uint64_t key)
{
    size_t i = key & (cap - 1);
    while (slots[i].key && slots[i].key != key)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int rates_grow(struct rates *r)
{
    size_t cap = r->cap * 2;
    struct rate_entry *n = calloc(cap, sizeof(*n));
    if (!n)
        return -1;
    for (size_t i = 0; i < r->cap; i++)
        if (r->slots[i].key)
            *rates_find(n, cap, r->slots[i].key) = r->slots[i];
    free(r->slots);
    r->slots = n;
    r->cap = cap;
    return 0;
}

/* The rate of counter i between old and new, or 0 when there is none. */
static int rate_one(const struct rate_entry *old, const struct summary_stats *st, int i,
                    struct rate_out *out)
{
    int g = rate_group[i];
    if (!(old->has & st->has & (1u << i)))
        return 0;
    int64_t t0 = old->ts_ns[g], t1 = st->ts_ns[g];
    uint64_t prev = old->v[rate_slot[i]];
    if (!t0 || !t1 || t1 <= t0 || st->v[i] < prev)
        return 0; /* repeated or reordered sample, or a counter reset */
    uint64_t dv = st->v[i] - prev;
    double dt = (double)(t1 - t0);
    if (i == SV_CPU_USAGE) {
        /* ns of CPU per ns of wall time, in millicores; truncated like Heapster's
         * integer arithmetic, but without its int64 overflow on 1000 * dv */
        unsigned __int128 m = (unsigned __int128)dv * 1000u / (uint64_t)(t1 - t0);
        out->cpu_millicores = m > INT64_MAX ? INT64_MAX : (int64_t)m;
    } else {
        out->per_s[i] = (double)dv * 1e9 / dt;
    }
    out->has |= 1u << i;
    return 1;
}

int rates_update(struct rates *r, const char *key, const struct summary_stats *st, uint32_t cycle,
                 struct rate_out *out)
{
    uint64_t h = kp_hash(key, strlen(key));
    if (!h)
        h = 1;
    memset(out, 0, sizeof(*out));
    if ((r->count + 1) * 4 > r->cap * 3 && rates_grow(r) < 0)
        return -1;
    struct rate_entry *e = rates_find(r->slots, r->cap, h);
    if (!e->key) {
        e->key = h;
        r->count++;
    } else if (e->start_ns == st->start_ns) {
        for (int i = 0; i < SV__COUNT; i++)
            if (RATE_COUNTERS & (1u << i))
                rate_one(e, st, i, out);
    }
    /* store the new sample; a group whose time went backwards keeps nothing
     * from before, so the next interval starts clean */
    e->start_ns = st->start_ns;
    memcpy(e->ts_ns, st->ts_ns, sizeof(e->ts_ns));
    for (int i = 0; i < SV__COUNT; i++)
        if (RATE_COUNTERS & (1u << i))
            e->v[rate_slot[i]] = st->v[i];
    e->has = st->has;
    e->cycle = cycle;
    return 0;
}

void rates_expire(struct rates *r, uint32_t cycle, uint32_t max_age)
{
    size_t mask = r->cap - 1;
    for (size_t i = 0; i < r->cap; i++) {
        struct rate_entry *e = &r->slots[i];
        if (!e->key || cycle - e->cycle <= max_age)
            continue;
        /* backward-shift deletion: pull later members of the probe run into the
         * hole so lookups never stop early; then look at slot i again */
        size_t hole = i, j = i;
        for (;;) {
            j = (j + 1) & mask;
            if (!r->slots[j].key)
                break;
            size_t home = r->slots[j].key & mask;
            if (((j - home) & mask) >= ((j - hole) & mask)) {
                r->slots[hole] = r->slots[j];
                hole = j;
            }
        }
        r->slots[hole].key = 0;
        r->count--;
        if (hole != i)
            i--; /* a live entry moved into slot i */
    }
}
