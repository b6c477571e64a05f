/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector_int.h - the collector's state, shared by collector.c (lifecycle,
 * watches, leadership) and scrape.c (the cycle and one node's scrape).
 */
#ifndef KP_COLLECTOR_INT_H
#define KP_COLLECTOR_INT_H

#include <ev.h>
#include <stdbool.h>

#include "auth.h"
#include "cache.h"
#include "collector.h"
#include "model.h"
#include "rates.h"
#include "sched.h"
#include "scope.h"
#include "summary.h"

/* An error body (401, 500...) is read up to this much, then the transfer is
 * aborted; a little of it goes to the log. */
#define SCRAPE_ERROR_BODY_MAX (64 * 1024)

struct scrape {
    struct collector *c;             /* borrowed */
    struct http_request *req;        /* borrowed from the client while in flight */
    struct model_node *mn;           /* owned, reused; made on first use */
    struct summary_parser *parser;   /* owned, reused; made on first use */
    char node[SUMMARY_MAX_NAME + 1]; /* "" when the slot is free */
    bool parse_failed;
    long bad_status; /* a non-200 status seen by on_data, else 0 */
    size_t error_bytes;
    char detail[160]; /* parse error, or the start of an error body */
};

struct collector {
    struct ev_loop *loop;       /* borrowed */
    struct http_client *http;   /* borrowed */
    struct kube_client *kube;   /* borrowed */
    struct collector_opts opts; /* its strings are not used after collector_new */
    char *scheme;               /* owned */
    struct kubelet_auth auth;
    struct collector_sink sink;
    struct cache_label_policy labels; /* its strings owned (label_strs) */
    char **label_strs;                /* owned: every string of labels, in one array */
    size_t nlabel_strs;
    struct node_cache nodes;
    struct pod_cache pods;
    struct kube_watch *wn, *wp, *wns; /* owned */
    struct rates *rates;              /* owned */
    struct model *model;              /* owned */
    struct scope scope;               /* what is written: metrics, namespaces */
    struct scrape *slots;             /* owned, max_concurrency */
    size_t nslots, inflight;
    char **queue; /* owned: node names still to scrape this cycle */
    size_t nqueue, qpos;
    ev_periodic tick; /* on the grid while leading; asks sched what is due */
    struct sched sched;
    bool first_logged; /* this term's first cycle was logged */
    double lead_since; /* monotonic */
    uint32_t cycle;
    double cycle_stamp;       /* grid time of the cycle in flight or last started */
    int64_t cycle_ts;         /* the same in nanoseconds: every point of the cycle carries it */
    double cycle_start;       /* monotonic */
    uint64_t points_at_start; /* st.points when the cycle began */
    struct collector_stats st;
};

/* The injected monotonic clock (collector_opts.clock), else the system's. */
double collector_mono(const struct collector *c);
/* Start the cycle sched_poll asked for, stamped with the grid time stamp. */
void cycle_start(struct collector *c, double stamp);
/* Cancel the cycle in flight: nothing more of it is emitted (what was is not taken back). */
void cycle_abort(struct collector *c);

#endif
