/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_selector.c - the label selector grammar (kube_selector.c), on the forms the API
 * server accepts and refuses for labelSelector (apimachinery's labels.Parse).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "kube.h"

static void test_valid(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "",
        "x=a,y=b,z=c",
        "x!=a,y=b",
        "x==a",
        "x=",
        "x= ",
        "x=,z= ",
        "!x",
        "x",
        "x>1",
        "x>1,z<5",
        " x in (a, b) , y notin (c)",
        "node-role.kubernetes.io/control-plane!=",
        "kubernetes.io/os=linux,!node-role.kubernetes.io/control-plane",
        "topology.kubernetes.io/zone in (eu-west-1a,eu-west-1b)",
        "a.b_c-D=Value_1.x",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char err[512] = "";
        if (kube_label_selector_check(ok[i], err, sizeof(err)) != 0)
            fail_msg("\"%s\" refused: %s", ok[i], err);
    }
    assert_int_equal(kube_label_selector_check(NULL, NULL, 0), 0);
}

static void test_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *sel, *msg;
    } bad[] = {
        {"x=a||y=b", "a value is at most 63"},
        {"x==a==b", "expected ',' between requirements"},
        {"!x=a", "!key takes no operator"},
        {"x<a", "> and < need an integer value"},
        {"x>", "> and < need an integer value"},
        {"x in ()", "at least one value"},
        {"x in (a", "expected ',' or ')'"},
        {"x in a", "expected '(' after in/notin"},
        {"x y", "expected =, ==, !=, in, notin, >, < or ','"},
        {"x,", "a ',' must be followed by a requirement"},
        {",x", "expected a label key"},
        {"-x=a", "a key is [prefix/]name"},
        {"Example.COM/x=a", "a key is [prefix/]name"},
        {"x=-a", "a value is at most 63"},
        {"x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a value"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512] = "";
        if (kube_label_selector_check(bad[i].sel, err, sizeof(err)) != -1)
            fail_msg("\"%s\" accepted", bad[i].sel);
        if (!strstr(err, bad[i].msg) || !strstr(err, "invalid label selector \""))
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].sel, err, bad[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
