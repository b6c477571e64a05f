/* SPDX-License-Identifier: Apache-2.0 */
/*
 * influxdb.h - state shared by the two halves of the InfluxDB sinks (private to kp_sinks):
 * influxdb.c (options, URLs, credentials, database creation) and influxdb_deliver.c (the
 * buffer pump: batching, gzip, retries, flush).
 */
#ifndef KP_SINKS_INFLUXDB_H
#define KP_SINKS_INFLUXDB_H

#include <ev.h>

#include "http.h"
#include "lineproto.h"
#include "sink_buffer.h"
#include "sink_int.h"

struct influx_conf {
    /* Heapster's options (docs/sink-configuration.md) */
    char *user, *pw, *db, *retention, *cluster_name;
    bool secure, insecuressl, withfields, disable_counter_metrics;
    bool withids;     /* kubepulse's: also write the four id tags Heapster's sink dropped */
    long concurrency; /* 0: --sink-concurrency */
    /* kubepulse's */
    char *pw_file, *pw_env, *rp;
    bool createdb, gzip;
    /* influxdb2 */
    char *org, *bucket, *token_file, *token_env;
};

enum influx_verdict { IV_OK, IV_RETRY, IV_REJECT, IV_SPLIT, IV_AUTH, IV_NOT_FOUND };
/* Pure: what to do with a write's outcome. */
enum influx_verdict influx_classify(int http_error, long status);
/* Pure: the "dropped=N" of a 1.x partial-write error body, or -1. */
long influx_parse_dropped(const char *body, size_t len);
/* Pure: the delay before the next attempt. retry_after_s < 0 when absent. */
double influx_retry_delay(enum influx_verdict v, unsigned attempt, double retry_after_s,
                          double rnd01);

struct influx_req {
    struct influx *in;
    struct sbuf_chunk *chunk; /* borrowed from the buffer, in flight: packed (gzip) or raw */
    struct http_request *req; /* NULL when the slot is free */
    double t0;
};

struct influx {
    struct sink *s; /* borrowed back-pointer */
    bool v2;
    char *write_url;   /* owned */
    char *query_url;   /* owned (v1) */
    char *auth_header; /* owned "Authorization: ...": never logged */
    char *ua_header;   /* owned */
    struct http_tls tls;
    struct lp_encoder *enc; /* owned */
    struct sbuf buf;
    struct influx_req *slots; /* owned, nslots */
    long nslots;
    /* database creation (v1) */
    bool creating;
    bool create_forbidden;
    struct http_request *create_req;
    char *create_body; /* owned "q=..." */
    /* backoff */
    ev_timer retry_timer;
    double blocked_until;
    unsigned attempt;
    bool held; /* the gate was closed at the last sink_gate_changed */
    /* once-per-episode logging */
    bool logged_full, logged_reject, logged_auth, logged_notfound, logged_net;
    /* the buffer-full episode, summed for its closing log line */
    uint64_t full_points;
    int64_t full_ts_min, full_ts_max;
    ev_timer flush_timer;
};

void influx_pump(struct influx *in);
/* sbuf drop hook */
void influx_on_drop(void *ud, uint64_t points, uint32_t lines, int64_t ts_min, int64_t ts_max);
void influx_deliver_init(struct influx *in);
void influx_deliver_fini(struct influx *in);
int influx_write(struct sink *s, const struct kp_batch *b, char *err, size_t errlen);
void influx_flush(struct sink *s);
void influx_gate_changed(struct sink *s);
void influx_create_db(struct influx *in);

#endif
