/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_yaml.c - builds the bounded YAML tree of kube_yaml.h from libyaml's
 * event stream (depth and node count are capped: the input is a file).
 */
#include "kube_yaml.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct builder {
    yaml_parser_t parser;
    size_t nodes;
    char *err;
    size_t errlen;
};

void kyaml_free(struct kyaml_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_items; i++)
        kyaml_free(n->items[i]);
    free(n->items);
    free(n->scalar);
    free(n);
}

static int add_item(struct kyaml_node *parent, struct kyaml_node *child)
{
    /* Grow in powers of two: the count is bounded by KYAML_MAX_NODES. */
    size_t n = parent->n_items;
    if ((n & (n - 1)) == 0) {
        size_t cap = n ? n * 2 : 4;
        struct kyaml_node **items = realloc(parent->items, cap * sizeof(*items));
        if (!items)
            return -1;
        parent->items = items;
    }
    parent->items[parent->n_items++] = child;
    return 0;
}

static struct kyaml_node *node_new(struct builder *b, enum kyaml_type type, int line)
{
    if (++b->nodes > KYAML_MAX_NODES) {
        snprintf(b->err, b->errlen, "%d: too many YAML nodes (limit %d)", line, KYAML_MAX_NODES);
        return NULL;
    }
    struct kyaml_node *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(b->err, b->errlen, "%d: out of memory", line);
        return NULL;
    }
    n->type = type;
    n->line = line;
    return n;
}

/* Parse the node whose first event is ev (already consumed). */
static struct kyaml_node *parse_node(struct builder *b, yaml_event_t *ev, int depth)
{
    int line = (int)ev->start_mark.line + 1;
    struct kyaml_node *n = NULL;
    if (depth > KYAML_MAX_DEPTH) {
        snprintf(b->err, b->errlen, "%d: YAML nested deeper than %d", line, KYAML_MAX_DEPTH);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor)
            goto anchor;
        if (!(n = node_new(b, KYAML_SCALAR, line)))
            return NULL;
        n->scalar = malloc(ev->data.scalar.length + 1);
        if (!n->scalar) {
            snprintf(b->err, b->errlen, "%d: out of memory", line);
            goto fail;
        }
        memcpy(n->scalar, ev->data.scalar.value, ev->data.scalar.length);
        n->scalar[ev->data.scalar.length] = '\0';
        n->scalar_len = ev->data.scalar.length;
        return n;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        if (seq ? ev->data.sequence_start.anchor != NULL : ev->data.mapping_start.anchor != NULL)
            goto anchor;
        if (!(n = node_new(b, seq ? KYAML_SEQ : KYAML_MAP, line)))
            return NULL;
        yaml_event_type_t end = seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
        for (;;) {
            yaml_event_t child_ev;
            if (!yaml_parser_parse(&b->parser, &child_ev)) {
                snprintf(b->err, b->errlen, "%d: invalid YAML: %s",
                         (int)b->parser.problem_mark.line + 1,
                         b->parser.problem ? b->parser.problem : "parse error");
                goto fail;
            }
            if (child_ev.type == end) {
                yaml_event_delete(&child_ev);
                break;
            }
            struct kyaml_node *child = parse_node(b, &child_ev, depth + 1);
            yaml_event_delete(&child_ev);
            if (!child)
                goto fail;
            if (add_item(n, child) < 0) {
                kyaml_free(child);
                snprintf(b->err, b->errlen, "%d: out of memory", line);
                goto fail;
            }
        }
        if (!seq && n->n_items % 2) {
            snprintf(b->err, b->errlen, "%d: malformed mapping", line);
            goto fail;
        }
        return n;
    }
    case YAML_ALIAS_EVENT:
        snprintf(b->err, b->errlen, "%d: YAML aliases are not supported", line);
        return NULL;
    default: snprintf(b->err, b->errlen, "%d: unexpected YAML event", line); return NULL;
    }
anchor:
    snprintf(b->err, b->errlen, "%d: YAML anchors are not supported", line);
    return NULL;
fail:
    kyaml_free(n);
    return NULL;
}

struct kyaml_node *kyaml_parse(const char *text, size_t len, char *err, size_t errlen)
{
    struct builder b = {.err = err, .errlen = errlen};
    struct kyaml_node *root = NULL;
    yaml_event_t ev;
    bool in_doc = false;
    if (!yaml_parser_initialize(&b.parser)) {
        snprintf(err, errlen, "1: out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
    for (;;) {
        if (!yaml_parser_parse(&b.parser, &ev)) {
            snprintf(err, errlen, "%d: invalid YAML: %s", (int)b.parser.problem_mark.line + 1,
                     b.parser.problem ? b.parser.problem : "parse error");
            goto fail;
        }
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_DOCUMENT_START_EVENT) {
            if (root || in_doc) {
                int line = (int)ev.start_mark.line + 1;
                yaml_event_delete(&ev);
                snprintf(err, errlen, "%d: more than one YAML document", line);
                goto fail;
            }
            in_doc = true;
        } else if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT ||
                   t == YAML_SCALAR_EVENT || t == YAML_ALIAS_EVENT) {
            root = parse_node(&b, &ev, 0);
            if (!root) {
                yaml_event_delete(&ev);
                goto fail;
            }
        } else if (t == YAML_DOCUMENT_END_EVENT) {
            in_doc = false;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&b.parser);
    if (!root) {
        root = calloc(1, sizeof(*root));
        if (!root) {
            snprintf(err, errlen, "1: out of memory");
            return NULL;
        }
        root->type = KYAML_MAP;
        root->line = 1;
    }
    return root;
fail:
    kyaml_free(root);
    yaml_parser_delete(&b.parser);
    return NULL;
}

const struct kyaml_node *kyaml_get(const struct kyaml_node *map, const char *key)
{
    if (!map || map->type != KYAML_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n_items; i += 2) {
        const struct kyaml_node *k = map->items[i];
        if (k->type == KYAML_SCALAR && strcmp(k->scalar, key) == 0)
            return map->items[i + 1];
    }
    return NULL;
}
