/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon_int.h - the daemon's state, shared by daemon.c (wiring and
 * lifecycle) and daemon_status.c (the status server's pages).
 */
#ifndef KP_DAEMON_INT_H
#define KP_DAEMON_INT_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "options.h"

struct http_client;
struct kube_client;
struct elector;
struct collector;
struct sink;
struct status_server;
struct daemon_mapi;
struct mapi_peer;
struct mapi_store;
struct mapi_window;
struct status_response;
struct mapi_response;
struct kp_batch;

struct daemon {
    struct ev_loop *loop;       /* borrowed: the default loop */
    const struct kp_options *o; /* borrowed */
    char identity[256];
    char lease_namespace[254];
    char observed_leader[256];        /* the Lease's holder as last observed; "" when none */
    struct http_client *http;         /* owned */
    struct kube_client *kube;         /* owned */
    struct elector *elector;          /* owned; NULL with --leader-elect=false */
    struct collector *collector;      /* owned */
    struct sink *sinks[KP_MAX_SINKS]; /* owned */
    size_t nsinks;
    struct status_server *status; /* owned */
    struct daemon_mapi *mapi;     /* owned; NULL without --metrics-api-listen */
    struct mapi_window *model;    /* owned: Heapster's model API on the status port */
    ev_signal sig_term, sig_int;
    ev_timer heartbeat; /* proves the loop turns, for /healthz */
    ev_timer flush_deadline;
    ev_timer drain_deadline; /* SIGTERM: bound on finishing the cycle in flight */
    ev_timer model_idle;     /* --model-api=on-demand: stops an idle window */
    double last_beat;
    double started_at;
    bool leading; /* the collector runs for us */
    bool stopping;
    bool draining;      /* stopping, but the cycle in flight may still write */
    bool exit_flush;    /* released the Lease as leader at SIGTERM: sinks may flush */
    double released_at; /* when the last other holder was seen releasing the Lease; -1: not */
    size_t flushes_pending;
    int exit_code;
    /* counters for /metrics */
    uint64_t leader_transitions;
    uint64_t batches_after_stepdown; /* batches refused because leadership had ended */
    uint64_t points_after_stepdown;
    uint64_t points_handed; /* points handed to the sinks */
};

/* daemon_mapi.c: the resource metrics API (off without --metrics-api-listen) */
int daemon_mapi_start(struct daemon *d, char *err, size_t errlen);
void daemon_mapi_batch(struct daemon *d, const struct kp_batch *b);
void daemon_mapi_cycle_done(struct daemon *d);
void daemon_mapi_stopped_leading(struct daemon *d);
void daemon_mapi_started_leading(struct daemon *d);
void daemon_mapi_free(struct daemon *d);
/* Heapster's model API (/api/v1/model/...), served on the status port from the leader's
 * last 15 minutes (--model-api: from the first request on, or always). */
int daemon_model_start(struct daemon *d, char *err, size_t errlen);
void daemon_model_page(struct daemon *d, const char *path, struct status_response *r);
void daemon_model_free(struct daemon *d);

/* daemon_mapi_peer.c: followers serve a copy of the leader's samples */
struct mapi_peer *mapi_peer_new(struct daemon *d, struct mapi_store *store, int port);
/* true when target is the samples endpoint; r is then filled (405 for a method but GET) */
bool mapi_peer_samples(struct mapi_peer *p, const char *method, const char *target,
                       struct mapi_response *r);
void mapi_peer_started_leading(struct mapi_peer *p);
/* This replica leads, or holds a copy of the leader's samples. */
bool mapi_peer_has_data(const struct mapi_peer *p);
void mapi_peer_free(struct mapi_peer *p);
/* The host of a published "host:port" or "[v6]:port" (the leader's certificate's name). */
void mapi_peer_host(const char *addr, char *out, size_t outlen);

/* daemon_status.c */
int daemon_status_start(struct daemon *d, char *err, size_t errlen);
/* True when this replica may write now: it leads and is before its renew deadline. */
bool daemon_may_write(const struct daemon *d);

#endif
