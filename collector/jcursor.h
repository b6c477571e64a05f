/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jcursor.h - a pull cursor over one JSON value held in memory, for decoders
 * that know the shape they want (summary_decode.c). It reads objects key by
 * key and values by the type the caller expects, skips what the caller does
 * not ask for, and checks the grammar as it goes; it builds no tree and
 * allocates nothing.
 *
 * The input must contain no whitespace outside strings, and its strings must
 * already be valid UTF-8 with valid escapes: summary.c's scanner guarantees
 * both while capturing. Everything else (commas, colons, literals, numbers,
 * nesting) is checked here; the first error sticks in jc->err and every later
 * call fails fast.
 */
#ifndef KP_COLLECTOR_JCURSOR_H
#define KP_COLLECTOR_JCURSOR_H

#include <stddef.h>
#include <stdint.h>

#define JC_MAX_DEPTH 64

enum jc_type { JC_NULL, JC_BOOL, JC_NUMBER, JC_STRING, JC_ARRAY, JC_OBJECT, JC_BAD };

struct jcursor {
    const char *p, *end; /* borrowed */
    const char *start;   /* borrowed: for error offsets */
    int depth;
    const char *err; /* static message of the first error, or NULL */
};

void jc_init(struct jcursor *jc, const char *buf, size_t len);
/* The type of the value at the cursor, from its first byte. */
enum jc_type jc_peek(const struct jcursor *jc);

/* Skip one value of any type, checking it. 0 or -1. */
int jc_skip(struct jcursor *jc);

/*
 * Objects: jc_obj_begin() consumes '{'; then jc_obj_next() reads one key and
 * its ':' and returns 1 with *key and *klen set (not NUL-terminated: *key points
 * into the input, or, for a key with escapes, to its unescaped copy in buf; such
 * a key longer than bufcap-1 bytes or with a NUL in it comes back as "" so it
 * matches nothing), returns 0 after the closing '}', or -1. Between two calls
 * the caller consumes the value (a jc_get_* call or jc_skip).
 * Arrays: jc_arr_begin() consumes '['; jc_arr_next() returns 1 when a value
 * follows, 0 after ']', -1 on error.
 */
int jc_obj_begin(struct jcursor *jc);
int jc_obj_next(struct jcursor *jc, char *buf, size_t bufcap, const char **key, size_t *klen);
int jc_arr_begin(struct jcursor *jc);
int jc_arr_next(struct jcursor *jc);

/* The string at the cursor, unescaped into dst (cap bytes incl. the NUL).
 * Returns its length, -1 on a grammar error, -2 when it does not fit or
 * holds a NUL (the string is consumed either way). */
long jc_get_string(struct jcursor *jc, char *dst, size_t cap);

/* A number at the cursor, as JSON's grammar (plus NaN, Infinity and
 * -Infinity, which kubelets should not send but json-c and Go's decoders
 * have been seen to meet). */
enum jc_num_kind {
    JC_NUM_UINT,      /* a non-negative integer below INT64_MAX: *u */
    JC_NUM_NEGATIVE,  /* an integer or fraction below zero */
    JC_NUM_RANGE,     /* an integer >= INT64_MAX, or a float >= 2^63 */
    JC_NUM_NONFINITE, /* NaN or +-Infinity, or a float that overflows */
    JC_NUM_FRACTION,  /* a finite non-negative float with a fractional part */
};
/* 0 with *kind (and *u for JC_NUM_UINT), or -1 on a grammar error. */
int jc_get_number(struct jcursor *jc, enum jc_num_kind *kind, uint64_t *u);

/* Byte offset of the cursor in the buffer, for messages. */
size_t jc_offset(const struct jcursor *jc);

#endif
