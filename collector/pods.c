/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pods.c - the Pod cache of cache.h: per pod uid its namespace, labels and
 * per-container requests, limits and image (pod_based_enricher's inputs),
 * a namespace/name index for pods whose Summary uid is not the API's (static
 * pods), and the namespace name -> uid map (namespace_based_enricher's).
 *
 * Memory matters here: a large cluster has 150,000 pods and this cache holds
 * all of them, leader or not. So a pod is one allocation (containers inline),
 * and every string many pods share - namespace, label set, container name,
 * image - is stored once, interned with a reference count.
 */
#include "cache.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantity.h"

#define NAME_KEY_MAX (2 * SUMMARY_MAX_NAME + 2)

static json_object *pjo(json_object *o, const char *key)
{
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *pjs(json_object *o, const char *key)
{
    json_object *v = pjo(o, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

void pod_cache_init(struct pod_cache *pc)
{
    pc->lp = NULL;
    strmap_init(&pc->pods);
    strmap_init(&pc->by_name);
    strmap_init(&pc->namespaces);
    strmap_init(&pc->strings);
}

/* Unlink p from the name index and free it. name_key is NULL when a pod of
 * the same name (re-created, new uid) has taken the key since. */
static void pod_free(struct pod_cache *pc, struct cache_pod *p)
{
    if (!p)
        return;
    if (p->name_key)
        strmap_del(&pc->by_name, p->name_key);
    for (size_t i = 0; i < p->info.ncontainers; i++) {
        strmap_release(&pc->strings, p->containers[i].name);
        strmap_release(&pc->strings, p->containers[i].image);
    }
    strmap_release(&pc->strings, p->info.labels);
    if (p->info.stored)
        strmap_release(&pc->strings, p->info.stored);
    strmap_release(&pc->strings, p->ns);
    free(p);
}

static void pod_free_cb(void *v, void *ud)
{
    struct cache_pod *p = v;
    p->name_key = NULL; /* the index is dropped whole */
    pod_free(ud, p);
}

static void free_cb(void *v, void *ud)
{
    (void)ud;
    free(v);
}

void pod_cache_fini(struct pod_cache *pc)
{
    strmap_fini(&pc->by_name);
    strmap_fini_values(&pc->pods, pod_free_cb, pc);
    strmap_fini_values(&pc->namespaces, free_cb, NULL);
    strmap_fini(&pc->strings);
}

static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r; /* both >= 0 */
}

static int64_t res_qty(json_object *resources, const char *which, const char *res, int scale)
{
    const char *s = pjs(pjo(resources, which), res);
    int64_t v;
    return s && quantity_parse(s, scale, &v) == 0 ? v : 0;
}

static void container_fill(struct pod_cache *pc, struct model_pod_container *mc, json_object *c)
{
    json_object *r = pjo(c, "resources");
    mc->name = strmap_intern(&pc->strings, pjs(c, "name"));
    mc->image = strmap_intern(&pc->strings, pjs(c, "image"));
    mc->cpu_request_m = res_qty(r, "requests", "cpu", 3);
    mc->cpu_limit_m = res_qty(r, "limits", "cpu", 3);
    mc->mem_request = res_qty(r, "requests", "memory", 0);
    mc->mem_limit = res_qty(r, "limits", "memory", 0);
}

/* "namespace/name" into key; -1 when it does not fit (names are bounded by the API). */
static int name_key(char *key, size_t keylen, const char *ns, const char *name)
{
    size_t nl = strlen(ns), ml = strlen(name);
    if (nl + 1 + ml + 1 > keylen)
        return -1;
    memcpy(key, ns, nl);
    key[nl] = '/';
    memcpy(key + nl + 1, name, ml + 1);
    return 0;
}

static struct cache_pod *pod_build(struct pod_cache *pc, json_object *obj)
{
    json_object *meta = pjo(obj, "metadata");
    json_object *cs = pjo(pjo(obj, "spec"), "containers");
    size_t n = cs && json_object_is_type(cs, json_type_array) ? json_object_array_length(cs) : 0;
    if (n > SUMMARY_MAX_CONTAINERS)
        n = SUMMARY_MAX_CONTAINERS;
    struct cache_pod *p = calloc(1, sizeof(*p) + n * sizeof(p->containers[0]));
    if (!p)
        return NULL;
    char labels[CACHE_MAX_LABELS_STR], stored[CACHE_MAX_LABELS_STR];
    cache_labels_render(pc->lp, pjo(meta, "labels"), labels, stored);
    p->ns = strmap_intern(&pc->strings, pjs(meta, "namespace"));
    p->info.labels = strmap_intern(&pc->strings, labels);
    p->info.stored = stored[0] ? strmap_intern(&pc->strings, stored) : NULL;
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(cs, i);
        struct model_pod_container *mc = &p->containers[p->info.ncontainers];
        if (!pjs(c, "name"))
            continue;
        container_fill(pc, mc, c);
        p->info.cpu_request_m = add_sat(p->info.cpu_request_m, mc->cpu_request_m);
        p->info.cpu_limit_m = add_sat(p->info.cpu_limit_m, mc->cpu_limit_m);
        p->info.mem_request = add_sat(p->info.mem_request, mc->mem_request);
        p->info.mem_limit = add_sat(p->info.mem_limit, mc->mem_limit);
        p->info.ncontainers++;
    }
    p->info.containers = p->containers;
    p->seen = true;
    return p;
}

void pod_cache_apply(struct pod_cache *pc, enum kube_event_type type, json_object *obj)
{
    json_object *meta = pjo(obj, "metadata");
    const char *uid = pjs(meta, "uid"), *ns = pjs(meta, "namespace"), *name = pjs(meta, "name");
    if (!uid || !*uid || strlen(uid) > SUMMARY_MAX_NAME)
        return;
    if (type == KUBE_EVENT_DELETED) {
        pod_free(pc, strmap_del(&pc->pods, uid));
        return;
    }
    struct cache_pod *p = pod_build(pc, obj);
    if (!p)
        return;
    struct cache_pod *old = strmap_get(&pc->pods, uid);
    if (!strmap_put(&pc->pods, uid, p)) {
        pod_free(pc, p);
        return;
    }
    pod_free(pc, old);
    char key[NAME_KEY_MAX + 1];
    if (ns && name && *ns && *name && name_key(key, sizeof(key), ns, name) == 0) {
        /* a pod's name_key is set only while the index points at it */
        struct cache_pod *prev = strmap_get(&pc->by_name, key);
        if (prev)
            prev->name_key = NULL;
        struct strmap_entry *e = strmap_put(&pc->by_name, key, p);
        p->name_key = e ? e->key : NULL;
    }
}

/* ---- namespaces ------------------------------------------------------------ */

void pod_cache_apply_namespace(struct pod_cache *pc, enum kube_event_type type, json_object *obj)
{
    json_object *meta = pjo(obj, "metadata");
    const char *name = pjs(meta, "name"), *uid = pjs(meta, "uid");
    if (!name || !*name || strlen(name) > SUMMARY_MAX_NAME)
        return;
    free(strmap_del(&pc->namespaces, name));
    if (type == KUBE_EVENT_DELETED || !uid || strlen(uid) > SUMMARY_MAX_NAME)
        return;
    size_t len = strlen(uid);
    struct cache_ns *e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return;
    e->seen = true;
    memcpy(e->uid, uid, len + 1);
    if (!strmap_put(&pc->namespaces, name, e))
        free(e);
}

void pod_cache_ns_list_begin(struct pod_cache *pc)
{
    cache_unsee_all(&pc->namespaces, offsetof(struct cache_ns, seen));
}

/* strmap_remove_if: a namespace the relist did not see is gone. */
static bool ns_unseen(const char *k, void *v, void *ud)
{
    (void)k;
    (void)ud;
    if (((struct cache_ns *)v)->seen)
        return false;
    free(v);
    return true;
}

void pod_cache_ns_list_done(struct pod_cache *pc)
{
    strmap_remove_if(&pc->namespaces, ns_unseen, NULL);
}

/* ---- relists and lookup ------------------------------------------------------ */

void pod_cache_list_begin(struct pod_cache *pc)
{
    cache_unsee_all(&pc->pods, offsetof(struct cache_pod, seen));
}

/* strmap_remove_if: a pod the relist did not see is gone (pod_free touches the other maps). */
static bool pod_unseen(const char *k, void *v, void *ud)
{
    (void)k;
    if (((struct cache_pod *)v)->seen)
        return false;
    pod_free(ud, v);
    return true;
}

void pod_cache_list_done(struct pod_cache *pc)
{
    strmap_remove_if(&pc->pods, pod_unseen, pc);
}

const struct model_pod_info *pod_cache_lookup(const char *uid, const char *ns, const char *name,
                                              void *ud)
{
    struct pod_cache *pc = ud;
    struct cache_pod *p = uid && *uid ? strmap_get(&pc->pods, uid) : NULL;
    if (!p && ns && name && *ns && *name) {
        char key[NAME_KEY_MAX + 1];
        if (name_key(key, sizeof(key), ns, name) == 0)
            p = strmap_get(&pc->by_name, key);
    }
    if (!p)
        return NULL;
    struct cache_ns *n = p->ns ? strmap_get(&pc->namespaces, p->ns) : NULL;
    p->info.namespace_uid = n ? n->uid : NULL;
    return &p->info;
}
