/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_selector.h - Kubernetes label selectors (kube_selector.c): the grammar the API server
 * parses a labelSelector with, and what each requirement matches. --node-selector checks its
 * value with it; the metrics API parses and matches labelSelector with it, and fills the same
 * struct from a fieldSelector.
 */
#ifndef KP_KUBE_SELECTOR_H
#define KP_KUBE_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#define KUBE_SEL_MAX      4096 /* bytes of one selector */
#define KUBE_SEL_MAX_REQS 32   /* requirements of one selector */
#define KUBE_SEL_MAX_VALS 32   /* values of one requirement */

enum kube_sel_op {
    KUBE_SEL_EQ,
    KUBE_SEL_NE,
    KUBE_SEL_IN,
    KUBE_SEL_NOTIN,
    KUBE_SEL_EXISTS,
    KUBE_SEL_NOT_EXISTS,
    KUBE_SEL_GT,
    KUBE_SEL_LT
};

struct kube_sel_req {
    enum kube_sel_op op;
    char *key;                     /* owned */
    char *vals[KUBE_SEL_MAX_VALS]; /* owned */
    size_t nvals;
};

struct kube_selector {
    struct kube_sel_req reqs[KUBE_SEL_MAX_REQS];
    size_t nreqs;
};

/* Parse a label selector ("a=b,c!=d,e in (f,g),h notin (i),j,!k,n>1"; NULL or "" selects
 * everything) as labels.Parse does, keys and values checked as the API server checks them.
 * 0, or -1 with a message naming the selector and the mistake (sel is then empty). */
int kube_selector_parse(const char *text, struct kube_selector *sel, char *err, size_t errlen);
/* Frees what sel owns and empties it. */
void kube_selector_fini(struct kube_selector *sel);
/* Does one requirement hold for a value (NULL: the object has no such key)? */
bool kube_sel_req_match(const struct kube_sel_req *r, const char *value);

/* Check a label selector's syntax, as kube_selector_parse (0, or -1 with err filled). */
int kube_label_selector_check(const char *sel, char *err, size_t errlen);

#endif
