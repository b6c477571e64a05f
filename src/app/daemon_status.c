/* SPDX-License-Identifier: Apache-2.0 */
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
#include "metricsapi.h"
#include "sink.h"
#include "procstat.h"
#include "stats.h"
#include "status.h"
#include "util.h"
#include "version.h"

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

/* The daemon's own figures, gathered for one page. */
struct daemon_figures {
    bool leading;
    uint64_t leader_transitions, points_handed, points_after_stepdown;
};

#define D struct daemon_figures
static const struct stat_desc daemon_descs[] = {
    STAT_GAUGE_BOOL(D, leading, "kubepulse_is_leader", "1 when this replica leads and may write.",
                    NULL),
    STAT_COUNTER_U64(D, leader_transitions, "kubepulse_leader_transitions_total",
                     "Times this replica became leader.", NULL),
    STAT_COUNTER_U64(D, points_after_stepdown, "kubepulse_points_after_stepdown_total",
                     "Points produced after leadership ended, never handed to a sink.", NULL),
    STAT_COUNTER_U64(D, points_handed, "kubepulse_points_handed_to_sinks_total",
                     "Points handed to the sinks.", NULL),
};
/* client-go's leader election gauge, which controller dashboards use; name is the Lease. */
static const struct stat_desc master_descs[] = {
    STAT_GAUGE_BOOL(D, leading, "leader_election_master_status",
                    "1 while this replica holds the Lease named by name, 0 while it is a backup.",
                    NULL),
};
#undef D

static void metrics_render(struct status_buf *b, const struct stat_desc *t, size_t n,
                           const void *obj)
{
    stats_render_prom(b, t, n, &obj, 1, NULL, NULL);
}

static void metrics_sinks(struct daemon *d, struct status_buf *b)
{
    struct sink_stats st[d->nsinks ? d->nsinks : 1];
    const void *objs[d->nsinks ? d->nsinks : 1];
    const char *names[d->nsinks ? d->nsinks : 1];
    for (size_t i = 0; i < d->nsinks; i++) {
        sink_get_stats(d->sinks[i], &st[i]);
        objs[i] = &st[i];
        names[i] = sink_name(d->sinks[i]);
    }
    stats_render_prom(b, sink_stat_descs, sink_stat_ndescs, objs, d->nsinks, "sink", names);
}

static void page_metrics(struct daemon *d, struct status_response *r)
{
    struct status_buf *b = &r->body;
    const char *build[] = {"version", KP_VERSION, "commit", KP_GIT_COMMIT, NULL};
    struct daemon_figures fig = {.leading = daemon_may_write(d),
                                 .leader_transitions = d->leader_transitions,
                                 .points_handed = d->points_handed,
                                 .points_after_stepdown = d->points_after_stepdown};
    struct elector_stats es;
    struct collector_stats cs;
    struct status_server_stats ss;
    const void *fig_obj = &fig;
    const char *lease = d->o->lease_name;

    memset(&es, 0, sizeof(es));
    kp_hist_init(&es.renew_duration, KP_HIST_REQUEST_S, KP_HIST_REQUEST_N);
    if (d->elector)
        elector_get_stats(d->elector, &es);
    collector_get_stats(d->collector, &cs);
    status_server_get_stats(d->status, &ss);
    r->code = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    status_prom_family(b, "kubepulse_build_info", "gauge", "Version and commit of this binary.");
    status_prom_sample(b, "kubepulse_build_info", build, 1);
    procstat_render_prom(b);
    stats_render_prom(b, master_descs, STAT_TABLE_LEN(master_descs), &fig_obj, 1, "name", &lease);
    metrics_render(b, daemon_descs, STAT_TABLE_LEN(daemon_descs), &fig);
    metrics_render(b, elector_stat_descs, elector_stat_ndescs, &es);
    metrics_render(b, collector_stat_descs, collector_stat_ndescs, &cs);
    struct mapi_window_stats ws;
    mapi_window_get_stats(d->model, &ws);
    metrics_render(b, mapi_window_stat_descs, mapi_window_stat_ndescs, &ws);
    metrics_sinks(d, b);
    metrics_render(b, status_stat_descs, status_stat_ndescs, &ss);
}

static void page_status(struct daemon *d, struct status_response *r)
{
    json_object *o = json_object_new_object();
    json_object *coll = json_object_new_object();
    struct collector_stats cs;
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
    collector_get_stats(d->collector, &cs);
    stats_render_json(coll, collector_stat_descs, collector_stat_ndescs, &cs);
    json_object_object_add(o, "collector", coll);
    /* Heapster's model API window: its mode, whether it records, what it holds */
    static const char *const MODE[] = {"on-demand", "always", "off"}; /* kp_model_api order */
    json_object *model = json_object_new_object();
    struct mapi_window_stats ws;
    mapi_window_get_stats(d->model, &ws);
    json_object_object_add(model, "mode", json_object_new_string(MODE[kp_options_model_api(d->o)]));
    stats_render_json(model, mapi_window_stat_descs, mapi_window_stat_ndescs, &ws);
    json_object_object_add(o, "modelApi", model);
    json_object *sinks = json_object_new_array();
    for (size_t i = 0; i < d->nsinks; i++) {
        struct sink_stats st;
        json_object *s = json_object_new_object();
        sink_get_stats(d->sinks[i], &st);
        json_object_object_add(s, "name", json_object_new_string(sink_name(d->sinks[i])));
        stats_render_json(s, sink_stat_descs, sink_stat_ndescs, &st);
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
    else if (strncmp(path, "/api/v1/model/", 14) == 0 || strcmp(path, "/api/v1/model") == 0)
        daemon_model_page(d, path, r);
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
