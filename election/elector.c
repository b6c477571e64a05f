/* SPDX-License-Identifier: Apache-2.0 */
/*
 * elector.c - the leader election state machine.
 *
 * Owns the decisions of client-go's LeaderElector.tryAcquireOrRenew on an
 * abstract lock (elector_lock.h): when to read, create, take over, renew, step
 * down and release. All durations are measured on the injected monotonic
 * clock; the wall clock is read only to fill acquireTime/renewTime.
 *
 * Safety rules, each the reason for some code below:
 *  - A follower writes only over the exact record it observed (the update is
 *    conditional on its resourceVersion), and only when that record is
 *    released, ours, or unchanged for its leaseDurationSeconds since WE
 *    observed it. Remote times are never compared with local ones.
 *  - Leadership is guaranteed until the SEND time of the last successful renew
 *    plus renewDeadline (< leaseDuration): a slow answer never extends it.
 *  - The leader steps down the moment it sees someone else hold the Lease or
 *    the Lease deleted, and work stops (on_stopped_leading) before a release
 *    is written.
 * One lock operation is in flight at a time; timers are absolute monotonic
 * deadlines folded into one ev_timer (or driven by elector_run_timers).
 */
#include "elector_lock.h"

#include <ev.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

#define RELEASE_BUDGET_S  1.0 /* elector_release reports within this */
#define REREAD_BUDGET     2   /* immediate re-reads after conflicts per attempt */
#define ERROR_LOG_EVERY_S 10.0

enum elector_state { ST_IDLE, ST_FOLLOWER, ST_LEADER, ST_RELEASING, ST_DONE };
enum op_kind { OP_NONE, OP_GET, OP_CREATE, OP_UPDATE, OP_RELEASE_GET, OP_RELEASE_UPDATE };

struct elector {
    struct ev_loop *loop; /* borrowed, may be NULL */
    ev_timer timer;
    const struct elector_lock_ops *ops;            /* borrowed: static tables */
    void *lock;                                    /* owned */
    char lease[LEASE_NS_MAX + LEASE_NAME_MAX + 1]; /* "ns/name" for logs */
    char identity[LEASE_HOLDER_MAX];
    double lease_duration, renew_deadline, retry_period;
    bool release_on_cancel, watch;
    struct elector_callbacks cb;
    struct elector_clock clock;

    enum elector_state state;
    bool watching;
    /* What we know of the Lease. */
    struct lease_record observed;
    bool have_observed;
    bool lease_missing;                     /* the last read said 404 */
    double observed_at;                     /* monotonic time the observed record last changed */
    char notified_holder[LEASE_HOLDER_MAX]; /* last holder given to on_new_leader */
    /* The operation in flight. */
    struct elector_lock_op *op;
    enum op_kind op_kind;
    double op_sent_at;
    int rereads_left;
    bool attempt_pending, refresh_pending;
    /* Deadlines on the monotonic clock, < 0 when disarmed. */
    double retry_at;     /* follower: next poll; leader: next renew */
    double expire_at;    /* follower: the observed record runs out */
    double step_down_at; /* leader: last renew sent + renew deadline */
    double release_at;   /* releasing: give up and report */
    /* Errors and stats. */
    int error_streak;
    char last_error[256];
    double last_error_log_at;
    struct elector_stats stats;
    elector_release_fn release_done;
    void *release_ud;
    int release_tries;
};

static void attempt(struct elector *e, bool refresh);
static void step_down(struct elector *e, const char *reason);

/* ---- clocks ------------------------------------------------------------- */

static double mono_now(const struct elector *e)
{
    return e->clock.mono_now ? e->clock.mono_now(e->clock.ud) : kp_mono_now();
}

static int64_t wall_now_us(const struct elector *e)
{
    if (e->clock.wall_now_us)
        return e->clock.wall_now_us(e->clock.ud);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* wait.JitterUntil's period: retry * (1 + rand * 1.2). */
static double jittered_retry(const struct elector *e)
{
    double r = e->clock.random01 ? e->clock.random01(e->clock.ud) : (double)random() / RAND_MAX;
    return e->retry_period * (1.0 + ELECTOR_JITTER_FACTOR * r);
}

/* ---- lifecycle ---------------------------------------------------------- */

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    elector_run_timers(w->data);
}

struct elector *elector_new_with_lock(struct ev_loop *loop, const struct elector_lock_ops *ops,
                                      void *lock, const struct elector_config *cfg, char *err,
                                      size_t errlen)
{
    struct elector *e = NULL;
    if (elector_config_validate(cfg, err, errlen) != 0)
        goto fail;
    e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    e->loop = loop;
    ev_timer_init(&e->timer, timer_cb, 0, 0);
    e->timer.data = e;
    e->ops = ops;
    e->lock = lock;
    snprintf(e->lease, sizeof(e->lease), "%s/%s", cfg->lease_namespace, cfg->lease_name);
    snprintf(e->identity, sizeof(e->identity), "%s", cfg->identity);
    e->lease_duration = floor(cfg->lease_duration_s);
    e->renew_deadline = cfg->renew_deadline_s;
    e->retry_period = cfg->retry_period_s;
    e->release_on_cancel = cfg->release_on_cancel;
    e->watch = cfg->watch;
    e->cb = cfg->cb;
    e->clock = cfg->clock;
    e->retry_at = e->expire_at = e->step_down_at = e->release_at = -1;
    e->stats.last_renew_latency_s = -1;
    e->stats.last_leader_deadline = -1;
    kp_hist_init(&e->stats.renew_duration, KP_HIST_REQUEST_S, KP_HIST_REQUEST_N);
    return e;
fail:
    if (ops && ops->free)
        ops->free(lock);
    return NULL;
}

static void cancel_op(struct elector *e)
{
    if (e->op)
        e->ops->cancel(e->lock, e->op);
    e->op = NULL;
    e->op_kind = OP_NONE;
    e->attempt_pending = e->refresh_pending = false;
}

static void stop_watch(struct elector *e)
{
    if (e->watching && e->ops->watch_stop)
        e->ops->watch_stop(e->lock);
    e->watching = false;
}

void elector_free(struct elector *e)
{
    if (!e)
        return;
    cancel_op(e);
    stop_watch(e);
    if (e->loop)
        ev_timer_stop(e->loop, &e->timer);
    if (e->ops->free)
        e->ops->free(e->lock);
    free(e);
}

/* ---- queries ------------------------------------------------------------ */

bool elector_is_leader(const struct elector *e)
{
    return e && e->state == ST_LEADER && mono_now(e) < e->step_down_at;
}

bool elector_leader_deadline(const struct elector *e, double *deadline)
{
    if (!elector_is_leader(e))
        return false;
    *deadline = e->step_down_at;
    return true;
}

const char *elector_holder(const struct elector *e)
{
    return e->have_observed ? e->observed.holder : "";
}

const char *elector_identity(const struct elector *e)
{
    return e->identity;
}

void elector_get_stats(const struct elector *e, struct elector_stats *out)
{
    *out = e->stats;
    out->lease_transitions = e->have_observed ? (uint64_t)e->observed.transitions : 0;
    out->leading = elector_is_leader(e);
}

/* ---- logging ------------------------------------------------------------ */

static void log_failure(struct elector *e, const char *what, const char *error)
{
    double t = mono_now(e);
    if (strcmp(error, e->last_error) == 0 && t - e->last_error_log_at < ERROR_LOG_EVERY_S) {
        log_v(2, "lease operation failed", LF_STR("lease", e->lease), LF_STR("op", what),
              LF_ERR(error));
        return;
    }
    snprintf(e->last_error, sizeof(e->last_error), "%s", error);
    e->last_error_log_at = t;
    log_error("lease operation failed", LF_STR("lease", e->lease), LF_STR("identity", e->identity),
              LF_STR("op", what), LF_ERR(error), LF_INT("consecutive_failures", e->error_streak));
}

/* ---- observation -------------------------------------------------------- */

/* resourceVersions are opaque, but etcd's are decimal: when both are, a lower
 * one is an older record (a lagging watch event) and must not replace a newer. */
static bool rv_older(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (!la || !lb || strspn(a, "0123456789") != la || strspn(b, "0123456789") != lb)
        return false;
    return la != lb ? la < lb : strcmp(a, b) < 0;
}

static void notify_holder(struct elector *e, const char *holder)
{
    if (strcmp(holder, e->notified_holder) == 0)
        return;
    snprintf(e->notified_holder, sizeof(e->notified_holder), "%s", holder);
    log_info("lease holder changed", LF_STR("lease", e->lease), LF_STR("identity", e->identity),
             LF_STR("holder", holder));
    if (e->cb.on_new_leader)
        e->cb.on_new_leader(e, holder, e->cb.ud);
}

/* Remember rec; the observation clock restarts only when the record changed. */
static void observe(struct elector *e, const struct lease_record *rec)
{
    if (e->have_observed && rv_older(rec->resource_version, e->observed.resource_version))
        return;
    e->lease_missing = false;
    if (!e->have_observed || !lease_record_equal(&e->observed, rec)) {
        e->observed = *rec;
        e->observed_at = mono_now(e);
        e->have_observed = true;
    } else {
        memcpy(e->observed.resource_version, rec->resource_version,
               sizeof(e->observed.resource_version));
    }
    notify_holder(e, rec->holder);
    if (e->state == ST_LEADER && strcmp(rec->holder, e->identity) != 0)
        step_down(e, "the Lease is held by another identity");
}

/* ---- transitions -------------------------------------------------------- */

static void become_leader(struct elector *e)
{
    e->state = ST_LEADER;
    e->stats.leader_transitions++;
    log_info("became leader", LF_STR("lease", e->lease), LF_STR("identity", e->identity),
             LF_STR("holder", e->identity), LF_INT("lease_transitions", e->observed.transitions));
    if (e->ops->record_event) {
        char msg[LEASE_HOLDER_MAX + 32];
        snprintf(msg, sizeof(msg), "%s became leader", e->identity);
        e->ops->record_event(e->lock, msg);
    }
    e->cb.on_started_leading(e, e->cb.ud);
}

static void step_down(struct elector *e, const char *reason)
{
    if (e->state != ST_LEADER)
        return;
    e->state = ST_FOLLOWER;
    e->stats.leadership_lost++;
    e->step_down_at = -1;
    if (e->op_kind == OP_UPDATE || e->op_kind == OP_CREATE)
        cancel_op(e);
    log_warn("stopped leading", LF_STR("lease", e->lease), LF_STR("identity", e->identity),
             LF_STR("holder", elector_holder(e)), LF_STR("reason", reason));
    e->retry_at = mono_now(e) + jittered_retry(e);
    e->cb.on_stopped_leading(e, e->cb.ud);
}

/* A create or update sent at `sent` succeeded. */
static void write_succeeded(struct elector *e, const struct lease_record *rec, double sent)
{
    double t = mono_now(e);
    observe(e, rec);
    e->error_streak = 0;
    e->last_error[0] = '\0';
    if (t >= sent + e->renew_deadline) {
        /* The answer took longer than the guarantee it would give: it gives none. */
        log_warn("lease write answered too late to lead on", LF_STR("lease", e->lease),
                 LF_STR("identity", e->identity), LF_DBL("latency_s", t - sent));
        if (e->state == ST_LEADER)
            step_down(e, "renew answered after the renew deadline");
        e->retry_at = t;
        return;
    }
    e->step_down_at = sent + e->renew_deadline;
    e->stats.last_leader_deadline = e->step_down_at;
    e->stats.last_renew_latency_s = t - sent;
    kp_hist_observe(&e->stats.renew_duration, t - sent);
    e->retry_at = t + e->retry_period;
    e->expire_at = -1;
    if (e->state == ST_FOLLOWER)
        become_leader(e);
}

static void op_failed(struct elector *e, const char *what, const struct elector_lock_result *r)
{
    double t = mono_now(e);
    e->error_streak++;
    log_failure(e, what, r->error ? r->error : "unknown error");
    if (e->state == ST_LEADER) {
        e->stats.renew_failures++;
        e->retry_at = t + e->retry_period; /* PollImmediateUntil(retryPeriod) */
        return;
    }
    e->stats.acquire_failures++;
    double delay = jittered_retry(e);
    if (r->status == ELECTOR_LOCK_FORBIDDEN) {
        /* RBAC is fixed by a human: back off, but stay quick enough to join soon after. */
        int n = e->error_streak < 4 ? e->error_streak : 4;
        delay = fmin(e->retry_period * (double)(1 << n), fmax(e->lease_duration, delay));
    }
    e->retry_at = t + delay;
}

/* ---- lock operations ---------------------------------------------------- */

static void op_done(const struct elector_lock_result *r, void *ud);

static long op_timeout_ms(const struct elector *e)
{
    double t = mono_now(e), budget = e->renew_deadline;
    if (e->state == ST_LEADER)
        budget = e->step_down_at - t;
    else if (e->state == ST_RELEASING)
        budget = e->release_at - t;
    return budget < 0.05 ? 50 : (long)(budget * 1000);
}

static void start_op(struct elector *e, enum op_kind kind, const struct lease_record *rec)
{
    long to = op_timeout_ms(e);
    e->op_kind = kind;
    e->op_sent_at = mono_now(e);
    switch (kind) {
    case OP_GET:
    case OP_RELEASE_GET: e->op = e->ops->get(e->lock, to, op_done, e); break;
    case OP_CREATE: e->op = e->ops->create(e->lock, rec, to, op_done, e); break;
    default: e->op = e->ops->update(e->lock, rec, to, op_done, e); break;
    }
    if (!e->op) {
        struct elector_lock_result r = {.status = ELECTOR_LOCK_ERROR,
                                        .error = "could not start the request"};
        e->op_kind = OP_NONE;
        op_failed(e, "start", &r);
    }
}

/* The record we write when taking or renewing. */
static void fill_claim(struct elector *e, struct lease_record *rec)
{
    bool mine = e->have_observed && strcmp(e->observed.holder, e->identity) == 0;
    int64_t now = wall_now_us(e);
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->holder, sizeof(rec->holder), "%s", e->identity);
    rec->duration_s = (int64_t)e->lease_duration;
    rec->has_renew = rec->has_acquire = true;
    rec->renew_us = rec->acquire_us = now;
    if (e->have_observed) {
        memcpy(rec->resource_version, e->observed.resource_version, sizeof(rec->resource_version));
        rec->transitions = e->observed.transitions + (mine ? 0 : 1);
        if (mine && e->observed.has_acquire)
            rec->acquire_us = e->observed.acquire_us;
    }
}

/* With a current observation: write if we may, else wait for expiry. */
static void decide(struct elector *e)
{
    struct lease_record rec;
    double t = mono_now(e);
    if (e->lease_missing || !e->have_observed) {
        if (e->state == ST_FOLLOWER && e->have_observed && e->observed.holder[0] &&
            strcmp(e->observed.holder, e->identity) != 0 &&
            t < e->observed_at + (double)e->observed.duration_s) {
            /* Deleted while another held it: it may still act until its lease would
             * have run out, so wait for that rather than race it. */
            e->expire_at = e->observed_at + (double)e->observed.duration_s;
            return;
        }
        fill_claim(e, &rec);
        rec.transitions = 0;
        rec.acquire_us = rec.renew_us;
        start_op(e, OP_CREATE, &rec);
        return;
    }
    bool mine = strcmp(e->observed.holder, e->identity) == 0;
    bool released = e->observed.holder[0] == '\0';
    double expiry = e->observed_at + (double)e->observed.duration_s;
    if (!mine && !released && t < expiry) {
        e->expire_at = expiry;
        return;
    }
    if (!mine && !released)
        log_info("lease expired unrenewed; taking over", LF_STR("lease", e->lease),
                 LF_STR("identity", e->identity), LF_STR("holder", e->observed.holder));
    fill_claim(e, &rec);
    start_op(e, OP_UPDATE, &rec);
}

static void attempt(struct elector *e, bool refresh)
{
    if (e->state != ST_FOLLOWER && e->state != ST_LEADER)
        return;
    if (e->op) {
        e->attempt_pending = true;
        e->refresh_pending |= refresh;
        return;
    }
    e->rereads_left = REREAD_BUDGET;
    if (refresh || (!e->have_observed && !e->lease_missing))
        start_op(e, OP_GET, NULL);
    else
        decide(e);
}

static void release_write(struct elector *e)
{
    struct lease_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.duration_s = 1;
    rec.has_acquire = rec.has_renew = true;
    rec.acquire_us = rec.renew_us = wall_now_us(e);
    rec.transitions = e->observed.transitions;
    memcpy(rec.resource_version, e->observed.resource_version, sizeof(rec.resource_version));
    e->release_tries++;
    start_op(e, OP_RELEASE_UPDATE, &rec);
}

static void release_finish(struct elector *e, int status)
{
    cancel_op(e);
    e->state = ST_DONE;
    e->retry_at = e->expire_at = e->step_down_at = e->release_at = -1;
    if (e->loop)
        ev_timer_stop(e->loop, &e->timer);
    log_info(status == 0 ? "released" : "release failed", LF_STR("lease", e->lease),
             LF_STR("identity", e->identity), LF_STR("holder", elector_holder(e)));
    elector_release_fn done = e->release_done;
    e->release_done = NULL;
    if (done)
        done(e, status, e->release_ud);
}

static void release_op_done(struct elector *e, enum op_kind kind,
                            const struct elector_lock_result *r)
{
    if (r->status == ELECTOR_LOCK_OK) {
        observe(e, r->rec);
        if (kind == OP_RELEASE_UPDATE || strcmp(r->rec->holder, e->identity) != 0)
            release_finish(e, 0); /* written, or no longer ours to release */
        else if (e->release_tries < 3)
            release_write(e);
        else
            release_finish(e, -1);
    } else if (r->status == ELECTOR_LOCK_CONFLICT && e->release_tries < 3) {
        start_op(e, OP_RELEASE_GET, NULL);
    } else if (r->status == ELECTOR_LOCK_NOT_FOUND) {
        release_finish(e, 0); /* nothing left to release */
    } else {
        log_failure(e, "release", r->error ? r->error : "conflict");
        release_finish(e, -1);
    }
}

static void op_done(const struct elector_lock_result *r, void *ud)
{
    struct elector *e = ud;
    enum op_kind kind = e->op_kind;
    double sent = e->op_sent_at;
    e->op = NULL;
    e->op_kind = OP_NONE;
    if (kind == OP_RELEASE_GET || kind == OP_RELEASE_UPDATE) {
        release_op_done(e, kind, r);
        return;
    }
    if (r->status == ELECTOR_LOCK_OK && kind == OP_GET) {
        observe(e, r->rec);
        decide(e);
    } else if (r->status == ELECTOR_LOCK_OK) {
        write_succeeded(e, r->rec, sent);
    } else if (r->status == ELECTOR_LOCK_NOT_FOUND && kind != OP_CREATE) {
        if (e->state == ST_LEADER)
            step_down(e, "the Lease was deleted");
        e->lease_missing = true;
        notify_holder(e, "");
        decide(e);
    } else if (r->status == ELECTOR_LOCK_CONFLICT && e->rereads_left > 0) {
        /* Someone wrote first: read what they wrote, never overwrite it blindly. */
        e->rereads_left--;
        log_v(2, "lease conflict; re-reading", LF_STR("lease", e->lease),
              LF_STR("identity", e->identity));
        if (e->state == ST_LEADER)
            e->stats.renew_failures++;
        start_op(e, OP_GET, NULL);
    } else {
        op_failed(e, kind == OP_GET ? "get" : kind == OP_CREATE ? "create" : "update", r);
    }
    if (!e->op && e->attempt_pending) {
        bool refresh = e->refresh_pending;
        e->attempt_pending = e->refresh_pending = false;
        attempt(e, refresh);
    }
    elector_run_timers(e);
}

/* ---- watch -------------------------------------------------------------- */

static void on_watch(const struct lease_record *rec, void *ud)
{
    struct elector *e = ud;
    if (e->state != ST_FOLLOWER && e->state != ST_LEADER)
        return;
    if (!rec) {
        if (e->state == ST_LEADER)
            step_down(e, "the Lease was deleted");
        e->lease_missing = true;
        notify_holder(e, "");
        attempt(e, false);
    } else {
        /* Our own writes are known from their answers; a watch echo of an older
         * one must not move the resourceVersion we renew against backwards. */
        if (strcmp(rec->holder, e->identity) == 0 && e->state == ST_LEADER)
            return;
        observe(e, rec);
        if (e->state == ST_FOLLOWER && rec->holder[0] == '\0')
            attempt(e, false); /* released: take it now */
        else if (e->state == ST_FOLLOWER && strcmp(rec->holder, e->identity) != 0)
            e->expire_at = e->observed_at + (double)e->observed.duration_s;
    }
    elector_run_timers(e);
}

/* ---- entry points ------------------------------------------------------- */

int elector_start(struct elector *e, char *err, size_t errlen)
{
    if (e->state != ST_IDLE) {
        snprintf(err, errlen, "elector already started");
        return -1;
    }
    e->state = ST_FOLLOWER;
    log_info("starting leader election", LF_STR("lease", e->lease), LF_STR("identity", e->identity),
             LF_DBL("lease_duration_s", e->lease_duration),
             LF_DBL("renew_deadline_s", e->renew_deadline),
             LF_DBL("retry_period_s", e->retry_period));
    if (e->watch && e->ops->watch_start) {
        if (e->ops->watch_start(e->lock, on_watch, e, err, errlen) != 0) {
            e->state = ST_IDLE;
            return -1;
        }
        e->watching = true;
    }
    attempt(e, true);
    elector_run_timers(e);
    return 0;
}

void elector_release(struct elector *e, elector_release_fn done, void *ud)
{
    bool was_leader = e->state == ST_LEADER;
    if (e->state == ST_RELEASING) {
        return; /* the first release's callback is still coming */
    }
    e->release_done = done;
    e->release_ud = ud;
    cancel_op(e);
    stop_watch(e);
    e->retry_at = e->expire_at = e->step_down_at = -1;
    if (e->state == ST_IDLE || e->state == ST_DONE || !was_leader) {
        e->state = ST_RELEASING;
        release_finish(e, 0);
        return;
    }
    e->state = ST_RELEASING;
    log_info("stopped leading", LF_STR("lease", e->lease), LF_STR("identity", e->identity),
             LF_STR("holder", e->identity), LF_STR("reason", "release"));
    e->cb.on_stopped_leading(e, e->cb.ud); /* work stops before anyone may take over */
    if (!e->release_on_cancel) {
        release_finish(e, 0);
        return;
    }
    e->release_at = mono_now(e) + RELEASE_BUDGET_S;
    e->release_tries = 0;
    release_write(e);
    elector_run_timers(e);
}

static double earliest(double a, double b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

double elector_run_timers(struct elector *e)
{
    double t = mono_now(e);
    if (e->state == ST_LEADER && e->step_down_at >= 0 && t >= e->step_down_at)
        step_down(e, "renew deadline passed without a successful renew");
    if (e->state == ST_RELEASING && e->release_at >= 0 && t >= e->release_at) {
        log_failure(e, "release", "the API server did not answer within 1s");
        release_finish(e, -1);
        return -1;
    }
    if (e->state == ST_FOLLOWER && e->expire_at >= 0 && t >= e->expire_at) {
        e->expire_at = -1;
        attempt(e, false);
    }
    if (e->retry_at >= 0 && t >= e->retry_at) {
        e->retry_at = -1;
        /* The leader renews against what it wrote; a follower re-reads (the
         * safety net should the watch be broken). */
        attempt(e, e->state != ST_LEADER);
    }
    /* A follower always has the periodic re-read armed once its request is answered. */
    if (e->state == ST_FOLLOWER && e->retry_at < 0 && !e->op)
        e->retry_at = mono_now(e) + jittered_retry(e);
    double next = -1;
    if (e->state == ST_LEADER || e->state == ST_FOLLOWER) {
        next = earliest(e->retry_at, e->expire_at);
        if (e->state == ST_LEADER)
            next = earliest(next, e->step_down_at);
    } else if (e->state == ST_RELEASING) {
        next = e->release_at;
    }
    if (e->loop) {
        ev_timer_stop(e->loop, &e->timer);
        if (next >= 0) {
            ev_now_update(e->loop);
            ev_timer_set(&e->timer, fmax(0.0, next - mono_now(e)) + 0.0005, 0);
            ev_timer_start(e->loop, &e->timer);
        }
    }
    return next;
}
