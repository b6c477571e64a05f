/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_selector.c - the label selector grammar (kube_selector.c), on the forms the API
 * server accepts and refuses for labelSelector (apimachinery's labels.Parse), and its bounds.
 * What a requirement matches is tested with the metrics API's selectors
 * (tests/unit/metricsapi/test_selector.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kp_test.h"
#include "kube_selector.h"

KP_TEST(test_valid)
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
        /* as labels.Parse: empty values in a set, "in" as a value, a signed integer */
        "x in (a,,b)",
        "x in (,a)",
        "x notin (a,)",
        "x=in,y!=notin",
        "x>+1,y<-2",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char err[512] = "";
        if (kube_label_selector_check(ok[i], err, sizeof(err)) != 0)
            fail_msg("\"%s\" refused: %s", ok[i], err);
    }
    assert_int_equal(kube_label_selector_check(NULL, NULL, 0), 0);
}

KP_TEST(test_invalid)
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
        /* a DNS subdomain's labels are alphanumeric at both ends; one '/' at the most */
        {"a..b/x=y", "a key is [prefix/]name"},
        {"a-.b/x", "a key is [prefix/]name"},
        {"a/b/c=d", "a key is [prefix/]name"},
        {"x in (a b)", "expected ',' or ')'"},
        {"x in (=)", "expected a value in ( )"},
        {"x=(", "expected a value or ','"},
        {"a=b,,c=d", "expected a label key"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512] = "";
        if (kube_label_selector_check(bad[i].sel, err, sizeof(err)) != -1)
            fail_msg("\"%s\" accepted", bad[i].sel);
        if (!strstr(err, bad[i].msg) || !strstr(err, "invalid label selector \""))
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].sel, err, bad[i].msg);
    }
}

/* The bounds: 4096 bytes, 32 requirements, 32 values in a set. */
KP_TEST(test_bounds)
{
    (void)state;
    char sel[8192], err[512];
    size_t n = 0;
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(sel + n, sizeof(sel) - n, "%sk%d", i ? "," : "", i);
    assert_int_equal(kube_label_selector_check(sel, err, sizeof(err)), 0);
    snprintf(sel + n, sizeof(sel) - n, ",k32");
    assert_int_equal(kube_label_selector_check(sel, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "more than 32 requirements"));

    n = (size_t)snprintf(sel, sizeof(sel), "x in (");
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(sel + n, sizeof(sel) - n, "%sv%d", i ? "," : "", i);
    snprintf(sel + n, sizeof(sel) - n, ")");
    assert_int_equal(kube_label_selector_check(sel, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "more than 32 values"));

    memset(sel, ' ', 4097);
    sel[4097] = '\0';
    assert_int_equal(kube_label_selector_check(sel, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than 4096 bytes"));
    sel[4096] = '\0';
    assert_int_equal(kube_label_selector_check(sel, err, sizeof(err)), 0);
}
