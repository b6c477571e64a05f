/* SPDX-License-Identifier: Apache-2.0 */
/*
 * elector.h - leader election over a coordination.k8s.io/v1 Lease, with the
 * semantics of client-go's tools/leaderelection + resourcelock.LeaseLock, so
 * kubepulse replicas and Go programs can share one Lease.
 *
 * Replicas race to hold the Lease; the holder renews it every retry period.
 * A follower takes over only when the record it observed stays unchanged for
 * leaseDurationSeconds on its own monotonic clock (never by comparing the
 * remote renewTime with the local wall clock), or at once when the Lease is
 * released (empty holderIdentity). Followers also watch the Lease, so a
 * release or an expiry is acted on immediately rather than at the next poll.
 *
 * Everything runs on one libev loop; callbacks are called from it.
 */
#ifndef KP_ELECTOR_H
#define KP_ELECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct ev_loop;
struct kube_client;
struct elector;

/* Clocks, injectable for tests. NULL members use the system clocks. */
struct elector_clock {
    double (*mono_now)(void *ud);     /* seconds on a monotonic clock: all durations */
    int64_t (*wall_now_us)(void *ud); /* microseconds since the epoch: only for times written */
    double (*random01)(void *ud);     /* [0, 1) for retry jitter */
    void *ud;
};

struct elector_callbacks {
    /* Required. Leadership begins: start the work the Lease protects. */
    void (*on_started_leading)(struct elector *e, void *ud);
    /* Required. Leadership ended (renew deadline passed, the Lease was taken,
     * or a release): stop that work now, before returning. */
    void (*on_stopped_leading)(struct elector *e, void *ud);
    /* Optional. The observed holder changed; identity is "" after a release. */
    void (*on_new_leader)(struct elector *e, const char *identity, void *ud);
    void *ud; /* borrowed */
};

struct elector_config {
    const char *lease_name;      /* borrowed, copied: DNS subdomain */
    const char *lease_namespace; /* borrowed, copied: DNS label */
    const char *identity;        /* borrowed, copied: unique per replica */
    double lease_duration_s;     /* client-go LeaseDuration (default 15) */
    double renew_deadline_s;     /* client-go RenewDeadline (default 10) */
    double retry_period_s;       /* client-go RetryPeriod (default 2) */
    bool release_on_cancel;      /* elector_release writes an empty holder (default true) */
    bool watch;                  /* followers watch the Lease (default true) */
    struct elector_callbacks cb;
    struct elector_clock clock;
};

/* Defaults: 15 s / 10 s / 2 s, release_on_cancel, watch; names NULL. */
void elector_config_init(struct elector_config *cfg);
/* client-go's rules: leaseDuration > renewDeadline > 1.2 * retryPeriod, all
 * >= 1 s, identity and names present and bounded, both required callbacks. */
int elector_config_validate(const struct elector_config *cfg, char *err, size_t errlen);
/* The three durations' rules alone (client-go's NewLeaderElector, plus whole seconds for the
 * Lease): one owner, asked by elector_config_validate and by kubepulse's flags. */
int elector_check_timing(double lease_duration_s, double renew_deadline_s, double retry_period_s,
                         char *err, size_t errlen);
/* The other settings' rules, one function each (also kubepulse's flag checks): an identity is
 * 1 to 1023 bytes, the Lease's name a DNS subdomain, its namespace a DNS label. */
int elector_check_identity(const char *identity, char *err, size_t errlen);
int elector_check_lease_name(const char *name, char *err, size_t errlen);
int elector_check_lease_namespace(const char *ns, char *err, size_t errlen);

/* A new, idle elector on the Lease NS/NAME through kc (borrowed: must outlive
 * the elector). NULL with err filled on a bad config. */
struct elector *elector_new(struct ev_loop *loop, struct kube_client *kc,
                            const struct elector_config *cfg, char *err, size_t errlen);
/* Begin campaigning (and watching). Returns 0 or -1 with err filled. */
int elector_start(struct elector *e, char *err, size_t errlen);

/* Graceful stop: cancel timers; if leading, call on_stopped_leading, then (with
 * release_on_cancel) write the release exactly like client-go (holder "",
 * leaseDurationSeconds 1, acquire/renew now, transitions kept); then done.
 * done is called within about 1 s whatever the API server does, possibly
 * before elector_release returns. status is 0 when nothing was held or the
 * release was written, negative when it could not be. The elector stays idle
 * afterwards; free it with elector_free. */
typedef void (*elector_release_fn)(struct elector *e, int status, void *ud);
void elector_release(struct elector *e, elector_release_fn done, void *ud);

/* Stops everything without writing; no callbacks. NULL is a no-op. */
void elector_free(struct elector *e);

/* True while leading and before the leader deadline: check it before every
 * write the Lease protects. */
bool elector_is_leader(const struct elector *e);
/* The monotonic time (elector_clock.mono_now seconds) until which leadership
 * is guaranteed: the send time of the last successful renew plus the renew
 * deadline, which is earlier than any other replica can take the Lease. Returns
 * false (and leaves *deadline alone) when not leading. */
bool elector_leader_deadline(const struct elector *e, double *deadline);
/* The holder last observed ("" when none or released). Borrowed: valid until
 * the next callback or loop iteration. */
const char *elector_holder(const struct elector *e);
const char *elector_identity(const struct elector *e);

struct elector_stats {
    uint64_t leader_transitions;   /* times this replica became leader */
    uint64_t lease_transitions;    /* leaseTransitions of the last observed record */
    uint64_t renew_failures;       /* failed renew attempts while leading */
    uint64_t acquire_failures;     /* failed acquire attempts (API errors, conflicts) */
    uint64_t leadership_lost;      /* times leadership ended without a release */
    double last_renew_latency_s;   /* round trip of the last successful renew, -1 if none */
    struct kp_hist renew_duration; /* round trips of successful Lease writes, seconds */
    double last_leader_deadline;   /* the deadline of the current or last leadership (kept
                                    * after stepping down: how long it was guaranteed), -1 */
    bool leading;
};
void elector_get_stats(const struct elector *e, struct elector_stats *out);
/* How /metrics shows struct elector_stats (stats.h). */
extern const struct stat_desc elector_stat_descs[];
extern const size_t elector_stat_ndescs;

#endif
