/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_strmap.c - the string-keyed hash map (src/strmap.c): strmap_remove_if, which the
 * collector's relists and the metrics API's model window use to drop entries in one walk,
 * and strmap_fini_values, which frees a map with the values it owns.
 * Put, get and interning are exercised through the caches (tests/unit/collector/test_cache.c).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "kp_test.h"
#include "strmap.h"

/* strmap_remove_if: takes the values it frees, keeps the rest findable, counts right. */
struct remove_ctx {
    bool all; /* else the odd values only */
    int freed;
};

static bool remove_some(const char *key, void *value, void *ud)
{
    struct remove_ctx *c = ud;
    int *v = value;
    assert_int_equal(*v, atoi(key));
    if (!c->all && *v % 2 == 0)
        return false;
    c->freed++;
    free(v);
    return true;
}

KP_TEST(test_strmap_remove_if)
{
    (void)state;
    struct strmap m;
    struct remove_ctx odd = {.all = false}, all = {.all = true};
    char key[16];
    strmap_init(&m);
    assert_int_equal(strmap_remove_if(&m, remove_some, &all), 0); /* empty: no buckets yet */
    for (int i = 0; i < 1000; i++) {
        int *v = malloc(sizeof(*v));
        *v = i;
        snprintf(key, sizeof(key), "%d", i);
        assert_non_null(strmap_put(&m, key, v));
    }
    assert_int_equal(strmap_remove_if(&m, remove_some, &odd), 500);
    assert_int_equal(odd.freed, 500);
    assert_int_equal(m.count, 500);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "%d", i);
        int *v = strmap_get(&m, key);
        if (i % 2)
            assert_null(v);
        else
            assert_true(v && *v == i);
    }
    assert_int_equal(strmap_remove_if(&m, remove_some, &odd), 0); /* nothing left to take */
    assert_int_equal(strmap_remove_if(&m, remove_some, &all), 500);
    assert_int_equal(all.freed, 500);
    assert_int_equal(m.count, 0);
    assert_non_null(strmap_put(&m, "again", NULL)); /* still usable */
    assert_int_equal(m.count, 1);
    strmap_fini(&m);
}

/* strmap_fini_values: every value once, then the map is empty and reusable. */
static void count_free(void *value, void *ud)
{
    free(value);
    (*(int *)ud)++;
}

KP_TEST(test_strmap_fini_values)
{
    (void)state;
    struct strmap m;
    char key[16];
    int freed = 0;
    strmap_init(&m);
    strmap_fini_values(&m, count_free, &freed); /* empty: no buckets yet */
    assert_int_equal(freed, 0);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "%d", i);
        assert_non_null(strmap_put(&m, key, malloc(1)));
    }
    strmap_fini_values(&m, count_free, &freed);
    assert_int_equal(freed, 100);
    assert_int_equal(m.count, 0);
    assert_null(strmap_get(&m, "1"));
}
