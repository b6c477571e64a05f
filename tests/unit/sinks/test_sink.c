/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sink.c - URI parsing (generic, Heapster source, every sink option), the bounded
 * buffer, the pure retry helpers, and delivery through a scripted HTTP client.
 */
#include <ev.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "kp_test.h"
#include "fake_http.h"
#include "influxdb.h"
#include "sink.h"
#include "sink_buffer.h"

static struct ev_loop *loop;
static struct sink_env env;

static int setup(void **state)
{
    (void)state;
    loop = ev_loop_new(0);
    env = (struct sink_env){.loop = loop,
                            .identity = "pod-1",
                            .version = "0.1.0",
                            .batch_lines = 3,
                            .buffer_size = "256Mi",
                            .timeout_s = 5,
                            .concurrency = 1};
    fake_http_reset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fake_http_reset();
    ev_loop_destroy(loop);
    return 0;
}

KP_TEST_F(test_sink_options, setup, teardown)
{
    (void)state;
    struct sink *s;
    char err[512];
    /* Every option Heapster documents for its InfluxDB sink. */
    assert_int_equal(sink_open("influxdb:http://influx:8086?user=u&pw=p&db=k8s&retention=7d&"
                               "secure=false&insecuressl=false&withfields=true&cluster_name=c&"
                               "disable_counter_metrics=true&concurrency=3",
                               &env, &s, err, sizeof err),
                     0);
    assert_string_equal(sink_name(s), "influxdb:http://influx:8086/k8s");
    assert_int_equal(fake_nreqs, 1); /* CREATE DATABASE */
    assert_string_equal(fake_reqs[0].url, "http://influx:8086/query");
    /* Heapster's retention policy "default", here 7 days long */
    assert_non_null(strstr(fake_reqs[0].body, "CREATE%20DATABASE%20%22k8s%22%20WITH%20DURATION"
                                              "%207d%20NAME%20%22default%22"));
    int has_auth = 0, has_ua = 0;
    for (int i = 0; i < 8; i++) {
        has_auth |= strcmp(fake_reqs[0].headers[i], "Authorization: Basic dTpw") == 0;
        has_ua |=
            strcmp(fake_reqs[0].headers[i], "User-Agent: kubepulse/0.1.0 (identity=pod-1)") == 0;
    }
    assert_true(has_auth && has_ua);
    sink_free(s);
    assert_int_equal(sink_open("influxdb:http://h?nope=1", &env, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown option \"nope\""));
    assert_int_equal(sink_open("influxdb:http://h?retention=forever", &env, &s, err, sizeof err),
                     -1);
    assert_int_equal(sink_open("influxdb:http://h?withfields=2", &env, &s, err, sizeof err), -1);
    assert_int_equal(sink_open("influxdb:http://h?pw=a&pwEnv=B", &env, &s, err, sizeof err), -1);
    assert_int_equal(sink_open("influxdb:http://h?pwFile=/nonexistent", &env, &s, err, sizeof err),
                     -1);
    assert_int_equal(sink_open("influxdb2:http://h:8086", &env, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "org"));
    assert_int_equal(sink_open("graphite:tcp://h", &env, &s, err, sizeof err), -1);
    setenv("KP_TEST_TOKEN", "s3cret", 1);
    assert_int_equal(sink_open("influxdb2:https://h:9999/prefix/?org=o&bucket=b%2Fr&"
                               "tokenEnv=KP_TEST_TOKEN",
                               &env, &s, err, sizeof err),
                     0);
    sink_free(s);
    assert_int_equal(sink_open("log?withfields=true&cluster_name=x", &env, &s, err, sizeof err), 0);
    sink_free(s);
    assert_int_equal(sink_open("log?bad=1", &env, &s, err, sizeof err), -1);
}

KP_TEST(test_buffer_size_and_backoff)
{
    (void)state;
    uint64_t b;
    bool pts;
    assert_int_equal(sink_parse_buffer_size("256Mi", &b, &pts), 0);
    assert_int_equal(b, 256ULL << 20);
    assert_false(pts);
    assert_int_equal(sink_parse_buffer_size("2000000points", &b, &pts), 0);
    assert_int_equal(b, 2000000);
    assert_true(pts);
    assert_int_equal(sink_parse_buffer_size("1G", &b, &pts), 0);
    assert_int_equal(b, 1000000000ULL);
    assert_int_equal(sink_parse_buffer_size("12q", &b, &pts), -1);
    assert_int_equal(sink_parse_buffer_size("0", &b, &pts), -1);
    assert_int_equal(sink_parse_buffer_size("2kpoints", &b, &pts), -1); /* a count is digits */
    assert_int_equal(sink_parse_buffer_size("points", &b, &pts), -1);
    assert_int_equal(sink_parse_buffer_size("0points", &b, &pts), -1);
    assert_int_equal(sink_parse_buffer_size("1Ti", &b, &pts), 0); /* kp_parse_size's units */
    assert_int_equal(b, 1ULL << 40);
    assert_true(influx_retry_delay(IV_RETRY, 5, 7, 0.3) == 7);      /* Retry-After wins */
    assert_true(influx_retry_delay(IV_RETRY, 0, 9999, 0.3) == 600); /* capped */
    assert_true(influx_retry_delay(IV_AUTH, 0, -1, 0) >= 5);        /* long */
    assert_int_equal(influx_classify(HTTP_ERR_CONNECT, 0), IV_RETRY);
    assert_int_equal(influx_classify(0, 204), IV_OK);
    assert_int_equal(influx_classify(0, 400), IV_REJECT);
    assert_int_equal(influx_classify(0, 401), IV_AUTH);
    assert_int_equal(influx_classify(0, 403), IV_AUTH);
    assert_int_equal(influx_classify(0, 404), IV_NOT_FOUND);
    assert_int_equal(influx_classify(0, 413), IV_SPLIT);
    assert_int_equal(influx_classify(0, 429), IV_RETRY);
    assert_int_equal(influx_classify(0, 503), IV_RETRY);
    const char *body = "{\"error\":\"partial write: field type conflict: input field \\\"value\\\""
                       " on measurement \\\"m\\\" is type float dropped=3\"}";
    assert_int_equal(influx_parse_dropped(body, strlen(body)), 3);
    assert_int_equal(influx_parse_dropped("{}", 2), -1);
}

static uint64_t dropped_pts;
static int64_t dropped_ts_min = INT64_MAX, dropped_ts_max = INT64_MIN;
static void on_drop(void *ud, uint64_t points, uint32_t lines, int64_t ts_min, int64_t ts_max)
{
    (void)ud;
    (void)lines;
    dropped_pts += points;
    if (ts_min < dropped_ts_min)
        dropped_ts_min = ts_min;
    if (ts_max > dropped_ts_max)
        dropped_ts_max = ts_max;
}

static void put_line(struct sbuf *b, const char *line)
{
    char *p = sbuf_reserve(b, strlen(line) + 64);
    if (!p)
        return;
    memcpy(p, line, strlen(line));
    sbuf_commit(b, strlen(line), 1);
}

KP_TEST(test_buffer_points_bound)
{
    (void)state;
    struct sbuf b;
    dropped_pts = 0;
    sbuf_init(&b, 80, true, 1000, false, on_drop, NULL); /* chunks of 10 lines */
    assert_int_equal(b.lines_max, 10);
    for (int i = 0; i < 200; i++) {
        b.ts_min = b.ts_max = 1000 + i; /* each line its own sample time */
        put_line(&b, "m value=1i 1\n");
    }
    assert_true(b.points <= 80);
    assert_int_equal(b.points + dropped_pts, 200);
    /* The oldest went, and the drop hook was told exactly their sample times. */
    assert_int_equal(dropped_ts_min, 1000);
    assert_int_equal(dropped_ts_max, 1000 + (int64_t)dropped_pts - 1);
    assert_int_equal(b.head->ts_min, 1000 + (int64_t)dropped_pts);
    /* In-flight chunks are never dropped. */
    struct sbuf_chunk *c = sbuf_take(&b, true);
    assert_non_null(c);
    uint64_t inflight = c->points;
    for (int i = 0; i < 200; i++)
        put_line(&b, "m value=1i 1\n");
    assert_int_equal(b.points + dropped_pts, 400);
    assert_true(b.head == c && c->points == inflight);
    sbuf_release(&b, c);
    assert_int_equal(sbuf_fini(&b) + dropped_pts + inflight, 400);
}

/* Fill the open chunk with 100-byte lines to about `bytes` and take it. */
static struct sbuf_chunk *fill_and_take(struct sbuf *b, size_t bytes)
{
    static const char line[] = "cpu/usage_rate,nodename=node-0001,pod_name=p value=12345i "
                               "1700000000000000000000000000000000\n";
    for (size_t n = 0; n + sizeof line - 1 <= bytes; n += sizeof line - 1)
        put_line(b, line);
    return sbuf_take(b, true);
}

KP_TEST(test_buffer_reuses_sent_chunks)
{
    (void)state;
    struct sbuf b;
    dropped_pts = 0;
    sbuf_init(&b, 1u << 30, false, 100000, false, on_drop, NULL);
    /* A chunk of 200 KB goes; its buffer is kept, not counted against the bound... */
    struct sbuf_chunk *c = fill_and_take(&b, 200000);
    assert_non_null(c);
    char *data = c->data;
    size_t cap = c->cap;
    assert_true(cap >= SBUF_SPARE_MIN);
    sbuf_release(&b, c);
    assert_int_equal(b.nspare, 1);
    assert_int_equal(b.spare_bytes, cap);
    assert_int_equal(b.bytes, 0);
    /* ...and the next chunk is written into it, with its size accounted again. */
    put_line(&b, "m value=1i 1\n");
    assert_ptr_equal(b.tail->data, data);
    assert_int_equal(b.tail->cap, cap);
    assert_int_equal(b.bytes, cap + sizeof(struct sbuf_chunk));
    assert_int_equal(b.nspare, 0);
    assert_int_equal(b.spare_bytes, 0);
    /* A chunk under SBUF_SPARE_MIN is freed, not kept. */
    struct sbuf_chunk *first = sbuf_take(&b, true);
    sbuf_release(&b, first); /* 1 line: sealing shrank it to its length */
    assert_int_equal(b.nspare, 0);
    /* At most SBUF_SPARES buffers and SBUF_SPARE_BYTES are kept; the rest are freed. */
    struct sbuf_chunk *many[SBUF_SPARES + 2];
    for (int i = 0; i < SBUF_SPARES + 2; i++)
        assert_non_null(many[i] = fill_and_take(&b, 100000));
    for (int i = 0; i < SBUF_SPARES + 2; i++)
        sbuf_release(&b, many[i]);
    assert_true(b.nspare <= SBUF_SPARES);
    assert_true(b.spare_bytes <= SBUF_SPARE_BYTES);
    assert_true(b.nspare >= 1);
    assert_int_equal(b.points, 0);
    assert_int_equal(sbuf_fini(&b), 0); /* frees the spares too (valgrind, ASan) */
    assert_int_equal(b.nspare, 0);
    assert_int_equal(dropped_pts, 0);
}

KP_TEST(test_buffer_spare_within_the_bound)
{
    (void)state;
    struct sbuf b;
    dropped_pts = 0;
    /* Bound 1 MiB, so chunks of at most 128 KiB. */
    sbuf_init(&b, 1u << 20, false, 100000, false, on_drop, NULL);
    assert_int_equal(b.bytes_max, 128u << 10);
    struct sbuf_chunk *c = fill_and_take(&b, 70000);
    sbuf_release(&b, c);
    assert_int_equal(b.nspare, 1);
    char *spare = b.spare[0].data;
    size_t spare_cap = b.spare[0].cap;
    /* Lines longer than the spare get chunks of their own, up to 70 KB short of the bound... */
    size_t n = 100000;
    char *line = malloc(n);
    assert_non_null(line);
    memset(line, 'x', n - 1);
    line[n - 1] = '\n';
    while (b.bytes + spare_cap + sizeof(struct sbuf_chunk) <= (1u << 20)) {
        char *p = sbuf_reserve(&b, n);
        assert_non_null(p);
        assert_true(p < spare || p >= spare + spare_cap);
        memcpy(p, line, n);
        sbuf_commit(&b, n, 1);
        assert_non_null(sbuf_take(&b, true)); /* in flight: the next line opens a chunk */
    }
    free(line);
    assert_int_equal(b.nspare, 1);
    /* ...where a short line may not take the spare: it would pass the bound. */
    put_line(&b, "m value=1i 1\n");
    assert_true(b.tail->data != spare);
    assert_true(b.bytes <= (1u << 20));
    assert_int_equal(b.nspare, 1);
    assert_int_equal(dropped_pts, 0);
    /* A replica that stops leading gives the spares back. */
    sbuf_drop_spares(&b);
    assert_int_equal(b.nspare, 0);
    assert_int_equal(b.spare_bytes, 0);
    sbuf_fini(&b);
}

KP_TEST(test_buffer_bytes_bound_and_split)
{
    (void)state;
    struct sbuf b;
    dropped_pts = 0;
    sbuf_init(&b, 64 * 1024, false, 5, false, on_drop, NULL);
    for (int i = 0; i < 10000; i++) {
        put_line(&b, "cpu/usage,pod_name=abcdefghijklmnop value=123456789i 1700000000000000000\n");
        assert_true(b.bytes <= 64 * 1024);
    }
    assert_int_equal(b.points + dropped_pts, 10000);
    assert_true(dropped_pts > 0);
    struct sbuf_chunk *c = sbuf_take(&b, true);
    assert_int_equal(c->lines, 5);
    size_t len = c->raw_len; /* the bound may have had it gzipped */
    assert_int_equal(sbuf_split(&b, c), 0);
    assert_int_equal(c->lines, 2);
    assert_int_equal(c->next->lines, 3);
    assert_int_equal(c->raw_len + c->next->raw_len, len); /* the second half may wait packed */
    assert_false(c->packed);
    assert_true(c->data[c->len - 1] == '\n');
    sbuf_requeue(&b, c);
    assert_ptr_equal(sbuf_take(&b, true), c);
    /* c waited gzipped (the bound was reached) and was unpacked to be split: the chunk in
     * flight may be over the bound by its plain size (and n's bookkeeping) until answered */
    assert_true(b.bytes <= 64 * 1024 + len + sizeof(struct sbuf_chunk));
    sbuf_fini(&b);
}

/* gunzip a whole gzip stream into out (NUL-terminated); its length, or -1. */
static long gunzip(const char *in, size_t len, char *out, size_t outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return -1;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)(outlen - 1);
    int rc = inflate(&z, Z_FINISH);
    long n = (long)(outlen - 1 - z.avail_out);
    inflateEnd(&z);
    if (rc != Z_STREAM_END)
        return -1;
    out[n] = '\0';
    return n;
}

/* Packing: sealed chunks wait gzipped, count their packed size against the bound, and come
 * back (whole, split or as a first line) exactly as written. */
KP_TEST(test_buffer_pack)
{
    (void)state;
    static char want[200000], got[200000];
    const char *line = "cpu/usage,pod_name=abcdefghijklmnop,namespace_name=kube-system "
                       "value=123456789i 1700000000000000000\n";
    size_t ll = strlen(line), n = 1000;
    struct sbuf b;
    sbuf_init(&b, 64u << 20, false, 1000, true, on_drop, NULL);
    for (size_t i = 0; i < n; i++) {
        put_line(&b, line);
        memcpy(want + i * ll, line, ll);
    }
    want[n * ll] = '\0';
    struct sbuf_chunk *c = sbuf_take(&b, true);
    assert_non_null(c);
    assert_true(c->packed);
    assert_int_equal(c->raw_len, n * ll);
    assert_true(c->len * 4 < c->raw_len);
    assert_true(b.bytes < c->raw_len / 4 + 4096); /* the packed size is what counts */
    assert_int_equal(gunzip(c->data, c->len, got, sizeof got), (long)(n * ll));
    assert_string_equal(got, want);
    char first[32];
    sbuf_first_line(c, first, sizeof first);
    assert_string_equal(first, "cpu/usage,pod_name=abcdefghijkl"); /* cut to 31 bytes */
    char whole[256];
    sbuf_first_line(c, whole, sizeof whole);
    assert_int_equal(strlen(whole), ll - 1);
    assert_false(sbuf_pack(&b, c)); /* packed already */
    /* A 413 splits it: unpacked first, then two plain halves with every line. */
    assert_int_equal(sbuf_split(&b, c), 0);
    assert_false(c->packed);
    assert_false(c->next->packed);
    assert_int_equal(c->lines + c->next->lines, n);
    assert_int_equal(c->len + c->next->len, n * ll);
    assert_memory_equal(c->data, want, c->len);
    assert_memory_equal(c->next->data, want + c->len, c->next->len);
    assert_true(sbuf_pack(&b, c->next)); /* packed again when sent */
    assert_int_equal(sbuf_unpack(&b, c->next), 0);
    assert_memory_equal(c->next->data, want + c->len, c->next->len);
    /* Incompressible lines stay plain. */
    struct sbuf r;
    sbuf_init(&r, 64u << 20, false, 1000, true, on_drop, NULL);
    unsigned x = 12345;
    for (int i = 0; i < 200; i++) {
        char rnd[120];
        for (int k = 0; k < 118; k++) {
            x = x * 1103515245u + 12345u;
            rnd[k] = (char)(33 + (x >> 16) % 94);
        }
        rnd[118] = '\n';
        rnd[119] = '\0';
        put_line(&r, rnd);
    }
    struct sbuf_chunk *rc = sbuf_take(&r, true);
    assert_false(rc->packed);
    assert_int_equal(rc->len, rc->raw_len);
    sbuf_fini(&r);
    sbuf_release(&b, c);
    sbuf_fini(&b);
}

/* Packing off (gzip=false): chunks stay plain until the byte bound is reached, then the oldest
 * waiting ones are gzipped instead of dropped, and stay whole. */
KP_TEST(test_buffer_pack_before_drop)
{
    (void)state;
    const char *line = "cpu/usage,pod_name=abcdefghijklmnop value=123456789i 1700000000000000000\n";
    struct sbuf b;
    dropped_pts = 0;
    sbuf_init(&b, 64 * 1024, false, 100, false, on_drop, NULL);
    for (int i = 0; i < 2; i++)
        put_line(&b, line);
    sbuf_take(&b, true); /* in flight: never packed by the buffer */
    for (int i = 2; i < 10000; i++) {
        put_line(&b, line);
        assert_true(b.bytes <= 64 * 1024);
    }
    /* 10,000 plain lines are 750 KB, over ten times the bound: held gzipped, none dropped */
    assert_int_equal(dropped_pts, 0);
    assert_int_equal(b.points, 10000);
    assert_false(b.head->packed);      /* the one in flight */
    assert_true(b.head->next->packed); /* the oldest waiting */
    assert_false(b.tail->packed);      /* the open chunk */
    /* packed oldest first, and only as the bound needed: the packed chunks come before the
     * plain ones, and some are still plain */
    bool seen_plain = false;
    for (struct sbuf_chunk *c = b.head->next; c != b.tail; c = c->next) {
        assert_false(seen_plain && c->packed);
        seen_plain |= !c->packed;
    }
    assert_true(seen_plain);
    sbuf_fini(&b);
}

static struct kp_point pts[10];
static struct kp_series ser = {.nlabels = 1, .labels = {{"pod_name", "p"}}};
static struct kp_batch batch(int n)
{
    for (int i = 0; i < n; i++)
        pts[i] = (struct kp_point){0, KP_M_MEM_USAGE, {.i = i}, 1000 + i};
    return (struct kp_batch){&ser, 1, pts, (size_t)n, NULL};
}

static int flushed = 99;
static void on_flush(struct sink *s, int status, void *ud)
{
    (void)s;
    (void)ud;
    flushed = status;
}

KP_TEST_F(test_delivery_verdicts, setup, teardown)
{
    (void)state;
    struct sink *s;
    char err[512];
    struct sink_stats st;
    assert_int_equal(sink_open("influxdb:http://h:8086?db=d&gzip=false", &env, &s, err, sizeof err),
                     0);
    assert_int_equal(fake_nreqs, 1);
    struct kp_batch b = batch(7);
    assert_int_equal(sink_write(s, &b, err, sizeof err), 0);
    assert_int_equal(fake_nreqs, 1); /* waits for the database */
    fake_http_complete(0, 0, 200, "{\"results\":[{\"statement_id\":0}]}", -1);
    assert_int_equal(fake_nreqs, 2); /* concurrency 1: one write of <= 3 lines */
    assert_string_equal(fake_reqs[1].url, "http://h:8086/write?db=d&precision=ns");
    assert_string_equal(fake_reqs[1].body, "memory/usage,cluster_name=default,pod_name=p "
                                           "value=0i 1000\n"
                                           "memory/usage,cluster_name=default,pod_name=p "
                                           "value=1i 1001\n"
                                           "memory/usage,cluster_name=default,pod_name=p "
                                           "value=2i 1002\n");
    /* 413: split in half and sent again at once */
    fake_http_complete(1, 0, 413, "", -1);
    assert_int_equal(fake_nreqs, 3);
    assert_int_equal(fake_reqs[2].body_len, fake_reqs[1].body_len / 3);
    fake_http_complete(2, 0, 204, NULL, -1);
    sink_get_stats(s, &st);
    assert_int_equal(st.points_written, 1);
    /* 400 partial write: counted, not retried */
    fake_http_complete(3, 0, 400, "{\"error\":\"partial write: x dropped=1\"}", -1);
    sink_get_stats(s, &st);
    assert_int_equal(st.points_rejected, 1);
    assert_int_equal(st.points_written, 2);
    /* 503 with Retry-After: requeued, blocked */
    fake_http_complete(4, 0, 503, "", 30);
    int before = fake_nreqs;
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(fake_nreqs, before);
    sink_get_stats(s, &st);
    assert_int_equal(st.points_buffered, 4);
    assert_int_equal(st.failures, 3);
    flushed = 99;
    sink_flush(s, ev_now(loop) - 1, on_flush, NULL);
    assert_int_equal(flushed, SINK_FLUSH_TIMEOUT);
    sink_free(s);
    /* Nothing lost silently: written + rejected + shutdown = 7 */
}

/* gzip on (the default): each write is one packed chunk, sent as it waited; a 413 splits it
 * into plain halves that are packed again as they go. */
KP_TEST_F(test_delivery_gzip, setup, teardown)
{
    (void)state;
    struct sink *s;
    char err[512], body[1024];
    struct sink_stats st;
    assert_int_equal(sink_open("influxdb:http://h:8086?db=d", &env, &s, err, sizeof err), 0);
    struct kp_batch b = batch(3);
    assert_int_equal(sink_write(s, &b, err, sizeof err), 0);
    fake_http_complete(0, 0, 200, "{\"results\":[{\"statement_id\":0}]}", -1);
    assert_int_equal(fake_nreqs, 2);
    int gz = 0;
    for (int h = 0; h < 8; h++)
        gz |= strcmp(fake_reqs[1].headers[h], "Content-Encoding: gzip") == 0;
    assert_true(gz);
    const char *all = "memory/usage,cluster_name=default,pod_name=p value=0i 1000\n"
                      "memory/usage,cluster_name=default,pod_name=p value=1i 1001\n"
                      "memory/usage,cluster_name=default,pod_name=p value=2i 1002\n";
    assert_int_equal(gunzip(fake_reqs[1].body, fake_reqs[1].body_len, body, sizeof body),
                     (long)strlen(all));
    assert_string_equal(body, all);
    fake_http_complete(1, 0, 413, "", -1);
    assert_int_equal(fake_nreqs, 3);
    assert_true(gunzip(fake_reqs[2].body, fake_reqs[2].body_len, body, sizeof body) > 0);
    assert_string_equal(body, "memory/usage,cluster_name=default,pod_name=p value=0i 1000\n");
    fake_http_complete(2, 0, 204, NULL, -1);
    assert_int_equal(fake_nreqs, 4);
    assert_true(gunzip(fake_reqs[3].body, fake_reqs[3].body_len, body, sizeof body) > 0);
    assert_string_equal(body, all + strlen(all) / 3);
    fake_http_complete(3, 0, 204, NULL, -1);
    sink_get_stats(s, &st);
    assert_int_equal(st.points_written, 3);
    assert_int_equal(st.bytes_written, strlen(all)); /* lines written, not bytes sent */
    assert_int_equal(st.points_buffered, 0);
    sink_free(s);
}

/* gzip=false with a backlog over the byte bound: the buffer gzips waiting chunks rather than
 * drop them, and each goes out plain, every line once, in order. */
KP_TEST_F(test_delivery_plain_backlog, setup, teardown)
{
    (void)state;
    struct sink *s;
    char err[512];
    struct sink_stats st;
    env.batch_lines = 200;
    env.buffer_size = "64Ki";
    assert_int_equal(sink_open("influxdb:http://h:8086?db=d&gzip=false&createdb=false", &env, &s,
                               err, sizeof err),
                     0);
    for (int i = 0; i < 1000; i++) { /* 10,000 lines, ~590 KB, while the first is in flight */
        struct kp_batch b = batch(10);
        assert_int_equal(sink_write(s, &b, err, sizeof err), 0);
    }
    sink_get_stats(s, &st);
    assert_true(st.bytes_buffered <= 64 * 1024);
    assert_int_equal(st.points_dropped[SINK_DROP_BUFFER_FULL], 0);
    for (int i = 0; i < fake_nreqs; i++) {
        assert_true(i < 100);
        for (int h = 0; h < 8; h++)
            assert_string_not_equal(fake_reqs[i].headers[h], "Content-Encoding: gzip");
        assert_memory_equal(fake_reqs[i].body, "memory/usage,", 13);
        assert_int_equal(fake_reqs[i].body[fake_reqs[i].body_len - 1], '\n');
        fake_http_complete(i, 0, 204, NULL, -1);
    }
    sink_get_stats(s, &st);
    assert_int_equal(st.points_written, 10000);
    assert_int_equal(st.points_buffered, 0);
    sink_free(s);
}

KP_TEST_F(test_auth_failure_no_storm, setup, teardown)
{
    (void)state;
    struct sink *s;
    char err[512];
    assert_int_equal(sink_open("influxdb:http://h:8086?createdb=false", &env, &s, err, sizeof err),
                     0);
    struct kp_batch b = batch(2);
    sink_write(s, &b, err, sizeof err);
    assert_int_equal(fake_nreqs, 1);
    fake_http_complete(0, 0, 401, "{\"error\":\"authorization failed\"}", -1);
    for (int i = 0; i < 5; i++)
        sink_write(s, &b, err, sizeof err);
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(fake_nreqs, 1); /* backing off: no new request */
    struct sink_stats st;
    sink_get_stats(s, &st);
    assert_int_equal(st.auth_failures, 1);
    assert_int_equal(st.points_buffered, 12);
    sink_free(s);
}

static bool gate_open;
static bool gate(void *ud)
{
    (void)ud;
    return gate_open;
}

/* The gate closes (leadership lost) with a write in flight and more waiting: the write is
 * cancelled, nothing more is sent, no retry fires, a flush ends at once as held; when it
 * opens again everything goes out, in order, and nothing was dropped. */
KP_TEST_F(test_gate_holds_and_resumes, setup, teardown)
{
    (void)state;
    struct sink *s;
    char err[512];
    struct sink_stats st;
    env.may_send = gate;
    gate_open = true;
    assert_int_equal(
        sink_open("influxdb:http://h:8086?createdb=false&gzip=false", &env, &s, err, sizeof err),
        0);
    struct kp_batch b = batch(6);
    assert_int_equal(sink_write(s, &b, err, sizeof err), 0);
    assert_int_equal(fake_nreqs, 1);         /* concurrency 1: lines 0-2 in flight, 3-5 wait */
    fake_http_complete(0, 0, 503, "", 0.01); /* a retry is due in 10 ms */
    assert_int_equal(fake_nreqs, 1);
    gate_open = false;
    sink_gate_changed(s);
    sink_get_stats(s, &st);
    assert_true(st.held);
    assert_int_equal(st.points_buffered, 6);
    usleep(20000);
    ev_run(loop, EVRUN_NOWAIT); /* the retry timer fires: it must not send */
    assert_int_equal(fake_nreqs, 1);
    assert_int_equal(http_client_in_flight(NULL), 0);

    gate_open = true;
    sink_gate_changed(s);
    assert_int_equal(fake_nreqs, 2); /* blocked for the 503's retry-after: passed */
    assert_true(strstr(fake_reqs[1].body, "value=0i 1000\n"));
    /* Closed with that one in flight: cancelled, and sent again when open. */
    gate_open = false;
    sink_gate_changed(s);
    assert_int_equal(http_client_in_flight(NULL), 0);
    flushed = 99;
    sink_flush(s, ev_now(loop) + 10, on_flush, NULL);
    assert_int_equal(flushed, SINK_FLUSH_HELD);
    assert_int_equal(fake_nreqs, 2);
    gate_open = true;
    sink_gate_changed(s);
    assert_int_equal(fake_nreqs, 3);
    assert_string_equal(fake_reqs[2].body, fake_reqs[1].body);
    fake_http_complete(2, 0, 204, NULL, -1);
    assert_int_equal(fake_nreqs, 4);
    assert_true(strstr(fake_reqs[3].body, "value=3i 1003\n"));
    fake_http_complete(3, 0, 204, NULL, -1);
    sink_get_stats(s, &st);
    assert_false(st.held);
    assert_int_equal(st.points_written, 6);
    assert_int_equal(st.points_buffered, 0);
    for (int r = 0; r < SINK_DROP__COUNT; r++)
        assert_int_equal(st.points_dropped[r], 0);
    sink_free(s);
    env.may_send = NULL;
}
