/* SPDX-License-Identifier: Apache-2.0 */
/*
 * window_int.h - the model API window's state, shared by its recording side (window.c) and
 * its requests (window_api.c).
 */
#ifndef KP_METRICSAPI_WINDOW_INT_H
#define KP_METRICSAPI_WINDOW_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "mapi_int.h"
#include "strmap.h"

#define NS_PER_S 1000000000LL

/* A series' ring holds cap timestamps, then cap values. Both start narrow, 4 bytes each:
 * a timestamp as whole seconds after the series' first point (the points of a cycle carry
 * its grid time), a value as an int32. The first point that does not fit widens that array
 * to int64 for good, so every point is kept exactly. Most series stay narrow: 8 bytes a
 * point instead of 16, and the window is most of the daemon's memory (N = 100 x 30 pods at
 * 15 s: 156,000 series, 42 MB of rings at 16 bytes a point). */
struct wseries {
    uint16_t metric;
    uint8_t wide_ts, wide_v; /* 0: uint32 / int32; 1: int64 */
    uint32_t cap, n, head;
    int64_t base;     /* the first point's time: a narrow timestamp counts seconds after it */
    unsigned char *p; /* owned ring */
};

/* The time and value of ring slot i. */
int64_t wseries_ts_at(const struct wseries *s, uint32_t i);
int64_t wseries_v_at(const struct wseries *s, uint32_t i);

struct wentity {
    int64_t seen_ns;
    struct wseries *s; /* owned */
    size_t ns;
};

struct mapi_window {
    double resolution_s;
    enum mapi_window_mode mode;
    int64_t (*mono_ns)(void *ud);
    void *clock_ud;
    bool recording;
    int64_t last_request; /* monotonic ns of the last request */
    uint64_t recordings_started;
    /* owned values (struct wentity) by key: "n/NODE", "ns/NS", "p/NS/POD", "c/NS/POD/CTR",
     * "cluster" */
    struct strmap entities;
    size_t points; /* capacity of every ring: the bound */
    size_t held;   /* points in the rings */
    size_t bytes;  /* of the rings */
    int64_t last_sweep;
    bool warned;
};

/* A model API request came: on demand, an idle window starts recording (after an idle stop
 * is done, so a late request finds it empty) and a recording one stops 15 minutes later. */
void window_note_request(struct mapi_window *w);

#endif
