/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cycle.c - when scrape cycles start and which time they carry
 * (collector/sched.c through the collector, on a fake clock): a term's first
 * cycle after a takeover, the first cycle on the next tick after a handoff,
 * a tick skipped while a cycle overruns, stamps on the grid whatever the wall
 * time, and whether a cycle is due when SIGTERM comes.
 */
#include <ev.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "kp_test.h"
#include "collector.h"
#include "collector_int.h"
#include "http.h"
#include "sched.h"

#define RES 15.0
#define G   (1700000000.0 - 5.0) /* a multiple of RES: 113333333 * 15 */

static double fake_wall;
static double fake_mono;
static int64_t done_ts[64];
static int ndone;

static double clk_wall(void *ud)
{
    (void)ud;
    return fake_wall;
}
static double clk_mono(void *ud)
{
    (void)ud;
    return fake_mono;
}
static void on_cycle_done(int64_t ts, void *ud)
{
    (void)ud;
    assert_true(ndone < 64);
    done_ts[ndone++] = ts;
}

struct fixture {
    struct ev_loop *loop;
    struct http_client *http;
    struct collector *c;
};

static int setup(void **state)
{
    static struct fixture f;
    char err[256];
    memset(&f, 0, sizeof(f));
    ndone = 0;
    fake_mono = 100;
    f.loop = ev_loop_new(EVFLAG_AUTO);
    f.http = http_client_new(f.loop, &(struct http_client_opts){0}, err, sizeof(err));
    assert_non_null(f.http);
    struct collector_opts o = {
        .resolution_s = RES, .kubelet_scheme = "http", .clock = {clk_mono, clk_wall, NULL}};
    struct collector_sink s = {.cycle_done = on_cycle_done};
    f.c = collector_new(f.loop, f.http, NULL, &o, &s, err, sizeof(err));
    assert_non_null(f.c);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    collector_free(f->c);
    http_client_free(f->http);
    ev_loop_destroy(f->loop);
    return 0;
}

/* A node whose scrape stays in flight: the loop never runs in these tests. */
static void add_node(struct collector *c)
{
    json_object *o = json_tokener_parse("{\"metadata\":{\"name\":\"n1\"},\"status\":{\"addresses\":"
                                        "[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],"
                                        "\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":1}}}}");
    assert_non_null(o);
    node_cache_apply(&c->nodes, KUBE_EVENT_ADDED, o);
    json_object_put(o);
}

/* Leading from G + 3 s with add_node's node: the first cycle (stamped G) starts and stays
 * in flight. */
static void lead_with_cycle_in_flight(struct collector *c)
{
    add_node(c);
    fake_wall = G + 3;
    collector_set_leading(c, true, -1);
    assert_true(collector_in_cycle(c));
}

static double run_at(struct collector *c, double wall)
{
    fake_wall = wall;
    return collector_run_timers(c);
}

static int64_t ns(double t)
{
    return (int64_t)llround(t * 1e9);
}

KP_TEST(test_grid)
{
    (void)state;
    assert_true(sched_grid(RES, G) == G);
    assert_true(sched_grid(RES, G + 7.5) == G);
    assert_true(sched_grid(RES, G + 14.999) == G);
    assert_true(sched_grid(RES, G + RES) == G + RES);
    /* a timer firing a hair before its time belongs to its tick */
    assert_true(sched_grid(RES, G + RES - 1e-7) == G + RES);
    assert_true(sched_grid(60, 119.0) == 60);
}

/* After a takeover the first cycle starts at once, stamped with the tick of
 * the interval it runs in; the next ones on the ticks. */
KP_TEST_F(test_first_cycle_after_takeover, setup, teardown)
{
    struct fixture *f = *state;
    fake_wall = G + 3.2;
    collector_set_leading(f->c, true, -1);
    assert_int_equal(ndone, 1);
    assert_int_equal(done_ts[0], ns(G));
    assert_true(run_at(f->c, G + 9) == G + RES);
    assert_int_equal(ndone, 1); /* nothing between ticks */
    run_at(f->c, G + RES + 0.0004);
    assert_int_equal(ndone, 2);
    assert_int_equal(done_ts[1], ns(G + RES));
    run_at(f->c, G + 2 * RES + 0.7); /* a tick served late is stamped with its grid time */
    assert_int_equal(done_ts[2], ns(G + 2 * RES));
}

/* A takeover within a second of the next tick waits for the tick. */
KP_TEST_F(test_first_cycle_waits_for_close_tick, setup, teardown)
{
    struct fixture *f = *state;
    fake_wall = G + RES - 0.6;
    collector_set_leading(f->c, true, -1);
    assert_int_equal(ndone, 0);
    run_at(f->c, G + RES);
    assert_int_equal(ndone, 1);
    assert_int_equal(done_ts[0], ns(G + RES));
}

/* After the previous holder released the Lease in this interval, it has written
 * it: the first cycle is the next tick, however far it is. */
KP_TEST_F(test_handoff_first_cycle_on_next_tick, setup, teardown)
{
    struct fixture *f = *state;
    fake_wall = G + 0.03;
    collector_set_leading(f->c, true, G + 0.01);
    assert_int_equal(ndone, 0);
    assert_false(collector_cycle_due(f->c)); /* the interval is the predecessor's */
    run_at(f->c, G + 10);
    assert_int_equal(ndone, 0);
    run_at(f->c, G + RES + 0.001);
    assert_int_equal(ndone, 1);
    assert_int_equal(done_ts[0], ns(G + RES));
}

/* A release seen just before a tick, leading just after it: the releasing holder
 * started no cycle for the new interval, so it is ours at once (waiting for the
 * next tick would leave it without a writer). */
KP_TEST_F(test_handoff_across_a_tick_starts_at_once, setup, teardown)
{
    struct fixture *f = *state;
    fake_wall = G + 0.15;
    collector_set_leading(f->c, true, G - 0.05);
    assert_int_equal(ndone, 1);
    assert_int_equal(done_ts[0], ns(G));
    run_at(f->c, G + RES + 0.001);
    assert_int_equal(ndone, 2);
    assert_int_equal(done_ts[1], ns(G + RES));
}

/* The first-cycle wait is at most a quarter of the resolution: at 1 s, a takeover
 * half an interval before the tick starts at once, one a tenth before waits. */
KP_TEST(test_first_wait_short_resolution)
{
    (void)state;
    struct sched s;
    double stamp = 0;
    sched_init(&s, 1.0);
    sched_lead(&s, 100.5, -1);
    assert_int_equal(sched_poll(&s, 100.5, true, &stamp), SCHED_START);
    assert_true(stamp == 100.0);
    sched_stop(&s);
    sched_init(&s, 1.0);
    sched_lead(&s, 200.9, 199.95); /* released in the interval before: a takeover */
    assert_int_equal(sched_poll(&s, 200.9, true, &stamp), SCHED_NONE);
    assert_int_equal(sched_poll(&s, 201.0, true, &stamp), SCHED_START);
    assert_true(stamp == 201.0);
}

/* The caches have not listed: no first cycle until they have (or the tick). */
KP_TEST(test_first_cycle_waits_for_caches)
{
    (void)state;
    struct sched s;
    double stamp = 0;
    sched_init(&s, RES);
    sched_lead(&s, G + 2, -1);
    assert_int_equal(sched_poll(&s, G + 2, false, &stamp), SCHED_NONE);
    assert_int_equal(sched_poll(&s, G + 4, true, &stamp), SCHED_START);
    assert_true(stamp == G);
    sched_cycle_end(&s, stamp, true);
    /* never ready: the tick starts the cycle anyway */
    sched_stop(&s);
    sched_lead(&s, G + RES + 5, -1);
    assert_int_equal(sched_poll(&s, G + RES + 5, false, &stamp), SCHED_NONE);
    assert_int_equal(sched_poll(&s, G + RES + 14.5, true, &stamp), SCHED_NONE); /* < 1 s */
    assert_int_equal(sched_poll(&s, G + 2 * RES, false, &stamp), SCHED_START);
    assert_true(stamp == G + 2 * RES);
}

/* A cycle that runs past the next tick: that tick is skipped and counted, the
 * cycle in flight goes on; the next cycle starts on a tick, not when the long
 * one ends. */
KP_TEST_F(test_overrun_skips_tick, setup, teardown)
{
    struct fixture *f = *state;
    lead_with_cycle_in_flight(f->c);
    assert_int_equal(ndone, 0);
    run_at(f->c, G + RES);
    run_at(f->c, G + 2 * RES);
    struct collector_stats st;
    collector_get_stats(f->c, &st);
    assert_int_equal(st.cycles_skipped, 2);
    assert_true(collector_in_cycle(f->c));
    assert_true(f->c->cycle_ts == ns(G)); /* still the first cycle */

    struct sched s;
    double stamp = 0;
    sched_init(&s, RES);
    sched_lead(&s, G + 3, -1);
    assert_int_equal(sched_poll(&s, G + 3, true, &stamp), SCHED_START);
    assert_int_equal(sched_poll(&s, G + RES, true, &stamp), SCHED_SKIP);
    sched_cycle_end(&s, G, true);
    assert_int_equal(sched_poll(&s, G + RES + 5, true, &stamp), SCHED_NONE);
    assert_int_equal(sched_poll(&s, G + 2 * RES, true, &stamp), SCHED_START);
    assert_true(stamp == G + 2 * RES);
}

/* Stepping down cancels the cycle in flight: it never reports done. */
KP_TEST_F(test_step_down_cancels, setup, teardown)
{
    struct fixture *f = *state;
    lead_with_cycle_in_flight(f->c);
    collector_set_leading(f->c, false, -1);
    assert_false(collector_in_cycle(f->c));
    assert_false(collector_cycle_due(f->c));
    assert_true(run_at(f->c, G + RES) < 0);
    assert_int_equal(ndone, 0);
}

/* SIGTERM: the interval's cycle is due while it runs, and in the first moments
 * after its tick before it ran; not once it completed, not long after the
 * tick, not for an interval a predecessor handed over. */
KP_TEST_F(test_drain_at_sigterm, setup, teardown)
{
    struct fixture *f = *state;
    fake_wall = G + 3;
    collector_set_leading(f->c, true, -1);
    assert_int_equal(ndone, 1);
    fake_wall = G + 3.1;
    assert_false(collector_cycle_due(f->c)); /* completed */
    fake_wall = G + RES + 0.1;
    assert_true(collector_cycle_due(f->c)); /* the tick fired, its cycle not yet run */
    fake_wall = G + RES + 0.3;
    assert_false(collector_cycle_due(f->c)); /* too long after the tick: not coming */
    run_at(f->c, G + RES + 0.1);
    assert_false(collector_cycle_due(f->c)); /* that cycle completed */

    add_node(f->c);
    run_at(f->c, G + 2 * RES);
    fake_wall = G + 2 * RES + 5;
    assert_true(collector_cycle_due(f->c)); /* in flight */
}
