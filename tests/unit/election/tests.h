/* SPDX-License-Identifier: Apache-2.0 */
/* tests.h - the groups of the election unit test executable. */
#ifndef KP_TEST_ELECTION_H
#define KP_TEST_ELECTION_H
int run_lease_tests(void);
int run_elector_tests(void);
#endif
