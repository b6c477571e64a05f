/* SPDX-License-Identifier: Apache-2.0 */
/*
 * summary_decode.c - one captured Summary element (the node, or one pod) read
 * with jcursor.h straight into the compact structs of summary.h: no JSON tree
 * is built. Unknown fields are skipped, missing or null ones left unset; a
 * value of the wrong type, a negative or non-finite number is skipped and
 * counted, never fatal. A key given twice counts as its last occurrence.
 */
#include "summary_int.h"

#include <stdio.h>
#include <string.h>

#include "jcursor.h"
#include "util.h"

/* A member's key equals the literal lit. */
#define KEY_IS(lit) (klen == sizeof(lit) - 1 && memcmp(key, lit, sizeof(lit) - 1) == 0)

struct dec {
    struct jcursor jc;
    struct summary_counts *cnt; /* borrowed */
    /* The last time string read and its value: an element's stats mostly share one time. */
    char last_time[40];
    long last_time_len; /* 0: none */
    int64_t last_time_ns;
};

/* 1 when the value at the cursor has type want; otherwise it is skipped
 * (and counted unless null) and 0 is returned. */
static int dec_want(struct dec *d, enum jc_type want)
{
    enum jc_type t = jc_peek(&d->jc);
    if (t == want)
        return 1;
    if (t != JC_NULL && t != JC_BAD)
        d->cnt->type_errors++;
    jc_skip(&d->jc);
    return 0;
}

/* A non-negative integer counter; 1 when *out was set. */
static int dec_u64(struct dec *d, uint64_t *out)
{
    enum jc_num_kind kind;
    uint64_t u = 0;
    if (!dec_want(d, JC_NUMBER) || jc_get_number(&d->jc, &kind, &u) < 0)
        return 0;
    switch (kind) {
    case JC_NUM_UINT: *out = u; return 1;
    case JC_NUM_FRACTION: d->cnt->type_errors++; return 0;
    default: d->cnt->negatives++; return 0; /* negative, non-finite or beyond int64 */
    }
}

static void dec_str(struct dec *d, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (dec_want(d, JC_STRING) && jc_get_string(&d->jc, dst, cap) == -2)
        d->cnt->type_errors++;
}

/* Summary times are Unix nanoseconds, which hold 1677..2262: instants before 1970 or from
 * 2201 on read as absent (-1), except Go's zero time ("0001-01-01T00:00:00Z"), which means
 * unset and reads as 0. */
#define SUMMARY_TIME_END INT64_C(7289654400) /* 2201-01-01T00:00:00Z */

int summary_parse_time(const char *s, int64_t *ns)
{
    int64_t sec;
    int32_t nsec;
    if (kp_rfc3339_parse(s, strlen(s), -1, &sec, &nsec) < 0)
        return -1;
    if (sec < 0 || sec >= SUMMARY_TIME_END) {
        *ns = 0;
        return strncmp(s, "0001-", 5) == 0 ? 0 : -1;
    }
    *ns = sec * 1000000000 + nsec;
    return 0;
}

static int64_t dec_time(struct dec *d)
{
    char buf[64];
    int64_t ns;
    if (!dec_want(d, JC_STRING))
        return 0;
    long n = jc_get_string(&d->jc, buf, sizeof(buf));
    if (n == -1)
        return 0;
    if (n > 0 && n == d->last_time_len && memcmp(buf, d->last_time, (size_t)n) == 0)
        return d->last_time_ns;
    if (n == -2 || summary_parse_time(buf, &ns) < 0) {
        d->cnt->type_errors++;
        return 0;
    }
    if ((size_t)n < sizeof(d->last_time)) {
        memcpy(d->last_time, buf, (size_t)n);
        d->last_time_len = n;
        d->last_time_ns = ns;
    }
    return ns;
}

/* Iterate an object's members: fn consumes each value. 0 when the value at
 * the cursor was not an object (skipped and counted unless null). */
typedef void (*member_fn)(struct dec *d, const char *key, size_t klen, void *ctx);
static int dec_object(struct dec *d, member_fn fn, void *ctx)
{
    char buf[40];
    const char *key;
    size_t klen;
    if (!dec_want(d, JC_OBJECT) || jc_obj_begin(&d->jc) < 0)
        return 0;
    while (jc_obj_next(&d->jc, buf, sizeof(buf), &key, &klen) == 1)
        fn(d, key, klen, ctx);
    return 1;
}

/* ---- stats groups: cpu, memory, network ---------------------------------- */

struct vkey {
    const char *key;
    size_t len;
    enum summary_value v;
};
#define VK(k, v)                                                                                   \
    {                                                                                              \
        k, sizeof(k) - 1, v                                                                        \
    }
static const struct vkey CPU_KEYS[] = {VK("usageCoreNanoSeconds", SV_CPU_USAGE), {NULL, 0, 0}};
static const struct vkey MEM_KEYS[] = {VK("usageBytes", SV_MEM_USAGE),
                                       VK("workingSetBytes", SV_MEM_WORKING_SET),
                                       VK("rssBytes", SV_MEM_RSS),
                                       VK("pageFaults", SV_MEM_PAGE_FAULTS),
                                       VK("majorPageFaults", SV_MEM_MAJOR_PAGE_FAULTS),
                                       {NULL, 0, 0}};
/* the inline fields are the default interface, as Heapster reads them */
static const struct vkey NET_KEYS[] = {VK("rxBytes", SV_NET_RX),
                                       VK("rxErrors", SV_NET_RX_ERRORS),
                                       VK("txBytes", SV_NET_TX),
                                       VK("txErrors", SV_NET_TX_ERRORS),
                                       {NULL, 0, 0}};

struct group_ctx {
    struct summary_stats *st;
    enum summary_group g;
    const struct vkey *keys;
};

static void group_member(struct dec *d, const char *key, size_t klen, void *ctx)
{
    struct group_ctx *gc = ctx;
    if (KEY_IS("time")) {
        gc->st->ts_ns[gc->g] = dec_time(d);
        return;
    }
    for (const struct vkey *k = gc->keys; k->key; k++) {
        if (klen == k->len && key[0] == k->key[0] && memcmp(key, k->key, klen) == 0) {
            if (dec_u64(d, &gc->st->v[k->v]))
                gc->st->has |= 1u << k->v;
            return;
        }
    }
    jc_skip(&d->jc);
}

static void dec_group(struct dec *d, struct summary_stats *st, enum summary_group g,
                      const struct vkey *keys)
{
    struct group_ctx gc = {st, g, keys};
    st->ts_ns[g] = 0; /* a repeated group replaces the earlier one */
    for (const struct vkey *k = keys; k->key; k++)
        st->has &= ~(1u << k->v);
    dec_object(d, group_member, &gc);
}

/* The members every stats-bearing element shares; 1 when key was one. */
static int stats_member(struct dec *d, const char *key, size_t klen, struct summary_stats *st)
{
    if (KEY_IS("startTime"))
        st->start_ns = dec_time(d);
    else if (KEY_IS("cpu"))
        dec_group(d, st, SG_CPU, CPU_KEYS);
    else if (KEY_IS("memory"))
        dec_group(d, st, SG_MEM, MEM_KEYS);
    else if (KEY_IS("network"))
        dec_group(d, st, SG_NET, NET_KEYS);
    else
        return 0;
    return 1;
}

/* ---- file systems and volumes ------------------------------------------- */

static void fs_member(struct dec *d, const char *key, size_t klen, void *ctx)
{
    static const struct {
        const char *key;
        size_t len;
    } keys[SF__COUNT] = {{"availableBytes", 14},
                         {"capacityBytes", 13},
                         {"usedBytes", 9},
                         {"inodes", 6},
                         {"inodesFree", 10}};
    struct summary_fs *fs = ctx;
    if (KEY_IS("time")) {
        fs->ts_ns = dec_time(d);
        return;
    }
    for (int i = 0; i < SF__COUNT; i++) {
        if (klen == keys[i].len && key[0] == keys[i].key[0] &&
            memcmp(key, keys[i].key, klen) == 0) {
            if (dec_u64(d, &fs->v[i]))
                fs->has |= (uint8_t)(1u << i);
            return;
        }
    }
    jc_skip(&d->jc);
}

static void volume_member(struct dec *d, const char *key, size_t klen, void *ctx)
{
    struct summary_fs *fs = ctx;
    if (KEY_IS("name"))
        dec_str(d, fs->name, sizeof(fs->name));
    else
        fs_member(d, key, klen, ctx);
}

/* rootfs, logs, the node's fs (unnamed), or a volume (named). */
static void dec_fs(struct dec *d, struct summary_fs *fs, int named)
{
    fs->has = 0;
    fs->ts_ns = 0;
    fs->name[0] = '\0';
    dec_object(d, named ? volume_member : fs_member, fs);
}

/* ---- containers ----------------------------------------------------------- */

static void container_member(struct dec *d, const char *key, size_t klen, void *ctx)
{
    struct summary_container *c = ctx;
    if (stats_member(d, key, klen, &c->st))
        return;
    if (KEY_IS("name"))
        dec_str(d, c->name, sizeof(c->name));
    else if (KEY_IS("rootfs"))
        dec_fs(d, &c->rootfs, 0);
    else if (KEY_IS("logs"))
        dec_fs(d, &c->logs, 0);
    else
        jc_skip(&d->jc);
}

static void dec_container(struct dec *d, struct summary_container *c)
{
    c->name[0] = '\0';
    memset(&c->st, 0, sizeof(c->st));
    c->rootfs.has = c->logs.has = 0;
    c->rootfs.name[0] = c->logs.name[0] = '\0';
    dec_object(d, container_member, c);
}

/* An array of objects, each decoded by elem_fn into a slot that slot_fn hands out (NULL:
 * no room, the element is counted as dropped); elem_fn decides whether the decoded slot is
 * kept (it advances its own count). Non-objects are counted as type errors. */
typedef void *(*slot_fn)(void *ctx);
typedef void (*elem_fn)(struct dec *d, void *slot, void *ctx);
static void dec_array(struct dec *d, slot_fn slot, elem_fn elem, void *ctx)
{
    if (!dec_want(d, JC_ARRAY) || jc_arr_begin(&d->jc) < 0)
        return;
    while (jc_arr_next(&d->jc) == 1) {
        if (jc_peek(&d->jc) != JC_OBJECT) {
            if (jc_peek(&d->jc) != JC_BAD)
                d->cnt->type_errors++; /* null too: an element must be an object */
            jc_skip(&d->jc);
            continue;
        }
        void *s = slot(ctx);
        if (!s) {
            d->cnt->dropped++;
            jc_skip(&d->jc);
            continue;
        }
        elem(d, s, ctx);
    }
}

/* ---- the node ------------------------------------------------------------- */

static void *node_sys_slot(void *ctx)
{
    struct summary_node *n = ctx;
    return n->nsys < SUMMARY_MAX_SYSCONTAINER ? &n->sys[n->nsys] : NULL;
}

static void node_sys_elem(struct dec *d, void *slot, void *ctx)
{
    struct summary_node *n = ctx;
    dec_container(d, slot);
    if (n->sys[n->nsys].name[0])
        n->nsys++;
}

static void node_member(struct dec *d, const char *key, size_t klen, void *ctx)
{
    struct summary_node *n = ctx;
    if (stats_member(d, key, klen, &n->st))
        return;
    if (KEY_IS("nodeName")) {
        dec_str(d, n->name, sizeof(n->name));
    } else if (KEY_IS("fs")) {
        dec_fs(d, &n->fs, 0);
    } else if (KEY_IS("systemContainers")) {
        n->nsys = 0;
        dec_array(d, node_sys_slot, node_sys_elem, n);
    } else {
        jc_skip(&d->jc);
    }
}

/* Common to both elements: null is absent, a non-object a type error, and
 * the value must be the whole element. */
static enum summary_dec dec_element(struct dec *d, member_fn fn, void *ctx, char *err,
                                    size_t errlen)
{
    enum summary_dec rc = dec_object(d, fn, ctx) ? SUMMARY_DEC_OK : SUMMARY_DEC_ABSENT;
    if (!d->jc.err && d->jc.p != d->jc.end)
        d->jc.err = "data after the element";
    if (d->jc.err) {
        snprintf(err, errlen, "%s (at byte %zu of the element)", d->jc.err, jc_offset(&d->jc));
        return SUMMARY_DEC_MALFORMED;
    }
    return rc;
}

enum summary_dec summary_decode_node(const char *buf, size_t len, struct summary_node *n,
                                     struct summary_counts *cnt, char *err, size_t errlen)
{
    struct dec d = {.cnt = cnt};
    jc_init(&d.jc, buf, len);
    n->name[0] = '\0';
    memset(&n->st, 0, sizeof(n->st));
    n->fs.has = 0;
    n->fs.ts_ns = 0;
    n->fs.name[0] = '\0';
    n->nsys = 0;
    return dec_element(&d, node_member, n, err, errlen);
}

/* ---- a pod ------------------------------------------------------------------ */

struct pod_ctx {
    struct summary_pod *p;
    struct summary_pod_bufs *b;
};

static void *pod_container_slot(void *ctx)
{
    struct pod_ctx *pc = ctx;
    size_t i = pc->p->ncontainers;
    if (i == SUMMARY_MAX_CONTAINERS || kp_grow((void **)&pc->b->containers, &pc->b->ccap, i + 1,
                                               sizeof(*pc->b->containers), 8) < 0)
        return NULL;
    return &pc->b->containers[i];
}

static void pod_container_elem(struct dec *d, void *slot, void *ctx)
{
    struct pod_ctx *pc = ctx;
    struct summary_container *c = slot;
    dec_container(d, c);
    if (c->name[0])
        pc->p->ncontainers++;
}

static void *pod_volume_slot(void *ctx)
{
    struct pod_ctx *pc = ctx;
    size_t i = pc->p->nvolumes;
    if (i == SUMMARY_MAX_VOLUMES ||
        kp_grow((void **)&pc->b->volumes, &pc->b->vcap, i + 1, sizeof(*pc->b->volumes), 8) < 0)
        return NULL;
    return &pc->b->volumes[i];
}

static void pod_volume_elem(struct dec *d, void *slot, void *ctx)
{
    struct pod_ctx *pc = ctx;
    struct summary_fs *fs = slot;
    dec_fs(d, fs, 1);
    if (fs->name[0])
        pc->p->nvolumes++;
}

static void podref_member(struct dec *d, const char *key, size_t klen, void *ctx)
{
    struct summary_pod *p = ctx;
    if (KEY_IS("name"))
        dec_str(d, p->name, sizeof(p->name));
    else if (KEY_IS("namespace"))
        dec_str(d, p->ns, sizeof(p->ns));
    else if (KEY_IS("uid"))
        dec_str(d, p->uid, sizeof(p->uid));
    else
        jc_skip(&d->jc);
}

static void ephemeral_member(struct dec *d, const char *key, size_t klen, void *ctx)
{
    struct summary_pod *p = ctx;
    if (KEY_IS("time"))
        p->ephemeral_ts_ns = dec_time(d);
    else if (KEY_IS("usedBytes"))
        p->has_ephemeral = dec_u64(d, &p->ephemeral_used);
    else
        jc_skip(&d->jc);
}

static void pod_member(struct dec *d, const char *key, size_t klen, void *ctx)
{
    struct pod_ctx *pc = ctx;
    struct summary_pod *p = pc->p;
    if (stats_member(d, key, klen, &p->st))
        return;
    if (KEY_IS("podRef")) {
        p->name[0] = p->ns[0] = p->uid[0] = '\0';
        dec_object(d, podref_member, p);
    } else if (KEY_IS("containers")) {
        p->ncontainers = 0;
        dec_array(d, pod_container_slot, pod_container_elem, pc);
    } else if (KEY_IS("volume")) {
        p->nvolumes = 0;
        dec_array(d, pod_volume_slot, pod_volume_elem, pc);
    } else if (KEY_IS("ephemeral-storage")) {
        p->has_ephemeral = 0;
        p->ephemeral_ts_ns = 0;
        dec_object(d, ephemeral_member, p);
    } else {
        jc_skip(&d->jc);
    }
}

enum summary_dec summary_decode_pod(const char *buf, size_t len, struct summary_pod *p,
                                    struct summary_pod_bufs *b, struct summary_counts *cnt,
                                    char *err, size_t errlen)
{
    struct dec d = {.cnt = cnt};
    struct pod_ctx pc = {p, b};
    jc_init(&d.jc, buf, len);
    p->name[0] = p->ns[0] = p->uid[0] = '\0';
    memset(&p->st, 0, sizeof(p->st));
    p->has_ephemeral = 0;
    p->ephemeral_used = 0;
    p->ephemeral_ts_ns = 0;
    p->ncontainers = p->nvolumes = 0;
    if (jc_peek(&d.jc) != JC_NULL)
        cnt->pods++;
    enum summary_dec rc = dec_element(&d, pod_member, &pc, err, errlen);
    p->containers = b->containers;
    p->volumes = b->volumes;
    return rc;
}
