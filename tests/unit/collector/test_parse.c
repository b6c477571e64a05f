/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_parse.c - the Summary parser's bounds and error handling, wrong types,
 * NaN and negatives, RFC 3339 times, rate edge cases (restart, reset,
 * repeated sample) and resource.Quantity parsing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "harness.h"
#include "quantity.h"
#include "rates.h"
#include "util.h"

static const struct model_node_info ni = {.name = "n1",
                                          .cpu_capacity_m = -1,
                                          .cpu_allocatable_m = -1,
                                          .mem_capacity = -1,
                                          .mem_allocatable = -1};

static int parse_str(const char *json, size_t chunk, char *err, size_t errlen,
                     struct summary_counts *counts)
{
    struct rates *r = rates_new();
    struct model *m = model_new(r, h_lookup, NULL);
    struct summary_parser *p = summary_parser_new();
    model_cycle_begin(m, 1, 1000);
    int rc = h_scrape(m, p, json, strlen(json), &ni, chunk, err, errlen);
    if (counts)
        *counts = *summary_parse_counts(p);
    summary_parser_free(p);
    model_free(m);
    rates_free(r);
    return rc;
}

KP_TEST(test_quantity)
{
    (void)state;
    static const struct {
        const char *s;
        int scale;
        int64_t want;
    } ok[] = {
        {"4", 3, 4000},
        {"3800m", 3, 3800},
        {"1.5", 3, 1500},
        {"0.1", 3, 100},
        {"100m", 0, 1}, /* Value() rounds up */
        {"1e3", 0, 1000},
        {"1E3", 3, 1000000},
        {"16Gi", 0, 17179869184LL},
        {"1Ki", 0, 1024},
        {"128974848", 0, 128974848},
        {"129e6", 0, 129000000},
        {"123Mi", 0, 128974848},
        {"1M", 0, 1000000},
        {"1k", 0, 1000},
        {"500u", 3, 1},
        {"1n", 0, 1},
        {"0", 3, 0},
        {".5", 3, 500},
        {"5.", 0, 5},
        {"+2", 0, 2},
        {"1.0000000001", 3, 1001},
        {"2e-3", 3, 2},
        {"-0", 0, 0},
        {"7.5Gi", 0, 8053063680LL},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t v = -7;
        if (quantity_parse(ok[i].s, ok[i].scale, &v) != 0 || v != ok[i].want)
            fail_msg("%s (scale %d): got %lld want %lld", ok[i].s, ok[i].scale, (long long)v,
                     (long long)ok[i].want);
    }
    static const char *const bad[] = {"",   "abc", "1x",   "1Gb",     "-1",
                                      "1e", "Mi",  "1..2", "1e99999", "99999999999999999999Ei",
                                      "1 ", " 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v;
        if (quantity_parse(bad[i], 0, &v) == 0)
            fail_msg("accepted %s", bad[i]);
    }
}

KP_TEST(test_time)
{
    (void)state;
    int64_t ns;
    assert_int_equal(summary_parse_time("2024-01-01T00:00:10Z", &ns), 0);
    assert_int_equal(ns, 1704067210000000000LL);
    assert_int_equal(summary_parse_time("2024-01-01T00:00:10.5Z", &ns), 0);
    assert_int_equal(ns, 1704067210500000000LL);
    assert_int_equal(summary_parse_time("2024-01-01T02:00:10.123456789+02:00", &ns), 0);
    assert_int_equal(ns, 1704067210123456789LL);
    assert_int_equal(summary_parse_time("0001-01-01T00:00:00Z", &ns), 0); /* Go zero: unset */
    assert_int_equal(ns, 0);
    assert_int_not_equal(summary_parse_time("2024-01-01", &ns), 0);
    assert_int_not_equal(summary_parse_time("2024-13-01T00:00:00Z", &ns), 0);
    assert_int_not_equal(summary_parse_time("2024-01-01T00:00:00", &ns), 0);
    assert_int_not_equal(summary_parse_time("9999-01-01T00:00:00Z", &ns), 0);
    assert_int_equal(summary_parse_time("2200-12-31T23:59:59Z", &ns), 0); /* the last second */
    assert_int_not_equal(summary_parse_time("2201-01-01T00:00:00Z", &ns), 0);
    assert_int_not_equal(summary_parse_time("1969-12-31T23:59:59Z", &ns), 0);
    /* the grammar is kp_rfc3339_parse's, Go's: these were read before it was one parser */
    assert_int_not_equal(summary_parse_time("2024-02-30T00:00:00Z", &ns), 0);
    assert_int_not_equal(summary_parse_time("2024-01-01T23:59:60Z", &ns), 0);
    assert_int_not_equal(summary_parse_time("2024-01-01t00:00:00z", &ns), 0);
}

static struct summary_stats st_at(int64_t start, int64_t ts, uint64_t cpu, uint64_t rx)
{
    struct summary_stats s = {.start_ns = start};
    s.ts_ns[SG_CPU] = s.ts_ns[SG_NET] = ts;
    s.v[SV_CPU_USAGE] = cpu;
    s.v[SV_NET_RX] = rx;
    s.has = (1u << SV_CPU_USAGE) | (1u << SV_NET_RX);
    return s;
}

KP_TEST(test_rates_edges)
{
    (void)state;
    struct rates *r = rates_new();
    struct rate_out o;
    const int64_t s = 1000000000LL, t = 5000000000000LL;
    struct summary_stats a = st_at(s, t, 1000, 100);
    rates_update(r, "k", &a, 1, &o);
    assert_int_equal(o.has, 0); /* first sample: nothing */
    struct summary_stats b = st_at(s, t + 2000000000LL, 1000 + 1000000000LL, 300);
    rates_update(r, "k", &b, 2, &o);
    assert_int_equal(o.cpu_millicores, 500);              /* 1e9 ns * 1000 / 2e9 ns */
    assert_float_equal(o.per_s[SV_NET_RX], 100.0, 1e-12); /* 200 B / 2 s */
    rates_update(r, "k", &b, 3, &o);                      /* repeated sample: same time */
    assert_int_equal(o.has, 0);
    struct summary_stats c = st_at(s, t + 4000000000LL, 10, 400); /* cpu counter reset */
    rates_update(r, "k", &c, 4, &o);
    assert_false(o.has & (1u << SV_CPU_USAGE));
    assert_float_equal(o.per_s[SV_NET_RX], 50.0, 1e-12); /* rx still fine: 100 B / 2 s */
    struct summary_stats d = st_at(s + 1, t + 6000000000LL, 20, 500); /* restart */
    rates_update(r, "k", &d, 5, &o);
    assert_int_equal(o.has, 0);
    struct summary_stats e = st_at(s + 1, t + 5000000000LL, 30, 600); /* time went back */
    rates_update(r, "k", &e, 6, &o);
    assert_int_equal(o.has, 0);
    struct summary_stats f = st_at(s + 1, t + 7000000000LL, 30, 600); /* resumes */
    rates_update(r, "k", &f, 7, &o);
    assert_int_equal(o.cpu_millicores, 0);
    assert_true(o.has & (1u << SV_CPU_USAGE));
    /* huge counters: no int64 overflow in 1000 * delta */
    struct summary_stats g = st_at(s + 1, t + 8000000000LL, UINT64_MAX / 2, 600);
    rates_update(r, "k", &g, 8, &o);
    assert_true(o.cpu_millicores > 0);
    /* a key given by its hash is the same series as the key's string; a prefetch changes
     * nothing */
    struct summary_stats g2 = st_at(s + 1, t + 10000000000LL, UINT64_MAX / 2 + 2000000000ULL, 600);
    rates_prefetch(r, kp_hash("k", 1));
    rates_prefetch(r, 0);
    assert_int_equal(rates_update_hash(r, kp_hash("k", 1), &g2, 9, &o), 0);
    assert_int_equal(o.cpu_millicores, 1000); /* 2e9 ns over 2 s */
    assert_int_equal(rates_count(r), 1);
    /* expiry keeps only recent series */
    rates_update(r, "other", &a, 20, &o);
    rates_expire(r, 20, 3);
    assert_int_equal(rates_count(r), 1);
    for (int i = 0; i < 5000; i++) {
        char k[32];
        snprintf(k, sizeof(k), "s%d", i);
        rates_update(r, k, &a, 21, &o);
    }
    rates_expire(r, 30, 3);
    assert_int_equal(rates_count(r), 0);
    rates_free(r);
}

/* Many series: the index grows past several chunks of entries, and expiry (which
 * moves the last entry into each hole) keeps every survivor's previous sample
 * findable under its own key and no expired one's. */
KP_TEST(test_rates_many_expire)
{
    (void)state;
    enum { N = 20000 };
    struct rates *r = rates_new();
    struct rate_out o;
    const int64_t s = 1000000000LL, t = 5000000000000LL;
    char k[32];
    for (int i = 0; i < N; i++) { /* series i's counters start at 1000 i */
        struct summary_stats a = st_at(s, t, 1000u * (unsigned)i, 0);
        snprintf(k, sizeof(k), "pod/%d", i);
        rates_update(r, k, &a, i % 3 ? 10 : 1, &o); /* a third of them is old */
    }
    assert_int_equal(rates_count(r), N);
    rates_expire(r, 10, 3);
    assert_int_equal(rates_count(r), N - (N + 2) / 3);
    for (int i = 0; i < N; i++) { /* 2 s later, each series i at 1000 i + 2e9 ns */
        struct summary_stats b = st_at(s, t + 2000000000LL, 1000u * (unsigned)i + 2000000000u, 0);
        snprintf(k, sizeof(k), "pod/%d", i);
        rates_update(r, k, &b, 11, &o);
        if (i % 3) {
            assert_true(o.has & (1u << SV_CPU_USAGE));
            assert_int_equal(o.cpu_millicores, 1000);
        } else {
            assert_int_equal(o.has, 0); /* expired: a first sample again */
        }
    }
    assert_int_equal(rates_count(r), N);
    rates_expire(r, 20, 3);
    assert_int_equal(rates_count(r), 0);
    rates_update(r, "k", &(struct summary_stats){.start_ns = 1}, 21, &o);
    assert_int_equal(rates_count(r), 1);
    rates_free(r);
}

/* Every counter a rate is made of is kept apart from the others (rates.c stores only those,
 * each in its own slot), and values that are not counters make no rate. */
KP_TEST(test_rates_every_counter)
{
    (void)state;
    static const int counters[] = {SV_MEM_PAGE_FAULTS, SV_MEM_MAJOR_PAGE_FAULTS,
                                   SV_NET_RX,          SV_NET_RX_ERRORS,
                                   SV_NET_TX,          SV_NET_TX_ERRORS};
    struct rates *r = rates_new();
    struct rate_out o;
    struct summary_stats a = {.start_ns = 1}, b;
    for (int g = 0; g < SG__COUNT; g++)
        a.ts_ns[g] = 1000000000000LL;
    for (int i = 0; i < SV__COUNT; i++) {
        a.v[i] = 1000u * (unsigned)(i + 1);
        a.has |= 1u << i;
    }
    b = a;
    for (int g = 0; g < SG__COUNT; g++)
        b.ts_ns[g] += 2000000000LL; /* 2 s later */
    for (int i = 0; i < SV__COUNT; i++)
        b.v[i] += 10u * (unsigned)(i + 1); /* each counter its own slope: 5 (i + 1) per s */
    rates_update(r, "k", &a, 1, &o);
    rates_update(r, "k", &b, 2, &o);
    assert_int_equal(o.cpu_millicores, 0); /* 10 ns of CPU in 2 s */
    assert_true(o.has & (1u << SV_CPU_USAGE));
    for (size_t k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
        int i = counters[k];
        assert_true(o.has & (1u << i));
        assert_float_equal(o.per_s[i], 5.0 * (i + 1), 1e-9);
    }
    assert_false(o.has & ((1u << SV_MEM_USAGE) | (1u << SV_MEM_WORKING_SET) | (1u << SV_MEM_RSS)));
    rates_free(r);
}

KP_TEST(test_wrong_types_nan_negative)
{
    (void)state;
    char err[256];
    struct summary_counts c;
    const char *j =
        "{\"node\":{\"nodeName\":\"n1\",\"cpu\":{\"time\":\"2024-01-01T00:00:10Z\","
        "\"usageCoreNanoSeconds\":\"12\"},\"memory\":{\"time\":\"2024-01-01T00:00:10Z\","
        "\"usageBytes\":-5,\"workingSetBytes\":NaN,\"rssBytes\":1.5,\"pageFaults\":7},"
        "\"network\":[1],\"fs\":{\"usedBytes\":1e3}},"
        "\"pods\":[{\"podRef\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\"},"
        "\"containers\":{\"oops\":1},\"startTime\":5},null,17]}";
    h_reset();
    assert_int_equal(parse_str(j, 0, err, sizeof(err), &c), 0);
    /* "12" string, network array, containers object, startTime number, rssBytes 1.5,
     * and the pod elements null and 17 (null is absent, 17 is not an object) */
    assert_int_equal(c.type_errors, 6);
    assert_int_equal(c.negatives, 2); /* -5 and NaN */
    assert_null(h_find("type=node", KP_M_CPU_USAGE));
    assert_null(h_find("type=node", KP_M_MEM_USAGE));
    assert_null(h_find("type=node", KP_M_MEM_WORKING_SET));
    assert_int_equal(h_int("type=node", KP_M_MEM_PAGE_FAULTS), 7);
    assert_int_equal(h_int("type=node,resource_id=/", KP_M_FS_USAGE), 1000);
    assert_int_equal(h_count("type=pod,pod_name=p"), 0); /* nothing valid to report */
}

/* kubeletsim's nan fault: counts beyond int64 must be skipped, and sums of
 * huge values must not wrap into negative ns/cluster points. */
KP_TEST(test_out_of_range_and_sums)
{
    (void)state;
    char err[256];
    struct summary_counts c;
    const char *pod = "{\"podRef\":{\"name\":\"p%d\",\"namespace\":\"ns\",\"uid\":\"u%d\"},"
                      "\"memory\":{\"time\":\"2024-01-01T00:00:10Z\",\"usageBytes\":%s}}";
    char j[2048], p1[512], p2[512], p3[512];
    snprintf(p1, sizeof(p1), pod, 1, 1, "18446744073709551616");
    snprintf(p2, sizeof(p2), pod, 2, 2, "9223372036854775806");
    snprintf(p3, sizeof(p3), pod, 3, 3, "9223372036854775806");
    snprintf(j, sizeof(j),
             "{\"node\":{\"nodeName\":\"n1\",\"memory\":{\"time\":\"2024-01-01T00:00:10Z\","
             "\"usageBytes\":9223372036854775808,\"workingSetBytes\":1e400}},"
             "\"pods\":[%s,%s,%s]}",
             p1, p2, p3);
    h_reset();
    struct rates *r = rates_new();
    struct model *m = model_new(r, h_lookup, NULL);
    struct summary_parser *p = summary_parser_new();
    model_cycle_begin(m, 1, 1000);
    assert_int_equal(h_scrape(m, p, j, strlen(j), &ni, 0, err, sizeof(err)), 0);
    c = *summary_parse_counts(p);
    model_cycle_end(m, h_collect, NULL);
    summary_parser_free(p);
    model_free(m);
    rates_free(r);
    assert_int_equal(c.negatives, 3); /* 2^64, 2^63 and 1e400 */
    assert_null(h_find("type=node", KP_M_MEM_USAGE));
    assert_null(h_find("type=pod,pod_name=p1", KP_M_MEM_USAGE));
    assert_int_equal(h_int("type=pod,pod_name=p2", KP_M_MEM_USAGE), 9223372036854775806LL);
    assert_int_equal(h_int("type=ns,namespace_name=ns", KP_M_MEM_USAGE), INT64_MAX);
    assert_int_equal(h_int("type=cluster", KP_M_MEM_USAGE), INT64_MAX);
}

KP_TEST(test_malformed)
{
    (void)state;
    char err[256];
    static const char *const bad[] = {
        "",                                                   /* empty: truncated */
        "{\"node\":{\"nodeName\":\"n1\"}",                    /* truncated */
        "{\"node\":{\"nodeName\":\"n1\"}} x",                 /* trailing garbage */
        "[1,2]",                                              /* not an object */
        "{\"node\":{\"nodeName\":\"\xff\"}}",                 /* invalid UTF-8 */
        "{\"a\":\"\xc3\"}",                                   /* truncated UTF-8 sequence */
        "{\"pods\":[{]}",                                     /* mismatched brackets */
        "{\"a\":[}",                                          /* mismatched in a skipped value */
        "{\"node\":{\"nodeName\":\"a\nb\"}}",                 /* raw control character */
        "{\"node\" {}}",                                      /* missing colon */
        "{\"pods\":[{\"podRef\":{}},,]}",                     /* empty element */
        "{\"a\":\"\xe0\x80\xaf\"}",                           /* overlong UTF-8 */
        "{\"a\":\"\xed\xa0\x80\"}",                           /* a surrogate in UTF-8 */
        "{\"a\":\"\xf4\x90\x80\x80\"}",                       /* above U+10FFFF */
        "{\"a\":\"\\u12g4\"}",                                /* bad \u escape in a skipped value */
        "{\"node\":{\"cpu\":{\"usageCoreNanoSeconds\":01}}}", /* leading zero */
        "{\"node\":{\"x\":nul}}",                             /* bad literal */
        "{\"node\":{\"a\":1\"b\":2}}",                        /* missing comma */
        "{\"node\":{\"a\":1,}}",                              /* trailing comma */
        "{\"pods\":[{\"containers\":[1,]}]}",                 /* trailing comma in an array */
        "{\"pods\":[{\"a\":1.}]}",                            /* bad number */
        "{\"pods\":[-]}",                                     /* bad number as an element */
        "{\"pods\":[{\"a\" : 1}x]}",                          /* garbage after an element */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h_reset();
        if (parse_str(bad[i], 0, err, sizeof(err), NULL) == 0)
            fail_msg("accepted case %zu", i);
        assert_int_equal(h_nrecs, 0); /* no complete pod or system container before the error */
    }
    /* depth bound, in a skipped value too */
    char deep[300];
    memset(deep, '[', sizeof(deep));
    memcpy(deep, "{\"x\":", 5);
    deep[sizeof(deep) - 1] = '\0';
    assert_int_not_equal(parse_str(deep, 0, err, sizeof(err), NULL), 0);
    /* but unknown keys, empty objects and nulls are fine */
    assert_int_equal(parse_str("{}", 0, err, sizeof(err), NULL), 0);
    /* escapes decode: a surrogate pair is one character; \u0000 in a name
     * is a type error of that field, not of the response */
    struct summary_counts c;
    h_reset();
    assert_int_equal(parse_str("{\"node\":{\"nodeName\":\"n\\ud83d\\ude00\\u00e9\\/\","
                               "\"memory\":{\"usageBytes\":-0,\"rssBytes\":2e0}},"
                               "\"pods\":[{\"podRef\":{\"name\":\"a\\u0000b\"}}]}",
                               3, err, sizeof(err), &c),
                     0);
    assert_int_equal(c.type_errors, 1);
    assert_int_equal(c.negatives, 0);
    assert_int_equal(h_int("type=node", KP_M_MEM_USAGE), 0);
    assert_int_equal(parse_str("{\"x\":{\"y\":[1,\"\\u00e9\\\"]\"]},\"pods\":null,\"node\":null}",
                               1, err, sizeof(err), NULL),
                     0);
}

KP_TEST(test_element_bound)
{
    (void)state;
    char err[256];
    size_t n = SUMMARY_MAX_ELEMENT + 100;
    char *big = malloc(n + 64);
    int off = snprintf(big, 64, "{\"node\":{\"nodeName\":\"");
    memset(big + off, 'a', n);
    strcpy(big + off + n, "\"}}");
    assert_int_not_equal(parse_str(big, 65536, err, sizeof(err), NULL), 0);
    assert_non_null(strstr(err, "larger"));
    /* the same size in a skipped key is streamed, never held */
    memcpy(big + 2, "skip", 4);
    assert_int_equal(parse_str(big, 65536, err, sizeof(err), NULL), 0);
    free(big);
}

/* A document with one pod named name whose memory usageBytes is the text num, each member on
 * its own line indented by indent (a pretty-printed kubelet response). */
static void doc_with(char *out, size_t cap, const char *name, const char *num, const char *indent)
{
    snprintf(
        out, cap,
        "{\n%s\"node\": {\n%s%s\"nodeName\": \"n1\"\n%s},\n%s\"pods\": [\n%s{\n%s%s"
        "\"podRef\": {\"name\": \"%s\", \"namespace\": \"ns\", \"uid\": \"u\"},\n%s%s"
        "\"memory\": {\"time\": \"2024-01-01T00:00:10Z\", \"usageBytes\": %s\n%s}\n%s}\n%s]\n}",
        indent, indent, indent, indent, indent, indent, indent, indent, name, indent, indent, num,
        indent, indent, indent);
}

/* The scanner and the cursor read strings, indentation and numbers a word at a time: a
 * special byte at every offset of a long string, indentation of every width, integers of
 * every length must read as byte by byte, in one piece and in 1- and 7-byte chunks. */
KP_TEST(test_word_at_a_time_paths)
{
    (void)state;
    char err[256], doc[2048], name[64], want[96], q[160];
    static const struct {
        const char *text; /* in the JSON */
        const char *read; /* decoded; NULL: the response is malformed */
    } specials[] = {
        {"\\u00e9", "\xc3\xa9"}, {"\xc3\xa9", "\xc3\xa9"}, {"\\\"", "\""}, {"\\\\", "\\"},
        {"\x01", NULL},          {"\x7f", "\x7f"},         {"\xff", NULL}, {"\\n", "\n"}};
    size_t chunks[] = {0, 1, 7};
    for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++) {
        for (int off = 0; off <= 20; off++) {
            snprintf(name, sizeof name, "%.*s%s%s", off, "abcdefghijklmnopqrstuvwxyz",
                     specials[s].text, "-0123456789");
            snprintf(want, sizeof want, "%.*s%s%s", off, "abcdefghijklmnopqrstuvwxyz",
                     specials[s].read ? specials[s].read : "", "-0123456789");
            doc_with(doc, sizeof doc, name, "42", "  ");
            for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
                h_reset();
                int rc = parse_str(doc, chunks[c], err, sizeof err, NULL);
                if (!specials[s].read) {
                    if (rc == 0)
                        fail_msg("accepted special %zu at offset %d", s, off);
                    continue;
                }
                if (rc != 0)
                    fail_msg("special %zu at offset %d, chunk %zu: %s", s, off, chunks[c], err);
                if (specials[s].read[0] == '\n')
                    continue; /* a newline in a name: the model's, not the parser's, concern */
                snprintf(q, sizeof q, "type=pod,pod_name=%s", want);
                assert_int_equal(h_int(q, KP_M_MEM_USAGE), 42);
            }
        }
    }
    for (int width = 0; width <= 20; width++) {
        char indent[32];
        memset(indent, ' ', (size_t)width);
        indent[width] = '\0';
        if (width % 3 == 2)
            indent[width / 2] = '\t';
        doc_with(doc, sizeof doc, "p", "1234", indent);
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            h_reset();
            if (parse_str(doc, chunks[c], err, sizeof err, NULL) != 0)
                fail_msg("indentation %d, chunk %zu: %s", width, chunks[c], err);
            assert_int_equal(h_int("type=pod,pod_name=p", KP_M_MEM_USAGE), 1234);
        }
    }
    static const struct {
        const char *num;
        int64_t want;       /* -1: not a count */
        unsigned negatives; /* negative, beyond int64 or non-finite */
    } nums[] = {{"0", 0, 0},
                {"7", 7, 0},
                {"12345678", 12345678, 0}, /* exactly one word, then whitespace */
                {"1234567812345678", 1234567812345678, 0},
                {"123456789012345678", 123456789012345678, 0},
                {"1234567890123456789", 1234567890123456789, 0},
                {"9223372036854775806", 9223372036854775806, 0},
                {"9223372036854775807", -1, 1},
                {"12345678901234567890123", -1, 1},
                {"123456789012345678.5", 123456789012345680, 0}, /* the nearest double */
                {"12345.5", -1, 0},
                {"123456789012345678e2", -1, 1},
                {"12e2", 1200, 0},
                {"-0", 0, 0},
                {"-123456789012345678", -1, 1},
                {"1E3", 1000, 0}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        struct summary_counts cnt;
        doc_with(doc, sizeof doc, "p", nums[i].num, " ");
        h_reset();
        if (parse_str(doc, 0, err, sizeof err, &cnt) != 0)
            fail_msg("number %s: %s", nums[i].num, err);
        if (nums[i].want >= 0)
            assert_int_equal(h_int("type=pod,pod_name=p", KP_M_MEM_USAGE), nums[i].want);
        else if (h_find("type=pod,pod_name=p", KP_M_MEM_USAGE))
            fail_msg("number %s: read as a count", nums[i].num);
        if (cnt.negatives != nums[i].negatives)
            fail_msg("number %s: %u negatives", nums[i].num, cnt.negatives);
    }
    /* a key with an escape is read unescaped; one of 40 bytes or more matches nothing */
    h_reset();
    assert_int_equal(parse_str("{\"node\":{\"nodeName\":\"n1\"},\"pods\":[{\"podRef\":{"
                               "\"n\\u0061me\":\"p\",\"namespace\":\"ns\",\"uid\":\"u\"},"
                               "\"memory\":{\"time\":\"2024-01-01T00:00:10Z\","
                               "\"usage\\u0042ytes\":5,\"workingSetBytes\\u0000\":6,"
                               "\"rssBytesrssBytesrssBytesrssBytesrssBytes\":7}}]}",
                               0, err, sizeof err, NULL),
                     0);
    assert_int_equal(h_int("type=pod,pod_name=p", KP_M_MEM_USAGE), 5);
    assert_null(h_find("type=pod,pod_name=p", KP_M_MEM_WORKING_SET));
    assert_null(h_find("type=pod,pod_name=p", KP_M_MEM_RSS));
}

/* The records, result and error of one parse of data in chunks of `chunk` bytes (0: one
 * piece), or, with split, in two pieces cut at byte split. */
struct run_out {
    struct rec *recs; /* owned */
    size_t nrecs;
    int rc;
    char err[256];
};

static void run_parse(const char *data, size_t len, size_t chunk, size_t split, struct run_out *out)
{
    struct rates *r = rates_new();
    struct model *m = model_new(r, h_lookup, NULL);
    struct summary_parser *p = summary_parser_new();
    model_cycle_begin(m, 1, 1000);
    h_reset();
    out->err[0] = '\0';
    if (split) {
        /* the first piece as its own feed, the rest as another */
        static const struct summary_handlers hs = {.node = model_node_on_node,
                                                   .pod = model_node_on_pod};
        struct model_node *mn = model_node_new(m, h_collect, NULL);
        model_node_begin(mn, &ni);
        summary_parse_reset(p, &hs, mn);
        out->rc = summary_parse_feed(p, data, split, out->err, sizeof out->err);
        if (out->rc == 0 && split < len)
            out->rc = summary_parse_feed(p, data + split, len - split, out->err, sizeof out->err);
        if (out->rc == 0)
            out->rc = summary_parse_finish(p, out->err, sizeof out->err);
        if (out->rc == 0)
            model_node_finish(mn);
        model_node_free(mn);
    } else {
        out->rc = h_scrape(m, p, data, len, &ni, chunk, out->err, sizeof out->err);
    }
    out->nrecs = h_nrecs;
    out->recs = malloc(h_nrecs * sizeof(struct rec) + 1);
    assert_non_null(out->recs);
    memcpy(out->recs, h_recs, h_nrecs * sizeof(struct rec));
    summary_parser_free(p);
    model_free(m);
    rates_free(r);
}

static void same_runs(const struct run_out *a, const struct run_out *b, const char *what)
{
    if (a->rc != b->rc || strcmp(a->err, b->err) != 0)
        fail_msg("%s: rc %d '%s' against %d '%s'", what, a->rc, a->err, b->rc, b->err);
    if (a->nrecs != b->nrecs)
        fail_msg("%s: %zu records against %zu", what, a->nrecs, b->nrecs);
    for (size_t i = 0; i < a->nrecs; i++) {
        const struct rec *x = &a->recs[i], *y = &b->recs[i];
        if (strcmp(x->series, y->series) != 0 || x->metric != y->metric || x->i != y->i ||
            memcmp(&x->f, &y->f, sizeof x->f) != 0 || x->ts != y->ts || x->sampled != y->sampled)
            fail_msg("%s: record %zu differs (%s)", what, i, x->series);
    }
}

/* data in one piece (the scanner's 16-byte blocks where 32 bytes or more are left) must read
 * exactly as byte by byte (1-byte chunks never reach the blocks) */
static void one_piece_as_bytes(const char *data, size_t len, const char *what)
{
    struct run_out a, b;
    run_parse(data, len, 0, 0, &a);
    run_parse(data, len, 1, 0, &b);
    same_runs(&a, &b, what);
    free(a.recs);
    free(b.recs);
}

/* The scanner's 16-byte blocks: every structural byte, escape, UTF-8 sequence, control byte
 * and bracket error at every offset of a block reads as the byte loop reads it (result,
 * error message with its byte offset, every point decoded); a real kubelet response and the
 * fixtures in chunks of every size from 1 to 64 bytes and cut in two. */
KP_TEST(test_block_scan_paths)
{
    (void)state;
    static const char *tmpl[] = {
        /* pretty-printed, as the kubelet writes it */
        "{\n \"node\": {\n  \"nodeName\": \"n1\",\n  \"x\": [1, 2.5, -3e2, true, null, "
        "{\"a\": [[]]}]\n },\n \"skip\": \"%s\",\n \"pods\": [\n  {\n   \"podRef\": {\n    "
        "\"name\": \"p%s\",\n    \"namespace\": \"ns\",\n    \"uid\": \"u\"\n   },\n   "
        "\"memory\": {\n    \"time\": \"2024-01-01T00:00:10Z\",\n    \"usageBytes\": "
        "123456789012,\n    \"workingSetBytes\": 7\n   },\n\t\"containers\": [{\"name\": "
        "\"c\\u00e9\\\"\", \"memory\": {\"time\": \"2024-01-01T00:00:10Z\", \"rssBytes\": 9}}]\r\n"
        "  }\n ]\n}\n",
        /* compact */
        "{\"skip\":\"%s\",\"node\":{\"nodeName\":\"n1\",\"o\":{}},\"pods\":[{\"podRef\":{"
        "\"name\":\"p%s\",\"namespace\":\"ns\",\"uid\":\"u\"},\"memory\":{\"time\":"
        "\"2024-01-01T00:00:10Z\",\"usageBytes\":5,\"workingSetBytes\":6}},{\"podRef\":{"
        "\"name\":\"q\xc3\xa9\",\"namespace\":\"ns\",\"uid\":\"v\"},\"cpu\":{\"time\":"
        "\"2024-01-01T00:00:10Z\",\"usageNanoCores\":77}}]}"};
    /* bytes put in at every position of a document: each must fail or read the same */
    static const char bad[] = {'\x01', '\0', '\xff', ']', '}', '[', '{', '"', '\\', ' ', 'x'};
    char doc[2048], pad[64], what[128];
    for (size_t t = 0; t < sizeof tmpl / sizeof tmpl[0]; t++) {
        for (int off = 0; off < 48; off++) {
            memset(pad, 'a', (size_t)off);
            pad[off] = '\0';
            int len = snprintf(doc, sizeof doc, tmpl[t], pad, pad);
            assert_true(len > 0 && (size_t)len < sizeof doc);
            snprintf(what, sizeof what, "template %zu, offset %d", t, off);
            one_piece_as_bytes(doc, (size_t)len, what);
            struct run_out a;
            run_parse(doc, (size_t)len, 0, 0, &a);
            if (a.rc != 0 || a.nrecs == 0)
                fail_msg("%s: %s", what, a.err);
            free(a.recs);
        }
        int len = snprintf(doc, sizeof doc, tmpl[t], "", "");
        for (int at = 0; at < len; at++) {
            for (size_t k = 0; k < sizeof bad; k++) {
                char mut[2048];
                memcpy(mut, doc, (size_t)at);
                mut[at] = bad[k];
                memcpy(mut + at + 1, doc + at, (size_t)len - (size_t)at);
                snprintf(what, sizeof what, "template %zu, byte %d put at %d", t,
                         (unsigned char)bad[k], at);
                one_piece_as_bytes(mut, (size_t)len + 1, what);
            }
        }
    }
    /* nesting at the depth limit and one past it, inside a pod */
    for (int depth = SUMMARY_MAX_DEPTH - 3; depth <= SUMMARY_MAX_DEPTH; depth++) {
        int n = snprintf(doc, sizeof doc, "{\"pods\": [{\"x\": ");
        for (int d = 0; d < depth; d++) {
            if (d % 2)
                doc[n++] = '[';
            else
                n += snprintf(doc + n, 8, "{\"k\": ");
        }
        for (int d = depth - 1; d >= 0; d--)
            doc[n++] = d % 2 ? ']' : '}';
        n += snprintf(doc + n, sizeof doc - (size_t)n, "}]}");
        snprintf(what, sizeof what, "depth %d", depth);
        one_piece_as_bytes(doc, (size_t)n, what);
    }
    static const char *files[] = {"n1_t0.json", "n2_t0.json",
                                  "../../../../bench/results/summaries-real-node/"
                                  "summary-real-127.0.0.2.json"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len;
        char *data = h_read_fixture(files[f], &len);
        struct run_out whole, part;
        run_parse(data, len, 0, 0, &whole);
        if (whole.rc != 0 || whole.nrecs == 0)
            fail_msg("%s: %s", files[f], whole.err);
        for (size_t chunk = 1; chunk <= 64; chunk++) {
            run_parse(data, len, chunk, 0, &part);
            snprintf(what, sizeof what, "%s in %zu-byte chunks", files[f], chunk);
            same_runs(&whole, &part, what);
            free(part.recs);
        }
        /* cut at every byte of the small fixture; the larger ones at a stride (a parse each) */
        size_t stride = f == 1 ? 1 : f == 0 ? 5 : 97;
        for (size_t split = 1; split < len; split += stride) {
            run_parse(data, len, 0, split, &part);
            snprintf(what, sizeof what, "%s cut at %zu", files[f], split);
            same_runs(&whole, &part, what);
            free(part.recs);
        }
        free(whole.recs);
        free(data);
    }
}
