/* SPDX-License-Identifier: Apache-2.0 */
/* test_sinks_main.c - runs every cmocka group of the sinks module. */
int run_lineproto_tests(void);
int run_sink_tests(void);
int run_null_sink_tests(void);

int main(void)
{
    return run_lineproto_tests() | run_sink_tests() | run_null_sink_tests();
}
