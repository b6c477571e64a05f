/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strmap.h - a chained hash map from NUL-terminated string keys to pointers,
 * used by the collector's caches (pods by uid, nodes by name, interned strings,
 * namespace sums) and the metrics API's model window (entities by key). Keys are
 * copied into each entry; values are the caller's.
 */
#ifndef KP_STRMAP_H
#define KP_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_entry {
    struct strmap_entry *next; /* owned chain */
    uint64_t hash;
    void *value; /* borrowed: the caller owns what it points to */
    char key[];  /* owned copy */
};

struct strmap {
    struct strmap_entry **buckets; /* owned */
    size_t nbuckets;               /* power of two, or 0 */
    size_t count;
};

void strmap_init(struct strmap *m);
/* Frees the entries, not the values (see strmap_fini_values). */
void strmap_fini(struct strmap *m);
/* Frees each value with free_value(value, ud), then the entries. */
void strmap_fini_values(struct strmap *m, void (*free_value)(void *value, void *ud), void *ud);
void *strmap_get(const struct strmap *m, const char *key);
/* Insert or replace; returns the entry, or NULL when out of memory. */
struct strmap_entry *strmap_put(struct strmap *m, const char *key, void *value);
/* Removes key; returns its value (or NULL). */
void *strmap_del(struct strmap *m, const char *key);
/* The entry of key, or NULL. Its key is stable until the entry is deleted. */
struct strmap_entry *strmap_find(const struct strmap *m, const char *key);
/* Visit every entry; fn may not modify the map. */
void strmap_each(const struct strmap *m, void (*fn)(const char *key, void *value, void *ud),
                 void *ud);
/* Remove every entry for which fn returns true, in one walk. When fn returns true it has
 * taken the value (freed it, typically); key is valid only during the call. fn may not
 * modify m (other maps are fine). Returns how many entries went. */
size_t strmap_remove_if(struct strmap *m, bool (*fn)(const char *key, void *value, void *ud),
                        void *ud);

/* Interning over a strmap whose values are reference counts: one copy per
 * distinct string, shared by every holder. strmap_intern returns the stable
 * copy (NULL for NULL, "" or out of memory); each non-NULL result is given back
 * with strmap_release, which frees the copy with its last reference. */
const char *strmap_intern(struct strmap *m, const char *s);
void strmap_release(struct strmap *m, const char *interned);

#endif
