/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon_mapi.c - the resource metrics API in the daemon: the leader's
 * batches feed the store (metricsapi), the HTTPS server (https_server) takes
 * requests, delegated authentication and authorization (kube_auth) decide on
 * each, and the store answers.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "https_server.h"
#include "kube_auth.h"
#include "log.h"
#include "metricsapi.h"
#include "status.h"
#include "util.h"

struct pending {
    struct daemon_mapi *m;     /* borrowed */
    struct https_request *req; /* borrowed until answered */
    struct kube_auth_check *check;
    struct mapi_attrs at; /* for the 403's message */
    bool starting, finished;
    struct pending *prev, *next;
};

struct daemon_mapi {
    struct daemon *d;         /* borrowed */
    struct mapi_store *store; /* owned */
    struct https_server *srv; /* owned */
    struct kube_auth *auth;   /* owned */
    struct mapi_peer *peer;   /* owned */
    struct pending *pending;  /* owned list */
    uint64_t answered[6];     /* 2xx, 401, 403, 404, 5xx, other */
};

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pending_free(struct pending *p)
{
    KP_DLIST_UNLINK(p->m->pending, p);
    free(p);
}

static void answer(struct daemon_mapi *m, struct https_request *req, struct mapi_response *r)
{
    int c = r->code;
    m->answered[c < 300 ? 0 : c == 401 ? 1 : c == 403 ? 2 : c == 404 ? 3 : c >= 500 ? 4 : 5]++;
    if (!r->body)
        https_respond(req, 500, "text/plain", "out of memory\n", 14);
    else
        https_respond(req, r->code, r->content_type, r->body, r->len);
    free(r->body);
}

static void on_decided(int code, const char *message, const char *user, void *ud)
{
    struct pending *p = ud;
    struct daemon_mapi *m = p->m;
    struct mapi_response r;
    if (code == 200 && p->at.resource && !mapi_peer_has_data(m->peer) &&
        mapi_store_node_count(m->store) == 0 && mapi_store_pod_count(m->store) == 0) {
        /* a follower that has not yet copied the leader's samples: not an empty list, which
         * would read as "no pods" */
        mapi_status(&r, 503, "no metrics on this replica yet: it has not reached the leader");
    } else if (code == 200) {
        if (!mapi_peer_samples(m->peer, p->req->head.method, p->req->head.target, &r))
            mapi_handle(m->store, p->req->head.method, p->req->head.target, wall_ns(), &r);
    } else {
        char msg[1200];
        const struct mapi_attrs *at = &p->at;
        /* the API server's wording, so that kubectl shows what users know */
        if (code == 403 && at->resource)
            snprintf(msg, sizeof(msg),
                     "%s.metrics.k8s.io%s%.200s%s is forbidden: User \"%.200s\" cannot %s "
                     "resource \"%s\" in API group \"metrics.k8s.io\" %s%.200s%s%s%.200s",
                     at->kind, at->name[0] ? " \"" : "", at->name, at->name[0] ? "\"" : "",
                     user ? user : "", at->verb, at->kind,
                     at->ns[0] ? "in the namespace \"" : "at the cluster scope", at->ns,
                     at->ns[0] ? "\"" : "", message && *message ? ": " : "",
                     message ? message : "");
        else if (code == 403)
            snprintf(msg, sizeof(msg),
                     "forbidden: User \"%.200s\" cannot %s path \"%.300s\"%s%.200s",
                     user ? user : "", at->verb, at->path, message && *message ? ": " : "",
                     message ? message : "");
        else
            snprintf(msg, sizeof(msg), "%s", message ? message : "Unauthorized");
        mapi_status(&r, code, msg);
    }
    log_v(2, "metrics API request", LF_STR("remote", p->req->remote),
          LF_STR("user", user ? user : ""), LF_STR("target", p->req->head.target),
          LF_INT("code", r.code));
    answer(m, p->req, &r);
    p->check = NULL;
    if (p->starting)
        p->finished = true;
    else
        pending_free(p);
}

static void on_request(struct https_request *req, void *ud)
{
    struct daemon_mapi *m = ud;
    struct mapi_response r;
    struct pending *p = calloc(1, sizeof(*p));
    if (!p) {
        mapi_status(&r, 503, "out of memory");
        answer(m, req, &r);
        return;
    }
    struct mapi_attrs *at = &p->at;
    if (mapi_request_attrs(req->head.method, req->head.target, at) < 0) {
        free(p);
        mapi_status(&r, 400, "malformed request path or query");
        answer(m, req, &r);
        return;
    }
    p->m = m;
    p->req = req;
    KP_DLIST_PUSH(m->pending, p);
    struct kube_auth_attrs ka = {.verb = at->verb};
    if (at->resource) {
        ka.group = "metrics.k8s.io";
        ka.version = "v1beta1";
        ka.resource = at->kind;
        ka.namespace = at->ns[0] ? at->ns : NULL;
        ka.name = at->name[0] ? at->name : NULL;
    } else {
        ka.path = at->path;
    }
    p->starting = true;
    p->check = kube_auth_start(m->auth, req->peer, req->peer_chain, &req->head, &ka, on_decided, p);
    p->starting = false;
    if (p->finished)
        pending_free(p);
}

int daemon_mapi_start(struct daemon *d, char *err, size_t errlen)
{
    const struct kp_options *o = d->o;
    if (!o->metrics_api_listen || !*o->metrics_api_listen)
        return 0;
    struct daemon_mapi *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->d = d;
    d->mapi = m;
    m->store = mapi_store_new(o->metric_resolution_s);
    struct kube_auth_opts ao = {0};
    m->auth = kube_auth_new(d->loop, d->kube, &ao);
    struct https_server_opts so = {.listen = o->metrics_api_listen,
                                   .cert_file = o->tls_cert_file,
                                   .key_file = o->tls_private_key_file};
    if (!m->store || !m->auth) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char e[512];
    m->srv = https_server_new(d->loop, &so, on_request, m, e, sizeof(e));
    if (!m->srv) {
        snprintf(err, errlen, "metrics API (--metrics-api-listen): %s", e);
        return -1;
    }
    log_info("metrics API serving", LF_STR("listen", o->metrics_api_listen),
             LF_INT("port", https_server_port(m->srv)));
    m->peer = mapi_peer_new(d, m->store, https_server_port(m->srv));
    if (!m->peer) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* On demand, the window also stops when no batches come (a follower, a stuck cycle). */
static void on_model_idle(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct daemon *d = t->data;
    mapi_window_tick(d->model);
}

int daemon_model_start(struct daemon *d, char *err, size_t errlen)
{
    enum kp_model_api mode = kp_options_model_api(d->o);
    if (mode == KP_MODEL_API_OFF)
        return 0;
    struct mapi_window_opts wo = {.resolution_s = d->o->metric_resolution_s,
                                  .mode = mode == KP_MODEL_API_ALWAYS ? MAPI_WINDOW_ALWAYS
                                                                      : MAPI_WINDOW_ON_DEMAND};
    d->model = mapi_window_new(&wo);
    if (!d->model) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (mode == KP_MODEL_API_ON_DEMAND) {
        ev_timer_init(&d->model_idle, on_model_idle, 60, 60);
        d->model_idle.data = d;
        ev_timer_start(d->loop, &d->model_idle);
    }
    log_info("Heapster's model API on the status port",
             LF_STR("modelApi", mode == KP_MODEL_API_ALWAYS ? "always" : "on-demand"));
    return 0;
}

void daemon_model_free(struct daemon *d)
{
    if (d->model)
        ev_timer_stop(d->loop, &d->model_idle);
    mapi_window_free(d->model);
    d->model = NULL;
}

void daemon_model_page(struct daemon *d, const char *path, struct status_response *r)
{
    struct mapi_response mr;
    if (!d->model) {
        r->code = 404;
        status_buf_printf(&r->body, "Heapster's model API is off (%s)\n",
                          d->o->disable_metric_sink ? "--disable_metric_sink" : "--model-api=off");
        return;
    }
    mapi_window_handle(d->model, path, r->query, wall_ns(), &mr);
    r->code = mr.body ? mr.code : 500;
    r->content_type = mr.content_type ? mr.content_type : "text/plain; charset=utf-8";
    if (mr.body)
        status_buf_append(&r->body, mr.body, mr.len);
    free(mr.body);
}

void daemon_mapi_batch(struct daemon *d, const struct kp_batch *b)
{
    if (d->model)
        mapi_window_add_batch(d->model, b);
    if (d->mapi && mapi_store_add_batch(d->mapi->store, b) < 0)
        log_warn("metrics API: out of memory; this cycle is not served");
}

void daemon_mapi_cycle_done(struct daemon *d)
{
    if (d->mapi)
        mapi_store_commit(d->mapi->store);
}

void daemon_mapi_stopped_leading(struct daemon *d)
{
    if (d->mapi)
        mapi_store_discard(d->mapi->store);
}

void daemon_mapi_started_leading(struct daemon *d)
{
    if (d->mapi)
        mapi_peer_started_leading(d->mapi->peer);
}

void daemon_mapi_free(struct daemon *d)
{
    struct daemon_mapi *m = d->mapi;
    if (!m)
        return;
    mapi_peer_free(m->peer);
    /* checks first (no more callbacks), then the requests they held */
    kube_auth_free(m->auth);
    https_server_free(m->srv);
    while (m->pending)
        pending_free(m->pending);
    mapi_store_free(m->store);
    free(m);
    d->mapi = NULL;
}
