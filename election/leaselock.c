/* SPDX-License-Identifier: Apache-2.0 */
/*
 * leaselock.c - the elector's lock over the Kubernetes API: the Lease
 * coordination.k8s.io/v1 NS/NAME read, created and replaced with kube_request,
 * followed with kube_watch, and "LeaderElection" Events recorded on it.
 *
 * Like client-go's resourcelock.LeaseLock, an update replaces only the spec of
 * the last object read (labels, annotations and owners survive) and carries
 * its metadata.resourceVersion, so the API server rejects it with 409 when
 * anyone wrote in between. Answers are mapped to elector_lock_status here;
 * what to do about them is elector.c's business.
 */
#include "elector_lock.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube.h"
#include "log.h"

#define LEASES_API       "/apis/coordination.k8s.io/v1/namespaces"
#define EVENT_TIMEOUT_MS 5000

struct leaselock {
    struct ev_loop *loop;   /* borrowed */
    struct kube_client *kc; /* borrowed */
    char ns[LEASE_NS_MAX], name[LEASE_NAME_MAX];
    char identity[LEASE_HOLDER_MAX];
    char path[sizeof(LEASES_API) + LEASE_NS_MAX + LEASE_NAME_MAX + 16];
    json_object *last;        /* owned: the newest Lease object seen, the base of updates */
    struct kube_watch *watch; /* owned */
    elector_lock_watch_fn watch_fn;
    void *watch_ud;
    bool watch_seen;      /* the Lease was in the watch's view */
    bool watch_list_seen; /* ...since the current list began */
    char watch_error[256];
    /* Watch news is handed to the elector from the loop, not from inside the
     * stream's data callback (where new requests cannot be started): only the
     * latest state matters, so it is coalesced here. */
    ev_timer watch_defer;
    bool watch_pending, watch_pending_deleted;
    struct lease_record watch_pending_rec;
    struct kube_call *event_call; /* owned, best effort */
    bool event_warned;            /* a failed Event was logged as a warning once */
};

/* One request in flight. Its result is kept so that an answer arriving while
 * kube_request has not yet returned is delivered from the loop instead. */
struct elector_lock_op {
    struct leaselock *ll; /* borrowed */
    struct kube_call *call;
    const char *verb; /* "get", "create", "update": for messages */
    elector_lock_done_fn done;
    void *ud;
    bool starting, finished;
    ev_timer defer;
    enum elector_lock_status status;
    struct lease_record rec;
    char error[1024];
};

static void ll_set_last(struct leaselock *ll, json_object *obj)
{
    json_object *copy = NULL;
    if (json_object_deep_copy(obj, &copy, NULL) != 0)
        return;
    json_object_put(ll->last);
    ll->last = copy;
}

static void op_deliver(struct elector_lock_op *op)
{
    struct elector_lock_result r = {
        .status = op->status,
        .rec = op->status == ELECTOR_LOCK_OK ? &op->rec : NULL,
        .error = op->error[0] ? op->error : NULL,
    };
    /* r points into op: free it only after done (which never cancels the op it
     * is being told about: the elector forgets it first). */
    op->done(&r, op->ud);
    free(op);
}

static void op_defer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    ev_timer_stop(loop, w);
    op_deliver(w->data);
}

/* Turn an API answer into a lock status with a message an operator can act on. */
static void op_classify(struct elector_lock_op *op, const struct kube_response *resp)
{
    struct leaselock *ll = op->ll;
    const char *detail = resp->error ? resp->error : "";
    char derr[256];
    if (resp->http_error) {
        op->status = ELECTOR_LOCK_ERROR;
        snprintf(op->error, sizeof(op->error), "%s lease %s/%s: transport error: %s", op->verb,
                 ll->ns, ll->name, detail);
    } else if (resp->status == 200 || resp->status == 201) {
        if (lease_record_from_json(resp->body, &op->rec, derr, sizeof(derr)) == 0) {
            op->status = ELECTOR_LOCK_OK;
            ll_set_last(ll, resp->body);
        } else {
            op->status = ELECTOR_LOCK_ERROR;
            snprintf(op->error, sizeof(op->error), "%s lease %s/%s: undecodable answer: %s",
                     op->verb, ll->ns, ll->name, derr);
        }
    } else if (resp->status == 404) {
        op->status = ELECTOR_LOCK_NOT_FOUND;
        snprintf(op->error, sizeof(op->error), "lease %s/%s not found: %s", ll->ns, ll->name,
                 detail);
    } else if (resp->status == 409) {
        op->status = ELECTOR_LOCK_CONFLICT;
        snprintf(op->error, sizeof(op->error), "%s lease %s/%s: conflict: %s", op->verb, ll->ns,
                 ll->name, detail);
    } else if (resp->status == 401 || resp->status == 403) {
        op->status = ELECTOR_LOCK_FORBIDDEN;
        snprintf(op->error, sizeof(op->error),
                 "%s: cannot %s leases.coordination.k8s.io \"%s\" in namespace \"%s\" (HTTP %ld): "
                 "%s; grant get, create, update, list and watch on leases to this identity",
                 resp->status == 401 ? "unauthorized" : "forbidden", op->verb, ll->name, ll->ns,
                 resp->status, detail);
    } else {
        op->status = ELECTOR_LOCK_ERROR;
        snprintf(op->error, sizeof(op->error), "%s lease %s/%s: HTTP %ld %s: %s", op->verb, ll->ns,
                 ll->name, resp->status, resp->reason ? resp->reason : "", detail);
    }
}

static void op_kube_done(const struct kube_response *resp, void *ud)
{
    struct elector_lock_op *op = ud;
    op->call = NULL;
    op_classify(op, resp);
    op->finished = true;
    if (op->starting) {
        ev_timer_init(&op->defer, op_defer_cb, 0, 0);
        op->defer.data = op;
        ev_timer_start(op->ll->loop, &op->defer);
        return;
    }
    op_deliver(op);
}

static struct elector_lock_op *op_start(struct leaselock *ll, const char *verb, const char *method,
                                        const char *path, json_object *body, long timeout_ms,
                                        elector_lock_done_fn done, void *ud)
{
    struct elector_lock_op *op = calloc(1, sizeof(*op));
    if (!op)
        return NULL;
    op->ll = ll;
    op->verb = verb;
    op->done = done;
    op->ud = ud;
    op->starting = true;
    op->call = kube_request(ll->kc, method, path, body, timeout_ms, op_kube_done, op);
    op->starting = false;
    if (!op->call && !op->finished) {
        free(op);
        return NULL;
    }
    return op;
}

static struct elector_lock_op *ll_get(void *lock, long timeout_ms, elector_lock_done_fn done,
                                      void *ud)
{
    struct leaselock *ll = lock;
    char path[sizeof(ll->path) + LEASE_NAME_MAX];
    snprintf(path, sizeof(path), "%s/%s", ll->path, ll->name);
    return op_start(ll, "get", "GET", path, NULL, timeout_ms, done, ud);
}

static struct elector_lock_op *ll_create(void *lock, const struct lease_record *rec,
                                         long timeout_ms, elector_lock_done_fn done, void *ud)
{
    struct leaselock *ll = lock;
    struct lease_record r = *rec;
    r.resource_version[0] = '\0';
    json_object *body = lease_object_to_json(ll->ns, ll->name, &r, NULL);
    if (!body)
        return NULL;
    struct elector_lock_op *op =
        op_start(ll, "create", "POST", ll->path, body, timeout_ms, done, ud);
    json_object_put(body); /* kube_request serialised it */
    return op;
}

static struct elector_lock_op *ll_update(void *lock, const struct lease_record *rec,
                                         long timeout_ms, elector_lock_done_fn done, void *ud)
{
    struct leaselock *ll = lock;
    char path[sizeof(ll->path) + LEASE_NAME_MAX];
    snprintf(path, sizeof(path), "%s/%s", ll->path, ll->name);
    json_object *body = lease_object_to_json(ll->ns, ll->name, rec, ll->last);
    if (!body)
        return NULL;
    struct elector_lock_op *op = op_start(ll, "update", "PUT", path, body, timeout_ms, done, ud);
    json_object_put(body);
    return op;
}

static void ll_cancel(void *lock, struct elector_lock_op *op)
{
    struct leaselock *ll = lock;
    if (!op)
        return;
    if (op->finished)
        ev_timer_stop(ll->loop, &op->defer);
    else
        kube_call_cancel(op->call);
    free(op);
}

/* ---- watch -------------------------------------------------------------- */

static void w_deliver_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct leaselock *ll = w->data;
    ev_timer_stop(loop, w);
    if (!ll->watch_pending)
        return;
    ll->watch_pending = false;
    ll->watch_fn(ll->watch_pending_deleted ? NULL : &ll->watch_pending_rec, ll->watch_ud);
}

static void w_post(struct leaselock *ll, const struct lease_record *rec)
{
    ll->watch_pending = true;
    ll->watch_pending_deleted = rec == NULL;
    if (rec)
        ll->watch_pending_rec = *rec;
    if (!ev_is_active(&ll->watch_defer)) {
        ev_timer_set(&ll->watch_defer, 0, 0);
        ev_timer_start(ll->loop, &ll->watch_defer);
    }
}

static void w_list_begin(void *ud)
{
    struct leaselock *ll = ud;
    ll->watch_list_seen = false;
}

static void w_list_done(void *ud)
{
    struct leaselock *ll = ud;
    if (ll->watch_seen && !ll->watch_list_seen) {
        ll->watch_seen = false;
        w_post(ll, NULL); /* deleted while we were not watching */
    }
}

static void w_event(enum kube_event_type type, json_object *obj, void *ud)
{
    struct leaselock *ll = ud;
    struct lease_record rec;
    char err[256];
    if (type == KUBE_EVENT_DELETED) {
        ll->watch_seen = false;
        w_post(ll, NULL);
        return;
    }
    if (lease_record_from_json(obj, &rec, err, sizeof(err)) != 0) {
        log_warn("ignoring undecodable Lease from the watch", LF_STR("lease", ll->name),
                 LF_ERR(err));
        return;
    }
    ll->watch_seen = ll->watch_list_seen = true;
    ll_set_last(ll, obj);
    w_post(ll, &rec);
}

static void w_error(const struct kube_response *resp, void *ud)
{
    struct leaselock *ll = ud;
    char msg[256];
    snprintf(msg, sizeof(msg), "HTTP %ld: %s", resp->status, resp->error ? resp->error : "");
    if (strcmp(msg, ll->watch_error) != 0) {
        snprintf(ll->watch_error, sizeof(ll->watch_error), "%s", msg);
        log_warn(resp->status == 403 ? "cannot watch leases.coordination.k8s.io (forbidden); "
                                       "falling back to polling"
                                     : "lease watch failed; retrying",
                 LF_STR("namespace", ll->ns), LF_STR("lease", ll->name), LF_ERR(msg));
    }
}

static int ll_watch_start(void *lock, elector_lock_watch_fn fn, void *ud, char *err, size_t errlen)
{
    struct leaselock *ll = lock;
    char selector[LEASE_NAME_MAX + 32];
    snprintf(selector, sizeof(selector), "metadata.name=%s", ll->name);
    struct kube_watch_opts opts = {.path = ll->path, .field_selector = selector};
    static const struct kube_watch_handlers h = {
        .list_begin = w_list_begin, .list_done = w_list_done, .event = w_event, .error = w_error};
    ll->watch_fn = fn;
    ll->watch_ud = ud;
    ev_timer_init(&ll->watch_defer, w_deliver_cb, 0, 0);
    ll->watch_defer.data = ll;
    ll->watch = kube_watch_start(ll->kc, &opts, &h, ll, err, errlen);
    return ll->watch ? 0 : -1;
}

static void ll_watch_stop(void *lock)
{
    struct leaselock *ll = lock;
    kube_watch_stop(ll->watch);
    ll->watch = NULL;
    ll->watch_pending = false;
    ev_timer_stop(ll->loop, &ll->watch_defer);
}

/* ---- events ------------------------------------------------------------- */

static void event_done(const struct kube_response *resp, void *ud)
{
    struct leaselock *ll = ud;
    ll->event_call = NULL;
    if (resp->status == 201 || resp->status == 200)
        return;
    /* Best effort, but a missing permission must be visible once at default verbosity. */
    if (!ll->event_warned)
        log_warn("could not record the LeaderElection event (leadership is not affected; "
                 "grant create on events in the Lease's namespace to get it)",
                 LF_STR("lease", ll->name), LF_INT("status", resp->status), LF_ERR(resp->error));
    else
        log_v(2, "could not record the LeaderElection event", LF_STR("lease", ll->name),
              LF_INT("status", resp->status), LF_ERR(resp->error));
    ll->event_warned = true;
}

static json_object *lease_meta_str(json_object *obj, const char *key)
{
    json_object *meta = NULL, *v = NULL;
    if (obj && json_object_object_get_ex(obj, "metadata", &meta) &&
        json_object_object_get_ex(meta, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get(v);
    return NULL;
}

/* A core/v1 Event on the Lease, as client-go's recorder would write it. */
static void ll_record_event(void *lock, const char *message)
{
    struct leaselock *ll = lock;
    struct timespec ts;
    struct tm tm;
    char stamp[32], name[LEASE_NAME_MAX + 32], path[LEASE_NS_MAX + 32];
    if (ll->event_call)
        return; /* one at a time: it is best effort */
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(name, sizeof(name), "%s.%llx", ll->name,
             (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ll->ns);

    json_object *ev = json_object_new_object(), *meta = json_object_new_object();
    json_object *inv = json_object_new_object(), *src = json_object_new_object();
    json_object_object_add(ev, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(ev, "kind", json_object_new_string("Event"));
    json_object_object_add(meta, "name", json_object_new_string(name));
    json_object_object_add(meta, "namespace", json_object_new_string(ll->ns));
    json_object_object_add(ev, "metadata", meta);
    json_object_object_add(inv, "kind", json_object_new_string("Lease"));
    json_object_object_add(inv, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
    json_object_object_add(inv, "namespace", json_object_new_string(ll->ns));
    json_object_object_add(inv, "name", json_object_new_string(ll->name));
    json_object *uid = lease_meta_str(ll->last, "uid");
    json_object *rv = lease_meta_str(ll->last, "resourceVersion");
    if (uid)
        json_object_object_add(inv, "uid", uid);
    if (rv)
        json_object_object_add(inv, "resourceVersion", rv);
    json_object_object_add(ev, "involvedObject", inv);
    json_object_object_add(ev, "reason", json_object_new_string("LeaderElection"));
    json_object_object_add(ev, "message", json_object_new_string(message));
    json_object_object_add(ev, "type", json_object_new_string("Normal"));
    json_object_object_add(src, "component", json_object_new_string("kubepulse"));
    json_object_object_add(ev, "source", src);
    json_object_object_add(ev, "firstTimestamp", json_object_new_string(stamp));
    json_object_object_add(ev, "lastTimestamp", json_object_new_string(stamp));
    json_object_object_add(ev, "count", json_object_new_int(1));
    json_object_object_add(ev, "reportingComponent", json_object_new_string("kubepulse"));
    json_object_object_add(ev, "reportingInstance", json_object_new_string(ll->identity));
    ll->event_call = kube_request(ll->kc, "POST", path, ev, EVENT_TIMEOUT_MS, event_done, ll);
    json_object_put(ev);
}

static void ll_free(void *lock)
{
    struct leaselock *ll = lock;
    if (!ll)
        return;
    kube_watch_stop(ll->watch);
    ev_timer_stop(ll->loop, &ll->watch_defer);
    kube_call_cancel(ll->event_call);
    json_object_put(ll->last);
    free(ll);
}

static const struct elector_lock_ops leaselock_ops = {
    .get = ll_get,
    .create = ll_create,
    .update = ll_update,
    .cancel = ll_cancel,
    .watch_start = ll_watch_start,
    .watch_stop = ll_watch_stop,
    .record_event = ll_record_event,
    .free = ll_free,
};

struct elector *elector_new(struct ev_loop *loop, struct kube_client *kc,
                            const struct elector_config *cfg, char *err, size_t errlen)
{
    struct leaselock *ll = NULL;
    if (!loop || !kc) {
        snprintf(err, errlen, "elector_new needs a loop and a kube client");
        return NULL;
    }
    if (elector_config_validate(cfg, err, errlen) != 0)
        return NULL;
    ll = calloc(1, sizeof(*ll));
    if (!ll) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ll->loop = loop;
    ll->kc = kc;
    ev_timer_init(&ll->watch_defer, w_deliver_cb, 0, 0);
    ll->watch_defer.data = ll;
    snprintf(ll->ns, sizeof(ll->ns), "%s", cfg->lease_namespace);
    snprintf(ll->name, sizeof(ll->name), "%s", cfg->lease_name);
    snprintf(ll->identity, sizeof(ll->identity), "%s", cfg->identity);
    snprintf(ll->path, sizeof(ll->path), "%s/%s/leases", LEASES_API, ll->ns);
    return elector_new_with_lock(loop, &leaselock_ops, ll, cfg, err, errlen);
}
