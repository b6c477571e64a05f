/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_log.c - the logger (log.h) where klog's and component-base's formats have corners
 * the cross-check with Go (test_log_format.py) cannot feed through JSON records: invalid
 * UTF-8, NaN and infinities, a line over the bound; and --vmodule's grammar and matching.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "log.h"

static char *buf;
static size_t len;
static FILE *out;

static int setup(void **state)
{
    (void)state;
    out = open_memstream(&buf, &len);
    return out ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    fclose(out);
    free(buf);
    log_configure(LOG_FORMAT_TEXT, 0, stderr);
    log_vmodule_set("", NULL, 0);
    return 0;
}

/* What follows the header ("] ") of the last text line, or the whole last JSON line. */
static const char *last(void)
{
    static char line[8192];
    fflush(out);
    const char *end = buf + len - 1, *start = end; /* end: the line's '\n' */
    while (start > buf && start[-1] != '\n')
        start--;
    snprintf(line, sizeof(line), "%.*s", (int)(end - start), start);
    const char *h = strstr(line, "] ");
    return h && line[0] != '{' ? h + 2 : line;
}

KP_TEST_F(test_text_corners, setup, teardown)
{
    (void)state;
    log_configure(LOG_FORMAT_TEXT, 0, out);
    log_info("bad \xff utf8", LF_STR("s", "a\xc3\x28z"), LF_STR("overlong", "\xc0\xaf"),
             LF_STR("surrogate", "\xed\xa0\x80"), LF_STR("astral", "\xf0\x9f\x99\x82"));
    assert_string_equal(last(), "\"bad \\xff utf8\" s=\"a\\xc3(z\" overlong=\"\\xc0\\xaf\" "
                                "surrogate=\"\\xed\\xa0\\x80\" astral=\"\xf0\x9f\x99\x82\"");
    log_info("nonfinite", LF_DBL("nan", NAN), LF_DBL("inf", INFINITY), LF_DBL("ninf", -INFINITY));
    assert_string_equal(last(), "\"nonfinite\" nan=\"<internal error: json: unsupported value: "
                                "NaN>\" inf=\"<internal error: json: unsupported value: +Inf>\" "
                                "ninf=\"<internal error: json: unsupported value: -Inf>\"");
    /* an error record: err first whatever its place in the call */
    log_error("failed", LF_STR("op", "get"), LF_ERR("boom"));
    assert_string_equal(last(), "\"failed\" err=\"boom\" op=\"get\"");
    /* elsewhere, where it was put */
    log_warn("retrying", LF_STR("op", "get"), LF_ERR("boom"));
    assert_string_equal(last(), "\"retrying\" op=\"get\" err=\"boom\"");
}

KP_TEST_F(test_json_corners, setup, teardown)
{
    (void)state;
    log_configure(LOG_FORMAT_JSON, 0, out);
    log_info("bad \xff", LF_STR("s", "a\x01\x7f\xc3\x28"), LF_DBL("nan", NAN),
             LF_DBL("inf", INFINITY), LF_DBL("big", 1e21), LF_DBL("tiny", 1e-7));
    const char *l = last();
    assert_non_null(strstr(l, "\"msg\":\"bad \\ufffd\",\"v\":0,\"s\":\"a\\u0001\x7f\\ufffd(\","
                              "\"nan\":\"NaN\",\"inf\":\"+Inf\",\"big\":1000000000000000000000,"
                              "\"tiny\":0.0000001}"));
    log_error("failed", LF_ERR("boom"), LF_STR("op", "get"));
    assert_non_null(strstr(last(), "\"msg\":\"failed\",\"op\":\"get\",\"err\":\"boom\"}"));
}

KP_TEST_F(test_long_line_is_cut, setup, teardown)
{
    (void)state;
    char big[10000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_configure(LOG_FORMAT_TEXT, 0, out);
    log_info("long", LF_STR("s", big));
    fflush(out);
    assert_true(len <= 4096);
    assert_int_equal(buf[len - 1], '\n');
}

KP_TEST_F(test_vmodule, setup, teardown)
{
    (void)state;
    char err[256];
    log_configure(LOG_FORMAT_TEXT, 1, out);
    assert_int_equal(log_vmodule_set("test_l*=3,test_log=5", err, sizeof(err)), 0);
    assert_true(log_v_enabled(3)); /* the first match wins, as in klog */
    assert_false(log_v_enabled(4));
    assert_int_equal(log_vmodule_set("other=9,,", err, sizeof(err)), 0);
    assert_true(log_v_enabled(1)); /* --v still counts */
    assert_false(log_v_enabled(2));
    /* a level of 0 is dropped, so a later pattern still matches */
    assert_int_equal(log_vmodule_set("test_log=0,test_*=2", err, sizeof(err)), 0);
    assert_true(log_v_enabled(2));
    fflush(out);
    size_t before = len;
    log_v(2, "shown");
    log_v(3, "hidden");
    fflush(out);
    assert_non_null(strstr(buf + before, "\"shown\""));
    assert_null(strstr(buf + before, "hidden"));
    /* a site caches its level, and a new --vmodule is seen */
    assert_int_equal(log_vmodule_set("", err, sizeof(err)), 0);
    fflush(out);
    before = len;
    log_v(2, "gone");
    fflush(out);
    assert_int_equal(len, before);
    const char *bad[] = {"x", "=1", "x=", "x=1=2", "x=-1", "x=a", "x=1001"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(log_vmodule_check(bad[i], err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(log_vmodule_check("a=1,b*=2,", err, sizeof(err)), 0);
}
