/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape.c - one scrape cycle: every cached node's Summary fetched
 * concurrently (at most max_concurrency in flight) through http.h, parsed as
 * it streams in, each pod's points emitted as soon as its element is decoded
 * and the node's own when its response completed (model.h); the namespace and
 * cluster points when the last node is done. A node's failure only ends that
 * node's scrape (the pods it already wrote stay written); per-node state
 * changes are logged once.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector_int.h"
#include "http.h"
#include "log.h"
#include "util.h"

/* Idle connections kept beyond one per kubelet: the API server's watches and requests,
 * and the sinks' (--sink-concurrency is at most 64 per sink). */
#define CONN_CACHE_SPARE 96

/* ---- one node ----------------------------------------------------------------- */

static void cycle_maybe_end(struct collector *c);
static void scrape_next(struct collector *c);

/* What an operator can do about a failure, for the log; NULL when nothing specific. A real
 * kubelet authorizes /stats/summary with a SubjectAccessReview (get nodes/stats), and
 * kubeadm's kubelets serve a self-signed certificate the cluster CA does not verify. */
static const char *fail_hint(const struct collector *c, int reason, long status)
{
    if (reason == COLLECTOR_FAIL_HTTP && status == 403)
        return "this identity may not get nodes/stats: grant the ClusterRole rule "
               "apiGroups: [\"\"], resources: [\"nodes/stats\"], verbs: [\"get\"]";
    if (reason == COLLECTOR_FAIL_TLS && !c->opts.kubelet_insecure_tls)
        return "the kubelet's serving certificate did not verify against the CA kubepulse trusts "
               "(kubeadm's kubelets sign their own): pass the kubelets' CA with "
               "--kubelet-certificate-authority, or skip verification with "
               "--kubelet-insecure-tls (insecure, logged as a warning)";
    return NULL;
}

/* Count the outcome; log only when a node's state changes. */
static void node_state(struct collector *c, const char *node, int reason, const char *detail,
                       const char *hint)
{
    struct cache_node *n = strmap_get(&c->nodes.nodes, node);
    int code = reason < 0 ? 0 : reason + 1;
    if (reason >= 0)
        c->st.nodes_failed[reason]++;
    else
        c->st.nodes_scraped++;
    if (!n || n->last_error == code)
        return;
    if (code && hint)
        log_warn("kubelet scrape failing", LF_STR("node", node),
                 LF_STR("reason", collector_fail_name((enum collector_fail)reason)),
                 LF_STR("detail", detail), LF_STR("hint", hint));
    else if (code)
        log_warn("kubelet scrape failing", LF_STR("node", node),
                 LF_STR("reason", collector_fail_name((enum collector_fail)reason)),
                 LF_STR("detail", detail));
    else
        log_info("kubelet scrape ok again", LF_STR("node", node));
    n->last_error = code;
}

/* Keep the printable start of an error body for the log. */
static void keep_error_text(struct scrape *s, const char *data, size_t len)
{
    size_t have = strlen(s->detail);
    for (size_t i = 0; i < len && have + 1 < sizeof(s->detail); i++) {
        unsigned char ch = (unsigned char)data[i];
        s->detail[have++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
    }
    s->detail[have] = '\0';
}

static int on_data(const char *data, size_t len, void *ud)
{
    struct scrape *s = ud;
    s->c->st.bytes_received += len;
    long status = s->req ? http_request_status(s->req) : 200;
    if (status != 200 || s->bad_status) {
        /* an error body is not a Summary: keep its start, never parse it */
        if (!s->bad_status) {
            s->bad_status = status;
            snprintf(s->detail, sizeof(s->detail), "HTTP %ld: ", status);
        }
        keep_error_text(s, data, len);
        s->error_bytes += len;
        return s->error_bytes > SCRAPE_ERROR_BODY_MAX ? -1 : 0;
    }
    if (summary_parse_feed(s->parser, data, len, s->detail, sizeof(s->detail)) < 0) {
        s->parse_failed = true;
        return -1;
    }
    return 0;
}

static void emit(const struct kp_batch *b, void *ud)
{
    struct collector *c = ud;
    c->st.points += b->npoints;
    if (c->sink.write)
        c->sink.write(b, c->sink.ud);
}

static int classify(struct scrape *s, const struct http_result *res)
{
    if (s->parse_failed)
        return COLLECTOR_FAIL_MALFORMED;
    if (s->bad_status || (!res->error && res->status != 200)) {
        if (!s->bad_status)
            snprintf(s->detail, sizeof(s->detail), "HTTP %ld", res->status);
        if ((s->bad_status ? s->bad_status : res->status) == 401)
            kubelet_auth_rejected(&s->c->auth);
        return COLLECTOR_FAIL_HTTP;
    }
    switch (res->error) {
    case HTTP_OK: break;
    case HTTP_ERR_CONNECT: return COLLECTOR_FAIL_CONNECT;
    case HTTP_ERR_TIMEOUT: return COLLECTOR_FAIL_TIMEOUT;
    case HTTP_ERR_TLS: return COLLECTOR_FAIL_TLS;
    case HTTP_ERR_TOO_LARGE: return COLLECTOR_FAIL_TOO_LARGE;
    default: return COLLECTOR_FAIL_IO;
    }
    if (summary_parse_finish(s->parser, s->detail, sizeof(s->detail)) < 0)
        return COLLECTOR_FAIL_MALFORMED;
    return -1;
}

static void on_done(const struct http_result *res, void *ud)
{
    struct scrape *s = ud;
    struct collector *c = s->c;
    s->req = NULL;
    const struct summary_counts *cnt = summary_parse_counts(s->parser);
    c->st.parse_type_errors += cnt->type_errors;
    c->st.parse_negatives += cnt->negatives;
    int reason = classify(s, res);
    kp_hist_observe(&c->st.scrape_duration, res->total_time_s);
    if (reason < 0)
        model_node_finish(s->mn);
    const char *detail = s->detail[0] ? s->detail : res->error_msg ? res->error_msg : "";
    long status = s->bad_status ? s->bad_status : res->status;
    node_state(c, s->node, reason, detail, reason < 0 ? NULL : fail_hint(c, reason, status));
    s->node[0] = '\0';
    c->inflight--;
    scrape_next(c);
    cycle_maybe_end(c);
}

static int slot_ready(struct scrape *s)
{
    if (!s->mn)
        s->mn = model_node_new(s->c->model, emit, s->c);
    if (!s->parser)
        s->parser = summary_parser_new();
    return s->mn && s->parser ? 0 : -1;
}

static void node_url(const struct collector *c, const struct cache_node *n, char *url, size_t len)
{
    int v6 = strchr(n->address, ':') != NULL;
    snprintf(url, len, "%s://%s%s%s:%ld/stats/summary", c->scheme, v6 ? "[" : "", n->address,
             v6 ? "]" : "",
             n->port && !c->opts.kubelet_port_fixed ? n->port : c->opts.kubelet_port);
}

static int scrape_start(struct collector *c, struct scrape *s, const char *name)
{
    static const struct summary_handlers hs = {.node = model_node_on_node,
                                               .pod = model_node_on_pod};
    struct cache_node *n = strmap_get(&c->nodes.nodes, name);
    char url[512], auth[KUBELET_TOKEN_MAX + 32], err[256];
    if (!n)
        return -1; /* deleted since the cycle began */
    if (!n->address) {
        node_state(c, name, COLLECTOR_FAIL_NO_ADDRESS, "no address of a preferred type", NULL);
        return -1;
    }
    if (slot_ready(s) < 0) {
        node_state(c, name, COLLECTOR_FAIL_IO, "out of memory", NULL);
        return -1;
    }
    node_url(c, n, url, sizeof(url));
    const char *tok = kubelet_auth_token(&c->auth);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok ? tok : "");
    const char *headers[] = {auth, "Accept: application/json", NULL};
    struct http_tls tls;
    kubelet_auth_tls(&c->auth, &tls);
    model_node_begin(s->mn, &(struct model_node_info){.name = n->name,
                                                      .hostname = n->hostname,
                                                      .host_id = n->host_id,
                                                      .labels = n->labels,
                                                      .stored = n->stored,
                                                      .cpu_capacity_m = n->cpu_capacity_m,
                                                      .cpu_allocatable_m = n->cpu_allocatable_m,
                                                      .mem_capacity = n->mem_capacity,
                                                      .mem_allocatable = n->mem_allocatable});
    summary_parse_reset(s->parser, &hs, s->mn);
    s->parse_failed = false;
    s->bad_status = 0;
    s->error_bytes = 0;
    s->detail[0] = '\0';
    snprintf(s->node, sizeof(s->node), "%s", name);
    struct http_request_opts ro = {.url = url,
                                   .headers = tok ? headers : headers + 1,
                                   .tls = &tls,
                                   .timeout_ms = (long)(c->opts.kubelet_timeout_s * 1000),
                                   .max_body = (size_t)c->opts.max_body_bytes,
                                   .on_data = on_data,
                                   .on_done = on_done,
                                   .ud = s};
    s->req = http_request_start(c->http, &ro, err, sizeof(err));
    explicit_bzero(auth, sizeof(auth));
    if (!s->req) {
        node_state(c, name, COLLECTOR_FAIL_IO, err, NULL);
        s->node[0] = '\0';
        return -1;
    }
    c->inflight++;
    return 0;
}

static void scrape_next(struct collector *c)
{
    for (size_t i = 0; i < c->nslots && c->qpos < c->nqueue; i++) {
        if (c->slots[i].node[0] || c->slots[i].req)
            continue;
        while (c->qpos < c->nqueue && scrape_start(c, &c->slots[i], c->queue[c->qpos++]) < 0)
            ;
    }
}

/* ---- the cycle ------------------------------------------------------------------ */

static void queue_clear(struct collector *c)
{
    for (size_t i = 0; i < c->nqueue; i++)
        free(c->queue[i]);
    free(c->queue);
    c->queue = NULL;
    c->nqueue = c->qpos = 0;
}

static void cycle_maybe_end(struct collector *c)
{
    if (!c->sched.in_cycle || c->inflight || c->qpos < c->nqueue)
        return;
    sched_cycle_end(&c->sched, c->cycle_stamp, true);
    model_cycle_end(c->model, emit, c);
    rates_expire(c->rates, c->cycle, 3);
    queue_clear(c);
    c->st.cycles++;
    c->st.last_cycle_s = collector_mono(c) - c->cycle_start;
    kp_hist_observe(&c->st.cycle_duration, c->st.last_cycle_s);
    c->st.last_cycle_points = c->st.points - c->points_at_start;
    if (c->sink.cycle_done)
        c->sink.cycle_done(c->cycle_ts, c->sink.ud);
}

static void queue_node(const char *k, void *v, void *ud)
{
    (void)v;
    struct collector *c = ud;
    char *name = strdup(k);
    if (name)
        c->queue[c->nqueue++] = name;
}

void cycle_start(struct collector *c, double stamp)
{
    if (!c->first_logged)
        log_info("first scrape cycle", LF_INT("nodes", c->nodes.nodes.count),
                 LF_DBL("since_leading_s", collector_mono(c) - c->lead_since));
    c->first_logged = true;
    c->queue = calloc(c->nodes.nodes.count + 1, sizeof(char *));
    if (!c->queue) {
        log_error("out of memory starting a scrape cycle");
        sched_cycle_end(&c->sched, stamp, false);
        return;
    }
    c->cycle++;
    c->cycle_stamp = stamp;
    c->cycle_ts = (int64_t)llround(stamp * 1e9);
    c->cycle_start = collector_mono(c);
    c->points_at_start = c->st.points;
    kubelet_auth_refresh(&c->auth);
    /* Keep one idle connection per kubelet between cycles (plus room for the API
     * server's and the sinks'): nodes are visited in the same order every cycle, so a
     * smaller cache would evict each connection just before its node comes round. */
    http_client_set_max_cached(c->http, (long)c->nodes.nodes.count + CONN_CACHE_SPARE);
    model_cycle_begin(c->model, c->cycle, c->cycle_ts);
    strmap_each(&c->nodes.nodes, queue_node, c);
    scrape_next(c);
    cycle_maybe_end(c);
}

void cycle_abort(struct collector *c)
{
    for (size_t i = 0; c->slots && i < c->nslots; i++) {
        http_request_cancel(c->slots[i].req);
        c->slots[i].req = NULL;
        c->slots[i].node[0] = '\0';
    }
    c->inflight = 0;
    if (c->sched.in_cycle)
        sched_cycle_end(&c->sched, c->cycle_stamp, false);
    queue_clear(c);
}
