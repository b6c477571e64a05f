/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_util.c - the shared helpers of util.h: bounded file reads and secrets read from files,
 * base64, kp_grow, RFC 3339 times (Go's grammar), sizes with unit suffixes, the backoff, the
 * intrusive list macros.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kp_test.h"
#include "util.h"

static char *write_tmp(const char *data, size_t len)
{
    char *path = strdup("/tmp/kp-test-util-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static void expect_secret(const char *content, size_t len, const char *want)
{
    char *path = write_tmp(content, len), *s = NULL, err[256] = "";
    int rc = kp_read_secret_file(path, 64, &s, err, sizeof(err));
    if (want) {
        assert_int_equal(rc, 0);
        assert_string_equal(s, want);
    } else {
        assert_int_equal(rc, -1);
        assert_null(s);
        assert_non_null(strstr(err, path));
        /* the error names the file, never its content */
        if (len > 2)
            assert_null(strstr(err, "hunter"));
    }
    kp_secret_free(s);
    unlink(path);
    free(path);
}

KP_TEST(test_secret_files)
{
    (void)state;
    expect_secret("hunter2", 7, "hunter2");
    expect_secret("hunter2\n", 8, "hunter2");
    expect_secret("hunter2 \r\n\t\n", 12, "hunter2");
    expect_secret("", 0, NULL);                    /* empty */
    expect_secret("\n\n", 2, NULL);                /* only whitespace */
    expect_secret("hunter2\nhunter3\n", 16, NULL); /* two lines */
    expect_secret("hunter\0002", 8, NULL);         /* a NUL inside */
    char big[100];
    memset(big, 'a', sizeof(big));
    expect_secret(big, sizeof(big), NULL); /* over the bound */
}

KP_TEST(test_read_file_bounds)
{
    (void)state;
    char *buf = NULL, err[256] = "";
    size_t len = 0;
    char *path = write_tmp("0123456789", 10);
    assert_int_equal(kp_read_file(path, 10, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 10);
    assert_string_equal(buf, "0123456789");
    free(buf);
    buf = NULL;
    assert_int_equal(kp_read_file(path, 9, &buf, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger than 9 bytes"));
    assert_int_equal(kp_read_file("/nonexistent/kp", 9, &buf, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/kp: No such file"));
    assert_int_equal(kp_read_file("/tmp", 9, &buf, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
    unlink(path);
    free(path);
}

KP_TEST(test_base64_round_trip)
{
    (void)state;
    const char *cases[] = {"", "f", "fo", "foo", "user:pass", "\xff\x00\x80"};
    const size_t lens[] = {0, 1, 2, 3, 9, 3};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = 0;
        char *enc = kp_base64_encode(cases[i], lens[i]);
        char *dec = kp_base64_decode(enc, strlen(enc), 64, &n);
        assert_non_null(dec);
        assert_int_equal(n, lens[i]);
        assert_memory_equal(dec, cases[i], n);
        free(enc);
        free(dec);
    }
    char *enc = kp_base64_encode("user:pass", 9);
    assert_string_equal(enc, "dXNlcjpwYXNz");
    free(enc);
}

KP_TEST(test_grow)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(kp_grow((void **)&a, &cap, 1, sizeof(*a), 8), 0);
    assert_int_equal(cap, 8);
    for (int i = 0; i < 8; i++)
        a[i] = i;
    assert_int_equal(kp_grow((void **)&a, &cap, 8, sizeof(*a), 8), 0); /* room already */
    assert_int_equal(cap, 8);
    assert_int_equal(kp_grow((void **)&a, &cap, 33, sizeof(*a), 8), 0); /* doubles past want */
    assert_int_equal(cap, 64);
    assert_int_equal(a[7], 7); /* contents kept */
    int *before = a;
    assert_int_equal(kp_grow((void **)&a, &cap, SIZE_MAX / 2, sizeof(*a), 8), -1);
    assert_ptr_equal(a, before); /* a refusal leaves the array as it was */
    assert_int_equal(cap, 64);
    free(a);
    /* by a quarter: 64, 80, 100, 125 */
    a = NULL;
    cap = 0;
    assert_int_equal(kp_grow_by((void **)&a, &cap, 101, sizeof(*a), 64, 2), 0);
    assert_int_equal(cap, 125);
    a[124] = 1;
    assert_int_equal(kp_grow_by((void **)&a, &cap, 125, sizeof(*a), 64, 2), 0);
    assert_int_equal(cap, 125);
    assert_int_equal(kp_grow_by((void **)&a, &cap, SIZE_MAX - 1, sizeof(*a), 64, 2), -1);
    assert_int_equal(cap, 125);
    free(a);
    /* a capacity too small to have a quarter still grows (by one) */
    a = NULL;
    cap = 0;
    assert_int_equal(kp_grow_by((void **)&a, &cap, 3, sizeof(*a), 1, 2), 0);
    assert_int_equal(cap, 3);
    free(a);
}

static void check_b64(const char *in, const char *want)
{
    size_t n = 0;
    char *out = kp_base64_decode(in, strlen(in), 1024, &n);
    if (!want) {
        if (out)
            fail_msg("'%s' decoded but should not", in);
        return;
    }
    if (!out)
        fail_msg("'%s' did not decode", in);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    free(out);
}

KP_TEST(test_base64_rules)
{
    (void)state;
    check_b64("", "");
    check_b64("Zg==", "f");
    check_b64("Zm8=", "fo");
    check_b64("Zm9v", "foo");
    check_b64("Zm9vYg", "foob"); /* padding optional */
    check_b64("Zm9vYmE", "fooba");
    check_b64("Zm9v\nYmFy\n", "foobar");
    check_b64(" Zm9v\tYmFy\r\n", "foobar");
    check_b64("Zg=", NULL); /* partial padding */
    check_b64("Z", NULL);
    check_b64("Zm9vY", NULL);
    check_b64("Zm9v!", NULL);
    check_b64("Zm9v-_", NULL); /* the URL alphabet is not standard base64 */
    check_b64("Zg==Zg==", NULL);
    check_b64("=Zg", NULL);
    check_b64("Zh==", NULL); /* non-zero trailing bits */
    check_b64("Zm9=", NULL);
    check_b64("Zm8==", NULL);
    check_b64("Zm9v====", NULL);
    size_t n;
    assert_null(kp_base64_decode("Zm9vYmFy", 8, 5, &n)); /* over max_out */
    char *out = kp_base64_decode("Zm9vYmFy", 8, 6, &n);  /* exactly max_out */
    assert_non_null(out);
    assert_int_equal(n, 6);
    free(out);
    for (size_t len = 0; len < 40; len++) {
        char src[40];
        for (size_t i = 0; i < len; i++)
            src[i] = (char)(i * 37 + len);
        char *enc = kp_base64_encode(src, len);
        assert_int_equal(strlen(enc), (len + 2) / 3 * 4);
        char *dec = kp_base64_decode(enc, strlen(enc), 100, &n);
        assert_non_null(dec);
        assert_int_equal(n, len);
        assert_memory_equal(dec, src, len);
        free(enc);
        free(dec);
    }
}

/* Parses (any fraction) and returns Unix seconds; the nanoseconds go to *ns. */
static int64_t rfc(const char *s, int32_t *ns)
{
    int64_t sec = -1;
    int32_t nsec = -1;
    if (kp_rfc3339_parse(s, strlen(s), -1, &sec, &nsec) != 0)
        fail_msg("'%s' did not parse", s);
    if (ns)
        *ns = nsec;
    return sec;
}

KP_TEST(test_rfc3339_accepts)
{
    (void)state;
    int32_t ns;
    assert_int_equal(rfc("2026-01-02T03:04:05Z", &ns), 1767323045);
    assert_int_equal(ns, 0);
    assert_int_equal(rfc("2026-01-02T03:04:05.123456Z", &ns), 1767323045);
    assert_int_equal(ns, 123456000);
    assert_int_equal(rfc("2026-01-02T04:04:05+01:00", NULL), 1767323045);
    assert_int_equal(rfc("2026-01-01T19:34:05-07:30", NULL), 1767323045);
    assert_int_equal(rfc("2006-01-02T15:04:05.5-00:00", &ns), 1136214245);
    assert_int_equal(ns, 500000000);
    /* beyond nine digits the rest is dropped, not rounded, as Go does */
    assert_int_equal(rfc("2006-01-02T15:04:05.1234567899999Z", &ns), 1136214245);
    assert_int_equal(ns, 123456789);
    assert_int_equal(rfc("2000-02-29T00:00:00Z", NULL), 951782400);          /* a leap day */
    assert_true(rfc("0001-01-01T00:00:00Z", NULL) == INT64_C(-62135596800)); /* Go's zero */
    assert_true(rfc("0000-01-01T00:00:00Z", NULL) == INT64_C(-62167219200));
    assert_true(rfc("9999-12-31T23:59:59Z", NULL) == INT64_C(253402300799));
    assert_int_equal(rfc("1969-12-31T23:59:59Z", NULL), -1);
    /* len bounds the text: no NUL is needed after it */
    int64_t sec;
    assert_int_equal(kp_rfc3339_parse("2006-01-02T15:04:05Zjunk", 20, -1, &sec, &ns), 0);
    assert_int_equal(sec, 1136214245);
    /* six digits exactly: metav1.MicroTime */
    assert_int_equal(kp_rfc3339_parse("2006-01-02T15:04:05.000001Z", 27, 6, &sec, &ns), 0);
    assert_int_equal(ns, 1000);
    assert_int_equal(kp_rfc3339_parse("2006-01-02T15:04:05.00001Z", 26, 6, &sec, &ns), -1);
    assert_int_equal(kp_rfc3339_parse("2006-01-02T15:04:05.0000001Z", 28, 6, &sec, &ns), -1);
    assert_int_equal(kp_rfc3339_parse("2006-01-02T15:04:05Z", 20, 6, &sec, &ns), -1);
}

/* Every instant of a pseudo-random walk over 0000..9999 agrees with glibc's gmtime. */
KP_TEST(test_rfc3339_matches_gmtime)
{
    (void)state;
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        time_t t = (time_t)(int64_t)(x % UINT64_C(315537897600)) - INT64_C(62167219200);
        struct tm tm;
        char buf[40];
        assert_non_null(gmtime_r(&t, &tm));
        int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        assert_int_equal(n, 20);
        assert_true(rfc(buf, NULL) == (int64_t)t);
    }
}

KP_TEST(test_rfc3339_rejects)
{
    (void)state;
    static const char *bad[] = {
        "",
        "2026-01-02",
        "2026-01-02T03:04:05",      /* no zone */
        "2026-01-02 03:04:05Z",     /* Go: 'T' only */
        "2026-01-02t03:04:05Z",     /* upper case only */
        "2026-01-02T03:04:05z",     /* upper case only */
        "2026-01-02T03:04:05Zjunk", /* trailing text */
        "2026-01-02T03:04:05.Z",    /* a point with no digit */
        "2026-01-02T03:04:05,5Z",   /* Go's lenient fallback only */
        "2026-01-02T3:04:05Z",      /* one-digit hour: Go's lenient fallback only */
        "2026-1-02T03:04:05Z",      /* strptime took this */
        " 2026-01-02T03:04:05Z",    /* strptime took this */
        "2026-02-29T03:04:05Z",     /* not a leap year */
        "1900-02-29T03:04:05Z",     /* not a leap year either */
        "2026-04-31T03:04:05Z",     /* April has 30 days */
        "2026-00-02T03:04:05Z",
        "2026-13-02T03:04:05Z",
        "2026-01-00T03:04:05Z",
        "2026-01-02T24:00:00Z",
        "2026-01-02T03:60:05Z",
        "2026-01-02T03:04:60Z",   /* no leap second, as Go */
        "2026-01-02T03:04:05+01", /* offsets are hh:mm */
        "2026-01-02T03:04:05+0100",
        "2026-01-02T03:04:05+24:00", /* Go's lenient fallback only */
        "2026-01-02T03:04:05+01:60",
        "2026-01-02T03:04:05*01:00",
        "2026-01-02T03:04:05+01:00Z",
        "+026-01-02T03:04:05Z",
        "20260-01-02T03:04:05Z",
    };
    int64_t sec;
    int32_t ns;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (kp_rfc3339_parse(bad[i], strlen(bad[i]), -1, &sec, &ns) == 0)
            fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(kp_rfc3339_parse(NULL, 0, -1, &sec, &ns), -1);
    /* a valid text cut short by len */
    assert_int_equal(kp_rfc3339_parse("2026-01-02T03:04:05Z", 19, -1, &sec, &ns), -1);
}

static void check_size(const char *s, int rc, uint64_t want)
{
    uint64_t v = 12345;
    const char *shown = s ? s : "(NULL)"; /* gcc -O3 proves s may be NULL for %s */
    if (kp_parse_size(s, &v) != rc)
        fail_msg("'%s': not %s", shown, rc ? "refused" : "accepted");
    if (rc == 0 && v != want)
        fail_msg("'%s' read as %llu, not %llu", shown, (unsigned long long)v,
                 (unsigned long long)want);
}

/* FNV-1a 64's published test vectors: a hash that is not FNV-1a fails here. */
KP_TEST(test_hash)
{
    (void)state;
    assert_int_equal(kp_hash("", 0), 0xcbf29ce484222325ULL);
    assert_int_equal(kp_hash("a", 1), 0xaf63dc4c8601ec8cULL);
    assert_int_equal(kp_hash("foobar", 6), 0x85944171f73967e8ULL);
    assert_int_equal(kp_hash("foobarX", 6), kp_hash("foobar", 6)); /* len, not NUL */
    /* continued over parts: the same as the whole */
    assert_int_equal(kp_hash_more(kp_hash("foo", 3), "bar", 3), 0x85944171f73967e8ULL);
    assert_int_equal(kp_hash_more(kp_hash("", 0), "a", 1), 0xaf63dc4c8601ec8cULL);
    assert_int_equal(kp_hash_more(kp_hash("a", 1), "", 0), kp_hash("a", 1));
}

KP_TEST(test_parse_size)
{
    (void)state;
    check_size("0", 0, 0);
    check_size("4096", 0, 4096);
    check_size("64Ki", 0, 64 << 10);
    check_size("64Mi", 0, 64ULL << 20);
    check_size("2Gi", 0, 2ULL << 30);
    check_size("1Ti", 0, 1ULL << 40);
    check_size("500k", 0, 500000);
    check_size("10M", 0, 10000000);
    check_size("1G", 0, 1000000000);
    check_size("500K", 0, 500000);
    check_size("3T", -1, 0); /* no decimal tera */
    check_size("16777215Ti", 0, 16777215ULL << 40);
    check_size("16777216Ti", -1, 0); /* 2^64: overflow */
    check_size("18446744073709551615", 0, UINT64_MAX);
    check_size("18446744073709551616", -1, 0);
    check_size("", -1, 0);
    check_size("Mi", -1, 0);
    check_size("-1", -1, 0);
    check_size(" 1", -1, 0);
    check_size("1 Mi", -1, 0);
    check_size("1KI", -1, 0);
    check_size("1Mix", -1, 0);
    check_size("1.5Gi", -1, 0);
    check_size("12Q", -1, 0);
    check_size(NULL, -1, 0);
}

KP_TEST(test_backoff_delay)
{
    (void)state;
    assert_true(kp_backoff_delay(0, 0.5, 30, 0) == 0.25);      /* half fixed */
    assert_true(kp_backoff_delay(0, 0.5, 30, 0.5) == 0.375);   /* plus half scaled */
    assert_true(kp_backoff_delay(3, 0.5, 30, 0.999999) < 4.0); /* 0.5 * 2^3, below 1 */
    assert_true(kp_backoff_delay(3, 0.5, 30, 0.999999) > 3.99);
    assert_true(kp_backoff_delay(20, 0.5, 30, 0) == 15);       /* capped */
    assert_true(kp_backoff_delay(1000, 0.5, 30, 0.5) == 22.5); /* no overflow */
    assert_true(kp_backoff_delay(2, 0.8, 30, 1.0) < 3.2);      /* rnd01 = 1 is clamped */
    assert_true(kp_backoff_delay(2, 0.8, 30, -3) == 1.6);      /* and so is < 0 */
    /* the watch's schedule: 0.8 s doubling to 30 s */
    double want[] = {0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30};
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_true(kp_backoff_delay(i, 0.8, 30, 0) == want[i] / 2);
}

struct node {
    int v;
    struct node *prev, *next;
};

/* The values from first to last, as digits ("" when empty); checks the prev links too. */
static void walk(struct node *first, struct node *last, char *out)
{
    struct node *prev = NULL;
    for (struct node *n = first; n; prev = n, n = n->next) {
        assert_ptr_equal(n->prev, prev);
        *out++ = (char)('0' + n->v);
    }
    *out = '\0';
    if (last)
        assert_ptr_equal(last, prev);
}

KP_TEST(test_dlist_and_dqueue)
{
    (void)state;
    struct node n[4] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}};
    struct node *head = NULL, *first = NULL, *last = NULL;
    char s[8];
    for (int i = 0; i < 4; i++)
        KP_DLIST_PUSH(head, &n[i]);
    walk(head, NULL, s);
    assert_string_equal(s, "3210");
    KP_DLIST_UNLINK(head, &n[2]); /* middle */
    KP_DLIST_UNLINK(head, &n[3]); /* first */
    KP_DLIST_UNLINK(head, &n[0]); /* last */
    walk(head, NULL, s);
    assert_string_equal(s, "1");
    KP_DLIST_UNLINK(head, &n[1]);
    assert_null(head);
    for (int i = 0; i < 4; i++)
        KP_DQUEUE_APPEND(first, last, &n[i]);
    walk(first, last, s);
    assert_string_equal(s, "0123");
    KP_DQUEUE_UNLINK(first, last, &n[3]); /* the newest: last moves back */
    walk(first, last, s);
    assert_string_equal(s, "012");
    KP_DQUEUE_UNLINK(first, last, &n[0]); /* the oldest */
    KP_DQUEUE_UNLINK(first, last, &n[1]);
    walk(first, last, s);
    assert_string_equal(s, "2");
    KP_DQUEUE_UNLINK(first, last, &n[2]);
    assert_null(first);
    assert_null(last);
}
