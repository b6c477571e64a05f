/* SPDX-License-Identifier: Apache-2.0 */
/*
 * parse_quiet.h - the option tests' way to run the flag parser: fresh options, --help and
 * --version output thrown away (test_options.c and test_source.c).
 */
#ifndef KP_TEST_PARSE_QUIET_H
#define KP_TEST_PARSE_QUIET_H

#include "options.h"

/* kp_options_init, then kp_options_parse with its output to /dev/null. */
enum kp_options_result parse_quiet(struct kp_options *o, int argc, char **argv, char *err,
                                   size_t errlen);

#endif
