/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c - the samples behind the resource metrics API, kept by
 * metrics-server's rules (pkg/storage: nodeStorage, podStorage):
 *
 * - Per node and per container, the last sample of the latest completed cycle
 *   and the one before it. A node or pod missing from a cycle (its scrape
 *   failed; a failed node's pods written before its failure are not missing)
 *   is missing from the API until scraped again. A node's entry and its pods'
 *   containers come in different batches (model.h), gathered until commit.
 * - A node keeps its last sample as the previous one when the new sample is
 *   newer; when it is not, the stored previous one stays if it is older.
 * - A container younger than one resolution (but at least 10 s old) gets a
 *   previous sample at its start time with zero CPU; otherwise its last sample
 *   becomes the previous one only when it has not restarted since (its start
 *   time is before that sample).
 * - Usage: CPU = (last - previous cumulative CPU) / window, memory = the last
 *   working set; timestamp = the last sample's, window = the difference. A
 *   start time or counter that went back yields nothing for that object.
 *
 * Samples come from the collector's batches: cpu/usage (cumulative), the
 * working set, and uptime, from which the start time is recovered (to the
 * millisecond: start times compare with a millisecond's tolerance).
 */
#include "mapi_int.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define NS_PER_S        1000000000LL
#define FRESH_MIN_NS    (10 * NS_PER_S) /* metrics-server's freshContainerMinMetricsResolution */
#define START_TOLERANCE 1000000LL       /* uptime is in milliseconds */

struct pend_ctr {
    char *ns, *pod, *name, *labels; /* owned */
    struct mapi_sample s;
};

struct mapi_store {
    int64_t resolution_ns;
    struct mapi_set cur; /* served */
    /* the cycle in progress */
    struct mapi_node *pnodes; /* owned; labels and names owned */
    size_t npnodes, cappnodes;
    struct pend_ctr *pctrs; /* owned */
    size_t npctrs, cappctrs;
    bool pend_failed;
};

struct mapi_store *mapi_store_new(double resolution_s)
{
    struct mapi_store *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->resolution_ns = (int64_t)(resolution_s * 1e9);
    return s;
}

void mapi_set_fini(struct mapi_set *set)
{
    for (size_t i = 0; i < set->nnodes; i++) {
        free(set->nodes[i].name);
        free(set->nodes[i].labels);
    }
    free(set->nodes);
    for (size_t i = 0; i < set->npods; i++) {
        struct mapi_pod *p = &set->pods[i];
        for (size_t j = 0; j < p->nctrs; j++)
            free(p->ctrs[j].name);
        free(p->ctrs);
        free(p->ns);
        free(p->name);
        free(p->labels);
    }
    free(set->pods);
    memset(set, 0, sizeof(*set));
}

void mapi_store_discard(struct mapi_store *s)
{
    for (size_t i = 0; i < s->npnodes; i++) {
        free(s->pnodes[i].name);
        free(s->pnodes[i].labels);
    }
    for (size_t i = 0; i < s->npctrs; i++) {
        free(s->pctrs[i].ns);
        free(s->pctrs[i].pod);
        free(s->pctrs[i].name);
        free(s->pctrs[i].labels);
    }
    s->npnodes = s->npctrs = 0;
    s->pend_failed = false;
}

void mapi_store_free(struct mapi_store *s)
{
    if (!s)
        return;
    mapi_store_discard(s);
    free(s->pnodes);
    free(s->pctrs);
    mapi_set_fini(&s->cur);
    free(s);
}

const struct mapi_set *mapi_store_set(const struct mapi_store *s)
{
    return &s->cur;
}

void mapi_store_replace(struct mapi_store *s, struct mapi_set *set)
{
    mapi_store_discard(s);
    mapi_set_fini(&s->cur);
    s->cur = *set;
    memset(set, 0, sizeof(*set));
}

/* ---- reading a batch ------------------------------------------------------ */

struct series_acc {
    struct mapi_sample s;
    uint8_t has; /* 1 cpu, 2 memory, 4 uptime */
    int64_t uptime_ms;
};

static const char *label(const struct kp_series *se, const char *key)
{
    for (uint8_t i = 0; i < se->nlabels; i++)
        if (strcmp(se->labels[i].key, key) == 0)
            return se->labels[i].value && *se->labels[i].value ? se->labels[i].value : NULL;
    return NULL;
}

static char *dup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void finish_sample(struct series_acc *a)
{
    a->s.start_ns = 0;
    if ((a->has & 4) && a->uptime_ms >= 0 && a->s.ts_ns / 1000000 >= a->uptime_ms)
        a->s.start_ns = a->s.ts_ns - a->uptime_ms * 1000000;
}

static int add_node(struct mapi_store *s, const struct kp_series *se, const struct series_acc *a)
{
    const char *name = label(se, "nodename");
    if (!name)
        return 0;
    if (kp_grow((void **)&s->pnodes, &s->cappnodes, s->npnodes + 1, sizeof(*s->pnodes), 64) < 0)
        return -1;
    struct mapi_node *nd = &s->pnodes[s->npnodes];
    memset(nd, 0, sizeof(*nd));
    nd->name = strdup(name);
    nd->labels = dup_opt(label(se, "labels"));
    nd->last = a->s;
    s->npnodes++;
    return nd->name ? 0 : -1;
}

static int add_ctr(struct mapi_store *s, const struct kp_series *se, const struct series_acc *a)
{
    const char *ns = label(se, "namespace_name"), *pod = label(se, "pod_name");
    const char *name = label(se, "container_name");
    if (!ns || !pod || !name)
        return 0;
    if (kp_grow((void **)&s->pctrs, &s->cappctrs, s->npctrs + 1, sizeof(*s->pctrs), 256) < 0)
        return -1;
    struct pend_ctr *c = &s->pctrs[s->npctrs++];
    c->ns = strdup(ns);
    c->pod = strdup(pod);
    c->name = strdup(name);
    c->labels = dup_opt(label(se, "labels"));
    c->s = a->s;
    /* a container without both values marks its pod incomplete: see commit */
    if ((a->has & 3) != 3)
        c->s.ts_ns = -1;
    return c->ns && c->pod && c->name ? 0 : -1;
}

int mapi_store_add_batch(struct mapi_store *s, const struct kp_batch *b)
{
    struct series_acc *acc = calloc(b->nseries ? b->nseries : 1, sizeof(*acc));
    if (!acc) {
        s->pend_failed = true;
        return -1;
    }
    for (size_t i = 0; i < b->npoints; i++) {
        const struct kp_point *p = &b->points[i];
        if (p->series >= b->nseries)
            continue;
        struct series_acc *a = &acc[p->series];
        switch (p->metric) {
        case KP_M_CPU_USAGE:
            a->s.cpu_ns = p->v.i < 0 ? 0 : (uint64_t)p->v.i;
            /* the kubelet's own sample time, as metrics-server reads it; the point's is the
             * cycle's */
            a->s.ts_ns = b->sampled_ns ? b->sampled_ns[p->series] : p->ts_ns;
            a->has |= 1;
            break;
        case KP_M_MEM_WORKING_SET:
            a->s.mem = p->v.i < 0 ? 0 : (uint64_t)p->v.i;
            a->has |= 2;
            break;
        case KP_M_UPTIME:
            a->uptime_ms = p->v.i;
            a->has |= 4;
            break;
        default: break;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < b->nseries && rc == 0; i++) {
        const struct kp_series *se = &b->series[i];
        const char *type = label(se, "type");
        struct series_acc *a = &acc[i];
        if (!type || !(a->has & 3))
            continue;
        finish_sample(a);
        if (strcmp(type, "node") == 0 && (a->has & 3) == 3)
            rc = add_node(s, se, a);
        else if (strcmp(type, "pod_container") == 0)
            rc = add_ctr(s, se, a);
    }
    free(acc);
    if (rc < 0)
        s->pend_failed = true;
    return rc;
}

/* ---- the cycle's end: metrics-server's Store ---------------------------- */

static int cmp_node(const void *a, const void *b)
{
    return strcmp(((const struct mapi_node *)a)->name, ((const struct mapi_node *)b)->name);
}

static int cmp_pend(const void *a, const void *b)
{
    const struct pend_ctr *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);
    if (!c)
        c = strcmp(x->pod, y->pod);
    return c ? c : strcmp(x->name, y->name);
}

const struct mapi_node *mapi_set_node(const struct mapi_set *set, const char *name)
{
    struct mapi_node key = {.name = (char *)name};
    return set->nnodes ? bsearch(&key, set->nodes, set->nnodes, sizeof(key), cmp_node) : NULL;
}

static int cmp_pod(const void *a, const void *b)
{
    const struct mapi_pod *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);
    return c ? c : strcmp(x->name, y->name);
}

const struct mapi_pod *mapi_set_pod(const struct mapi_set *set, const char *ns, const char *name)
{
    struct mapi_pod key = {.ns = (char *)ns, .name = (char *)name};
    return set->npods ? bsearch(&key, set->pods, set->npods, sizeof(key), cmp_pod) : NULL;
}

static const struct mapi_ctr *pod_ctr(const struct mapi_pod *p, const char *name)
{
    for (size_t i = 0; p && i < p->nctrs; i++)
        if (strcmp(p->ctrs[i].name, name) == 0)
            return &p->ctrs[i];
    return NULL;
}

/* nodeStorage.Store for one node. */
static void node_keep_prev(struct mapi_node *nd, const struct mapi_node *old)
{
    if (!old)
        return;
    if (nd->last.ts_ns > old->last.ts_ns) {
        nd->prev = old->last;
        nd->has_prev = true;
    } else if (old->has_prev && old->prev.ts_ns < nd->last.ts_ns) {
        nd->prev = old->prev;
        nd->has_prev = true;
    }
}

/* podStorage.Store for one container. */
static void ctr_keep_prev(struct mapi_ctr *c, const struct mapi_ctr *old, int64_t resolution_ns)
{
    const struct mapi_sample *n = &c->last;
    int64_t age = n->ts_ns - n->start_ns;
    if (n->start_ns && n->start_ns < n->ts_ns && age < resolution_ns && age >= FRESH_MIN_NS) {
        c->prev = *n;
        c->prev.ts_ns = n->start_ns;
        c->prev.cpu_ns = 0;
        c->has_prev = true;
    } else if (old && n->start_ns < old->last.ts_ns) {
        if (n->ts_ns > old->last.ts_ns) {
            c->prev = old->last;
            c->has_prev = true;
        } else if (old->has_prev && old->prev.ts_ns < n->ts_ns) {
            c->prev = old->prev;
            c->has_prev = true;
        }
    }
}

/* Group the sorted pending containers into pods; a pod with a container lacking CPU or
 * memory is left out whole, as its sum would be short. */
static int build_pods(struct mapi_store *s, struct mapi_set *next)
{
    next->pods = calloc(s->npctrs ? s->npctrs : 1, sizeof(*next->pods));
    if (!next->pods)
        return -1;
    for (size_t i = 0; i < s->npctrs;) {
        size_t j = i, bad = 0;
        while (j < s->npctrs && !strcmp(s->pctrs[j].ns, s->pctrs[i].ns) &&
               !strcmp(s->pctrs[j].pod, s->pctrs[i].pod)) {
            bad |= s->pctrs[j].s.ts_ns < 0;
            j++;
        }
        if (!bad) {
            struct mapi_pod *p = &next->pods[next->npods];
            const struct mapi_pod *old = mapi_set_pod(&s->cur, s->pctrs[i].ns, s->pctrs[i].pod);
            p->ctrs = calloc(j - i, sizeof(*p->ctrs));
            if (!p->ctrs)
                return -1;
            next->npods++;
            p->ns = s->pctrs[i].ns;
            p->name = s->pctrs[i].pod;
            p->labels = s->pctrs[i].labels;
            s->pctrs[i].ns = s->pctrs[i].pod = s->pctrs[i].labels = NULL;
            for (size_t k = i; k < j; k++) {
                if (p->nctrs && !strcmp(s->pctrs[k].name, p->ctrs[p->nctrs - 1].name))
                    continue; /* a duplicate container point: the first wins */
                struct mapi_ctr *c = &p->ctrs[p->nctrs++];
                c->name = s->pctrs[k].name;
                s->pctrs[k].name = NULL;
                c->last = s->pctrs[k].s;
                ctr_keep_prev(c, pod_ctr(old, c->name), s->resolution_ns);
            }
        }
        i = j;
    }
    return 0;
}

void mapi_store_commit(struct mapi_store *s)
{
    struct mapi_set next = {0};
    if (s->pend_failed)
        goto fail;
    kp_sort(s->pnodes, s->npnodes, sizeof(*s->pnodes), cmp_node);
    next.nodes = calloc(s->npnodes ? s->npnodes : 1, sizeof(*next.nodes));
    if (!next.nodes)
        goto fail;
    for (size_t i = 0; i < s->npnodes; i++) {
        if (next.nnodes && !strcmp(s->pnodes[i].name, next.nodes[next.nnodes - 1].name))
            continue; /* a duplicate node point: the first wins */
        struct mapi_node *nd = &next.nodes[next.nnodes++];
        *nd = s->pnodes[i];
        s->pnodes[i].name = s->pnodes[i].labels = NULL;
        node_keep_prev(nd, mapi_set_node(&s->cur, nd->name));
    }
    kp_sort(s->pctrs, s->npctrs, sizeof(*s->pctrs), cmp_pend);
    if (build_pods(s, &next) < 0)
        goto fail;
    mapi_set_fini(&s->cur);
    s->cur = next;
    mapi_store_discard(s);
    return;
fail:
    /* out of memory: keep serving the previous cycle */
    mapi_set_fini(&next);
    mapi_store_discard(s);
}

/* ---- usage ------------------------------------------------------------------ */

int mapi_usage_of(const struct mapi_sample *last, const struct mapi_sample *prev,
                  struct mapi_usage *out)
{
    if (last->start_ns + START_TOLERANCE < prev->start_ns || last->cpu_ns < prev->cpu_ns ||
        last->ts_ns <= prev->ts_ns)
        return -1;
    out->ts_ns = last->ts_ns;
    out->window_ns = last->ts_ns - prev->ts_ns;
    /* (uint64) of float64(delta) / seconds, as metrics-server truncates */
    double cores = (double)(last->cpu_ns - prev->cpu_ns) / ((double)out->window_ns / 1e9);
    out->cpu_nano = cores >= 1.8e19 ? UINT64_MAX : (uint64_t)cores;
    out->mem_bytes = last->mem;
    return 0;
}

int mapi_pod_usage(const struct mapi_pod *p, struct mapi_usage *pod_ti, struct mapi_usage *usages,
                   bool *ok)
{
    bool any = false;
    for (size_t i = 0; i < p->nctrs; i++)
        if (!p->ctrs[i].has_prev)
            return -1;
    memset(pod_ti, 0, sizeof(*pod_ti));
    for (size_t i = 0; i < p->nctrs; i++) {
        ok[i] = mapi_usage_of(&p->ctrs[i].last, &p->ctrs[i].prev, &usages[i]) == 0;
        if (ok[i] && (!any || usages[i].ts_ns < pod_ti->ts_ns)) {
            *pod_ti = usages[i];
            any = true;
        }
    }
    return 0;
}

int mapi_store_node_usage(const struct mapi_store *s, const char *node, struct mapi_usage *out)
{
    const struct mapi_node *nd = mapi_set_node(&s->cur, node);
    if (!nd || !nd->has_prev)
        return -1;
    return mapi_usage_of(&nd->last, &nd->prev, out);
}

int mapi_store_container_usage(const struct mapi_store *s, const char *ns, const char *pod,
                               const char *container, struct mapi_usage *out)
{
    const struct mapi_pod *p = mapi_set_pod(&s->cur, ns, pod);
    const struct mapi_ctr *c = pod_ctr(p, container);
    if (!c)
        return -1;
    for (size_t i = 0; i < p->nctrs; i++)
        if (!p->ctrs[i].has_prev)
            return -1; /* the pod is not served */
    return mapi_usage_of(&c->last, &c->prev, out);
}

size_t mapi_store_node_count(const struct mapi_store *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->cur.nnodes; i++)
        n += s->cur.nodes[i].has_prev;
    return n;
}

size_t mapi_store_pod_count(const struct mapi_store *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->cur.npods; i++) {
        bool all = true;
        for (size_t j = 0; j < s->cur.pods[i].nctrs; j++)
            all = all && s->cur.pods[i].ctrs[j].has_prev;
        n += all;
    }
    return n;
}
