/*
 * collector.c - the collector of collector.h: the Node, Pod and Namespace
 * watches feeding the caches (leader or not, so a new leader scrapes at
 * once), leadership (the cycle timer on the wall-clock resolution grid), and
 * the collector's life cycle. The cycle itself is scrape.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector_int.h"
#include "kube.h"
#include "log.h"

static const char *const fail_names[COLLECTOR_FAIL__COUNT] = {
    "connect", "timeout", "tls", "http_status", "too_large", "malformed", "io", "no_address"};

const char *collector_fail_name(enum collector_fail f)
{
    return f < COLLECTOR_FAIL__COUNT ? fail_names[f] : "unknown";
}

/* ---- leadership ----------------------------------------------------------------- */

/* The first cycle of a term starts as soon as the caches are synced and at
 * most 1 s after leading began; when the next grid tick is closer, the tick
 * is that first cycle. */
static void maybe_first_cycle(struct collector *c)
{
    if (!c->leading || !c->first_pending || c->in_cycle || !collector_ready(c))
        return;
    double res = c->opts.resolution_s, now = ev_now(c->loop);
    double next = (floor(now / res) + 1) * res;
    if (next - now > 1.0)
        cycle_start(c, now);
}

static void on_tick(struct ev_loop *loop, ev_periodic *w, int revents)
{
    (void)loop;
    (void)revents;
    struct collector *c = w->data;
    cycle_start(c, ev_now(c->loop));
}

void collector_set_leading(struct collector *c, bool leading)
{
    if (leading == c->leading)
        return;
    c->leading = leading;
    if (!leading) {
        ev_periodic_stop(c->loop, &c->tick);
        c->first_pending = false;
        if (c->in_cycle)
            log_info("scrape cycle cancelled: no longer leading", LF_INT("in_flight", c->inflight));
        cycle_abort(c);
        return;
    }
    /* ticks on multiples of the resolution, so a new leader continues the
     * old one's grid */
    ev_periodic_set(&c->tick, 0., c->opts.resolution_s, 0);
    ev_periodic_start(c->loop, &c->tick);
    c->lead_since = collector_mono_now();
    c->first_pending = true;
    ev_now_update(c->loop);
    maybe_first_cycle(c);
}

/* ---- watches ----------------------------------------------------------------------- */

static void w_synced(struct collector *c)
{
    maybe_first_cycle(c);
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
    log_v(1, "collector watch error", LF_INT("status", r->status), LF_STR("error", r->error));
}

/* Objects per LIST page. json-c spends some 60 KiB per decoded Pod (a table per object), so
 * the page, not the cluster, sets the peak of a (re)list, and glibc keeps that peak resident
 * afterwards: 100 Pods are about 7 MiB, where 500 were 45 MiB in every replica. (Trimming the
 * heap after a page would give it back, but malloc_trim walks every free chunk: hundreds of
 * milliseconds on a leader's fragmented heap, with the loop stalled.) */
#define LIST_PAGE 100

static int watches_start(struct collector *c, char *err, size_t errlen)
{
    static const struct kube_watch_handlers hn = {wn_begin, wn_done, wn_event, w_error};
    static const struct kube_watch_handlers hp = {wp_begin, wp_done, wp_event, w_error};
    static const struct kube_watch_handlers hns = {wns_begin, wns_done, wns_event, w_error};
    c->wn = kube_watch_start(
        c->kube, &(struct kube_watch_opts){.path = "/api/v1/nodes", .list_page_size = LIST_PAGE},
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
    return c->in_cycle;
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
    if (o->resolution_s <= 0)
        o->resolution_s = 60;
    if (o->kubelet_port <= 0)
        o->kubelet_port = 10250;
    if (o->kubelet_timeout_s <= 0)
        o->kubelet_timeout_s = 10;
    if (o->max_body_bytes <= 0)
        o->max_body_bytes = 64LL << 20;
}

struct collector *collector_new(struct ev_loop *loop, struct http_client *http,
                                struct kube_client *kube, const struct collector_opts *opts,
                                const struct collector_sink *sink, char *err, size_t errlen)
{
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
    ev_periodic_init(&c->tick, on_tick, 0., c->opts.resolution_s, 0);
    c->tick.data = c;
    if (sink)
        c->sink = *sink;
    pod_cache_init(&c->pods);
    if (node_cache_init(&c->nodes, opts->preferred_address_types, err, errlen) < 0 ||
        kubelet_auth_init(&c->auth, kube, opts->kubelet_token_file, opts->kubelet_ca_file,
                          opts->kubelet_insecure_tls, err, errlen) < 0)
        goto fail;
    c->scheme = strdup(opts->kubelet_scheme ? opts->kubelet_scheme : "https");
    c->rates = rates_new();
    c->model = c->rates ? model_new(c->rates, pod_cache_lookup, &c->pods) : NULL;
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
    rates_free(c->rates);
    node_cache_fini(&c->nodes);
    pod_cache_fini(&c->pods);
    kubelet_auth_fini(&c->auth);
    free(c->scheme);
    free(c);
}
