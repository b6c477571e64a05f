/* SPDX-License-Identifier: Apache-2.0 */
/*
 * model.c - Summary elements to Heapster series and points (model.h).
 *
 * Per node, each Summary element's series are built in the model's reusable
 * batch (struct model_batch: arrays and a chunked string arena, flat, nothing
 * freed between cycles) and handed over as soon as the element is decoded: the
 * system containers with the "node" element, each pod with its containers,
 * filesystems and volumes with its element of "pods", the node itself (whose
 * requests sum all its pods') when the response completed. A batch's labels
 * borrow the decoded element's and the pod cache's strings for the emit call
 * and the node's own, copied at model_node_begin for the whole scrape.
 * Heapster's rules, checked against its processors:
 *  - rates: rate_calculator (cpu in integer millicores, others float per s);
 *  - pod = its own Summary values where present, else the sum of its
 *    containers' non-cumulative metrics (pod_aggregator's requireAggregate);
 *  - requests/limits per container from the pod spec, pods sum them
 *    (pod_based_enricher), nodes sum their scraped pods' (node_aggregator);
 *  - ns sums pods, cluster sums ns, for cpu/usage_rate, memory/usage and the
 *    four requests/limits (namespace_aggregator, cluster_aggregator);
 *  - node utilization = usage_rate / allocatable cpu, memory/usage /
 *    allocatable memory; reservation = requests / allocatable
 *    (node_autoscaling_enricher);
 *  - every point of a cycle carries the cycle's grid time, as Heapster stamped
 *    every point of a batch with its timestamp (so a dashboard bucket holds one
 *    point per series); rates and uptime come from the kubelets' sample times.
 */
#include "model_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "rates.h"
#include "scope.h"
#include "util.h"

_Static_assert(MN_CHUNK >= CACHE_MAX_LABELS_STR, "a node's labels must fit an arena chunk");

/* ---- values of one series -------------------------------------------------- */

void vals_reset(struct model_vals *v, int64_t ts)
{
    v->has = 0;
    v->ts_ns = v->sampled_ns = ts;
}

void vals_set_i(struct model_vals *v, int id, int64_t x)
{
    v->has |= 1ULL << id;
    v->v[id].i = x;
}

void vals_set_f(struct model_vals *v, int id, double x)
{
    if (!isfinite(x))
        return; /* never emit NaN or infinity */
    v->has |= 1ULL << id;
    v->v[id].f = x;
}

static int64_t u2i(uint64_t x)
{
    return x > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)x;
}

int64_t stats_ts(const struct summary_stats *st, int64_t fallback)
{
    /* Heapster's getScrapeTime: cpu, else memory, else network time */
    for (int g = 0; g < SG__COUNT; g++)
        if (st->ts_ns[g])
            return st->ts_ns[g];
    return fallback;
}

void vals_from_stats(struct model_vals *v, const struct summary_stats *st, const struct rate_out *r)
{
    static const struct {
        uint8_t sv, metric, rate_metric;
    } map[] = {
        {SV_CPU_USAGE, KP_M_CPU_USAGE, KP_M_CPU_USAGE_RATE},
        {SV_MEM_USAGE, KP_M_MEM_USAGE, 0},
        {SV_MEM_WORKING_SET, KP_M_MEM_WORKING_SET, 0},
        {SV_MEM_RSS, KP_M_MEM_RSS, 0},
        {SV_MEM_PAGE_FAULTS, KP_M_MEM_PAGE_FAULTS, KP_M_MEM_PAGE_FAULTS_RATE},
        {SV_MEM_MAJOR_PAGE_FAULTS, KP_M_MEM_MAJOR_PAGE_FAULTS, KP_M_MEM_MAJOR_PAGE_FAULTS_RATE},
        {SV_NET_RX, KP_M_NET_RX, KP_M_NET_RX_RATE},
        {SV_NET_RX_ERRORS, KP_M_NET_RX_ERRORS, KP_M_NET_RX_ERRORS_RATE},
        {SV_NET_TX, KP_M_NET_TX, KP_M_NET_TX_RATE},
        {SV_NET_TX_ERRORS, KP_M_NET_TX_ERRORS, KP_M_NET_TX_ERRORS_RATE},
    };
    /* uptime from the kubelet's sample time, not from the cycle's stamp */
    v->sampled_ns = stats_ts(st, v->ts_ns);
    if (st->start_ns && v->sampled_ns >= st->start_ns)
        vals_set_i(v, KP_M_UPTIME, (v->sampled_ns - st->start_ns) / 1000000);
    for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
        if (!(st->has & (1u << map[k].sv)))
            continue;
        vals_set_i(v, map[k].metric, u2i(st->v[map[k].sv]));
        if (!r || !(r->has & (1u << map[k].sv)))
            continue;
        if (map[k].sv == SV_CPU_USAGE)
            vals_set_i(v, KP_M_CPU_USAGE_RATE, r->cpu_millicores);
        else
            vals_set_f(v, map[k].rate_metric, r->per_s[map[k].sv]);
    }
}

/* ---- the per-node buffers ------------------------------------------------ */

/* NULL for NULL or "": the labels' and the namespace sums' "absent". */
static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

/* len bytes in the batch's string arena, or NULL (len > MN_CHUNK, out of memory). */
static char *mn_alloc(struct model_node *mn, size_t len)
{
    struct model_batch *b = &mn->m->batch;
    if (len > MN_CHUNK)
        return NULL; /* every string here is bounded far below a chunk */
    struct mn_chunk *c = b->cur;
    if (!c || c->used + len > MN_CHUNK) {
        struct mn_chunk *next = c ? c->next : b->chunks;
        if (!next) {
            next = malloc(sizeof(*next) + MN_CHUNK);
            if (!next)
                return NULL;
            next->next = NULL;
            if (c)
                c->next = next;
            else
                b->chunks = next;
        }
        next->used = 0;
        c = b->cur = next;
    }
    char *p = c->data + c->used;
    c->used += len;
    return p;
}

const char *mn_strdup(struct model_node *mn, const char *s)
{
    if (!s || !*s)
        return NULL;
    size_t len = strlen(s) + 1;
    char *p = mn_alloc(mn, len);
    return p ? memcpy(p, s, len) : NULL;
}

/* prefix and s, concatenated, in the arena (a volume's "Volume:NAME" without snprintf). */
static const char *mn_strdup_prefixed(struct model_node *mn, const char *prefix, const char *s)
{
    size_t lp = strlen(prefix), ls = strlen(s);
    char *p = mn_alloc(mn, lp + ls + 1);
    if (!p)
        return NULL;
    memcpy(p, prefix, lp);
    memcpy(p + lp, s, ls + 1);
    return p;
}

void model_batch_fini(struct model_batch *b)
{
    for (struct mn_chunk *c = b->chunks, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(b->series);
    free(b->sampled);
    free(b->points);
    memset(b, 0, sizeof(*b));
}

/* A label key (at most 317 bytes) or value (63) of a stored label. */
#define STORED_PART_MAX 512

/* A copy of n bytes of s in the node's arena. */
static const char *mn_strndup(struct model_node *mn, const char *s, size_t n)
{
    char buf[STORED_PART_MAX + 1];
    if (n > STORED_PART_MAX)
        return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return mn_strdup(mn, buf);
}

/* --store_label tags after Heapster's own, as far as the series has room; stored is
 * "k\x1fv\x1ek\x1fv" (CACHE_STORED_KV, CACHE_STORED_SEP in cache.h). */
static void add_stored(struct model_node *mn, struct kp_series *s, const char *stored)
{
    while (*stored && s->nlabels < KP_MAX_LABELS) {
        size_t len = strcspn(stored, "\x1e"), klen = strcspn(stored, "\x1f");
        if (klen < len) {
            const char *k = mn_strndup(mn, stored, klen);
            const char *v = mn_strndup(mn, stored + klen + 1, len - klen - 1);
            if (k && v) {
                /* in key order, as Heapster's own: InfluxDB reads sorted tags fastest */
                unsigned at = s->nlabels++;
                while (at > 0 && strcmp(s->labels[at - 1].key, k) > 0) {
                    s->labels[at] = s->labels[at - 1];
                    at--;
                }
                s->labels[at].key = k;
                s->labels[at].value = v;
            }
        }
        stored += len + (stored[len] ? 1 : 0);
    }
}

/* Append one series (labels in key order, NULL/empty omitted) and its points. */
void mn_flush(struct model_node *mn, const struct model_labels *l, const struct model_vals *v)
{
    uint64_t has = v->has & mn->m->metrics; /* the scope's metrics only */
    if (!has)
        return;
    const char *kv[][2] = {
        {"container_base_image", l->container_base_image},
        {"container_name", l->container_name},
        {"host_id", l->host_id},
        {"hostname", l->hostname},
        {"labels", l->labels},
        {"namespace_id", l->namespace_id},
        {"namespace_name", l->namespace_name},
        {"nodename", l->nodename},
        {"pod_id", l->pod_id},
        {"pod_name", l->pod_name},
        {"resource_id", l->resource_id},
        {"type", l->type},
    };
    /* The model keeps these for good, one batch's worth (the largest of a node's system
     * containers, pods and the node itself: ~10 series of 264 bytes and ~100 points of 24
     * for a pod of two containers), grown by a quarter, not doubled. */
    struct model_batch *b = &mn->m->batch;
    size_t ns = b->nseries + 1, np = b->npoints + KP_M__COUNT;
    if (kp_grow_by((void **)&b->series, &b->scap, ns, sizeof(*b->series), 16, 2) < 0 ||
        kp_grow_by((void **)&b->sampled, &b->sacap, ns, sizeof(*b->sampled), 16, 2) < 0 ||
        kp_grow_by((void **)&b->points, &b->pcap, np, sizeof(*b->points), 64, 2) < 0) {
        b->oom = 1;
        return;
    }
    struct kp_series *s = &b->series[b->nseries];
    s->nlabels = 0;
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (kv[i][1] && *kv[i][1]) {
            s->labels[s->nlabels].key = kv[i][0];
            s->labels[s->nlabels].value = kv[i][1];
            s->nlabels++;
        }
    }
    if (l->stored)
        add_stored(mn, s, l->stored);
    for (uint64_t left = has; left; left &= left - 1) { /* the set bits, in ascending order */
        int id = __builtin_ctzll(left);
        struct kp_point *p = &b->points[b->npoints++];
        p->series = (uint32_t)b->nseries;
        p->metric = (uint16_t)id;
        if (kp_metrics[id].type == KP_VALUE_INT)
            p->v.i = v->v[id].i;
        else
            p->v.f = v->v[id].f;
        p->ts_ns = v->ts_ns;
    }
    b->sampled[b->nseries++] = v->sampled_ns;
}

void mn_flush_fs(struct model_node *mn, struct model_labels l, const char *resource_id,
                 const struct summary_fs *fs, int64_t ts)
{
    static const uint8_t ids[SF__COUNT] = {KP_M_FS_AVAILABLE, KP_M_FS_LIMIT, KP_M_FS_USAGE,
                                           KP_M_FS_INODES, KP_M_FS_INODES_FREE};
    struct model_vals v;
    if (!fs->has)
        return;
    vals_reset(&v, ts); /* Heapster stamps labeled metrics with their set's time */
    for (int i = 0; i < SF__COUNT; i++)
        if (fs->has & (1u << i))
            vals_set_i(&v, ids[i], u2i(fs->v[i]));
    l.resource_id = resource_id;
    mn_flush(mn, &l, &v);
}

/* ---- public -------------------------------------------------------------- */

struct model_node *model_node_new(struct model *m, model_emit_fn emit, void *ud)
{
    struct model_node *mn = calloc(1, sizeof(*mn));
    if (mn) {
        mn->m = m;
        mn->emit = emit;
        mn->emit_ud = ud;
    }
    return mn;
}

void model_node_free(struct model_node *mn)
{
    if (!mn)
        return;
    free(mn->strs);
    free(mn->seen);
    free(mn);
}

/* Slots of the pods-seen table a slot keeps between responses; a larger one (a kubelet that
 * answered with more pods than any node runs) is given back. */
#define SEEN_KEEP 1024

/* Whether this response already had a pod whose uid hashes (kp_hash) to h; else remembers it. */
static bool mn_pod_seen(struct model_node *mn, uint64_t h)
{
    h += !h; /* 0 marks an empty slot */
    if (2 * (mn->nseen + 1) > mn->seencap) {
        size_t cap = mn->seencap ? 2 * mn->seencap : 64;
        uint64_t *t = calloc(cap, sizeof(*t));
        if (!t)
            return false; /* written again if it comes again: no worse than not knowing */
        for (size_t i = 0; i < mn->seencap; i++) {
            if (!mn->seen[i])
                continue;
            size_t j = mn->seen[i] & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = mn->seen[i];
        }
        free(mn->seen);
        mn->seen = t;
        mn->seencap = cap;
    }
    size_t j = h & (mn->seencap - 1);
    for (; mn->seen[j]; j = (j + 1) & (mn->seencap - 1))
        if (mn->seen[j] == h)
            return true;
    mn->seen[j] = h;
    mn->nseen++;
    return false;
}

/* Copy the node's strings (those of the node cache may change during the scrape) into
 * mn->strs; each NULL when absent, empty or longer than an arena chunk (as mn_strdup). */
static void node_strings(struct model_node *mn, const char *const *src, const char **dst, int n)
{
    size_t len[5], total = 0;
    for (int i = 0; i < n; i++) {
        len[i] = src[i] && *src[i] ? strlen(src[i]) + 1 : 0;
        if (len[i] > MN_CHUNK)
            len[i] = 0;
        total += len[i];
    }
    if (kp_grow((void **)&mn->strs, &mn->strs_cap, total ? total : 1, 1, 256) < 0)
        total = 0;
    char *p = mn->strs;
    for (int i = 0; i < n; i++) {
        dst[i] = total && len[i] ? memcpy(p, src[i], len[i]) : NULL;
        p += total ? len[i] : 0;
    }
}

void model_node_begin(struct model_node *mn, const struct model_node_info *ni)
{
    mn->emitted = 0;
    mn->have_node = 0;
    if (mn->seencap > SEEN_KEEP) {
        free(mn->seen);
        mn->seen = NULL;
        mn->seencap = 0;
    } else if (mn->nseen) {
        memset(mn->seen, 0, mn->seencap * sizeof(*mn->seen));
    }
    mn->nseen = 0;
    mn->info = *ni;
    const char *src[5] = {ni->name, ni->hostname ? ni->hostname : ni->name, ni->host_id, ni->labels,
                          ni->stored};
    const char *dst[5];
    node_strings(mn, src, dst, 5);
    mn->info.name = dst[0];
    mn->info.hostname = dst[1];
    mn->info.host_id = dst[2];
    mn->info.labels = dst[3];
    mn->info.stored = dst[4];
    memset(mn->req, 0, sizeof(mn->req));
    mn->base = (struct model_labels){
        .nodename = mn->info.name, .hostname = mn->info.hostname, .host_id = mn->info.host_id};
}

/* Hand the batch built so far over (unless it lost a series to a failed allocation: a pod
 * is written whole or not at all) and empty it, and its strings, for the next. Returns 0
 * when the batch was emitted (or empty), -1 when it was dropped. */
static int mn_emit(struct model_node *mn)
{
    struct model_batch *mb = &mn->m->batch;
    int rc = mb->oom ? -1 : 0;
    if (!mb->oom && mb->npoints) {
        struct kp_batch b = {.series = mb->series,
                             .nseries = mb->nseries,
                             .points = mb->points,
                             .npoints = mb->npoints,
                             .sampled_ns = mb->sampled};
        if (mn->emit)
            mn->emit(&b, mn->emit_ud);
        mn->emitted += b.npoints;
    }
    mb->nseries = mb->npoints = 0;
    mb->oom = 0;
    mb->cur = NULL;
    return rc;
}

/* Heapster's legacy names for the Summary's system containers. */
static const char *sys_name(const char *n)
{
    if (strcmp(n, "runtime") == 0)
        return "docker-daemon";
    if (strcmp(n, "misc") == 0)
        return "system";
    return n;
}

int model_node_on_node(const struct summary_node *n, void *ud)
{
    struct model_node *mn = ud;
    struct model *m = mn->m;
    struct rate_out r;
    char key[SUMMARY_MAX_NAME * 2 + 8];

    if (mn->have_node)
        return 0; /* a second "node" element: the first wins, as a pod's first copy does */
    mn->have_node = 1;
    mn->node_fs = n->fs;
    mn->node_stats = n->st;
    snprintf(key, sizeof(key), "n/%s", mn->info.name ? mn->info.name : "");
    if (rates_update(m->rates, key, &n->st, m->cycle, &mn->node_rate) < 0)
        memset(&mn->node_rate, 0, sizeof(mn->node_rate));
    for (size_t i = 0; i < n->nsys; i++) {
        const struct summary_container *c = &n->sys[i];
        struct model_vals v;
        struct model_labels l = mn->base;
        snprintf(key, sizeof(key), "s/%s/%s", mn->info.name ? mn->info.name : "", c->name);
        if (rates_update(m->rates, key, &c->st, m->cycle, &r) < 0)
            memset(&r, 0, sizeof(r));
        vals_reset(&v, m->cycle_ts);
        vals_from_stats(&v, &c->st, &r);
        l.type = "sys_container";
        l.container_name = sys_name(c->name);
        mn_flush(mn, &l, &v);
        mn_flush_fs(mn, l, "/", &c->rootfs, v.ts_ns);
        mn_flush_fs(mn, l, "logs", &c->logs, v.ts_ns);
    }
    mn_emit(mn);
    return 0;
}

/* ---- pods and containers ------------------------------------------------- */

static const struct model_pod_container *pod_container(const struct model_pod_info *pi,
                                                       const char *name)
{
    for (size_t i = 0; pi && i < pi->ncontainers; i++)
        if (pi->containers[i].name && strcmp(pi->containers[i].name, name) == 0)
            return &pi->containers[i];
    return NULL;
}

/* Add a container's non-cumulative values into the pod sum (pod_aggregator). */
static void vals_add_gauges(struct model_vals *sum, const struct model_vals *v)
{
    for (int id = 0; id < KP_M__COUNT; id++) {
        if (!(v->has & (1ULL << id)) || kp_metrics[id].kind != KP_KIND_GAUGE)
            continue;
        int first = !(sum->has & (1ULL << id));
        sum->has |= 1ULL << id;
        if (kp_metrics[id].type == KP_VALUE_INT)
            sum->v[id].i = sat_add(first ? 0 : sum->v[id].i, v->v[id].i);
        else
            sum->v[id].f = (first ? 0 : sum->v[id].f) + v->v[id].f;
    }
}

/* The rate keys of a pod (uid, NUL, "p") and of its containers (uid, NUL, "c", name), hashed
 * from the uid's hash without being assembled: a uid has no NUL, so neither key is ever a
 * node's ("n/NAME") or a system container's ("s/NODE/NAME"), nor the other's. */
static uint64_t pod_rate_key(uint64_t uid_hash)
{
    return kp_hash_more(uid_hash, "\0p", 2);
}

static uint64_t container_rate_key(uint64_t uid_hash, const char *name)
{
    return kp_hash_more(kp_hash_more(uid_hash, "\0c", 2), name, strlen(name));
}

static void pod_container_emit(struct model_node *mn, uint64_t rate_key,
                               const struct summary_container *c, const struct model_pod_info *pi,
                               struct model_labels l, struct model_vals *sum)
{
    struct model *m = mn->m;
    struct rate_out r;
    struct model_vals v;
    if (rates_update_hash(m->rates, rate_key, &c->st, m->cycle, &r) < 0)
        memset(&r, 0, sizeof(r));
    vals_reset(&v, m->cycle_ts);
    vals_from_stats(&v, &c->st, &r);
    const struct model_pod_container *pc = pod_container(pi, c->name);
    if (pc) {
        vals_set_i(&v, KP_M_CPU_REQUEST, pc->cpu_request_m);
        vals_set_i(&v, KP_M_CPU_LIMIT, pc->cpu_limit_m);
        vals_set_i(&v, KP_M_MEM_REQUEST, pc->mem_request);
        vals_set_i(&v, KP_M_MEM_LIMIT, pc->mem_limit);
        l.container_base_image = nz(pc->image);
    }
    l.type = "pod_container";
    l.container_name = c->name;
    mn_flush(mn, &l, &v);
    mn_flush_fs(mn, l, "/", &c->rootfs, v.ts_ns);
    mn_flush_fs(mn, l, "logs", &c->logs, v.ts_ns);
    vals_add_gauges(sum, &v);
}

/* An emitted pod's values count in its namespace's sums (namespace_aggregator). */
static void pod_ns_add(struct model_node *mn, const struct model_labels *l,
                       const struct model_vals *v)
{
    if (!l->namespace_name)
        return;
    struct ns_add a = {.ns = l->namespace_name, .ns_uid = l->namespace_id};
    for (int k = 0; k < AGG__N; k++) {
        if (v->has & (1ULL << model_agg_metric[k])) {
            a.v[k] = v->v[model_agg_metric[k]].i;
            a.has |= (uint8_t)(1u << k);
        }
    }
    model_ns_apply(mn->m, &a, 1);
}

/* A scraped pod's requests and limits count in its node's (node_aggregator). */
static void node_requests_add(struct model_node *mn, const struct model_pod_info *pi)
{
    if (!pi)
        return;
    mn->req[0] = sat_add(mn->req[0], pi->cpu_request_m);
    mn->req[1] = sat_add(mn->req[1], pi->cpu_limit_m);
    mn->req[2] = sat_add(mn->req[2], pi->mem_request);
    mn->req[3] = sat_add(mn->req[3], pi->mem_limit);
}

int model_node_on_pod(const struct summary_pod *p, void *ud)
{
    struct model_node *mn = ud;
    struct model *m = mn->m;
    struct rate_out r;
    struct model_vals pv, sum;

    if (!p->uid[0] || !p->name[0] || !p->ns[0])
        return 0; /* no identity: cannot be labelled or rated */
    uint64_t uid_hash = kp_hash(p->uid, strlen(p->uid));
    if (mn_pod_seen(mn, uid_hash))
        return 0; /* a copy (a body repeating its elements): written and summed once */
    /* the rate keys first, their slots prefetched: the misses overlap each other's and the
     * pod cache's */
    uint64_t pod_key = pod_rate_key(uid_hash), ckey[SUMMARY_MAX_CONTAINERS];
    size_t nc = p->ncontainers < SUMMARY_MAX_CONTAINERS ? p->ncontainers : SUMMARY_MAX_CONTAINERS;
    rates_prefetch(m->rates, pod_key);
    for (size_t i = 0; i < nc; i++) {
        ckey[i] = container_rate_key(uid_hash, p->containers[i].name);
        rates_prefetch(m->rates, ckey[i]);
    }
    const struct model_pod_info *pi =
        m->lookup ? m->lookup(p->uid, p->ns, p->name, m->lookup_ud) : NULL;
    if (!scope_namespace(m->scope, p->ns)) {
        node_requests_add(mn, pi); /* the node's own figures stay whole */
        return 0;
    }
    /* the element's and the pod cache's strings outlive the batch: it is emitted below */
    struct model_labels l = mn->base;
    l.pod_id = p->uid;
    l.pod_name = p->name;
    l.namespace_name = p->ns;
    if (pi) {
        l.namespace_id = nz(pi->namespace_uid);
        l.labels = nz(pi->labels);
        l.stored = nz(pi->stored);
    }
    vals_reset(&sum, 0);
    for (size_t i = 0; i < nc; i++)
        pod_container_emit(mn, ckey[i], &p->containers[i], pi, l, &sum);

    if (rates_update_hash(m->rates, pod_key, &p->st, m->cycle, &r) < 0)
        memset(&r, 0, sizeof(r));
    vals_reset(&pv, m->cycle_ts);
    vals_from_stats(&pv, &p->st, &r);
    /* pod-level Summary values win; the rest is the sum of the containers */
    for (int id = 0; id < KP_M__COUNT; id++) {
        if ((sum.has & (1ULL << id)) && !(pv.has & (1ULL << id))) {
            pv.has |= 1ULL << id;
            pv.v[id] = sum.v[id];
        }
    }
    if (pi) {
        vals_set_i(&pv, KP_M_CPU_REQUEST, pi->cpu_request_m);
        vals_set_i(&pv, KP_M_CPU_LIMIT, pi->cpu_limit_m);
        vals_set_i(&pv, KP_M_MEM_REQUEST, pi->mem_request);
        vals_set_i(&pv, KP_M_MEM_LIMIT, pi->mem_limit);
        node_requests_add(mn, pi);
    }
    if (p->has_ephemeral)
        vals_set_i(&pv, KP_M_EPHEMERAL_STORAGE_USAGE, u2i(p->ephemeral_used));
    l.type = "pod";
    mn_flush(mn, &l, &pv);
    for (size_t i = 0; i < p->nvolumes; i++)
        mn_flush_fs(mn, l, mn_strdup_prefixed(mn, "Volume:", p->volumes[i].name), &p->volumes[i],
                    pv.ts_ns);
    if (mn_emit(mn) == 0)
        pod_ns_add(mn, &l, &pv);
    return 0;
}

/* ---- the node itself: its last batch --------------------------------------- */

static void node_emit(struct model_node *mn)
{
    const struct model_node_info *ni = &mn->info;
    struct model_vals v;
    struct model_labels l = mn->base;

    vals_reset(&v, mn->m->cycle_ts);
    vals_from_stats(&v, &mn->node_stats, &mn->node_rate);
    vals_set_i(&v, KP_M_CPU_REQUEST, mn->req[0]);
    vals_set_i(&v, KP_M_CPU_LIMIT, mn->req[1]);
    vals_set_i(&v, KP_M_MEM_REQUEST, mn->req[2]);
    vals_set_i(&v, KP_M_MEM_LIMIT, mn->req[3]);
    if (ni->cpu_capacity_m >= 0)
        vals_set_f(&v, KP_M_CPU_NODE_CAPACITY, (double)ni->cpu_capacity_m);
    if (ni->mem_capacity >= 0)
        vals_set_f(&v, KP_M_MEM_NODE_CAPACITY, (double)ni->mem_capacity);
    if (ni->cpu_allocatable_m >= 0)
        vals_set_f(&v, KP_M_CPU_NODE_ALLOCATABLE, (double)ni->cpu_allocatable_m);
    if (ni->mem_allocatable >= 0)
        vals_set_f(&v, KP_M_MEM_NODE_ALLOCATABLE, (double)ni->mem_allocatable);
    if (ni->cpu_allocatable_m > 0) {
        double a = (double)ni->cpu_allocatable_m;
        if (v.has & (1ULL << KP_M_CPU_USAGE_RATE))
            vals_set_f(&v, KP_M_CPU_NODE_UTILIZATION, (double)v.v[KP_M_CPU_USAGE_RATE].i / a);
        vals_set_f(&v, KP_M_CPU_NODE_RESERVATION, (double)mn->req[0] / a);
    }
    if (ni->mem_allocatable > 0) {
        double a = (double)ni->mem_allocatable;
        if (v.has & (1ULL << KP_M_MEM_USAGE))
            vals_set_f(&v, KP_M_MEM_NODE_UTILIZATION, (double)v.v[KP_M_MEM_USAGE].i / a);
        vals_set_f(&v, KP_M_MEM_NODE_RESERVATION, (double)mn->req[2] / a);
    }
    l.type = "node";
    l.labels = ni->labels;
    l.stored = ni->stored;
    mn_flush(mn, &l, &v);
    mn_flush_fs(mn, l, "/", &mn->node_fs, v.ts_ns);
}

size_t model_node_finish(struct model_node *mn)
{
    if (mn->have_node) {
        node_emit(mn);
        mn_emit(mn);
    }
    return mn->emitted;
}
