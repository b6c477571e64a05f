/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_metrics.c - the modules' stat_desc tables follow the naming rules of
 * Prometheus and Kubernetes components (counters end in _total, durations are
 * _seconds histograms, byte counts say _bytes), every family has help text, and
 * no name or /status key is used twice. promtool checks the page itself
 * (tests/integration/test_status_server.py).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kp_test.h"
#include "collector.h"
#include "elector.h"
#include "sink.h"
#include "stats.h"
#include "status.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void check_name(const char *name)
{
    assert_true(isalpha((unsigned char)name[0]) || name[0] == '_');
    for (const char *p = name; *p; p++)
        assert_true(isalnum((unsigned char)*p) || *p == '_');
}

static void check_table(const struct stat_desc *t, size_t n, const char **seen, size_t *nseen)
{
    for (size_t i = 0; i < n; i++) {
        const struct stat_desc *d = &t[i];
        assert_true(d->metric || d->json);
        for (size_t j = 0; j < i; j++)
            if (d->json && t[j].json)
                assert_string_not_equal(d->json, t[j].json);
        if (!d->metric)
            continue;
        check_name(d->metric);
        assert_true(strncmp(d->metric, "kubepulse_", 10) == 0);
        assert_non_null(d->help);
        assert_true(strlen(d->help) > 3);
        assert_int_equal(ends_with(d->metric, "_total"), d->kind == STAT_KIND_COUNTER);
        if (d->kind == STAT_KIND_HISTOGRAM)
            assert_true(ends_with(d->metric, "_seconds"));
        if (strstr(d->metric, "bytes"))
            assert_true(ends_with(d->metric, "_bytes") || ends_with(d->metric, "_bytes_total"));
        assert_true(strstr(d->metric, "latency") == NULL); /* durations are _seconds */
        assert_int_equal(d->type == STAT_T_HIST, d->kind == STAT_KIND_HISTOGRAM);
        if (d->type == STAT_T_U64_BY)
            assert_true(d->label && d->count > 0 && d->name);
        for (size_t j = 0; j < *nseen; j++)
            assert_string_not_equal(d->metric, seen[j]);
        seen[(*nseen)++] = d->metric;
    }
}

KP_TEST(test_tables)
{
    (void)state;
    const char *seen[256];
    size_t nseen = 0;
    check_table(collector_stat_descs, collector_stat_ndescs, seen, &nseen);
    check_table(sink_stat_descs, sink_stat_ndescs, seen, &nseen);
    check_table(elector_stat_descs, elector_stat_ndescs, seen, &nseen);
    check_table(status_stat_descs, status_stat_ndescs, seen, &nseen);
    assert_true(nseen > 30);
}
