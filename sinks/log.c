/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - owns the "log" sink (--sink=log): the same line protocol as the InfluxDB sinks,
 * written to stdout (or env->out) as each batch arrives. Nothing is buffered.
 */
#include <stdlib.h>
#include <string.h>

#include "lineproto.h"
#include "log.h"
#include "sink_int.h"

struct log_conf {
    bool withfields;
    char *cluster_name;
    bool disable_counter_metrics;
    bool withids;
};

struct log_sink {
    struct sink_scratch sc; /* owned */
    FILE *out;              /* borrowed */
};

#define OFF(f) offsetof(struct log_conf, f)
static const struct kp_opt LOG_OPTS[] = {
    {"withfields", KP_OPT_BOOL, "false", OFF(withfields), "Heapster's withfields layout", 0, 0,
     NULL},
    {"cluster_name", KP_OPT_STRING, "default", OFF(cluster_name), "cluster_name tag on every line",
     0, 0, NULL},
    {"disable_counter_metrics", KP_OPT_BOOL, "false", OFF(disable_counter_metrics),
     "skip cumulative metrics", 0, 0, NULL},
    {"withids", KP_OPT_BOOL, "true", OFF(withids),
     "write the pod_id, namespace_id, hostname and host_id tags (the InfluxDB sinks do not, as "
     "Heapster's)",
     0, 0, NULL},
    {0},
};

static int log_open(struct sink *s, struct uri *u, char *err, size_t errlen)
{
    (void)u; /* sink_check_no_target refused a target */
    struct log_conf *c = s->conf;
    struct log_sink *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct lp_options lo = {.withfields = c->withfields,
                            .skip_cumulative = c->disable_counter_metrics,
                            .cluster_name = c->cluster_name,
                            .drop_ids = !c->withids};
    if (sink_scratch_init(&l->sc, &lo, err, errlen) < 0) {
        free(l);
        return -1;
    }
    l->out = s->env.out ? s->env.out : stdout;
    s->impl = l;
    return 0;
}

static int log_write_batch(struct sink *s, const struct kp_batch *b, char *err, size_t errlen)
{
    struct log_sink *l = s->impl;
    struct lp_result r = {0};
    int rc = sink_scratch_encode(s, &l->sc, b, &r, err, errlen);
    if (rc < 0)
        return rc;
    const struct lp_buf *out = &l->sc.buf;
    if (out->len && fwrite(out->data, 1, out->len, l->out) != out->len) {
        s->stats.failures++;
        s->stats.points_dropped[SINK_DROP_REJECTED] += r.points;
        return 0;
    }
    s->stats.points_written += r.points;
    s->stats.lines_written += r.lines;
    s->stats.bytes_written += out->len;
    return 0;
}

static void log_flush(struct sink *s)
{
    struct log_sink *l = s->impl;
    fflush(l->out);
    sink_flush_done(s, 0);
}

static void log_close(struct sink *s)
{
    struct log_sink *l = s->impl;
    if (!l)
        return;
    fflush(l->out);
    sink_scratch_fini(&l->sc);
    free(l);
    s->impl = NULL;
}

const struct sink_ops sink_log_ops = {
    .prefix = "log",
    .opts = LOG_OPTS,
    .conf_size = sizeof(struct log_conf),
    .check = sink_check_no_target,
    .open = log_open,
    .write = log_write_batch,
    .flush = log_flush,
    .close = log_close,
};
