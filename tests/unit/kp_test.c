/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kp_test.c - the registry behind kp_test.h: the groups of this binary in the order their
 * files registered, each group's tests in the order they are defined, run group by group.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"

static struct kp_test_group *groups, **groups_tail = &groups;

void kp_test_add(struct kp_test_group *g, struct kp_test *t, const char *file, int line)
{
    if (!g->file) {
        g->file = file;
        *groups_tail = g;
        groups_tail = &g->next;
    }
    t->line = line;
    struct kp_test **at = &g->tests;
    while (*at && (*at)->line < line)
        at = &(*at)->next;
    t->next = *at;
    *at = t;
}

/* Runs one group; returns its number of failed tests (or 1 when it could not run). */
static int run_group(const struct kp_test_group *g)
{
    size_t n = 0;
    for (const struct kp_test *t = g->tests; t; t = t->next)
        n++;
    struct CMUnitTest *units = calloc(n, sizeof(*units));
    if (!units) {
        fprintf(stderr, "%s: out of memory\n", g->file);
        return 1;
    }
    n = 0;
    for (const struct kp_test *t = g->tests; t; t = t->next)
        units[n++] = t->unit;
    const char *name = strrchr(g->file, '/');
    int failed =
        _cmocka_run_group_tests(name ? name + 1 : g->file, units, n, g->setup, g->teardown);
    free(units);
    return failed;
}

int kp_test_run(void)
{
    if (!groups) {
        fprintf(stderr, "no tests registered\n");
        return 1;
    }
    int failed = 0;
    for (const struct kp_test_group *g = groups; g; g = g->next)
        failed += run_group(g);
    return failed ? 1 : 0;
}
