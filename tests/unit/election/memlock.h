/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memlock.h - an in-memory Lease store and lock for the elector unit tests.
 *
 * One memstore plays the API server (resourceVersions, 404/409, watchers);
 * each elector gets its own memlock on it. Requests queue until memstore_pump
 * answers them, so tests control exactly when answers arrive; a held lock
 * (hold = true) leaves its requests unanswered, like a partitioned replica.
 */
#ifndef KP_TEST_MEMLOCK_H
#define KP_TEST_MEMLOCK_H

#include "elector_lock.h"

#define MEMLOCK_MAX   8
#define MEMLOCK_QUEUE 16

struct memlock;

struct memstore {
    bool exists;
    struct lease_record rec;
    long rv;
    struct memlock *locks[MEMLOCK_MAX];
    int nlocks;
};

struct elector_lock_op {
    int kind; /* 0 get, 1 create, 2 update */
    struct lease_record rec;
    elector_lock_done_fn done;
    void *ud;
    bool used;
};

struct memlock {
    struct memstore *store; /* borrowed */
    struct elector_lock_op q[MEMLOCK_QUEUE];
    bool hold;         /* leave requests unanswered */
    int answer_budget; /* > 0: answer this many more, then hold */
    int fail_left;     /* answer the next N requests with fail_status */
    enum elector_lock_status fail_status;
    bool watch_enabled; /* false: watch_start fails... not used; watchers below */
    elector_lock_watch_fn wfn;
    void *wud;
    int gets, creates, updates, events;
    char last_event[256];
};

extern const struct elector_lock_ops memlock_ops;

void memstore_init(struct memstore *s);
struct memlock *memlock_new(struct memstore *s);
/* Answer every queued request of unheld locks (and what the answers start).
 * Returns how many were answered. */
int memstore_pump(struct memstore *s);
/* Write as an outside party (another replica, an operator); watchers see it. */
void memstore_put(struct memstore *s, const struct lease_record *rec);
void memstore_delete(struct memstore *s);

#endif
