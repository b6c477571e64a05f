/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cache.c - the Node and Pod caches of cache.h: only the fields the metric
 * model needs are kept (addresses, capacity, labels; per pod its namespace,
 * labels and per-container requests, limits and image), parsed from the
 * watch's JSON objects. Quantities go through quantity.c.
 */
#include "cache.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "quantity.h"
#include "util.h"

static const char *js(json_object *o, const char *path)
{
    /* "a.b.c" lookup of a string; NULL when missing or not a string */
    char key[64];
    while (o && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        if (!json_object_object_get_ex(o, key, &o))
            return NULL;
        path += n + (dot != NULL);
    }
    return o && json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

static json_object *jo(json_object *o, const char *key)
{
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool label_ignored(const struct cache_label_policy *lp, const char *key)
{
    for (size_t i = 0; lp && i < lp->nignore; i++)
        if (strcmp(lp->ignore[i], key) == 0)
            return true;
    return false;
}

/* The tag name under which label key is stored, or NULL ("name" or "newName=name"). */
static const char *label_stored_as(const struct cache_label_policy *lp, const char *key,
                                   size_t *namelen)
{
    for (size_t i = 0; lp && i < lp->nstore; i++) {
        const char *spec = lp->store[i], *eq = strchr(spec, '=');
        const char *src = eq ? eq + 1 : spec;
        if (strcmp(src, key) == 0) {
            *namelen = eq ? (size_t)(eq - spec) : strlen(spec);
            return spec;
        }
    }
    return NULL;
}

/* Append "k<KV>v" to stored (pairs separated by SEP); bounded like out. */
static void stored_add(char *stored, size_t *off, const char *name, size_t nlen, const char *val)
{
    size_t vlen = strlen(val), need = (*off ? 1 : 0) + nlen + 1 + vlen;
    if (!vlen || *off + need >= CACHE_MAX_LABELS_STR)
        return;
    if (*off)
        stored[(*off)++] = CACHE_STORED_SEP;
    memcpy(stored + *off, name, nlen);
    *off += nlen;
    stored[(*off)++] = CACHE_STORED_KV;
    memcpy(stored + *off, val, vlen + 1);
    *off += vlen;
}

size_t cache_labels_render(const struct cache_label_policy *lp, json_object *labels,
                           char out[CACHE_MAX_LABELS_STR], char stored[CACHE_MAX_LABELS_STR])
{
    const char *sep = lp && lp->separator ? lp->separator : ",";
    size_t off = 0, soff = 0;
    bool first = true;
    out[0] = stored[0] = '\0';
    if (!labels || !json_object_is_type(labels, json_type_object))
        return 0;
    size_t n = (size_t)json_object_object_length(labels), i = 0;
    if (!n || n > 256)
        return 0;
    const char **keys = calloc(n, sizeof(*keys));
    if (!keys)
        return 0;
    json_object_object_foreach(labels, k, v)
    {
        (void)v;
        if (i < n)
            keys[i++] = k;
    }
    kp_sort(keys, i, sizeof(*keys), cmp_str);
    for (size_t j = 0; j < i; j++) {
        /* not js(): label keys contain dots ("app.kubernetes.io/name") */
        json_object *jv = jo(labels, keys[j]);
        const char *val =
            jv && json_object_is_type(jv, json_type_string) ? json_object_get_string(jv) : NULL;
        size_t nlen;
        const char *name = label_stored_as(lp, keys[j], &nlen);
        if (name)
            stored_add(stored, &soff, name, nlen, val ? val : "");
        if (label_ignored(lp, keys[j]) || off == SIZE_MAX)
            continue;
        int w = snprintf(out + off, CACHE_MAX_LABELS_STR - off, "%s%s:%s", first ? "" : sep,
                         keys[j], val ? val : "");
        first = false;
        if (w < 0 || (size_t)w >= CACHE_MAX_LABELS_STR - off) {
            out[off] = '\0'; /* bounded: the tail is dropped */
            off = SIZE_MAX;
            continue;
        }
        off += (size_t)w;
    }
    free(keys);
    return off == SIZE_MAX ? strlen(out) : off;
}

char *cache_labels_string(const struct cache_label_policy *lp, json_object *labels, char **stored)
{
    char buf[CACHE_MAX_LABELS_STR], sbuf[CACHE_MAX_LABELS_STR];
    size_t n = cache_labels_render(lp, labels, buf, sbuf);
    *stored = sbuf[0] ? strdup(sbuf) : NULL;
    return n ? strdup(buf) : NULL;
}

/* ---- nodes ---------------------------------------------------------------- */

int node_cache_init(struct node_cache *nc, const char *preferred_types, char *err, size_t errlen)
{
    memset(nc, 0, sizeof(*nc));
    strmap_init(&nc->nodes);
    char buf[256];
    snprintf(buf, sizeof(buf), "%s",
             preferred_types ? preferred_types
                             : "InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP");
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (nc->naddr_types == 8) {
            snprintf(err, errlen, "--kubelet-preferred-address-types: too many types");
            return -1;
        }
        nc->addr_types[nc->naddr_types++] = strdup(t);
    }
    if (!nc->naddr_types) {
        snprintf(err, errlen, "--kubelet-preferred-address-types is empty");
        return -1;
    }
    return 0;
}

static void node_free(struct cache_node *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->address);
    free(n->hostname);
    free(n->host_id);
    free(n->labels);
    free(n->stored);
    free(n);
}

static void node_free_cb(void *v, void *ud)
{
    (void)ud;
    node_free(v);
}

void node_cache_fini(struct node_cache *nc)
{
    strmap_fini_values(&nc->nodes, node_free_cb, NULL);
    for (int i = 0; i < nc->naddr_types; i++)
        free(nc->addr_types[i]);
}

static int64_t node_qty(json_object *status, const char *which, const char *res, int scale)
{
    const char *s = js(jo(status, which), res);
    int64_t v;
    return s && quantity_parse(s, scale, &v) == 0 ? v : -1;
}

static const char *node_address(const struct node_cache *nc, json_object *addrs, const char *type)
{
    size_t n =
        addrs && json_object_is_type(addrs, json_type_array) ? json_object_array_length(addrs) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(addrs, i);
        const char *t = js(a, "type"), *v = js(a, "address");
        if (t && v && *v && strcmp(t, type) == 0)
            return v;
    }
    (void)nc;
    return NULL;
}

void node_cache_apply(struct node_cache *nc, enum kube_event_type type, json_object *obj)
{
    const char *name = js(obj, "metadata.name");
    if (!name || !*name || strlen(name) > 253)
        return;
    struct cache_node *old = strmap_get(&nc->nodes, name);
    if (type == KUBE_EVENT_DELETED) {
        node_free(strmap_del(&nc->nodes, name));
        return;
    }
    struct cache_node *n = calloc(1, sizeof(*n));
    if (!n)
        return;
    json_object *status = jo(obj, "status"), *addrs = jo(status, "addresses");
    n->name = strdup(name);
    for (int i = 0; i < nc->naddr_types && !n->address; i++)
        n->address = dup_or_null(node_address(nc, addrs, nc->addr_types[i]));
    n->hostname = dup_or_null(node_address(nc, addrs, "Hostname"));
    n->host_id = dup_or_null(js(obj, "spec.providerID"));
    n->labels = cache_labels_string(nc->lp, jo(jo(obj, "metadata"), "labels"), &n->stored);
    json_object *port = jo(jo(jo(status, "daemonEndpoints"), "kubeletEndpoint"), "Port");
    n->port = port && json_object_is_type(port, json_type_int) ? json_object_get_int(port) : 0;
    if (n->port < 0 || n->port > 65535)
        n->port = 0;
    n->cpu_capacity_m = node_qty(status, "capacity", "cpu", 3);
    n->cpu_allocatable_m = node_qty(status, "allocatable", "cpu", 3);
    n->mem_capacity = node_qty(status, "capacity", "memory", 0);
    n->mem_allocatable = node_qty(status, "allocatable", "memory", 0);
    n->seen = true;
    if (old)
        n->last_error = old->last_error;
    if (!strmap_put(&nc->nodes, name, n)) {
        node_free(n);
        return;
    }
    node_free(old);
}

static void clear_seen(const char *k, void *v, void *ud)
{
    (void)k;
    *(bool *)((char *)v + *(const size_t *)ud) = false;
}

void cache_unsee_all(struct strmap *m, size_t seen_off)
{
    strmap_each(m, clear_seen, &seen_off);
}

void node_cache_list_begin(struct node_cache *nc)
{
    cache_unsee_all(&nc->nodes, offsetof(struct cache_node, seen));
}

/* strmap_remove_if: a node the relist did not see is gone. */
static bool node_unseen(const char *k, void *v, void *ud)
{
    (void)k;
    (void)ud;
    struct cache_node *n = v;
    if (n->seen)
        return false;
    node_free(n);
    return true;
}

void node_cache_list_done(struct node_cache *nc)
{
    strmap_remove_if(&nc->nodes, node_unseen, NULL);
}
