/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check.h - `kubepulse --check-release` (check.c): the chart's `helm test`, from the release's
 * own image.
 */
#ifndef KP_CHECK_H
#define KP_CHECK_H

#include "options.h"

/* Check the release whose Lease o names; returns the exit code (0: it works, 1: not). */
int check_release_run(const struct kp_options *o);

#endif
