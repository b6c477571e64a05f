/*
 * sink_buffer.c - owns the bounded chunk FIFO between encoder and network: accounting against
 * the bound, drop-oldest, sealing, splitting. No I/O, no clock: unit-tested directly.
 */
#include "sink_buffer.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_OVERHEAD  sizeof(struct sbuf_chunk)
#define CHUNK_FIRST_CAP 4096
#define CHUNK_BYTES_CAP (4u << 20)
#define CHUNK_BYTES_MIN 1024

void sbuf_init(struct sbuf *b, uint64_t bound, bool bound_points, uint32_t lines_max,
               sbuf_drop_fn on_drop, void *ud)
{
    memset(b, 0, sizeof *b);
    b->bound = bound;
    b->bound_points = bound_points;
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

static void chunk_free(struct sbuf *b, struct sbuf_chunk *c)
{
    b->bytes -= c->cap + CHUNK_OVERHEAD;
    b->points -= c->points;
    b->nchunks--;
    free(c->data);
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

uint64_t sbuf_fini(struct sbuf *b)
{
    uint64_t pts = b->points;
    while (b->head) {
        struct sbuf_chunk *c = b->head;
        b->head = c->next;
        chunk_free(b, c);
    }
    b->tail = NULL;
    return pts;
}

/* Drop the oldest chunk that is neither in flight nor `keep`; 0 if one went. */
static int drop_oldest(struct sbuf *b, const struct sbuf_chunk *keep)
{
    for (struct sbuf_chunk *c = b->head; c; c = c->next) {
        if (c->inflight || c == keep || (c->lines == 0 && c == b->tail))
            continue;
        uint64_t pts = c->points;
        uint32_t lines = c->lines;
        int64_t lo = c->ts_min, hi = c->ts_max;
        unlink_chunk(b, c);
        chunk_free(b, c);
        if (b->on_drop)
            b->on_drop(b->ud, pts, lines, lo, hi);
        return 0;
    }
    return -1;
}

static bool over_bytes(const struct sbuf *b, uint64_t add)
{
    return !b->bound_points && b->bytes + add > b->bound;
}

static struct sbuf_chunk *chunk_new(struct sbuf *b, size_t need)
{
    size_t cap = need > CHUNK_FIRST_CAP ? need : CHUNK_FIRST_CAP;
    if (cap > b->bytes_max && need <= b->bytes_max)
        cap = b->bytes_max;
    while (over_bytes(b, cap + CHUNK_OVERHEAD)) {
        if (drop_oldest(b, NULL) < 0) {
            if (cap == need)
                return NULL;
            cap = need;
        }
    }
    struct sbuf_chunk *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (!(c->data = malloc(cap))) {
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
            if (drop_oldest(b, t) < 0)
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
        if (b->points > b->bound && !t->inflight) {
            /* Only the open chunk is left to give: the newest points go. */
            uint64_t pts = t->points;
            uint32_t lines = t->lines;
            int64_t lo = t->ts_min, hi = t->ts_max;
            unlink_chunk(b, t);
            chunk_free(b, t);
            if (b->on_drop)
                b->on_drop(b->ud, pts, lines, lo, hi);
        }
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
    if (c->lines < 2)
        return -1;
    uint32_t first_lines;
    size_t off = middle_line_end(c, &first_lines);
    struct sbuf_chunk *n = calloc(1, sizeof *n);
    if (!n || !(n->data = malloc(c->len - off))) {
        free(n);
        return -1;
    }
    memcpy(n->data, c->data + off, c->len - off);
    n->len = n->cap = c->len - off;
    n->lines = c->lines - first_lines;
    /* Points are not tracked per line: split them in proportion to lines (exact for the
     * default layout, where a line is a point). */
    n->points = c->points * n->lines / c->lines;
    n->sealed = true;
    n->ts_min = c->ts_min; /* times are not tracked per line: both halves keep the range */
    n->ts_max = c->ts_max;
    c->points -= n->points;
    c->lines = first_lines;
    c->len = off;
    n->next = c->next;
    c->next = n;
    if (b->tail == c)
        b->tail = n;
    b->bytes += n->cap + CHUNK_OVERHEAD;
    b->nchunks++;
    return 0;
}

int sbuf_extra(struct sbuf *b, long long n)
{
    if (n < 0) {
        b->extra -= (uint64_t)-n;
        b->bytes -= (uint64_t)-n;
        return 0;
    }
    while (over_bytes(b, (uint64_t)n)) {
        if (drop_oldest(b, NULL) < 0)
            return -1;
    }
    b->extra += (uint64_t)n;
    b->bytes += (uint64_t)n;
    return 0;
}

bool sbuf_empty(const struct sbuf *b)
{
    for (const struct sbuf_chunk *c = b->head; c; c = c->next) {
        if (c->lines > 0)
            return false;
    }
    return true;
}
