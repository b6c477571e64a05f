/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lineproto.c - owns the line-protocol encoder: element escaping, number formatting per field
 * type, and the two Heapster layouts. A series' tag string is rendered once per batch; each
 * point then costs a memcpy of its measurement and tags plus two number conversions.
 */
#include "lineproto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtoa.h"
#include "util.h"

#define LP_NUM_MAX 32 /* a formatted number plus its 'i' */

/* Bit 1: escaped in measurements; bit 2: in tags and field keys; bit 4: rewritten (CR, LF). */
static unsigned char ESC[256];
static void esc_init(void)
{
    if (ESC[','])
        return;
    ESC[','] = 1 | 2;
    ESC[' '] = 1 | 2;
    ESC['='] = 2;
    ESC['\n'] = 4;
    ESC['\r'] = 4;
}

static size_t escape_with(char *dst, const char *s, size_t n, unsigned mask)
{
    char *d = dst;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned m = ESC[c];
        if (!(m & (mask | 4))) {
            *d++ = (char)c;
        } else if (m & 4) {
            *d++ = '\\';
            *d++ = c == '\n' ? 'n' : 'r';
        } else {
            *d++ = '\\';
            *d++ = (char)c;
        }
    }
    if (n > 0 && s[n - 1] == '\\') {
        /* A trailing backslash would escape the separator after it: U+FF3C instead. */
        d--;
        memcpy(d, "\xef\xbc\xbc", 3);
        d += 3;
    }
    return (size_t)(d - dst);
}

size_t lp_escape_measurement(char *dst, const char *s, size_t n)
{
    esc_init();
    return escape_with(dst, s, n, 1);
}

size_t lp_escape_tag(char *dst, const char *s, size_t n)
{
    esc_init();
    return escape_with(dst, s, n, 2);
}

size_t lp_escape_string_field(char *dst, const char *s, size_t n)
{
    char *d = dst;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            *d++ = '\\';
        *d++ = s[i];
    }
    return (size_t)(d - dst);
}

struct lp_name {
    char *s; /* owned, escaped */
    size_t n;
};

struct lp_encoder {
    struct lp_options opts;
    char *cluster_tag; /* owned: ",cluster_name=<escaped>" or NULL */
    size_t cluster_tag_len;
    struct lp_name meas[KP_M__COUNT];  /* default layout: the metric name */
    struct lp_name group[KP_M__COUNT]; /* withfields: the group */
    struct lp_name field[KP_M__COUNT]; /* " value=" / ",usage=" ... prefix-less field key */
    uint8_t gid[KP_M__COUNT];          /* group index of each metric */
    size_t max_fields_len;             /* all fields of the largest group, worst case */
    char *tags;                        /* owned: per-batch series tag strings */
    size_t tags_cap;
    size_t *toff; /* owned: nseries + 1 offsets into tags */
    size_t toff_cap;
    /* Labels already rendered in this batch, by the address of their key and value: the
     * series of one pod share most labels (the same strings), which are then copied. Valid
     * while gen equals frag_gen: within one lp_encode_batch call, when no string of the
     * borrowed batch can change or move. */
    struct lp_frag {
        const char *key, *value; /* borrowed, compared by address only */
        uint32_t gen;
        uint32_t len; /* of ",k=v" in tags; 0: the label is left out */
        size_t off;   /* into tags */
    } frag[64];
    uint32_t frag_gen;
    /* The last timestamp written, as text (" 1700000000000000000\n"): a series' points share
     * their sample time, so most lines repeat the one before. */
    int64_t ts;
    char ts_text[LP_NUM_MAX + 2];
    size_t ts_len; /* 0: none yet */
};

static int name_set(struct lp_name *n, const char *s, int meas)
{
    size_t len = strlen(s);
    n->s = malloc(LP_ESCAPED_MAX(len) + 1);
    if (!n->s)
        return -1;
    n->n = meas ? lp_escape_measurement(n->s, s, len) : lp_escape_tag(n->s, s, len);
    return 0;
}

struct lp_encoder *lp_encoder_new(const struct lp_options *opts, char *err, size_t errlen)
{
    esc_init();
    struct lp_encoder *e = calloc(1, sizeof *e);
    if (!e)
        goto oom;
    e->opts = *opts;
    e->opts.cluster_name = NULL;
    if (opts->cluster_name && opts->cluster_name[0]) {
        size_t n = strlen(opts->cluster_name);
        e->cluster_tag = malloc(LP_ESCAPED_MAX(n) + sizeof ",cluster_name=");
        if (!e->cluster_tag)
            goto oom;
        memcpy(e->cluster_tag, ",cluster_name=", 14);
        e->cluster_tag_len = 14 + lp_escape_tag(e->cluster_tag + 14, opts->cluster_name, n);
    }
    size_t group_len = 0;
    for (int m = 0; m < KP_M__COUNT; m++) {
        if (name_set(&e->meas[m], kp_metrics[m].name, 1) < 0 ||
            name_set(&e->group[m], kp_metrics[m].group, 1) < 0 ||
            name_set(&e->field[m], kp_metrics[m].field, 0) < 0)
            goto oom;
        if (m > 0 && strcmp(kp_metrics[m].group, kp_metrics[m - 1].group) != 0) {
            group_len = 0;
            e->gid[m] = (uint8_t)(e->gid[m - 1] + 1);
        } else if (m > 0) {
            e->gid[m] = e->gid[m - 1];
        }
        group_len += e->field[m].n + 2 + LP_NUM_MAX;
        if (group_len > e->max_fields_len)
            e->max_fields_len = group_len;
    }
    return e;
oom:
    snprintf(err, errlen, "line protocol encoder: out of memory");
    lp_encoder_free(e);
    return NULL;
}

void lp_encoder_free(struct lp_encoder *e)
{
    if (!e)
        return;
    for (int m = 0; m < KP_M__COUNT; m++) {
        free(e->meas[m].s);
        free(e->group[m].s);
        free(e->field[m].s);
    }
    free(e->cluster_tag);
    free(e->tags);
    free(e->toff);
    free(e);
}

/* SWAR over 8 bytes: a high bit in each byte of w that equals c (exact as to whether there is
 * one; the lowest set bit is the first such byte on little-endian machines). */
#define LP_ONES  UINT64_C(0x0101010101010101)
#define LP_HIGHS UINT64_C(0x8080808080808080)
static inline uint64_t swar_eq(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (LP_ONES * c);
    return (x - LP_ONES) & ~x & LP_HIGHS;
}

/* Bytes that need attention in a tag key or value: ',', '=', ' ', and with one test every
 * byte below 0x21 (CR and LF among them; the other control bytes are passed as they are by the
 * slow path, which only costs them time). */
static inline uint64_t swar_tag_special(uint64_t w)
{
    uint64_t lt = (w - LP_ONES * 0x21) & ~w & LP_HIGHS;
    return lt | swar_eq(w, ',') | swar_eq(w, '=');
}

/* A word holding every byte of s (n < 8), some twice, and clean bytes in the rest: enough to
 * ask whether any byte needs attention. Built from loads within s, in registers (a memcpy of
 * n bytes into a word would stall on store forwarding). */
static inline uint64_t load_short(const char *s, size_t n)
{
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + n - 4, 4);
        return lo | (uint64_t)hi << 32;
    }
    uint64_t w = LP_ONES * 'a';
    if (n > 0)
        w = (w << 24) | (uint64_t)(unsigned char)s[0] << 16 |
            (uint64_t)(unsigned char)s[n / 2] << 8 | (unsigned char)s[n - 1];
    return w;
}

/* lp_escape_tag's output, with runs of bytes that need no escaping copied whole: the label
 * strings of a series are mostly such runs. Byte-identical to escape_with(..., 2). */
static size_t escape_tag_fast(char *dst, const char *s, size_t n)
{
    uint64_t w;
    if (n < 8) {
        if (swar_tag_special(load_short(s, n)))
            return escape_with(dst, s, n, 2);
        memcpy(dst, s, n);
    } else {
        size_t i = 0;
        for (; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            if (swar_tag_special(w))
                return i + escape_with(dst + i, s + i, n - i, 2);
            memcpy(dst + i, s + i, 8);
        }
        /* the last 8 bytes, overlapping the word before when n is no multiple of 8 */
        memcpy(&w, s + n - 8, 8);
        if (swar_tag_special(w))
            return i + escape_with(dst + i, s + i, n - i, 2);
        memcpy(dst + n - 8, s + n - 8, 8);
    }
    if (n > 0 && s[n - 1] == '\\') {
        /* A trailing backslash would escape the separator after it: U+FF3C instead. */
        memcpy(dst + n - 1, "\xef\xbc\xbc", 3);
        return n + 2;
    }
    return n;
}

/* The four tags Heapster's InfluxDB sink never wrote (influxdbBlacklistLabels in
 * metrics/sinks/influxdb/influxdb.go), though its schema document lists them. */
static int is_id_key(const char *k, size_t n)
{
    switch (n) {
    case 6: return memcmp(k, "pod_id", 6) == 0;
    case 7: return memcmp(k, "host_id", 7) == 0;
    case 8: return memcmp(k, "hostname", 8) == 0;
    case 12: return memcmp(k, "namespace_id", 12) == 0;
    default: return 0;
    }
}

/* strcmp(k, "cluster_name"), deciding on the first byte when it can. */
static inline int cluster_cmp(const char *k)
{
    if (k[0] != 'c')
        return (unsigned char)k[0] < 'c' ? -1 : 1;
    return strcmp(k, "cluster_name");
}

/* The memo slot of a label (direct-mapped by the addresses of its strings). */
static inline struct lp_frag *frag_slot(struct lp_encoder *e, const struct kp_label *l)
{
    uintptr_t h = ((uintptr_t)l->value >> 3) ^ ((uintptr_t)l->key >> 4);
    return &e->frag[(h ^ (h >> 6)) & 63];
}

/* A label left out of the line protocol: an empty or absent key or value, "time" (InfluxDB
 * drops the series), and with drop_ids the id tags. *kl gets the key's length. */
static inline int label_omitted(const struct lp_encoder *e, const struct kp_label *l, size_t *kl)
{
    if (!l->key || !l->value || !l->key[0] || !l->value[0])
        return 1;
    *kl = strlen(l->key);
    return (*kl == 4 && memcmp(l->key, "time", 4) == 0) ||
           (e->opts.drop_ids && is_id_key(l->key, *kl));
}

/* One label of a series as render_tags found it: rendered before in this batch (hit: off and
 * len of its ",k=v" in tags, len 0 when it is left out), or to be rendered (kl, vl: the key's
 * and value's lengths, kl 0 when it is left out). Copied out of the memo, which rendering
 * this series may overwrite. */
struct lp_label_plan {
    size_t a, b; /* hit: off, len; else kl, vl */
    int hit;
};

/* One series' ",k=v..." at e->tags + len (room already made); returns the new length. */
static size_t render_series(struct lp_encoder *e, const struct kp_series *s, unsigned nl,
                            const struct lp_label_plan *plan, size_t len)
{
    char *t = e->tags;
    int cluster_done = e->cluster_tag == NULL;
    for (unsigned j = 0; j < nl; j++) {
        const struct lp_label_plan *pl = &plan[j];
        if (pl->hit ? pl->b == 0 : pl->a == 0)
            continue;
        const struct kp_label *l = &s->labels[j];
        if (!cluster_done) {
            int c = cluster_cmp(l->key);
            if (c >= 0) {
                memcpy(t + len, e->cluster_tag, e->cluster_tag_len);
                len += e->cluster_tag_len;
                cluster_done = 1;
                if (c == 0)
                    continue; /* the sink's cluster_name wins over a label of that name */
            }
        }
        if (pl->hit) {
            memcpy(t + len, t + pl->a, pl->b);
            len += pl->b;
            continue;
        }
        size_t at = len;
        t[len++] = ',';
        len += escape_tag_fast(t + len, l->key, pl->a);
        t[len++] = '=';
        len += escape_tag_fast(t + len, l->value, pl->b);
        *frag_slot(e, l) =
            (struct lp_frag){l->key, l->value, e->frag_gen, (uint32_t)(len - at), at};
    }
    if (!cluster_done) {
        memcpy(t + len, e->cluster_tag, e->cluster_tag_len);
        len += e->cluster_tag_len;
    }
    return len;
}

/* Render every series' ",k=v..." once, cluster_name in its sorted place. Tags with an empty
 * key or value, "time", and (drop_ids) the id tags are left out. */
static int render_tags(struct lp_encoder *e, const struct kp_batch *b)
{
    if (kp_grow((void **)&e->toff, &e->toff_cap, b->nseries + 1, sizeof *e->toff, 256) < 0)
        return -1;
    if (++e->frag_gen == 0) {
        memset(e->frag, 0, sizeof e->frag); /* generation 0 is never current */
        e->frag_gen = 1;
    }
    size_t len = 0;
    for (size_t i = 0; i < b->nseries; i++) {
        const struct kp_series *s = &b->series[i];
        unsigned nl = s->nlabels < KP_MAX_LABELS ? s->nlabels : KP_MAX_LABELS;
        struct lp_label_plan plan[KP_MAX_LABELS];
        size_t need = len + e->cluster_tag_len + 1;
        for (unsigned j = 0; j < nl; j++) {
            const struct kp_label *l = &s->labels[j];
            struct lp_frag *f = frag_slot(e, l);
            if (f->gen == e->frag_gen && f->key == l->key && f->value == l->value) {
                plan[j] = (struct lp_label_plan){f->off, f->len, 1};
                need += f->len;
                continue;
            }
            size_t kl = 0, vl = 0;
            if (label_omitted(e, l, &kl)) {
                kl = 0;
                if (l->key && l->value) /* remembered as left out */
                    *f = (struct lp_frag){l->key, l->value, e->frag_gen, 0, 0};
            } else {
                vl = strlen(l->value);
                need += 2 + LP_ESCAPED_MAX(kl) + LP_ESCAPED_MAX(vl);
            }
            plan[j] = (struct lp_label_plan){kl, vl, 0};
        }
        if (kp_grow((void **)&e->tags, &e->tags_cap, need, 1, 256) < 0)
            return -1;
        e->toff[i] = len;
        len = render_series(e, s, nl, plan, len);
    }
    e->toff[b->nseries] = len;
    return 0;
}

static inline int is_finite(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return ((u >> 52) & 0x7FF) != 0x7FF;
}

/* "key=value" of one point; returns bytes written. */
static inline size_t put_value(char *p, const struct kp_point *pt)
{
    if (kp_metrics[pt->metric].type == KP_VALUE_INT) {
        size_t n = dtoa_format_i64(p, pt->v.i);
        p[n] = 'i';
        return n + 1;
    }
    return dtoa_format_double(p, pt->v.f);
}

static inline size_t put_ts(struct lp_encoder *e, char *p, int64_t ts)
{
    if (e->ts_len == 0 || ts != e->ts) {
        e->ts_text[0] = ' ';
        size_t n = 1 + dtoa_format_i64(e->ts_text + 1, ts);
        e->ts_text[n] = '\n';
        e->ts_len = n + 1;
        e->ts = ts;
    }
    memcpy(p, e->ts_text, e->ts_len);
    return e->ts_len;
}

/* A point is usable when its indices are in range and its value finite; counts the rest. */
static inline int point_ok(const struct lp_encoder *e, const struct kp_batch *b,
                           const struct kp_point *pt, struct lp_result *res)
{
    if (pt->series >= b->nseries || pt->metric >= KP_M__COUNT) {
        res->invalid++;
        return 0;
    }
    if (e->opts.skip_cumulative && kp_metrics[pt->metric].kind == KP_KIND_CUMULATIVE) {
        res->filtered++;
        return 0;
    }
    if (kp_metrics[pt->metric].type == KP_VALUE_FLOAT && !is_finite(pt->v.f)) {
        res->nonfinite++;
        return 0;
    }
    return 1;
}

static void encode_default(struct lp_encoder *e, const struct kp_batch *b,
                           const struct lp_writer *w, struct lp_result *res)
{
    for (size_t i = 0; i < b->npoints; i++) {
        const struct kp_point *pt = &b->points[i];
        if (!point_ok(e, b, pt, res))
            continue;
        const struct lp_name *m = &e->meas[pt->metric];
        size_t toff = e->toff[pt->series], tlen = e->toff[pt->series + 1] - toff;
        char *p = w->reserve(w->ud, m->n + tlen + 8 + 2 * LP_NUM_MAX);
        if (!p) {
            res->no_room++;
            continue;
        }
        char *s = p;
        memcpy(p, m->s, m->n);
        p += m->n;
        memcpy(p, e->tags + toff, tlen);
        p += tlen;
        memcpy(p, " value=", 7);
        p += 7;
        p += put_value(p, pt);
        p += put_ts(e, p, pt->ts_ns);
        w->commit(w->ud, (size_t)(p - s), 1);
        res->lines++;
        res->points++;
    }
}

static void encode_withfields(struct lp_encoder *e, const struct kp_batch *b,
                              const struct lp_writer *w, struct lp_result *res)
{
    size_t i = 0;
    while (i < b->npoints) {
        const struct kp_point *first = &b->points[i];
        if (!point_ok(e, b, first, res)) {
            i++;
            continue;
        }
        const struct lp_name *g = &e->group[first->metric];
        size_t toff = e->toff[first->series], tlen = e->toff[first->series + 1] - toff;
        char *p = w->reserve(w->ud, g->n + tlen + e->max_fields_len + 4 + LP_NUM_MAX);
        char *s = p;
        uint32_t npts = 0;
        if (p) {
            memcpy(p, g->s, g->n);
            p += g->n;
            memcpy(p, e->tags + toff, tlen);
            p += tlen;
        }
        int last = -1;
        for (; i < b->npoints; i++) {
            const struct kp_point *pt = &b->points[i];
            if (npts > 0 && (pt->series != first->series || pt->ts_ns != first->ts_ns ||
                             pt->metric >= KP_M__COUNT || (int)pt->metric <= last ||
                             e->gid[pt->metric] != e->gid[first->metric]))
                break;
            if (npts > 0 && !point_ok(e, b, pt, res))
                continue;
            last = pt->metric;
            npts++;
            if (!p)
                continue;
            *p++ = npts == 1 ? ' ' : ',';
            memcpy(p, e->field[pt->metric].s, e->field[pt->metric].n);
            p += e->field[pt->metric].n;
            *p++ = '=';
            p += put_value(p, pt);
        }
        if (!p) {
            res->no_room += npts;
            continue;
        }
        p += put_ts(e, p, first->ts_ns);
        w->commit(w->ud, (size_t)(p - s), npts);
        res->lines++;
        res->points += npts;
    }
}

int lp_encode_batch(struct lp_encoder *e, const struct kp_batch *b, const struct lp_writer *w,
                    struct lp_result *res, char *err, size_t errlen)
{
    if (render_tags(e, b) < 0) {
        snprintf(err, errlen, "line protocol encoder: out of memory");
        return -1;
    }
    if (e->opts.withfields)
        encode_withfields(e, b, w, res);
    else
        encode_default(e, b, w, res);
    return 0;
}

static char *buf_reserve(void *ud, size_t max)
{
    struct lp_buf *b = ud;
    if (b->limit && b->len + max > b->limit)
        return NULL;
    if (b->data && b->len + max <= b->cap)
        return b->data + b->len; /* the common case: no call */
    if (kp_grow((void **)&b->data, &b->cap, b->len + max, 1, 4096) < 0)
        return NULL;
    return b->data + b->len;
}

static void buf_commit(void *ud, size_t len, uint32_t npoints)
{
    (void)npoints;
    ((struct lp_buf *)ud)->len += len;
}

void lp_buf_writer(struct lp_buf *b, struct lp_writer *w)
{
    w->reserve = buf_reserve;
    w->commit = buf_commit;
    w->ud = b;
}

void lp_buf_fini(struct lp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
