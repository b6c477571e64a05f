/* SPDX-License-Identifier: Apache-2.0 */
/*
 * influxdb_deliver.c - owns delivery for the InfluxDB sinks: encoding batches into the bounded
 * buffer, the pump that keeps at most `concurrency` gzip'd write requests in flight, the
 * verdict on each response (retry with backoff and jitter, Retry-After, split on 413, count
 * and drop on 400, long backoff on 401/403/404), database (re)creation, and flush.
 * Every failure kind is logged once per episode: an episode ends at the next good write.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "influxdb.h"
#include "log.h"
#include "util.h"

#define MAX_RESPONSE_BODY (64 * 1024)
#define LOG_BODY_MAX      300

enum influx_verdict influx_classify(int http_error, long status)
{
    if (http_error)
        return IV_RETRY;
    if (status >= 200 && status < 300)
        return IV_OK;
    if (status == 401 || status == 403)
        return IV_AUTH;
    if (status == 404)
        return IV_NOT_FOUND;
    if (status == 413)
        return IV_SPLIT;
    if (status == 408 || status == 429 || status >= 500 || status < 100)
        return IV_RETRY;
    return IV_REJECT;
}

long influx_parse_dropped(const char *body, size_t len)
{
    static const char key[] = "dropped=";
    if (!body)
        return -1;
    for (size_t i = 0; i + sizeof key - 1 < len; i++) {
        if (memcmp(body + i, key, sizeof key - 1) != 0)
            continue;
        long v = 0;
        size_t j = i + sizeof key - 1, start = j;
        while (j < len && j - start < 12 && body[j] >= '0' && body[j] <= '9')
            v = v * 10 + (body[j++] - '0');
        return j > start ? v : -1;
    }
    return -1;
}

double influx_retry_delay(enum influx_verdict v, unsigned attempt, double retry_after_s,
                          double rnd01)
{
    switch (v) {
    case IV_RETRY:
        if (retry_after_s >= 0)
            return retry_after_s > 600 ? 600 : retry_after_s;
        return kp_backoff_delay(attempt, 0.5, 30, rnd01);
    case IV_AUTH:
    case IV_NOT_FOUND: return kp_backoff_delay(attempt, 10, 300, rnd01);
    default: return 0;
    }
}

static double rnd01(void)
{
    static uint64_t x;
    if (!x)
        x = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(size_t)&x;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return (double)(x >> 11) / 9007199254740992.0;
}

static bool may_send(const struct influx *in)
{
    const struct sink_env *env = &in->s->env;
    return !env->may_send || env->may_send(env->gate_ud);
}

static void sync_stats(struct influx *in)
{
    in->s->stats.points_buffered = in->buf.points;
    in->s->stats.bytes_buffered = in->buf.bytes;
}

void influx_on_drop(void *ud, uint64_t points, uint32_t lines, int64_t ts_min, int64_t ts_max)
{
    struct influx *in = ud;
    in->s->stats.points_dropped[SINK_DROP_BUFFER_FULL] += points;
    if (!in->logged_full) { /* a new episode */
        in->full_points = 0;
        in->full_ts_min = INT64_MAX;
        in->full_ts_max = INT64_MIN;
        in->logged_full = true;
        log_error("sink buffer full: dropping the oldest points (logged once until a write "
                  "succeeds)",
                  LF_STR("sink", in->s->name), LF_INT("points", points), LF_INT("lines", lines),
                  LF_INT("bound", in->buf.bound),
                  LF_STR("unit", in->buf.bound_points ? "points" : "bytes"));
    }
    in->full_points += points;
    if (ts_min < in->full_ts_min)
        in->full_ts_min = ts_min;
    if (ts_max > in->full_ts_max)
        in->full_ts_max = ts_max;
}

static void block_for(struct influx *in, double delay)
{
    struct ev_loop *loop = in->s->env.loop;
    in->blocked_until = ev_now(loop) + delay;
    ev_timer_stop(loop, &in->retry_timer);
    ev_timer_set(&in->retry_timer, delay, 0);
    ev_timer_start(loop, &in->retry_timer);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    influx_pump(w->data);
}

static void flush_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct influx *in = w->data;
    sink_flush_done(in->s, SINK_FLUSH_TIMEOUT);
}

void influx_deliver_init(struct influx *in)
{
    ev_timer_init(&in->retry_timer, retry_cb, 0, 0);
    in->retry_timer.data = in;
    ev_timer_init(&in->flush_timer, flush_timer_cb, 0, 0);
    in->flush_timer.data = in;
}

static void slot_clear(struct influx_req *r)
{
    r->req = NULL;
    r->chunk = NULL;
}

static void format_sample_time(int64_t ns, char *out, size_t outlen)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, outlen, "?");
}

/* Which sample times the episode lost, so an operator (and the soak check) can tell the
 * intervals missing in InfluxDB from those never collected. */
static void log_full_episode(struct influx *in)
{
    char first[32] = "-", last[32] = "-";
    if (in->full_ts_min <= in->full_ts_max) {
        format_sample_time(in->full_ts_min, first, sizeof first);
        format_sample_time(in->full_ts_max, last, sizeof last);
    }
    log_warn("sink buffer drained after an overflow: points of these sample times were dropped",
             LF_STR("sink", in->s->name), LF_INT("points", in->full_points),
             LF_STR("first_sample", first), LF_STR("last_sample", last),
             LF_INT("first_sample_ns", in->full_ts_min <= in->full_ts_max ? in->full_ts_min : 0),
             LF_INT("last_sample_ns", in->full_ts_min <= in->full_ts_max ? in->full_ts_max : 0));
}

/* Cancel every write in flight; its chunk waits in the buffer again, in its place. Returns
 * how many there were. */
static long cancel_writes(struct influx *in)
{
    long n = 0;
    for (long i = 0; in->slots && i < in->nslots; i++) {
        struct influx_req *r = &in->slots[i];
        if (!r->req)
            continue;
        http_request_cancel(r->req);
        sbuf_requeue(&in->buf, r->chunk);
        slot_clear(r);
        n++;
    }
    return n;
}

void influx_deliver_fini(struct influx *in)
{
    struct ev_loop *loop = in->s->env.loop;
    if (in->logged_full) /* an episode still open at shutdown */
        log_full_episode(in);
    http_request_cancel(in->create_req);
    in->create_req = NULL;
    cancel_writes(in);
    if (loop) {
        ev_timer_stop(loop, &in->retry_timer);
        ev_timer_stop(loop, &in->flush_timer);
    }
}

static char *buf_reserve(void *ud, size_t max)
{
    return sbuf_reserve(ud, max);
}
static void buf_commit(void *ud, size_t len, uint32_t npoints)
{
    sbuf_commit(ud, len, npoints);
}

int influx_write(struct sink *s, const struct kp_batch *b, char *err, size_t errlen)
{
    struct influx *in = s->impl;
    struct lp_writer w = {buf_reserve, buf_commit, &in->buf};
    struct lp_result r = {0};
    /* The batch's sample times go with its lines into the buffer's chunks, so that what is
     * dropped can be said by time. */
    in->buf.ts_min = INT64_MAX;
    in->buf.ts_max = INT64_MIN;
    for (size_t i = 0; i < b->npoints; i++) {
        int64_t t = b->points[i].ts_ns;
        if (t < in->buf.ts_min)
            in->buf.ts_min = t;
        if (t > in->buf.ts_max)
            in->buf.ts_max = t;
    }
    int rc = lp_encode_batch(in->enc, b, &w, &r, err, errlen);
    sink_count_skipped(s, &r);
    if (r.no_room) /* lines no room could be made for: counted as the buffer's drops are */
        influx_on_drop(in, r.no_room, 0, in->buf.ts_min, in->buf.ts_max);
    influx_pump(in);
    return rc;
}

static void write_done(const struct http_result *res, void *ud);

/* A POST to InfluxDB: the sink's TLS, a bounded answer, and --sink-timeout (else 10 s) as
 * its deadline. */
static struct http_request_opts influx_post(const struct influx *in, const char *url,
                                            const char *const *headers, const char *body,
                                            size_t body_len, http_done_fn on_done, void *ud)
{
    return (struct http_request_opts){
        .method = "POST",
        .url = url,
        .headers = headers,
        .body = body,
        .body_len = body_len,
        .tls = &in->tls,
        .timeout_ms = (long)(in->s->env.timeout_s > 0 ? in->s->env.timeout_s * 1000 : 10000),
        .max_body = MAX_RESPONSE_BODY,
        .on_done = on_done,
        .ud = ud,
    };
}

static int start_write(struct influx *in, struct influx_req *r, struct sbuf_chunk *chunk)
{
    r->in = in;
    r->chunk = chunk;
    /* Chunks are packed as they are sealed; one that is not (split after a 413, or packing
     * failed) is tried again here, else it goes raw. With gzip=false a chunk the buffer packed
     * to stay within its bound goes plain again (or, when memory is short, gzipped: InfluxDB
     * reads both). */
    if (in->buf.pack)
        sbuf_pack(&in->buf, chunk);
    else if (chunk->packed)
        sbuf_unpack(&in->buf, chunk);
    const char *headers[8];
    int h = 0;
    headers[h++] = in->ua_header;
    headers[h++] = "Content-Type: text/plain; charset=utf-8";
    headers[h++] = "Expect:";
    if (chunk->packed)
        headers[h++] = "Content-Encoding: gzip";
    if (in->auth_header)
        headers[h++] = in->auth_header;
    headers[h] = NULL;
    struct http_request_opts o =
        influx_post(in, in->write_url, headers, chunk->data, chunk->len, write_done, r);
    o.connect_timeout_ms = o.timeout_ms < 5000 ? o.timeout_ms : 5000;
    char err[256] = "";
    if (chunk->attempts++)
        in->s->stats.retries++;
    r->t0 = ev_now(in->s->env.loop);
    in->s->stats.bytes_sent += o.body_len;
    if (!(r->req = http_request_start(in->s->env.http, &o, err, sizeof err))) {
        log_error("cannot start an InfluxDB write", LF_STR("sink", in->s->name), LF_ERR(err));
        sbuf_requeue(&in->buf, chunk);
        slot_clear(r);
        return -1;
    }
    return 0;
}

static void end_episode(struct influx *in)
{
    if (in->logged_full)
        log_full_episode(in);
    if (in->logged_net || in->logged_auth || in->logged_notfound)
        log_info("InfluxDB writes succeed again", LF_STR("sink", in->s->name));
    in->logged_full = in->logged_reject = in->logged_auth = false;
    in->logged_notfound = in->logged_net = false;
    in->attempt = 0;
}

static void on_reject(struct influx *in, struct sbuf_chunk *c, const struct http_result *res)
{
    long dropped = influx_parse_dropped(res->body, res->body_len);
    uint64_t rejected =
        dropped >= 0 && (uint64_t)dropped <= c->points ? (uint64_t)dropped : c->points;
    in->s->stats.points_dropped[SINK_DROP_REJECTED] += rejected;
    in->s->stats.points_written += c->points - rejected;
    if (!in->logged_reject) {
        in->logged_reject = true;
        char body[LOG_BODY_MAX + 1] = "";
        if (res->body)
            snprintf(body, sizeof body, "%.*s", (int)res->body_len, res->body);
        char first[LOG_BODY_MAX + 1];
        sbuf_first_line(c, first, sizeof first);
        log_error("InfluxDB rejected points; not retrying them (logged once per episode)",
                  LF_STR("sink", in->s->name), LF_INT("status", res->status),
                  LF_INT("rejected", rejected), LF_STR("server_error", body),
                  LF_STR("first_line_of_batch", first));
    }
}

static void on_failure(struct influx *in, enum influx_verdict v, const struct http_result *res)
{
    struct sink *s = in->s;
    const struct influx_conf *c = s->conf;
    if (v == IV_AUTH) {
        s->stats.auth_failures++;
        if (!in->logged_auth) {
            in->logged_auth = true;
            log_error("InfluxDB refused the credentials: check user/pw (or pwFile) or the "
                      "token; retrying slowly",
                      LF_STR("sink", s->name), LF_INT("status", res->status));
        }
    } else if (v == IV_NOT_FOUND) {
        s->stats.not_found++;
        if (!in->v2 && c->createdb && !in->create_forbidden && in->create_body) {
            in->creating = true;
        } else if (!in->logged_notfound) {
            in->logged_notfound = true;
            log_error(in->v2 ? "InfluxDB bucket or org not found"
                             : "InfluxDB database does not exist and kubepulse may not create "
                               "it: create it or grant the user admin rights",
                      LF_STR("sink", s->name), LF_STR("database", in->v2 ? c->bucket : c->db),
                      LF_INT("status", res->status));
        }
    } else if (!in->logged_net) {
        in->logged_net = true;
        log_warn("InfluxDB write failed; retrying with backoff (logged once per episode)",
                 LF_STR("sink", s->name), LF_INT("status", res->status),
                 LF_ERR(res->error ? http_error_name(res->error) : ""),
                 LF_STR("detail", res->error_msg ? res->error_msg : ""));
    }
    block_for(in, influx_retry_delay(v, in->attempt++, res->retry_after_s, rnd01()));
}

static void write_done(const struct http_result *res, void *ud)
{
    struct influx_req *r = ud;
    struct influx *in = r->in;
    struct sink *s = in->s;
    struct sbuf_chunk *c = r->chunk;
    slot_clear(r);
    s->stats.requests++;
    s->stats.last_status = res->status;
    s->stats.last_latency_s = res->total_time_s;
    kp_hist_observe(&s->stats.write_duration, res->total_time_s);
    enum influx_verdict v = influx_classify(res->error, res->status);
    if (v != IV_OK)
        s->stats.failures++;
    switch (v) {
    case IV_OK:
        s->stats.points_written += c->points;
        s->stats.lines_written += c->lines;
        s->stats.bytes_written += c->raw_len;
        sbuf_release(&in->buf, c);
        end_episode(in);
        break;
    case IV_REJECT:
        on_reject(in, c, res);
        sbuf_release(&in->buf, c);
        break;
    case IV_SPLIT:
        if (sbuf_split(&in->buf, c) < 0) {
            s->stats.points_dropped[SINK_DROP_TOO_LARGE] += c->points;
            log_error("InfluxDB refuses a single line as too large (413); dropped",
                      LF_STR("sink", s->name), LF_INT("bytes", c->raw_len));
            sbuf_release(&in->buf, c);
        } else {
            sbuf_requeue(&in->buf, c);
        }
        break;
    default:
        sbuf_requeue(&in->buf, c);
        on_failure(in, v, res);
        break;
    }
    sync_stats(in);
    influx_pump(in);
}

static void create_done(const struct http_result *res, void *ud)
{
    struct influx *in = ud;
    const struct influx_conf *c = in->s->conf;
    in->create_req = NULL;
    const char *body = res->body ? res->body : "";
    if (res->error || res->status >= 500 || res->status == 0) {
        if (!in->logged_net) {
            in->logged_net = true;
            log_warn("cannot reach InfluxDB to create the database; retrying with backoff",
                     LF_STR("sink", in->s->name),
                     LF_ERR(res->error ? http_error_name(res->error) : ""),
                     LF_INT("status", res->status));
        }
        block_for(in, influx_retry_delay(IV_RETRY, in->attempt++, res->retry_after_s, rnd01()));
        return;
    }
    in->creating = false;
    if (res->status == 401 || res->status == 403 || strstr(body, "requires admin") ||
        strstr(body, "not authorized")) {
        in->create_forbidden = true;
        log_warn("not allowed to create the InfluxDB database; assuming it exists",
                 LF_STR("sink", in->s->name), LF_STR("database", c->db),
                 LF_INT("status", res->status));
    } else if (strstr(body, "\"error\"") && !strstr(body, "already exists") &&
               !strstr(body, "conflict")) {
        char msg[LOG_BODY_MAX + 1];
        snprintf(msg, sizeof msg, "%.*s", (int)res->body_len, body);
        log_warn("InfluxDB could not create the database", LF_STR("sink", in->s->name),
                 LF_STR("database", c->db), LF_STR("server_error", msg));
    } else {
        log_info("InfluxDB database ready", LF_STR("sink", in->s->name), LF_STR("database", c->db),
                 LF_STR("retention", c->retention));
    }
    influx_pump(in);
}

void influx_create_db(struct influx *in)
{
    const char *headers[] = {in->ua_header, "Content-Type: application/x-www-form-urlencoded",
                             in->auth_header, NULL};
    struct http_request_opts o = influx_post(in, in->query_url, headers, in->create_body,
                                             strlen(in->create_body), create_done, in);
    char err[256] = "";
    if (!(in->create_req = http_request_start(in->s->env.http, &o, err, sizeof err))) {
        log_error("cannot start the database creation", LF_STR("sink", in->s->name), LF_ERR(err));
        in->creating = false;
    }
}

static bool idle(const struct influx *in)
{
    for (long i = 0; i < in->nslots; i++) {
        if (in->slots[i].req)
            return false;
    }
    return sbuf_empty(&in->buf);
}

void influx_pump(struct influx *in)
{
    struct ev_loop *loop = in->s->env.loop;
    if (ev_now(loop) >= in->blocked_until) {
        if (in->creating) {
            if (!in->create_req)
                influx_create_db(in);
        } else {
            for (long i = 0; i < in->nslots && may_send(in); i++) {
                if (in->slots[i].req)
                    continue;
                struct sbuf_chunk *c = sbuf_take(&in->buf, true);
                if (!c || start_write(in, &in->slots[i], c) < 0)
                    break;
            }
        }
    }
    sync_stats(in);
    if (in->s->flush_cb) {
        bool done = idle(in);
        if (done || !may_send(in)) {
            ev_timer_stop(loop, &in->flush_timer);
            sink_flush_done(in->s, done ? 0 : SINK_FLUSH_HELD);
        }
    }
}

void influx_gate_changed(struct sink *s)
{
    struct influx *in = s->impl;
    if (may_send(in)) {
        if (in->held && in->buf.points)
            log_info("leading again: sending the points held since leadership was lost",
                     LF_STR("sink", s->name), LF_INT("points", in->buf.points));
        in->held = false;
        s->stats.held = false;
        influx_pump(in);
        return;
    }
    long cancelled = cancel_writes(in); /* not one more byte */
    if (!in->held && in->buf.points)
        log_warn("not leading: sink holds its buffered points until this replica leads again",
                 LF_STR("sink", s->name), LF_INT("points", in->buf.points),
                 LF_INT("requests_cancelled", cancelled));
    in->held = true;
    s->stats.held = in->buf.points > 0;
    sbuf_drop_spares(&in->buf); /* a follower writes nothing: give the memory back */
    influx_pump(in);            /* a flush waiting on those requests ends now */
}

void influx_flush(struct sink *s)
{
    struct influx *in = s->impl;
    struct ev_loop *loop = s->env.loop;
    double left = s->flush_deadline - ev_now(loop);
    ev_timer_stop(loop, &in->flush_timer);
    if (left <= 0 && !idle(in)) {
        sink_flush_done(s, SINK_FLUSH_TIMEOUT);
        return;
    }
    ev_timer_set(&in->flush_timer, left > 0 ? left : 0, 0);
    ev_timer_start(loop, &in->flush_timer);
    influx_pump(in);
}
