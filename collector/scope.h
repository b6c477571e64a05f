/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scope.h - what the operator keeps (collector_opts' scope flags): metrics by name
 * (--metric-allow, --metric-deny) and pods by namespace (--namespace-include,
 * --namespace-exclude). Lists are comma-separated names or fnmatch(3) patterns (memory/ with
 * a star, kube-*). The node selector is the node watch's labelSelector (collector.c) and
 * needs nothing here.
 */
#ifndef KP_COLLECTOR_SCOPE_H
#define KP_COLLECTOR_SCOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCOPE_MAX_PATTERNS 64

struct scope {
    uint64_t metrics;                     /* bit per enum kp_metric_id: written */
    char *ns_include[SCOPE_MAX_PATTERNS]; /* owned; none: every namespace */
    size_t nns_include;
    char *ns_exclude[SCOPE_MAX_PATTERNS]; /* owned */
    size_t nns_exclude;
};

/* Parse and check the four lists (NULL or "" for none); the message names the flag. */
int scope_init(struct scope *s, const char *metric_allow, const char *metric_deny,
               const char *ns_include, const char *ns_exclude, char *err, size_t errlen);
void scope_fini(struct scope *s);
/* The namespace's pods are written (included, or no include list, and not excluded). */
bool scope_namespace(const struct scope *s, const char *ns);

#endif
