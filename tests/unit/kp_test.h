/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kp_test.h - unit test registration: a test is listed where it is defined, so no test can be
 * written and then left out of a list. KP_TEST(name) and KP_TEST_F(name, setup, teardown)
 * open a cmocka test function and register it before main runs. Each source file is one
 * cmocka group (its tests in the order they are defined); KP_TEST_GROUP(setup, teardown)
 * gives the file's group its fixtures. kp_test_main.c's main runs every group of the binary;
 * a binary with a main of its own (a child mode, a quiet log) ends it with kp_test_run().
 */
#ifndef KP_TEST_H
#define KP_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

struct kp_test {
    struct CMUnitTest unit;
    int line;             /* where it is defined: the order within the group */
    struct kp_test *next; /* the group's next test */
};

struct kp_test_group {
    const char *file;                  /* the source file, set by the first registration */
    CMFixtureFunction setup, teardown; /* the group's fixtures, or NULL */
    struct kp_test *tests;             /* borrowed (static), ordered by line */
    struct kp_test_group *next;        /* the binary's next group */
};

/* Registers t (defined at file:line) in g; called by KP_TEST_F's constructor. */
void kp_test_add(struct kp_test_group *g, struct kp_test *t, const char *file, int line);

/* Runs every registered group; 0 when all tests passed (and there was at least one). */
int kp_test_run(void);

/* This source file's group: a tentative definition that KP_TEST_GROUP may complete. */
__attribute__((unused)) static struct kp_test_group kp_test_group_;

#define KP_TEST_GROUP(setup_fn, teardown_fn)                                                       \
    static struct kp_test_group kp_test_group_ = {.setup = (setup_fn), .teardown = (teardown_fn)}

#define KP_TEST_F(name, setup_fn, teardown_fn)                                                     \
    static void name(void **state);                                                                \
    static struct kp_test name##_kp_test_ = {.unit = {#name, name, setup_fn, teardown_fn, NULL}};  \
    __attribute__((constructor)) static void name##_kp_register_(void)                             \
    {                                                                                              \
        kp_test_add(&kp_test_group_, &name##_kp_test_, __FILE__, __LINE__);                        \
    }                                                                                              \
    static void name(void **state)

#define KP_TEST(name) KP_TEST_F(name, NULL, NULL)

#endif
