/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rates.h - rates from cumulative counters (cpu/usage -> cpu/usage_rate,
 * page faults, network bytes and errors), using the kubelet's own sample
 * times. The previous sample of each series is kept compactly, keyed by a
 * 64-bit hash of the series key (node, node/system container, pod uid,
 * pod uid/container name).
 *
 * No rate is produced for an interval when: there is no previous sample, the
 * start time changed (a restart), the sample time did not advance (a repeated
 * sample), or a counter went down (a reset). So a rate is never negative,
 * infinite or NaN.
 */
#ifndef KP_COLLECTOR_RATES_H
#define KP_COLLECTOR_RATES_H

#include <stddef.h>
#include <stdint.h>

#include "summary.h"

struct rate_out {
    int64_t cpu_millicores;  /* cpu/usage_rate, when has & (1 << SV_CPU_USAGE) */
    double per_s[SV__COUNT]; /* other counters, per second */
    uint32_t has;            /* bit (1 << enum summary_value) */
};

struct rates;
struct rates *rates_new(void);
void rates_free(struct rates *r);
/* Compare st with the stored sample of key, store st, fill out. cycle marks
 * the entry as live for rates_expire. Returns 0, or -1 when out of memory
 * (no rates then). */
int rates_update(struct rates *r, const char *key, const struct summary_stats *st, uint32_t cycle,
                 struct rate_out *out);
/* As rates_update, for a key already hashed with kp_hash (/kp_hash_more): the model hashes
 * a pod's uid once for its pod and container keys. */
int rates_update_hash(struct rates *r, uint64_t key_hash, const struct summary_stats *st,
                      uint32_t cycle, struct rate_out *out);
/* A hint that key_hash is updated soon: starts loading its slot, so that the cache misses of
 * a pod's keys (one per key: the table is far larger than the cache) overlap. No effect on
 * the table's contents. */
void rates_prefetch(const struct rates *r, uint64_t key_hash);
/* Drop series not updated in the last max_age cycles (deleted pods, restarted
 * containers' old names). */
void rates_expire(struct rates *r, uint32_t cycle, uint32_t max_age);
size_t rates_count(const struct rates *r);
size_t rates_memory(const struct rates *r);

#endif
