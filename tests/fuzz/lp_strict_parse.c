/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lp_strict_parse.c - owns the tests' strict line-protocol parser (see lp_strict_parse.h).
 * Element boundaries and unescaping follow InfluxDB 1.x's models/points.go: a separator
 * preceded by a backslash is escaped; "\," "\ " (and "\=" outside measurements) unescape,
 * any other backslash is literal.
 */
#include "lp_strict_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cur {
    const char *s;
    size_t n, i;
};

/* Read an element up to an unescaped char in stops; unescape chars in escs. */
static char *element(struct cur *c, const char *stops, const char *escs)
{
    char *out = malloc(c->n - c->i + 1);
    size_t j = 0;
    while (c->i < c->n) {
        char ch = c->s[c->i];
        if (ch == '\\' && c->i + 1 < c->n && strchr(escs, c->s[c->i + 1])) {
            out[j++] = c->s[c->i + 1];
            c->i += 2;
            continue;
        }
        if (strchr(stops, ch))
            break;
        if (ch == '\r' || ch == '\n') {
            free(out);
            return NULL;
        }
        out[j++] = ch;
        c->i++;
    }
    out[j] = '\0';
    return out;
}

static int number(const char *t, struct lps_field *f, char *err, size_t errlen)
{
    size_t n = strlen(t);
    if (n > 1 && t[n - 1] == 'i') {
        const char *p = t + (t[0] == '-');
        if (p == t + n - 1)
            goto bad;
        for (; p < t + n - 1; p++) {
            if (*p < '0' || *p > '9')
                goto bad;
        }
        errno = 0;
        f->type = LPS_INT;
        f->i = strtoll(t, NULL, 10);
        if (errno)
            goto bad;
        return 0;
    }
    /* -?digits(.digits)?([eE][+-]?digits)? */
    const char *p = t + (t[0] == '-');
    const char *d0 = p;
    while (*p >= '0' && *p <= '9')
        p++;
    if (p == d0)
        goto bad;
    if (*p == '.') {
        const char *d1 = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == d1)
            goto bad;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        const char *d2 = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == d2)
            goto bad;
    }
    if (*p)
        goto bad;
    f->type = LPS_FLOAT;
    f->f = strtod(t, NULL);
    return 0;
bad:
    snprintf(err, errlen, "bad number \"%s\"", t);
    return -1;
}

int lps_parse_line(const char *s, size_t n, struct lps_line *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct cur c = {s, n, 0};
    if (n == 0 || s[0] == '#') {
        snprintf(err, errlen, "empty line or comment");
        return -1;
    }
    if (!(out->measurement = element(&c, ", ", ", ")) || !out->measurement[0]) {
        snprintf(err, errlen, "bad measurement");
        return -1;
    }
    while (c.i < n && s[c.i] == ',') {
        c.i++;
        if (out->ntags >= LPS_MAX_TAGS) {
            snprintf(err, errlen, "too many tags");
            return -1;
        }
        char *k = element(&c, ",= ", ",= ");
        if (!k || !k[0] || c.i >= n || s[c.i] != '=') {
            free(k);
            snprintf(err, errlen, "bad tag key at %zu", c.i);
            return -1;
        }
        c.i++;
        char *v = element(&c, ", =", ",= ");
        out->tags[out->ntags].key = k;
        out->tags[out->ntags].value = v;
        out->ntags++;
        if (!v || !v[0] || (c.i < n && s[c.i] == '=')) {
            snprintf(err, errlen, "bad tag value for \"%s\" at %zu", k, c.i);
            return -1;
        }
    }
    if (c.i >= n || s[c.i] != ' ') {
        snprintf(err, errlen, "missing fields");
        return -1;
    }
    do {
        c.i++;
        if (out->nfields >= LPS_MAX_FIELDS) {
            snprintf(err, errlen, "too many fields");
            return -1;
        }
        struct lps_field *f = &out->fields[out->nfields++];
        f->key = element(&c, ",= ", ",= ");
        if (!f->key || !f->key[0] || c.i >= n || s[c.i] != '=') {
            snprintf(err, errlen, "bad field key at %zu", c.i);
            return -1;
        }
        c.i++;
        if (c.i < n && s[c.i] == '"') {
            c.i++;
            f->type = LPS_STRING;
            f->s = malloc(n - c.i + 1);
            size_t j = 0;
            while (c.i < n && s[c.i] != '"') {
                if (s[c.i] == '\\' && c.i + 1 < n && (s[c.i + 1] == '"' || s[c.i + 1] == '\\'))
                    c.i++;
                f->s[j++] = s[c.i++];
            }
            f->s[j] = '\0';
            if (c.i >= n) {
                snprintf(err, errlen, "unterminated string");
                return -1;
            }
            c.i++;
        } else {
            size_t st = c.i;
            while (c.i < n && s[c.i] != ',' && s[c.i] != ' ')
                c.i++;
            char t[64];
            if (c.i - st == 0 || c.i - st >= sizeof t) {
                snprintf(err, errlen, "bad field value");
                return -1;
            }
            memcpy(t, s + st, c.i - st);
            t[c.i - st] = '\0';
            if (number(t, f, err, errlen) < 0)
                return -1;
        }
    } while (c.i < n && s[c.i] == ',');
    if (c.i >= n || s[c.i] != ' ') {
        snprintf(err, errlen, "missing timestamp");
        return -1;
    }
    c.i++;
    size_t st = c.i;
    if (c.i < n && s[c.i] == '-')
        c.i++;
    while (c.i < n && s[c.i] >= '0' && s[c.i] <= '9')
        c.i++;
    if (c.i != n || c.i == st || (c.i == st + 1 && s[st] == '-')) {
        snprintf(err, errlen, "bad timestamp");
        return -1;
    }
    char t[32];
    if (n - st >= sizeof t) {
        snprintf(err, errlen, "bad timestamp");
        return -1;
    }
    memcpy(t, s + st, n - st);
    t[n - st] = '\0';
    errno = 0;
    out->ts = strtoll(t, NULL, 10);
    if (errno) {
        snprintf(err, errlen, "timestamp out of range");
        return -1;
    }
    return 0;
}

void lps_line_fini(struct lps_line *l)
{
    free(l->measurement);
    for (int i = 0; i < l->ntags; i++) {
        free(l->tags[i].key);
        free(l->tags[i].value);
    }
    for (int i = 0; i < l->nfields; i++) {
        free(l->fields[i].key);
        free(l->fields[i].s);
    }
    memset(l, 0, sizeof *l);
}

void lps_expected(const char *s, char *out)
{
    size_t j = 0, n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n' || s[i] == '\r') {
            out[j++] = '\\';
            out[j++] = s[i] == '\n' ? 'n' : 'r';
        } else if (i == n - 1 && s[i] == '\\') {
            memcpy(out + j, "\xef\xbc\xbc", 3);
            j += 3;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
}
