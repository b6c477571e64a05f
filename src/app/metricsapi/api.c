/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api.c - the request side of metrics.k8s.io/v1beta1: routes a GET to
 * discovery, NodeMetrics or PodMetrics (list or get, one namespace or all,
 * labelSelector and fieldSelector) or the OpenAPI documents, and renders the
 * answer as the API server would: objects sorted by namespace and name,
 * errors as a Status with the API's reasons.
 */
#include "mapi_int.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openapi.h"
#include "status.h"
#include "uri.h"

#define GROUP      "metrics.k8s.io"
#define VERSION    "v1beta1"
#define GV         GROUP "/" VERSION
#define MAX_SEGS   8
#define MAX_TARGET 8192

struct req {
    char *segs[MAX_SEGS]; /* decoded path segments, in buf */
    size_t nsegs;
    const char *label_sel, *field_sel; /* decoded, in buf; NULL: none */
    char buf[MAX_TARGET * 2];
};

/* Percent-decode s[0..n) into *w (NUL-terminated; uri_percent_decode, kp_common) and move
 * *w past it; plus: '+' is a space (query). A NUL byte or a broken escape is refused. */
static int decode(const char *s, size_t n, char **w, bool plus)
{
    long len = uri_percent_decode(*w, s, n, plus);
    if (len < 0 || memchr(*w, '\0', (size_t)len))
        return -1;
    *w += len + 1;
    return 0;
}

/* Split "/a/b?x=y&z" into segments and the two selector parameters. */
static int request_parse(const char *target, struct req *r)
{
    memset(r, 0, sizeof(*r) - sizeof(r->buf));
    size_t tlen = strlen(target);
    if (tlen == 0 || tlen > MAX_TARGET || target[0] != '/')
        return -1;
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : tlen;
    char *w = r->buf;
    for (size_t i = 1; i < plen;) {
        size_t j = i;
        while (j < plen && target[j] != '/')
            j++;
        if (j > i) { /* empty segments ("//", a trailing "/") are dropped, as the mux does */
            if (r->nsegs == MAX_SEGS)
                return -1;
            r->segs[r->nsegs++] = w;
            if (decode(target + i, j - i, &w, false) < 0)
                return -1;
        }
        i = j + 1;
    }
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        size_t klen = eq ? (size_t)(eq - p) : (size_t)(end - p);
        const char **dst = NULL;
        if (klen == 13 && !strncmp(p, "labelSelector", 13))
            dst = &r->label_sel;
        else if (klen == 13 && !strncmp(p, "fieldSelector", 13))
            dst = &r->field_sel;
        if (dst) {
            *dst = w;
            if (eq ? decode(eq + 1, (size_t)(end - eq - 1), &w, true) < 0
                   : decode("", 0, &w, true) < 0)
                return -1;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

/* ---- responses ----------------------------------------------------------------- */

void mapi_respond_json(struct mapi_response *resp, int code, json_object *o)
{
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    resp->code = code;
    resp->content_type = "application/json";
    resp->body = s ? strdup(s) : NULL;
    resp->len = resp->body ? strlen(resp->body) : 0;
    if (!resp->body)
        resp->code = 500;
    json_object_put(o);
}

static void respond_status(struct mapi_response *resp, int code, const char *reason,
                           const char *message, const char *kind, const char *name)
{
    json_object *o = json_object_new_object(), *d = NULL;
    json_object_object_add(o, "kind", json_object_new_string("Status"));
    json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(o, "metadata", json_object_new_object());
    json_object_object_add(o, "status", json_object_new_string("Failure"));
    json_object_object_add(o, "message", json_object_new_string(message));
    json_object_object_add(o, "reason", json_object_new_string(reason));
    if (kind) {
        d = json_object_new_object();
        if (name)
            json_object_object_add(d, "name", json_object_new_string(name));
        json_object_object_add(d, "group", json_object_new_string(GROUP));
        json_object_object_add(d, "kind", json_object_new_string(kind));
        json_object_object_add(o, "details", d);
    }
    json_object_object_add(o, "code", json_object_new_int(code));
    mapi_respond_json(resp, code, o);
}

static void mapi_respond_status(struct mapi_response *resp, int code, const char *reason,
                                const char *message)
{
    respond_status(resp, code, reason, message, NULL, NULL);
}

static void not_found(struct mapi_response *resp, const char *resource, const char *name)
{
    char msg[600];
    snprintf(msg, sizeof(msg), "%s.%s \"%.256s\" not found", resource, GROUP, name);
    respond_status(resp, 404, "NotFound", msg, resource, name);
}

/* ---- discovery ------------------------------------------------------------------ */

static json_object *group_obj(void)
{
    json_object *g = json_object_new_object(), *vs = json_object_new_array();
    json_object *v = json_object_new_object();
    json_object_object_add(v, "groupVersion", json_object_new_string(GV));
    json_object_object_add(v, "version", json_object_new_string(VERSION));
    json_object_array_add(vs, v);
    json_object_object_add(g, "name", json_object_new_string(GROUP));
    json_object_object_add(g, "versions", vs);
    json_object_object_add(g, "preferredVersion", json_object_get(v));
    return g;
}

static void discovery_apis(struct mapi_response *resp)
{
    json_object *o = json_object_new_object(), *gs = json_object_new_array();
    json_object_object_add(o, "kind", json_object_new_string("APIGroupList"));
    json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
    json_object_array_add(gs, group_obj());
    json_object_object_add(o, "groups", gs);
    mapi_respond_json(resp, 200, o);
}

static void discovery_group(struct mapi_response *resp)
{
    json_object *o = group_obj();
    json_object_object_add(o, "kind", json_object_new_string("APIGroup"));
    json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
    mapi_respond_json(resp, 200, o);
}

static json_object *resource_obj(const char *name, const char *kind, bool namespaced)
{
    json_object *r = json_object_new_object(), *verbs = json_object_new_array();
    json_object_object_add(r, "name", json_object_new_string(name));
    json_object_object_add(r, "singularName", json_object_new_string(""));
    json_object_object_add(r, "namespaced", json_object_new_boolean(namespaced));
    json_object_object_add(r, "kind", json_object_new_string(kind));
    json_object_array_add(verbs, json_object_new_string("get"));
    json_object_array_add(verbs, json_object_new_string("list"));
    json_object_object_add(r, "verbs", verbs);
    return r;
}

static void discovery_version(struct mapi_response *resp)
{
    json_object *o = json_object_new_object(), *rs = json_object_new_array();
    json_object_object_add(o, "kind", json_object_new_string("APIResourceList"));
    json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(o, "groupVersion", json_object_new_string(GV));
    json_object_array_add(rs, resource_obj("nodes", "NodeMetrics", false));
    json_object_array_add(rs, resource_obj("pods", "PodMetrics", true));
    json_object_object_add(o, "resources", rs);
    mapi_respond_json(resp, 200, o);
}

/* ---- objects ------------------------------------------------------------------- */

/* The body of b as the answer (taken over), or a 500 when it could not grow. */
static void respond_buf(struct mapi_response *resp, struct status_buf *b)
{
    if (b->failed || !b->data) {
        free(b->data);
        mapi_respond_status(resp, 500, "InternalError", "out of memory");
        return;
    }
    resp->code = 200;
    resp->content_type = "application/json";
    resp->body = b->data;
    resp->len = b->len;
}

struct fields_obj {
    const char *ns, *name;
};

static const char *field_get(const char *key, const void *obj)
{
    const struct fields_obj *f = obj;
    if (!strcmp(key, "metadata.name"))
        return f->name;
    if (f->ns && !strcmp(key, "metadata.namespace"))
        return f->ns;
    return NULL;
}

struct query {
    struct kube_selector labels, fields;
};

static int query_parse(const struct req *r, struct query *q, struct mapi_response *resp)
{
    char err[256], msg[320];
    memset(q, 0, sizeof(*q));
    if (r->label_sel && kube_selector_parse(r->label_sel, &q->labels, err, sizeof err) < 0)
        goto bad;
    if (r->field_sel && mapi_field_selector_parse(r->field_sel, &q->fields, err, sizeof err) < 0)
        goto bad;
    return 0;
bad:
    kube_selector_fini(&q->labels);
    kube_selector_fini(&q->fields);
    snprintf(msg, sizeof(msg), "%s", err);
    respond_status(resp, 400, "BadRequest", msg, NULL, NULL);
    return -1;
}

static void query_fini(struct query *q)
{
    kube_selector_fini(&q->labels);
    kube_selector_fini(&q->fields);
}

/* Does the object (ns NULL for a node) match both selectors of q? */
static bool query_match(const struct query *q, const char *labels, const char *ns, const char *name)
{
    struct fields_obj f = {ns, name};
    return mapi_selector_match_labels(&q->labels, labels) &&
           mapi_selector_match_fields(&q->fields, field_get, &f);
}

/* A list is written as list_open, then per item matching q list_item_open, the item's render
 * (which leaves its object open) and list_item_close, then list_close. list_open parses the
 * request's selectors into q; when they are bad it answers 400 and returns -1. */
static int list_open(struct status_buf *b, struct query *q, const struct req *r, const char *kind,
                     struct mapi_response *resp)
{
    if (query_parse(r, q, resp) < 0)
        return -1;
    status_buf_printf(b, "{\"kind\":\"%s\",\"apiVersion\":\"" GV "\",\"metadata\":{},\"items\":[",
                      kind);
    return 0;
}

/* Returns the mark list_item_close takes back to; a comma unless this is the first item. */
static size_t list_item_open(struct status_buf *b)
{
    size_t mark = b->len;
    if (b->len && b->data[b->len - 1] != '[')
        status_buf_append(b, ",", 1);
    return mark;
}

/* Closes the item's object, or takes it back whole (its comma too) when it did not render. */
static void list_item_close(struct status_buf *b, size_t mark, bool rendered)
{
    if (rendered)
        status_buf_append(b, "}", 1);
    else
        b->len = mark;
}

static void list_close(struct status_buf *b, struct query *q, struct mapi_response *resp)
{
    query_fini(q);
    status_buf_append(b, "]}", 2);
    respond_buf(resp, b);
}

/* The end of one object of a get: its kind, or 404 for resource/name when nothing was
 * rendered. */
static void respond_item(struct mapi_response *resp, struct status_buf *b, bool rendered,
                         const char *kind, const char *resource, const char *name)
{
    if (!rendered) {
        free(b->data);
        not_found(resp, resource, name);
        return;
    }
    status_buf_printf(b, ",\"kind\":\"%s\",\"apiVersion\":\"" GV "\"}", kind);
    respond_buf(resp, b);
}

static void nodes(const struct mapi_set *set, const struct req *r, const char *name,
                  const char *created, struct mapi_response *resp)
{
    struct status_buf b = {0};
    if (name) {
        const struct mapi_node *nd = mapi_set_node(set, name);
        bool ok = nd && mapi_render_node(&b, nd, created);
        respond_item(resp, &b, ok, "NodeMetrics", "nodemetrics", name);
        return;
    }
    struct query q;
    if (list_open(&b, &q, r, "NodeMetricsList", resp) < 0)
        return;
    for (size_t i = 0; i < set->nnodes && !b.failed; i++) {
        const struct mapi_node *nd = &set->nodes[i];
        if (!query_match(&q, nd->labels, NULL, nd->name))
            continue;
        size_t mark = list_item_open(&b);
        list_item_close(&b, mark, mapi_render_node(&b, nd, created));
    }
    list_close(&b, &q, resp);
}

/* The first pod of namespace ns in the sorted set (set->npods when none). */
static size_t pods_from(const struct mapi_set *set, const char *ns)
{
    size_t lo = 0, hi = set->npods;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(set->pods[mid].ns, ns) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void pods(const struct mapi_set *set, const struct req *r, const char *ns, const char *name,
                 const char *created, struct mapi_response *resp)
{
    struct status_buf b = {0};
    if (name) {
        const struct mapi_pod *p = mapi_set_pod(set, ns, name);
        char full[520];
        snprintf(full, sizeof(full), "%.255s/%.255s", ns, name);
        bool ok = p && mapi_render_pod(&b, p, created);
        respond_item(resp, &b, ok, "PodMetrics", "podmetrics", full);
        return;
    }
    struct query q;
    if (list_open(&b, &q, r, "PodMetricsList", resp) < 0)
        return;
    /* sorted by namespace: one namespace is one run */
    for (size_t i = ns ? pods_from(set, ns) : 0; i < set->npods && !b.failed; i++) {
        const struct mapi_pod *p = &set->pods[i];
        if (ns && strcmp(p->ns, ns) != 0)
            break;
        if (!query_match(&q, p->labels, p->ns, p->name))
            continue;
        size_t mark = list_item_open(&b);
        list_item_close(&b, mark, mapi_render_pod(&b, p, created));
    }
    list_close(&b, &q, resp);
}

static void respond_static(struct mapi_response *resp, const char *body)
{
    resp->code = 200;
    resp->content_type = "application/json";
    resp->body = strdup(body);
    resp->len = resp->body ? strlen(resp->body) : 0;
    if (!resp->body)
        resp->code = 500;
}

/* /apis/metrics.k8s.io/v1beta1/... with segs[3..] */
static void route_version(const struct mapi_set *set, const struct req *r, int64_t now,
                          struct mapi_response *resp)
{
    char created[32]; /* metrics-server stamps every object with the time of the request */
    mapi_fmt_time(created, now);
    char *const *s = r->segs + 3;
    size_t n = r->nsegs - 3;
    if (n == 0)
        discovery_version(resp);
    else if (!strcmp(s[0], "nodes") && n <= 2)
        nodes(set, r, n == 2 ? s[1] : NULL, created, resp);
    else if (!strcmp(s[0], "pods") && n == 1)
        pods(set, r, NULL, NULL, created, resp);
    else if (!strcmp(s[0], "namespaces") && n >= 3 && n <= 4 && !strcmp(s[2], "pods"))
        pods(set, r, s[1], n == 4 ? s[3] : NULL, created, resp);
    else
        respond_status(resp, 404, "NotFound", "the server could not find the requested resource",
                       NULL, NULL);
}

static const char *reason_of(int code)
{
    switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 503: return "ServiceUnavailable";
    default: return "InternalError";
    }
}

void mapi_status(struct mapi_response *resp, int code, const char *message)
{
    memset(resp, 0, sizeof(*resp));
    respond_status(resp, code, reason_of(code), message, NULL, NULL);
}

int mapi_request_attrs(const char *method, const char *target, struct mapi_attrs *out)
{
    struct req *r = calloc(1, sizeof(*r));
    memset(out, 0, sizeof(*out));
    out->verb = !strcmp(method, "GET") ? "get" : !strcmp(method, "POST") ? "create" : "unknown";
    if (!r || request_parse(target, r) < 0) {
        free(r);
        return -1;
    }
    char *const *g = r->segs;
    size_t n = r->nsegs;
    if (n >= 4 && !strcmp(g[0], "apis") && !strcmp(g[1], GROUP) && !strcmp(g[2], VERSION)) {
        char *const *s = g + 3;
        size_t m = n - 3;
        if (!strcmp(s[0], "nodes") && m <= 2) {
            out->resource = true;
            out->kind = "nodes";
            if (m == 2)
                snprintf(out->name, sizeof(out->name), "%s", s[1]);
        } else if (!strcmp(s[0], "pods") && m == 1) {
            out->resource = true;
            out->kind = "pods";
        } else if (!strcmp(s[0], "namespaces") && m >= 3 && m <= 4 && !strcmp(s[2], "pods")) {
            out->resource = true;
            out->kind = "pods";
            snprintf(out->ns, sizeof(out->ns), "%s", s[1]);
            if (m == 4)
                snprintf(out->name, sizeof(out->name), "%s", s[3]);
        }
        if (out->resource && !out->name[0] && !strcmp(out->verb, "get"))
            out->verb = "list";
    }
    if (!out->resource) {
        const char *q = strchr(target, '?');
        size_t len = q ? (size_t)(q - target) : strlen(target);
        snprintf(out->path, sizeof(out->path), "%.*s", (int)len, target);
    }
    free(r);
    return 0;
}

void mapi_handle(const struct mapi_store *s, const char *method, const char *target, int64_t now_ns,
                 struct mapi_response *resp)
{
    struct req *r = calloc(1, sizeof(*r));
    memset(resp, 0, sizeof(*resp));
    if (!r) {
        mapi_respond_status(resp, 500, "InternalError", "out of memory");
        return;
    }
    if (strcmp(method, "GET") != 0) {
        mapi_respond_status(resp, 405, "MethodNotAllowed", "only get and list are supported");
        goto out;
    }
    if (request_parse(target, r) < 0) {
        mapi_respond_status(resp, 400, "BadRequest", "malformed request path or query");
        goto out;
    }
    const struct mapi_set *set = mapi_store_set(s);
    char *const *g = r->segs;
    if (r->nsegs == 1 && !strcmp(g[0], "apis"))
        discovery_apis(resp);
    else if (r->nsegs == 2 && !strcmp(g[0], "apis") && !strcmp(g[1], GROUP))
        discovery_group(resp);
    else if (r->nsegs >= 3 && !strcmp(g[0], "apis") && !strcmp(g[1], GROUP) &&
             !strcmp(g[2], VERSION))
        route_version(set, r, now_ns, resp);
    else if (r->nsegs == 2 && !strcmp(g[0], "openapi") && !strcmp(g[1], "v2"))
        respond_static(resp, mapi_openapi_v2);
    else if (r->nsegs == 2 && !strcmp(g[0], "openapi") && !strcmp(g[1], "v3"))
        respond_static(resp, mapi_openapi_v3_index);
    else if (r->nsegs == 5 && !strcmp(g[0], "openapi") && !strcmp(g[1], "v3") &&
             !strcmp(g[2], "apis") && !strcmp(g[3], GROUP) && !strcmp(g[4], VERSION))
        respond_static(resp, mapi_openapi_v3_gv);
    else
        respond_status(resp, 404, "NotFound", "the server could not find the requested resource",
                       NULL, NULL);
out:
    free(r);
}
