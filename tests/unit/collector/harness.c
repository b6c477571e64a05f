/* SPDX-License-Identifier: Apache-2.0 */
/*
 * harness.c - see harness.h.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct rec h_recs[8192];
size_t h_nrecs;
int h_order_violations;

void h_reset(void)
{
    h_nrecs = 0;
    h_order_violations = 0;
}

void h_collect(const struct kp_batch *b, void *ud)
{
    (void)ud;
    for (size_t i = 0; i < b->npoints; i++) {
        const struct kp_point *p = &b->points[i];
        assert_true(p->series < b->nseries);
        /* ordering contract: a (series, ts) run is contiguous, metric ids ascend */
        if (i > 0) {
            const struct kp_point *q = &b->points[i - 1];
            int same = q->series == p->series && q->ts_ns == p->ts_ns;
            if (same && q->metric >= p->metric)
                h_order_violations++;
            for (size_t j = 0; !same && j + 1 < i; j++)
                if (b->points[j].series == p->series && b->points[j].ts_ns == p->ts_ns)
                    h_order_violations++;
        }
        const struct kp_series *s = &b->series[p->series];
        struct rec *r = &h_recs[h_nrecs++];
        assert_true(h_nrecs < sizeof(h_recs) / sizeof(h_recs[0]));
        size_t off = 0;
        r->series[0] = '\0';
        for (int l = 0; l < s->nlabels; l++) {
            if (l > 0)
                assert_true(strcmp(s->labels[l - 1].key, s->labels[l].key) < 0);
            off += (size_t)snprintf(r->series + off, sizeof(r->series) - off, "%s%s=%s",
                                    l ? "," : "", s->labels[l].key, s->labels[l].value);
        }
        r->metric = p->metric;
        r->ts = p->ts_ns;
        r->sampled = b->sampled_ns ? b->sampled_ns[p->series] : -1;
        if (kp_metrics[p->metric].type == KP_VALUE_INT)
            r->i = p->v.i;
        else
            r->f = p->v.f;
    }
}

char *h_read_fixture(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/fixtures/%s", KP_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int h_scrape(struct model *m, struct summary_parser *p, const char *data, size_t len,
             const struct model_node_info *ni, size_t chunk, char *err, size_t errlen)
{
    static const struct summary_handlers hs = {.node = model_node_on_node,
                                               .pod = model_node_on_pod};
    struct model_node *mn = model_node_new(m, h_collect, NULL);
    assert_non_null(mn);
    model_node_begin(mn, ni);
    summary_parse_reset(p, &hs, mn);
    int rc = 0;
    if (!chunk)
        chunk = len ? len : 1;
    for (size_t off = 0; off < len && rc == 0; off += chunk)
        rc = summary_parse_feed(p, data + off, len - off < chunk ? len - off : chunk, err, errlen);
    if (rc == 0)
        rc = summary_parse_finish(p, err, errlen);
    if (rc == 0)
        model_node_finish(mn);
    model_node_free(mn);
    return rc;
}

static int rec_matches(const struct rec *r, const char *query)
{
    char q[512];
    snprintf(q, sizeof(q), "%s", query);
    for (char *save = NULL, *tok = strtok_r(q, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t n = strlen(tok);
        const char *s = r->series;
        int found = 0;
        while ((s = strstr(s, tok))) {
            if ((s == r->series || s[-1] == ',') && (s[n] == ',' || s[n] == '\0')) {
                found = 1;
                break;
            }
            s += n;
        }
        if (!found)
            return 0;
    }
    return 1;
}

const struct rec *h_find(const char *query, int metric)
{
    const struct rec *hit = NULL;
    for (size_t i = 0; i < h_nrecs; i++) {
        if (h_recs[i].metric != metric || !rec_matches(&h_recs[i], query))
            continue;
        if (hit)
            fail_msg("several points for %s %s", query, kp_metrics[metric].name);
        hit = &h_recs[i];
    }
    return hit;
}

/* The one point of query and metric, a metric of value type type; fails the test otherwise. */
static const struct rec *h_point(const char *query, int metric, int type)
{
    const struct rec *r = h_find(query, metric);
    if (!r)
        fail_msg("no point for %s %s", query, kp_metrics[metric].name);
    assert_int_equal(kp_metrics[metric].type, type);
    return r;
}

int64_t h_int(const char *query, int metric)
{
    return h_point(query, metric, KP_VALUE_INT)->i;
}

double h_float(const char *query, int metric)
{
    return h_point(query, metric, KP_VALUE_FLOAT)->f;
}

size_t h_count(const char *query)
{
    size_t n = 0;
    for (size_t i = 0; i < h_nrecs; i++)
        n += rec_matches(&h_recs[i], query);
    return n;
}

/* The pod cache of the fixtures. */
static const struct model_pod_container pa_c[] = {
    {"app", "nginx:1.25", 250, 500, 134217728, 268435456}, /* 128Mi, 256Mi */
    {"sidecar", "envoy:1.0", 100, 0, 67108864, 0},         /* 64Mi */
};
static const struct model_pod_info pa = {
    "ns-default-uid", "app:web,tier:front", 350, 500, 201326592, 268435456, pa_c, 2, NULL};
static const struct model_pod_container pb_c[] = {
    {"db", "postgres:16", 1000, 2000, 1073741824, 2147483648},
};
static const struct model_pod_info pb = {"ns-prod-uid", "app:db", 1000, 2000, 1073741824,
                                         2147483648,    pb_c,     1,    NULL};
static const struct model_pod_container pc_c[] = {{"job", "busybox", 200, 0, 0, 0}};
static const struct model_pod_info pc = {"ns-default-uid", "", 200, 0, 0, 0, pc_c, 1, NULL};

const struct model_pod_info *h_lookup(const char *uid, const char *ns, const char *name, void *ud)
{
    (void)ud;
    (void)ns;
    (void)name;
    if (strcmp(uid, "uid-a") == 0)
        return &pa;
    if (strcmp(uid, "uid-b") == 0)
        return &pb;
    if (strcmp(uid, "uid-c") == 0)
        return &pc;
    return NULL;
}
