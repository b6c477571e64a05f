/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_null_sink.c - the benchmark sink (--sink=null): counts what it is handed, encodes or
 * not as asked, keeps nothing, flushes at once, rejects a target and unknown options.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kp_test.h"
#include "sink.h"

static const struct kp_series SERIES[] = {
    {.labels = {{"nodename", "node-1"}, {"type", "node"}}, .nlabels = 2},
};
static const struct kp_point POINTS[] = {
    {.series = 0, .metric = KP_M_CPU_USAGE_RATE, .v.i = 250, .ts_ns = 1700000000000000000LL},
    {.series = 0, .metric = KP_M_MEM_WORKING_SET, .v.i = 1 << 20, .ts_ns = 1700000000000000000LL},
    {.series = 0, .metric = KP_M_CPU_NODE_UTILIZATION, .v.f = 0.25, .ts_ns = 1700000000000000000LL},
};
static const struct kp_batch BATCH = {SERIES, 1, POINTS, 3, NULL};

/* Two cpu metrics in a row (one withfields line) and a host_id tag (an id withids drops). */
static const struct kp_series SERIES_IDS[] = {
    {.labels = {{"host_id", "i-0123456789"}, {"nodename", "node-1"}, {"type", "node"}},
     .nlabels = 3},
};
static const struct kp_point POINTS_WF[] = {
    {.series = 0, .metric = KP_M_CPU_NODE_UTILIZATION, .v.f = 0.25, .ts_ns = 1700000000000000000LL},
    {.series = 0, .metric = KP_M_CPU_USAGE_RATE, .v.i = 250, .ts_ns = 1700000000000000000LL},
    {.series = 0, .metric = KP_M_MEM_WORKING_SET, .v.i = 1 << 20, .ts_ns = 1700000000000000000LL},
};
static const struct kp_batch BATCH_WF = {SERIES_IDS, 1, POINTS_WF, 3, NULL};

static int flushed = -2;
static void on_flushed(struct sink *s, int status, void *ud)
{
    (void)s;
    (void)ud;
    flushed = status;
}

static void write_twice(const char *uri, struct sink_stats *st)
{
    struct sink_env env = {.batch_lines = 5000, .buffer_size = "256Mi", .timeout_s = 1};
    struct sink *s = NULL;
    char err[256];
    assert_int_equal(sink_open(uri, &env, &s, err, sizeof err), 0);
    assert_string_equal(sink_name(s), "null");
    assert_int_equal(sink_write(s, &BATCH, err, sizeof err), 0);
    assert_int_equal(sink_write(s, &BATCH, err, sizeof err), 0);
    flushed = -2;
    sink_flush(s, 0, on_flushed, NULL);
    assert_int_equal(flushed, 0); /* nothing pending: done at once */
    sink_get_stats(s, st);
    sink_free(s);
    assert_int_equal(st->points_written, 6); /* counted as written, encoded or not */
}

KP_TEST(test_null_encodes_and_counts)
{
    (void)state;
    struct sink_stats st;
    write_twice("null", &st);
    assert_int_equal(st.lines_written, 6);
    assert_true(st.bytes_written > 6 * strlen("cpu/usage_rate,nodename=node-1"));
    assert_int_equal(st.points_buffered, 0);
    assert_int_equal(st.bytes_buffered, 0);
    assert_int_equal(st.requests, 0);
}

KP_TEST(test_null_without_encoding)
{
    (void)state;
    struct sink_stats st;
    write_twice("null?encode=false", &st);
    assert_int_equal(st.bytes_written, 0);
}

static void encode_once(const char *uri, struct sink_stats *st)
{
    struct sink_env env = {.batch_lines = 5000, .buffer_size = "256Mi", .timeout_s = 1};
    struct sink *s = NULL;
    char err[256];
    assert_int_equal(sink_open(uri, &env, &s, err, sizeof err), 0);
    assert_int_equal(sink_write(s, &BATCH_WF, err, sizeof err), 0);
    sink_get_stats(s, st);
    sink_free(s);
}

/* The null sink encodes what influxdb: would write with the same options, so a benchmark
 * compares like with like: withfields (one line per group) and withids. */
KP_TEST(test_null_layout_options)
{
    (void)state;
    struct sink_stats plain, wf, noids;
    encode_once("null", &plain);
    encode_once("null?withfields=true", &wf);
    encode_once("null?withids=false", &noids);
    assert_int_equal(plain.points_written, 3);
    assert_int_equal(plain.lines_written, 3);
    assert_int_equal(wf.points_written, 3);
    assert_int_equal(wf.lines_written, 2); /* cpu: node_utilization and usage_rate; memory */
    assert_true(wf.bytes_written < plain.bytes_written);
    /* withids defaults to true here (the null sink's output before the option) */
    assert_int_equal(plain.bytes_written - noids.bytes_written,
                     3 * strlen(",host_id=i-0123456789"));
}

KP_TEST(test_null_bad_uris)
{
    (void)state;
    struct sink_env env = {.batch_lines = 5000, .buffer_size = "256Mi", .timeout_s = 1};
    struct sink *s = NULL;
    char err[256];
    assert_int_equal(sink_open("null:http://h", &env, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "no target"));
    assert_int_equal(sink_open("null?encode=maybe", &env, &s, err, sizeof err), -1);
    assert_int_equal(sink_open("null?db=k8s", &env, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown option \"db\""));
    assert_null(s);
}
