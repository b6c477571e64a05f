/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scope.c - owns the scope lists (scope.h): their grammar, their checks at flag time and the
 * two questions the model asks (is this metric written, is this namespace's pod written).
 */
#include "scope.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "kube.h"
#include "kube_selector.h"
#include "metric.h"

typedef int (*entry_fn)(const char *entry, void *ud, char *err, size_t errlen);

/* Call fn for each comma-separated entry of list, spaces around entries trimmed. Messages
 * leave the flag's name to the caller. */
static int each_entry(const char *list, entry_fn fn, void *ud, char *err, size_t errlen)
{
    if (!list || !*list)
        return 0;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char entry[256];
        while (n > 0 && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0) {
            snprintf(err, errlen, "empty entry in \"%.128s\"", list);
            return -1;
        }
        if (n >= sizeof(entry)) {
            snprintf(err, errlen, "entry \"%.32s...\" is longer than %zu bytes", p,
                     sizeof(entry) - 1);
            return -1;
        }
        memcpy(entry, p, n);
        entry[n] = '\0';
        if (fn(entry, ud, err, errlen) < 0)
            return -1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int metric_entry(const char *entry, void *ud, char *err, size_t errlen)
{
    uint64_t *mask = ud, hit = 0;
    for (int id = 0; id < KP_M__COUNT; id++)
        if (fnmatch(entry, kp_metrics[id].name, 0) == 0)
            hit |= 1ULL << id;
    if (!hit) {
        snprintf(err, errlen,
                 "\"%.160s\" matches no metric (names as in docs/metrics.md, e.g. cpu/usage_rate, "
                 "memory/*)",
                 entry);
        return -1;
    }
    *mask |= hit;
    return 0;
}

struct ns_list {
    char **v;
    size_t *n;
};

static int ns_entry(const char *entry, void *ud, char *err, size_t errlen)
{
    struct ns_list *l = ud;
    /* A namespace is a DNS label; patterns add fnmatch's * ? [ ] (and - inside a class). */
    if (strspn(entry, "abcdefghijklmnopqrstuvwxyz0123456789-*?[]!") != strlen(entry) ||
        strlen(entry) > 63) {
        snprintf(err, errlen,
                 "\"%s\" is not a namespace name or pattern (lowercase letters, digits and "
                 "'-', with * ? [...] as wildcards, at most 63 characters)",
                 entry);
        return -1;
    }
    if (*l->n >= SCOPE_MAX_PATTERNS) {
        snprintf(err, errlen, "more than %d entries", SCOPE_MAX_PATTERNS);
        return -1;
    }
    if (!(l->v[*l->n] = strdup(entry))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    (*l->n)++;
    return 0;
}

/* each_entry with the flag's name in front of a message. */
static int flag_entries(const char *flag, const char *list, entry_fn fn, void *ud, char *err,
                        size_t errlen)
{
    char e[320];
    if (each_entry(list, fn, ud, e, sizeof(e)) == 0)
        return 0;
    snprintf(err, errlen, "flag --%s: %s", flag, e);
    return -1;
}

int scope_init(struct scope *s, const char *metric_allow, const char *metric_deny,
               const char *ns_include, const char *ns_exclude, char *err, size_t errlen)
{
    uint64_t all = KP_M__COUNT >= 64 ? ~0ULL : (1ULL << KP_M__COUNT) - 1, allow = 0, deny = 0;
    memset(s, 0, sizeof(*s));
    if (flag_entries("metric-allow", metric_allow, metric_entry, &allow, err, errlen) < 0 ||
        flag_entries("metric-deny", metric_deny, metric_entry, &deny, err, errlen) < 0)
        goto fail;
    s->metrics = (metric_allow && *metric_allow ? allow : all) & ~deny;
    if (!s->metrics) {
        snprintf(err, errlen, "flags --metric-allow and --metric-deny leave no metric to write");
        goto fail;
    }
    if (flag_entries("namespace-include", ns_include, ns_entry,
                     &(struct ns_list){s->ns_include, &s->nns_include}, err, errlen) < 0 ||
        flag_entries("namespace-exclude", ns_exclude, ns_entry,
                     &(struct ns_list){s->ns_exclude, &s->nns_exclude}, err, errlen) < 0)
        goto fail;
    return 0;
fail:
    scope_fini(s);
    return -1;
}

void scope_fini(struct scope *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nns_include; i++)
        free(s->ns_include[i]);
    for (size_t i = 0; i < s->nns_exclude; i++)
        free(s->ns_exclude[i]);
    s->nns_include = s->nns_exclude = 0;
}

static bool any_match(char *const *pats, size_t n, const char *ns)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(pats[i], ns, 0) == 0)
            return true;
    return false;
}

bool scope_namespace(const struct scope *s, const char *ns)
{
    if (!s)
        return true;
    if (s->nns_include && !any_match(s->ns_include, s->nns_include, ns))
        return false;
    return !any_match(s->ns_exclude, s->nns_exclude, ns);
}

/* ---- the flags' checks (collector.h) --------------------------------------------------- */

int collector_check_metrics(const char *list, char *err, size_t errlen)
{
    uint64_t mask = 0;
    return each_entry(list, metric_entry, &mask, err, errlen);
}

int collector_check_namespaces(const char *list, char *err, size_t errlen)
{
    char *pats[SCOPE_MAX_PATTERNS];
    size_t n = 0;
    int rc = each_entry(list, ns_entry, &(struct ns_list){pats, &n}, err, errlen);
    for (size_t i = 0; i < n; i++)
        free(pats[i]);
    return rc;
}

int collector_scope_check(const struct collector_opts *o, char *err, size_t errlen)
{
    struct scope s;
    char serr[384];
    if (scope_init(&s, o->metric_allow, o->metric_deny, o->namespace_include, o->namespace_exclude,
                   err, errlen) < 0)
        return -1;
    scope_fini(&s);
    if (kube_label_selector_check(o->node_selector, serr, sizeof(serr)) < 0) {
        snprintf(err, errlen, "flag --node-selector: %s", serr);
        return -1;
    }
    return 0;
}
