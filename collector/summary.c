/*
 * summary.c - the byte-level structural scanner of the streaming Summary
 * parser (summary.h). It tracks strings, escapes, UTF-8 and nesting of the
 * top-level object only far enough to find where "node" and each element of
 * "pods" begin and end; those elements' bytes are buffered (bounded) and
 * decoded one at a time, everything else is skipped without being stored.
 */
#include "summary_int.h"

#include <stdio.h>
#include <string.h>

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
enum vs_result { VS_MORE, VS_END_INCL, VS_END_EXCL, VS_ERR };

/* The sub-scanner of one JSON value. */
struct vscan {
    int started, in_str, esc, scalar, utf8_need;
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
    char *elem; /* owned: the current element's bytes */
    size_t elen, ecap;
    json_tokener *tok; /* owned */
    struct summary_node node;
    struct summary_pod pod;
    struct summary_pod_bufs bufs;
    struct summary_counts cnt;
    int failed;
};

struct summary_parser *summary_parser_new(void)
{
    struct summary_parser *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->tok = json_tokener_new_ex(SUMMARY_MAX_DEPTH);
    if (!p->tok) {
        free(p);
        return NULL;
    }
    return p;
}

void summary_parser_free(struct summary_parser *p)
{
    if (!p)
        return;
    json_tokener_free(p->tok);
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

/* UTF-8 inside strings: lead bytes and continuation counts. Overlong
 * three-byte forms and surrogates are left to json-c's own checks. */
static int utf8_step(struct vscan *v, unsigned char c)
{
    if (v->utf8_need) {
        if ((c & 0xC0) != 0x80)
            return -1;
        v->utf8_need--;
        return 0;
    }
    if (c < 0x80)
        return 0;
    if (c >= 0xC2 && c <= 0xDF)
        v->utf8_need = 1;
    else if (c >= 0xE0 && c <= 0xEF)
        v->utf8_need = 2;
    else if (c >= 0xF0 && c <= 0xF4)
        v->utf8_need = 3;
    else
        return -1;
    return 0;
}

static enum vs_result vscan_string(struct vscan *v, unsigned char c)
{
    if (utf8_step(v, c) < 0)
        return VS_ERR;
    if (v->esc) {
        v->esc = 0;
        return strchr("\"\\/bfnrtu", c) && c ? VS_MORE : VS_ERR;
    }
    if (c == '\\') {
        v->esc = 1;
    } else if (c == '"') {
        if (v->utf8_need)
            return VS_ERR;
        v->in_str = 0;
        if (v->depth == 0)
            return VS_END_INCL;
    } else if (c < 0x20) {
        return VS_ERR;
    }
    return VS_MORE;
}

static enum vs_result vscan_feed(struct vscan *v, unsigned char c)
{
    if (v->in_str)
        return vscan_string(v, c);
    if (v->scalar) {
        if (is_ws(c) || c == ',' || c == '}' || c == ']')
            return VS_END_EXCL;
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       c == '.' || c == '+' || c == '-'
                   ? VS_MORE
                   : VS_ERR;
    }
    if (!v->started) {
        if (is_ws(c))
            return VS_MORE;
        v->started = 1;
        if (c == '"') {
            v->in_str = 1;
            return VS_MORE;
        }
        if (c != '{' && c != '[') {
            v->scalar = 1;
            return vscan_feed(v, c) == VS_MORE ? VS_MORE : VS_ERR;
        }
    }
    switch (c) {
    case '"': v->in_str = 1; return VS_MORE;
    case '{':
    case '[':
        if (v->depth >= SUMMARY_MAX_DEPTH - 1)
            return VS_ERR;
        if (c == '[')
            v->kinds |= 1ULL << v->depth;
        else
            v->kinds &= ~(1ULL << v->depth);
        v->depth++;
        return VS_MORE;
    case '}':
    case ']':
        if (v->depth == 0 || ((v->kinds >> (v->depth - 1)) & 1) != (c == ']'))
            return VS_ERR;
        v->depth--;
        return v->depth == 0 ? VS_END_INCL : VS_MORE;
    default: return c < 0x20 && !is_ws(c) ? VS_ERR : VS_MORE;
    }
}

static int parse_fail(struct summary_parser *p, char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "malformed summary at byte %llu: %s", (unsigned long long)p->cnt.bytes,
             msg);
    p->failed = 1;
    return -1;
}

static int elem_push(struct summary_parser *p, char c)
{
    if (p->elen == p->ecap) {
        if (p->ecap >= SUMMARY_MAX_ELEMENT)
            return -1;
        size_t n = p->ecap ? p->ecap * 2 : 4096;
        char *b = realloc(p->elem, n);
        if (!b)
            return -1;
        p->elem = b;
        p->ecap = n;
    }
    p->elem[p->elen++] = c;
    return 0;
}

/* Decode the buffered element (node or one pod) and hand it on. */
static int elem_finish(struct summary_parser *p, int is_pod, char *err, size_t errlen)
{
    size_t len = p->elen;
    p->elen = 0;
    json_tokener_reset(p->tok);
    json_object *o = json_tokener_parse_ex(p->tok, p->elem, (int)len);
    enum json_tokener_error je = json_tokener_get_error(p->tok);
    if (je == json_tokener_continue) /* a bare scalar: tell json-c it ended */
        o = json_tokener_parse_ex(p->tok, "", 1), je = json_tokener_get_error(p->tok);
    if (je != json_tokener_success) {
        json_object_put(o);
        return parse_fail(p, err, errlen, json_tokener_error_desc(je));
    }
    if (!o)
        return 0; /* a null element: nothing to report */
    int rc = 0;
    if (is_pod) {
        p->cnt.pods++;
        if (summary_decode_pod(o, &p->pod, &p->bufs, &p->cnt) == 0 && p->h && p->h->pod)
            rc = p->h->pod(&p->pod, p->ud);
    } else if (summary_decode_node(o, &p->node, &p->cnt) == 0 && p->h && p->h->node) {
        rc = p->h->node(&p->node, p->ud);
    }
    json_object_put(o);
    if (rc < 0) {
        snprintf(err, errlen, "summary consumer aborted");
        p->failed = 1;
    }
    return rc < 0 ? -1 : 0;
}

static void value_begin(struct summary_parser *p, int capture)
{
    memset(&p->vs, 0, sizeof(p->vs));
    p->capture = capture;
    p->elen = 0;
}

/* Feed one byte to the current value. *reprocess is set when the byte ended a
 * scalar and belongs to the enclosing state. */
static int value_byte(struct summary_parser *p, unsigned char c, int is_pod, int *done,
                      int *reprocess, char *err, size_t errlen)
{
    enum vs_result r = vscan_feed(&p->vs, c);
    *done = *reprocess = 0;
    if (r == VS_ERR)
        return parse_fail(p, err, errlen, "invalid JSON or UTF-8");
    if (r != VS_END_EXCL && p->capture && elem_push(p, (char)c) < 0) {
        snprintf(err, errlen, "summary element larger than %u bytes", SUMMARY_MAX_ELEMENT);
        p->failed = 1;
        return -1;
    }
    if (r == VS_MORE)
        return 0;
    *done = 1;
    *reprocess = r == VS_END_EXCL;
    if (p->capture)
        return elem_finish(p, is_pod, err, errlen);
    return 0;
}

static int key_byte(struct summary_parser *p, unsigned char c, char *err, size_t errlen)
{
    enum vs_result r = vscan_string(&p->vs, c);
    if (r == VS_ERR)
        return parse_fail(p, err, errlen, "invalid key string");
    if (r == VS_END_INCL) {
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

static int scan_byte(struct summary_parser *p, unsigned char c, char *err, size_t errlen)
{
    int done, again;
    switch (p->st) {
    case S_VALUE:
        if (value_byte(p, c, 0, &done, &again, err, errlen) < 0)
            return -1;
        if (done)
            p->st = S_AFTER;
        return done && again ? scan_byte(p, c, err, errlen) : 0;
    case S_PODS_VALUE:
        if (value_byte(p, c, 1, &done, &again, err, errlen) < 0)
            return -1;
        if (done)
            p->st = S_PODS_AFTER;
        return done && again ? scan_byte(p, c, err, errlen) : 0;
    case S_KEY_STR: return key_byte(p, c, err, errlen);
    default: break;
    }
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
        p->keylen = 0;
        p->key_esc = 0;
        p->st = S_KEY_STR;
        return 0;
    case S_COLON:
        if (c != ':')
            return parse_fail(p, err, errlen, "expected ':'");
        if (p->key == K_PODS) {
            p->st = S_PODS_OPEN;
        } else {
            p->st = S_VALUE;
            value_begin(p, p->key == K_NODE);
        }
        return 0;
    case S_PODS_OPEN:
        if (c == '[') {
            p->st = S_PODS_ELEM;
            return 0;
        }
        if (c != 'n') /* anything but null where an array belongs */
            p->cnt.type_errors++;
        p->st = S_VALUE;
        value_begin(p, 0);
        return scan_byte(p, c, err, errlen);
    case S_PODS_ELEM:
        if (c == ']') {
            p->st = S_AFTER;
            return 0;
        }
        p->st = S_PODS_VALUE;
        value_begin(p, 1);
        return scan_byte(p, c, err, errlen);
    case S_PODS_AFTER:
        if (c == ',') {
            p->st = S_PODS_VALUE;
            value_begin(p, 1);
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

int summary_parse_feed(struct summary_parser *p, const char *buf, size_t len, char *err,
                       size_t errlen)
{
    if (p->failed) {
        snprintf(err, errlen, "summary parse already failed");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        p->cnt.bytes++;
        if (scan_byte(p, (unsigned char)buf[i], err, errlen) < 0)
            return -1;
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
