/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sink_buffer.c - owns the bounded chunk FIFO between encoder and network: accounting against
 * the bound, drop-oldest, sealing, packing (gzip), splitting. No I/O, no clock: unit-tested
 * directly.
 */
#include "sink_buffer.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CHUNK_OVERHEAD  sizeof(struct sbuf_chunk)
#define CHUNK_FIRST_CAP 4096
#define CHUNK_BYTES_CAP (4u << 20)
#define CHUNK_BYTES_MIN 1024

void sbuf_init(struct sbuf *b, uint64_t bound, bool bound_points, uint32_t lines_max, bool pack,
               sbuf_drop_fn on_drop, void *ud)
{
    memset(b, 0, sizeof *b);
    b->bound = bound;
    b->bound_points = bound_points;
    b->pack = pack;
    b->lines_max = lines_max ? lines_max : 1;
    b->on_drop = on_drop;
    b->ud = ud;
    b->ts_min = INT64_MAX;
    b->ts_max = INT64_MIN;
    if (bound_points) {
        uint64_t per = bound / 8 ? bound / 8 : 1;
        if (per < b->lines_max)
            b->lines_max = (uint32_t)per;
        b->bytes_max = CHUNK_BYTES_CAP;
    } else {
        uint64_t per = bound / 8;
        b->bytes_max = per > CHUNK_BYTES_CAP   ? CHUNK_BYTES_CAP
                       : per < CHUNK_BYTES_MIN ? CHUNK_BYTES_MIN
                                               : (size_t)per;
    }
}

/* Keep a buffer for a chunk to come, or free it. */
static void spare_put(struct sbuf *b, char *data, size_t cap)
{
    if (data && cap >= SBUF_SPARE_MIN && b->nspare < SBUF_SPARES &&
        b->spare_bytes + cap <= SBUF_SPARE_BYTES) {
        b->spare[b->nspare++] = (struct sbuf_spare){data, cap};
        b->spare_bytes += cap;
        return;
    }
    free(data);
}

static void chunk_free(struct sbuf *b, struct sbuf_chunk *c)
{
    b->bytes -= c->cap + CHUNK_OVERHEAD;
    b->points -= c->points;
    b->nchunks--;
    spare_put(b, c->data, c->cap);
    free(c);
}

/* Unlink c from the list. */
static void unlink_chunk(struct sbuf *b, struct sbuf_chunk *c)
{
    struct sbuf_chunk **pp = &b->head, *prev = NULL;
    while (*pp && *pp != c) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = c->next;
    if (b->tail == c)
        b->tail = prev;
}

void sbuf_drop_spares(struct sbuf *b)
{
    while (b->nspare)
        free(b->spare[--b->nspare].data);
    b->spare_bytes = 0;
}

uint64_t sbuf_fini(struct sbuf *b)
{
    uint64_t pts = b->points;
    while (b->head) {
        struct sbuf_chunk *c = b->head;
        b->head = c->next;
        chunk_free(b, c);
    }
    sbuf_drop_spares(b);
    if (b->z) {
        deflateEnd(b->z);
        free(b->z);
        b->z = NULL;
    }
    b->tail = NULL;
    return pts;
}

static bool over_bytes(const struct sbuf *b, uint64_t add);
static int pack_waiting(struct sbuf *b, const struct sbuf_chunk *keep);

/* A chunk grew in place (unpacked to be sent plain, or split): back within the bound by
 * packing others that wait. Nothing is dropped for it: when nothing is left to pack, the
 * chunk in flight stays over the bound by its plain size until it is answered. */
static void repack_to_bound(struct sbuf *b, const struct sbuf_chunk *keep)
{
    while (over_bytes(b, 0) && pack_waiting(b, keep) == 0)
        ;
}

/* Free c to make room, and tell the drop hook what went. */
static void drop_chunk(struct sbuf *b, struct sbuf_chunk *c)
{
    uint64_t pts = c->points;
    uint32_t lines = c->lines;
    int64_t lo = c->ts_min, hi = c->ts_max;
    unlink_chunk(b, c);
    chunk_free(b, c);
    if (b->on_drop)
        b->on_drop(b->ud, pts, lines, lo, hi);
}

/* Drop the oldest chunk that is neither in flight nor `keep`; 0 if one went. */
static int drop_oldest(struct sbuf *b, const struct sbuf_chunk *keep)
{
    for (struct sbuf_chunk *c = b->head; c; c = c->next) {
        if (c->inflight || c == keep || (c->lines == 0 && c == b->tail))
            continue;
        drop_chunk(b, c);
        return 0;
    }
    return -1;
}

static bool over_bytes(const struct sbuf *b, uint64_t add)
{
    return !b->bound_points && b->bytes + add > b->bound;
}

/* The byte bound is reached: gzip the oldest waiting chunk still plain, rather than drop one.
 * A sink that sends plain bodies (gzip=false) keeps its chunks plain while the server keeps up,
 * and holds some ten times more once a backlog fills the bound. 0 when one shrank. */
static int pack_waiting(struct sbuf *b, const struct sbuf_chunk *keep)
{
    for (struct sbuf_chunk *c = b->head; c; c = c->next) {
        if (c->inflight || c == keep || !c->sealed || c->packed || c->unpackable)
            continue;
        if (sbuf_pack(b, c))
            return 0;
        c->unpackable = true; /* would not shrink (or no memory): not tried again */
    }
    return -1;
}

static struct sbuf_chunk *chunk_new(struct sbuf *b, size_t need)
{
    size_t cap = need > CHUNK_FIRST_CAP ? need : CHUNK_FIRST_CAP;
    if (cap > b->bytes_max && need <= b->bytes_max)
        cap = b->bytes_max;
    while (over_bytes(b, cap + CHUNK_OVERHEAD)) {
        if (pack_waiting(b, NULL) == 0)
            continue;
        if (drop_oldest(b, NULL) < 0) {
            if (cap == need)
                return NULL;
            cap = need;
        }
    }
    struct sbuf_chunk *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    /* The newest spare (its pages the most likely still cached), when the line fits it and
     * its size fits the bound. */
    const struct sbuf_spare *sp = b->nspare ? &b->spare[b->nspare - 1] : NULL;
    if (sp && sp->cap >= need && sp->cap <= b->bytes_max &&
        !over_bytes(b, sp->cap + CHUNK_OVERHEAD)) {
        c->data = sp->data;
        cap = sp->cap;
        b->spare_bytes -= sp->cap;
        b->nspare--;
    } else if (!(c->data = malloc(cap))) {
        free(c);
        return NULL;
    }
    c->cap = cap;
    c->ts_min = INT64_MAX;
    c->ts_max = INT64_MIN;
    b->bytes += cap + CHUNK_OVERHEAD;
    b->nchunks++;
    if (b->tail)
        b->tail->next = c;
    else
        b->head = c;
    b->tail = c;
    return c;
}

static void seal(struct sbuf *b, struct sbuf_chunk *c)
{
    c->sealed = true;
    if (b->pack && sbuf_pack(b, c))
        return;
    if (c->cap > c->len && c->len > 0) {
        char *d = realloc(c->data, c->len);
        if (d) {
            b->bytes -= c->cap - c->len;
            c->data = d;
            c->cap = c->len;
        }
    }
}

char *sbuf_reserve(struct sbuf *b, size_t max)
{
    struct sbuf_chunk *t = b->tail;
    if (t && !t->sealed && !t->inflight && t->cap - t->len >= max && t->lines < b->lines_max)
        return t->data + t->len;
    if (t && !t->sealed && !t->inflight && t->lines < b->lines_max &&
        t->len + max <= b->bytes_max) {
        /* Grow the open chunk. */
        size_t ncap = t->cap * 2;
        if (ncap < t->len + max)
            ncap = t->len + max;
        if (ncap > b->bytes_max)
            ncap = b->bytes_max;
        while (over_bytes(b, ncap - t->cap)) {
            if (pack_waiting(b, t) < 0 && drop_oldest(b, t) < 0)
                break;
        }
        if (!over_bytes(b, ncap - t->cap)) {
            char *d = realloc(t->data, ncap);
            if (d) {
                b->bytes += ncap - t->cap;
                t->data = d;
                t->cap = ncap;
                return t->data + t->len;
            }
        }
    }
    if (t && !t->sealed && !t->inflight) {
        if (t->lines == 0) {
            /* An empty open chunk too small: drop it and start over. */
            unlink_chunk(b, t);
            chunk_free(b, t);
        } else {
            seal(b, t);
        }
    }
    struct sbuf_chunk *c = chunk_new(b, max);
    return c ? c->data : NULL;
}

void sbuf_commit(struct sbuf *b, size_t len, uint32_t npoints)
{
    struct sbuf_chunk *t = b->tail;
    t->len += len;
    t->raw_len += len;
    t->lines++;
    t->points += npoints;
    b->points += npoints;
    if (b->ts_min < t->ts_min)
        t->ts_min = b->ts_min;
    if (b->ts_max > t->ts_max)
        t->ts_max = b->ts_max;
    if (b->bound_points) {
        while (b->points > b->bound && drop_oldest(b, t) == 0)
            ;
        if (b->points > b->bound && !t->inflight)
            drop_chunk(b, t); /* only the open chunk is left to give: the newest points go */
    }
}

struct sbuf_chunk *sbuf_take(struct sbuf *b, bool seal_open)
{
    for (struct sbuf_chunk *c = b->head; c; c = c->next) {
        if (c->inflight || c->lines == 0)
            continue;
        if (!c->sealed) {
            if (!seal_open)
                return NULL;
            seal(b, c);
        }
        c->inflight = true;
        return c;
    }
    return NULL;
}

void sbuf_release(struct sbuf *b, struct sbuf_chunk *c)
{
    unlink_chunk(b, c);
    chunk_free(b, c);
}

void sbuf_requeue(struct sbuf *b, struct sbuf_chunk *c)
{
    (void)b;
    c->inflight = false;
}

/* Offset just past the line that contains the middle of c. */
static size_t middle_line_end(const struct sbuf_chunk *c, uint32_t *lines_before)
{
    uint32_t want = c->lines / 2, seen = 0;
    size_t off = 0;
    while (seen < want) {
        const char *nl = memchr(c->data + off, '\n', c->len - off);
        off = (size_t)(nl - c->data) + 1;
        seen++;
    }
    *lines_before = seen;
    return off;
}

int sbuf_split(struct sbuf *b, struct sbuf_chunk *c)
{
    if (c->lines < 2 || sbuf_unpack(b, c) < 0)
        return -1;
    uint32_t first_lines;
    size_t off = middle_line_end(c, &first_lines);
    struct sbuf_chunk *n = calloc(1, sizeof *n);
    if (!n || !(n->data = malloc(c->len - off))) {
        free(n);
        return -1;
    }
    memcpy(n->data, c->data + off, c->len - off);
    n->len = n->cap = n->raw_len = c->len - off;
    n->lines = c->lines - first_lines;
    /* Points are not tracked per line: split them in proportion to lines (exact for the
     * default layout, where a line is a point). */
    n->points = c->points * n->lines / c->lines;
    n->sealed = true;
    n->ts_min = c->ts_min; /* times are not tracked per line: both halves keep the range */
    n->ts_max = c->ts_max;
    c->points -= n->points;
    c->lines = first_lines;
    c->len = c->raw_len = off;
    n->next = c->next;
    c->next = n;
    if (b->tail == c)
        b->tail = n;
    b->bytes += n->cap + CHUNK_OVERHEAD;
    b->nchunks++;
    char *d = realloc(c->data, off); /* the second half lives in n now */
    if (d) {
        b->bytes -= c->cap - off;
        c->data = d;
        c->cap = off;
    }
    repack_to_bound(b, c);
    return 0;
}

bool sbuf_pack(struct sbuf *b, struct sbuf_chunk *c)
{
    if (c->packed || c->len == 0 || c->len > UINT32_MAX)
        return false;
    z_stream *z = b->z;
    if (!z) {
        if (!(z = calloc(1, sizeof *z)))
            return false;
        /* windowBits 15 + 16: a gzip wrapper; level 1: most of the ratio at a fraction of
         * the CPU */
        if (deflateInit2(z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(z);
            return false;
        }
        b->z = z;
    }
    /* Line protocol shrinks some tenfold; what does not fit a quarter is not worth keeping
     * packed. The output lives only as long as this call when it goes unused. */
    size_t cap = c->len / 4 + 1024;
    char *out = malloc(cap);
    if (!out)
        return false;
    deflateReset(z);
    z->next_in = (Bytef *)c->data;
    z->avail_in = (uInt)c->len;
    z->next_out = (Bytef *)out;
    z->avail_out = (uInt)cap;
    if (deflate(z, Z_FINISH) != Z_STREAM_END) {
        free(out);
        return false;
    }
    size_t n = cap - z->avail_out;
    char *shrunk = realloc(out, n);
    if (shrunk) {
        out = shrunk;
        cap = n;
    }
    b->bytes = b->bytes - c->cap + cap;
    free(c->data);
    c->data = out;
    c->len = n;
    c->cap = cap;
    c->packed = true;
    return true;
}

/* Inflate up to outlen bytes of c's gzip stream into out; the bytes produced, or -1 when the
 * stream is corrupt or ends early (when all is wanted). */
static long long inflate_into(const struct sbuf_chunk *c, char *out, size_t outlen, bool all)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, 15 + 16) != Z_OK)
        return -1;
    s.next_in = (Bytef *)c->data;
    s.avail_in = (uInt)c->len;
    s.next_out = (Bytef *)out;
    s.avail_out = (uInt)outlen;
    int rc = inflate(&s, Z_FINISH);
    long long got = (long long)(outlen - s.avail_out);
    inflateEnd(&s);
    if (all ? rc != Z_STREAM_END : rc != Z_STREAM_END && rc != Z_BUF_ERROR && rc != Z_OK)
        return -1;
    return got;
}

int sbuf_unpack(struct sbuf *b, struct sbuf_chunk *c)
{
    if (!c->packed)
        return 0;
    char *raw = malloc(c->raw_len ? c->raw_len : 1);
    if (!raw)
        return -1;
    if (inflate_into(c, raw, c->raw_len, true) != (long long)c->raw_len) {
        free(raw);
        return -1;
    }
    b->bytes = b->bytes - c->cap + c->raw_len;
    free(c->data);
    c->data = raw;
    c->len = c->cap = c->raw_len;
    c->packed = false;
    repack_to_bound(b, c);
    return 0;
}

void sbuf_first_line(const struct sbuf_chunk *c, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    size_t n;
    if (c->packed) {
        long long got = inflate_into(c, out, outlen - 1, false);
        n = got < 0 ? 0 : (size_t)got;
    } else {
        n = c->len < outlen - 1 ? c->len : outlen - 1;
        memcpy(out, c->data, n);
    }
    const char *nl = memchr(out, '\n', n);
    out[nl ? (size_t)(nl - out) : n] = '\0';
}

bool sbuf_empty(const struct sbuf *b)
{
    for (const struct sbuf_chunk *c = b->head; c; c = c->next) {
        if (c->lines > 0)
            return false;
    }
    return true;
}
