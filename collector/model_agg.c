/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model_agg.c - what spans nodes in a cycle: the namespace sums fed by each
 * pod as it is emitted and, at cycle end, the ns and cluster series. So they
 * always sum the pods written: a node that failed contributes the pods it
 * wrote before its failure, and those it did not reach are missing, not zero.
 */
#include "model_int.h"

#include <stdlib.h>
#include <string.h>

#include "scope.h"

const uint8_t model_agg_metric[AGG__N] = {
    [AGG_CPU_RATE] = KP_M_CPU_USAGE_RATE, [AGG_MEM_USAGE] = KP_M_MEM_USAGE,
    [AGG_CPU_REQ] = KP_M_CPU_REQUEST,     [AGG_CPU_LIM] = KP_M_CPU_LIMIT,
    [AGG_MEM_REQ] = KP_M_MEM_REQUEST,     [AGG_MEM_LIM] = KP_M_MEM_LIMIT,
};

struct model *model_new(struct rates *rates, model_pod_lookup_fn lookup, void *lookup_ud)
{
    struct model *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->rates = rates;
    m->lookup = lookup;
    m->lookup_ud = lookup_ud;
    m->metrics = ~0ULL;
    strmap_init(&m->ns);
    return m;
}

void model_set_scope(struct model *m, const struct scope *scope)
{
    m->scope = scope;
    m->metrics = scope ? scope->metrics : ~0ULL;
}

static void ns_free_one(void *value, void *ud)
{
    (void)ud;
    struct ns_sum *s = value;
    free(s->uid);
    free(s);
}

void model_free(struct model *m)
{
    if (!m)
        return;
    strmap_fini_values(&m->ns, ns_free_one, NULL);
    model_batch_fini(&m->batch);
    free(m);
}

void model_cycle_begin(struct model *m, uint32_t cycle, int64_t cycle_ts_ns)
{
    m->cycle = cycle;
    m->cycle_ts = cycle_ts_ns;
}

void model_ns_apply(struct model *m, const struct ns_add *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct ns_sum *s = strmap_get(&m->ns, a[i].ns);
        if (!s) {
            s = calloc(1, sizeof(*s));
            if (!s || !strmap_put(&m->ns, a[i].ns, s)) {
                free(s);
                continue;
            }
        }
        if (s->cycle != m->cycle) {
            memset(s->v, 0, sizeof(s->v));
            s->has = 0;
            s->cycle = m->cycle;
        }
        if (a[i].ns_uid && (!s->uid || strcmp(s->uid, a[i].ns_uid) != 0)) {
            free(s->uid);
            s->uid = strdup(a[i].ns_uid);
        }
        for (int k = 0; k < AGG__N; k++) {
            if (a[i].has & (1u << k)) {
                s->v[k] = sat_add(s->v[k], a[i].v[k]);
                s->has |= (uint8_t)(1u << k);
            }
        }
    }
}

struct ns_emit_ctx {
    struct model *m;
    struct kp_series *series;
    struct kp_point *points;
    size_t nseries, npoints, cap;
    int64_t cluster[AGG__N];
    uint8_t cluster_has;
};

static void ns_emit_series(struct ns_emit_ctx *c, const char *ns, const char *uid, const int64_t *v,
                           uint8_t has)
{
    struct kp_series *s = &c->series[c->nseries];
    s->nlabels = 0;
    if (uid && *uid)
        s->labels[s->nlabels++] = (struct kp_label){"namespace_id", uid};
    if (ns)
        s->labels[s->nlabels++] = (struct kp_label){"namespace_name", ns};
    s->labels[s->nlabels++] = (struct kp_label){"type", ns ? "ns" : "cluster"};
    /* ascending metric id: model_agg_metric is not in id order */
    for (int id = 0; id < KP_M__COUNT; id++) {
        for (int k = 0; k < AGG__N; k++) {
            if (model_agg_metric[k] != id || !(has & (1u << k)) || !(c->m->metrics & (1ULL << id)))
                continue;
            c->points[c->npoints++] = (struct kp_point){.series = (uint32_t)c->nseries,
                                                        .metric = (uint16_t)id,
                                                        .v.i = v[k],
                                                        .ts_ns = c->m->cycle_ts};
        }
    }
    c->nseries++;
}

static void ns_emit_one(const char *key, void *value, void *ud)
{
    struct ns_emit_ctx *c = ud;
    struct ns_sum *s = value;
    if (s->cycle != c->m->cycle)
        return;
    ns_emit_series(c, key, s->uid, s->v, s->has);
    for (int k = 0; k < AGG__N; k++)
        if (s->has & (1u << k))
            c->cluster[k] = sat_add(c->cluster[k], s->v[k]);
    c->cluster_has |= s->has;
}

/* strmap_remove_if: a namespace with no pod for more than 10 cycles is forgotten. */
static bool ns_idle(const char *key, void *value, void *ud)
{
    (void)key;
    const struct model *m = ud;
    if (m->cycle - ((struct ns_sum *)value)->cycle <= 10)
        return false;
    ns_free_one(value, NULL);
    return true;
}

void model_cycle_end(struct model *m, model_emit_fn emit, void *ud)
{
    struct ns_emit_ctx c = {.m = m};
    c.cap = m->ns.count + 1;
    c.series = calloc(c.cap, sizeof(*c.series));
    c.points = calloc(c.cap * AGG__N, sizeof(*c.points));
    if (c.series && c.points) {
        strmap_each(&m->ns, ns_emit_one, &c);
        if (c.nseries)
            ns_emit_series(&c, NULL, NULL, c.cluster, c.cluster_has);
        struct kp_batch b = {
            .series = c.series, .nseries = c.nseries, .points = c.points, .npoints = c.npoints};
        if (emit && b.npoints)
            emit(&b, ud);
    }
    strmap_remove_if(&m->ns, ns_idle, m);
    free(c.series);
    free(c.points);
}
