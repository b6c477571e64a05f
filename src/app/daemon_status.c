/*
 * daemon_status.c - the status server's pages: /healthz, /readyz, /metrics
 * (Prometheus text, kubepulse_ prefix) and /status (JSON).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "collector.h"
#include "daemon_int.h"
#include "elector.h"
#include "log.h"
#include "sink.h"
#include "status.h"
#include "util.h"

#ifndef KP_VERSION
#define KP_VERSION "0.0.0"
#endif
#ifndef KP_GIT_COMMIT
#define KP_GIT_COMMIT "unknown"
#endif

/* /healthz fails when the loop has not turned for this long. */
#define STUCK_AFTER_S 10.0

static const char TEXT[] = "text/plain; charset=utf-8";

/* A leader that still believes it leads past its renew deadline is broken:
 * the elector steps down at the deadline, so this is a liveness failure. */
static bool leader_past_deadline(const struct daemon *d)
{
    double deadline;
    if (!d->leading || !d->elector || !elector_leader_deadline(d->elector, &deadline))
        return false;
    return kp_mono_now() > deadline + 1.0;
}

static void page_healthz(struct daemon *d, struct status_response *r)
{
    double lag = ev_now(d->loop) - d->last_beat;
    r->content_type = TEXT;
    if (lag > STUCK_AFTER_S) {
        r->code = 503;
        status_buf_printf(&r->body, "event loop stalled for %.1fs\n", lag);
    } else if (leader_past_deadline(d)) {
        r->code = 503;
        status_buf_printf(&r->body, "leading past the renew deadline\n");
    } else {
        r->code = 200;
        status_buf_printf(&r->body, "ok\n");
    }
}

static void page_readyz(struct daemon *d, struct status_response *r)
{
    r->content_type = TEXT;
    if (d->stopping) {
        r->code = 503;
        status_buf_printf(&r->body, "shutting down\n");
    } else if (!collector_ready(d->collector)) {
        r->code = 503;
        status_buf_printf(&r->body, "waiting for the API server: node and pod caches not "
                                    "synced yet\n");
    } else {
        r->code = 200;
        status_buf_printf(&r->body, "ok\n");
    }
}

static void gauge(struct status_buf *b, const char *name, const char *help, double v)
{
    status_prom_family(b, name, "gauge", help);
    status_prom_sample(b, name, NULL, v);
}

static void counter(struct status_buf *b, const char *name, const char *help, double v)
{
    status_prom_family(b, name, "counter", help);
    status_prom_sample(b, name, NULL, v);
}

static void metrics_election(struct daemon *d, struct status_buf *b)
{
    struct elector_stats es = {.last_renew_latency_s = -1};
    if (d->elector)
        elector_get_stats(d->elector, &es);
    gauge(b, "kubepulse_is_leader", "1 when this replica leads and may write.",
          daemon_may_write(d));
    counter(b, "kubepulse_leader_transitions_total", "Times this replica became leader.",
            (double)d->leader_transitions);
    counter(b, "kubepulse_lease_renew_failures_total", "Failed Lease renewals while leading.",
            (double)es.renew_failures);
    counter(b, "kubepulse_lease_acquire_failures_total",
            "Failed Lease acquisitions (API errors, conflicts).", (double)es.acquire_failures);
    counter(b, "kubepulse_leadership_lost_total",
            "Times leadership ended without a release (renew deadline passed, Lease taken).",
            (double)es.leadership_lost);
    gauge(b, "kubepulse_lease_transitions", "leaseTransitions of the last observed Lease.",
          (double)es.lease_transitions);
    if (es.last_renew_latency_s >= 0)
        gauge(b, "kubepulse_lease_renew_latency_seconds",
              "Round trip of the last successful Lease renewal.", es.last_renew_latency_s);
    counter(b, "kubepulse_points_after_stepdown_total",
            "Points produced after leadership ended, never handed to a sink.",
            (double)d->points_after_stepdown);
}

static void metrics_collector(struct daemon *d, struct status_buf *b)
{
    struct collector_stats st;
    collector_get_stats(d->collector, &st);
    counter(b, "kubepulse_scrape_cycles_total", "Scrape cycles run.", (double)st.cycles);
    counter(b, "kubepulse_scrape_cycles_skipped_total",
            "Cycles not started because the previous one was still running.",
            (double)st.cycles_skipped);
    gauge(b, "kubepulse_scrape_cycle_duration_seconds", "Wall time of the last scrape cycle.",
          st.last_cycle_s);
    counter(b, "kubepulse_nodes_scraped_total", "Successful kubelet scrapes.",
            (double)st.nodes_scraped);
    status_prom_family(b, "kubepulse_nodes_failed_total", "counter",
                       "Failed kubelet scrapes, by reason.");
    for (int f = 0; f < COLLECTOR_FAIL__COUNT; f++) {
        const char *labels[] = {"reason", collector_fail_name(f), NULL};
        status_prom_sample(b, "kubepulse_nodes_failed_total", labels, (double)st.nodes_failed[f]);
    }
    counter(b, "kubepulse_scrape_bytes_total", "Summary bytes received from kubelets.",
            (double)st.bytes_received);
    counter(b, "kubepulse_points_produced_total", "Points produced by the collector.",
            (double)st.points);
    counter(b, "kubepulse_summary_type_errors_total",
            "Summary values skipped because of a wrong JSON type.", (double)st.parse_type_errors);
    counter(b, "kubepulse_summary_negative_values_total",
            "Summary values skipped because they were negative, not finite or out of range.",
            (double)st.parse_negatives);
    gauge(b, "kubepulse_nodes_cached", "Nodes in the node cache.", (double)st.nodes_cached);
    gauge(b, "kubepulse_pods_cached", "Pods in the pod cache.", (double)st.pods_cached);
    gauge(b, "kubepulse_rate_series", "Series with a previous sample kept for rates.",
          (double)st.rate_series);
    counter(b, "kubepulse_points_handed_to_sinks_total", "Points handed to the sinks.",
            (double)d->points_handed);
}

static json_object *cycle_json(struct daemon *d)
{
    struct collector_stats st;
    json_object *c = json_object_new_object();
    uint64_t failed = 0;
    collector_get_stats(d->collector, &st);
    for (int f = 0; f < COLLECTOR_FAIL__COUNT; f++)
        failed += st.nodes_failed[f];
    json_object_object_add(c, "cycles", json_object_new_int64((int64_t)st.cycles));
    json_object_object_add(c, "durationSeconds", json_object_new_double(st.last_cycle_s));
    json_object_object_add(c, "nodesScrapedTotal",
                           json_object_new_int64((int64_t)st.nodes_scraped));
    json_object_object_add(c, "nodesFailedTotal", json_object_new_int64((int64_t)failed));
    json_object_object_add(c, "pointsTotal", json_object_new_int64((int64_t)st.points));
    json_object_object_add(c, "nodesCached", json_object_new_int64((int64_t)st.nodes_cached));
    json_object_object_add(c, "podsCached", json_object_new_int64((int64_t)st.pods_cached));
    return c;
}

static void sink_sample(struct status_buf *b, const char *metric, const char *sink,
                        const char *reason, double v)
{
    const char *labels[] = {"sink", sink, reason ? "reason" : NULL, reason, NULL};
    status_prom_sample(b, metric, labels, v);
}

static void metrics_sinks(struct daemon *d, struct status_buf *b)
{
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"kubepulse_sink_points_written_total", "counter", "Points acknowledged by the sink."},
        {"kubepulse_sink_points_buffered", "gauge", "Points waiting or in flight."},
        {"kubepulse_sink_buffer_bytes", "gauge", "Memory held by the sink's buffer."},
        {"kubepulse_sink_points_dropped_total", "counter", "Points dropped, by reason."},
        {"kubepulse_sink_requests_total", "counter", "Write requests completed."},
        {"kubepulse_sink_request_failures_total", "counter", "Write requests not answered 2xx."},
        {"kubepulse_sink_retries_total", "counter", "Write requests sent again."},
        {"kubepulse_sink_latency_seconds", "gauge", "Latency of the last write request."},
        {"kubepulse_sink_bytes_sent_total", "counter",
         "Request bodies sent (after gzip), retries included."},
        {"kubepulse_sink_held", "gauge",
         "1 while buffered points wait because this replica lost leadership."},
    };
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        status_prom_family(b, fam[f].name, fam[f].type, fam[f].help);
        for (size_t i = 0; i < d->nsinks; i++) {
            struct sink_stats st;
            const char *name = sink_name(d->sinks[i]);
            sink_get_stats(d->sinks[i], &st);
            switch (f) {
            case 0: sink_sample(b, fam[f].name, name, NULL, (double)st.points_written); break;
            case 1: sink_sample(b, fam[f].name, name, NULL, (double)st.points_buffered); break;
            case 2: sink_sample(b, fam[f].name, name, NULL, (double)st.bytes_buffered); break;
            case 3:
                for (int r = 0; r < SINK_DROP__COUNT; r++)
                    sink_sample(b, fam[f].name, name, sink_drop_reason_name(r),
                                (double)st.points_dropped[r]);
                break;
            case 4: sink_sample(b, fam[f].name, name, NULL, (double)st.requests); break;
            case 5: sink_sample(b, fam[f].name, name, NULL, (double)st.failures); break;
            case 6: sink_sample(b, fam[f].name, name, NULL, (double)st.retries); break;
            case 7: sink_sample(b, fam[f].name, name, NULL, st.last_latency_s); break;
            case 8: sink_sample(b, fam[f].name, name, NULL, (double)st.bytes_sent); break;
            case 9: sink_sample(b, fam[f].name, name, NULL, st.held ? 1 : 0); break;
            }
        }
    }
}

static void page_metrics(struct daemon *d, struct status_response *r)
{
    struct status_buf *b = &r->body;
    const char *build[] = {"version", KP_VERSION, "commit", KP_GIT_COMMIT, NULL};
    r->code = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    status_prom_family(b, "kubepulse_build_info", "gauge", "Version and commit of this binary.");
    status_prom_sample(b, "kubepulse_build_info", build, 1);
    metrics_election(d, b);
    metrics_collector(d, b);
    metrics_sinks(d, b);
}

static void page_status(struct daemon *d, struct status_response *r)
{
    json_object *o = json_object_new_object();
    double deadline;
    json_object_object_add(o, "identity", json_object_new_string(d->identity));
    json_object_object_add(o, "leading", json_object_new_boolean(daemon_may_write(d)));
    json_object_object_add(
        o, "holder", json_object_new_string(d->elector ? elector_holder(d->elector) : d->identity));
    json_object_object_add(o, "lease", json_object_new_string(d->o->lease_name));
    json_object_object_add(o, "leaseNamespace", json_object_new_string(d->lease_namespace));
    if (d->elector && elector_leader_deadline(d->elector, &deadline))
        json_object_object_add(o, "leaderDeadlineInSeconds",
                               json_object_new_double(deadline - kp_mono_now()));
    json_object_object_add(o, "ready", json_object_new_boolean(collector_ready(d->collector)));
    json_object_object_add(o, "leaderTransitions",
                           json_object_new_int64((int64_t)d->leader_transitions));
    json_object_object_add(o, "uptimeSeconds",
                           json_object_new_double(ev_now(d->loop) - d->started_at));
    json_object_object_add(o, "collector", cycle_json(d));
    json_object *sinks = json_object_new_array();
    for (size_t i = 0; i < d->nsinks; i++) {
        struct sink_stats st;
        json_object *s = json_object_new_object();
        sink_get_stats(d->sinks[i], &st);
        json_object_object_add(s, "name", json_object_new_string(sink_name(d->sinks[i])));
        json_object_object_add(s, "pointsWritten",
                               json_object_new_int64((int64_t)st.points_written));
        json_object_object_add(s, "pointsBuffered",
                               json_object_new_int64((int64_t)st.points_buffered));
        uint64_t dropped = 0;
        for (int k = 0; k < SINK_DROP__COUNT; k++)
            dropped += st.points_dropped[k];
        json_object_object_add(s, "pointsDropped", json_object_new_int64((int64_t)dropped));
        json_object_object_add(s, "lastStatus", json_object_new_int64(st.last_status));
        json_object_object_add(s, "held", json_object_new_boolean(st.held));
        json_object_array_add(sinks, s);
    }
    json_object_object_add(o, "sinks", sinks);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    r->code = 200;
    r->content_type = "application/json";
    status_buf_append(&r->body, text, strlen(text));
    status_buf_append(&r->body, "\n", 1);
    json_object_put(o);
}

static void handle(const char *path, struct status_response *r, void *ud)
{
    struct daemon *d = ud;
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/livez") == 0)
        page_healthz(d, r);
    else if (strcmp(path, "/readyz") == 0)
        page_readyz(d, r);
    else if (strcmp(path, "/metrics") == 0)
        page_metrics(d, r);
    else if (strcmp(path, "/status") == 0 || strcmp(path, "/") == 0)
        page_status(d, r);
    else
        status_buf_printf(&r->body, "not found; try /healthz /readyz /metrics /status\n");
}

/* Raise the soft fd limit to the hard one, as Go programs do at start: the
 * status server's connection bound is a share of it, and the scrapes and the
 * Lease renewals need the rest. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur =
        rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1u << 20) ? (1u << 20) : rl.rlim_max;
    if (rl.rlim_cur <= was)
        return;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        log_v(1, "raised the open-file limit", LF_INT("from", was), LF_INT("to", rl.rlim_cur));
}

int daemon_status_start(struct daemon *d, char *err, size_t errlen)
{
    raise_nofile();
    d->status = status_server_new(d->loop, d->o->listen, handle, d, err, errlen);
    if (!d->status)
        return -1;
    struct status_limits lim;
    status_server_get_limits(d->status, &lim);
    log_info("status server listening", LF_STR("listen", d->o->listen),
             LF_INT("port", status_server_port(d->status)),
             LF_INT("maxConnections", lim.max_conns));
    return 0;
}
