/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metric.c - the metric table (names, withfields group and field, types),
 * generated from the KP_METRICS list in metric.h.
 */
#include "metric.h"

const struct kp_metric_desc kp_metrics[KP_M__COUNT] = {
#define KP_METRIC_DESC_(id, n, g, f, t, k, u)                                                      \
    [KP_M_##id] = {.name = n, .group = g, .field = f, .type = t, .kind = k, .units = u},
    KP_METRICS(KP_METRIC_DESC_)
#undef KP_METRIC_DESC_
};
