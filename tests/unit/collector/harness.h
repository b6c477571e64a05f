/* SPDX-License-Identifier: Apache-2.0 */
/*
 * harness.h - helpers of the collector unit tests: feed a fixture through
 * the streaming parser into the model and collect the emitted points as
 * records ("k=v,..." series string, metric, value, time) that tests look up.
 */
#ifndef KP_TEST_COLLECTOR_HARNESS_H
#define KP_TEST_COLLECTOR_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "metric.h"
#include "model.h"
#include "summary.h"

struct rec {
    char series[768];
    uint16_t metric;
    int64_t i;
    double f;
    int64_t ts;
    int64_t sampled; /* the batch's sampled_ns of the series, or -1 when it has none */
};

extern struct rec h_recs[8192];
extern size_t h_nrecs;
extern int h_order_violations;

void h_reset(void);
void h_collect(const struct kp_batch *b, void *ud);
/* Read tests/unit/collector/fixtures/NAME; returns malloc'd bytes. */
char *h_read_fixture(const char *name, size_t *len);
/* Feed bytes in chunks of `chunk` (0: all at once) for one node. Returns the
 * parse result (0 or < 0). Each pod (and the system containers) is emitted as
 * its element is decoded; the node's own series only on success. */
int h_scrape(struct model *m, struct summary_parser *p, const char *data, size_t len,
             const struct model_node_info *ni, size_t chunk, char *err, size_t errlen);
/* The one record matching every "k=v" of query (comma separated) and metric,
 * or NULL when there is none; fails the test when there are several. */
const struct rec *h_find(const char *query, int metric);
int64_t h_int(const char *query, int metric);
double h_float(const char *query, int metric);
size_t h_count(const char *query);

const struct model_pod_info *h_lookup(const char *uid, const char *ns, const char *name, void *ud);

#endif
