/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_optmap.c - the option map shared by flags, config keys, sink URI options and --source
 * (src/optmap.c): typed setting with bounds and checks, defaults, URI options, names.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "optmap.h"
#include "uri.h"

struct conf {
    char *name;
    bool on;
    long n;
    double d;
    long long size;
    struct kp_strlist list;
};

static int check_no_x(const char *v, char *err, size_t errlen)
{
    if (strchr(v, 'x')) {
        snprintf(err, errlen, "no x please");
        return -1;
    }
    return 0;
}

#define OFF(f) offsetof(struct conf, f)
static const struct kp_opt TAB[] = {
    {"name", KP_OPT_STRING, "dflt", OFF(name), "a name", 0, 0, check_no_x},
    {"on", KP_OPT_BOOL, "false", OFF(on), "a switch", 0, 0, NULL},
    {"n", KP_OPT_INT, "3", OFF(n), "a count", 1, 10, NULL},
    {"d-ur", KP_OPT_DURATION, "1s", OFF(d), "a duration", 0.5, 60, NULL},
    {"size", KP_OPT_SIZE, "1Ki", OFF(size), "a size", 0, 0, NULL},
    {"list", KP_OPT_LIST, NULL, OFF(list), "a list", 0, 2, NULL},
    {0},
};

static void expect_set_error(const char *name, const char *value, const char *needle)
{
    struct conf c = {0};
    char err[256] = "";
    const struct kp_opt *o = kp_opts_find(TAB, name, strlen(name), false);
    assert_non_null(o);
    assert_int_equal(kp_opt_set(o, &c, value, "opt", err, sizeof err), -1);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
    kp_opts_free(TAB, &c);
}

KP_TEST(test_defaults_and_types)
{
    (void)state;
    struct conf c = {0};
    char err[256];
    assert_int_equal(kp_opts_defaults(TAB, &c, err, sizeof err), 0);
    assert_string_equal(c.name, "dflt");
    assert_false(c.on);
    assert_int_equal(c.n, 3);
    assert_true(c.d == 1);
    assert_int_equal(c.size, 1024);
    assert_int_equal(c.list.n, 0);
    const struct kp_opt *l = kp_opts_find(TAB, "list", 4, false);
    assert_int_equal(kp_opt_set(l, &c, "a", "opt", err, sizeof err), 0);
    assert_int_equal(kp_opt_set(l, &c, "b", "opt", err, sizeof err), 0);
    assert_int_equal(kp_opt_set(l, &c, "c", "opt", err, sizeof err), -1);
    assert_non_null(strstr(err, "at most 2"));
    kp_opts_free(TAB, &c);
    assert_null(c.name);
    assert_int_equal(c.list.n, 0);
    kp_opts_free(TAB, NULL);

    expect_set_error("name", "box", "opt: no x please");
    expect_set_error("on", "maybe", "invalid boolean");
    expect_set_error("n", "11", "an integer from 1 to 10");
    expect_set_error("n", "2x", "an integer from 1 to 10");
    expect_set_error("d-ur", "100ms", "out of range");
    expect_set_error("d-ur", "2", "invalid duration");
    expect_set_error("size", "1Q", "invalid size");
}

KP_TEST(test_names)
{
    (void)state;
    assert_non_null(kp_opts_find(TAB, "d_ur", 4, true));
    assert_null(kp_opts_find(TAB, "d_ur", 4, false));
    assert_null(kp_opts_find(TAB, "d-urx", 5, true));
    assert_null(kp_opts_find(TAB, "d-", 2, true));
    assert_non_null(kp_opts_find(TAB, "n=5", 1, false));
}

KP_TEST(test_bool_grammar)
{
    (void)state;
    const char *t[] = {"1", "t", "T", "TRUE", "true", "True", "yes"};
    const char *f[] = {"0", "f", "F", "FALSE", "false", "False", "no"};
    bool b;
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(kp_parse_bool(t[i], &b), 0);
        assert_true(b);
        assert_int_equal(kp_parse_bool(f[i], &b), 0);
        assert_false(b);
    }
    assert_int_equal(kp_parse_bool("tRue", &b), -1);
    assert_int_equal(kp_parse_bool("", &b), -1);
}

KP_TEST(test_uri_options)
{
    (void)state;
    struct uri u;
    struct conf c = {0};
    char err[256];
    uint64_t given;
    assert_int_equal(uri_parse("p:?n=5&on=true&n=7&list=a&list=b", &u, err, sizeof err), 0);
    assert_int_equal(kp_opts_apply_uri(TAB, &u, &c, "--thing", &given, err, sizeof err), 0);
    assert_int_equal(c.n, 5); /* the first occurrence wins, as url.Values.Get */
    assert_true(c.on);
    assert_string_equal(c.name, "dflt");
    assert_int_equal(c.list.n, 2);
    assert_int_equal(given, (1u << 1) | (1u << 2) | (1u << 5));
    kp_opts_free(TAB, &c);
    uri_fini(&u);

    assert_int_equal(uri_parse("p:?n=5&nope=1", &u, err, sizeof err), 0);
    assert_int_equal(kp_opts_apply_uri(TAB, &u, &c, "--thing", NULL, err, sizeof err), -1);
    assert_string_equal(err,
                        "unknown option \"nope\" in --thing (known: name on n d-ur size list)");
    kp_opts_free(TAB, &c);
    uri_fini(&u);

    assert_int_equal(uri_parse("p:?n=0", &u, err, sizeof err), 0);
    assert_int_equal(kp_opts_apply_uri(TAB, &u, &c, "--thing", NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "option \"n\": invalid value \"0\""));
    kp_opts_free(TAB, &c);
    uri_fini(&u);
}

KP_TEST(test_durations)
{
    (void)state;
    double s;
    assert_int_equal(kp_parse_duration("1m30s", &s), 0);
    assert_true(s == 90);
    assert_int_equal(kp_parse_duration("250ms", &s), 0);
    assert_true(s == 0.25);
    assert_int_equal(kp_parse_duration("1.5h", &s), 0);
    assert_true(s == 5400);
    assert_int_equal(kp_parse_duration("0", &s), 0);
    assert_int_equal(kp_parse_duration("15", &s), -1);
    assert_int_equal(kp_parse_duration("-1s", &s), -1);
    assert_int_equal(kp_parse_duration("", &s), -1);
    assert_int_equal(kp_parse_duration("s", &s), -1);
}

KP_TEST(test_help_lines)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    kp_opts_print(TAB, f, "--", 20);
    fclose(f);
    assert_non_null(strstr(buf, "  --n int              a count (default 3)\n"));
    assert_non_null(strstr(buf, "  --list value         a list\n"));
    free(buf);
}
