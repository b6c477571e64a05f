/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sink_int.h - what a sink type implements (private to kp_sinks). Like Fluent Bit's output
 * plugins: the core knows a sink only by one struct of callbacks and its declared options.
 */
#ifndef KP_SINKS_SINK_INT_H
#define KP_SINKS_SINK_INT_H

#include "lineproto.h"
#include "optmap.h"
#include "sink.h"
#include "uri.h"

struct sink_ops {
    const char *prefix;        /* "influxdb" */
    const struct kp_opt *opts; /* its URI options, into conf */
    size_t conf_size;
    /* Rules that tie options together or read the URL's target, checked when the flag is
     * parsed (sink_check) and again by sink_open; NULL: none. Touches nothing outside. */
    int (*check)(const void *conf, const struct uri *u, char *err, size_t errlen);
    /* Called after the options are parsed into conf (owned by s). */
    int (*open)(struct sink *s, struct uri *u, char *err, size_t errlen);
    int (*write)(struct sink *s, const struct kp_batch *b, char *err, size_t errlen);
    void (*flush)(struct sink *s); /* deliver; call sink_flush_done when nothing is pending */
    void (*gate_changed)(struct sink *s); /* NULL: the sink keeps nothing to hold back */
    void (*close)(struct sink *s);        /* free impl; count what is left as shutdown drops */
};

struct sink {
    const struct sink_ops *ops;
    struct sink_env env; /* copy; its pointers borrowed */
    void *conf;          /* owned, ops->conf_size bytes */
    void *impl;          /* owned by ops */
    char name[256];
    struct sink_stats stats;
    sink_flush_fn flush_cb;
    void *flush_ud;
    double flush_deadline;
};

/* A check for sinks that take no target ("log", not "log:x"). */
int sink_check_no_target(const void *conf, const struct uri *u, char *err, size_t errlen);

/* Invoke and clear the pending flush callback, if any. */
void sink_flush_done(struct sink *s, int status);

/* Count what the encoder left out of a batch (non-finite, invalid, filtered) in s's stats. */
void sink_count_skipped(struct sink *s, const struct lp_result *r);

/* An encoder and the buffer it fills with one batch at a time: for the sinks that write out
 * or discard each batch at once (log, null). */
struct sink_scratch {
    struct lp_encoder *enc; /* owned */
    struct lp_buf buf;      /* owned, emptied before each batch */
};
int sink_scratch_init(struct sink_scratch *sc, const struct lp_options *o, char *err,
                      size_t errlen);
/* Encode b whole into sc->buf. What was left out is counted in s's stats; r says what was
 * encoded. */
int sink_scratch_encode(struct sink *s, struct sink_scratch *sc, const struct kp_batch *b,
                        struct lp_result *r, char *err, size_t errlen);
void sink_scratch_fini(struct sink_scratch *sc);

extern const struct sink_ops sink_influxdb_ops;
extern const struct sink_ops sink_influxdb2_ops;
extern const struct sink_ops sink_log_ops;
extern const struct sink_ops sink_null_ops;

#endif
