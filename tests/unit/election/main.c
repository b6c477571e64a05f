/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - the election module's unit test executable: every group runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "log.h"
#include "tests.h"

int main(void)
{
    FILE *devnull = fopen("/dev/null", "w");
    log_configure(LOG_FORMAT_TEXT, 0, devnull ? devnull : stderr);
    int failed = run_lease_tests();
    failed += run_elector_tests();
    if (devnull)
        fclose(devnull);
    return failed ? 1 : 0;
}
