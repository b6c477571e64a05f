/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kpsinkwrite.c - test driver: writes points through a real sink (sink.h) on a libev loop
 * with the real HTTP client, then flushes and prints the sink's stats as one JSON object.
 *
 *   kpsinkwrite --sink URI [--identity ID] [--batch-lines N] [--buffer-size S]
 *               [--timeout S] [--concurrency N] [--flush-timeout S]
 *               (--points FILE | --gen N [--cycles C] [--interval S] [--ts0 NS])
 *
 * --points FILE: one point per line, tab-separated, labels percent-encoded:
 *     METRIC_NAME  TS_NS  VALUE  key=value ...
 * --gen N: N points per cycle (memory/usage of pods gen-0..), C cycles every S seconds, each
 *     point a distinct series and timestamp so that every point is one row in InfluxDB.
 * Exit status: 0 when the flush finished, 2 when it timed out, 1 on a usage or open error.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "sink.h"
#include "uri.h"

struct driver {
    struct ev_loop *loop;
    struct sink *sink;
    long gen, cycles, done_cycles;
    double interval;
    long long ts0;
    ev_timer cycle;
    double flush_timeout;
    int flush_status;
    int flushed;
};

static int metric_id(const char *name)
{
    for (int m = 0; m < KP_M__COUNT; m++) {
        if (strcmp(kp_metrics[m].name, name) == 0)
            return m;
    }
    return -1;
}

static char *decode(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (uri_percent_decode(d, s, n, false) < 0) {
        fprintf(stderr, "bad %%-escape in \"%.*s\"\n", (int)n, s);
        exit(1);
    }
    return d;
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kp_label *)a)->key, ((const struct kp_label *)b)->key);
}

/* Reads the whole file into one batch and writes it (the sink keeps nothing of it). */
static void write_file(struct sink *s, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    size_t cap = 1024, n = 0;
    struct kp_series *series = malloc(cap * sizeof *series);
    struct kp_point *pts = malloc(cap * sizeof *pts);
    char line[65536];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!line[0])
            continue;
        if (n == cap) {
            cap *= 2;
            series = realloc(series, cap * sizeof *series);
            pts = realloc(pts, cap * sizeof *pts);
        }
        char *save, *tok = strtok_r(line, "\t", &save);
        int m = tok ? metric_id(tok) : -1;
        char *ts = strtok_r(NULL, "\t", &save), *val = strtok_r(NULL, "\t", &save);
        if (m < 0 || !ts || !val) {
            fprintf(stderr, "bad point line (metric, ts, value)\n");
            exit(1);
        }
        memset(&series[n], 0, sizeof series[n]);
        while ((tok = strtok_r(NULL, "\t", &save)) && series[n].nlabels < KP_MAX_LABELS) {
            char *eq = strchr(tok, '=');
            if (!eq)
                exit(1);
            struct kp_label *l = &series[n].labels[series[n].nlabels++];
            l->key = decode(tok, (size_t)(eq - tok));
            l->value = decode(eq + 1, strlen(eq + 1));
        }
        qsort(series[n].labels, series[n].nlabels, sizeof(struct kp_label), label_cmp);
        pts[n].series = (uint32_t)n;
        pts[n].metric = (uint16_t)m;
        pts[n].ts_ns = atoll(ts);
        if (kp_metrics[m].type == KP_VALUE_INT)
            pts[n].v.i = atoll(val);
        else
            pts[n].v.f = strtod(val, NULL);
        n++;
    }
    fclose(f);
    struct kp_batch b = {series, n, pts, n, NULL};
    char err[256];
    if (sink_write(s, &b, err, sizeof err) < 0)
        fprintf(stderr, "sink_write: %s\n", err);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < series[i].nlabels; j++) {
            free((char *)series[i].labels[j].key);
            free((char *)series[i].labels[j].value);
        }
    free(series);
    free(pts);
}

static void write_gen(struct driver *d)
{
    static char names[1 << 16][24];
    size_t n = (size_t)d->gen;
    struct kp_series *series = calloc(n, sizeof *series);
    struct kp_point *pts = calloc(n, sizeof *pts);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i % (1 << 16)], 24, "gen-%zu", i % (1 << 16));
        series[i].labels[0] = (struct kp_label){"namespace_name", "kp-test"};
        series[i].labels[1] = (struct kp_label){"pod_name", names[i % (1 << 16)]};
        series[i].labels[2] = (struct kp_label){"type", "pod"};
        series[i].nlabels = 3;
        pts[i].series = (uint32_t)i;
        pts[i].metric = KP_M_MEM_USAGE;
        pts[i].v.i = (int64_t)(d->done_cycles * n + i);
        pts[i].ts_ns = d->ts0 + (long long)(d->done_cycles * n + i) * 1000;
    }
    struct kp_batch b = {series, n, pts, n, NULL};
    char err[256];
    if (sink_write(d->sink, &b, err, sizeof err) < 0)
        fprintf(stderr, "sink_write: %s\n", err);
    free(series);
    free(pts);
}

static void on_flushed(struct sink *s, int status, void *ud)
{
    (void)s;
    struct driver *d = ud;
    d->flush_status = status;
    d->flushed = 1;
    ev_break(d->loop, EVBREAK_ALL);
}

static void start_flush(struct driver *d)
{
    sink_flush(d->sink, ev_now(d->loop) + d->flush_timeout, on_flushed, d);
}

static void cycle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct driver *d = w->data;
    write_gen(d);
    if (++d->done_cycles >= d->cycles) {
        ev_timer_stop(d->loop, w);
        start_flush(d);
    }
}

static void print_stats(const struct sink *s, int flush_status)
{
    struct sink_stats st;
    sink_get_stats(s, &st);
    printf("{\"flush\":\"%s\",\"points_written\":%llu,\"points_buffered\":%llu,"
           "\"points_filtered\":%llu,\"points_rejected\":%llu,\"lines_written\":%llu,"
           "\"bytes_written\":%llu,\"bytes_sent\":%llu,\"requests\":%llu,\"failures\":%llu,"
           "\"retries\":%llu,\"auth_failures\":%llu,\"not_found\":%llu,\"last_status\":%ld,"
           "\"dropped\":{",
           flush_status == 0 ? "ok" : "timeout", (unsigned long long)st.points_written,
           (unsigned long long)st.points_buffered, (unsigned long long)st.points_filtered,
           (unsigned long long)st.points_rejected, (unsigned long long)st.lines_written,
           (unsigned long long)st.bytes_written, (unsigned long long)st.bytes_sent,
           (unsigned long long)st.requests, (unsigned long long)st.failures,
           (unsigned long long)st.retries, (unsigned long long)st.auth_failures,
           (unsigned long long)st.not_found, st.last_status);
    for (int r = 0; r < SINK_DROP__COUNT; r++)
        printf("%s\"%s\":%llu", r ? "," : "", sink_drop_reason_name(r),
               (unsigned long long)st.points_dropped[r]);
    printf("}}\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *uri = NULL, *points = NULL, *identity = "kpsinkwrite", *bufsize = "256Mi";
    long batch = 5000, conc = 2;
    double timeout = 10;
    struct driver d = {
        .cycles = 1, .interval = 1, .flush_timeout = 30, .ts0 = 1700000000000000000LL};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--sink"))
            uri = v;
        else if (!strcmp(k, "--identity"))
            identity = v;
        else if (!strcmp(k, "--batch-lines"))
            batch = atol(v);
        else if (!strcmp(k, "--buffer-size"))
            bufsize = v;
        else if (!strcmp(k, "--timeout"))
            timeout = atof(v);
        else if (!strcmp(k, "--concurrency"))
            conc = atol(v);
        else if (!strcmp(k, "--flush-timeout"))
            d.flush_timeout = atof(v);
        else if (!strcmp(k, "--points"))
            points = v;
        else if (!strcmp(k, "--gen"))
            d.gen = atol(v);
        else if (!strcmp(k, "--cycles"))
            d.cycles = atol(v);
        else if (!strcmp(k, "--interval"))
            d.interval = atof(v);
        else if (!strcmp(k, "--ts0"))
            d.ts0 = atoll(v);
        else {
            fprintf(stderr, "unknown flag %s\n", k);
            return 1;
        }
    }
    if (!uri || (!points && d.gen <= 0) || d.gen > (1 << 16)) {
        fprintf(stderr, "usage: kpsinkwrite --sink URI (--points FILE | --gen N<=65536) ...\n");
        return 1;
    }
    log_configure(LOG_FORMAT_TEXT, 0, stderr);
    d.loop = ev_default_loop(0);
    char err[512];
    char ua[128];
    snprintf(ua, sizeof ua, "kubepulse/test (identity=%s)", identity);
    struct http_client_opts ho = {.user_agent = ua};
    struct http_client *hc = http_client_new(d.loop, &ho, err, sizeof err);
    if (!hc) {
        fprintf(stderr, "http: %s\n", err);
        return 1;
    }
    struct sink_env env = {.loop = d.loop,
                           .http = hc,
                           .identity = identity,
                           .version = "test",
                           .batch_lines = batch,
                           .buffer_size = bufsize,
                           .timeout_s = timeout,
                           .concurrency = conc};
    if (sink_open(uri, &env, &d.sink, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (points) {
        write_file(d.sink, points);
        start_flush(&d);
    } else {
        ev_timer_init(&d.cycle, cycle_cb, 0, d.interval);
        d.cycle.data = &d;
        ev_timer_start(d.loop, &d.cycle);
    }
    if (!d.flushed)
        ev_run(d.loop, 0);
    print_stats(d.sink, d.flush_status);
    sink_free(d.sink);
    http_client_free(hc);
    return d.flush_status == 0 ? 0 : 2;
}
