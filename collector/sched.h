/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched.h - when scrape cycles start and what time they carry: the one owner
 * of the resolution grid. Cycles start on wall-clock multiples of the
 * resolution and are stamped with that grid time; a term's first cycle starts
 * at once after a takeover and on the next tick after a handoff within the
 * interval (a release in an earlier interval counts as a takeover); a tick that
 * comes while a cycle still runs is skipped; at shutdown it says whether the
 * current interval's cycle is due. Pure (no loop, no clock of its own): the
 * collector passes the wall time and arms the timer.
 */
#ifndef KP_COLLECTOR_SCHED_H
#define KP_COLLECTOR_SCHED_H

#include <stdbool.h>

/* A term's first cycle after a takeover waits for the next tick when that is
 * this close (or a quarter of the resolution, if shorter): the tick is then the
 * first cycle, rather than two cycles back to back over one kubelet sample. */
#define SCHED_FIRST_WAIT_S 1.0
/* At shutdown, a tick this recent whose cycle has not run yet is still due. */
#define SCHED_TICK_DUE_S 0.2

struct sched {
    double res;        /* seconds, > 0 */
    bool leading;      /* cycles run for this replica */
    bool first_wait;   /* leading after a takeover; the first cycle has not started */
    bool in_cycle;     /* a cycle started and has not ended or been aborted */
    double tick;       /* the grid time last acted on (or the one leading began in) */
    double first_tick; /* the first grid time this term owns */
    double last_done;  /* stamp of the last completed cycle, any term; -1: none */
};

enum sched_action {
    SCHED_NONE,  /* nothing to do now */
    SCHED_START, /* start a cycle stamped *stamp */
    SCHED_SKIP,  /* a tick came while the cycle still runs: none for it */
};

/* The grid time of the interval wall falls in: the largest multiple of res at
 * or before wall (a timer firing a hair early counts as its tick). */
double sched_grid(double res, double wall);

void sched_init(struct sched *s, double res);
/* Leading begins at wall. released: the wall time the previous holder's
 * release of the Lease was observed, or < 0 (a takeover from an expired Lease,
 * or the first leader). A holder releases only after completing the interval
 * it releases in: when that is wall's interval, the first cycle is the next
 * tick. Otherwise (no release, or one in an earlier interval: the handoff
 * crossed a tick and nobody started this interval) the first cycle starts as
 * soon as ready, unless the next tick is within SCHED_FIRST_WAIT_S. */
void sched_lead(struct sched *s, double wall, double released);
/* Leading ends: nothing more starts; the cycle in flight is aborted. */
void sched_stop(struct sched *s);
/* Called when a tick fired, leading began or readiness changed (ready: the
 * caches have listed). At most one action per call. */
enum sched_action sched_poll(struct sched *s, double wall, bool ready, double *stamp);
/* The cycle started by SCHED_START ended (completed: every node done). */
void sched_cycle_end(struct sched *s, double stamp, bool completed);
/* The wall time of the next tick while leading, else -1. */
double sched_next(const struct sched *s);
/* At shutdown: the current interval's cycle runs, or its tick is due and the
 * interval is this term's; releasing now would lose it. */
bool sched_due(const struct sched *s, double wall);

#endif
