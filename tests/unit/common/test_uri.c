/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_uri.c - the Heapster-style flag URI parser (src/uri.c).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "uri.h"

KP_TEST(test_uri_generic)
{
    (void)state;
    struct uri u;
    char err[256];
    assert_int_equal(
        uri_parse("influxdb:http://[::1]:8086/x?db=k%38s&a+b=c+d&flag&e=", &u, err, sizeof err), 0);
    assert_string_equal(u.prefix, "influxdb");
    assert_string_equal(u.scheme, "http");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8086);
    assert_string_equal(u.path, "/x");
    assert_string_equal(uri_get(&u, "db"), "k8s");
    assert_string_equal(uri_get(&u, "a b"), "c d");
    assert_string_equal(uri_get(&u, "flag"), "");
    assert_true(u.opts[0].used && !u.opts[4].used);
    uri_fini(&u);
    assert_int_equal(uri_parse("log", &u, err, sizeof err), 0);
    assert_string_equal(u.prefix, "log");
    assert_string_equal(u.target, "");
    uri_fini(&u);
    assert_int_equal(uri_parse("x:?a=%zz", &u, err, sizeof err), -1);
    uri_fini(&u);
    assert_int_equal(uri_parse("x:http://u:p@h:1", &u, err, sizeof err), -1);
    uri_fini(&u);
    assert_int_equal(uri_parse("x:http://h:99999", &u, err, sizeof err), -1);
    uri_fini(&u);
    assert_int_equal(uri_parse(":http://h", &u, err, sizeof err), -1);
    uri_fini(&u);
    char big[URI_MAX_LEN + 10];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(uri_parse(big, &u, err, sizeof err), -1);
    uri_fini(&u);
    char many[1024] = "x:?";
    for (int i = 0; i < URI_MAX_OPTS + 1; i++)
        sprintf(many + strlen(many), "k%d=v&", i);
    assert_int_equal(uri_parse(many, &u, err, sizeof err), -1);
    uri_fini(&u);
}
