/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collector_stats.c - how /metrics and /status show struct collector_stats:
 * one line per field (stats.h).
 */
#include "collector.h"

static const char *fail_name(int i)
{
    return collector_fail_name((enum collector_fail)i);
}

#define C struct collector_stats
const struct stat_desc collector_stat_descs[] = {
    STAT_COUNTER_U64(C, cycles, "kubepulse_scrape_cycles_total", "Scrape cycles run.", "cycles"),
    STAT_COUNTER_U64(C, cycles_skipped, "kubepulse_scrape_cycles_skipped_total",
                     "Cycles not started because the previous one was still running.", NULL),
    STAT_GAUGE_DBL(C, last_cycle_s, NULL, NULL, "durationSeconds"),
    STAT_HIST(C, cycle_duration, "kubepulse_scrape_cycle_duration_seconds",
              "Wall time of scrape cycles, from the tick to the last node.", NULL),
    STAT_HIST(C, scrape_duration, "kubepulse_scrape_duration_seconds",
              "Time of each kubelet Summary request, whatever its outcome.", NULL),
    STAT_COUNTER_U64(C, nodes_scraped, "kubepulse_nodes_scraped_total",
                     "Successful kubelet scrapes.", "nodesScrapedTotal"),
    STAT_COUNTER_BY(C, nodes_failed, "kubepulse_nodes_failed_total",
                    "Failed kubelet scrapes, by reason.", "nodesFailedTotal", "reason",
                    COLLECTOR_FAIL__COUNT, fail_name),
    STAT_COUNTER_U64(C, bytes_received, "kubepulse_scrape_received_bytes_total",
                     "Summary bytes received from kubelets.", NULL),
    STAT_COUNTER_U64(C, points, "kubepulse_points_produced_total",
                     "Points produced by the collector.", "pointsTotal"),
    STAT_COUNTER_U64(C, parse_type_errors, "kubepulse_scrape_type_errors_total",
                     "Summary values skipped because of a wrong JSON type.", NULL),
    STAT_COUNTER_U64(C, parse_negatives, "kubepulse_scrape_negative_values_total",
                     "Summary values skipped because they were negative, not finite or out of "
                     "range.",
                     NULL),
    STAT_GAUGE_U64(C, nodes_cached, "kubepulse_nodes_cached", "Nodes in the node cache.",
                   "nodesCached"),
    STAT_GAUGE_U64(C, pods_cached, "kubepulse_pods_cached", "Pods in the pod cache.", "podsCached"),
    STAT_GAUGE_U64(C, rate_series, "kubepulse_rate_series",
                   "Series with a previous sample kept for rates.", NULL),
};
#undef C
const size_t collector_stat_ndescs = STAT_TABLE_LEN(collector_stat_descs);
