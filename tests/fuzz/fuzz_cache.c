/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_cache.c - libFuzzer target for the Node, Pod and Namespace decoders of the
 * collector's caches (collector/cache.c, pods.c) as the API server's watch events reach
 * them. The input is a watch stream: each event's object goes, by its "kind", to the node
 * cache, the pod cache or the namespace table, as ADDED, MODIFIED or DELETED by its "type";
 * the first byte places a relist (list_begin .. list_done) around some events. Oracles:
 * an object applied twice leaves the same counts as applied once; a DELETED never adds; a
 * pod the cache holds is found again by its uid.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cache.h"
#include "kube_internal.h"

struct state {
    struct node_cache nc;
    struct pod_cache pc;
    unsigned relist_every, n;
    bool listing;
};

static enum kube_event_type event_type(const char *t)
{
    if (strcmp(t, "DELETED") == 0)
        return KUBE_EVENT_DELETED;
    return strcmp(t, "MODIFIED") == 0 ? KUBE_EVENT_MODIFIED : KUBE_EVENT_ADDED;
}

static const char *str_at(json_object *o, const char *k1, const char *k2)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k1, &v))
        return NULL;
    if (k2 && !json_object_object_get_ex(v, k2, &v))
        return NULL;
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static void apply(struct state *s, const char *kind, enum kube_event_type t, json_object *o)
{
    if (strcmp(kind, "Node") == 0) {
        node_cache_apply(&s->nc, t, o);
    } else if (strcmp(kind, "Namespace") == 0) {
        pod_cache_apply_namespace(&s->pc, t, o);
    } else {
        pod_cache_apply(&s->pc, t, o);
        const char *uid = str_at(o, "metadata", "uid");
        if (t != KUBE_EVENT_DELETED && uid && strmap_get(&s->pc.pods, uid) &&
            !pod_cache_lookup(uid, NULL, NULL, &s->pc))
            __builtin_trap();
        (void)pod_cache_lookup(uid ? uid : "", str_at(o, "metadata", "namespace"),
                               str_at(o, "metadata", "name"), &s->pc);
    }
}

static int on_object(json_object *ev, void *ud)
{
    struct state *s = ud;
    const char *type, *kind;
    json_object *obj;
    if (kube_event_split(ev, &type, &obj) != 0)
        return 0;
    kind = str_at(obj, "kind", NULL);
    if (!kind)
        kind = "Pod";
    if (s->relist_every && s->n++ % s->relist_every == 0) {
        if (s->listing) {
            node_cache_list_done(&s->nc);
            pod_cache_list_done(&s->pc);
            pod_cache_ns_list_done(&s->pc);
        } else {
            node_cache_list_begin(&s->nc);
            pod_cache_list_begin(&s->pc);
            pod_cache_ns_list_begin(&s->pc);
        }
        s->listing = !s->listing;
    }
    enum kube_event_type t = event_type(type);
    size_t nodes = s->nc.nodes.count, pods = s->pc.pods.count, nss = s->pc.namespaces.count;
    apply(s, kind, t, obj);
    size_t nodes1 = s->nc.nodes.count, pods1 = s->pc.pods.count, nss1 = s->pc.namespaces.count;
    if (t == KUBE_EVENT_DELETED && (nodes1 > nodes || pods1 > pods || nss1 > nss))
        __builtin_trap();
    apply(s, kind, t, obj); /* the same event again (a watch resumed from an older version) */
    if (s->nc.nodes.count != nodes1 || s->pc.pods.count != pods1 || s->pc.namespaces.count != nss1)
        __builtin_trap();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (size < 1)
        return 0;
    struct state s = {.relist_every = data[0] % 5};
    if (node_cache_init(&s.nc, "InternalIP,ExternalIP,Hostname", err, sizeof err) < 0)
        return 0;
    pod_cache_init(&s.pc);
    struct kube_stream *st = kube_stream_new(0);
    if (st) {
        (void)kube_stream_feed(st, (const char *)data + 1, size - 1, on_object, &s, err,
                               sizeof err);
        kube_stream_free(st);
    }
    if (s.listing) {
        node_cache_list_done(&s.nc);
        pod_cache_list_done(&s.pc);
        pod_cache_ns_list_done(&s.pc);
    }
    pod_cache_fini(&s.pc);
    node_cache_fini(&s.nc);
    return 0;
}
