/*
 * sink.c - owns the sink registry and the parts every sink shares: opening from a URI through
 * the declared option tables, stats, flush bookkeeping, buffer-size parsing and the backoff
 * formula. Sink types live in their own files behind struct sink_ops.
 */
#include "sink_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const struct sink_ops *const SINK_TYPES[] = {&sink_influxdb_ops, &sink_influxdb2_ops,
                                                    &sink_log_ops, &sink_null_ops};

const char *sink_drop_reason_name(enum sink_drop_reason r)
{
    static const char *const names[SINK_DROP__COUNT] = {"buffer_full", "rejected", "too_large",
                                                        "nonfinite",   "invalid",  "shutdown"};
    return (unsigned)r < SINK_DROP__COUNT ? names[r] : "unknown";
}

static int opt_set(const struct sink_opt *o, void *conf, const char *v, char *err, size_t errlen)
{
    char *at = (char *)conf + o->offset;
    switch (o->type) {
    case SINK_OPT_STRING: {
        char **sp = (char **)at;
        free(*sp);
        *sp = v ? strdup(v) : NULL;
        if (v && !*sp) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    case SINK_OPT_BOOL:
        if (uri_parse_bool(v, (bool *)at) < 0) {
            snprintf(err, errlen, "option \"%s\": \"%.64s\" is not a boolean (true or false)",
                     o->name, v);
            return -1;
        }
        return 0;
    case SINK_OPT_LONG: {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (!v[0] || *end || errno || x < o->min || x > o->max) {
            snprintf(err, errlen, "option \"%s\": \"%.64s\" is not an integer in [%ld, %ld]",
                     o->name, v, o->min, o->max);
            return -1;
        }
        *(long *)at = x;
        return 0;
    }
    }
    return -1;
}

int sink_opts_apply(const struct sink_opt *opts, struct uri *u, void *conf, const char *what,
                    char *err, size_t errlen)
{
    for (const struct sink_opt *o = opts; o->name; o++) {
        if ((o->def || o->type == SINK_OPT_STRING) && opt_set(o, conf, o->def, err, errlen) < 0)
            return -1;
        const char *v = uri_get(u, o->name);
        if (v && opt_set(o, conf, v, err, errlen) < 0)
            return -1;
    }
    for (size_t i = 0; i < u->nopts; i++) {
        if (u->opts[i].used)
            continue;
        int n =
            snprintf(err, errlen, "unknown option \"%.64s\" in %s (known:", u->opts[i].key, what);
        for (const struct sink_opt *o = opts; o->name && n > 0 && (size_t)n < errlen; o++)
            n += snprintf(err + n, errlen - (size_t)n, " %s", o->name);
        if (n > 0 && (size_t)n < errlen)
            snprintf(err + n, errlen - (size_t)n, ")");
        return -1;
    }
    return 0;
}

void sink_opts_free(const struct sink_opt *opts, void *conf)
{
    if (!conf || !opts)
        return;
    for (const struct sink_opt *o = opts; o->name; o++) {
        if (o->type == SINK_OPT_STRING) {
            char **sp = (char **)((char *)conf + o->offset);
            free(*sp);
            *sp = NULL;
        }
    }
}

int sink_open(const char *uri, const struct sink_env *env, struct sink **out, char *err,
              size_t errlen)
{
    struct uri u;
    struct sink *s = NULL;
    char e[512] = "";
    *out = NULL;
    if (uri_parse(uri, &u, e, sizeof e) < 0)
        goto fail;
    const struct sink_ops *ops = NULL;
    for (size_t i = 0; i < sizeof SINK_TYPES / sizeof SINK_TYPES[0]; i++) {
        if (strcmp(SINK_TYPES[i]->prefix, u.prefix) == 0)
            ops = SINK_TYPES[i];
    }
    if (!ops) {
        snprintf(e, sizeof e, "unknown sink \"%.64s\" (known: influxdb, influxdb2, log, null)",
                 u.prefix);
        goto fail;
    }
    if (!(s = calloc(1, sizeof *s)) || !(s->conf = calloc(1, ops->conf_size))) {
        snprintf(e, sizeof e, "out of memory");
        goto fail;
    }
    s->ops = ops;
    s->env = *env;
    snprintf(s->name, sizeof s->name, "%s", ops->prefix);
    char what[80];
    snprintf(what, sizeof what, "--sink=%s", ops->prefix);
    if (sink_opts_apply(ops->opts, &u, s->conf, what, e, sizeof e) < 0)
        goto fail;
    if (ops->open(s, &u, e, sizeof e) < 0)
        goto fail;
    uri_fini(&u);
    *out = s;
    return 0;
fail:
    snprintf(err, errlen, "--sink: %s", e);
    if (s && s->impl)
        s->ops->close(s);
    if (s) {
        sink_opts_free(s->ops ? s->ops->opts : NULL, s->ops ? s->conf : NULL);
        free(s->conf);
        free(s);
    }
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
    sink_opts_free(s->ops->opts, s->conf);
    free(s->conf);
    free(s);
}

int sink_parse_buffer_size(const char *s, uint64_t *bound, bool *points)
{
    char *end;
    errno = 0;
    if (!s || !(s[0] >= '0' && s[0] <= '9'))
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || v == 0)
        return -1;
    static const struct {
        const char *suffix;
        unsigned long long mul;
    } units[] = {{"", 1},
                 {"points", 1},
                 {"k", 1000ULL},
                 {"M", 1000000ULL},
                 {"G", 1000000000ULL},
                 {"Ki", 1ULL << 10},
                 {"Mi", 1ULL << 20},
                 {"Gi", 1ULL << 30}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > UINT64_MAX / units[i].mul)
                return -1;
            *bound = v * units[i].mul;
            *points = i == 1;
            return 0;
        }
    }
    return -1;
}

double sink_backoff_delay(unsigned attempt, double base_s, double cap_s, double rnd01)
{
    double d = base_s * ldexp(1.0, attempt > 60 ? 60 : (int)attempt);
    if (d > cap_s)
        d = cap_s;
    if (rnd01 < 0)
        rnd01 = 0;
    if (rnd01 >= 1)
        rnd01 = 0.999999;
    return d * (0.5 + 0.5 * rnd01);
}
