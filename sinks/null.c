/* SPDX-License-Identifier: Apache-2.0 */
/*
 * null.c - owns the "null" sink (--sink=null), for benchmarks: it counts the points handed to
 * it as written and keeps nothing. With encode=true (the default) each batch is first encoded
 * to line protocol into a scratch buffer that is then discarded, so the daemon's CPU includes
 * the encoder as it would with InfluxDB; encode=false measures collection alone.
 * withfields= and withids= choose the layout as on influxdb: (withids defaults to true here, the
 * output before the option; influxdb: defaults to false). The first batch is logged, so
 * failover benchmarks can time "first write" from the log.
 */
#include <stdlib.h>
#include <string.h>

#include "lineproto.h"
#include "log.h"
#include "sink_int.h"

struct null_conf {
    bool encode;
    bool withfields;
    bool withids;
    char *cluster_name;
};

struct null_sink {
    struct sink_scratch sc; /* owned; sc.enc NULL when encode=false */
    bool wrote;             /* the first batch has been logged */
};

#define OFF(f) offsetof(struct null_conf, f)
static const struct kp_opt NULL_OPTS[] = {
    {"encode", KP_OPT_BOOL, "true", OFF(encode), "encode line protocol, then discard it", 0, 0,
     NULL},
    {"cluster_name", KP_OPT_STRING, "default", OFF(cluster_name),
     "cluster_name tag (when encoding)", 0, 0, NULL},
    {"withfields", KP_OPT_BOOL, "false", OFF(withfields),
     "encode Heapster's withfields layout, as influxdb:?withfields=true writes it", 0, 0, NULL},
    /* true keeps the null sink's output what it was before the option; influxdb: defaults to
     * false, so withids=false encodes exactly what it writes */
    {"withids", KP_OPT_BOOL, "true", OFF(withids),
     "encode the pod_id, namespace_id, hostname and host_id tags", 0, 0, NULL},
    {0},
};

static int null_open(struct sink *s, struct uri *u, char *err, size_t errlen)
{
    (void)u; /* sink_check_no_target refused a target */
    struct null_conf *c = s->conf;
    struct null_sink *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct lp_options lo = {
        .cluster_name = c->cluster_name, .withfields = c->withfields, .drop_ids = !c->withids};
    if (c->encode && sink_scratch_init(&n->sc, &lo, err, errlen) < 0) {
        free(n);
        return -1;
    }
    s->impl = n;
    return 0;
}

static int null_write_batch(struct sink *s, const struct kp_batch *b, char *err, size_t errlen)
{
    struct null_sink *n = s->impl;
    size_t points = b->npoints, lines = b->npoints;
    if (n->sc.enc) {
        struct lp_result r = {0};
        if (sink_scratch_encode(s, &n->sc, b, &r, err, errlen) < 0)
            return -1;
        s->stats.bytes_written += n->sc.buf.len;
        points = r.points;
        lines = r.lines;
    }
    if (!n->wrote && points) {
        n->wrote = true;
        log_info("null sink: first batch", LF_INT("points", points));
    }
    s->stats.points_written += points;
    s->stats.lines_written += lines;
    return 0;
}

static void null_flush(struct sink *s)
{
    sink_flush_done(s, 0);
}

static void null_close(struct sink *s)
{
    struct null_sink *n = s->impl;
    if (!n)
        return;
    sink_scratch_fini(&n->sc);
    free(n);
    s->impl = NULL;
}

const struct sink_ops sink_null_ops = {
    .prefix = "null",
    .opts = NULL_OPTS,
    .conf_size = sizeof(struct null_conf),
    .check = sink_check_no_target,
    .open = null_open,
    .write = null_write_batch,
    .flush = null_flush,
    .close = null_close,
};
