/* SPDX-License-Identifier: Apache-2.0 */
/*
 * window_api.c - the requests of Heapster's model API (/api/v1/model/...) on the window of
 * window.c, answered as Heapster's model_handlers.go: metric lists and entity lists are JSON
 * arrays of names, a metric is {"metrics":[{"timestamp","value"}...], "latestTimestamp"},
 * values as integers; start and end are RFC 3339 (end defaults to now). Every request tells
 * the window (on demand, it starts recording).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "window_int.h"

struct names {
    json_object *a;
    const char *prefix;
    size_t pl;
};

static void add_name(const char *key, void *value, void *ud)
{
    (void)value;
    struct names *n = ud;
    if (strncmp(key, n->prefix, n->pl) == 0 && !strchr(key + n->pl, '/'))
        json_object_array_add(n->a, json_object_new_string(key + n->pl));
}

static json_object *names_under(const struct mapi_window *w, const char *prefix)
{
    struct names n = {json_object_new_array(), prefix, strlen(prefix)};
    strmap_each(&w->entities, add_name, &n);
    return n.a;
}

static int cmp_json_str(const void *a, const void *b)
{
    return strcmp(json_object_get_string(*(json_object *const *)a),
                  json_object_get_string(*(json_object *const *)b));
}

static void respond(struct mapi_response *r, int code, json_object *o)
{
    if (json_object_is_type(o, json_type_array))
        json_object_array_sort(o, cmp_json_str);
    mapi_respond_json(r, code, o);
}

static void text(struct mapi_response *r, int code, const char *msg)
{
    r->code = code;
    r->content_type = "text/plain; charset=utf-8";
    r->body = strdup(msg);
    r->len = r->body ? strlen(r->body) : 0;
}

static int metric_id(const char *name)
{
    for (int i = 0; i < KP_M__COUNT; i++)
        if (!strcmp(kp_metrics[i].name, name))
            return i;
    return -1;
}

static void metric_names(const struct wentity *e, struct mapi_response *r)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; e && i < e->ns; i++)
        if (e->s[i].n)
            json_object_array_add(a, json_object_new_string(kp_metrics[e->s[i].metric].name));
    respond(r, 200, a);
}

static void metric_points(const struct wentity *e, const char *name, int64_t start, int64_t end,
                          struct mapi_response *r)
{
    int m = metric_id(name);
    const struct wseries *s = NULL;
    for (size_t i = 0; e && m >= 0 && i < e->ns && !s; i++)
        if (e->s[i].metric == m)
            s = &e->s[i];
    json_object *o = json_object_new_object(), *pts = json_object_new_array();
    int64_t latest = 0;
    char t[32];
    for (uint32_t i = 0; s && i < s->n; i++) {
        uint32_t at = (s->head + i) % s->cap;
        int64_t ts = wseries_ts_at(s, at), v = wseries_v_at(s, at);
        if (ts > latest)
            latest = ts;
        if (ts < start || ts > end)
            continue;
        json_object *pt = json_object_new_object();
        mapi_fmt_time(t, ts);
        json_object_object_add(pt, "timestamp", json_object_new_string(t));
        json_object_object_add(pt, "value", json_object_new_int64(v < 0 ? 0 : v));
        json_object_array_add(pts, pt);
    }
    json_object_object_add(o, "metrics", pts);
    mapi_fmt_time(t, latest);
    json_object_object_add(o, "latestTimestamp", json_object_new_string(t));
    respond(r, 200, o);
}

/* "start=...&end=..." (percent-encoded '+' and ':' allowed) into Unix ns. */
static int parse_range(const char *query, int64_t now, int64_t *start, int64_t *end)
{
    *start = INT64_MIN;
    *end = now;
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&'), *stop = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        bool is_start = eq && eq - p == 5 && !strncmp(p, "start", 5);
        if (is_start || (eq && eq - p == 3 && !strncmp(p, "end", 3))) {
            char v[64];
            size_t o = 0;
            for (const char *q = eq + 1; q < stop && o + 1 < sizeof(v); q++) {
                if (*q == '%' && stop - q >= 3) {
                    char hex[3] = {q[1], q[2], 0};
                    v[o++] = (char)strtol(hex, NULL, 16);
                    q += 2;
                } else {
                    v[o++] = *q;
                }
            }
            v[o] = '\0';
            int64_t sec;
            int32_t nsec;
            if (o && kp_rfc3339_parse(v, o, -1, &sec, &nsec) < 0)
                return -1;
            /* Unix nanoseconds hold the years 1678 to 2261; RFC 3339 has 0000 to 9999 */
            if (o && (sec <= INT64_MIN / 1000000000LL || sec >= INT64_MAX / 1000000000LL))
                return -1;
            if (o) {
                int64_t ns = sec * 1000000000LL + nsec;
                if (is_start)
                    *start = ns;
                else
                    *end = ns;
            }
        }
        p = amp ? amp + 1 : stop;
    }
    return 0;
}

#define MAX_PARTS 12

void mapi_window_handle(struct mapi_window *w, const char *path, const char *query, int64_t now_ns,
                        struct mapi_response *r)
{
    char buf[2048], key[1200], mname[128];
    char *parts[MAX_PARTS];
    size_t n = 0;
    int64_t start, end;
    memset(r, 0, sizeof(*r));
    window_note_request(w);
    if (strlen(path) >= sizeof(buf) || parse_range(query, now_ns, &start, &end) < 0) {
        text(r, 400, "bad request: start and end are RFC 3339 times\n");
        return;
    }
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n == MAX_PARTS) {
            text(r, 404, "not found\n");
            return;
        }
        parts[n++] = t;
    }
    if (n < 3 || strcmp(parts[0], "api") || strcmp(parts[1], "v1") || strcmp(parts[2], "model")) {
        text(r, 404, "not found\n");
        return;
    }
    char **q = parts + 3;
    size_t m = n - 3, k = 0;
    const char *metric = NULL;
    /* "metrics" or "metrics/NAME" (a name holds a slash: "memory/usage"); the entity part is
     * kind/name pairs, so "metrics" sits at an even index */
    while (k < m && strcmp(q[k], "metrics") != 0)
        k += 2;
    if (k >= m) {
        /* entity lists */
        if (m == 1 && !strcmp(q[0], "nodes"))
            respond(r, 200, names_under(w, "n/"));
        else if (m == 1 && !strcmp(q[0], "namespaces"))
            respond(r, 200, names_under(w, "ns/"));
        else if (m == 3 && !strcmp(q[0], "namespaces") && !strcmp(q[2], "pods")) {
            snprintf(key, sizeof(key), "p/%s/", q[1]);
            respond(r, 200, names_under(w, key));
        } else if (m == 5 && !strcmp(q[0], "namespaces") && !strcmp(q[2], "pods") &&
                   !strcmp(q[4], "containers")) {
            snprintf(key, sizeof(key), "c/%s/%s/", q[1], q[3]);
            respond(r, 200, names_under(w, key));
        } else {
            text(r, 404, "not found\n");
        }
        return;
    }
    if (k + 1 < m) {
        size_t o = 0;
        for (size_t i = k + 1; i < m; i++) {
            int wr = snprintf(mname + o, sizeof(mname) - o, "%s%s", i > k + 1 ? "/" : "", q[i]);
            if (wr < 0 || (size_t)wr >= sizeof(mname) - o) {
                text(r, 404, "not found\n");
                return;
            }
            o += (size_t)wr;
        }
        metric = mname;
    }
    m = k;
    if (m == 0)
        snprintf(key, sizeof(key), "cluster");
    else if (m == 2 && !strcmp(q[0], "nodes"))
        snprintf(key, sizeof(key), "n/%s", q[1]);
    else if (m == 2 && !strcmp(q[0], "namespaces"))
        snprintf(key, sizeof(key), "ns/%s", q[1]);
    else if (m == 4 && !strcmp(q[0], "namespaces") && !strcmp(q[2], "pods"))
        snprintf(key, sizeof(key), "p/%s/%s", q[1], q[3]);
    else if (m == 6 && !strcmp(q[0], "namespaces") && !strcmp(q[2], "pods") &&
             !strcmp(q[4], "containers"))
        snprintf(key, sizeof(key), "c/%s/%s/%s", q[1], q[3], q[5]);
    else {
        text(r, 404, "not found\n");
        return;
    }
    const struct wentity *e = strmap_get(&w->entities, key);
    if (metric)
        metric_points(e, metric, start, end, r);
    else
        metric_names(e, r);
}
