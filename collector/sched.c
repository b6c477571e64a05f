/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sched.c - the scrape cycle's timing rules of sched.h. The collector asks
 * these functions for every decision about when a cycle starts and which grid
 * time it carries; nothing else computes the grid.
 */
#include "sched.h"

#include <math.h>

/* Relative tolerance of the grid: a wall time within res * 1e-6 before a
 * multiple of res belongs to that multiple (timers fire at or just after their
 * time, but floating point may land a hair below it). */
#define GRID_EPS 1e-6

double sched_grid(double res, double wall)
{
    return floor(wall / res + GRID_EPS) * res;
}

void sched_init(struct sched *s, double res)
{
    *s = (struct sched){.res = res, .tick = -1, .first_tick = -1, .last_done = -1};
}

void sched_lead(struct sched *s, double wall, double released)
{
    if (s->leading)
        return;
    s->leading = true;
    s->in_cycle = false;
    s->tick = sched_grid(s->res, wall);
    /* released in this interval: the predecessor completed it, ours begins at the next tick;
     * released before this interval's tick: it started no cycle here, the interval is ours */
    bool handed = released >= 0 && sched_grid(s->res, released) >= s->tick;
    s->first_tick = handed ? s->tick + s->res : s->tick;
    s->first_wait = !handed;
}

void sched_stop(struct sched *s)
{
    s->leading = s->first_wait = s->in_cycle = false;
}

enum sched_action sched_poll(struct sched *s, double wall, bool ready, double *stamp)
{
    if (!s->leading)
        return SCHED_NONE;
    double g = sched_grid(s->res, wall);
    if (g != s->tick) {
        /* a tick (a backward step of the wall clock counts as one too) */
        s->tick = g;
        if (s->in_cycle)
            return SCHED_SKIP;
        s->first_wait = false;
        s->in_cycle = true;
        *stamp = g;
        return SCHED_START;
    }
    double near = s->res / 4 < SCHED_FIRST_WAIT_S ? s->res / 4 : SCHED_FIRST_WAIT_S;
    if (s->first_wait && ready && !s->in_cycle && g + s->res - wall > near) {
        s->first_wait = false;
        s->in_cycle = true;
        *stamp = g;
        return SCHED_START;
    }
    return SCHED_NONE;
}

void sched_cycle_end(struct sched *s, double stamp, bool completed)
{
    s->in_cycle = false;
    if (completed)
        s->last_done = stamp;
}

double sched_next(const struct sched *s)
{
    return s->leading ? s->tick + s->res : -1;
}

bool sched_due(const struct sched *s, double wall)
{
    if (!s->leading)
        return false;
    if (s->in_cycle)
        return true;
    double g = sched_grid(s->res, wall);
    return g >= s->first_tick && wall - g < SCHED_TICK_DUE_S && s->last_done < g;
}
