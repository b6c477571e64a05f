/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sync.c - the store as JSON, for the followers' copy of the leader's samples:
 *
 *   {"v":1,"nodes":[{"n":NAME,"l":LABELS,"s":[LAST],"p":[PREV]}...],
 *    "pods":[{"ns":NS,"n":NAME,"l":LABELS,"c":[{"n":NAME,"s":[..],"p":[..]}...]}...]}
 *
 * where a sample is [ts_ns, start_ns, cpu_ns, mem] and "p" is absent without a previous
 * sample. Import checks every field and bound and builds the new set aside, so a bad
 * document changes nothing.
 */
#include "mapi_int.h"
#include "status.h"
#include "util.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 253
#define LABELS_MAX   16384
#define CTRS_MAX     256
#define DEPTH_MAX    8

/* A sample as [ts_ns,start_ns,cpu_ns,mem], after "key": */
static void put_sample(struct status_buf *b, const char *key, const struct mapi_sample *s)
{
    status_buf_printf(b, ",\"%s\":[%" PRId64 ",%" PRId64 ",%" PRIu64 ",%" PRIu64 "]", key, s->ts_ns,
                      s->start_ns, s->cpu_ns, s->mem);
}

/* A node's or a container's samples: "s" the last, "p" the previous one when there is one. */
static void put_samples(struct status_buf *b, const struct mapi_sample *last,
                        const struct mapi_sample *prev, bool has_prev)
{
    put_sample(b, "s", last);
    if (has_prev)
        put_sample(b, "p", prev);
}

/* "key": value, after a comma unless first */
static void put_str(struct status_buf *b, const char *key, const char *value, bool first)
{
    status_buf_printf(b, "%s\"%s\":", first ? "" : ",", key);
    mapi_render_string(b, value);
}

/* Written straight as text (render.c's strings): a json-c tree of 150,000 pods cost about
 * 2 CPU-s and 800 MB on the leader for every follower's pull. */
char *mapi_store_export(const struct mapi_store *s, size_t *len)
{
    const struct mapi_set *set = mapi_store_set(s);
    struct status_buf b = {0};
    status_buf_printf(&b, "{\"v\":1,\"nodes\":[");
    for (size_t i = 0; i < set->nnodes && !b.failed; i++) {
        const struct mapi_node *n = &set->nodes[i];
        status_buf_append(&b, i ? ",{" : "{", i ? 2 : 1);
        put_str(&b, "n", n->name, true);
        if (n->labels)
            put_str(&b, "l", n->labels, false);
        put_samples(&b, &n->last, &n->prev, n->has_prev);
        status_buf_append(&b, "}", 1);
    }
    status_buf_printf(&b, "],\"pods\":[");
    for (size_t i = 0; i < set->npods && !b.failed; i++) {
        const struct mapi_pod *p = &set->pods[i];
        status_buf_append(&b, i ? ",{" : "{", i ? 2 : 1);
        put_str(&b, "ns", p->ns, true);
        put_str(&b, "n", p->name, false);
        if (p->labels)
            put_str(&b, "l", p->labels, false);
        status_buf_printf(&b, ",\"c\":[");
        for (size_t k = 0; k < p->nctrs; k++) {
            const struct mapi_ctr *c = &p->ctrs[k];
            status_buf_append(&b, k ? ",{" : "{", k ? 2 : 1);
            put_str(&b, "n", c->name, true);
            put_samples(&b, &c->last, &c->prev, c->has_prev);
            status_buf_append(&b, "}", 1);
        }
        status_buf_append(&b, "]}", 2);
    }
    status_buf_append(&b, "]}", 2);
    if (b.failed || !b.data) {
        free(b.data);
        *len = 0;
        return NULL;
    }
    *len = b.len;
    return b.data;
}

/* ---- import ------------------------------------------------------------------- */

static const char *jstr(json_object *o, const char *key, size_t max)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    size_t n = strlen(s);
    return n && n <= max && (size_t)json_object_get_string_len(v) == n ? s : NULL;
}

static int jsample(json_object *o, const char *key, struct mapi_sample *out)
{
    json_object *a;
    if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array) ||
        json_object_array_length(a) != 4)
        return -1;
    for (size_t i = 0; i < 4; i++)
        if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_int))
            return -1;
    out->ts_ns = json_object_get_int64(json_object_array_get_idx(a, 0));
    out->start_ns = json_object_get_int64(json_object_array_get_idx(a, 1));
    out->cpu_ns = json_object_get_uint64(json_object_array_get_idx(a, 2));
    out->mem = json_object_get_uint64(json_object_array_get_idx(a, 3));
    return out->ts_ns > 0 && out->start_ns >= 0 ? 0 : -1;
}

/* add_samples' inverse: 0, or -1 when "s" is missing or either sample is malformed. */
static int get_samples(json_object *j, struct mapi_sample *last, struct mapi_sample *prev,
                       bool *has_prev)
{
    if (jsample(j, "s", last) < 0)
        return -1;
    *has_prev = json_object_object_get_ex(j, "p", NULL);
    return *has_prev && jsample(j, "p", prev) < 0 ? -1 : 0;
}

static char *dup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int import_node(json_object *j, void *out)
{
    struct mapi_node *n = out;
    const char *name = jstr(j, "n", NAME_MAX_LEN), *labels = jstr(j, "l", LABELS_MAX);
    if (!name || get_samples(j, &n->last, &n->prev, &n->has_prev) < 0)
        return -1;
    n->name = strdup(name);
    n->labels = dup_opt(labels);
    return n->name ? 0 : -1;
}

static int import_pod(json_object *j, void *out)
{
    struct mapi_pod *p = out;
    const char *ns = jstr(j, "ns", NAME_MAX_LEN), *name = jstr(j, "n", NAME_MAX_LEN);
    json_object *cs;
    if (!ns || !name || !json_object_object_get_ex(j, "c", &cs) ||
        !json_object_is_type(cs, json_type_array) || json_object_array_length(cs) > CTRS_MAX)
        return -1;
    p->ns = strdup(ns);
    p->name = strdup(name);
    p->labels = dup_opt(jstr(j, "l", LABELS_MAX));
    size_t n = json_object_array_length(cs);
    p->ctrs = calloc(n ? n : 1, sizeof(*p->ctrs));
    if (!p->ns || !p->name || !p->ctrs)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(cs, i);
        struct mapi_ctr *ct = &p->ctrs[p->nctrs];
        const char *cn =
            json_object_is_type(c, json_type_object) ? jstr(c, "n", NAME_MAX_LEN) : NULL;
        if (!cn || get_samples(c, &ct->last, &ct->prev, &ct->has_prev) < 0)
            return -1;
        for (size_t k = 0; k < p->nctrs; k++)
            if (!strcmp(p->ctrs[k].name, cn))
                return -1; /* a duplicate container */
        if (!(ct->name = strdup(cn)))
            return -1;
        p->nctrs++;
    }
    return 0;
}

static int cmp_node_name(const void *a, const void *b)
{
    return strcmp(((const struct mapi_node *)a)->name, ((const struct mapi_node *)b)->name);
}

static int cmp_ctr_name(const void *a, const void *b)
{
    return strcmp(((const struct mapi_ctr *)a)->name, ((const struct mapi_ctr *)b)->name);
}

static int cmp_pod_key(const void *a, const void *b)
{
    const struct mapi_pod *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);
    return c ? c : strcmp(x->name, y->name);
}

static int fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "samples from the leader: %s", what);
    return -1;
}

/* One array of the export, nodes or pods: each element imported into items (size bytes
 * each, as many as arr has; *n counts those begun, for mapi_set_fini), then sorted in key
 * order; the same key twice is an error. */
struct import_kind {
    size_t size;
    int (*import)(json_object *j, void *out);
    int (*cmp)(const void *a, const void *b); /* the key order */
    const char *malformed, *twice;            /* the errors */
};

static const struct import_kind NODES = {sizeof(struct mapi_node), import_node, cmp_node_name,
                                         "a malformed node", "a node twice"};
static const struct import_kind PODS = {sizeof(struct mapi_pod), import_pod, cmp_pod_key,
                                        "a malformed pod", "a pod twice"};

static int import_array(json_object *arr, const struct import_kind *k, void *items, size_t *n,
                        char *err, size_t errlen)
{
    char *base = items;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *j = json_object_array_get_idx(arr, i);
        (*n)++;
        if (!json_object_is_type(j, json_type_object) || k->import(j, base + i * k->size) < 0)
            return fail(err, errlen, k->malformed);
    }
    kp_sort(items, *n, k->size, k->cmp);
    for (size_t i = 1; i < *n; i++)
        if (!k->cmp(base + i * k->size, base + (i - 1) * k->size))
            return fail(err, errlen, k->twice);
    return 0;
}

int mapi_store_import(struct mapi_store *s, const char *json, size_t len, char *err, size_t errlen)
{
    struct mapi_set set = {0};
    json_object *o = NULL, *nodes, *pods, *v;
    int rc = -1;
    if (len > MAPI_IMPORT_MAX)
        return fail(err, errlen, "too large");
    json_tokener *tok = json_tokener_new_ex(DEPTH_MAX);
    if (!tok)
        return fail(err, errlen, "out of memory");
    o = json_tokener_parse_ex(tok, json, (int)len);
    if (!o || json_tokener_get_error(tok) != json_tokener_success || tok->char_offset != (int)len) {
        fail(err, errlen, "not one JSON document");
        goto out;
    }
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "v", &v) ||
        json_object_get_int(v) != 1 || !json_object_object_get_ex(o, "nodes", &nodes) ||
        !json_object_is_type(nodes, json_type_array) ||
        !json_object_object_get_ex(o, "pods", &pods) ||
        !json_object_is_type(pods, json_type_array)) {
        fail(err, errlen, "not a version 1 export");
        goto out;
    }
    size_t nn = json_object_array_length(nodes), np = json_object_array_length(pods);
    set.nodes = calloc(nn ? nn : 1, sizeof(*set.nodes));
    set.pods = calloc(np ? np : 1, sizeof(*set.pods));
    if (!set.nodes || !set.pods) {
        fail(err, errlen, "out of memory");
        goto out;
    }
    if (import_array(nodes, &NODES, set.nodes, &set.nnodes, err, errlen) < 0 ||
        import_array(pods, &PODS, set.pods, &set.npods, err, errlen) < 0)
        goto out;
    for (size_t i = 0; i < set.npods; i++)
        kp_sort(set.pods[i].ctrs, set.pods[i].nctrs, sizeof(*set.pods[i].ctrs), cmp_ctr_name);
    mapi_store_replace(s, &set);
    rc = 0;
out:
    if (rc < 0)
        mapi_set_fini(&set);
    json_object_put(o);
    json_tokener_free(tok);
    return rc;
}
