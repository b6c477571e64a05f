/* SPDX-License-Identifier: Apache-2.0 */
/*
 * optmap.c - owns the option map (optmap.h): setting a typed value at its offset with its
 * bounds and check, defaults, freeing, the unknown-option check for URIs, help lines, and the
 * duration and boolean grammars every option shares.
 */
#include "optmap.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"
#include "util.h"

int kp_parse_duration(const char *s, double *seconds)
{
    static const struct {
        const char *unit;
        double scale;
    } units[] = {
        {"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600},
    };
    double total = 0;
    const char *p = s;

    if (!s || !*s)
        return -1;
    if (strcmp(s, "0") == 0) {
        *seconds = 0;
        return 0;
    }
    while (*p) {
        char *end;
        size_t best = 0;
        double scale = 0;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v))
            return -1;
        p = end;
        /* Longest unit that matches ("ms" before "m"). */
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t n = strlen(units[i].unit);
            if (n > best && strncmp(p, units[i].unit, n) == 0) {
                best = n;
                scale = units[i].scale;
            }
        }
        if (!best)
            return -1;
        p += best;
        total += v * scale;
    }
    if (!isfinite(total) || total > 1e9)
        return -1;
    *seconds = total;
    return 0;
}

int kp_parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True", "yes"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False", "no"};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* A size as kp_parse_size reads it ("64Mi", "1G", "4096"), within a long long. */
static int parse_size(const char *s, long long *out)
{
    uint64_t v;
    if (kp_parse_size(s, &v) < 0 || v > LLONG_MAX)
        return -1;
    *out = (long long)v;
    return 0;
}

static bool name_eq(const char *a, const char *b, size_t n, bool dash_eq)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (!x)
            return false;
        if (dash_eq) {
            x = x == '_' ? '-' : x;
            y = y == '_' ? '-' : y;
        }
        if (x != y)
            return false;
    }
    return a[n] == '\0';
}

const struct kp_opt *kp_opts_find(const struct kp_opt *tab, const char *name, size_t n,
                                  bool dash_eq)
{
    for (const struct kp_opt *o = tab; o->name; o++)
        if (name_eq(o->name, name, n, dash_eq))
            return o;
    return NULL;
}

void kp_strlist_clear(struct kp_strlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
        l->v[i] = NULL;
    }
    l->n = 0;
}

static int set_number(const struct kp_opt *o, void *at, const char *v, const char *where, char *err,
                      size_t errlen)
{
    if (o->type == KP_OPT_INT) {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (!v[0] || *end || errno || x < (long)o->min || x > (long)o->max) {
            snprintf(err, errlen, "%s: invalid value \"%.64s\" (an integer from %ld to %ld)", where,
                     v, (long)o->min, (long)o->max);
            return -1;
        }
        *(long *)at = x;
        return 0;
    }
    double d;
    if (kp_parse_duration(v, &d) < 0) {
        snprintf(err, errlen, "%s: invalid duration \"%.64s\" (e.g. 500ms, 15s, 1m)", where, v);
        return -1;
    }
    if (o->max > 0 && (d < o->min || d > o->max)) {
        snprintf(err, errlen, "%s: %.64s is out of range (from %gs to %gs)", where, v, o->min,
                 o->max);
        return -1;
    }
    *(double *)at = d;
    return 0;
}

int kp_opt_set(const struct kp_opt *o, void *conf, const char *v, const char *where, char *err,
               size_t errlen)
{
    char *at = (char *)conf + o->offset;
    if (v && o->check && o->check(v, err, errlen) < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err);
        snprintf(err, errlen, "%s: %s", where, msg);
        return -1;
    }
    switch (o->type) {
    case KP_OPT_STRING: {
        char **sp = (char **)at;
        char *copy = v ? strdup(v) : NULL;
        if (v && !copy)
            goto oom;
        free(*sp);
        *sp = copy;
        return 0;
    }
    case KP_OPT_LIST: {
        struct kp_strlist *l = (struct kp_strlist *)at;
        size_t max = o->max > 0 && o->max < KP_STRLIST_MAX ? (size_t)o->max : KP_STRLIST_MAX;
        if (!v || !*v)
            return 0;
        if (l->n >= max) {
            snprintf(err, errlen, "%s: at most %zu values are allowed", where, max);
            return -1;
        }
        if (!(l->v[l->n] = strdup(v)))
            goto oom;
        l->n++;
        return 0;
    }
    case KP_OPT_BOOL:
        if (kp_parse_bool(v, (bool *)at) < 0) {
            snprintf(err, errlen, "%s: invalid boolean \"%.64s\" (use true or false)", where, v);
            return -1;
        }
        return 0;
    case KP_OPT_INT:
    case KP_OPT_DURATION: return set_number(o, at, v, where, err, errlen);
    case KP_OPT_SIZE:
        if (parse_size(v, (long long *)at) < 0) {
            snprintf(err, errlen, "%s: invalid size \"%.64s\" (e.g. 4096, 64Ki, 64Mi, 1Gi)", where,
                     v);
            return -1;
        }
        return 0;
    }
    snprintf(err, errlen, "%s: unknown option type", where);
    return -1;
oom:
    snprintf(err, errlen, "%s: out of memory", where);
    return -1;
}

int kp_opts_defaults(const struct kp_opt *tab, void *conf, char *err, size_t errlen)
{
    for (const struct kp_opt *o = tab; o->name; o++) {
        char where[96];
        if (o->type == KP_OPT_LIST) {
            kp_strlist_clear((struct kp_strlist *)((char *)conf + o->offset));
            continue;
        }
        if (!o->def && o->type != KP_OPT_STRING)
            continue;
        snprintf(where, sizeof where, "default of %s", o->name);
        if (kp_opt_set(o, conf, o->def, where, err, errlen) < 0)
            return -1;
    }
    return 0;
}

void kp_opts_free(const struct kp_opt *tab, void *conf)
{
    if (!conf || !tab)
        return;
    for (const struct kp_opt *o = tab; o->name; o++) {
        char *at = (char *)conf + o->offset;
        if (o->type == KP_OPT_STRING) {
            free(*(char **)at);
            *(char **)at = NULL;
        } else if (o->type == KP_OPT_LIST) {
            kp_strlist_clear((struct kp_strlist *)at);
        }
    }
}

int kp_opts_apply_uri(const struct kp_opt *tab, struct uri *u, void *conf, const char *what,
                      uint64_t *given, char *err, size_t errlen)
{
    if (given)
        *given = 0;
    if (kp_opts_defaults(tab, conf, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < u->nopts; i++) {
        const struct kp_opt *o = kp_opts_find(tab, u->opts[i].key, strlen(u->opts[i].key), false);
        if (!o) {
            int n = snprintf(err, errlen, "unknown option \"%.64s\" in %s (known:", u->opts[i].key,
                             what);
            for (o = tab; o->name && n > 0 && (size_t)n < errlen; o++)
                n += snprintf(err + n, errlen - (size_t)n, " %s", o->name);
            if (n > 0 && (size_t)n < errlen)
                snprintf(err + n, errlen - (size_t)n, ")");
            return -1;
        }
        u->opts[i].used = true;
        /* The first occurrence wins (as url.Values.Get), except for lists. */
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (strcmp(u->opts[j].key, u->opts[i].key) == 0)
                first = false;
        if (!first && o->type != KP_OPT_LIST)
            continue;
        char where[96];
        snprintf(where, sizeof where, "option \"%s\"", o->name);
        if (kp_opt_set(o, conf, u->opts[i].value, where, err, errlen) < 0)
            return -1;
        if (given && o - tab < 64)
            *given |= (uint64_t)1 << (o - tab);
    }
    return 0;
}

void kp_opts_print(const struct kp_opt *tab, FILE *out, const char *prefix, int width)
{
    static const char *const tname[] = {"string", "", "int", "duration", "size", "value"};
    for (const struct kp_opt *o = tab; o->name; o++) {
        char head[128];
        snprintf(head, sizeof head, "%s%s %s", prefix, o->name, tname[o->type]);
        fprintf(out, "  %-*s %s", width, head, o->help);
        if (o->def && *o->def)
            fprintf(out, " (default %s)", o->def);
        fputc('\n', out);
    }
}
