/* SPDX-License-Identifier: Apache-2.0 */
/*
 * window.c - Heapster's model API (/api/v1/model/...) from a bounded window
 * of the leader's batches, as Heapster's metric sink kept it
 * (metrics/sinks/metric): cpu/usage_rate and memory/usage for 15 minutes,
 * every other metric for 140 seconds. Entities are the cluster, nodes,
 * namespaces, pods and their containers; an entity not seen for 15 minutes is
 * dropped, and the total number of points is bounded (MAPI_WINDOW_MAX_POINTS):
 * beyond it new entities are not kept.
 *
 * On demand (the default, --model-api=on-demand) the window records nothing until the
 * first model API request, and after 15 minutes without one it stops and frees everything
 * (most of the daemon's memory when recording: docs/benchmarks.md). Always (Heapster's
 * behaviour) it records from the start and never stops. The requests are window_api.c's.
 */
#include "window_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h> /* malloc_trim */
#endif

#include "log.h"
#include "util.h"

#define LONG_NS  (900LL * 1000000000LL)
#define SHORT_NS (140LL * 1000000000LL)

static size_t ts_size(const struct wseries *s)
{
    return s->wide_ts ? 8 : 4;
}

static size_t v_size(const struct wseries *s)
{
    return s->wide_v ? 8 : 4;
}

int64_t wseries_ts_at(const struct wseries *s, uint32_t i)
{
    if (s->wide_ts) {
        int64_t t;
        memcpy(&t, s->p + (size_t)i * 8, 8);
        return t;
    }
    uint32_t d;
    memcpy(&d, s->p + (size_t)i * 4, 4);
    return s->base + (int64_t)d * NS_PER_S;
}

int64_t wseries_v_at(const struct wseries *s, uint32_t i)
{
    const unsigned char *vs = s->p + (size_t)s->cap * ts_size(s);
    if (s->wide_v) {
        int64_t v;
        memcpy(&v, vs + (size_t)i * 8, 8);
        return v;
    }
    int32_t v;
    memcpy(&v, vs + (size_t)i * 4, 4);
    return v;
}

/* Does ts fit a narrow timestamp of s, v a narrow value? */
static bool ts_narrow(const struct wseries *s, int64_t ts)
{
    int64_t d;
    return !__builtin_sub_overflow(ts, s->base, &d) && d >= 0 && d % NS_PER_S == 0 &&
           d / NS_PER_S <= (int64_t)UINT32_MAX;
}

static bool v_narrow(int64_t v)
{
    return v >= INT32_MIN && v <= INT32_MAX;
}

/* Rewrite the ring with wider arrays; returns -1 (the ring unchanged) when out of memory. */
static int widen(struct wseries *s, bool wide_ts, bool wide_v)
{
    struct wseries w = *s;
    w.wide_ts = wide_ts;
    w.wide_v = wide_v;
    if (!(w.p = malloc((size_t)w.cap * (ts_size(&w) + v_size(&w)))))
        return -1;
    unsigned char *vs = w.p + (size_t)w.cap * ts_size(&w);
    for (uint32_t i = 0; i < s->cap; i++) {
        int64_t t = wseries_ts_at(s, i), v = wseries_v_at(s, i);
        int32_t v32 = (int32_t)v;
        uint32_t d = (uint32_t)((t - s->base) / NS_PER_S);
        if (wide_ts)
            memcpy(w.p + (size_t)i * 8, &t, 8);
        else
            memcpy(w.p + (size_t)i * 4, &d, 4);
        if (wide_v)
            memcpy(vs + (size_t)i * 8, &v, 8);
        else
            memcpy(vs + (size_t)i * 4, &v32, 4);
    }
    free(s->p);
    *s = w;
    return 0;
}

static void put(struct wseries *s, uint32_t i, int64_t ts, int64_t v)
{
    unsigned char *vs = s->p + (size_t)s->cap * ts_size(s);
    if (s->wide_ts) {
        memcpy(s->p + (size_t)i * 8, &ts, 8);
    } else {
        uint32_t d = (uint32_t)((ts - s->base) / NS_PER_S);
        memcpy(s->p + (size_t)i * 4, &d, 4);
    }
    if (s->wide_v) {
        memcpy(vs + (size_t)i * 8, &v, 8);
    } else {
        int32_t v32 = (int32_t)v;
        memcpy(vs + (size_t)i * 4, &v32, 4);
    }
}

static bool long_metric(int m)
{
    return m == KP_M_CPU_USAGE_RATE || m == KP_M_MEM_USAGE;
}

static int64_t mono_ns(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t now_mono(const struct mapi_window *w)
{
    return w->mono_ns(w->clock_ud);
}

struct mapi_window *mapi_window_new(const struct mapi_window_opts *o)
{
    struct mapi_window *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->resolution_s = o->resolution_s > 0 ? o->resolution_s : 60;
    w->mode = o->mode;
    w->mono_ns = o->mono_ns ? o->mono_ns : mono_ns;
    w->clock_ud = o->clock_ud;
    w->recording = o->mode == MAPI_WINDOW_ALWAYS;
    w->recordings_started = w->recording;
    strmap_init(&w->entities);
    return w;
}

static size_t ring_bytes(const struct wseries *s)
{
    return (size_t)s->cap * (ts_size(s) + v_size(s));
}

/* Frees entity value of window ud (a strmap_fini_values callback). */
static void entity_free(void *value, void *ud)
{
    struct wentity *e = value;
    struct mapi_window *w = ud;
    for (size_t i = 0; i < e->ns; i++) {
        w->points -= e->s[i].cap;
        w->held -= e->s[i].n;
        w->bytes -= ring_bytes(&e->s[i]);
        free(e->s[i].p);
    }
    free(e->s);
    free(e);
}

/* strmap_remove_if: drops (and frees) the entities not seen since cutoff. */
struct sweep {
    struct mapi_window *w;
    int64_t cutoff;
};

static bool entity_stale(const char *key, void *value, void *ud)
{
    (void)key;
    struct sweep *sw = ud;
    struct wentity *e = value;
    if (e->seen_ns >= sw->cutoff)
        return false;
    entity_free(e, sw->w);
    return true;
}

void mapi_window_free(struct mapi_window *w)
{
    if (!w)
        return;
    strmap_fini_values(&w->entities, entity_free, w);
    free(w);
}

/* Back to idle: nothing recorded, nothing held. */
static void stop_recording(struct mapi_window *w, int64_t now)
{
    size_t held = w->held, bytes = w->bytes;
    strmap_fini_values(&w->entities, entity_free, w);
    strmap_init(&w->entities);
    w->recording = false;
    w->last_sweep = 0;
    w->warned = false;
#if defined(__GLIBC__)
    /* the window was most of the heap: give its free pages back to the system, or the RSS of
     * its peak stays (glibc keeps what is freed) */
    malloc_trim(0);
#endif
    log_info("model API window stopped recording: no request for 15 minutes; memory freed",
             LF_INT("idleSeconds", (now - w->last_request) / NS_PER_S),
             LF_INT("pointsFreed", (int64_t)held), LF_INT("bytesFreed", (int64_t)bytes),
             LF_DBL("freeSeconds", (double)(now_mono(w) - now) / 1e9));
}

/* On demand, past the idle time since the last request: stop. True when recording. */
static bool still_recording(struct mapi_window *w)
{
    if (!w->recording || w->mode != MAPI_WINDOW_ON_DEMAND)
        return w->recording;
    int64_t now = now_mono(w);
    if (now - w->last_request >= MAPI_WINDOW_IDLE_NS)
        stop_recording(w, now);
    return w->recording;
}

void mapi_window_tick(struct mapi_window *w)
{
    if (w)
        (void)still_recording(w);
}

void window_note_request(struct mapi_window *w)
{
    (void)still_recording(w); /* an idle stop first: a late request finds an empty window */
    if (w->mode != MAPI_WINDOW_ON_DEMAND)
        return;
    w->last_request = now_mono(w);
    if (w->recording)
        return;
    w->recording = true;
    w->recordings_started++;
    log_info("model API window recording: a request to /api/v1/model/ came; it stops after 15 "
             "minutes without one (--model-api=on-demand)");
}

static struct wentity *entity(struct mapi_window *w, const char *key, int64_t ts)
{
    struct wentity *e = strmap_get(&w->entities, key);
    if (!e) {
        if (w->points > MAPI_WINDOW_MAX_POINTS) {
            w->warned = true;
            return NULL;
        }
        if (!(e = calloc(1, sizeof(*e))))
            return NULL;
        if (!strmap_put(&w->entities, key, e)) {
            free(e);
            return NULL;
        }
    }
    if (ts > e->seen_ns)
        e->seen_ns = ts;
    return e;
}

/* The series of metric in e. hint is just past the previous point's series, and a batch
 * gives an entity's metrics in the same order every cycle: it is usually the one there. */
static struct wseries *series_of(struct wentity *e, int metric, size_t *hint)
{
    size_t h = *hint;
    if (h < e->ns && e->s[h].metric == metric) {
        *hint = h + 1;
        return &e->s[h];
    }
    for (size_t i = 0; i < e->ns; i++)
        if (e->s[i].metric == metric) {
            *hint = i + 1;
            return &e->s[i];
        }
    return NULL;
}

static void add_point(struct mapi_window *w, struct wentity *e, int metric, int64_t ts, int64_t v,
                      size_t *hint)
{
    struct wseries *s = series_of(e, metric, hint);
    if (!s) {
        struct wseries *n = realloc(e->s, (e->ns + 1) * sizeof(*n));
        if (!n)
            return;
        e->s = n;
        s = &e->s[e->ns];
        memset(s, 0, sizeof(*s));
        int64_t span = long_metric(metric) ? LONG_NS : SHORT_NS;
        s->cap = (uint32_t)((double)span / 1e9 / w->resolution_s) + 2;
        if (!(s->p = calloc(s->cap, 8)))
            return;
        s->metric = (uint16_t)metric;
        s->base = ts;
        e->ns++;
        *hint = e->ns;
        w->points += s->cap;
        w->bytes += ring_bytes(s);
    }
    /* head < cap and n <= cap: a ring index is below 2 * cap, so one subtraction wraps it */
    uint32_t last = s->head + s->n - 1;
    if (last >= s->cap)
        last -= s->cap;
    if (s->n && wseries_ts_at(s, last) >= ts)
        return; /* time only moves forward */
    bool wide_ts = s->wide_ts || !ts_narrow(s, ts), wide_v = s->wide_v || !v_narrow(v);
    if (wide_ts != s->wide_ts || wide_v != s->wide_v) {
        size_t was = ring_bytes(s);
        if (widen(s, wide_ts, wide_v) < 0)
            return;
        w->bytes += ring_bytes(s) - was;
    }
    if (s->n == s->cap) {
        s->head = s->head + 1 == s->cap ? 0 : s->head + 1;
        s->n--;
        w->held--;
    }
    uint32_t end = s->head + s->n;
    if (end >= s->cap)
        end -= s->cap;
    put(s, end, ts, v);
    s->n++;
    w->held++;
}

/* The entity key of a series, or 0 when the model has no such entity. One pass over the
 * labels (a batch has a few hundred series of a dozen labels each): the first label of a
 * key counts, and an empty value is no value. */
static int key_of(const struct kp_series *se, char *out, size_t outlen)
{
    enum { L_TYPE, L_NS, L_POD, L_CTR, L_NODE, L_RES, L__N };
    static const char *const keys[L__N] = {"type",           "namespace_name", "pod_name",
                                           "container_name", "nodename",       "resource_id"};
    const char *v[L__N] = {0};
    unsigned seen = 0;
    for (uint8_t i = 0; i < se->nlabels; i++) {
        const char *k = se->labels[i].key;
        int id;
        switch (k[0]) {
        case 't': id = L_TYPE; break;
        case 'n': id = k[1] == 'a' ? L_NS : L_NODE; break;
        case 'p': id = L_POD; break;
        case 'c': id = L_CTR; break;
        case 'r': id = L_RES; break;
        default: continue;
        }
        if ((seen & (1u << id)) || strcmp(k, keys[id]) != 0)
            continue;
        seen |= 1u << id;
        const char *val = se->labels[i].value;
        v[id] = val && *val ? val : NULL;
    }
    const char *type = v[L_TYPE], *ns = v[L_NS], *pod = v[L_POD], *c = v[L_CTR];
    const char *node = v[L_NODE];
    if (!type || v[L_RES])
        return 0; /* filesystems: not in Heapster's model API */
    int n = -1;
    if (!strcmp(type, "cluster"))
        n = snprintf(out, outlen, "cluster");
    else if (!strcmp(type, "node") && node)
        n = snprintf(out, outlen, "n/%s", node);
    else if (!strcmp(type, "ns") && ns)
        n = snprintf(out, outlen, "ns/%s", ns);
    else if (!strcmp(type, "pod") && ns && pod)
        n = snprintf(out, outlen, "p/%s/%s", ns, pod);
    else if (!strcmp(type, "pod_container") && ns && pod && c)
        n = snprintf(out, outlen, "c/%s/%s/%s", ns, pod, c);
    return n > 0 && (size_t)n < outlen;
}

void mapi_window_add_batch(struct mapi_window *w, const struct kp_batch *b)
{
    if (!still_recording(w))
        return;
    char key[1024];
    int64_t newest = 0;
    struct wentity *cur = NULL;
    uint32_t cur_series = UINT32_MAX;
    size_t hint = 0;
    for (size_t i = 0; i < b->npoints; i++) {
        const struct kp_point *p = &b->points[i];
        if (p->series >= b->nseries)
            continue;
        if (p->series != cur_series) {
            cur_series = p->series;
            cur = key_of(&b->series[p->series], key, sizeof(key)) ? entity(w, key, p->ts_ns) : NULL;
            hint = 0;
        }
        if (!cur)
            continue;
        int64_t v = kp_metrics[p->metric].type == KP_VALUE_INT ? p->v.i : (int64_t)p->v.f;
        add_point(w, cur, p->metric, p->ts_ns, v, &hint);
        if (p->ts_ns > newest)
            newest = p->ts_ns;
    }
    /* entities gone for the long window are dropped, at most once a minute */
    if (newest - w->last_sweep > 60LL * 1000000000LL) {
        w->last_sweep = newest;
        struct sweep old = {w, newest - LONG_NS};
        strmap_remove_if(&w->entities, entity_stale, &old);
    }
}

bool mapi_window_recording(const struct mapi_window *w)
{
    return w->recording;
}

size_t mapi_window_points(const struct mapi_window *w)
{
    return w->held;
}

void mapi_window_get_stats(const struct mapi_window *w, struct mapi_window_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!w)
        return;
    st->recording = w->recording;
    st->points = w->held;
    st->slots = w->points;
    st->bytes = w->bytes;
    st->entities = w->entities.count;
    st->recordings_started = w->recordings_started;
}

#define W struct mapi_window_stats
const struct stat_desc mapi_window_stat_descs[] = {
    STAT_GAUGE_BOOL(W, recording, "kubepulse_model_api_recording",
                    "1 while Heapster's model API window (/api/v1/model/) records the leader's "
                    "batches (--model-api).",
                    "recording"),
    STAT_GAUGE_U64(W, points, "kubepulse_model_api_points", "Points the model API window holds.",
                   "points"),
    STAT_GAUGE_U64(W, bytes, "kubepulse_model_api_bytes",
                   "Bytes of the model API window's rings (room for the points of its span).",
                   "bytes"),
    STAT_GAUGE_U64(W, entities, "kubepulse_model_api_entities",
                   "Entities in the model API window: the cluster, nodes, namespaces, pods, "
                   "containers.",
                   "entities"),
    STAT_COUNTER_U64(W, recordings_started, "kubepulse_model_api_recordings_started_total",
                     "Times the model API window started recording (on demand: at a request "
                     "after an idle time).",
                     "recordingsStarted"),
};
#undef W
const size_t mapi_window_stat_ndescs = STAT_TABLE_LEN(mapi_window_stat_descs);
