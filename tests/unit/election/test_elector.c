/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_elector.c - the election state machine (election/elector.c) on a fake
 * clock and the in-memory lock of memlock.c: client-go's LeaseLock rules plus
 * the watch-driven fast paths and the deadline guarantees.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elector_lock.h"
#include "memlock.h"
#include "kp_test.h"

#define WALL0 INT64_C(1700000000000000) /* the fake wall clock at mono 0 */

static double fake_mono;
static int64_t wall_skew_us;
static double fake_rand;

static double clk_mono(void *ud)
{
    (void)ud;
    return fake_mono;
}
static int64_t clk_wall(void *ud)
{
    (void)ud;
    return WALL0 + (int64_t)(fake_mono * 1e6) + wall_skew_us;
}
static double clk_rand(void *ud)
{
    (void)ud;
    return fake_rand;
}

/* One replica under test. */
struct rep {
    struct elector *e;
    struct memlock *lock; /* owned by e */
    char id[16];
    int started, stopped, released, release_status;
    bool holder_at_stop_was_me; /* work stopped while the Lease still named us */
    char new_leader[64];
    struct memstore *store;
};

#define MAXREP 4
static struct memstore store;
static struct rep reps[MAXREP];
static int nreps;

static void cb_started(struct elector *e, void *ud)
{
    (void)e;
    ((struct rep *)ud)->started++;
}
static void cb_stopped(struct elector *e, void *ud)
{
    (void)e;
    struct rep *r = ud;
    r->stopped++;
    r->holder_at_stop_was_me = store.exists && strcmp(store.rec.holder, r->id) == 0;
}
static void cb_new_leader(struct elector *e, const char *id, void *ud)
{
    (void)e;
    snprintf(((struct rep *)ud)->new_leader, 64, "%s", id);
}
static void cb_released(struct elector *e, int status, void *ud)
{
    (void)e;
    struct rep *r = ud;
    r->released++;
    r->release_status = status;
}

static void base_config(struct elector_config *cfg, struct rep *r)
{
    elector_config_init(cfg);
    cfg->lease_name = "kubepulse";
    cfg->lease_namespace = "kube-system";
    cfg->identity = r->id;
    cfg->cb = (struct elector_callbacks){.on_started_leading = cb_started,
                                         .on_stopped_leading = cb_stopped,
                                         .on_new_leader = cb_new_leader,
                                         .ud = r};
    cfg->clock = (struct elector_clock){clk_mono, clk_wall, clk_rand, NULL};
}

static struct rep *add_rep_cfg(const char *id, bool watch)
{
    struct rep *r = &reps[nreps++];
    struct elector_config cfg;
    char err[256];
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%s", id);
    base_config(&cfg, r);
    cfg.watch = watch;
    r->lock = memlock_new(&store);
    r->e = elector_new_with_lock(NULL, &memlock_ops, r->lock, &cfg, err, sizeof(err));
    assert_non_null(r->e);
    assert_int_equal(elector_start(r->e, err, sizeof(err)), 0);
    return r;
}

static struct rep *add_rep(const char *id)
{
    return add_rep_cfg(id, true);
}

static int leaders(void)
{
    int n = 0;
    for (int i = 0; i < nreps; i++)
        n += reps[i].e && elector_is_leader(reps[i].e);
    return n;
}

/* Answer requests and fire timers until fake time `until`, checking at every
 * step that no two replicas consider themselves leader. */
static void run_until(double until)
{
    for (int guard = 0; guard < 100000; guard++) {
        memstore_pump(&store);
        double next = -1;
        for (int i = 0; i < nreps; i++) {
            if (!reps[i].e)
                continue;
            double n = elector_run_timers(reps[i].e);
            if (n >= 0 && (next < 0 || n < next))
                next = n;
        }
        assert_true(leaders() <= 1);
        if (memstore_pump(&store) > 0)
            continue; /* answers may have moved the deadlines: look again at this time */
        assert_true(leaders() <= 1);
        if (next < 0 || next > until) {
            fake_mono = until;
            for (int i = 0; i < nreps; i++)
                if (reps[i].e)
                    elector_run_timers(reps[i].e);
            if (memstore_pump(&store) > 0)
                continue;
            assert_true(leaders() <= 1);
            return;
        }
        if (next > fake_mono)
            fake_mono = next;
    }
    fail_msg("run_until(%f) did not settle", until);
}

static void run_for(double secs)
{
    run_until(fake_mono + secs);
}

/* A replica started on a free Lease, run until it holds it (at once). */
static struct rep *add_leader(const char *id)
{
    struct rep *r = add_rep(id);
    run_for(0);
    return r;
}

static int setup(void **state)
{
    (void)state;
    memstore_init(&store);
    fake_mono = 1000;
    wall_skew_us = 0;
    fake_rand = 0;
    nreps = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < nreps; i++)
        elector_free(reps[i].e);
    nreps = 0;
    return 0;
}

static void put_remote(const char *holder, int64_t renew_us, int64_t duration)
{
    struct lease_record r = {.duration_s = duration,
                             .has_acquire = true,
                             .has_renew = true,
                             .acquire_us = renew_us,
                             .renew_us = renew_us,
                             .transitions = 5};
    snprintf(r.holder, sizeof(r.holder), "%s", holder);
    memstore_put(&store, &r);
}

/* ---- config ------------------------------------------------------------- */

static void expect_invalid(const struct elector_config *c, const char *needle)
{
    char err[256] = "";
    assert_int_equal(elector_config_validate(c, err, sizeof(err)), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
}

KP_TEST_F(test_config_validation, setup, teardown)
{
    (void)state;
    struct rep r = {.id = "a"};
    struct elector_config c;
    char err[256];
    base_config(&c, &r);
    assert_int_equal(elector_config_validate(&c, err, sizeof(err)), 0);
    assert_true(c.lease_duration_s == 15 && c.renew_deadline_s == 10 && c.retry_period_s == 2);
    assert_true(c.release_on_cancel && c.watch);

    /* each an invalid change to the base configuration (15 s, 10 s, 2 s; "a", "kubepulse",
     * "kube-system") */
    static const struct {
        double lease, renew, retry;
        const char *identity, *lease_name, *lease_namespace, *msg;
    } bad[] = {
        {15, 15, 2, "a", "kubepulse", "kube-system",
         "leaseDuration must be greater than renewDeadline"},
        /* written as 10 s: not above a 10.2 s deadline */
        {10.5, 10.2, 2, "a", "kubepulse", "kube-system",
         "leaseDuration must be greater than renewDeadline"},
        {15, 10, 9, "a", "kubepulse", "kube-system",
         "renewDeadline must be greater than retryPeriod*JitterFactor"},
        {15, 10, 0.5, "a", "kubepulse", "kube-system", "retryPeriod"},
        {0, 10, 2, "a", "kubepulse", "kube-system", "leaseDuration"},
        {15, 10, 2, "", "kubepulse", "kube-system", "identity is empty"},
        {15, 10, 2, "a", "Bad_Name", "kube-system", "lease name"},
        {15, 10, 2, "a", "kubepulse", "a.b", "namespace"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        base_config(&c, &r);
        c.lease_duration_s = bad[i].lease;
        c.renew_deadline_s = bad[i].renew;
        c.retry_period_s = bad[i].retry;
        c.identity = bad[i].identity;
        c.lease_name = bad[i].lease_name;
        c.lease_namespace = bad[i].lease_namespace;
        expect_invalid(&c, bad[i].msg);
    }
    base_config(&c, &r);
    c.cb.on_stopped_leading = NULL;
    expect_invalid(&c, "callbacks are required");
    /* elector_new_with_lock refuses a bad config and frees the lock it was given. */
    base_config(&c, &r);
    c.identity = NULL;
    memstore_init(&store);
    assert_null(
        elector_new_with_lock(NULL, &memlock_ops, memlock_new(&store), &c, err, sizeof(err)));
    assert_non_null(strstr(err, "identity"));
}

/* ---- acquiring ---------------------------------------------------------- */

/* The stored Lease: holder, duration and transitions as given, acquired and renewed now. */
static void assert_lease_written_now(const char *holder, int duration_s, int transitions)
{
    assert_string_equal(store.rec.holder, holder);
    assert_int_equal(store.rec.duration_s, duration_s);
    assert_int_equal(store.rec.transitions, transitions);
    assert_true(store.rec.acquire_us == store.rec.renew_us);
    assert_true(store.rec.renew_us == WALL0 + (int64_t)(fake_mono * 1e6));
}

KP_TEST_F(test_acquire_when_missing, setup, teardown)
{
    (void)state;
    struct rep *a = add_rep("a");
    double sent = fake_mono;
    run_for(0);
    assert_int_equal(a->lock->creates, 1);
    assert_true(elector_is_leader(a->e));
    assert_int_equal(a->started, 1);
    assert_lease_written_now("a", 15, 0);
    assert_string_equal(a->new_leader, "a");
    assert_int_equal(a->lock->events, 1);
    assert_string_equal(a->lock->last_event, "a became leader");
    double dl = 0;
    assert_true(elector_leader_deadline(a->e, &dl));
    assert_true(dl == sent + 10); /* from the send time, renewDeadline */
    struct elector_stats st;
    elector_get_stats(a->e, &st);
    assert_int_equal(st.leader_transitions, 1);
    assert_true(st.leading);
}

KP_TEST_F(test_renew_cadence_keeps_acquire, setup, teardown)
{
    (void)state;
    struct rep *a = add_leader("a");
    int64_t acquired = store.rec.acquire_us;
    int updates0 = a->lock->updates;
    run_for(10.0);
    /* every retryPeriod (2 s), no jitter for renewals */
    assert_int_equal(a->lock->updates - updates0, 5);
    assert_true(store.rec.acquire_us == acquired);
    assert_true(store.rec.renew_us == WALL0 + (int64_t)(fake_mono * 1e6));
    assert_int_equal(store.rec.transitions, 0);
    double dl;
    assert_true(elector_leader_deadline(a->e, &dl));
    assert_true(dl == fake_mono + 10);
    assert_int_equal(a->started, 1);
    assert_int_equal(a->stopped, 0);
}

/* A holder that stopped renewing: we wait leaseDuration from OUR observation,
 * whatever its renewTime says. */
static void takeover_after_observation(int64_t remote_renew_us, bool watch)
{
    put_remote("dead", remote_renew_us, 15);
    double observed = fake_mono;
    struct rep *b = add_rep_cfg("b", watch);
    run_until(observed + 14.9);
    assert_false(elector_is_leader(b->e));
    assert_string_equal(store.rec.holder, "dead");
    assert_string_equal(b->new_leader, "dead");
    run_until(observed + 15.0);
    if (watch) /* the expiry timer fires exactly when the observation runs out */
        assert_true(elector_is_leader(b->e));
    run_until(observed + 15.0 + 2 * 2.2 + 0.01);
    assert_true(elector_is_leader(b->e));
    assert_string_equal(store.rec.holder, "b");
    assert_int_equal(store.rec.transitions, 6); /* takeover increments */
    assert_true(store.rec.acquire_us >= WALL0 + (int64_t)((observed + 15) * 1e6));
}

KP_TEST_F(test_takeover_waits_ancient_renew, setup, teardown)
{
    (void)state;
    takeover_after_observation(0, true); /* renewTime 1970 */
}

KP_TEST_F(test_takeover_waits_future_renew, setup, teardown)
{
    (void)state;
    takeover_after_observation(WALL0 + INT64_C(3600000000) * 24, true); /* a day ahead */
}

KP_TEST_F(test_takeover_waits_polling_only, setup, teardown)
{
    (void)state;
    takeover_after_observation(0, false);
}

KP_TEST_F(test_skewed_wall_clock_no_steal, setup, teardown)
{
    (void)state;
    struct rep *a = add_leader("a");
    wall_skew_us = INT64_C(3600000000); /* b runs an hour ahead */
    struct rep *b = add_rep("b");
    run_for(120);
    assert_true(elector_is_leader(a->e));
    assert_false(elector_is_leader(b->e));
    assert_int_equal(b->started, 0);
    assert_string_equal(store.rec.holder, "a");
}

KP_TEST_F(test_renewing_holder_never_taken, setup, teardown)
{
    (void)state;
    put_remote("other", 0, 15);
    struct rep *b = add_rep("b");
    for (int i = 0; i < 30; i++) {
        run_for(2);
        put_remote("other", 0, 15); /* renews with a constant (ancient) renewTime */
        store.rec.renew_us = i;     /* ...or different: both are changes */
    }
    assert_false(elector_is_leader(b->e));
    assert_string_equal(store.rec.holder, "other");
}

/* ---- losing ------------------------------------------------------------- */

KP_TEST_F(test_step_down_after_renew_deadline, setup, teardown)
{
    (void)state;
    struct rep *a = add_leader("a");
    run_for(4); /* renewed at +2, +4 */
    double last_sent = fake_mono;
    a->lock->fail_left = 1000;
    a->lock->fail_status = ELECTOR_LOCK_ERROR;
    run_until(last_sent + 9.999);
    assert_true(elector_is_leader(a->e));
    assert_int_equal(a->stopped, 0);
    fake_mono = last_sent + 10; /* is_leader consults the clock, not the timers */
    assert_false(elector_is_leader(a->e));
    run_for(0);
    assert_int_equal(a->stopped, 1);
    struct elector_stats st;
    elector_get_stats(a->e, &st);
    assert_true(st.renew_failures >= 2); /* at +6 and +8 */
    assert_int_equal(st.leadership_lost, 1);
    /* The API answers again: the record still names us, unchanged: we lead again. */
    a->lock->fail_left = 0;
    run_for(5);
    assert_true(elector_is_leader(a->e));
    assert_int_equal(a->started, 2);
}

KP_TEST_F(test_hung_renew_steps_down_and_late_answer_ignored, setup, teardown)
{
    (void)state;
    struct rep *a = add_leader("a");
    double sent = fake_mono;
    a->lock->hold = true; /* the next renew is sent at +2 and hangs */
    run_until(sent + 10);
    assert_false(elector_is_leader(a->e));
    assert_int_equal(a->stopped, 1);
    a->lock->hold = false;
    run_for(0.5); /* requests are answered now (the hung one was cancelled) */
    assert_true(leaders() <= 1);
}

KP_TEST_F(test_late_acquire_answer_gives_no_leadership, setup, teardown)
{
    (void)state;
    memstore_init(&store);
    struct rep *b = add_rep_cfg("b", false);
    b->lock->answer_budget = 1; /* the GET (404); the create is sent now and hangs */
    double sent = fake_mono;
    memstore_pump(&store);
    assert_int_equal(b->lock->creates, 1);
    run_until(sent + 11);
    b->lock->hold = false;
    int updates = b->lock->updates;
    memstore_pump(&store); /* the late answer; no time passes */
    assert_string_equal(store.rec.holder, "b");
    /* Its guarantee (sent + 10 s) already ran out, so it leads only on a fresh
     * renew of the (unchanged, ours) record, sent after the answer. */
    assert_true(b->lock->updates > updates);
    double dl;
    assert_true(elector_leader_deadline(b->e, &dl));
    assert_true(dl > sent + 11);
}

KP_TEST_F(test_conflict_rereads_never_overwrites, setup, teardown)
{
    (void)state;
    struct rep *a = add_rep_cfg("a", false);
    run_for(0);
    assert_true(elector_is_leader(a->e));
    /* An operator (or a misbehaving replica) hands the Lease to "intruder". */
    put_remote("intruder", WALL0, 15);
    int gets = a->lock->gets;
    run_for(2.0); /* the renew gets 409, re-reads, sees intruder, steps down */
    assert_int_equal(a->lock->gets, gets + 1);
    assert_false(elector_is_leader(a->e));
    assert_int_equal(a->stopped, 1);
    assert_string_equal(store.rec.holder, "intruder");
    assert_string_equal(a->new_leader, "intruder");
}

KP_TEST_F(test_conflict_same_holder_renews, setup, teardown)
{
    (void)state;
    struct rep *a = add_rep_cfg("a", false);
    run_for(0);
    /* Someone touches the record but leaves us as holder (e.g. a label edit
     * through a full update): we re-read and renew over the new version. */
    struct lease_record r = store.rec;
    r.transitions = 9;
    memstore_put(&store, &r);
    run_for(2.0);
    assert_true(elector_is_leader(a->e));
    assert_int_equal(store.rec.transitions, 9);
    assert_int_equal(a->stopped, 0);
}

KP_TEST_F(test_watch_sees_takeover_immediately, setup, teardown)
{
    (void)state;
    struct rep *a = add_leader("a");
    put_remote("intruder", WALL0, 15);
    assert_false(elector_is_leader(a->e)); /* stepped down within the watch callback */
    assert_int_equal(a->stopped, 1);
}

/* ---- releasing ---------------------------------------------------------- */

KP_TEST_F(test_release_writes_empty_holder, setup, teardown)
{
    (void)state;
    struct rep *a = add_leader("a");
    run_for(3);
    elector_release(a->e, cb_released, a);
    assert_int_equal(a->stopped, 1);
    assert_true(a->holder_at_stop_was_me); /* work stopped before the release was written */
    assert_false(elector_is_leader(a->e));
    run_for(0);
    assert_int_equal(a->released, 1);
    assert_int_equal(a->release_status, 0);
    assert_lease_written_now("", 1, 0); /* released: no holder, 1 s */
    /* idle afterwards: no more requests */
    int n = a->lock->gets + a->lock->updates + a->lock->creates;
    run_for(30);
    assert_int_equal(a->lock->gets + a->lock->updates + a->lock->creates, n);
}

KP_TEST_F(test_release_within_a_second_when_api_hangs, setup, teardown)
{
    (void)state;
    struct rep *a = add_leader("a");
    a->lock->hold = true;
    double t0 = fake_mono;
    elector_release(a->e, cb_released, a);
    run_until(t0 + 0.999);
    assert_int_equal(a->released, 0);
    run_until(t0 + 1.0);
    assert_int_equal(a->released, 1);
    assert_true(a->release_status < 0);
}

KP_TEST_F(test_release_as_follower_and_without_release_on_cancel, setup, teardown)
{
    (void)state;
    put_remote("other", WALL0, 15);
    struct rep *b = add_rep("b");
    run_for(1);
    elector_release(b->e, cb_released, b);
    assert_int_equal(b->released, 1);
    assert_int_equal(b->stopped, 0);
    assert_string_equal(store.rec.holder, "other");
}

KP_TEST_F(test_released_lease_taken_immediately, setup, teardown)
{
    (void)state;
    struct rep *a = add_leader("a");
    struct rep *b = add_rep("b");
    struct rep *c = add_rep("c");
    run_for(5);
    double t = fake_mono;
    elector_release(a->e, cb_released, a);
    run_for(0); /* no time passes: the watch event alone drives the takeover */
    assert_true(fake_mono == t);
    assert_int_equal(leaders(), 1);
    assert_true(elector_is_leader(b->e) || elector_is_leader(c->e));
    assert_int_equal(store.rec.transitions, 1);
    struct rep *l = elector_is_leader(b->e) ? b : c;
    assert_string_equal(store.rec.holder, l->id);
    struct elector_stats st;
    elector_get_stats(l->e, &st);
    assert_int_equal(st.lease_transitions, 1);
}

/* After 3 s, the leader from releases; to takes over at once, the transitions-th change. */
static void hand_over(struct rep *from, struct rep *to, int transitions)
{
    run_for(3);
    elector_release(from->e, cb_released, from);
    run_for(0);
    assert_true(elector_is_leader(to->e));
    assert_int_equal(store.rec.transitions, transitions);
}

KP_TEST_F(test_transitions_count, setup, teardown)
{
    (void)state;
    struct rep *a = add_leader("a");
    struct rep *b = add_rep("b");
    hand_over(a, b, 1);
    elector_free(a->e);
    a = &reps[0];
    a->e = NULL;
    struct rep *c = add_rep("c");
    hand_over(b, c, 2);
    /* renewals keep it */
    run_for(10);
    assert_int_equal(store.rec.transitions, 2);
}

/* ---- deletion and errors ------------------------------------------------ */

KP_TEST_F(test_deleted_lease, setup, teardown)
{
    (void)state;
    struct rep *a = add_leader("a");
    struct rep *b = add_rep("b");
    run_for(1);
    memstore_delete(&store);
    /* The leader stops at once and re-creates; b, which saw a hold it, waits. */
    run_for(0);
    assert_int_equal(a->stopped, 1);
    assert_true(elector_is_leader(a->e));
    assert_string_equal(store.rec.holder, "a");
    assert_int_equal(store.rec.transitions, 0);
    assert_false(elector_is_leader(b->e));
}

KP_TEST_F(test_deleted_lease_follower_waits_for_expiry, setup, teardown)
{
    (void)state;
    put_remote("gone", WALL0, 15);
    double t0 = fake_mono;
    struct rep *b = add_rep("b");
    run_for(1);
    memstore_delete(&store);
    run_until(t0 + 14.9);
    assert_false(elector_is_leader(b->e));
    assert_false(store.exists);
    run_until(t0 + 15 + 4.4 + 0.01);
    assert_true(elector_is_leader(b->e));
}

KP_TEST_F(test_forbidden_backs_off_then_joins, setup, teardown)
{
    (void)state;
    memstore_init(&store);
    struct rep *a = add_rep_cfg("a", false);
    a->lock->fail_left = 1000;
    a->lock->fail_status = ELECTOR_LOCK_FORBIDDEN;
    run_for(0);
    int g0 = a->lock->gets;
    run_for(60);
    int tries = a->lock->gets - g0;
    print_message("forbidden tries in 60s: %d\n", tries);
    /* backed off: far fewer than one try per retry period, but still trying */
    assert_true(tries >= 3 && tries <= 8);
    struct elector_stats st;
    elector_get_stats(a->e, &st);
    assert_true(st.acquire_failures >= 4);
    a->lock->fail_left = 0; /* the RoleBinding appears */
    run_for(16);
    assert_true(elector_is_leader(a->e));
}

/* ---- many replicas, random trouble: never two leaders ------------------- */

KP_TEST_F(test_chaos_never_two_leaders, setup, teardown)
{
    (void)state;
    srand(7);
    static const char *ids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++)
        add_rep_cfg(ids[i], i != 1); /* b only polls */
    int became = 0;
    for (int step = 0; step < 400; step++) {
        int who = rand() % 3;
        switch (rand() % 6) {
        case 0: reps[who].lock->hold = !reps[who].lock->hold; break;
        case 1:
            reps[who].lock->fail_left = rand() % 3;
            reps[who].lock->fail_status = ELECTOR_LOCK_ERROR;
            break;
        default: break;
        }
        fake_rand = (double)rand() / RAND_MAX;
        run_for((double)(rand() % 4000) / 1000.0); /* asserts <= 1 leader at every step */
    }
    for (int i = 0; i < 3; i++) {
        reps[i].lock->hold = false;
        became += reps[i].started;
    }
    run_for(40);
    assert_int_equal(leaders(), 1);
    assert_true(became >= 2);
}
