/* SPDX-License-Identifier: Apache-2.0 */
/*
 * import.c - a follower reads the leader's samples (the document sync.c
 * writes) into a new set, in one pass over the text: no json-c tree, whose
 * 150,000 pods at 5,000 nodes cost a follower about 2.3 CPU-s and 700 MB of
 * peak memory every cycle (issue #20).
 *
 * Strict JSON: objects take their members in any order and skip members they
 * do not know (a newer leader may add some); strings are decoded (every
 * escape, surrogate pairs to UTF-8; raw control characters, "\u0000" and
 * unpaired surrogates are refused); samples are arrays of exactly four
 * integers. Bounds: the document's size (MAPI_IMPORT_MAX), nesting
 * (DEPTH_MAX), names, labels and containers per pod. A bad document changes
 * nothing: the set is built aside.
 */
#include "mapi_int.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 253
#define LABELS_MAX   16384
#define CTRS_MAX     256
#define DEPTH_MAX    8

struct rd {
    const char *p, *end;
    int depth;
    char str[LABELS_MAX + 1]; /* the last string read */
    size_t len;
};

static void ws(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* The next token is c: consumed. */
static bool eat(struct rd *r, char c)
{
    ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static int hex4(struct rd *r, unsigned *out)
{
    if (r->end - r->p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *r->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static int put_byte(struct rd *r, size_t max, char c)
{
    if (r->len >= max)
        return -1;
    r->str[r->len++] = c;
    return 0;
}

/* "\uXXXX" (after the backslash and 'u'), with a low surrogate after a high one, as UTF-8. */
static int unicode(struct rd *r, size_t max)
{
    unsigned cp, lo;
    if (hex4(r, &cp) < 0 || cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
        return -1;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
            return -1;
        r->p += 2;
        if (hex4(r, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
            return -1;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    char u[4];
    int n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    }
    for (int i = 0; i < n; i++)
        if (put_byte(r, max, u[i]) < 0)
            return -1;
    return 0;
}

/* A string of at most max bytes decoded into r->str (NUL-terminated). */
static int string(struct rd *r, size_t max)
{
    static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
    if (!eat(r, '"'))
        return -1;
    r->len = 0;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p++;
        if (c == '"') {
            r->str[r->len] = '\0';
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            if (put_byte(r, max, (char)c) < 0)
                return -1;
            continue;
        }
        if (r->p >= r->end)
            return -1;
        char e = *r->p++;
        const char *k = e ? strchr(esc_in, e) : NULL;
        if (e == 'u') {
            if (unicode(r, max) < 0)
                return -1;
        } else if (!k || put_byte(r, max, esc_out[k - esc_in]) < 0) {
            return -1;
        }
    }
    return -1;
}

/* A non-empty name or label string, copied (malloc'd) into *out. */
static int string_dup(struct rd *r, size_t max, char **out)
{
    if (string(r, max) < 0 || r->len == 0)
        return -1;
    free(*out);
    *out = strdup(r->str);
    return *out ? 0 : -1;
}

/* An integer (no fraction or exponent, no leading zero); neg: whether '-' was seen. */
static int integer(struct rd *r, uint64_t *mag, bool *neg)
{
    ws(r);
    *neg = r->p < r->end && *r->p == '-';
    if (*neg)
        r->p++;
    const char *start = r->p;
    uint64_t v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        unsigned d = (unsigned)(*r->p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        r->p++;
    }
    if (r->p == start || (*start == '0' && r->p - start > 1))
        return -1;
    if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
        return -1;
    *mag = v;
    return 0;
}

/* [ts_ns,start_ns,cpu_ns,mem]: ts > 0, start >= 0, both within int64. */
static int sample(struct rd *r, struct mapi_sample *s)
{
    uint64_t v[4];
    bool neg;
    if (!eat(r, '['))
        return -1;
    for (int i = 0; i < 4; i++)
        if ((i && !eat(r, ',')) || integer(r, &v[i], &neg) < 0 || (neg && v[i]))
            return -1;
    if (!eat(r, ']') || v[0] == 0 || v[0] > INT64_MAX || v[1] > INT64_MAX)
        return -1;
    *s = (struct mapi_sample){
        .ts_ns = (int64_t)v[0], .start_ns = (int64_t)v[1], .cpu_ns = v[2], .mem = v[3]};
    return 0;
}

/* Any value, skipped (an unknown member). */
static int skip(struct rd *r)
{
    ws(r);
    if (r->p >= r->end)
        return -1;
    char c = *r->p;
    if (c == '"')
        return string(r, LABELS_MAX);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        if (++r->depth > DEPTH_MAX)
            return -1;
        r->p++;
        if (!eat(r, close)) {
            do {
                if (c == '{' && (string(r, LABELS_MAX) < 0 || !eat(r, ':')))
                    return -1;
                if (skip(r) < 0)
                    return -1;
            } while (eat(r, ','));
            if (!eat(r, close))
                return -1;
        }
        r->depth--;
        return 0;
    }
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(r->end - r->p) >= n && !memcmp(r->p, words[i], n)) {
            r->p += n;
            return 0;
        }
    }
    uint64_t v;
    bool neg;
    return integer(r, &v, &neg);
}

/* The members of an object, one at a time: 1 with the key in r->str, 0 at the end. */
static int member(struct rd *r, bool *first)
{
    if (*first ? eat(r, '}') : !eat(r, ','))
        return *first || eat(r, '}') ? 0 : -1;
    *first = false;
    return string(r, LABELS_MAX) < 0 || !eat(r, ':') ? -1 : 1;
}

/* Elements of an array: 1 before each, 0 after the last. */
static int element(struct rd *r, bool *first)
{
    if (*first) {
        *first = false;
        return eat(r, ']') ? 0 : 1;
    }
    return eat(r, ',') ? 1 : eat(r, ']') ? 0 : -1;
}

/* {"n":NAME,"l":LABELS,"s":[..],"p":[..]} of a node or {"n":..,"s":..,"p":..} of a
 * container: name, labels (NULL: not wanted) and samples. */
static int samples_obj(struct rd *r, char **name, char **labels, struct mapi_sample *last,
                       struct mapi_sample *prev, bool *has_prev)
{
    bool first = true, has_last = false;
    int m;
    if (!eat(r, '{') || ++r->depth > DEPTH_MAX)
        return -1;
    while ((m = member(r, &first)) == 1) {
        if (!strcmp(r->str, "n"))
            m = string_dup(r, NAME_MAX_LEN, name);
        else if (labels && !strcmp(r->str, "l"))
            m = string_dup(r, LABELS_MAX, labels);
        else if (!strcmp(r->str, "s"))
            m = sample(r, last), has_last = true;
        else if (!strcmp(r->str, "p"))
            m = sample(r, prev), *has_prev = true;
        else
            m = skip(r);
        if (m < 0)
            return -1;
    }
    r->depth--;
    return m < 0 || !*name || !has_last ? -1 : 0;
}

static int pod_obj(struct rd *r, struct mapi_pod *p)
{
    bool first = true, seen_c = false;
    size_t cap = 0;
    int m;
    if (!eat(r, '{') || ++r->depth > DEPTH_MAX)
        return -1;
    while ((m = member(r, &first)) == 1) {
        if (!strcmp(r->str, "ns")) {
            m = string_dup(r, NAME_MAX_LEN, &p->ns);
        } else if (!strcmp(r->str, "n")) {
            m = string_dup(r, NAME_MAX_LEN, &p->name);
        } else if (!strcmp(r->str, "l")) {
            m = string_dup(r, LABELS_MAX, &p->labels);
        } else if (!strcmp(r->str, "c")) {
            bool efirst = true;
            if (seen_c)
                return -1; /* one list of containers */
            seen_c = true;
            if (!eat(r, '[') || ++r->depth > DEPTH_MAX)
                return -1;
            while ((m = element(r, &efirst)) == 1) {
                if (p->nctrs == CTRS_MAX ||
                    kp_grow((void **)&p->ctrs, &cap, p->nctrs + 1, sizeof(*p->ctrs), 4) < 0)
                    return -1;
                struct mapi_ctr *c = &p->ctrs[p->nctrs];
                memset(c, 0, sizeof(*c));
                p->nctrs++; /* owned by p from here, even when incomplete */
                if (samples_obj(r, &c->name, NULL, &c->last, &c->prev, &c->has_prev) < 0)
                    return -1;
                for (size_t k = 0; k + 1 < p->nctrs; k++)
                    if (!strcmp(p->ctrs[k].name, c->name))
                        return -1; /* a duplicate container */
            }
            r->depth--;
        } else {
            m = skip(r);
        }
        if (m < 0)
            return -1;
    }
    r->depth--;
    return m < 0 || !p->ns || !p->name || !seen_c ? -1 : 0;
}

static int cmp_node_name(const void *a, const void *b)
{
    return strcmp(((const struct mapi_node *)a)->name, ((const struct mapi_node *)b)->name);
}

static int cmp_ctr_name(const void *a, const void *b)
{
    return strcmp(((const struct mapi_ctr *)a)->name, ((const struct mapi_ctr *)b)->name);
}

static int cmp_pod_key(const void *a, const void *b)
{
    const struct mapi_pod *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);
    return c ? c : strcmp(x->name, y->name);
}

/* Sort n items of size bytes in key order; -1 when a key is there twice. */
static int sort_unique(void *items, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    char *base = items;
    kp_sort(items, n, size, cmp);
    for (size_t i = 1; i < n; i++)
        if (!cmp(base + i * size, base + (i - 1) * size))
            return -1;
    return 0;
}

static int fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "samples from the leader: %s", what);
    return -1;
}

/* "nodes":[...] and "pods":[...] into set; the error's text, or NULL. */
static const char *read_lists(struct rd *r, struct mapi_set *set, bool *version_ok)
{
    bool first = true, seen_nodes = false, seen_pods = false;
    size_t ncap = 0, pcap = 0;
    int m;
    while ((m = member(r, &first)) == 1) {
        bool nodes = !strcmp(r->str, "nodes"), pods = !strcmp(r->str, "pods");
        if (!strcmp(r->str, "v")) {
            uint64_t v;
            bool neg;
            if (integer(r, &v, &neg) < 0)
                return "not one JSON document";
            *version_ok = !neg && v == 1;
        } else if (nodes || pods) {
            bool efirst = true;
            if ((nodes && seen_nodes) || (pods && seen_pods))
                return "not a version 1 export"; /* one list of each */
            seen_nodes |= nodes;
            seen_pods |= pods;
            if (!eat(r, '[') || ++r->depth > DEPTH_MAX)
                return "not a version 1 export";
            while ((m = element(r, &efirst)) == 1) {
                if (nodes) {
                    if (kp_grow((void **)&set->nodes, &ncap, set->nnodes + 1, sizeof(*set->nodes),
                                64) < 0)
                        return "out of memory";
                    struct mapi_node *n = &set->nodes[set->nnodes++];
                    memset(n, 0, sizeof(*n));
                    if (samples_obj(r, &n->name, &n->labels, &n->last, &n->prev, &n->has_prev) < 0)
                        return "a malformed node";
                } else {
                    if (kp_grow((void **)&set->pods, &pcap, set->npods + 1, sizeof(*set->pods),
                                64) < 0)
                        return "out of memory";
                    struct mapi_pod *p = &set->pods[set->npods++];
                    memset(p, 0, sizeof(*p));
                    if (pod_obj(r, p) < 0)
                        return "a malformed pod";
                }
            }
            r->depth--;
            if (m < 0)
                return "not one JSON document";
        } else if (skip(r) < 0) {
            return "not one JSON document";
        }
    }
    if (m < 0)
        return "not one JSON document";
    return *version_ok && seen_nodes && seen_pods ? NULL : "not a version 1 export";
}

int mapi_store_import(struct mapi_store *s, const char *json, size_t len, char *err, size_t errlen)
{
    struct mapi_set set = {0};
    bool version_ok = false;
    if (len > MAPI_IMPORT_MAX)
        return fail(err, errlen, "too large");
    struct rd *r = malloc(sizeof(*r));
    if (!r)
        return fail(err, errlen, "out of memory");
    r->p = json;
    r->end = json + len;
    r->depth = 1;
    const char *why = eat(r, '{') ? read_lists(r, &set, &version_ok) : "not one JSON document";
    if (!why && r->p != r->end)
        why = "not one JSON document"; /* anything after it */
    free(r);
    if (why) {
        mapi_set_fini(&set);
        return fail(err, errlen, why);
    }
    if (sort_unique(set.nodes, set.nnodes, sizeof(*set.nodes), cmp_node_name) < 0)
        why = "a node twice";
    else if (sort_unique(set.pods, set.npods, sizeof(*set.pods), cmp_pod_key) < 0)
        why = "a pod twice";
    if (why) {
        mapi_set_fini(&set);
        return fail(err, errlen, why);
    }
    for (size_t i = 0; i < set.npods; i++)
        kp_sort(set.pods[i].ctrs, set.pods[i].nctrs, sizeof(*set.pods[i].ctrs), cmp_ctr_name);
    mapi_store_replace(s, &set);
    return 0;
}
