/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - the election module's unit test executable: every group runs, the log to /dev/null. */
#include <stdio.h>

#include "kp_test.h"
#include "log.h"

int main(void)
{
    FILE *devnull = fopen("/dev/null", "w");
    log_configure(LOG_FORMAT_TEXT, 0, devnull ? devnull : stderr);
    int failed = kp_test_run();
    if (devnull)
        fclose(devnull);
    return failed;
}
