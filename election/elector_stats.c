/* SPDX-License-Identifier: Apache-2.0 */
/*
 * elector_stats.c - how /metrics shows struct elector_stats: one line per
 * field (stats.h).
 */
#include "elector.h"

#define E struct elector_stats
const struct stat_desc elector_stat_descs[] = {
    STAT_COUNTER_U64(E, renew_failures, "kubepulse_lease_renew_failures_total",
                     "Failed Lease renewals while leading.", NULL),
    STAT_COUNTER_U64(E, acquire_failures, "kubepulse_lease_acquire_failures_total",
                     "Failed Lease acquisitions (API errors, conflicts).", NULL),
    STAT_COUNTER_U64(E, leadership_lost, "kubepulse_leadership_lost_total",
                     "Times leadership ended without a release (renew deadline passed, Lease "
                     "taken).",
                     NULL),
    STAT_GAUGE_U64(E, lease_transitions, "kubepulse_lease_transitions",
                   "leaseTransitions of the last observed Lease.", NULL),
    STAT_HIST(E, renew_duration, "kubepulse_lease_renew_duration_seconds",
              "Round trip of each successful Lease write (acquire or renew).", NULL),
};
#undef E
const size_t elector_stat_ndescs = STAT_TABLE_LEN(elector_stat_descs);
