/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - runs every metricsapi test group. */
#include "tests.h"

int main(void)
{
    int failed = 0;
    failed += run_store_tests();
    failed += run_selector_tests();
    failed += run_window_tests();
    return failed ? 1 : 0;
}
