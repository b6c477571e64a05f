/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - kubepulse's entry point: options, logging, and the daemon's wiring.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "daemon.h"
#include "log.h"
#include "options.h"

int main(int argc, char **argv)
{
    struct kp_options o;
    char err[1024];
    enum log_format fmt = LOG_FORMAT_TEXT;

    kp_options_init(&o);
    switch (kp_options_parse(&o, argc, argv, stdout, err, sizeof(err))) {
    case KP_OPTIONS_EXIT_OK: kp_options_fini(&o); return 0;
    case KP_OPTIONS_EXIT_ERROR:
        fprintf(stderr, "kubepulse: %s\n", err);
        kp_options_fini(&o);
        return 2;
    case KP_OPTIONS_RUN: break;
    }
    /* both checked at flag time */
    (void)log_format_parse(o.log_format, &fmt);
    log_configure(fmt, (int)o.verbosity, stderr);
    (void)log_vmodule_set(o.vmodule, err, sizeof(err));
    if (o.ignored)
        log_warn("flags accepted for Heapster's command lines mean nothing here and are ignored",
                 LF_STR("flags", o.ignored));
    if (o.notes)
        log_info("--source mapped onto kubepulse's options", LF_STR("notes", o.notes));
    int rc = o.check_release ? check_release_run(&o) : daemon_run(&o);
    kp_options_fini(&o);
    return rc;
}
