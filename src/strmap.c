/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strmap.c - the chained string-keyed hash map of strmap.h. Chaining keeps
 * deletion trivial, which the watch caches need on every DELETED event.
 */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void strmap_init(struct strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void strmap_fini(struct strmap *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e) {
            struct strmap_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    strmap_init(m);
}

void strmap_fini_values(struct strmap *m, void (*free_value)(void *value, void *ud), void *ud)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct strmap_entry *e = m->buckets[i]; e; e = e->next)
            free_value(e->value, ud);
    strmap_fini(m);
}

static struct strmap_entry **strmap_slot(const struct strmap *m, const char *key, uint64_t h)
{
    struct strmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

struct strmap_entry *strmap_find(const struct strmap *m, const char *key)
{
    if (!m->nbuckets)
        return NULL;
    return *strmap_slot(m, key, kp_hash(key, strlen(key)));
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_entry *e = strmap_find(m, key);
    return e ? e->value : NULL;
}

static int strmap_grow(struct strmap *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
    struct strmap_entry **b = calloc(n, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e) {
            struct strmap_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
    return 0;
}

struct strmap_entry *strmap_put(struct strmap *m, const char *key, void *value)
{
    if (m->count >= m->nbuckets && strmap_grow(m) < 0)
        return NULL;
    size_t len = strlen(key);
    uint64_t h = kp_hash(key, len);
    struct strmap_entry **pp = strmap_slot(m, key, h);
    if (*pp) {
        (*pp)->value = value;
        return *pp;
    }
    struct strmap_entry *e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    e->next = NULL;
    e->hash = h;
    e->value = value;
    memcpy(e->key, key, len + 1);
    *pp = e;
    m->count++;
    return e;
}

void *strmap_del(struct strmap *m, const char *key)
{
    if (!m->nbuckets)
        return NULL;
    struct strmap_entry **pp = strmap_slot(m, key, kp_hash(key, strlen(key)));
    struct strmap_entry *e = *pp;
    if (!e)
        return NULL;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

void strmap_each(const struct strmap *m, void (*fn)(const char *key, void *value, void *ud),
                 void *ud)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct strmap_entry *e = m->buckets[i]; e; e = e->next)
            fn(e->key, e->value, ud);
}

size_t strmap_remove_if(struct strmap *m, bool (*fn)(const char *key, void *value, void *ud),
                        void *ud)
{
    size_t removed = 0;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry **pp = &m->buckets[i];
        while (*pp) {
            struct strmap_entry *e = *pp;
            if (!fn(e->key, e->value, ud)) {
                pp = &e->next;
                continue;
            }
            *pp = e->next;
            free(e);
            m->count--;
            removed++;
        }
    }
    return removed;
}

const char *strmap_intern(struct strmap *m, const char *s)
{
    if (!s || !*s)
        return NULL;
    struct strmap_entry *e = strmap_find(m, s);
    if (!e && !(e = strmap_put(m, s, (void *)(uintptr_t)0)))
        return NULL;
    e->value = (void *)((uintptr_t)e->value + 1);
    return e->key;
}

void strmap_release(struct strmap *m, const char *interned)
{
    if (!interned)
        return;
    struct strmap_entry *e = strmap_find(m, interned);
    if (!e)
        return;
    uintptr_t refs = (uintptr_t)e->value;
    if (refs > 1) {
        e->value = (void *)(refs - 1);
        return;
    }
    /* interned may be e->key itself: look it up before the entry is freed */
    strmap_del(m, e->key);
}
