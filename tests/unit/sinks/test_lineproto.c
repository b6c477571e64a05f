/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lineproto.c - the encoder against the strict parser: hostile strings in every element,
 * number formatting round trips, the two layouts, skipped values.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "lp_test_encode.h"
#include "dtoa.h"
#include "lineproto.h"
#include "lp_strict_parse.h"

static const char *const HOSTILE[] = {
    "plain",     "with space", "a,b",    "k=v",     "quote\"d",  "back\\slash", "\\,",
    "\\=",       "\\ ",        "end\\",  "\\",      "new\nline", "cr\rx",       "ünïcødé ☃",
    "=,= ,\\\"", " lead",      "trail ", "\\\\end", "tab\there", "#hash",       "a\\\\,b",
};

char *lp_test_encode(const struct lp_options *o, const struct kp_batch *b, struct lp_result *r,
                     size_t *len)
{
    char err[128];
    struct lp_result local;
    struct lp_encoder *e = lp_encoder_new(o, err, sizeof err);
    assert_non_null(e);
    struct lp_buf buf = {0};
    struct lp_writer w;
    lp_buf_writer(&buf, &w);
    if (!r)
        r = &local;
    memset(r, 0, sizeof *r);
    assert_int_equal(lp_encode_batch(e, b, &w, r, err, sizeof err), 0);
    lp_encoder_free(e);
    char *s = malloc(buf.len + 1);
    assert_non_null(s);
    if (buf.len)
        memcpy(s, buf.data, buf.len);
    s[buf.len] = '\0';
    if (len)
        *len = buf.len;
    lp_buf_fini(&buf);
    return s;
}

static void parse_all(const char *text, struct lps_line *lines, int max, int *n)
{
    *n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        char err[256];
        assert_true(*n < max);
        if (lps_parse_line(p, (size_t)(nl - p), &lines[*n], err, sizeof err) < 0)
            fail_msg("strict parse failed: %s: %.*s", err, (int)(nl - p), p);
        (*n)++;
        p = nl + 1;
    }
}

KP_TEST(test_hostile_tags_round_trip)
{
    (void)state;
    size_t nh = sizeof HOSTILE / sizeof HOSTILE[0];
    for (size_t i = 0; i < nh; i++) {
        for (size_t j = 0; j < nh; j++) {
            struct kp_series s = {.nlabels = 2};
            s.labels[0] = (struct kp_label){"a_key", HOSTILE[j]};
            s.labels[1] = (struct kp_label){HOSTILE[i], HOSTILE[j]};
            if (strcmp(HOSTILE[i], "a_key") < 0) {
                struct kp_label t = s.labels[0];
                s.labels[0] = s.labels[1];
                s.labels[1] = t;
            }
            struct kp_point p = {.series = 0, .metric = KP_M_CPU_USAGE, .v.i = 42, .ts_ns = 7};
            struct kp_batch b = {&s, 1, &p, 1, NULL};
            struct lp_options o = {.cluster_name = HOSTILE[i]};
            struct lp_result r;
            char *text = lp_test_encode(&o, &b, &r, NULL);
            struct lps_line l[2];
            int n;
            parse_all(text, l, 2, &n);
            assert_int_equal(n, 1);
            assert_string_equal(l[0].measurement, "cpu/usage");
            assert_int_equal(l[0].ntags, 3);
            char want_k[128], want_v[128], want_c[128];
            lps_expected(HOSTILE[i], want_k);
            lps_expected(HOSTILE[j], want_v);
            lps_expected(HOSTILE[i], want_c);
            int found = 0;
            for (int t = 0; t < l[0].ntags; t++) {
                if (strcmp(l[0].tags[t].key, "cluster_name") == 0) {
                    assert_string_equal(l[0].tags[t].value, want_c);
                    found |= 1;
                } else if (strcmp(l[0].tags[t].key, want_k) == 0) {
                    assert_string_equal(l[0].tags[t].value, want_v);
                    found |= 2;
                }
            }
            assert_int_equal(found, 3);
            assert_int_equal(l[0].fields[0].type, LPS_INT);
            assert_int_equal(l[0].fields[0].i, 42);
            assert_int_equal(l[0].ts, 7);
            lps_line_fini(&l[0]);
            free(text);
        }
    }
}

KP_TEST(test_escape_elements)
{
    (void)state;
    char out[64];
    size_t n = lp_escape_measurement(out, "a b,c=d", 7);
    assert_memory_equal(out, "a\\ b\\,c=d", n);
    n = lp_escape_tag(out, "a b,c=d", 7);
    assert_memory_equal(out, "a\\ b\\,c\\=d", n);
    n = lp_escape_string_field(out, "say \"hi\" \\o/", 12);
    assert_memory_equal(out, "say \\\"hi\\\" \\\\o/", n);
    n = lp_escape_tag(out, "x\\", 2);
    assert_memory_equal(out, "x\xef\xbc\xbc", n);
    n = lp_escape_tag(out, "l1\nl2", 5);
    assert_memory_equal(out, "l1\\nl2", n);
}

/* b encoded with o is the text want; returns the encoder's counts. */
static struct lp_result expect_encoding(const struct lp_options *o, const struct kp_batch *b,
                                        const char *want)
{
    struct lp_result r;
    char *text = lp_test_encode(o, b, &r, NULL);
    assert_string_equal(text, want);
    free(text);
    return r;
}

/* One memory/usage point of 1 at 1 ns on a series with these labels encodes as want. */
static void expect_usage_line(const struct lp_options *o, const struct kp_label *labels,
                              size_t nlabels, const char *want)
{
    struct kp_series s = {.nlabels = (uint8_t)nlabels};
    memcpy(s.labels, labels, nlabels * sizeof labels[0]);
    struct kp_point p = {.metric = KP_M_MEM_USAGE, .v.i = 1, .ts_ns = 1};
    struct kp_batch b = {&s, 1, &p, 1, NULL};
    expect_encoding(o, &b, want);
}

KP_TEST(test_empty_and_time_tags_omitted)
{
    (void)state;
    static const struct kp_label labels[] = {
        {"", "x"}, {"empty", ""}, {"pod_name", "p"}, {"time", "t"}};
    struct lp_options o = {0};
    expect_usage_line(&o, labels, 4, "memory/usage,pod_name=p value=1i 1\n");
    o.cluster_name = "c1";
    expect_usage_line(&o, labels, 4, "memory/usage,cluster_name=c1,pod_name=p value=1i 1\n");
}

/* Heapster's InfluxDB sink never wrote pod_id, namespace_id, hostname and host_id. */
KP_TEST(test_drop_ids)
{
    (void)state;
    static const struct kp_label labels[] = {{"host_id", "aws:///i-1"}, {"hostname", "h"},
                                             {"namespace_id", "u1"},    {"nodename", "n"},
                                             {"pod_id", "u2"},          {"pod_name", "p"}};
    struct lp_options o = {.drop_ids = true, .cluster_name = "c"};
    expect_usage_line(&o, labels, 6,
                      "memory/usage,cluster_name=c,nodename=n,pod_name=p value=1i 1\n");
    o.drop_ids = false;
    expect_usage_line(&o, labels, 6,
                      "memory/usage,cluster_name=c,host_id=aws:///i-1,hostname=h,"
                      "namespace_id=u1,nodename=n,pod_id=u2,pod_name=p value=1i 1\n");
}

KP_TEST(test_int_formatting)
{
    (void)state;
    const int64_t v[] = {0, 1, -1, 9, 10, 99, 100, 12345, INT64_MAX, INT64_MIN, -1000000007};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char a[32], b[32];
        size_t n = dtoa_format_i64(a, v[i]);
        a[n] = '\0';
        snprintf(b, sizeof b, "%lld", (long long)v[i]);
        assert_string_equal(a, b);
    }
}

static void check_double(double d)
{
    char buf[DTOA_BUF_MIN + 1];
    size_t n = dtoa_format_double(buf, d);
    assert_true(n < DTOA_BUF_MIN);
    buf[n] = '\0';
    double back = strtod(buf, NULL);
    if (memcmp(&back, &d, sizeof d) != 0)
        fail_msg("%.17g formatted as %s reads back as %.17g", d, buf, back);
}

KP_TEST(test_double_round_trip)
{
    (void)state;
    const double fixed[] = {0.0,
                            -0.0,
                            1.0,
                            0.1,
                            0.3,
                            1e21,
                            1e-7,
                            1e-6,
                            123.456,
                            5e-324,
                            2.2250738585072014e-308,
                            1.7976931348623157e308,
                            0.5,
                            100,
                            1e20,
                            123456789012345678.0,
                            9007199254740993.0,
                            -2.5e-5,
                            1.0 / 3,
                            2.0 / 3,
                            4.35,
                            0.07};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_double(fixed[i]);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 2000000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d))
            continue;
        check_double(d);
        check_double((double)(x % 1000000) / 1000.0);
    }
    char buf[40];
    buf[dtoa_format_double(buf, 0.1)] = '\0';
    assert_string_equal(buf, "0.1");
    buf[dtoa_format_double(buf, 1e21)] = '\0';
    assert_string_equal(buf, "1e+21");
    buf[dtoa_format_double(buf, 100)] = '\0';
    assert_string_equal(buf, "100");
    buf[dtoa_format_double(buf, 1.5e-7)] = '\0';
    assert_string_equal(buf, "1.5e-7");
}

KP_TEST(test_nonfinite_and_invalid_skipped)
{
    (void)state;
    struct kp_series s = {.nlabels = 0};
    struct kp_point p[] = {
        {.metric = KP_M_CPU_NODE_UTILIZATION, .v.f = NAN, .ts_ns = 1},
        {.metric = KP_M_CPU_NODE_UTILIZATION, .v.f = INFINITY, .ts_ns = 2},
        {.metric = KP_M_CPU_NODE_UTILIZATION, .v.f = -INFINITY, .ts_ns = 3},
        {.metric = KP_M_CPU_NODE_UTILIZATION, .v.f = 0.25, .ts_ns = 4},
        {.series = 5, .metric = KP_M_CPU_USAGE, .v.i = 1, .ts_ns = 5},
        {.metric = KP_M__COUNT, .v.i = 1, .ts_ns = 6},
    };
    struct kp_batch b = {&s, 1, p, 6, NULL};
    struct lp_options o = {0};
    struct lp_result r = expect_encoding(&o, &b, "cpu/node_utilization value=0.25 4\n");
    assert_int_equal(r.nonfinite, 3);
    assert_int_equal(r.invalid, 2);
    assert_int_equal(r.points, 1);
}

KP_TEST(test_withfields_merging)
{
    (void)state;
    struct kp_series s[2] = {{.nlabels = 1}, {.nlabels = 1}};
    s[0].labels[0] = (struct kp_label){"pod_name", "a"};
    s[1].labels[0] = (struct kp_label){"pod_name", "b"};
    struct kp_point p[] = {
        {0, KP_M_CPU_USAGE, {.i = 10}, 100}, {0, KP_M_CPU_USAGE_RATE, {.i = 5}, 100},
        {0, KP_M_MEM_USAGE, {.i = 7}, 100},  {0, KP_M_MEM_WORKING_SET, {.i = 6}, 100},
        {0, KP_M_CPU_USAGE, {.i = 11}, 200}, /* new timestamp: new line */
        {1, KP_M_CPU_USAGE, {.i = 12}, 200}, /* new series: new line */
        {1, KP_M_UPTIME, {.i = 3}, 200},     {1, KP_M_MEM_NODE_UTILIZATION, {.f = NAN}, 200},
    };
    struct kp_batch b = {s, 2, p, sizeof p / sizeof p[0], NULL};
    struct lp_options o = {.withfields = true, .cluster_name = "default"};
    struct lp_result r =
        expect_encoding(&o, &b,
                        "cpu,cluster_name=default,pod_name=a usage=10i,usage_rate=5i 100\n"
                        "memory,cluster_name=default,pod_name=a usage=7i,working_set=6i "
                        "100\n"
                        "cpu,cluster_name=default,pod_name=a usage=11i 200\n"
                        "cpu,cluster_name=default,pod_name=b usage=12i 200\n"
                        "uptime,cluster_name=default,pod_name=b value=3i 200\n");
    assert_int_equal(r.lines, 5);
    assert_int_equal(r.points, 7);
    assert_int_equal(r.nonfinite, 1);
}

KP_TEST(test_skip_cumulative)
{
    (void)state;
    struct kp_series s = {0};
    struct kp_point p[] = {{0, KP_M_CPU_USAGE, {.i = 1}, 1}, {0, KP_M_CPU_USAGE_RATE, {.i = 2}, 1}};
    struct kp_batch b = {&s, 1, p, 2, NULL};
    struct lp_options o = {.skip_cumulative = true};
    struct lp_result r = expect_encoding(&o, &b, "cpu/usage_rate value=2i 1\n");
    assert_int_equal(r.filtered, 1);
}

KP_TEST(test_int_metric_always_int)
{
    (void)state;
    /* Every metric's field type comes from the table: ints carry 'i', floats never do. */
    struct kp_series s = {0};
    struct kp_point p[KP_M__COUNT];
    for (int m = 0; m < KP_M__COUNT; m++) {
        p[m] = (struct kp_point){0, (uint16_t)m, {.i = 0}, 1};
        if (kp_metrics[m].type == KP_VALUE_FLOAT)
            p[m].v.f = 3.0;
        else
            p[m].v.i = 3;
    }
    struct kp_batch b = {&s, 1, p, KP_M__COUNT, NULL};
    struct lp_options o = {0};
    struct lp_result r;
    char *text = lp_test_encode(&o, &b, &r, NULL);
    struct lps_line l[KP_M__COUNT];
    int n;
    parse_all(text, l, KP_M__COUNT, &n);
    assert_int_equal(n, KP_M__COUNT);
    for (int m = 0; m < n; m++) {
        assert_string_equal(l[m].measurement, kp_metrics[m].name);
        assert_int_equal(l[m].fields[0].type,
                         kp_metrics[m].type == KP_VALUE_INT ? LPS_INT : LPS_FLOAT);
        lps_line_fini(&l[m]);
    }
    free(text);
}

/* The encoder's word-at-a-time tag escaping against lp_escape_tag (byte by byte), on random
 * strings of every length up to 40 over the bytes that matter, in keys and values. */
KP_TEST(test_tag_escaping_matches_reference)
{
    (void)state;
    static const char alphabet[] = {'a',  'z',    ',', '=',    ' ',    '\\', '\n', '\r',
                                    '\t', '\x01', '"', '\xc3', '\xbc', '0',  '!'};
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int round = 0; round < 20000; round++) {
        char v[48], k[48];
        size_t vn = (size_t)(round % 41), kn = 1 + (size_t)(round / 41 % 12);
        for (size_t i = 0; i < vn + kn; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* mostly plain bytes, so that clean words and specials at every offset occur */
            char c = (x >> 8) % 4 ? (char)('b' + x % 20) : alphabet[x % sizeof alphabet];
            if (i < vn)
                v[i] = c;
            else
                k[i - vn] = c;
        }
        v[vn] = k[kn] = '\0';
        if (vn == 0 || strcmp(k, "time") == 0)
            continue;
        struct kp_series s = {.nlabels = 1};
        s.labels[0] = (struct kp_label){k, v};
        struct kp_point p = {.metric = KP_M_MEM_USAGE, .v.i = 1, .ts_ns = 1};
        struct kp_batch b = {&s, 1, &p, 1, NULL};
        char want[256];
        size_t n = 0;
        memcpy(want, "memory/usage,", 13);
        n = 13 + lp_escape_tag(want + 13, k, kn);
        want[n++] = '=';
        n += lp_escape_tag(want + n, v, vn);
        memcpy(want + n, " value=1i 1\n", 13);
        struct lp_options o = {0};
        expect_encoding(&o, &b, want);
    }
}

/* The encoder copies a label it rendered before in the same batch (same key and value
 * strings): a batch whose series share their label strings must encode exactly as the same
 * batch with every string its own copy. 300 random batches of 40 series, labels drawn from a
 * small pool (so that they repeat, collide in the memo and are evicted) including left-out
 * ones, cluster_name and the id keys, in both layouts and with drop_ids. */
KP_TEST(test_shared_label_strings_encode_alike)
{
    (void)state;
    /* in byte order, as a series' labels are */
    static const char *const keys[] = {
        "a",      "cluster_name", "container_name", "empty", "host_id", "k",
        "labels", "namespace_id", "pod_name",       "time",  "type",    "zz,key"};
    static const char *const vals[] = {"",      "x",         "web-7d9f8c6b5-abcde",  "a,b=c d",
                                       "end\\", "l1\nl2",    "0123456789abcdef0123", "node",
                                       "pod",   "ünïcødé ☃", "aws:///i-0abc",        "v"};
    enum { NS = 40 };
    uint64_t x = 0x243F6A8885A308D3ULL;
    for (int round = 0; round < 300; round++) {
        struct kp_series shared[NS], own[NS];
        char *copies[NS][KP_MAX_LABELS][2];
        struct kp_point p[NS];
        for (int i = 0; i < NS; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* keys in order, each present or not; values from the pool */
            unsigned n = 0;
            for (unsigned k = 0; k < sizeof keys / sizeof keys[0] && n < KP_MAX_LABELS; k++) {
                if ((x >> k) & 1)
                    continue;
                const char *v = vals[(x >> (16 + 2 * k)) % (sizeof vals / sizeof vals[0])];
                shared[i].labels[n] = (struct kp_label){keys[k], v};
                copies[i][n][0] = strdup(keys[k]);
                copies[i][n][1] = strdup(v);
                own[i].labels[n] = (struct kp_label){copies[i][n][0], copies[i][n][1]};
                n++;
            }
            shared[i].nlabels = own[i].nlabels = (uint8_t)n;
            p[i] = (struct kp_point){(uint32_t)i, KP_M_MEM_USAGE, {.i = i}, 1};
        }
        struct kp_batch bs = {shared, NS, p, NS, NULL}, bo = {own, NS, p, NS, NULL};
        struct lp_options o = {.withfields = round & 1,
                               .drop_ids = (round >> 1) & 1,
                               .cluster_name = (round >> 2) & 1 ? "c l" : NULL};
        struct lp_result r1, r2;
        char *t1 = lp_test_encode(&o, &bs, &r1, NULL);
        char *t2 = lp_test_encode(&o, &bo, &r2, NULL);
        assert_string_equal(t1, t2);
        free(t1);
        free(t2);
        for (int i = 0; i < NS; i++) {
            for (unsigned j = 0; j < own[i].nlabels; j++) {
                free(copies[i][j][0]);
                free(copies[i][j][1]);
            }
        }
    }
}
