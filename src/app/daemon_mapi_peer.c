/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon_mapi_peer.c - the metrics API on every replica, not only the leader
 * (issue #17, HA). A Service sends `kubectl top` to any ready replica, but only
 * the leader scrapes. So:
 *
 * - The leader publishes where its metrics API is: a second Lease,
 *   "<lease-name>-metrics-api" in the Lease's namespace, whose holderIdentity
 *   is the leader's identity and whose annotation kubepulse.io/metrics-api is
 *   "host:port" (--metrics-api-advertise-address, default $POD_IP). It writes
 *   it when it starts leading and checks it every ten resolutions.
 * - Every follower, half a resolution after each grid tick (when the leader's
 *   cycle is done), reads that Lease and, when it names the leader the election
 *   shows, fetches the leader's samples (GET /kubepulse/v1/samples, with its
 *   ServiceAccount token; the leader authenticates and authorizes it like any
 *   request) and serves its copy. A follower thus answers from data at most one
 *   cycle older than the leader's, needs no request to the leader per query, and
 *   keeps answering while the leader is gone; the one that takes over already
 *   holds the previous samples, so its first cycle is served at once.
 *
 * The peer's certificate is verified against --metrics-api-ca-file for the name
 * --metrics-api-peer-server-name (default the advertised host).
 */
#include <ev.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "daemon_int.h"
#include "http.h"
#include "kube.h"
#include "log.h"
#include "metricsapi.h"

#define ANNOTATION   "kubepulse.io/metrics-api"
#define SAMPLES_PATH "/kubepulse/v1/samples"

struct mapi_peer {
    struct daemon *d;         /* borrowed */
    struct mapi_store *store; /* borrowed */
    char lease_name[300];
    char advertise[300]; /* "host:port", or "" when unknown */
    ev_timer tick;
    unsigned ticks;
    bool published;
    struct kube_call *call;    /* the Lease in flight */
    struct http_request *pull; /* the samples in flight */
    char auth_header[8192];
    uint64_t pulls_ok, pulls_failed;
    double last_pull_ok; /* wall seconds */
};

static const char *annotation(json_object *lease)
{
    json_object *m, *a, *v;
    if (json_object_object_get_ex(lease, "metadata", &m) &&
        json_object_object_get_ex(m, "annotations", &a) &&
        json_object_object_get_ex(a, ANNOTATION, &v))
        return json_object_get_string(v);
    return NULL;
}

static const char *holder(json_object *lease)
{
    json_object *spec, *h;
    if (json_object_object_get_ex(lease, "spec", &spec) &&
        json_object_object_get_ex(spec, "holderIdentity", &h))
        return json_object_get_string(h);
    return NULL;
}

/* ---- the leader publishes -------------------------------------------------------- */

static void on_written(const struct kube_response *r, void *ud)
{
    struct mapi_peer *p = ud;
    p->call = NULL;
    if (r->status == 200 || r->status == 201) {
        p->published = true;
        log_info("metrics API address published", LF_STR("lease", p->lease_name),
                 LF_STR("address", p->advertise));
    } else {
        log_warn("cannot publish the metrics API address; followers answer from what they "
                 "have",
                 LF_STR("lease", p->lease_name), LF_INT("status", r->status),
                 LF_ERR(r->error ? r->error : ""));
    }
}

static void write_lease(struct mapi_peer *p, json_object *old)
{
    char path[700];
    json_object *o = old ? json_object_get(old) : json_object_new_object();
    json_object *meta, *spec, *ann;
    if (!json_object_object_get_ex(o, "metadata", &meta)) {
        meta = json_object_new_object();
        json_object_object_add(o, "metadata", meta);
    }
    json_object_object_add(o, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
    json_object_object_add(o, "kind", json_object_new_string("Lease"));
    json_object_object_add(meta, "name", json_object_new_string(p->lease_name));
    if (!json_object_object_get_ex(meta, "annotations", &ann)) {
        ann = json_object_new_object();
        json_object_object_add(meta, "annotations", ann);
    }
    json_object_object_add(ann, ANNOTATION, json_object_new_string(p->advertise));
    spec = json_object_new_object();
    json_object_object_add(spec, "holderIdentity", json_object_new_string(p->d->identity));
    json_object_object_add(o, "spec", spec);
    if (old)
        snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s",
                 p->d->lease_namespace, p->lease_name);
    else
        snprintf(path, sizeof(path), "/apis/coordination.k8s.io/v1/namespaces/%s/leases",
                 p->d->lease_namespace);
    p->call = kube_request(p->d->kube, old ? "PUT" : "POST", path, o, 10000, on_written, p);
    json_object_put(o);
}

static void on_lease_for_publish(const struct kube_response *r, void *ud)
{
    struct mapi_peer *p = ud;
    p->call = NULL;
    if (!daemon_may_write(p->d))
        return;
    if (r->status == 404) {
        write_lease(p, NULL);
        return;
    }
    if (r->status != 200 || !r->body)
        return;
    const char *h = holder(r->body), *a = annotation(r->body);
    if (h && a && !strcmp(h, p->d->identity) && !strcmp(a, p->advertise)) {
        p->published = true;
        return;
    }
    write_lease(p, r->body);
}

static void lease_path(struct mapi_peer *p, char *out, size_t outlen)
{
    snprintf(out, outlen, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s",
             p->d->lease_namespace, p->lease_name);
}

static void publish(struct mapi_peer *p)
{
    char path[700];
    if (p->call || !p->advertise[0])
        return;
    lease_path(p, path, sizeof(path));
    p->call = kube_request(p->d->kube, "GET", path, NULL, 10000, on_lease_for_publish, p);
}

/* ---- followers pull -------------------------------------------------------------- */

void mapi_peer_host(const char *addr, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", addr);
    char *close = out[0] == '[' ? strchr(out, ']') : NULL;
    if (close) { /* "[v6]:port": what is between the brackets */
        *close = '\0';
        memmove(out, out + 1, strlen(out + 1) + 1);
        return;
    }
    char *colon = strrchr(out, ':');
    if (colon)
        *colon = '\0';
}

static void on_samples(const struct http_result *res, void *ud)
{
    struct mapi_peer *p = ud;
    char err[256];
    p->pull = NULL;
    if (res->error || res->status != 200) {
        p->pulls_failed++;
        log_warn("cannot fetch the leader's samples; serving the last copy",
                 LF_INT("status", res->status), LF_ERR(res->error ? res->error_msg : ""));
        return;
    }
    if (daemon_may_write(p->d))
        return; /* became leader meanwhile: own samples win */
    if (mapi_store_import(p->store, res->body, res->body_len, err, sizeof(err)) < 0) {
        p->pulls_failed++;
        log_warn("leader's samples refused", LF_ERR(err));
        return;
    }
    p->pulls_ok++;
    p->last_pull_ok = ev_time();
}

static void on_lease_for_pull(const struct kube_response *r, void *ud)
{
    struct mapi_peer *p = ud;
    const struct kp_options *o = p->d->o;
    p->call = NULL;
    if (r->status != 200 || !r->body || daemon_may_write(p->d))
        return;
    const char *h = holder(r->body), *a = annotation(r->body);
    /* only the leader the election shows; a stale record names a replica gone */
    if (!h || !a || !*a || strcmp(h, p->d->observed_leader) != 0 || !strcmp(h, p->d->identity))
        return;
    const char *token = kube_client_token(p->d->kube);
    char url[400], host[300];
    snprintf(url, sizeof(url), "https://%s%s", a, SAMPLES_PATH);
    mapi_peer_host(a, host, sizeof(host));
    snprintf(p->auth_header, sizeof(p->auth_header), "Authorization: Bearer %s",
             token ? token : "");
    const char *headers[] = {p->auth_header, "Accept: application/json", NULL};
    struct http_tls tls = {.ca_file = o->metrics_api_ca_file,
                           .server_name =
                               o->metrics_api_peer_server_name && *o->metrics_api_peer_server_name
                                   ? o->metrics_api_peer_server_name
                                   : host};
    /* the API credential's client certificate, when it has one (a kubeconfig's); a token
     * goes in the header above */
    const struct http_tls *api = kube_client_tls(p->d->kube);
    if (api) {
        tls.cert_file = api->cert_file;
        tls.cert_pem = api->cert_pem;
        tls.cert_pem_len = api->cert_pem_len;
        tls.key_file = api->key_file;
        tls.key_pem = api->key_pem;
        tls.key_pem_len = api->key_pem_len;
    }
    struct http_request_opts ro = {.url = url,
                                   .headers = token ? headers : headers + 1,
                                   .tls = &tls,
                                   .timeout_ms = 20000,
                                   .max_body = MAPI_IMPORT_MAX,
                                   .on_done = on_samples,
                                   .ud = p};
    char err[256];
    p->pull = http_request_start(p->d->http, &ro, err, sizeof(err));
    if (!p->pull)
        log_warn("cannot fetch the leader's samples", LF_ERR(err));
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct mapi_peer *p = w->data;
    double res = p->d->o->metric_resolution_s, now = ev_now(loop);
    (void)revents;
    /* half a resolution after the grid */
    double next = collector_grid(res, now) + 1.5 * res - now;
    if (next > res)
        next -= res;
    ev_timer_set(w, next, 0.);
    ev_timer_start(loop, w);
    p->ticks++;
    if (daemon_may_write(p->d)) {
        if (!p->published || p->ticks % 10 == 0)
            publish(p);
        return;
    }
    p->published = false;
    if (p->call || p->pull || !p->d->observed_leader[0] || !p->d->o->metrics_api_ca_file ||
        !*p->d->o->metrics_api_ca_file)
        return;
    char path[700];
    lease_path(p, path, sizeof(path));
    p->call = kube_request(p->d->kube, "GET", path, NULL, 10000, on_lease_for_pull, p);
}

struct mapi_peer *mapi_peer_new(struct daemon *d, struct mapi_store *store, int port)
{
    struct mapi_peer *p = calloc(1, sizeof(*p));
    const char *host = d->o->metrics_api_advertise_address;
    if (!p)
        return NULL;
    p->d = d;
    p->store = store;
    snprintf(p->lease_name, sizeof(p->lease_name), "%s-metrics-api", d->o->lease_name);
    if (!host || !*host)
        host = getenv("POD_IP");
    if (host && *host)
        snprintf(p->advertise, sizeof(p->advertise), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
                 port);
    else
        log_warn("no --metrics-api-advertise-address and no $POD_IP: followers cannot find "
                 "this replica's metrics API when it leads");
    if (!d->o->metrics_api_ca_file || !*d->o->metrics_api_ca_file)
        log_warn("no --metrics-api-ca-file: this replica cannot verify the leader, and answers "
                 "only what it collected itself while leading");
    ev_timer_init(&p->tick, on_tick, 0.5, 0.);
    p->tick.data = p;
    ev_timer_start(d->loop, &p->tick);
    return p;
}

/* The leader's samples endpoint. */
bool mapi_peer_samples(struct mapi_peer *p, const char *method, const char *target,
                       struct mapi_response *r)
{
    size_t n = strlen(SAMPLES_PATH);
    if (strncmp(target, SAMPLES_PATH, n) != 0 || (target[n] && target[n] != '?'))
        return false;
    if (strcmp(method, "GET") != 0) { /* authorized as another verb than get */
        mapi_status(r, 405, "only get is supported");
        return true;
    }
    if (!daemon_may_write(p->d)) {
        mapi_status(r, 503, "this replica does not lead");
        return true;
    }
    memset(r, 0, sizeof(*r));
    r->body = mapi_store_export(p->store, &r->len);
    r->code = r->body ? 200 : 500;
    r->content_type = "application/json";
    return true;
}

bool mapi_peer_has_data(const struct mapi_peer *p)
{
    return p->pulls_ok > 0 || daemon_may_write(p->d);
}

void mapi_peer_started_leading(struct mapi_peer *p)
{
    if (p) {
        http_request_cancel(p->pull);
        p->pull = NULL;
        p->published = false;
        publish(p);
    }
}

void mapi_peer_free(struct mapi_peer *p)
{
    if (!p)
        return;
    ev_timer_stop(p->d->loop, &p->tick);
    kube_call_cancel(p->call);
    http_request_cancel(p->pull);
    free(p);
}
