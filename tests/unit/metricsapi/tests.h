/* SPDX-License-Identifier: Apache-2.0 */
/* tests.h - the metricsapi unit test groups (main.c runs them). */
#ifndef KP_TEST_METRICSAPI_H
#define KP_TEST_METRICSAPI_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

int run_store_tests(void);
int run_selector_tests(void);
int run_window_tests(void);

#endif
