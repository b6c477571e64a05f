/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memlock.c - the in-memory Lease store and lock of memlock.h.
 */
#include "memlock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void memstore_init(struct memstore *s)
{
    memset(s, 0, sizeof(*s));
    s->rv = 100;
}

struct memlock *memlock_new(struct memstore *s)
{
    struct memlock *l = calloc(1, sizeof(*l));
    l->store = s;
    s->locks[s->nlocks++] = l;
    return l;
}

static void notify(struct memstore *s)
{
    for (int i = 0; i < s->nlocks; i++) {
        struct memlock *l = s->locks[i];
        if (l && l->wfn && !l->hold)
            l->wfn(s->exists ? &s->rec : NULL, l->wud);
    }
}

void memstore_put(struct memstore *s, const struct lease_record *rec)
{
    s->rec = *rec;
    snprintf(s->rec.resource_version, sizeof(s->rec.resource_version), "%ld", ++s->rv);
    s->exists = true;
    notify(s);
}

void memstore_delete(struct memstore *s)
{
    s->exists = false;
    notify(s);
}

static struct elector_lock_op *enqueue(struct memlock *l, int kind, const struct lease_record *rec,
                                       elector_lock_done_fn done, void *ud)
{
    for (int i = 0; i < MEMLOCK_QUEUE; i++) {
        if (!l->q[i].used) {
            l->q[i] = (struct elector_lock_op){.kind = kind, .done = done, .ud = ud, .used = true};
            if (rec)
                l->q[i].rec = *rec;
            return &l->q[i];
        }
    }
    return NULL;
}

static struct elector_lock_op *ml_get(void *lock, long to, elector_lock_done_fn done, void *ud)
{
    (void)to;
    ((struct memlock *)lock)->gets++;
    return enqueue(lock, 0, NULL, done, ud);
}

static struct elector_lock_op *ml_create(void *lock, const struct lease_record *rec, long to,
                                         elector_lock_done_fn done, void *ud)
{
    (void)to;
    ((struct memlock *)lock)->creates++;
    return enqueue(lock, 1, rec, done, ud);
}

static struct elector_lock_op *ml_update(void *lock, const struct lease_record *rec, long to,
                                         elector_lock_done_fn done, void *ud)
{
    (void)to;
    ((struct memlock *)lock)->updates++;
    return enqueue(lock, 2, rec, done, ud);
}

static void ml_cancel(void *lock, struct elector_lock_op *op)
{
    (void)lock;
    op->used = false;
}

static int ml_watch_start(void *lock, elector_lock_watch_fn fn, void *ud, char *err, size_t n)
{
    (void)err;
    (void)n;
    struct memlock *l = lock;
    l->wfn = fn;
    l->wud = ud;
    return 0;
}

static void ml_watch_stop(void *lock)
{
    ((struct memlock *)lock)->wfn = NULL;
}

static void ml_event(void *lock, const char *msg)
{
    struct memlock *l = lock;
    l->events++;
    snprintf(l->last_event, sizeof(l->last_event), "%s", msg);
}

static void ml_free(void *lock)
{
    struct memlock *l = lock;
    for (int i = 0; i < l->store->nlocks; i++)
        if (l->store->locks[i] == l)
            l->store->locks[i] = NULL;
    free(l);
}

const struct elector_lock_ops memlock_ops = {
    .get = ml_get,
    .create = ml_create,
    .update = ml_update,
    .cancel = ml_cancel,
    .watch_start = ml_watch_start,
    .watch_stop = ml_watch_stop,
    .record_event = ml_event,
    .free = ml_free,
};

/* Answer one request as the API server would. */
static void answer(struct memlock *l, struct elector_lock_op *op)
{
    struct memstore *s = l->store;
    struct elector_lock_op o = *op;
    struct elector_lock_result r = {.status = ELECTOR_LOCK_OK};
    bool changed = false;
    op->used = false;
    if (l->fail_left > 0) {
        l->fail_left--;
        r.status = l->fail_status;
        r.error = "injected failure";
    } else if (o.kind == 0) {
        r.status = s->exists ? ELECTOR_LOCK_OK : ELECTOR_LOCK_NOT_FOUND;
    } else if (o.kind == 1) {
        r.status = s->exists ? ELECTOR_LOCK_CONFLICT : ELECTOR_LOCK_OK;
        changed = !s->exists;
    } else if (!s->exists) {
        r.status = ELECTOR_LOCK_NOT_FOUND;
    } else {
        r.status = strcmp(o.rec.resource_version, s->rec.resource_version) == 0
                       ? ELECTOR_LOCK_OK
                       : ELECTOR_LOCK_CONFLICT;
        changed = r.status == ELECTOR_LOCK_OK;
    }
    if (changed) {
        s->rec = o.rec;
        snprintf(s->rec.resource_version, sizeof(s->rec.resource_version), "%ld", ++s->rv);
        s->exists = true;
    }
    struct lease_record copy = s->rec;
    r.rec = r.status == ELECTOR_LOCK_OK ? &copy : NULL;
    o.done(&r, o.ud);
    if (changed)
        notify(s);
}

int memstore_pump(struct memstore *s)
{
    int total = 0;
    for (int round = 0; round < 100; round++) {
        int n = 0;
        for (int i = 0; i < s->nlocks; i++) {
            struct memlock *l = s->locks[i];
            if (!l || l->hold)
                continue;
            for (int k = 0; k < MEMLOCK_QUEUE; k++) {
                if (l->q[k].used && !l->hold) {
                    if (l->answer_budget > 0 && --l->answer_budget == 0)
                        l->hold = true;
                    answer(l, &l->q[k]);
                    n++;
                }
            }
        }
        total += n;
        if (n == 0)
            break;
    }
    return total;
}
