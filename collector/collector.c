/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector.c - the collector of collector.h: the Node, Pod and Namespace
 * watches feeding the caches (leader or not, so a new leader scrapes at
 * once), leadership (a timer on the wall-clock resolution grid; every decision
 * about when a cycle starts is sched.c's), the clocks (injectable for tests),
 * and the collector's life cycle. The cycle itself is scrape.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector_int.h"
#include "kube.h"
#include "log.h"
#include "util.h"

static const char *const fail_names[COLLECTOR_FAIL__COUNT] = {
    "connect", "timeout", "tls", "http_status", "too_large", "malformed", "io", "no_address"};

const char *collector_fail_name(enum collector_fail f)
{
    return f < COLLECTOR_FAIL__COUNT ? fail_names[f] : "unknown";
}

/* ---- clocks and leadership ----------------------------------------------------- */

double collector_mono(const struct collector *c)
{
    return c->opts.clock.mono_now ? c->opts.clock.mono_now(c->opts.clock.ud) : kp_mono_now();
}

double collector_wall(const struct collector *c)
{
    return c->opts.clock.wall_now ? c->opts.clock.wall_now(c->opts.clock.ud) : ev_time();
}

/* Ask the schedule (sched.c) what is due now and do it. */
double collector_run_timers(struct collector *c)
{
    double stamp = 0;
    switch (sched_poll(&c->sched, collector_wall(c), collector_ready(c), &stamp)) {
    case SCHED_START: cycle_start(c, stamp); break;
    case SCHED_SKIP:
        c->st.cycles_skipped++;
        log_warn("scrape cycle still running at the next tick: skipping one",
                 LF_INT("in_flight", c->inflight));
        break;
    case SCHED_NONE: break;
    }
    return sched_next(&c->sched);
}

static void on_tick(struct ev_loop *loop, ev_periodic *w, int revents)
{
    (void)loop;
    (void)revents;
    collector_run_timers(w->data);
}

void collector_set_leading(struct collector *c, bool leading, double released)
{
    if (leading == c->sched.leading)
        return;
    if (!leading) {
        if (c->loop)
            ev_periodic_stop(c->loop, &c->tick);
        if (c->sched.in_cycle)
            log_info("scrape cycle cancelled: no longer leading", LF_INT("in_flight", c->inflight));
        cycle_abort(c);
        sched_stop(&c->sched);
        return;
    }
    double wall = collector_wall(c);
    sched_lead(&c->sched, wall, released);
    c->lead_since = collector_mono(c);
    c->first_logged = false;
    if (c->sched.first_tick > c->sched.tick)
        log_info("previous leader released the Lease: first cycle on the next tick",
                 LF_DBL("in_s", sched_next(&c->sched) - wall));
    else if (released >= 0)
        log_info("previous leader released the Lease in an earlier interval: this one is ours",
                 LF_DBL("released_s_ago", wall - released));
    /* ticks on multiples of the resolution, so a new leader continues the old one's grid */
    if (c->loop) {
        ev_periodic_set(&c->tick, 0., c->sched.res, 0);
        ev_periodic_start(c->loop, &c->tick);
    }
    collector_run_timers(c);
}

double collector_grid(double resolution_s, double wall)
{
    return sched_grid(resolution_s, wall);
}

bool collector_cycle_due(const struct collector *c)
{
    return sched_due(&c->sched, collector_wall(c));
}

/* ---- watches ----------------------------------------------------------------------- */

static void w_synced(struct collector *c)
{
    collector_run_timers(c); /* a term's first cycle may have waited for the caches */
}

static void wn_begin(void *ud)
{
    node_cache_list_begin(&((struct collector *)ud)->nodes);
}
static void wn_done(void *ud)
{
    node_cache_list_done(&((struct collector *)ud)->nodes);
    w_synced(ud);
}
static void wn_event(enum kube_event_type t, json_object *o, void *ud)
{
    node_cache_apply(&((struct collector *)ud)->nodes, t, o);
}
static void wp_begin(void *ud)
{
    pod_cache_list_begin(&((struct collector *)ud)->pods);
}
static void wp_done(void *ud)
{
    pod_cache_list_done(&((struct collector *)ud)->pods);
    w_synced(ud);
}
static void wp_event(enum kube_event_type t, json_object *o, void *ud)
{
    pod_cache_apply(&((struct collector *)ud)->pods, t, o);
}
static void wns_begin(void *ud)
{
    pod_cache_ns_list_begin(&((struct collector *)ud)->pods);
}
static void wns_done(void *ud)
{
    pod_cache_ns_list_done(&((struct collector *)ud)->pods);
    w_synced(ud);
}
static void wns_event(enum kube_event_type t, json_object *o, void *ud)
{
    pod_cache_apply_namespace(&((struct collector *)ud)->pods, t, o);
}
static void w_error(const struct kube_response *r, void *ud)
{
    (void)ud;
    log_v(1, "collector watch error", LF_INT("status", r->status), LF_ERR(r->error));
}

/* Objects per LIST page. json-c spends some 60 KiB per decoded Pod (a table per object), so
 * the page, not the cluster, sets the peak of a (re)list, and glibc keeps that peak resident
 * afterwards: 100 Pods are about 7 MiB, where 500 were 45 MiB in every replica; 50 take
 * 3-4 MiB off the peak RSS of a small cluster again (issue 20) for twice the LIST requests.
 * (Trimming the heap after a page would give it back, but malloc_trim walks every free
 * chunk: hundreds of milliseconds on a leader's fragmented heap, with the loop stalled.) */
#define LIST_PAGE 50

static int watches_start(struct collector *c, char *err, size_t errlen)
{
    static const struct kube_watch_handlers hn = {wn_begin, wn_done, wn_event, w_error};
    static const struct kube_watch_handlers hp = {wp_begin, wp_done, wp_event, w_error};
    static const struct kube_watch_handlers hns = {wns_begin, wns_done, wns_event, w_error};
    /* --node-selector: nodes outside it are never listed, so never cached nor scraped. */
    c->wn = kube_watch_start(c->kube,
                             &(struct kube_watch_opts){.path = "/api/v1/nodes",
                                                       .label_selector = c->opts.node_selector,
                                                       .list_page_size = LIST_PAGE},
                             &hn, c, err, errlen);
    if (!c->wn)
        return -1;
    c->wns = kube_watch_start(c->kube, &(struct kube_watch_opts){.path = "/api/v1/namespaces"},
                              &hns, c, err, errlen);
    if (!c->wns)
        return -1;
    if (c->opts.skip_pod_watch)
        return 0;
    c->wp = kube_watch_start(
        c->kube, &(struct kube_watch_opts){.path = "/api/v1/pods", .list_page_size = LIST_PAGE},
        &hp, c, err, errlen);
    return c->wp ? 0 : -1;
}

bool collector_in_cycle(const struct collector *c)
{
    return c->sched.in_cycle;
}

bool collector_ready(const struct collector *c)
{
    if (!c->kube)
        return true; /* tests without an API server */
    return kube_watch_synced(c->wn) && kube_watch_synced(c->wns) &&
           (!c->wp || kube_watch_synced(c->wp));
}

void collector_get_stats(const struct collector *c, struct collector_stats *out)
{
    *out = c->st;
    out->nodes_cached = c->nodes.nodes.count;
    out->pods_cached = c->pods.pods.count;
    out->rate_series = rates_count(c->rates);
}

/* ---- life cycle -------------------------------------------------------------------- */

static void opts_defaults(struct collector_opts *o)
{
    if (o->kubelet_port <= 0)
        o->kubelet_port = 10250;
    if (o->kubelet_timeout_s <= 0)
        o->kubelet_timeout_s = 10;
    if (o->max_body_bytes <= 0)
        o->max_body_bytes = 64LL << 20;
}

/* The label policy's own copy of opts' strings (opts are not used after collector_new). */
static int label_policy_copy(struct collector *c, const struct collector_opts *o)
{
    size_t n = 1 + o->nignore_labels + o->nstore_labels;
    if (!(c->label_strs = calloc(n, sizeof(*c->label_strs))))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *src = i == 0                   ? (o->label_separator ? o->label_separator : ",")
                          : i <= o->nignore_labels ? o->ignore_labels[i - 1]
                                                   : o->store_labels[i - 1 - o->nignore_labels];
        if (!(c->label_strs[i] = strdup(src)))
            return -1;
        c->nlabel_strs++;
    }
    c->labels.separator = c->label_strs[0];
    c->labels.ignore = (const char *const *)c->label_strs + 1;
    c->labels.nignore = o->nignore_labels;
    c->labels.store = (const char *const *)c->label_strs + 1 + o->nignore_labels;
    c->labels.nstore = o->nstore_labels;
    return 0;
}

struct collector *collector_new(struct ev_loop *loop, struct http_client *http,
                                struct kube_client *kube, const struct collector_opts *opts,
                                const struct collector_sink *sink, char *err, size_t errlen)
{
    if (!(opts->resolution_s > 0)) {
        snprintf(err, errlen, "the metric resolution must be positive");
        return NULL;
    }
    struct collector *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->http = http;
    c->kube = kube;
    c->opts = *opts;
    opts_defaults(&c->opts);
    sched_init(&c->sched, c->opts.resolution_s);
    ev_periodic_init(&c->tick, on_tick, 0., c->opts.resolution_s, 0);
    c->tick.data = c;
    if (sink)
        c->sink = *sink;
    pod_cache_init(&c->pods);
    if (label_policy_copy(c, opts) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    c->pods.lp = &c->labels;
    if (node_cache_init(&c->nodes, opts->preferred_address_types, err, errlen) < 0 ||
        kubelet_auth_init(&c->auth, kube, opts->kubelet_token_file, opts->kubelet_ca_file,
                          opts->kubelet_insecure_tls, err, errlen) < 0)
        goto fail;
    c->nodes.lp = &c->labels;
    c->scheme = strdup(opts->kubelet_scheme ? opts->kubelet_scheme : "https");
    c->rates = rates_new();
    c->model = c->rates ? model_new(c->rates, pod_cache_lookup, &c->pods) : NULL;
    if (scope_init(&c->scope, opts->metric_allow, opts->metric_deny, opts->namespace_include,
                   opts->namespace_exclude, err, errlen) < 0)
        goto fail;
    if (c->model)
        model_set_scope(c->model, &c->scope);
    kp_hist_init(&c->st.cycle_duration, KP_HIST_CYCLE_S, KP_HIST_CYCLE_N);
    kp_hist_init(&c->st.scrape_duration, KP_HIST_REQUEST_S, KP_HIST_REQUEST_N);
    /* slots are cheap until used: their parser and buffers come on first use */
    c->nslots = opts->max_concurrency > 0 ? (size_t)opts->max_concurrency : 1024;
    c->slots = calloc(c->nslots, sizeof(*c->slots));
    if (!c->scheme || !c->model || !c->slots) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < c->nslots; i++)
        c->slots[i].c = c;
    if (c->opts.kubelet_insecure_tls)
        log_warn("--kubelet-insecure-tls: kubelet certificates are NOT verified");
    if (kube && watches_start(c, err, errlen) < 0)
        goto fail;
    return c;
fail:
    collector_free(c);
    return NULL;
}

void collector_free(struct collector *c)
{
    if (!c)
        return;
    if (c->loop)
        ev_periodic_stop(c->loop, &c->tick);
    cycle_abort(c);
    kube_watch_stop(c->wn);
    kube_watch_stop(c->wp);
    kube_watch_stop(c->wns);
    for (size_t i = 0; c->slots && i < c->nslots; i++) {
        model_node_free(c->slots[i].mn);
        summary_parser_free(c->slots[i].parser);
    }
    free(c->slots);
    model_free(c->model);
    scope_fini(&c->scope);
    rates_free(c->rates);
    node_cache_fini(&c->nodes);
    for (size_t i = 0; i < c->nlabel_strs; i++)
        free(c->label_strs[i]);
    free(c->label_strs);
    pod_cache_fini(&c->pods);
    kubelet_auth_fini(&c->auth);
    free(c->scheme);
    free(c);
}
