/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.c - histograms, and /metrics and /status rendered from the modules'
 * stat_desc tables (stats.h).
 */
#include "stats.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

const double KP_HIST_REQUEST_S[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const size_t KP_HIST_REQUEST_N = sizeof(KP_HIST_REQUEST_S) / sizeof(KP_HIST_REQUEST_S[0]);
const double KP_HIST_CYCLE_S[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                  2.5,  5,     10,   15,  30,   60,  120};
const size_t KP_HIST_CYCLE_N = sizeof(KP_HIST_CYCLE_S) / sizeof(KP_HIST_CYCLE_S[0]);

void kp_hist_init(struct kp_hist *h, const double *bounds, size_t nbounds)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->nbounds = nbounds > KP_HIST_MAX_BOUNDS ? KP_HIST_MAX_BOUNDS : nbounds;
}

void kp_hist_observe(struct kp_hist *h, double v)
{
    size_t i = 0;
    if (!(v >= 0)) /* NaN or negative: a clock step; count it, add nothing */
        v = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

static const void *field(const void *obj, const struct stat_desc *d)
{
    return (const char *)obj + d->offset;
}

static uint64_t count_of(const void *obj, const struct stat_desc *d)
{
    const void *p = field(obj, d);
    uint64_t sum = 0;
    if (d->type == STAT_T_U64)
        return *(const uint64_t *)p;
    if (d->type == STAT_T_HIST)
        return ((const struct kp_hist *)p)->count;
    for (int i = 0; i < d->count; i++) /* STAT_T_U64_BY */
        sum += ((const uint64_t *)p)[i];
    return sum;
}

static double scalar(const void *obj, const struct stat_desc *d)
{
    const void *p = field(obj, d);
    switch (d->type) {
    case STAT_T_U64:
    case STAT_T_U64_BY:
    case STAT_T_HIST: return (double)count_of(obj, d);
    case STAT_T_DOUBLE: return *(const double *)p;
    case STAT_T_BOOL: return *(const bool *)p ? 1 : 0;
    case STAT_T_LONG: return (double)*(const long *)p;
    }
    return 0;
}

static const char *type_name(enum stat_kind k)
{
    return k == STAT_KIND_COUNTER ? "counter" : k == STAT_KIND_GAUGE ? "gauge" : "histogram";
}

/* labels: key, value, then one more pair (extra_key, extra_value) if extra_key. */
static void sample(struct status_buf *b, const char *name, const char *key, const char *value,
                   const char *extra_key, const char *extra_value, double v)
{
    const char *labels[5] = {NULL};
    size_t n = 0;
    if (key) {
        labels[n++] = key;
        labels[n++] = value;
    }
    if (extra_key) {
        labels[n++] = extra_key;
        labels[n++] = extra_value;
    }
    status_prom_sample(b, name, labels, v);
}

static void render_hist(struct status_buf *b, const char *metric, const struct kp_hist *h,
                        const char *key, const char *value)
{
    char name[160], le[32];
    uint64_t cum = 0;
    snprintf(name, sizeof(name), "%s_bucket", metric);
    for (size_t i = 0; i < h->nbounds; i++) {
        cum += h->counts[i];
        snprintf(le, sizeof(le), "%g", h->bounds[i]);
        sample(b, name, key, value, "le", le, (double)cum);
    }
    sample(b, name, key, value, "le", "+Inf", (double)h->count);
    snprintf(name, sizeof(name), "%s_sum", metric);
    sample(b, name, key, value, NULL, NULL, h->sum);
    snprintf(name, sizeof(name), "%s_count", metric);
    sample(b, name, key, value, NULL, NULL, (double)h->count);
}

void stats_render_prom(struct status_buf *b, const struct stat_desc *t, size_t n,
                       const void *const *objs, size_t nobjs, const char *key,
                       const char *const *values)
{
    for (size_t k = 0; k < n; k++) {
        const struct stat_desc *d = &t[k];
        if (!d->metric)
            continue;
        status_prom_family(b, d->metric, type_name(d->kind), d->help);
        for (size_t o = 0; o < nobjs; o++) {
            const char *value = key ? values[o] : NULL;
            if (d->type == STAT_T_HIST) {
                render_hist(b, d->metric, field(objs[o], d), key, value);
            } else if (d->type == STAT_T_U64_BY) {
                const uint64_t *arr = field(objs[o], d);
                for (int i = 0; i < d->count; i++)
                    sample(b, d->metric, key, value, d->label, d->name(i), (double)arr[i]);
            } else {
                sample(b, d->metric, key, value, NULL, NULL, scalar(objs[o], d));
            }
        }
    }
}

void stats_render_json(struct json_object *o, const struct stat_desc *t, size_t n, const void *obj)
{
    for (size_t k = 0; k < n; k++) {
        const struct stat_desc *d = &t[k];
        json_object *v;
        if (!d->json)
            continue;
        switch (d->type) {
        case STAT_T_DOUBLE: v = json_object_new_double(scalar(obj, d)); break;
        case STAT_T_BOOL: v = json_object_new_boolean(*(const bool *)field(obj, d)); break;
        case STAT_T_LONG: v = json_object_new_int64(*(const long *)field(obj, d)); break;
        default: v = json_object_new_int64((int64_t)count_of(obj, d)); break;
        }
        json_object_object_add(o, d->json, v);
    }
}
