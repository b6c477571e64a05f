/* SPDX-License-Identifier: Apache-2.0 */
/* kp_test_main.c - the main of a unit test binary: every test registered with kp_test.h. */
#include "kp_test.h"

int main(void)
{
    return kp_test_run();
}
