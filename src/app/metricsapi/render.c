/* SPDX-License-Identifier: Apache-2.0 */
/*
 * render.c - NodeMetrics and PodMetrics as JSON text, written straight into
 * one growing buffer. A list of every pod of a 5,000-node cluster (150,000
 * pods) is about 60 MB; building it as a json-c tree first made about
 * fifteen objects per pod, each with its own hash table, before printing
 * them (issue #20 measured what that cost). The text is what json-c printed
 * (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE): the same members
 * in the same order, the same escapes.
 */
#include "mapi_int.h"

#include <stdlib.h>
#include <string.h>

#include "status.h"

static void put(struct status_buf *b, const char *s)
{
    status_buf_append(b, s, strlen(s));
}

void mapi_render_string(struct status_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;
    status_buf_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        status_buf_append(b, run, (size_t)(p - run));
        run = p + 1;
        switch (c) {
        case '"': put(b, "\\\""); break;
        case '\\': put(b, "\\\\"); break;
        case '\b': put(b, "\\b"); break;
        case '\f': put(b, "\\f"); break;
        case '\n': put(b, "\\n"); break;
        case '\r': put(b, "\\r"); break;
        case '\t': put(b, "\\t"); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            status_buf_append(b, u, sizeof(u));
        }
        }
    }
    status_buf_append(b, run, strlen(run));
    status_buf_append(b, "\"", 1);
}

/* "key": */
static void key(struct status_buf *b, const char *k)
{
    mapi_render_string(b, k);
    status_buf_append(b, ":", 1);
}

/* The collector's "k:v,k:v" as a JSON object's members. A key of 320 bytes or more or a
 * value of 256 or more is left out (labels are shorter: 253 + 63 and 63). */
static void labels(struct status_buf *b, const char *text)
{
    char k[320], v[256];
    bool first = true;
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, ','), *colon = strchr(p, ':');
        if (!end)
            end = p + strlen(p);
        if (colon && colon < end && (size_t)(colon - p) < sizeof(k) &&
            (size_t)(end - colon - 1) < sizeof(v)) {
            memcpy(k, p, (size_t)(colon - p));
            k[colon - p] = '\0';
            memcpy(v, colon + 1, (size_t)(end - colon - 1));
            v[end - colon - 1] = '\0';
            if (!first)
                status_buf_append(b, ",", 1);
            first = false;
            key(b, k);
            mapi_render_string(b, v);
        }
        p = *end ? end + 1 : end;
    }
}

static void metadata(struct status_buf *b, const char *ns, const char *name, const char *lbl,
                     const char *created)
{
    put(b, "\"metadata\":{");
    key(b, "name");
    mapi_render_string(b, name);
    if (ns) {
        put(b, ",");
        key(b, "namespace");
        mapi_render_string(b, ns);
    }
    put(b, ",\"creationTimestamp\":");
    mapi_render_string(b, created);
    if (lbl && *lbl) {
        put(b, ",\"labels\":{");
        labels(b, lbl);
        put(b, "}");
    }
    put(b, "}");
}

static void usage(struct status_buf *b, const struct mapi_usage *u)
{
    char cpu[32], mem[32];
    mapi_fmt_decimal(cpu, u->cpu_nano, -9);
    mapi_fmt_binary(mem, u->mem_bytes);
    put(b, "\"usage\":{\"cpu\":");
    mapi_render_string(b, cpu);
    put(b, ",\"memory\":");
    mapi_render_string(b, mem);
    put(b, "}");
}

static void when(struct status_buf *b, const struct mapi_usage *u)
{
    char t[32], w[40];
    mapi_fmt_time(t, u->ts_ns);
    mapi_fmt_duration(w, u->window_ns);
    put(b, ",\"timestamp\":");
    mapi_render_string(b, t);
    put(b, ",\"window\":");
    mapi_render_string(b, w);
    put(b, ",");
}

bool mapi_render_node(struct status_buf *b, const struct mapi_node *nd, const char *created)
{
    struct mapi_usage u;
    if (!nd->has_prev || mapi_usage_of(&nd->last, &nd->prev, &u) < 0)
        return false;
    put(b, "{");
    metadata(b, NULL, nd->name, nd->labels, created);
    when(b, &u);
    usage(b, &u);
    return true;
}

#define CTRS_ON_STACK 16

bool mapi_render_pod(struct status_buf *b, const struct mapi_pod *p, const char *created)
{
    struct mapi_usage ti, us_stack[CTRS_ON_STACK], *us = us_stack;
    bool ok_stack[CTRS_ON_STACK], *ok = ok_stack, done = false;
    if (p->nctrs > CTRS_ON_STACK) {
        us = calloc(p->nctrs, sizeof(*us));
        ok = calloc(p->nctrs, sizeof(*ok));
        if (!us || !ok) {
            b->failed = 1;
            goto out;
        }
    }
    if (mapi_pod_usage(p, &ti, us, ok) < 0)
        goto out;
    put(b, "{");
    metadata(b, p->ns, p->name, p->labels, created);
    when(b, &ti);
    put(b, "\"containers\":[");
    bool first = true;
    for (size_t i = 0; i < p->nctrs; i++) {
        if (!ok[i])
            continue;
        put(b, first ? "{\"name\":" : ",{\"name\":");
        first = false;
        mapi_render_string(b, p->ctrs[i].name);
        put(b, ",");
        usage(b, &us[i]);
        put(b, "}");
    }
    put(b, "]");
    done = true;
out:
    if (us != us_stack)
        free(us);
    if (ok != ok_stack)
        free(ok);
    return done;
}
