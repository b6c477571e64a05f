/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sink_buffer.h - the bounded FIFO of encoded lines between the encoder and the network
 * (private to kp_sinks; unit-tested on its own).
 *
 * Lines live in chunks; a chunk is one write request (at most lines_max lines, about
 * bytes_max bytes). The newest chunk is open and takes lines; the pump seals it when it wants
 * to send. The bound is in bytes (every chunk's allocation) or in points. To stay within it the
 * oldest chunks that are not in flight are dropped, whole, and counted; in-flight chunks are never
 * touched.
 *
 * With packing on (the sink gzips its requests), a chunk is gzipped as it is sealed and waits
 * in that form: line protocol shrinks some tenfold, so a byte bound holds that many more
 * points through an outage, and a leader's memory between cycles is that much smaller.
 * With packing off, chunks stay plain until the byte bound is reached; then the oldest waiting
 * plain chunks are gzipped, one at a time, before any chunk is dropped (the sink unpacks such a
 * chunk again to send it plain).
 */
#ifndef KP_SINKS_SINK_BUFFER_H
#define KP_SINKS_SINK_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf_chunk {
    struct sbuf_chunk *next; /* towards newer */
    char *data;              /* owned: the lines, or once packed their gzip stream */
    size_t len, cap;         /* of data */
    size_t raw_len;          /* bytes of the lines themselves (len until packed) */
    uint32_t lines;
    uint32_t attempts; /* sends so far (for the retry counter) */
    uint64_t points;
    int64_t ts_min, ts_max; /* sample times of its lines, Unix ns (min > max: none yet) */
    bool sealed;
    bool inflight;
    bool packed;     /* data is a gzip stream of raw_len bytes */
    bool unpackable; /* packing it was tried under the bound and did not shrink it */
};

/* Called for every chunk dropped to make room (for counting and the once-per-episode log),
 * with the sample-time range of its lines (ts_min > ts_max when unknown). */
typedef void (*sbuf_drop_fn)(void *ud, uint64_t points, uint32_t lines, int64_t ts_min,
                             int64_t ts_max);

#define SBUF_SPARES      64
#define SBUF_SPARE_BYTES ((size_t)64 << 20)
#define SBUF_SPARE_MIN   ((size_t)64 << 10)

struct sbuf {
    bool bound_points; /* bound counts points, not bytes */
    uint64_t bound;
    uint32_t lines_max;      /* per chunk */
    size_t bytes_max;        /* per chunk (a longer single line still fits) */
    struct sbuf_chunk *head; /* oldest; owned list */
    struct sbuf_chunk *tail; /* newest */
    uint64_t bytes;          /* accounted: chunk allocations */
    uint64_t points;         /* in all chunks */
    size_t nchunks;
    int64_t ts_min, ts_max; /* sample times of the lines now being committed (the writer's
                             * batch), recorded in the chunk they go to */
    bool pack;              /* gzip each chunk as it is sealed */
    void *z;                /* owned: the deflate stream, made on first use */
    sbuf_drop_fn on_drop;
    void *ud;
    /* Buffers of chunks that went, kept for the chunks to come: a cycle's lines go into the
     * memory the last cycle's used, where new allocations cost a page fault every 4 KiB. Not
     * counted against the bound (they hold no lines); at most SBUF_SPARES of them and
     * SBUF_SPARE_BYTES in all, each at least SBUF_SPARE_MIN. */
    struct sbuf_spare {
        char *data;
        size_t cap;
    } spare[SBUF_SPARES];
    unsigned nspare;
    size_t spare_bytes;
};

/* bound: bytes or points; lines_max: --sink-batch-lines; pack: gzip chunks as they are sealed.
 * Chunks are kept to about 1/8 of the bound so that dropping one frees room without losing
 * most of the buffer. */
void sbuf_init(struct sbuf *b, uint64_t bound, bool bound_points, uint32_t lines_max, bool pack,
               sbuf_drop_fn on_drop, void *ud);
/* Frees every chunk; returns the points still held (in flight or not). */
uint64_t sbuf_fini(struct sbuf *b);
/* Frees the spare buffers (a replica that stops leading writes nothing for a while). */
void sbuf_drop_spares(struct sbuf *b);

/* Room for a line of at most max bytes at the end of the open chunk; NULL when even dropping
 * every droppable chunk cannot make room (the caller counts the line as dropped). */
char *sbuf_reserve(struct sbuf *b, size_t max);
/* The line just written in the room from sbuf_reserve. */
void sbuf_commit(struct sbuf *b, size_t len, uint32_t npoints);

/* The oldest chunk not in flight, marked in flight; seals the open chunk when it is the one
 * (unless seal_open is false). NULL when there is none. */
struct sbuf_chunk *sbuf_take(struct sbuf *b, bool seal_open);
/* A chunk in flight went through (or was given up): free it. */
void sbuf_release(struct sbuf *b, struct sbuf_chunk *c);
/* A chunk in flight failed and will be retried: back to waiting, in its place. */
void sbuf_requeue(struct sbuf *b, struct sbuf_chunk *c);
/* Split a chunk of two or more lines after its middle line (413); a packed chunk is unpacked
 * first, and both halves stay unpacked. Returns 0 or -1. */
int sbuf_split(struct sbuf *b, struct sbuf_chunk *c);
/* Gzip c's lines in place (level 1). False when it is packed already, empty, would not shrink
 * to a quarter of its size, or memory is short: c is then as it was. */
bool sbuf_pack(struct sbuf *b, struct sbuf_chunk *c);
/* Back to plain lines. 0, or -1 when memory is short or the stream is corrupt (c unchanged). */
int sbuf_unpack(struct sbuf *b, struct sbuf_chunk *c);
/* c's first line without its '\n', cut to outlen - 1 bytes, packed or not. */
void sbuf_first_line(const struct sbuf_chunk *c, char *out, size_t outlen);
/* True when nothing is buffered. */
bool sbuf_empty(const struct sbuf *b);

#endif
