/* SPDX-License-Identifier: Apache-2.0 */
/*
 * summary_int.h - internals shared by summary.c (the streaming structural
 * scanner) and summary_decode.c (one captured element straight into the
 * structs of summary.h). Not part of any public API.
 */
#ifndef KP_COLLECTOR_SUMMARY_INT_H
#define KP_COLLECTOR_SUMMARY_INT_H

#include "summary.h"

#include <stdlib.h>

struct summary_pod_bufs {
    struct summary_container *containers; /* owned */
    size_t ccap;
    struct summary_fs *volumes; /* owned */
    size_t vcap;
};

/* Results of decoding one element. */
enum summary_dec {
    SUMMARY_DEC_OK,       /* decoded: hand it on */
    SUMMARY_DEC_ABSENT,   /* null, or not an object (counted as a type error) */
    SUMMARY_DEC_MALFORMED /* not JSON: the response is bad */
};

/*
 * Decode one element captured by the scanner: its bytes with the whitespace
 * outside strings removed, strings already checked for UTF-8 and escapes,
 * brackets balanced. Grammar (commas, colons, literals, numbers) is checked
 * here. On SUMMARY_DEC_MALFORMED, err says where and what.
 */
enum summary_dec summary_decode_node(const char *buf, size_t len, struct summary_node *n,
                                     struct summary_counts *cnt, char *err, size_t errlen);
enum summary_dec summary_decode_pod(const char *buf, size_t len, struct summary_pod *p,
                                    struct summary_pod_bufs *b, struct summary_counts *cnt,
                                    char *err, size_t errlen);

#endif
