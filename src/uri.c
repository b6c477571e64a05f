/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uri.c - owns the generic "PREFIX[:TARGET][?QUERY]" flag parser shared by every sink and by
 * the Heapster source mapping: splitting and percent-decoding. What each option means is the
 * option map's business (optmap.c). Everything is bounded by URI_MAX_LEN and URI_MAX_OPTS.
 */
#include "uri.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long uri_percent_decode(char *dst, const char *s, size_t n, bool plus_space)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            dst[j++] = (char)(h * 16 + l);
            i += 2;
        } else if (s[i] == '+' && plus_space) {
            dst[j++] = ' ';
        } else {
            dst[j++] = s[i];
        }
    }
    dst[j] = '\0';
    return (long)j;
}

size_t uri_query_escape(char *dst, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            dst[j++] = (char)c;
        } else {
            dst[j++] = '%';
            dst[j++] = hex[c >> 4];
            dst[j++] = hex[c & 15];
        }
    }
    dst[j] = '\0';
    return j;
}

static char *decode_dup(const char *s, size_t n, bool plus_space)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    if (uri_percent_decode(d, s, n, plus_space) < 0) {
        free(d);
        return NULL;
    }
    return d;
}

static char *ndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int parse_query(struct uri *u, const char *q, char *err, size_t errlen)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n > 0) {
            if (u->nopts >= URI_MAX_OPTS) {
                snprintf(err, errlen, "too many options (at most %d)", URI_MAX_OPTS);
                return -1;
            }
            const char *eq = memchr(q, '=', n);
            size_t kn = eq ? (size_t)(eq - q) : n;
            struct uri_opt *o = &u->opts[u->nopts];
            o->key = decode_dup(q, kn, true);
            o->value = eq ? decode_dup(eq + 1, n - kn - 1, true) : ndup("", 0);
            if (!o->key || !o->value) {
                free(o->key);
                free(o->value);
                o->key = o->value = NULL;
                snprintf(err, errlen, "bad %%-escape in option \"%.*s\"", (int)(kn > 64 ? 64 : kn),
                         q);
                return -1;
            }
            u->nopts++;
            if (!o->key[0]) {
                snprintf(err, errlen, "empty option name");
                return -1;
            }
            /* Heapster's docs write auth="" for an empty value; accept it as empty. */
            if (strcmp(o->value, "\"\"") == 0)
                o->value[0] = '\0';
        }
        q += n + (amp ? 1 : 0);
    }
    return 0;
}

static int parse_target(struct uri *u, char *err, size_t errlen)
{
    const char *t = u->target;
    const char *sep = strstr(t, "://");
    if (!sep)
        return 0;
    if (!(u->scheme = ndup(t, (size_t)(sep - t))))
        goto oom;
    for (char *p = u->scheme; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *a = sep + 3;
    const char *slash = strchr(a, '/');
    size_t alen = slash ? (size_t)(slash - a) : strlen(a);
    if (memchr(a, '@', alen)) {
        snprintf(err, errlen,
                 "credentials in the URL are not supported: use the user/pw "
                 "(or pwFile, tokenFile) options");
        return -1;
    }
    const char *hend, *portp = NULL;
    if (alen > 0 && a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb) {
            snprintf(err, errlen, "unterminated IPv6 address in \"%s\"", t);
            return -1;
        }
        if (!(u->host = ndup(a + 1, (size_t)(rb - a - 1))))
            goto oom;
        hend = rb + 1;
        if (hend < a + alen) {
            if (*hend != ':')
                goto badport;
            portp = hend + 1;
        }
    } else {
        const char *colon = memchr(a, ':', alen);
        hend = colon ? colon : a + alen;
        if (!(u->host = ndup(a, (size_t)(hend - a))))
            goto oom;
        if (colon)
            portp = colon + 1;
    }
    if (portp) {
        size_t pn = (size_t)(a + alen - portp);
        if (pn == 0 || pn > 5)
            goto badport;
        long port = 0;
        for (size_t i = 0; i < pn; i++) {
            if (!isdigit((unsigned char)portp[i]))
                goto badport;
            port = port * 10 + (portp[i] - '0');
        }
        if (port < 1 || port > 65535)
            goto badport;
        u->port = (int)port;
    }
    if (!(u->path = ndup(slash ? slash : "", slash ? strlen(slash) : 0)))
        goto oom;
    return 0;
badport:
    snprintf(err, errlen, "bad port in \"%s\"", t);
    return -1;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int uri_parse(const char *s, struct uri *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    size_t len = strnlen(s, URI_MAX_LEN + 1);
    if (len > URI_MAX_LEN) {
        snprintf(err, errlen, "longer than %d bytes", URI_MAX_LEN);
        return -1;
    }
    const char *q = strchr(s, '?');
    size_t head = q ? (size_t)(q - s) : len;
    const char *colon = memchr(s, ':', head);
    size_t pn = colon ? (size_t)(colon - s) : head;
    if (pn == 0) {
        snprintf(err, errlen, "missing the prefix before ':' (e.g. influxdb:http://HOST:8086)");
        return -1;
    }
    u->prefix = ndup(s, pn);
    u->target = colon ? ndup(colon + 1, head - pn - 1) : ndup("", 0);
    if (!u->prefix || !u->target) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (parse_target(u, err, errlen) < 0)
        return -1;
    if (q && parse_query(u, q + 1, err, errlen) < 0)
        return -1;
    return 0;
}

void uri_fini(struct uri *u)
{
    if (!u)
        return;
    free(u->prefix);
    free(u->target);
    free(u->scheme);
    free(u->host);
    free(u->path);
    for (size_t i = 0; i < u->nopts; i++) {
        free(u->opts[i].key);
        free(u->opts[i].value);
    }
    memset(u, 0, sizeof *u);
}

const char *uri_get(struct uri *u, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < u->nopts; i++) {
        if (strcmp(u->opts[i].key, key) == 0) {
            u->opts[i].used = true;
            if (!v)
                v = u->opts[i].value;
        }
    }
    return v;
}
