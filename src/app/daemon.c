/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.c - wiring and lifecycle: API access, sinks, collector, election,
 * status server and signals on one libev loop.
 */
#include "daemon.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "daemon_int.h"
#include "elector.h"
#include "http.h"
#include "kube.h"
#include "log.h"
#include "metricsapi.h"
#include "sink.h"
#include "status.h"
#include "version.h"

#define HEARTBEAT_S 1.0
/* On SIGTERM, how long a scrape cycle in flight may run on before the Lease is released
 * anyway: the interval is then completed by this replica rather than lost, at the price of
 * a later takeover (a cycle of 10 nodes takes some 30 ms, of 1,000 nodes about 1.2 s). The
 * deadline timer has the loop's top priority, so a busy loop runs it first in the next
 * iteration; without that, 166 transfers in flight at 1,000 nodes delayed it to 1.6 s. */
#define DRAIN_MAX_S 0.4
/* curl multi handles the kubelets are spread over (src/http.c): 5,000 nodes make about
 * 160 connections per handle. */
#define KP_HTTP_SHARDS 32

void daemon_default_identity(char *out, size_t outlen)
{
    const char *pod = getenv("POD_NAME");
    char host[128] = "kubepulse";
    unsigned char rnd[4] = {0};
    int fd;

    if (pod && *pod) {
        snprintf(out, outlen, "%s", pod);
        return;
    }
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd))
            memset(rnd, 0, sizeof(rnd));
        close(fd);
    }
    snprintf(out, outlen, "%s_%02x%02x%02x%02x", host, rnd[0], rnd[1], rnd[2], rnd[3]);
}

bool daemon_may_write(const struct daemon *d)
{
    if (!d->leading || (d->stopping && !d->draining))
        return false;
    return d->elector ? elector_is_leader(d->elector) : true;
}

/* The sinks' gate: they send while this replica leads, and after it released the Lease on
 * SIGTERM as leader (the points of its last interval: the successor starts on the next tick).
 * A leader that lost the Lease sends nothing more, retries included; what it buffered waits
 * until it leads again. */
static bool sinks_may_send(void *ud)
{
    const struct daemon *d = ud;
    return d->exit_flush || daemon_may_write(d);
}

static void sinks_gate_changed(struct daemon *d)
{
    for (size_t i = 0; i < d->nsinks; i++)
        sink_gate_changed(d->sinks[i]);
}

/* ---- the data path ----------------------------------------------------- */

static void on_batch(const struct kp_batch *b, void *ud)
{
    struct daemon *d = ud;
    char err[256];

    /* The collector stops at step-down, but a batch parsed in the same loop
     * iteration as a missed renew deadline must not slip through. */
    if (!daemon_may_write(d)) {
        d->batches_after_stepdown++;
        d->points_after_stepdown += b->npoints;
        return;
    }
    d->points_handed += b->npoints;
    daemon_mapi_batch(d, b);
    for (size_t i = 0; i < d->nsinks; i++)
        if (sink_write(d->sinks[i], b, err, sizeof(err)) < 0)
            log_error("sink write failed", LF_STR("sink", sink_name(d->sinks[i])), LF_ERR(err));
}

/*
 * Exactly one writer per interval. A leader that released the Lease (SIGTERM) has
 * completed the interval it released in (it lets a cycle in flight finish first,
 * on_signal), so when this replica leads within that interval the collector starts on the
 * next grid tick rather than scraping the same interval again; when the handoff crossed a
 * tick, nobody started the new interval and the collector starts at once (hence the time
 * of the release, released_at, not a flag). After a takeover from an expired Lease (a
 * leader that died or lost the API server) it starts at once: that interval may be
 * missing. The collector owns the rule (collector_set_leading, sched_lead).
 */
static void start_leading(struct daemon *d)
{
    if (d->leading || d->stopping)
        return;
    d->leading = true;
    d->leader_transitions++;
    sinks_gate_changed(d);
    daemon_mapi_started_leading(d);
    collector_set_leading(d->collector, true, d->released_at);
}

static void stop_leading(struct daemon *d)
{
    if (!d->leading)
        return;
    d->leading = false;
    collector_set_leading(d->collector, false, -1);
    daemon_mapi_stopped_leading(d);
    sinks_gate_changed(d);
}

static void on_started_leading(struct elector *e, void *ud)
{
    (void)e;
    start_leading(ud);
}

static void on_stopped_leading(struct elector *e, void *ud)
{
    (void)e;
    stop_leading(ud);
}

static void on_new_leader(struct elector *e, const char *identity, void *ud)
{
    struct daemon *d = ud;
    (void)e;
    snprintf(d->observed_leader, sizeof(d->observed_leader), "%s", identity);
    if (strcmp(identity, d->identity) != 0) {
        d->released_at = *identity ? -1 : collector_wall(d->collector);
        log_info("observed leader", LF_STR("holder", *identity ? identity : "(none)"));
    }
}

/* ---- shutdown: stop the work, release the Lease, flush, exit ----------- */

static void finish(struct daemon *d)
{
    ev_timer_stop(d->loop, &d->flush_deadline);
    ev_break(d->loop, EVBREAK_ALL);
}

static void on_flushed(struct sink *s, int status, void *ud)
{
    struct daemon *d = ud;
    struct sink_stats st;
    sink_get_stats(s, &st);
    if (status == SINK_FLUSH_TIMEOUT)
        log_warn("sink flush deadline reached; points left unsent", LF_STR("sink", sink_name(s)),
                 LF_INT("points", st.points_buffered));
    else if (status == SINK_FLUSH_HELD)
        log_warn("not leading at shutdown: points held since leadership was lost are not sent",
                 LF_STR("sink", sink_name(s)), LF_INT("points", st.points_buffered));
    if (d->flushes_pending && --d->flushes_pending == 0)
        finish(d);
}

static void on_flush_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    finish(w->data);
}

static void flush_and_exit(struct daemon *d)
{
    double deadline = ev_now(d->loop) + d->o->sink_flush_timeout_s;
    /* A backstop in case a sink never answers. */
    ev_timer_init(&d->flush_deadline, on_flush_deadline, d->o->sink_flush_timeout_s + 0.5, 0);
    d->flush_deadline.data = d;
    ev_timer_start(d->loop, &d->flush_deadline);
    d->flushes_pending = d->nsinks;
    if (d->nsinks == 0) {
        finish(d);
        return;
    }
    for (size_t i = 0; i < d->nsinks; i++)
        sink_flush(d->sinks[i], deadline, on_flushed, d);
}

static void on_released(struct elector *e, int status, void *ud)
{
    struct daemon *d = ud;
    (void)e;
    if (status < 0)
        log_warn("could not release the Lease; followers take over when it expires");
    flush_and_exit(d);
}

/* Stop the collector, release the Lease (followers take over at once), flush, exit. */
static void stop_and_release(struct daemon *d)
{
    ev_timer_stop(d->loop, &d->drain_deadline);
    d->exit_flush = d->leading && (!d->elector || elector_is_leader(d->elector));
    d->draining = false;
    stop_leading(d);
    if (d->elector)
        elector_release(d->elector, on_released, d);
    else
        flush_and_exit(d);
}

static void on_drain_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct daemon *d = w->data;
    (void)loop;
    (void)revents;
    if (d->draining && collector_in_cycle(d->collector))
        log_warn("scrape cycle still running at shutdown; cancelling it",
                 LF_DBL("waited_s", DRAIN_MAX_S));
    stop_and_release(d);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct daemon *d = w->data;
    (void)revents;
    if (d->stopping) {
        log_warn("second signal: exiting without flushing", LF_INT("signal", w->signum));
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    d->stopping = true;
    log_info("shutting down", LF_INT("signal", w->signum), LF_BOOL("leading", d->leading));
    if (d->leading && collector_cycle_due(d->collector)) {
        /* Released now, this interval would be lost: the successor starts on the next
         * tick. Finish it (bounded) and release right after. */
        d->draining = true;
        log_info("finishing the scrape cycle in flight before releasing the Lease",
                 LF_DBL("max_s", DRAIN_MAX_S));
        ev_now_update(loop); /* the deadline counts from the signal, not the iteration */
        ev_timer_set(&d->drain_deadline, DRAIN_MAX_S, 0.);
        ev_timer_start(loop, &d->drain_deadline);
        return;
    }
    stop_and_release(d);
}

static void on_heartbeat(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct daemon *d = w->data;
    (void)revents;
    d->last_beat = ev_now(loop);
}

/* ---- start-up ------------------------------------------------------------ */

static int open_http(struct daemon *d, char *err, size_t errlen)
{
    struct http_client_opts hopts = {
        .max_total_connections = 0,
        .max_host_connections = 0,
        .max_cached_connections = d->o->kubelet_max_concurrency + 16,
        /* One connection cache per shard: see http.c on curl's per-request cache walk. */
        .shards = KP_HTTP_SHARDS,
    };

    char ua[384];
    snprintf(ua, sizeof(ua), "kubepulse/%s (identity=%s)", KP_VERSION, d->identity);
    hopts.user_agent = ua;
    d->http = http_client_new(d->loop, &hopts, err, errlen);
    return d->http ? 0 : -1;
}

/* Heapster's inClusterConfig=false without auth=: the --source URL, no kubeconfig, and the
 * ServiceAccount token only with useServiceAccount=true. */
static int source_config(const struct kp_options *o, struct kube_config **out, char *err,
                         size_t errlen)
{
    struct kube_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->source = strdup("--source")) || !(cfg->server = strdup(o->api_server)) ||
        (o->api_token_file && !(cfg->token_file = strdup(o->api_token_file)))) {
        kube_config_free(cfg);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = cfg;
    return 0;
}

/* The --source URL replaces the config's server; insecure=true turns verification off. */
static int source_override(const struct kp_options *o, struct kube_config *cfg, char *err,
                           size_t errlen)
{
    if (o->api_server) {
        char *s = strdup(o->api_server);
        if (!s) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        free(cfg->server);
        cfg->server = s;
    }
    if (o->api_insecure)
        cfg->insecure = true;
    size_t n = strlen(cfg->server);
    while (n > 0 && cfg->server[n - 1] == '/')
        cfg->server[--n] = '\0';
    return 0;
}

/* A plain-HTTP API server that refuses the connection: say why the command line cannot work. */
static void on_http_probe(const struct kube_response *r, void *ud)
{
    struct daemon *d = ud;
    const struct kube_config *cfg = kube_client_config(d->kube);
    if (r->status != 0)
        return;
    char msg[768];
    snprintf(msg, sizeof msg,
             "cannot reach the API server at %s (%s): kube-apiserver has served no plain-HTTP "
             "port since Kubernetes 1.20 (--insecure-port, 8080, was removed), so Heapster's "
             "http://HOST:8080 command lines cannot work; use https://HOST:6443 with "
             "auth=KUBECONFIG, or inClusterConfig=true in the cluster (plain HTTP works only "
             "through a proxy such as kubectl proxy)",
             cfg->server, r->error ? r->error : "no answer");
    log_error("cannot start", LF_ERR(msg));
    fprintf(stderr, "kubepulse: %s\n", msg);
    d->exit_code = 1;
    ev_break(d->loop, EVBREAK_ALL);
}

/* --lease-namespace, else the pod's own namespace (also when the API credentials come from a
 * kubeconfig, as with Heapster's auth=), else the kubeconfig context's, else "default". */
static void pick_lease_namespace(struct daemon *d, const struct kube_config *cfg)
{
    const char *ns = d->o->lease_namespace;
    char *pod_ns = NULL;
    if (!ns || !*ns)
        ns = pod_ns = kube_pod_namespace(NULL);
    if (!ns)
        ns = cfg->namespace && *cfg->namespace ? cfg->namespace : "default";
    snprintf(d->lease_namespace, sizeof(d->lease_namespace), "%s", ns);
    free(pod_ns);
}

static int open_api(struct daemon *d, char *err, size_t errlen)
{
    struct kube_config *cfg = NULL;
    char ua[384];
    snprintf(ua, sizeof(ua), "kubepulse/%s (identity=%s)", KP_VERSION, d->identity);
    if (d->o->api_no_credentials
            ? source_config(d->o, &cfg, err, errlen) < 0
            : kube_config_load_auto(d->o->kubeconfig, d->o->context, &cfg, err, errlen) < 0)
        return -1;
    if (source_override(d->o, cfg, err, errlen) < 0) {
        kube_config_free(cfg);
        return -1;
    }
    if (cfg->insecure)
        log_warn("TLS verification of the API server is off (insecure-skip-tls-verify)",
                 LF_STR("config", cfg->source));
    pick_lease_namespace(d, cfg);
    struct kube_client_opts kopts = {.user_agent = ua, .token_reload_s = 60};
    const char *source = cfg->source;
    log_info("API server", LF_STR("config", source), LF_STR("server", cfg->server));
    if (!(d->kube = kube_client_new(d->loop, d->http, cfg, &kopts, err, errlen)))
        return -1;
    if (strncmp(kube_client_config(d->kube)->server, "http://", 7) == 0) {
        log_warn("the API server is reached over plain HTTP: no TLS, no server authentication",
                 LF_STR("server", kube_client_config(d->kube)->server));
        if (!kube_request(d->kube, "GET", "/version", NULL, 10000, on_http_probe, d))
            log_warn("could not start the API server probe");
    }
    return 0;
}

static int open_sinks(struct daemon *d, char *err, size_t errlen)
{
    struct sink_env env = {
        .loop = d->loop,
        .http = d->http,
        .identity = d->identity,
        .version = KP_VERSION,
        .batch_lines = d->o->sink_batch_lines,
        .buffer_size = d->o->sink_buffer_size,
        .timeout_s = d->o->sink_timeout_s,
        .concurrency = d->o->sink_concurrency,
        .may_send = sinks_may_send,
        .gate_ud = d,
    };
    for (size_t i = 0; i < d->o->sinks.n; i++) {
        char serr[512];
        if (sink_open(d->o->sinks.v[i], &env, &d->sinks[d->nsinks], serr, sizeof(serr)) < 0) {
            snprintf(err, errlen, "--sink #%zu: %s", i + 1, serr);
            return -1;
        }
        log_info("sink ready", LF_STR("sink", sink_name(d->sinks[d->nsinks])));
        d->nsinks++;
    }
    if (d->nsinks == 0)
        log_warn("no --sink given: metrics are collected but written nowhere "
                 "(add --sink=log to see them, or --sink=influxdb:http://HOST:8086?db=k8s)");
    return 0;
}

static void on_cycle_done(int64_t cycle_ts_ns, void *ud)
{
    struct daemon *d = ud;
    struct collector_stats st;
    collector_get_stats(d->collector, &st);
    log_v(1, "cycle done", LF_INT("cycle_ts", cycle_ts_ns / 1000000000),
          LF_DBL("seconds", st.last_cycle_s), LF_INT("points", st.last_cycle_points));
    daemon_mapi_cycle_done(d);
    if (d->draining) {
        /* Release on the next loop iteration, outside the collector's callback. */
        ev_timer_stop(d->loop, &d->drain_deadline);
        ev_timer_set(&d->drain_deadline, 0., 0.);
        ev_timer_start(d->loop, &d->drain_deadline);
    }
}

/* Heapster's --ignore_label/--store_label values, each "a,b" split (pflag's StringSlice). out
 * points into *buf (owned by the caller, freed after collector_new copied them). */
static size_t split_labels(const struct kp_strlist *l, char **buf, const char **out, size_t max)
{
    size_t total = 1, n = 0;
    for (size_t i = 0; i < l->n; i++)
        total += strlen(l->v[i]) + 1;
    char *p = *buf = malloc(total);
    if (!p)
        return 0;
    for (size_t i = 0; i < l->n; i++) {
        strcpy(p, l->v[i]);
        for (char *tok = strtok(p, ","); tok && n < max; tok = strtok(NULL, ","))
            out[n++] = tok;
        p += strlen(l->v[i]) + 1;
    }
    return n;
}

static int open_collector(struct daemon *d, char *err, size_t errlen)
{
    const struct kp_options *o = d->o;
    const char *ignore[KP_STRLIST_MAX * 8], *store[KP_STRLIST_MAX];
    char *ibuf = NULL, *sbuf = NULL;
    size_t nignore = split_labels(&o->ignore_labels, &ibuf, ignore, KP_STRLIST_MAX * 8);
    size_t nstore = split_labels(&o->store_labels, &sbuf, store, KP_MAX_STORED_LABELS);
    struct collector_opts co = {
        .resolution_s = o->metric_resolution_s,
        .preferred_address_types = o->kubelet_preferred_address_types,
        .kubelet_port = o->kubelet_port,
        .kubelet_port_fixed = o->kubelet_port_fixed,
        .kubelet_scheme = o->kubelet_http ? "http" : NULL,
        .kubelet_ca_file = o->kubelet_certificate_authority && *o->kubelet_certificate_authority
                               ? o->kubelet_certificate_authority
                               : NULL,
        .kubelet_insecure_tls = o->kubelet_insecure_tls,
        .kubelet_timeout_s = o->kubelet_timeout_s,
        .max_concurrency = o->kubelet_max_concurrency,
        .node_selector = o->node_selector,
        .metric_allow = o->metric_allow,
        .metric_deny = o->metric_deny,
        .namespace_include = o->namespace_include,
        .namespace_exclude = o->namespace_exclude,
        .max_body_bytes = o->kubelet_max_body_bytes,
        .kubelet_token_file =
            o->kubelet_token_file && *o->kubelet_token_file ? o->kubelet_token_file : NULL,
        .skip_pod_watch = !o->watch_pods,
        .label_separator = o->label_separator,
        .ignore_labels = ignore,
        .nignore_labels = nignore,
        .store_labels = store,
        .nstore_labels = nstore,
    };
    struct collector_sink cs = {.write = on_batch, .cycle_done = on_cycle_done, .ud = d};
    d->collector = collector_new(d->loop, d->http, d->kube, &co, &cs, err, errlen);
    free(ibuf);
    free(sbuf);
    return d->collector ? 0 : -1;
}

static int open_election(struct daemon *d, char *err, size_t errlen)
{
    struct elector_config ec;
    if (!d->o->leader_elect) {
        log_warn("leader election is off (--leader-elect=false): this replica always leads; "
                 "run only one");
        start_leading(d);
        return 0;
    }
    elector_config_init(&ec);
    ec.lease_name = d->o->lease_name;
    ec.lease_namespace = d->lease_namespace;
    ec.identity = d->identity;
    ec.lease_duration_s = d->o->lease_duration_s;
    ec.renew_deadline_s = d->o->renew_deadline_s;
    ec.retry_period_s = d->o->retry_period_s;
    ec.cb.on_started_leading = on_started_leading;
    ec.cb.on_stopped_leading = on_stopped_leading;
    ec.cb.on_new_leader = on_new_leader;
    ec.cb.ud = d;
    if (!(d->elector = elector_new(d->loop, d->kube, &ec, err, errlen)))
        return -1;
    return elector_start(d->elector, err, errlen);
}

static void daemon_fini(struct daemon *d)
{
    ev_signal_stop(d->loop, &d->sig_term);
    ev_signal_stop(d->loop, &d->sig_int);
    ev_timer_stop(d->loop, &d->heartbeat);
    ev_timer_stop(d->loop, &d->flush_deadline);
    ev_timer_stop(d->loop, &d->drain_deadline);
    status_server_free(d->status);
    daemon_mapi_free(d);
    daemon_model_free(d);
    elector_free(d->elector);
    collector_free(d->collector);
    for (size_t i = 0; i < d->nsinks; i++)
        sink_free(d->sinks[i]);
    kube_client_free(d->kube);
    http_client_free(d->http);
}

int daemon_run(const struct kp_options *opts)
{
    struct daemon d = {.released_at = -1};
    char err[1024] = "";

    d.loop = EV_DEFAULT;
    d.o = opts;
    ev_timer_init(&d.drain_deadline, on_drain_deadline, 0., 0.);
    ev_set_priority(&d.drain_deadline, EV_MAXPRI);
    d.drain_deadline.data = &d;
    d.started_at = ev_now(d.loop);
    d.last_beat = d.started_at;
    if (opts->identity && *opts->identity)
        snprintf(d.identity, sizeof(d.identity), "%s", opts->identity);
    else
        daemon_default_identity(d.identity, sizeof(d.identity));
    log_info("kubepulse starting", LF_STR("version", KP_VERSION), LF_STR("identity", d.identity));
    if (opts->kubelet_insecure_tls)
        log_warn("TLS verification of kubelets is off (--kubelet-insecure-tls, or --source "
                 "insecure=true)");
    if (opts->kubelet_http)
        log_warn("kubelets are scraped over plain HTTP (--source kubeletHttps=false): no TLS, "
                 "no authentication; current kubelets disable this read-only port",
                 LF_INT("port", opts->kubelet_port));

    /* Every flag was checked by kp_options_parse; the sinks open (reading their secret files)
     * before the kubeconfig is loaded, and nothing has connected yet. */
    if (open_http(&d, err, sizeof(err)) < 0 || open_sinks(&d, err, sizeof(err)) < 0 ||
        open_api(&d, err, sizeof(err)) < 0)
        goto fail;
    if (open_collector(&d, err, sizeof(err)) < 0 || daemon_status_start(&d, err, sizeof(err)) < 0 ||
        daemon_mapi_start(&d, err, sizeof(err)) < 0 ||
        daemon_model_start(&d, err, sizeof(err)) < 0 || open_election(&d, err, sizeof(err)) < 0)
        goto fail;

    ev_signal_init(&d.sig_term, on_signal, SIGTERM);
    ev_signal_init(&d.sig_int, on_signal, SIGINT);
    ev_set_priority(&d.sig_term, EV_MAXPRI); /* before the scrape I/O of the same iteration */
    ev_set_priority(&d.sig_int, EV_MAXPRI);
    d.sig_term.data = d.sig_int.data = &d;
    ev_signal_start(d.loop, &d.sig_term);
    ev_signal_start(d.loop, &d.sig_int);
    ev_timer_init(&d.heartbeat, on_heartbeat, HEARTBEAT_S, HEARTBEAT_S);
    d.heartbeat.data = &d;
    ev_timer_start(d.loop, &d.heartbeat);
    ev_run(d.loop, 0);
    log_info("kubepulse stopped", LF_STR("identity", d.identity));
    daemon_fini(&d);
    return d.exit_code;
fail:
    log_error("cannot start", LF_ERR(err));
    fprintf(stderr, "kubepulse: %s\n", err);
    daemon_fini(&d);
    return 1;
}
