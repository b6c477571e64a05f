/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jcursor.c - the pull cursor of jcursor.h: JSON grammar over a compacted
 * in-memory value, read in place. Every read is bounds-checked against
 * jc->end even where the scanner already vouched for the bytes, so a bug
 * upstream can only ever produce a parse error, never a read past the buffer.
 */
#include "jcursor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int jc_fail(struct jcursor *jc, const char *msg)
{
    if (!jc->err)
        jc->err = msg;
    jc->p = jc->end; /* every later read sees the end */
    return -1;
}

void jc_init(struct jcursor *jc, const char *buf, size_t len)
{
    jc->p = jc->start = buf;
    jc->end = buf + len;
    jc->depth = 0;
    jc->err = NULL;
}

size_t jc_offset(const struct jcursor *jc)
{
    return (size_t)(jc->p - jc->start);
}

enum jc_type jc_peek(const struct jcursor *jc)
{
    if (jc->err || jc->p >= jc->end)
        return JC_BAD;
    switch (*jc->p) {
    case '{': return JC_OBJECT;
    case '[': return JC_ARRAY;
    case '"': return JC_STRING;
    case 'n': return JC_NULL;
    case 't':
    case 'f': return JC_BOOL;
    case '-':
    case 'N':
    case 'I': return JC_NUMBER;
    default: return *jc->p >= '0' && *jc->p <= '9' ? JC_NUMBER : JC_BAD;
    }
}

static int jc_literal(struct jcursor *jc, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(jc->end - jc->p) < n || memcmp(jc->p, lit, n) != 0)
        return jc_fail(jc, "invalid literal");
    jc->p += n;
    return 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Four hex digits after "\u"; p is past the 'u'. */
static long read_hex4(struct jcursor *jc)
{
    if (jc->end - jc->p < 4)
        return jc_fail(jc, "truncated \\u escape");
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)jc->p[i]);
        if (h < 0)
            return jc_fail(jc, "invalid \\u escape");
        v = v * 16 + h;
    }
    jc->p += 4;
    return v;
}

/* One escape (p past the backslash) as UTF-8 into out; returns its length. */
static int read_escape(struct jcursor *jc, char out[4])
{
    if (jc->p >= jc->end)
        return jc_fail(jc, "truncated escape");
    char c = *jc->p++;
    switch (c) {
    case '"':
    case '\\':
    case '/': out[0] = c; return 1;
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default: return jc_fail(jc, "invalid escape");
    }
    long cp = read_hex4(jc);
    if (cp < 0)
        return -1;
    if (cp >= 0xD800 && cp <= 0xDBFF && jc->end - jc->p >= 6 && jc->p[0] == '\\' &&
        jc->p[1] == 'u') {
        const char *save = jc->p;
        jc->p += 2;
        long lo = read_hex4(jc);
        if (lo < 0)
            return -1;
        if (lo >= 0xDC00 && lo <= 0xDFFF)
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        else
            jc->p = save; /* not a pair: the second escape stands alone */
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        cp = 0xFFFD; /* a lone surrogate: the replacement character, as Go decodes it */
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The first '"' or '\\' in [p, end), or end: eight bytes a step while eight remain (strings
 * here are mostly short keys and values without escapes). */
static const char *find_quote_or_backslash(const char *p, const char *end)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        if (((q - ones) & ~q & highs) | ((b - ones) & ~b & highs))
            break; /* one of the eight: found by the byte loop below */
        p += 8;
    }
    while (p < end && *p != '"' && *p != '\\')
        p++;
    return p;
}

long jc_get_string(struct jcursor *jc, char *dst, size_t cap)
{
    if (jc_peek(jc) != JC_STRING)
        return jc_fail(jc, "expected a string");
    jc->p++;
    size_t n = 0;
    int overflow = cap == 0, nul = 0;
    for (;;) {
        const char *run = jc->p;
        jc->p = find_quote_or_backslash(run, jc->end);
        size_t rl = (size_t)(jc->p - run);
        if (!overflow && n + rl < cap)
            memcpy(dst + n, run, rl);
        else
            overflow = 1;
        n += rl;
        if (jc->p >= jc->end)
            return jc_fail(jc, "unterminated string");
        if (*jc->p++ == '"')
            break;
        char u[4];
        int ul = read_escape(jc, u);
        if (ul < 0)
            return -1;
        nul |= ul == 1 && u[0] == '\0';
        if (!overflow && n + (size_t)ul < cap)
            memcpy(dst + n, u, (size_t)ul);
        else
            overflow = 1;
        n += (size_t)ul;
    }
    if (overflow || nul) {
        if (cap)
            dst[0] = '\0';
        return -2;
    }
    dst[n] = '\0';
    return (long)n;
}

static int skip_string(struct jcursor *jc)
{
    char none[1];
    return jc_get_string(jc, none, 0) == -1 ? -1 : 0;
}

/* Non-finite spellings: NaN and [-]Infinity, also in lower case. */
static int read_nonfinite(struct jcursor *jc, enum jc_num_kind *kind)
{
    static const char *const words[] = {"NaN", "nan", "Infinity", "infinity"};
    const char *save = jc->p;
    if (*jc->p == '-')
        jc->p++;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(jc->end - jc->p) >= n && memcmp(jc->p, words[i], n) == 0 &&
            (i >= 2 || jc->p == save)) {
            jc->p += n;
            *kind = JC_NUM_NONFINITE;
            return 0;
        }
    }
    jc->p = save;
    return jc_fail(jc, "invalid number");
}

static const char *digits(const char *p, const char *end)
{
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

/* A float's class, from strtod over a bounded copy of its text. */
static enum jc_num_kind float_kind(const char *s, size_t len, uint64_t *u)
{
    char buf[400];
    if (len >= sizeof(buf))
        return JC_NUM_RANGE; /* no count needs 400 digits: out of range */
    memcpy(buf, s, len);
    buf[len] = '\0';
    double d = strtod(buf, NULL);
    if (!isfinite(d))
        return JC_NUM_NONFINITE;
    if (d < 0)
        return JC_NUM_NEGATIVE;
    if (d >= 9223372036854775807.0)
        return JC_NUM_RANGE;
    if (d != floor(d))
        return JC_NUM_FRACTION;
    *u = (uint64_t)d; /* -0.0 reads as 0 */
    return JC_NUM_UINT;
}

int jc_get_number(struct jcursor *jc, enum jc_num_kind *kind, uint64_t *u)
{
    if (jc_peek(jc) != JC_NUMBER)
        return jc_fail(jc, "expected a number");
    const char *s = jc->p, *p = s, *end = jc->end;
    int neg = *p == '-';
    p += neg;
    if (p >= end || *p < '0' || *p > '9')
        return read_nonfinite(jc, kind);
    if (*p != '0') {
        /* the common case first: up to 18 digits (below INT64_MAX), then no '.', 'e' or digit */
        const char *d = p;
        uint64_t v = 0;
        while (d < end && d - p < 18 && (unsigned)(*d - '0') < 10)
            v = v * 10 + (unsigned)(*d++ - '0');
        if (d == end || (*d != '.' && (*d | 0x20) != 'e' && (unsigned)(*d - '0') >= 10)) {
            jc->p = d;
            if (neg && v)
                *kind = JC_NUM_NEGATIVE;
            else
                *kind = JC_NUM_UINT, *u = v;
            return 0;
        }
    }
    const char *int_end = *p == '0' ? p + 1 : digits(p, end);
    const char *q = int_end;
    int is_float = 0;
    if (q < end && *q == '.') {
        const char *f = digits(q + 1, end);
        if (f == q + 1)
            return jc_fail(jc, "invalid number");
        q = f, is_float = 1;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        const char *e = q + 1;
        if (e < end && (*e == '+' || *e == '-'))
            e++;
        const char *f = digits(e, end);
        if (f == e)
            return jc_fail(jc, "invalid number");
        q = f, is_float = 1;
    }
    if (q < end && *q >= '0' && *q <= '9')
        return jc_fail(jc, "invalid number (leading zero)");
    jc->p = q;
    if (is_float) {
        *kind = float_kind(s, (size_t)(q - s), u);
        return 0;
    }
    uint64_t v = 0;
    int over = 0;
    for (const char *d = p; d < int_end; d++) {
        unsigned dv = (unsigned)(*d - '0');
        if (v > (UINT64_MAX - dv) / 10)
            over = 1;
        else
            v = v * 10 + dv;
    }
    if (neg && (v || over))
        *kind = JC_NUM_NEGATIVE;
    else if (over || v >= (uint64_t)INT64_MAX)
        *kind = JC_NUM_RANGE;
    else
        *kind = JC_NUM_UINT, *u = v;
    return 0;
}

/* Consume the opening bracket of an object or array, one level deeper. */
static int open_bracket(struct jcursor *jc, enum jc_type want, const char *msg)
{
    if (jc_peek(jc) != want)
        return jc_fail(jc, msg);
    if (++jc->depth > JC_MAX_DEPTH)
        return jc_fail(jc, "nested too deeply");
    jc->p++;
    return 0;
}

int jc_obj_begin(struct jcursor *jc)
{
    return open_bracket(jc, JC_OBJECT, "expected an object");
}

int jc_arr_begin(struct jcursor *jc)
{
    return open_bracket(jc, JC_ARRAY, "expected an array");
}

/* Shared by objects and arrays: 1 when another member follows, 0 after the
 * closing bracket. The byte before the cursor tells whether this is the first
 * member: it is the opening bracket exactly then (no whitespace is kept, and
 * no value ends in '{' or '['). */
static int next_member(struct jcursor *jc, char open, char close)
{
    if (jc->err || jc->p >= jc->end)
        return jc_fail(jc, "truncated");
    if (*jc->p == close) {
        jc->p++;
        jc->depth--;
        return 0;
    }
    if (jc->p[-1] == open)
        return 1;
    if (*jc->p != ',')
        return jc_fail(jc, "expected ',' or a closing bracket");
    jc->p++;
    return 1;
}

int jc_obj_next(struct jcursor *jc, char *buf, size_t bufcap, const char **key, size_t *klen)
{
    int r = next_member(jc, '{', '}');
    if (r <= 0)
        return r;
    const char *q = NULL;
    if (jc->p < jc->end && *jc->p == '"')
        q = find_quote_or_backslash(jc->p + 1, jc->end);
    if (q && q < jc->end && *q == '"') {
        /* no escape: the key is read where it is (the scanner let no raw NUL through) */
        *key = jc->p + 1;
        *klen = (size_t)(q - *key);
        jc->p = q + 1;
    } else {
        long n = jc_get_string(jc, buf, bufcap);
        if (n == -1)
            return -1;
        if (n == -2)
            buf[0] = '\0', n = 0;
        *key = buf;
        *klen = (size_t)n;
    }
    if (jc->p >= jc->end || *jc->p != ':')
        return jc_fail(jc, "expected ':'");
    jc->p++;
    return 1;
}

int jc_arr_next(struct jcursor *jc)
{
    int r = next_member(jc, '[', ']');
    if (r == 1 && jc->p < jc->end && *jc->p == ']')
        return jc_fail(jc, "trailing comma");
    return r;
}

int jc_skip(struct jcursor *jc)
{
    char buf[1];
    const char *key;
    size_t klen;
    int r;
    enum jc_num_kind k;
    uint64_t u;
    switch (jc_peek(jc)) {
    case JC_NULL: return jc_literal(jc, "null");
    case JC_BOOL: return jc_literal(jc, *jc->p == 't' ? "true" : "false");
    case JC_NUMBER: return jc_get_number(jc, &k, &u);
    case JC_STRING: return skip_string(jc);
    case JC_OBJECT:
        if (jc_obj_begin(jc) < 0)
            return -1;
        while ((r = jc_obj_next(jc, buf, sizeof(buf), &key, &klen)) == 1)
            if (jc_skip(jc) < 0)
                return -1;
        return r;
    case JC_ARRAY:
        if (jc_arr_begin(jc) < 0)
            return -1;
        while ((r = jc_arr_next(jc)) == 1)
            if (jc_skip(jc) < 0)
                return -1;
        return r;
    default: return jc_fail(jc, jc->err ? jc->err : "expected a value");
    }
}
