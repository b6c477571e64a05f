/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quantity.h - Kubernetes resource.Quantity strings ("4", "3800m", "16Gi",
 * "1.5", "1e3", "100M") to integers, rounding up as Quantity.Value() and
 * Quantity.MilliValue() do.
 */
#ifndef KP_COLLECTOR_QUANTITY_H
#define KP_COLLECTOR_QUANTITY_H

#include <stdint.h>

/* scale_pow10: 0 for Value() (bytes), 3 for MilliValue() (millicores).
 * Returns 0, or -1 for a malformed, negative or out-of-range quantity. */
int quantity_parse(const char *s, int scale_pow10, int64_t *out);

#endif
