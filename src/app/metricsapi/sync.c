/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sync.c - the store as JSON, for the followers' copy of the leader's samples:
 *
 *   {"v":1,"nodes":[{"n":NAME,"l":LABELS,"s":[LAST],"p":[PREV]}...],
 *    "pods":[{"ns":NS,"n":NAME,"l":LABELS,"c":[{"n":NAME,"s":[..],"p":[..]}...]}...]}
 *
 * where a sample is [ts_ns, start_ns, cpu_ns, mem] and "p" is absent without a previous
 * sample. import.c reads it back.
 */
#include "mapi_int.h"
#include "status.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>

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
