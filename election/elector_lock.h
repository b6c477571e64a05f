/* SPDX-License-Identifier: Apache-2.0 */
/*
 * elector_lock.h - the lock the state machine drives (private to election/).
 *
 * elector.c decides; a lock only talks to storage. leaselock.c implements it
 * over the Kubernetes API; the unit tests implement it in memory. Every
 * operation completes asynchronously through its done callback, exactly once,
 * unless cancelled first; a lock must never call done from inside the call
 * that started the operation.
 */
#ifndef KP_ELECTOR_LOCK_H
#define KP_ELECTOR_LOCK_H

#include "elector.h"
#include "lease.h"

/* client-go's JitterFactor: acquire retries wait retryPeriod * (1 + rand * 1.2). */
#define ELECTOR_JITTER_FACTOR 1.2

enum elector_lock_status {
    ELECTOR_LOCK_OK = 0,
    ELECTOR_LOCK_NOT_FOUND = -1, /* 404 */
    ELECTOR_LOCK_CONFLICT = -2,  /* 409: resourceVersion changed, or create of an existing one */
    ELECTOR_LOCK_FORBIDDEN = -3, /* 401/403: needs RBAC, retried with backoff */
    ELECTOR_LOCK_ERROR = -4,     /* transport error, 5xx, undecodable answer */
};

struct elector_lock_result {
    enum elector_lock_status status;
    const struct lease_record *rec; /* borrowed, on OK: the Lease as stored now */
    const char *error;              /* borrowed, on failure: what to tell an operator */
};
typedef void (*elector_lock_done_fn)(const struct elector_lock_result *res, void *ud);

/* A watch delivers the latest record (rec NULL when the Lease was deleted). */
typedef void (*elector_lock_watch_fn)(const struct lease_record *rec, void *ud);

struct elector_lock_op; /* opaque handle of an operation in flight */

struct elector_lock_ops {
    struct elector_lock_op *(*get)(void *lock, long timeout_ms, elector_lock_done_fn done,
                                   void *ud);
    /* rec->resource_version is ignored. */
    struct elector_lock_op *(*create)(void *lock, const struct lease_record *rec, long timeout_ms,
                                      elector_lock_done_fn done, void *ud);
    /* Conditional on rec->resource_version: CONFLICT when the Lease changed. */
    struct elector_lock_op *(*update)(void *lock, const struct lease_record *rec, long timeout_ms,
                                      elector_lock_done_fn done, void *ud);
    void (*cancel)(void *lock, struct elector_lock_op *op); /* done is not called */
    /* Optional (NULL: no watch). Returns 0 or -1 with err filled. */
    int (*watch_start)(void *lock, elector_lock_watch_fn fn, void *ud, char *err, size_t errlen);
    void (*watch_stop)(void *lock);
    /* Optional: best effort "LeaderElection" Event on the Lease. */
    void (*record_event)(void *lock, const char *message);
    void (*free)(void *lock); /* optional */
};

/* The state machine on any lock. Takes ownership of lock (ops->free at
 * elector_free). loop may be NULL when the caller drives time itself through
 * elector_run_timers (the unit tests). */
struct elector *elector_new_with_lock(struct ev_loop *loop, const struct elector_lock_ops *ops,
                                      void *lock, const struct elector_config *cfg, char *err,
                                      size_t errlen);
/* Run whatever is due at the current clock; returns the next monotonic time
 * something is due (or a negative value when nothing is armed). */
double elector_run_timers(struct elector *e);

#endif
