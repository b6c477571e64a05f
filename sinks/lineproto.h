/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lineproto.h - InfluxDB line protocol encoding of kubepulse batches (private to kp_sinks;
 * the unit tests, the fuzzer and the benchmark include it too).
 *
 * Two Heapster layouts:
 *   default     one line per point:   cpu/usage_rate,<tags> value=12i <ts>
 *   withfields  one line per series, timestamp and metric group:
 *               cpu,<tags> usage=1i,usage_rate=12i <ts>
 * A field keeps one type forever: the metric table decides (int metrics always carry 'i').
 *
 * Escaping follows InfluxDB 1.x's parser (models/points.go), which is what must read it back:
 *   measurement             ','  ' '        are prefixed with '\'
 *   tag key, tag value,     ','  '='  ' '   are prefixed with '\'
 *   field key
 *   string field value      '"'  '\'        are prefixed with '\'
 * Two things cannot be represented and are rewritten (documented in docs/metrics.md too):
 *   - a newline or carriage return becomes the two characters "\n" / "\r": the parser ends a
 *     line at any newline outside a string field, escaped or not;
 *   - a trailing backslash in a measurement, tag key, tag value or field key becomes U+FF3C
 *     (FULLWIDTH REVERSE SOLIDUS, "＼"): before the separator that follows it, the parser
 *     would read it as an escape.
 * Tags with an empty key or value are omitted (InfluxDB has no empty tags), and so is a tag
 * keyed "time" (InfluxDB drops the whole series otherwise). Any other byte, including UTF-8,
 * passes through unchanged.
 */
#ifndef KP_SINKS_LINEPROTO_H
#define KP_SINKS_LINEPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metric.h"

/* Worst-case growth of escaping: every byte doubled, plus 2 for a trailing backslash. */
#define LP_ESCAPED_MAX(n) (2 * (n) + 2)

/* Escape one element into dst (room for LP_ESCAPED_MAX(n)); return the length written. */
size_t lp_escape_measurement(char *dst, const char *s, size_t n);
size_t lp_escape_tag(char *dst, const char *s, size_t n); /* tag keys, values, field keys */
size_t lp_escape_string_field(char *dst, const char *s, size_t n); /* without the quotes */

struct lp_options {
    bool withfields;          /* Heapster's withfields layout */
    bool skip_cumulative;     /* Heapster's disable_counter_metrics */
    const char *cluster_name; /* borrowed; the cluster_name tag on every line; NULL/"": none */
    bool drop_ids; /* leave out pod_id, namespace_id, hostname, host_id (Heapster's sink did) */
};

/* Where encoded lines go. The encoder asks for room for one line, writes it, commits it. */
struct lp_writer {
    /* Room for at least max bytes, or NULL when there is none (the line is dropped). */
    char *(*reserve)(void *ud, size_t max);
    /* The line just written: len bytes ending in '\n', carrying npoints points. */
    void (*commit)(void *ud, size_t len, uint32_t npoints);
    void *ud;
};

struct lp_result {
    size_t lines;     /* lines committed */
    size_t points;    /* points in them */
    size_t nonfinite; /* float points that were NaN or infinite: skipped */
    size_t invalid;   /* points naming a series or metric outside the batch/table: skipped */
    size_t filtered;  /* cumulative points skipped by skip_cumulative */
    size_t no_room;   /* points whose line found no room in the writer */
};

struct lp_encoder;

struct lp_encoder *lp_encoder_new(const struct lp_options *opts, char *err, size_t errlen);
void lp_encoder_free(struct lp_encoder *e);

/* Encode a whole batch (not retained). Adds to *res (which the caller zeroes). Returns 0, or
 * a negative value with err filled when out of memory. */
int lp_encode_batch(struct lp_encoder *e, const struct kp_batch *b, const struct lp_writer *w,
                    struct lp_result *res, char *err, size_t errlen);

/* A growable in-memory writer (tests, benchmark, the log sink). */
struct lp_buf {
    char *data; /* owned */
    size_t len;
    size_t cap;
    size_t limit; /* 0: unbounded; else reserve fails past it */
};
void lp_buf_writer(struct lp_buf *b, struct lp_writer *w);
void lp_buf_fini(struct lp_buf *b);

#endif
