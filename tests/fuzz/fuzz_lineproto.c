/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_lineproto.c - random batches (labels and values from the input) through the encoder,
 * then every line through the strict parser: it must parse, and read back identically
 * (labels after the documented rewrites, values bit for bit, timestamps).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lineproto.h"
#include "lp_strict_parse.h"

struct in {
    const uint8_t *d;
    size_t n;
};

static uint8_t byte(struct in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->d++;
}

static uint64_t u64(struct in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | byte(in);
    return v;
}

static char *str(struct in *in)
{
    size_t len = byte(in) % 40; /* past 16: the encoder escapes tags a word at a time */
    char *s = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        s[i] = (char)byte(in);
        if (!s[i])
            s[i] = 'z';
    }
    s[len] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = {data, size};
    uint8_t flags = byte(&in);
    size_t nseries = 1 + byte(&in) % 4;
    struct kp_series series[4];
    char *strs[4][2 * KP_MAX_LABELS];
    memset(strs, 0, sizeof strs);
    for (size_t i = 0; i < nseries; i++) {
        series[i].nlabels = byte(&in) % 6;
        for (int j = 0; j < series[i].nlabels; j++) {
            strs[i][2 * j] = str(&in);
            strs[i][2 * j + 1] = str(&in);
            series[i].labels[j] = (struct kp_label){strs[i][2 * j], strs[i][2 * j + 1]};
        }
    }
    size_t npoints = byte(&in) % 32;
    struct kp_point pts[32];
    for (size_t i = 0; i < npoints; i++) {
        pts[i].series = byte(&in) % nseries;
        pts[i].metric = byte(&in) % KP_M__COUNT;
        uint64_t v = u64(&in);
        memcpy(&pts[i].v, &v, sizeof v);
        pts[i].ts_ns = (int64_t)u64(&in);
    }
    char *cluster = str(&in);
    struct lp_options o = {.withfields = flags & 1, .cluster_name = (flags & 2) ? cluster : NULL};
    char err[256];
    struct lp_encoder *e = lp_encoder_new(&o, err, sizeof err);
    struct lp_buf buf = {0};
    struct lp_writer w;
    lp_buf_writer(&buf, &w);
    struct lp_result r = {0};
    struct kp_batch b = {series, nseries, pts, npoints, NULL};
    if (lp_encode_batch(e, &b, &w, &r, err, sizeof err) < 0)
        abort();
    size_t line = 0, parsed_points = 0, ok_point = 0;
    for (size_t off = 0; off < buf.len;) {
        char *nl = memchr(buf.data + off, '\n', buf.len - off);
        if (!nl)
            abort();
        struct lps_line l;
        if (lps_parse_line(buf.data + off, (size_t)(nl - buf.data - off), &l, err, sizeof err) < 0)
            abort(); /* the encoder wrote something InfluxDB would misread */
        parsed_points += (size_t)l.nfields;
        if (!o.withfields) {
            /* Find the point this line came from: the next valid one. */
            while (ok_point < npoints) {
                const struct kp_point *p = &pts[ok_point];
                double f = p->v.f;
                if (kp_metrics[p->metric].type == KP_VALUE_FLOAT && (f != f || f - f != 0)) {
                    ok_point++;
                    continue;
                }
                break;
            }
            const struct kp_point *p = &pts[ok_point++];
            if (strcmp(l.measurement, kp_metrics[p->metric].name) != 0 || l.ts != p->ts_ns)
                abort();
            if (kp_metrics[p->metric].type == KP_VALUE_INT) {
                if (l.fields[0].type != LPS_INT || l.fields[0].i != p->v.i)
                    abort();
            } else if (l.fields[0].type != LPS_FLOAT ||
                       memcmp(&l.fields[0].f, &p->v.f, sizeof(double)) != 0) {
                abort();
            }
            /* Tags: the series' usable labels in order, cluster_name aside. */
            const struct kp_series *s = &series[p->series];
            int t = 0;
            for (int j = 0; j < s->nlabels; j++) {
                const struct kp_label *lb = &s->labels[j];
                if (!lb->key[0] || !lb->value[0] || strcmp(lb->key, "time") == 0 ||
                    (o.cluster_name && o.cluster_name[0] && !strcmp(lb->key, "cluster_name")))
                    continue;
                while (t < l.ntags && o.cluster_name && o.cluster_name[0] &&
                       !strcmp(l.tags[t].key, "cluster_name"))
                    t++;
                char k[128], v[128];
                lps_expected(lb->key, k);
                lps_expected(lb->value, v);
                if (t >= l.ntags || strcmp(l.tags[t].key, k) || strcmp(l.tags[t].value, v))
                    abort();
                t++;
            }
        }
        lps_line_fini(&l);
        line++;
        off = (size_t)(nl - buf.data) + 1;
    }
    if (line != r.lines || parsed_points != r.points)
        abort();
    lp_buf_fini(&buf);
    lp_encoder_free(e);
    free(cluster);
    for (size_t i = 0; i < nseries; i++)
        for (int j = 0; j < 2 * KP_MAX_LABELS; j++)
            free(strs[i][j]);
    return 0;
}
