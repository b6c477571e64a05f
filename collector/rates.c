/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rates.c - the previous-sample store and the rate rules of rates.h.
 * Series are identified by a 64-bit FNV-1a hash of their key; at a million
 * series the chance of any collision is about 3e-8, and a collision can only
 * cost one interval's rate (the start time or counters would not match).
 *
 * Memory: the samples are fixed-size entries (104 bytes: only the counters a
 * rate is made of), kept dense in chunks of RATE_CHUNK that are never moved or
 * copied; an open-addressing index (linear probing, backward-shift deletion)
 * of 8-byte slots maps a hash to its entry. So the table grows a chunk at a
 * time, and growing the index rebuilds it from the entries (the old index is
 * the only thing held twice: 8 bytes a slot, not the 104 of an entry); no
 * empty slot costs an entry's size. Expiry moves the last entry into the hole.
 */
#include "rates.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define RATE_N     7   /* the counters of RATE_COUNTERS */
#define RATE_CHUNK 256 /* entries per chunk: 26 KB */

struct rate_entry {
    uint64_t key; /* the series key's hash, never 0 */
    int64_t start_ns;
    int64_t ts_ns[SG__COUNT];
    uint64_t v[RATE_N]; /* by rate_slot */
    uint32_t has;
    uint32_t cycle;
};

struct rate_ix {
    uint32_t ent; /* entry number + 1; 0: empty */
    uint32_t tag; /* the hash's low 32 bits: the home slot, and a cheap first compare */
};

struct rates {
    struct rate_entry **chunks; /* owned, each owned: RATE_CHUNK entries */
    size_t nchunks, chunks_cap;
    struct rate_ix *index; /* owned; cap slots */
    size_t cap;            /* power of two, <= 2^31 */
    size_t count;          /* entries 0 .. count - 1 are live */
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
    r->index = calloc(r->cap, sizeof(*r->index));
    if (!r->index) {
        free(r);
        return NULL;
    }
    return r;
}

void rates_free(struct rates *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nchunks; i++)
        free(r->chunks[i]);
    free(r->chunks);
    free(r->index);
    free(r);
}

size_t rates_count(const struct rates *r)
{
    return r->count;
}

size_t rates_memory(const struct rates *r)
{
    return sizeof(*r) + r->cap * sizeof(*r->index) + r->chunks_cap * sizeof(*r->chunks) +
           r->nchunks * RATE_CHUNK * sizeof(struct rate_entry);
}

static struct rate_entry *rates_entry(const struct rates *r, size_t n)
{
    return &r->chunks[n / RATE_CHUNK][n % RATE_CHUNK];
}

/* The index slot of hash h: its entry's, or the empty slot where it would go. */
static size_t rates_find(const struct rates *r, uint64_t h)
{
    size_t mask = r->cap - 1, i = h & mask;
    for (; r->index[i].ent; i = (i + 1) & mask)
        if (r->index[i].tag == (uint32_t)h && rates_entry(r, r->index[i].ent - 1)->key == h)
            break;
    return i;
}

/* A bigger index, built from the entries (each hash is in the table once). */
static int rates_grow_index(struct rates *r)
{
    size_t cap = r->cap * 2;
    struct rate_ix *n = calloc(cap, sizeof(*n));
    if (!n)
        return -1;
    free(r->index);
    r->index = n;
    r->cap = cap;
    for (size_t e = 0; e < r->count; e++) {
        uint64_t h = rates_entry(r, e)->key;
        size_t i = h & (cap - 1);
        while (n[i].ent)
            i = (i + 1) & (cap - 1);
        n[i] = (struct rate_ix){.ent = (uint32_t)(e + 1), .tag = (uint32_t)h};
    }
    return 0;
}

/* Room for entry number count: a new chunk when the last one is full. */
static int rates_reserve_entry(struct rates *r)
{
    if (r->count < r->nchunks * RATE_CHUNK)
        return 0;
    if (r->nchunks == r->chunks_cap) {
        size_t cap = r->chunks_cap ? r->chunks_cap * 2 : 8;
        struct rate_entry **c = realloc(r->chunks, cap * sizeof(*c));
        if (!c)
            return -1;
        r->chunks = c;
        r->chunks_cap = cap;
    }
    r->chunks[r->nchunks] = malloc(RATE_CHUNK * sizeof(struct rate_entry));
    if (!r->chunks[r->nchunks])
        return -1;
    r->nchunks++;
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
    return rates_update_hash(r, kp_hash(key, strlen(key)), st, cycle, out);
}

void rates_prefetch(const struct rates *r, uint64_t h)
{
    /* the index slot only: its entry's address is not known before the slot is read (the
     * entries are dense in first-seen order, which the next cycle visits in the same order) */
    __builtin_prefetch(&r->index[(h + !h) & (r->cap - 1)]);
}

int rates_update_hash(struct rates *r, uint64_t h, const struct summary_stats *st, uint32_t cycle,
                      struct rate_out *out)
{
    if (!h)
        h = 1;
    memset(out, 0, sizeof(*out));
    if ((r->count + 1) * 4 > r->cap * 3 && rates_grow_index(r) < 0)
        return -1;
    size_t ix = rates_find(r, h);
    struct rate_entry *e;
    if (!r->index[ix].ent) {
        if (r->count >= UINT32_MAX - 1 || rates_reserve_entry(r) < 0)
            return -1;
        r->index[ix] = (struct rate_ix){.ent = (uint32_t)(r->count + 1), .tag = (uint32_t)h};
        e = rates_entry(r, r->count++);
        e->key = h;
    } else {
        e = rates_entry(r, r->index[ix].ent - 1);
        if (e->start_ns == st->start_ns)
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

/* Empty index slot i; backward-shift deletion pulls later members of the
 * probe run into the hole so lookups never stop early. */
static void rates_unindex(struct rates *r, size_t i)
{
    size_t mask = r->cap - 1, hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!r->index[j].ent)
            break;
        size_t home = r->index[j].tag & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            r->index[hole] = r->index[j];
            hole = j;
        }
    }
    r->index[hole].ent = 0;
}

void rates_expire(struct rates *r, uint32_t cycle, uint32_t max_age)
{
    size_t n = 0;
    while (n < r->count) {
        struct rate_entry *e = rates_entry(r, n);
        if (cycle - e->cycle <= max_age) {
            n++;
            continue;
        }
        rates_unindex(r, rates_find(r, e->key));
        size_t last = --r->count;
        if (n != last) { /* the last entry fills the hole; look at entry n again */
            struct rate_entry *l = rates_entry(r, last);
            r->index[rates_find(r, l->key)].ent = (uint32_t)(n + 1);
            *e = *l;
        }
    }
    /* give back the chunks no entry uses, keeping one spare against churn */
    size_t need = (r->count + RATE_CHUNK - 1) / RATE_CHUNK + 1;
    while (r->nchunks > need)
        free(r->chunks[--r->nchunks]);
}
