/* SPDX-License-Identifier: Apache-2.0 */
/*
 * summary.c - the structural scanner of the streaming Summary parser
 * (summary.h). It tracks strings, escapes, UTF-8 and nesting of the top-level
 * object only far enough to find where "node" and each element of "pods"
 * begin and end. Those elements are captured (bounded) without the
 * whitespace outside their strings and decoded one at a time by
 * summary_decode.c; everything else is checked and skipped, never stored.
 * Strings, the bulk of a response, are scanned in runs, eight bytes a step, and a
 * pretty-printed response's indentation is skipped a word at a time.
 */
#include "summary_int.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

enum scan_state {
    S_TOP,        /* expect '{' */
    S_KEY,        /* expect a key string or '}' */
    S_KEY_STR,    /* inside the key string */
    S_COLON,      /* expect ':' */
    S_VALUE,      /* inside a top-level value (captured or skipped) */
    S_AFTER,      /* expect ',' or '}' */
    S_PODS_OPEN,  /* expect '[' (or a non-array value to skip) */
    S_PODS_ELEM,  /* expect an element or ']' */
    S_PODS_VALUE, /* inside an element of pods */
    S_PODS_AFTER, /* expect ',' or ']' */
    S_DONE,       /* only whitespace may follow */
};
enum scan_key { K_OTHER, K_NODE, K_PODS };
enum vs_result { VS_MORE, VS_END_INCL, VS_END_EXCL, VS_ERR, VS_BIG, VS_NOMEM };

/* The sub-scanner of one JSON value: strings (escapes, UTF-8, control
 * characters) and bracket nesting, checked byte by byte; the rest of the
 * grammar is left to the decoder of captured elements. */
struct vscan {
    int started, in_str, esc, scalar;
    int uni;                        /* hex digits still due after \u */
    int utf8_need;                  /* continuation bytes still due */
    unsigned char utf8_lo, utf8_hi; /* the range of the next one */
    int depth;
    uint64_t kinds; /* bit d set: level d+1 is an array; for bracket matching */
};

struct summary_parser {
    const struct summary_handlers *h; /* borrowed */
    void *ud;
    enum scan_state st;
    enum scan_key key;
    char keybuf[8];
    size_t keylen;
    int key_esc, after_first; /* S_KEY: 0 before the first member */
    struct vscan vs;
    int capture;
    char *elem; /* owned: the current element's bytes, whitespace removed */
    size_t elen, ecap;
    struct summary_pod pod;
    struct summary_pod_bufs bufs;
    struct summary_counts cnt;
    int failed;
};

static void byte_class_init(void);

struct summary_parser *summary_parser_new(void)
{
    byte_class_init(); /* the same table every time: cheap and idempotent */
    return calloc(1, sizeof(struct summary_parser));
}

void summary_parser_free(struct summary_parser *p)
{
    if (!p)
        return;
    free(p->elem);
    free(p->bufs.containers);
    free(p->bufs.volumes);
    free(p);
}

void summary_parse_reset(struct summary_parser *p, const struct summary_handlers *h, void *ud)
{
    p->h = h;
    p->ud = ud;
    p->st = S_TOP;
    p->elen = 0;
    p->failed = 0;
    memset(&p->cnt, 0, sizeof(p->cnt));
    /* keep a big buffer from one huge response from pinning memory forever */
    if (p->ecap > (256u << 10)) {
        free(p->elem);
        p->elem = NULL;
        p->ecap = 0;
    }
}

const struct summary_counts *summary_parse_counts(const struct summary_parser *p)
{
    return &p->cnt;
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Bytes a bare scalar (number, true, false, null, NaN) may contain. */
static int is_scalar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '+' || c == '-';
}

/* Byte classes for the run loops of value_run. */
enum { C_WS = 1, C_STR = 2, C_ORD = 4, C_DIGIT = 8 };
static unsigned char byte_class[256];

static void byte_class_init(void)
{
    for (int c = 0; c < 256; c++) {
        unsigned char k = 0;
        if (is_ws((unsigned char)c))
            k |= C_WS;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\')
            k |= C_STR; /* a string byte that needs no attention */
        if (c > 0x20 && c != '"' && c != '{' && c != '[' && c != '}' && c != ']')
            k |= C_ORD; /* kept as it is between strings; the decoder checks it */
        if (c >= '0' && c <= '9')
            k |= C_DIGIT;
        byte_class[c] = k;
    }
}

/* Word-at-a-time helpers for the run loops (SWAR over 8 bytes). */
#define W_ONES  UINT64_C(0x0101010101010101)
#define W_HIGHS UINT64_C(0x8080808080808080)
#define W_LOWS  UINT64_C(0x7F7F7F7F7F7F7F7F)

static inline uint64_t load8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Whether a string's word holds a byte that is not plain (C_STR): '"', '\\', a control
 * byte or a byte of a multi-byte UTF-8 sequence. Exact as to whether, not where. */
static inline uint64_t str_word_special(uint64_t w)
{
    uint64_t q = w ^ (W_ONES * '"'), bs = w ^ (W_ONES * '\\');
    return (w | ((w - W_ONES * 0x20) & ~w) | ((q - W_ONES) & ~q) | ((bs - W_ONES) & ~bs)) & W_HIGHS;
}

/* Whether all eight bytes of w are ASCII digits. */
static inline int all_digits(uint64_t w)
{
    const uint64_t hi = UINT64_C(0xF0F0F0F0F0F0F0F0), threes = W_ONES * 0x30;
    return (w & hi) == threes && ((w + W_ONES * 6) & hi) == threes;
}

/* The spaces at p (at most n), which after a newline are a pretty-printed response's
 * indentation: counted a word at a time where the byte order allows, else not at all (the
 * caller's byte loop drops them either way). */
static inline size_t indent_len(const unsigned char *p, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    size_t k = 0;
    while (n - k >= 8) {
        uint64_t x = load8(p + k) ^ (W_ONES * ' ');
        /* a high bit in each byte that is not a space (exact per byte: no borrows) */
        uint64_t other = (((x & W_LOWS) + W_LOWS) | x) & W_HIGHS;
        if (other)
            return k + ((size_t)__builtin_ctzll(other) >> 3);
        k += 8;
    }
    return k;
#else
    (void)p, (void)n;
    return 0;
#endif
}

#if defined(__SSE2__)
#include <emmintrin.h>
#define BLOCK_SCAN 1
/* block_run reads and stores 16 bytes at a time and needs this much of the step ahead of
 * it, so that a store after compaction stays inside the room reserved for the step. */
#define BLOCK_AHEAD 32
#endif

/* The lead byte of a UTF-8 sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF): sets the continuation bytes due. */
static int utf8_lead(struct vscan *v, unsigned char c)
{
    v->utf8_lo = 0x80, v->utf8_hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        v->utf8_need = 1;
    else if (c >= 0xE0 && c <= 0xEF)
        v->utf8_need = 2;
    else if (c >= 0xF0 && c <= 0xF4)
        v->utf8_need = 3;
    else
        return -1;
    if (c == 0xE0)
        v->utf8_lo = 0xA0;
    else if (c == 0xED)
        v->utf8_hi = 0x9F;
    else if (c == 0xF0)
        v->utf8_lo = 0x90;
    else if (c == 0xF4)
        v->utf8_hi = 0x8F;
    return 0;
}

/* One string byte that is not plain, or any byte while an escape or a UTF-8
 * sequence is open: -1 invalid, 0 the string goes on, 1 it closed. */
static int str_byte(struct vscan *v, unsigned char c)
{
    if (v->utf8_need) {
        if (c < v->utf8_lo || c > v->utf8_hi)
            return -1;
        v->utf8_lo = 0x80, v->utf8_hi = 0xBF;
        v->utf8_need--;
        return 0;
    }
    if (v->uni) {
        int hex = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
        v->uni--;
        return hex ? 0 : -1;
    }
    if (v->esc) {
        v->esc = 0;
        if (c == 'u')
            v->uni = 4;
        return c && strchr("\"\\/bfnrtu", c) ? 0 : -1;
    }
    if (c == '"') {
        v->in_str = 0;
        return 1;
    }
    if (c == '\\') {
        v->esc = 1;
        return 0;
    }
    if (c < 0x80)
        return c < 0x20 ? -1 : 0;
    return utf8_lead(v, c);
}

/* Room for want bytes of element; the bound is checked by the caller. */
static int elem_reserve(struct summary_parser *p, size_t want)
{
    return kp_grow((void **)&p->elem, &p->ecap, want, 1, 4096);
}

/* A bracket outside strings: nesting and kind checked. 1 when it closed the
 * value, 0 when the value goes on, -1 invalid. */
static int bracket(struct vscan *v, unsigned char c)
{
    if (c == '{' || c == '[') {
        if (v->depth >= SUMMARY_MAX_DEPTH - 1)
            return -1;
        if (c == '[')
            v->kinds |= 1ULL << v->depth;
        else
            v->kinds &= ~(1ULL << v->depth);
        v->depth++;
        return 0;
    }
    if (v->depth == 0 || ((v->kinds >> (v->depth - 1)) & 1) != (c == ']'))
        return -1;
    v->depth--;
    return v->depth == 0;
}

#ifdef BLOCK_SCAN
/*
 * The common bytes of a value inside an object or array, 16 at a time (SSE2): a string's
 * plain bytes, and between strings whitespace (dropped), the bytes kept for the decoder, the
 * opening quote and brackets that neither close the value nor fail. It stops, leaving the
 * state as the byte loop of value_run would have it, at anything else: an escape, a control
 * byte, a byte of a multi-byte UTF-8 sequence, a bracket that fails, or fewer than
 * BLOCK_AHEAD bytes left. Returns VS_END_INCL when it consumed the value's last byte, else
 * VS_MORE. When capturing, the caller guarantees room for n bytes at *op; whole 16-byte
 * stores then stay within it (what is written equals at most what is read, and 16 more
 * bytes of input follow every store's position).
 */
static enum vs_result block_run(struct vscan *v, const unsigned char *b, size_t n, size_t *ip,
                                char **op, int cap)
{
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i sp = _mm_set1_epi8(' '), nl = _mm_set1_epi8('\n'), tab = _mm_set1_epi8('\t'),
                  cr = _mm_set1_epi8('\r'), x20 = _mm_set1_epi8(0x20), ocurly = _mm_set1_epi8('{'),
                  ccurly = _mm_set1_epi8('}');
    size_t i = *ip;
    char *o = *op;
    enum vs_result r = VS_MORE;
    while (n - i >= BLOCK_AHEAD) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        if (v->in_str) {
            /* '"', '\\', and (signed) below 0x20: control bytes and bytes >= 0x80 */
            unsigned m = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                             _mm_cmplt_epi8(x, x20)));
            if (cap)
                _mm_storeu_si128((__m128i *)(void *)o, x);
            if (!m) {
                i += 16;
                o += cap ? 16 : 0;
                continue;
            }
            unsigned k = (unsigned)__builtin_ctz(m);
            i += k;
            o += cap ? k : 0;
            if (b[i] != '"')
                break; /* escapes, control bytes, UTF-8: the byte loop */
            v->in_str = 0;
            *o = '"', o += cap, i++;
            if (v->depth == 0) {
                r = VS_END_INCL;
                break;
            }
            continue;
        }
        __m128i ws = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, sp), _mm_cmpeq_epi8(x, nl)),
                                  _mm_or_si128(_mm_cmpeq_epi8(x, tab), _mm_cmpeq_epi8(x, cr)));
        __m128i le20 = _mm_cmpeq_epi8(_mm_min_epu8(x, x20), x); /* unsigned x <= 0x20 */
        __m128i x1 = _mm_or_si128(x, x20);                      /* '[' -> '{', ']' -> '}' */
        __m128i stop =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_andnot_si128(ws, le20)),
                         _mm_or_si128(_mm_cmpeq_epi8(x1, ocurly), _mm_cmpeq_epi8(x1, ccurly)));
        unsigned sm = (unsigned)_mm_movemask_epi8(stop);
        unsigned k = sm ? (unsigned)__builtin_ctz(sm) : 16;
        if (cap) {
            unsigned below = (1u << k) - 1;
            unsigned keep = ~(unsigned)_mm_movemask_epi8(ws) & below;
            if (keep == below) {
                _mm_storeu_si128((__m128i *)(void *)o, x);
                o += k;
            } else {
                while (keep) { /* each run of kept bytes in one store */
                    unsigned s = (unsigned)__builtin_ctz(keep);
                    unsigned run = (unsigned)__builtin_ctz(~(keep >> s));
                    _mm_storeu_si128((__m128i *)(void *)o,
                                     _mm_loadu_si128((const __m128i *)(const void *)(b + i + s)));
                    o += run;
                    keep &= ~(((1u << run) - 1) << s);
                }
            }
        }
        i += k;
        if (k == 16)
            continue;
        unsigned char c = b[i];
        if (c == '"') {
            v->in_str = 1;
        } else if (c <= 0x20) {
            break; /* a control byte: the byte loop fails on it */
        } else {
            int br = bracket(v, c);
            if (br < 0)
                break; /* unchanged: the byte loop fails on it */
            if (br == 1) {
                *o = (char)c, o += cap, i++;
                r = VS_END_INCL;
                break;
            }
        }
        *o = (char)c, o += cap, i++;
    }
    *ip = i;
    *op = o;
    return r;
}
#endif

/* value_run's largest step: the element buffer is reserved for a whole step
 * up front, so the run loops store without checks. */
#define RUN_STEP  65536
#define ELEM_STEP 1024 /* an element's buffer is grown when less is free */

/*
 * Scan up to RUN_STEP bytes of the current value. Strings go in runs of plain
 * bytes, copied in one memcpy when capturing; between strings whitespace is
 * dropped and everything else kept, so the decoder reads a compact element.
 * When not capturing, the output is a one-byte scratch that never advances.
 * *used is the number of bytes consumed: the whole step (VS_MORE), through
 * the value's last byte (VS_END_INCL), up to the byte after a bare scalar,
 * which belongs to the enclosing state (VS_END_EXCL), or up to the bad byte.
 */
static enum vs_result value_run(struct summary_parser *p, const unsigned char *b, size_t n,
                                size_t *used)
{
    struct vscan *v = &p->vs;
    const int cap = p->capture;
    const size_t adv = cap ? 1 : 0;
    char scratch[1];
    if (n > RUN_STEP)
        n = RUN_STEP;
    if (cap) {
        /* the element grows by what it holds, not by the chunk curl hands over (16 KB
         * against elements of 2-3 KB): every node in flight keeps a parser */
        if (p->ecap - p->elen < ELEM_STEP && elem_reserve(p, p->elen + ELEM_STEP) < 0)
            return (*used = 0), VS_NOMEM;
        if (n > p->ecap - p->elen)
            n = p->ecap - p->elen;
    }
    char *o = cap ? p->elem + p->elen : scratch;
    enum vs_result r = VS_MORE;
    size_t i = 0;
    while (i < n) {
#ifdef BLOCK_SCAN
        if (v->started && !v->scalar && !v->esc && !v->uni && !v->utf8_need &&
            n - i >= BLOCK_AHEAD) {
            r = block_run(v, b, n, &i, &o, cap);
            if (r != VS_MORE || i == n)
                break;
            /* the byte it stopped at goes through the byte loop below */
        }
#endif
        unsigned char c = b[i];
        if (v->in_str) {
            if (!v->esc && !v->uni && !v->utf8_need) {
                size_t s = i;
                while (n - i >= 8 && !str_word_special(load8(b + i)))
                    i += 8;
                while (i < n && (byte_class[b[i]] & C_STR))
                    i++;
                if (cap) {
                    memcpy(o, b + s, i - s);
                    o += i - s;
                }
                if (i == n)
                    break;
                c = b[i];
            }
            int sr = str_byte(v, c);
            if (sr < 0) {
                r = VS_ERR;
                break;
            }
            *o = (char)c, o += adv, i++;
            if (sr == 1 && v->depth == 0) {
                r = VS_END_INCL;
                break;
            }
            continue;
        }
        if (v->started && !v->scalar) {
            /* inside an object or array, between strings */
            unsigned char k;
            while (i < n && ((k = byte_class[b[i]]) & (C_WS | C_ORD))) {
                if ((k & C_DIGIT) && cap) {
                    /* a number's digits, eight at a time while eight follow */
                    uint64_t w;
                    while (n - i >= 8 && all_digits(w = load8(b + i))) {
                        memcpy(o, &w, 8);
                        o += 8, i += 8;
                    }
                    if (i == n || !((k = byte_class[b[i]]) & (C_WS | C_ORD)))
                        break;
                }
                *o = (char)b[i];
                o += adv & (k >> 2); /* C_ORD: kept; whitespace: dropped */
                if (b[i++] == '\n')
                    i += indent_len(b + i, n - i);
            }
            if (i == n)
                break;
            c = b[i];
            if (c == '"') {
                v->in_str = 1;
            } else if (c == '{' || c == '[' || c == '}' || c == ']') {
                int br = bracket(v, c);
                if (br < 0) {
                    r = VS_ERR;
                    break;
                }
                if (br == 1) {
                    *o = (char)c, o += adv, i++;
                    r = VS_END_INCL;
                    break;
                }
            } else {
                r = VS_ERR; /* a control character */
                break;
            }
            *o = (char)c, o += adv, i++;
            continue;
        }
        if (v->scalar) {
            if (is_ws(c) || c == ',' || c == '}' || c == ']') {
                r = VS_END_EXCL;
                break;
            }
            if (!is_scalar(c)) {
                r = VS_ERR;
                break;
            }
        } else if (is_ws(c)) {
            i++;
            continue;
        } else if (c == '"') {
            v->in_str = 1;
        } else if (c == '{' || c == '[') {
            bracket(v, c);
        } else if (is_scalar(c)) {
            v->scalar = 1;
        } else {
            r = VS_ERR;
            break;
        }
        v->started = 1;
        *o = (char)c, o += adv, i++;
    }
    *used = i;
    if (cap) {
        p->elen = (size_t)(o - p->elem);
        if (p->elen > SUMMARY_MAX_ELEMENT)
            return VS_BIG;
    }
    return r;
}

static int parse_fail(struct summary_parser *p, char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "malformed summary at byte %llu: %s", (unsigned long long)p->cnt.bytes,
             msg);
    p->failed = 1;
    return -1;
}

/* Decode the captured element (node or one pod) and hand it on. */
static int elem_finish(struct summary_parser *p, int is_pod, char *err, size_t errlen)
{
    char derr[160];
    enum summary_dec d;
    int rc = 0;
    if (is_pod) {
        d = summary_decode_pod(p->elem, p->elen, &p->pod, &p->bufs, &p->cnt, derr, sizeof(derr));
        if (d == SUMMARY_DEC_OK && p->h && p->h->pod)
            rc = p->h->pod(&p->pod, p->ud);
    } else {
        /* ~10 KB (its system containers), once per response: not kept in every parser */
        struct summary_node *n = malloc(sizeof(*n));
        if (!n) {
            snprintf(err, errlen, "out of memory for a summary node");
            p->failed = 1;
            return -1;
        }
        d = summary_decode_node(p->elem, p->elen, n, &p->cnt, derr, sizeof(derr));
        if (d == SUMMARY_DEC_OK && p->h && p->h->node)
            rc = p->h->node(n, p->ud);
        free(n);
    }
    p->elen = 0;
    if (d == SUMMARY_DEC_MALFORMED)
        return parse_fail(p, err, errlen, derr);
    if (rc < 0) {
        snprintf(err, errlen, "summary consumer aborted");
        p->failed = 1;
        return -1;
    }
    return 0;
}

static void value_begin(struct summary_parser *p, enum scan_state st, int capture)
{
    memset(&p->vs, 0, sizeof(p->vs));
    p->st = st;
    p->capture = capture;
    p->elen = 0;
}

static int key_byte(struct summary_parser *p, unsigned char c, char *err, size_t errlen)
{
    int r = str_byte(&p->vs, c);
    if (r < 0)
        return parse_fail(p, err, errlen, "invalid key string");
    if (r == 1) {
        p->key = K_OTHER;
        if (!p->key_esc && p->keylen == 4 && memcmp(p->keybuf, "node", 4) == 0)
            p->key = K_NODE;
        else if (!p->key_esc && p->keylen == 4 && memcmp(p->keybuf, "pods", 4) == 0)
            p->key = K_PODS;
        p->st = S_COLON;
        return 0;
    }
    if (c == '\\')
        p->key_esc = 1;
    if (p->keylen < sizeof(p->keybuf))
        p->keybuf[p->keylen] = (char)c;
    p->keylen++;
    return 0;
}

/* One byte between values. Returns 0, -1 on error, or 1 when the byte
 * started a value and must be fed to it again. */
static int scan_byte(struct summary_parser *p, unsigned char c, char *err, size_t errlen)
{
    if (p->st == S_KEY_STR)
        return key_byte(p, c, err, errlen);
    if (is_ws(c))
        return 0;
    switch (p->st) {
    case S_TOP:
        if (c != '{')
            return parse_fail(p, err, errlen, "expected '{'");
        p->st = S_KEY;
        p->after_first = 0;
        return 0;
    case S_KEY:
        if (c == '}' && !p->after_first) {
            p->st = S_DONE;
            return 0;
        }
        if (c != '"')
            return parse_fail(p, err, errlen, "expected a key");
        memset(&p->vs, 0, sizeof(p->vs));
        p->vs.in_str = 1;
        p->keylen = 0;
        p->key_esc = 0;
        p->st = S_KEY_STR;
        return 0;
    case S_COLON:
        if (c != ':')
            return parse_fail(p, err, errlen, "expected ':'");
        if (p->key == K_PODS)
            p->st = S_PODS_OPEN;
        else
            value_begin(p, S_VALUE, p->key == K_NODE);
        return 0;
    case S_PODS_OPEN:
        if (c == '[') {
            p->st = S_PODS_ELEM;
            return 0;
        }
        if (c != 'n') /* anything but null where an array belongs */
            p->cnt.type_errors++;
        value_begin(p, S_VALUE, 0);
        return 1;
    case S_PODS_ELEM:
        if (c == ']') {
            p->st = S_AFTER;
            return 0;
        }
        value_begin(p, S_PODS_VALUE, 1);
        return 1;
    case S_PODS_AFTER:
        if (c == ',') {
            value_begin(p, S_PODS_VALUE, 1);
            return 0;
        }
        if (c == ']') {
            p->st = S_AFTER;
            return 0;
        }
        return parse_fail(p, err, errlen, "expected ',' or ']'");
    case S_AFTER:
        if (c == ',') {
            p->st = S_KEY;
            p->after_first = 1;
            return 0;
        }
        if (c == '}') {
            p->st = S_DONE;
            return 0;
        }
        return parse_fail(p, err, errlen, "expected ',' or '}'");
    case S_DONE: return parse_fail(p, err, errlen, "data after the end of the object");
    default: return parse_fail(p, err, errlen, "internal state");
    }
}

/* The current value (state S_VALUE or S_PODS_VALUE) over as much of buf as
 * it takes; returns the bytes consumed, or -1. */
static long feed_value(struct summary_parser *p, const unsigned char *buf, size_t len, char *err,
                       size_t errlen)
{
    size_t used = 0;
    enum vs_result r = value_run(p, buf, len, &used);
    p->cnt.bytes += used;
    if (r == VS_ERR) {
        return parse_fail(p, err, errlen, "invalid JSON or UTF-8");
    }
    if (r == VS_BIG || r == VS_NOMEM) {
        if (r == VS_BIG)
            snprintf(err, errlen, "summary element larger than %u bytes", SUMMARY_MAX_ELEMENT);
        else
            snprintf(err, errlen, "out of memory for a summary element");
        p->failed = 1;
        return -1;
    }
    if (r == VS_MORE)
        return (long)used;
    int is_pod = p->st == S_PODS_VALUE;
    p->st = is_pod ? S_PODS_AFTER : S_AFTER;
    if (p->capture && elem_finish(p, is_pod, err, errlen) < 0)
        return -1;
    return (long)used;
}

int summary_parse_feed(struct summary_parser *p, const char *buf, size_t len, char *err,
                       size_t errlen)
{
    const unsigned char *b = (const unsigned char *)buf;
    if (p->failed) {
        snprintf(err, errlen, "summary parse already failed");
        return -1;
    }
    size_t i = 0;
    while (i < len) {
        if (p->st == S_VALUE || p->st == S_PODS_VALUE) {
            long used = feed_value(p, b + i, len - i, err, errlen);
            if (used < 0)
                return -1;
            i += (size_t)used;
            continue;
        }
        p->cnt.bytes++;
        int r = scan_byte(p, b[i], err, errlen);
        if (r < 0)
            return -1;
        if (r == 1)
            p->cnt.bytes--; /* fed again to the value it started */
        else
            i++;
    }
    return 0;
}

int summary_parse_finish(struct summary_parser *p, char *err, size_t errlen)
{
    if (p->failed)
        return -1;
    if (p->st != S_DONE) {
        snprintf(err, errlen, "truncated summary (%llu bytes)", (unsigned long long)p->cnt.bytes);
        return -1;
    }
    return 0;
}
