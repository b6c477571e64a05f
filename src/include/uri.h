/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uri.h - Heapster-style flag URIs: "PREFIX[:TARGET][?k=v&k=v...]", as taken by --sink and
 * --source. The generic parser (uri_parse) splits and percent-decodes; the option map
 * (optmap.h, kp_opts_apply_uri) gives each option its meaning and refuses unknown ones.
 */
#ifndef KP_URI_H
#define KP_URI_H

#include <stdbool.h>
#include <stddef.h>

#define URI_MAX_LEN  4096 /* a whole flag value */
#define URI_MAX_OPTS 32

struct uri_opt {
    char *key;   /* owned, percent-decoded */
    char *value; /* owned, percent-decoded; "" when absent ("k" or "k=") */
    bool used;   /* set by uri_get and kp_opts_apply_uri */
};

struct uri {
    char *prefix; /* owned: "influxdb", "kubernetes", "log" */
    char *target; /* owned: between ':' and '?', verbatim ("" when absent) */
    /* target split as scheme://host[:port][/path] when it has "://"; else all NULL/0 */
    char *scheme; /* owned, lower-case */
    char *host;   /* owned; IPv6 without brackets */
    int port;     /* 0: none given */
    char *path;   /* owned; "" when absent */
    struct uri_opt opts[URI_MAX_OPTS];
    size_t nopts;
};

/* Parse s into u (which uri_fini must release even on failure). Rejects: over URI_MAX_LEN,
 * more than URI_MAX_OPTS options, bad %-escapes, empty keys, user:password@ in the target
 * (credentials belong in options or files), a bad port. */
int uri_parse(const char *s, struct uri *u, char *err, size_t errlen);
void uri_fini(struct uri *u);

/* The first value of key (marking every occurrence used), or NULL. */
const char *uri_get(struct uri *u, const char *key);
/* Percent-decode n bytes of s into dst (room for n + 1); '+' is a space when plus_space.
 * Returns the decoded length or -1 on a bad escape. */
long uri_percent_decode(char *dst, const char *s, size_t n, bool plus_space);
/* Percent-encode s for a query value into dst (room for 3 * strlen(s) + 1); returns length. */
size_t uri_query_escape(char *dst, const char *s);

#endif
