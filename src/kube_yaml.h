/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_yaml.h - a small, bounded YAML document tree for the kubeconfig loader
 * (private to src/). Scalars keep their text and line; mappings keep their
 * key/value pairs in order. Anchors and aliases are refused.
 */
#ifndef KP_KUBE_YAML_H
#define KP_KUBE_YAML_H

#include <stddef.h>

#define KYAML_MAX_DEPTH 32
#define KYAML_MAX_NODES 100000

enum kyaml_type { KYAML_SCALAR, KYAML_SEQ, KYAML_MAP };

struct kyaml_node {
    enum kyaml_type type;
    int line;     /* 1-based */
    char *scalar; /* owned, NUL-terminated (scalars) */
    size_t scalar_len;
    struct kyaml_node **items; /* owned: seq items, or map key,value,key,value... */
    size_t n_items;
};

/* Parse one document; NULL with err ("LINE: message") on error. An empty
 * document gives an empty mapping. */
struct kyaml_node *kyaml_parse(const char *text, size_t len, char *err, size_t errlen);
void kyaml_free(struct kyaml_node *n);
/* Value of key in a mapping, or NULL. */
const struct kyaml_node *kyaml_get(const struct kyaml_node *map, const char *key);

#endif
