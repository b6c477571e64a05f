/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mapi_int.h - internals shared by the store (store.c), the selectors
 * (selector.c), the value formats (format.c) and the request side (api.c,
 * window.c).
 */
#ifndef KP_METRICSAPI_INT_H
#define KP_METRICSAPI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metricsapi.h"
#include "kube_selector.h"

struct mapi_sample {
    int64_t ts_ns;    /* the kubelet's sample time (CPU's) */
    int64_t start_ns; /* the node's or container's start; 0: unknown */
    uint64_t cpu_ns;  /* cumulative CPU time, core-nanoseconds */
    uint64_t mem;     /* working set bytes */
};

struct mapi_node {
    char *name, *labels; /* owned; labels "k:v,k:v" or NULL */
    struct mapi_sample last, prev;
    bool has_prev;
};

struct mapi_ctr {
    char *name; /* owned */
    struct mapi_sample last, prev;
    bool has_prev;
};

struct mapi_pod {
    char *ns, *name, *labels; /* owned */
    struct mapi_ctr *ctrs;    /* owned, sorted by name */
    size_t nctrs;
};

/* Sorted by name / by (namespace, name). */
struct mapi_set {
    struct mapi_node *nodes;
    size_t nnodes;
    struct mapi_pod *pods;
    size_t npods;
};

const struct mapi_set *mapi_store_set(const struct mapi_store *s);
/* Serve set from now on (taken over: *set is zeroed); the cycle in progress is dropped. */
void mapi_store_replace(struct mapi_store *s, struct mapi_set *set);
void mapi_set_fini(struct mapi_set *set);
const struct mapi_node *mapi_set_node(const struct mapi_set *set, const char *name);
const struct mapi_pod *mapi_set_pod(const struct mapi_set *set, const char *ns, const char *name);
/* metrics-server's resourceUsage: 0, or -1 (start time or counter went back, no window). */
int mapi_usage_of(const struct mapi_sample *last, const struct mapi_sample *prev,
                  struct mapi_usage *out);
/* A pod is served when every container has a previous sample; its time is the earliest
 * container's. usages[] gets one entry per container (ok[i] false: skipped). */
int mapi_pod_usage(const struct mapi_pod *p, struct mapi_usage *pod_ti, struct mapi_usage *usages,
                   bool *ok);

/* ---- responses (api.c) ----------------------------------------------------- */
struct json_object;
/* code with o as compact JSON (slashes unescaped); 500 when it cannot be rendered.
 * Takes o over. */
void mapi_respond_json(struct mapi_response *resp, int code, struct json_object *o);

/* ---- objects as JSON text (render.c) ---------------------------------------- */
struct status_buf;
/* A JSON string, escaped as json-c escapes (no "\/"). */
void mapi_render_string(struct status_buf *b, const char *s);
/* A NodeMetrics / PodMetrics object without its closing brace (the caller adds members or
 * closes it), creationTimestamp = created; false, with nothing written, when its usage
 * cannot be served. */
bool mapi_render_node(struct status_buf *b, const struct mapi_node *nd, const char *created);
bool mapi_render_pod(struct status_buf *b, const struct mapi_pod *p, const char *created);

/* ---- formats (format.c) ---------------------------------------------------- */
/* resource.Quantity's canonical form: DecimalSI of value * 10^scale, BinarySI of bytes. */
void mapi_fmt_decimal(char out[32], uint64_t value, int scale);
void mapi_fmt_binary(char out[32], uint64_t bytes);
/* Go's time.Duration.String(). */
void mapi_fmt_duration(char out[40], int64_t ns);
/* metav1.Time: RFC 3339 in UTC, whole seconds. */
void mapi_fmt_time(char out[32], int64_t unix_ns);

/* ---- selectors (selector.c; label selectors are kp_common's, kube_selector.h) ---- */
/* Field selectors (fields.ParseSelector): "k=v", "k==v", "k!=v" joined by ",", with the
 * backslash escapes, into sel's KUBE_SEL_EQ and KUBE_SEL_NE requirements; keys are not
 * checked here (the caller allows only its fields). 0, or -1 with err filled. */
int mapi_field_selector_parse(const char *text, struct kube_selector *sel, char *err,
                              size_t errlen);
/* labels: "k:v,k:v" as the collector renders them, or NULL. */
bool mapi_selector_match_labels(const struct kube_selector *sel, const char *labels);
/* get(key) returns the field's value, or NULL when the object has no such field. */
bool mapi_selector_match_fields(const struct kube_selector *sel,
                                const char *(*get)(const char *key, const void *obj),
                                const void *obj);

#endif
