/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check.c - `kubepulse --check-release`: the `helm test` of the chart, run from the release's
 * own image. It proves the release works, not only that a port answers: the Lease
 * (--lease-name in --lease-namespace) names a holder, that Pod has an IP, and the holder's
 * /status there (the port of --listen) says it leads, has completed a scrape cycle and that
 * every sink has acknowledged points. It asks again every 2 s until all hold or
 * --check-timeout passes; exit 0 with "ok: ..." on stdout, else 1 with "FAIL: REASON" on
 * stderr. API access as the daemon's (in-cluster, --kubeconfig, ...); it needs get on that
 * Lease and on pods in its namespace, nothing else.
 */
#include "check.h"

#include <ev.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "kube.h"
#include "version.h"

#define CHECK_RETRY_S    2.0
#define CHECK_REQUEST_MS 10000L
#define CHECK_STATUS_MAX (1 << 20)

struct check {
    const struct kp_options *o; /* borrowed */
    struct ev_loop *loop;       /* borrowed */
    struct http_client *http;   /* owned */
    struct kube_client *kube;   /* owned */
    struct kube_call *call;     /* in flight, or NULL */
    struct http_request *req;   /* in flight, or NULL */
    ev_timer retry, deadline;
    char ns[256], port[16];
    char holder[512];
    char why[768]; /* why the last attempt did not pass */
    int rc;
};

static void attempt(struct check *c);

static void not_yet(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void not_yet(struct check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
    printf("waiting: %s\n", c->why);
    fflush(stdout);
    ev_timer_set(&c->retry, CHECK_RETRY_S, 0.);
    ev_timer_start(c->loop, &c->retry);
}

static void passed(struct check *c)
{
    printf("ok: %s leads, completed a scrape cycle, and every sink wrote\n", c->holder);
    c->rc = 0;
    ev_break(c->loop, EVBREAK_ALL);
}

static const char *jstr(json_object *o, const char *a, const char *b)
{
    json_object *x;
    if (!json_object_object_get_ex(o, a, &x) || (b && !json_object_object_get_ex(x, b, &x)))
        return NULL;
    return json_object_is_type(x, json_type_string) ? json_object_get_string(x) : NULL;
}

/* The holder's /status: leading, a completed cycle, every sink with points written. */
static void on_status(const struct http_result *res, void *ud)
{
    struct check *c = ud;
    json_object *st, *v, *sinks;
    c->req = NULL;
    if (res->error || res->status != 200) {
        not_yet(c, "%s: GET /status failed (%s)", c->holder,
                res->error ? res->error_msg : "not 200");
        return;
    }
    if (!(st = json_tokener_parse(res->body))) {
        not_yet(c, "%s: /status is not JSON", c->holder);
        return;
    }
    if (!json_object_object_get_ex(st, "leading", &v) || !json_object_get_boolean(v))
        not_yet(c, "%s holds the Lease but does not lead (yet)", c->holder);
    else if (!json_object_object_get_ex(st, "collector", &v) ||
             !json_object_object_get_ex(v, "cycles", &v) || json_object_get_int64(v) < 1)
        not_yet(c, "%s leads but has not completed a scrape cycle yet", c->holder);
    else if (!json_object_object_get_ex(st, "sinks", &sinks) ||
             !json_object_is_type(sinks, json_type_array) || json_object_array_length(sinks) == 0)
        not_yet(c, "%s has no sink", c->holder);
    else {
        size_t n = json_object_array_length(sinks), i;
        for (i = 0; i < n; i++) {
            json_object *s = json_object_array_get_idx(sinks, i), *w;
            if (!json_object_object_get_ex(s, "pointsWritten", &w) || json_object_get_int64(w) < 1)
                break;
        }
        if (i < n)
            not_yet(c, "%s: a sink has not written any point yet", c->holder);
        else
            passed(c);
    }
    json_object_put(st);
}

static void on_pod(const struct kube_response *r, void *ud)
{
    struct check *c = ud;
    char url[512], err[256];
    c->call = NULL;
    const char *ip = r->status == 200 ? jstr(r->body, "status", "podIP") : NULL;
    if (!ip || !*ip) {
        not_yet(c, "the holder %s is not a pod with an IP (%s)", c->holder,
                r->status == 200 ? "no status.podIP"
                : r->error       ? r->error
                                 : "no answer");
        return;
    }
    bool v6 = strchr(ip, ':') != NULL;
    snprintf(url, sizeof(url), "http://%s%.64s%s:%s/status", v6 ? "[" : "", ip, v6 ? "]" : "",
             c->port);
    struct http_request_opts ro = {.url = url,
                                   .timeout_ms = CHECK_REQUEST_MS,
                                   .max_body = CHECK_STATUS_MAX,
                                   .on_done = on_status,
                                   .ud = c};
    if (!(c->req = http_request_start(c->http, &ro, err, sizeof(err))))
        not_yet(c, "%s: %s", c->holder, err);
}

static void on_lease(const struct kube_response *r, void *ud)
{
    struct check *c = ud;
    char path[1024];
    c->call = NULL;
    if (r->status != 200) {
        not_yet(c, "cannot read the Lease %s/%s (%s)", c->ns, c->o->lease_name,
                r->error ? r->error : "no answer");
        return;
    }
    const char *h = jstr(r->body, "spec", "holderIdentity");
    if (!h || !*h) {
        not_yet(c, "the Lease %s has no holder: no replica leads", c->o->lease_name);
        return;
    }
    snprintf(c->holder, sizeof(c->holder), "%s", h);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", c->ns, c->holder);
    if (!(c->call = kube_request(c->kube, "GET", path, NULL, CHECK_REQUEST_MS, on_pod, c)))
        not_yet(c, "cannot ask for the pod %s", c->holder);
}

static void attempt(struct check *c)
{
    char path[1024];
    snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", c->ns,
             c->o->lease_name);
    c->holder[0] = '\0';
    if (!(c->call = kube_request(c->kube, "GET", path, NULL, CHECK_REQUEST_MS, on_lease, c)))
        not_yet(c, "cannot ask for the Lease");
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    attempt(w->data);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct check *c = w->data;
    (void)revents;
    fprintf(stderr, "FAIL: %s\n", c->why[0] ? c->why : "no answer before --check-timeout");
    c->rc = 1;
    ev_break(loop, EVBREAK_ALL);
}

int check_release_run(const struct kp_options *o)
{
    struct check c = {.o = o, .loop = ev_default_loop(0), .rc = 1};
    struct kube_config *cfg = NULL;
    char err[1024], ua[128];
    const char *colon = strrchr(o->listen, ':');

    snprintf(c.port, sizeof(c.port), "%.15s", colon ? colon + 1 : o->listen);
    snprintf(ua, sizeof(ua), "kubepulse/%s (check-release)", KP_VERSION);
    struct http_client_opts hopts = {.user_agent = ua};
    struct kube_client_opts kopts = {.user_agent = ua};
    if (!(c.http = http_client_new(c.loop, &hopts, err, sizeof(err))) ||
        kube_config_load_auto(o->kubeconfig, o->context, &cfg, err, sizeof(err)) < 0)
        goto fail;
    snprintf(c.ns, sizeof(c.ns), "%s",
             o->lease_namespace && *o->lease_namespace ? o->lease_namespace
             : cfg->namespace && *cfg->namespace       ? cfg->namespace
                                                       : "default");
    if (!(c.kube = kube_client_new(c.loop, c.http, cfg, &kopts, err, sizeof(err)))) {
        cfg = NULL; /* the client took it, also when it failed */
        goto fail;
    }
    ev_timer_init(&c.retry, on_retry, CHECK_RETRY_S, 0.);
    ev_timer_init(&c.deadline, on_deadline, o->check_timeout_s, 0.);
    c.retry.data = c.deadline.data = &c;
    ev_timer_start(c.loop, &c.deadline);
    attempt(&c);
    ev_run(c.loop, 0);
    ev_timer_stop(c.loop, &c.retry);
    ev_timer_stop(c.loop, &c.deadline);
    kube_call_cancel(c.call);
    http_request_cancel(c.req);
    kube_client_free(c.kube);
    http_client_free(c.http);
    return c.rc;
fail:
    fprintf(stderr, "FAIL: %s\n", err);
    kube_config_free(cfg);
    http_client_free(c.http);
    return 1;
}
