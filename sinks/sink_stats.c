/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sink_stats.c - how /metrics and /status show struct sink_stats: one line
 * per field (stats.h). The daemon labels each sink's samples sink="NAME".
 */
#include "sink.h"

static const char *drop_name(int i)
{
    return sink_drop_reason_name((enum sink_drop_reason)i);
}

#define S struct sink_stats
const struct stat_desc sink_stat_descs[] = {
    STAT_COUNTER_U64(S, points_written, "kubepulse_sink_points_written_total",
                     "Points acknowledged by the sink.", "pointsWritten"),
    STAT_GAUGE_U64(S, points_buffered, "kubepulse_sink_points_buffered",
                   "Points waiting or in flight.", "pointsBuffered"),
    STAT_GAUGE_U64(S, bytes_buffered, "kubepulse_sink_buffer_bytes",
                   "Memory held by the sink's buffer.", NULL),
    STAT_COUNTER_BY(S, points_dropped, "kubepulse_sink_points_dropped_total",
                    "Points dropped, by reason.", "pointsDropped", "reason", SINK_DROP__COUNT,
                    drop_name),
    STAT_COUNTER_U64(S, requests, "kubepulse_sink_requests_total", "Write requests completed.",
                     NULL),
    STAT_COUNTER_U64(S, failures, "kubepulse_sink_request_failures_total",
                     "Write requests not answered 2xx.", NULL),
    STAT_COUNTER_U64(S, retries, "kubepulse_sink_retries_total", "Write requests sent again.",
                     NULL),
    STAT_HIST(S, write_duration, "kubepulse_sink_write_duration_seconds",
              "Time of each completed write request, whatever its outcome.", NULL),
    STAT_COUNTER_U64(S, bytes_sent, "kubepulse_sink_sent_bytes_total",
                     "Request bodies sent (after gzip), retries included.", NULL),
    STAT_GAUGE_LONG(S, last_status, NULL, NULL, "lastStatus"),
    STAT_GAUGE_BOOL(S, held, "kubepulse_sink_held",
                    "1 while buffered points wait because this replica lost leadership.", "held"),
};
#undef S
const size_t sink_stat_ndescs = STAT_TABLE_LEN(sink_stat_descs);
