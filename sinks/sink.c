/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sink.c - owns the sink registry and the parts every sink shares: opening from a URI through
 * the declared option maps (optmap.h), the flag-time check, stats, flush bookkeeping, the
 * buffer-size option (bytes or points) and the counting of what the encoder leaves out. Sink
 * types live in their own files behind struct sink_ops.
 */
#include "sink_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lineproto.h"
#include "util.h"

static const struct sink_ops *const SINK_TYPES[] = {&sink_influxdb_ops, &sink_influxdb2_ops,
                                                    &sink_log_ops, &sink_null_ops};

const char *sink_drop_reason_name(enum sink_drop_reason r)
{
    static const char *const names[SINK_DROP__COUNT] = {"buffer_full", "rejected", "too_large",
                                                        "nonfinite",   "invalid",  "shutdown"};
    return (unsigned)r < SINK_DROP__COUNT ? names[r] : "unknown";
}

static const struct sink_ops *find_type(const char *prefix)
{
    for (size_t i = 0; i < sizeof SINK_TYPES / sizeof SINK_TYPES[0]; i++)
        if (strcmp(SINK_TYPES[i]->prefix, prefix) == 0)
            return SINK_TYPES[i];
    return NULL;
}

/* Parse uri into u and a new conf of its type, options checked; everything sink_open needs
 * before it touches anything outside. */
static int parse_conf(const char *uri, struct uri *u, const struct sink_ops **ops, void **conf,
                      char *e, size_t elen)
{
    char what[80];
    *ops = NULL;
    *conf = NULL;
    if (uri_parse(uri, u, e, elen) < 0)
        return -1;
    if (!(*ops = find_type(u->prefix))) {
        snprintf(e, elen, "unknown sink \"%.64s\" (known: influxdb, influxdb2, log, null)",
                 u->prefix);
        return -1;
    }
    if (!(*conf = calloc(1, (*ops)->conf_size))) {
        snprintf(e, elen, "out of memory");
        return -1;
    }
    snprintf(what, sizeof what, "--sink=%s", (*ops)->prefix);
    if (kp_opts_apply_uri((*ops)->opts, u, *conf, what, NULL, e, elen) < 0)
        return -1;
    return (*ops)->check ? (*ops)->check(*conf, u, e, elen) : 0;
}

static void free_conf(const struct sink_ops *ops, void *conf)
{
    if (ops)
        kp_opts_free(ops->opts, conf);
    free(conf);
}

int sink_check_no_target(const void *conf, const struct uri *u, char *err, size_t errlen)
{
    (void)conf;
    if (u->target[0]) {
        snprintf(err, errlen, "--sink=%s takes no target (got \"%.64s\")", u->prefix, u->target);
        return -1;
    }
    return 0;
}

int sink_check(const char *uri, char *err, size_t errlen)
{
    struct uri u;
    const struct sink_ops *ops;
    void *conf;
    char e[512] = "";
    int rc = parse_conf(uri, &u, &ops, &conf, e, sizeof e);
    if (rc < 0)
        snprintf(err, errlen, "--sink: %s", e);
    free_conf(ops, conf);
    uri_fini(&u);
    return rc;
}

void sink_print_options(FILE *out)
{
    for (size_t i = 0; i < sizeof SINK_TYPES / sizeof SINK_TYPES[0]; i++) {
        fprintf(out, "\n--sink=%s%s options (?name=value&...):\n", SINK_TYPES[i]->prefix,
                SINK_TYPES[i] == &sink_influxdb_ops || SINK_TYPES[i] == &sink_influxdb2_ops ? ":URL"
                                                                                            : "");
        kp_opts_print(SINK_TYPES[i]->opts, out, "", 40);
    }
}

int sink_open(const char *uri, const struct sink_env *env, struct sink **out, char *err,
              size_t errlen)
{
    struct uri u;
    const struct sink_ops *ops;
    void *conf;
    struct sink *s = NULL;
    char e[512] = "";
    *out = NULL;
    if (parse_conf(uri, &u, &ops, &conf, e, sizeof e) < 0)
        goto fail;
    if (!(s = calloc(1, sizeof *s))) {
        snprintf(e, sizeof e, "out of memory");
        goto fail;
    }
    s->ops = ops;
    s->conf = conf;
    s->env = *env;
    kp_hist_init(&s->stats.write_duration, KP_HIST_REQUEST_S, KP_HIST_REQUEST_N);
    snprintf(s->name, sizeof s->name, "%s", ops->prefix);
    if (ops->open(s, &u, e, sizeof e) < 0)
        goto fail;
    uri_fini(&u);
    *out = s;
    return 0;
fail:
    snprintf(err, errlen, "--sink: %s", e);
    if (s && s->impl)
        s->ops->close(s);
    free_conf(ops, conf);
    free(s);
    uri_fini(&u);
    return -1;
}

int sink_write(struct sink *s, const struct kp_batch *b, char *err, size_t errlen)
{
    return s->ops->write(s, b, err, errlen);
}

void sink_flush_done(struct sink *s, int status)
{
    sink_flush_fn cb = s->flush_cb;
    void *ud = s->flush_ud;
    s->flush_cb = NULL;
    s->flush_ud = NULL;
    if (cb)
        cb(s, status, ud);
}

void sink_flush(struct sink *s, double deadline_s, sink_flush_fn done_cb, void *ud)
{
    s->flush_cb = done_cb;
    s->flush_ud = ud;
    s->flush_deadline = deadline_s;
    s->ops->flush(s);
}

void sink_gate_changed(struct sink *s)
{
    if (s->ops->gate_changed)
        s->ops->gate_changed(s);
}

void sink_get_stats(const struct sink *s, struct sink_stats *st)
{
    *st = s->stats;
    st->points_rejected = s->stats.points_dropped[SINK_DROP_REJECTED];
}

const char *sink_name(const struct sink *s)
{
    return s->name;
}

void sink_free(struct sink *s)
{
    if (!s)
        return;
    s->flush_cb = NULL;
    s->ops->close(s);
    free_conf(s->ops, s->conf);
    free(s);
}

int sink_parse_buffer_size(const char *s, uint64_t *bound, bool *points)
{
    static const char word[] = "points";
    char num[32];
    size_t n = s ? strlen(s) : 0;
    *points = n > strlen(word) && strcmp(s + n - strlen(word), word) == 0;
    if (*points) { /* digits only before the word: "2kpoints" is not a count */
        n -= strlen(word);
        if (n >= sizeof(num) || strspn(s, "0123456789") != n)
            return -1;
        memcpy(num, s, n);
        num[n] = '\0';
        s = num;
    }
    if (kp_parse_size(s, bound) < 0 || *bound == 0)
        return -1;
    return 0;
}

void sink_count_skipped(struct sink *s, const struct lp_result *r)
{
    s->stats.points_dropped[SINK_DROP_NONFINITE] += r->nonfinite;
    s->stats.points_dropped[SINK_DROP_INVALID] += r->invalid;
    s->stats.points_filtered += r->filtered;
}

int sink_scratch_init(struct sink_scratch *sc, const struct lp_options *o, char *err, size_t errlen)
{
    memset(sc, 0, sizeof(*sc));
    sc->enc = lp_encoder_new(o, err, errlen);
    return sc->enc ? 0 : -1;
}

int sink_scratch_encode(struct sink *s, struct sink_scratch *sc, const struct kp_batch *b,
                        struct lp_result *r, char *err, size_t errlen)
{
    struct lp_writer w;
    sc->buf.len = 0;
    lp_buf_writer(&sc->buf, &w);
    int rc = lp_encode_batch(sc->enc, b, &w, r, err, errlen);
    sink_count_skipped(s, r);
    s->stats.points_dropped[SINK_DROP_BUFFER_FULL] += r->no_room;
    return rc;
}

void sink_scratch_fini(struct sink_scratch *sc)
{
    lp_encoder_free(sc->enc);
    lp_buf_fini(&sc->buf);
    memset(sc, 0, sizeof(*sc));
}
