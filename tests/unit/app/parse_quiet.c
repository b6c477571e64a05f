/* SPDX-License-Identifier: Apache-2.0 */
/*
 * parse_quiet.c - see parse_quiet.h.
 */
#include "parse_quiet.h"

#include <stdio.h>

enum kp_options_result parse_quiet(struct kp_options *o, int argc, char **argv, char *err,
                                   size_t errlen)
{
    kp_options_init(o);
    FILE *devnull = fopen("/dev/null", "w");
    enum kp_options_result r = kp_options_parse(o, argc, argv, devnull, err, errlen);
    fclose(devnull);
    return r;
}
