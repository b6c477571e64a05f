/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_watch.c - struct kube_watch: list a collection (paged with limit and
 * continue), then watch it from the list's resourceVersion, decoding events
 * incrementally as bytes arrive. Bookmarks advance the resourceVersion; a 410
 * (Gone/Expired) starts a fresh list; other failures reconnect from the last
 * resourceVersion with exponential backoff and jitter.
 *
 * Handlers may call kube_watch_stop: the watch is then freed once control has
 * unwound out of its callbacks (depth counts how deep we are).
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_internal.h"
#include "log.h"
#include "util.h"

#define WATCH_BACKOFF_MIN_S 0.8
#define WATCH_BACKOFF_MAX_S 30.0
#define WATCH_ERRBODY_MAX   8192

enum watch_next { NEXT_LIST, NEXT_WATCH };

struct kube_watch {
    struct kube_client *kc; /* borrowed */
    char *path;             /* owned: collection path */
    char *selectors;        /* owned: "&fieldSelector=...&labelSelector=..." (escaped) or "" */
    long page_size, timeout_s;
    struct kube_watch_handlers h;
    void *ud;
    char *rv;   /* owned: resourceVersion to resume from */
    char *cont; /* owned: continue token of the list in progress */
    struct kube_call *list_call;
    struct http_request *stream;
    struct kube_stream *dec; /* owned */
    ev_timer timer;
    enum watch_next next;  /* what the timer starts */
    unsigned failures;     /* in a row, for the backoff; 0 after a list or an event */
    double stream_started; /* monotonic */
    bool synced, relist, stream_events, stopped;
    int depth;
    long stream_status;
    char errbody[WATCH_ERRBODY_MAX + 1];
    size_t errbody_len;
    char errmsg[512];
};

static void watch_destroy(struct kube_watch *w)
{
    if (!w)
        return;
    ev_timer_stop(kube_client_loop(w->kc), &w->timer);
    kube_call_cancel(w->list_call);
    http_request_cancel(w->stream);
    kube_stream_free(w->dec);
    free(w->path);
    free(w->selectors);
    free(w->rv);
    free(w->cont);
    free(w);
}

static void enter(struct kube_watch *w)
{
    w->depth++;
}

/* Returns true when the watch was freed (stopped from a handler). */
static bool leave(struct kube_watch *w)
{
    if (--w->depth == 0 && w->stopped) {
        watch_destroy(w);
        return true;
    }
    return false;
}

static char *url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(s) * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? strdup(src) : NULL;
}

static void report_error(struct kube_watch *w, const struct kube_response *resp)
{
    if (w->h.error && !w->stopped)
        w->h.error(resp, w->ud);
}

static void start_list(struct kube_watch *w);
static void start_watch(struct kube_watch *w);

static void schedule(struct kube_watch *w, enum watch_next next, bool backoff)
{
    double delay = 0;
    if (backoff) /* jittered, so replicas do not reconnect in step */
        delay = kp_backoff_delay(w->failures++, WATCH_BACKOFF_MIN_S, WATCH_BACKOFF_MAX_S,
                                 (double)rand() / RAND_MAX);
    w->next = next;
    ev_timer_stop(kube_client_loop(w->kc), &w->timer);
    ev_timer_set(&w->timer, delay, 0.);
    ev_timer_start(kube_client_loop(w->kc), &w->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct kube_watch *w = t->data;
    if (w->next == NEXT_LIST)
        start_list(w);
    else
        start_watch(w);
}

/* ---- list ---------------------------------------------------------------------- */

static void deliver_items(struct kube_watch *w, json_object *items)
{
    size_t n = json_object_array_length(items);
    for (size_t i = 0; i < n && !w->stopped; i++) {
        json_object *obj = json_object_array_get_idx(items, i);
        if (obj && json_object_is_type(obj, json_type_object) && w->h.event)
            w->h.event(KUBE_EVENT_ADDED, obj, w->ud);
    }
}

static void on_list_done(const struct kube_response *resp, void *ud)
{
    struct kube_watch *w = ud;
    json_object *items, *meta, *v;
    w->list_call = NULL;
    enter(w);
    if (resp->http_error || resp->status != 200 || !resp->body ||
        !json_object_object_get_ex(resp->body, "items", &items) ||
        !json_object_is_type(items, json_type_array)) {
        bool expired_continue = resp->status == 410 && w->cont;
        if (resp->status == 401)
            kube_client_auth_rejected(w->kc);
        struct kube_response r = *resp;
        if (!r.error)
            r.error = "list response has no items";
        log_warn("list failed", LF_STR("path", w->path), LF_INT("status", resp->status),
                 LF_ERR(r.error));
        report_error(w, &r);
        set_str(&w->cont, NULL);
        if (!w->stopped)
            schedule(w, NEXT_LIST, !expired_continue);
        leave(w);
        return;
    }
    if (!w->cont && w->h.list_begin)
        w->h.list_begin(w->ud);
    if (!w->stopped)
        deliver_items(w, items);
    const char *cont = NULL, *rv = NULL;
    if (json_object_object_get_ex(resp->body, "metadata", &meta)) {
        if (json_object_object_get_ex(meta, "continue", &v) && json_object_get_string_len(v))
            cont = json_object_get_string(v);
        if (json_object_object_get_ex(meta, "resourceVersion", &v))
            rv = json_object_get_string(v);
    }
    if (!w->stopped && cont) {
        set_str(&w->cont, cont);
        start_list(w);
    } else if (!w->stopped) {
        set_str(&w->cont, NULL);
        set_str(&w->rv, rv && rv[0] ? rv : NULL);
        w->failures = 0;
        w->synced = true;
        if (w->h.list_done)
            w->h.list_done(w->ud);
        if (!w->stopped)
            start_watch(w);
    }
    leave(w);
}

static void start_list(struct kube_watch *w)
{
    char *url = NULL, *cont = NULL;
    if (w->cont && !(cont = url_escape(w->cont)))
        goto fail;
    if (asprintf(&url, "%s?limit=%ld%s%s%s", w->path, w->page_size, cont ? "&continue=" : "",
                 cont ? cont : "", w->selectors) < 0) {
        url = NULL;
        goto fail;
    }
    w->list_call = kube_request(w->kc, "GET", url, NULL, 0, on_list_done, w);
    free(url);
    free(cont);
    if (!w->list_call)
        schedule(w, NEXT_LIST, true);
    return;
fail:
    free(cont);
    schedule(w, NEXT_LIST, true);
}

/* ---- watch --------------------------------------------------------------------- */

static void update_rv(struct kube_watch *w, json_object *obj)
{
    json_object *meta, *rv;
    if (json_object_object_get_ex(obj, "metadata", &meta) &&
        json_object_object_get_ex(meta, "resourceVersion", &rv) &&
        json_object_is_type(rv, json_type_string) && json_object_get_string_len(rv))
        set_str(&w->rv, json_object_get_string(rv));
}

static int on_event(json_object *ev, void *ud)
{
    struct kube_watch *w = ud;
    const char *type;
    json_object *obj;
    if (kube_event_split(ev, &type, &obj) < 0) {
        snprintf(w->errmsg, sizeof(w->errmsg), "watch event without type or object");
        return -1;
    }
    enum kube_event_type t;
    if (!strcmp(type, "ADDED")) {
        t = KUBE_EVENT_ADDED;
    } else if (!strcmp(type, "MODIFIED")) {
        t = KUBE_EVENT_MODIFIED;
    } else if (!strcmp(type, "DELETED")) {
        t = KUBE_EVENT_DELETED;
    } else if (!strcmp(type, "BOOKMARK")) {
        update_rv(w, obj);
        return 0;
    } else if (!strcmp(type, "ERROR")) {
        const char *reason, *message;
        long code = kube_status_parse(obj, &reason, &message);
        if (code == 410) {
            w->relist = true;
            log_v(1, "watch resourceVersion expired; relisting", LF_STR("path", w->path));
            return -1;
        }
        struct kube_response r = {.status = code > 0 ? code : 500,
                                  .reason = reason,
                                  .error = message ? message : "watch ERROR event",
                                  .body = obj};
        log_warn("watch error event", LF_STR("path", w->path), LF_INT("code", code),
                 LF_STR("reason", reason), LF_STR("message", message));
        report_error(w, &r);
        return -1;
    } else {
        log_v(2, "ignoring unknown watch event type", LF_STR("type", type));
        return 0;
    }
    update_rv(w, obj);
    w->stream_events = true;
    w->failures = 0;
    if (w->h.event)
        w->h.event(t, obj, w->ud);
    return w->stopped ? -1 : 0;
}

static int on_stream_data(const char *data, size_t len, void *ud)
{
    struct kube_watch *w = ud;
    if (!w->stream_status)
        w->stream_status = http_request_status(w->stream);
    if (w->stream_status != 200) { /* an error body (a Status): keep its head */
        size_t n = WATCH_ERRBODY_MAX - w->errbody_len;
        n = len < n ? len : n;
        memcpy(w->errbody + w->errbody_len, data, n);
        w->errbody_len += n;
        w->errbody[w->errbody_len] = '\0';
        return 0;
    }
    enter(w);
    int rc = kube_stream_feed(w->dec, data, len, on_event, w, w->errmsg, sizeof(w->errmsg));
    if (leave(w))
        return -1;
    return rc < 0 ? -1 : 0;
}

static void on_stream_done(const struct http_result *res, void *ud)
{
    struct kube_watch *w = ud;
    w->stream = NULL;
    enter(w);
    long status = res->status;
    double lasted = kp_mono_now() - w->stream_started;
    if (w->relist || status == 410) {
        w->relist = false;
        set_str(&w->rv, NULL);
        schedule(w, NEXT_LIST, false);
    } else if (res->error == 0 && status == 200) {
        /* timeoutSeconds ended the watch: resume at once, unless it ends at once */
        log_v(3, "watch ended; resuming", LF_STR("path", w->path), LF_STR("rv", w->rv));
        schedule(w, NEXT_WATCH, !w->stream_events && lasted < 1.0);
    } else {
        const char *reason = NULL, *message = NULL;
        json_object *body = w->errbody_len ? json_tokener_parse(w->errbody) : NULL;
        kube_status_parse(body, &reason, &message);
        if (status == 401)
            kube_client_auth_rejected(w->kc);
        char msg[700];
        if (res->error == HTTP_ERR_ABORTED && w->errmsg[0])
            snprintf(msg, sizeof(msg), "%s", w->errmsg);
        else if (res->error && res->error != HTTP_ERR_ABORTED)
            snprintf(msg, sizeof(msg), "watch %s: %s (%s)", w->path, res->error_msg,
                     http_error_name(res->error));
        else
            snprintf(msg, sizeof(msg), "watch %s: HTTP %ld%s%s", w->path, status,
                     message ? ": " : "", message ? message : "");
        if (!(res->error == HTTP_ERR_ABORTED && !w->errmsg[0])) {
            /* (aborted without a message: an ERROR event, already reported) */
            struct kube_response r = {.status = status,
                                      .http_error = res->error,
                                      .error = msg,
                                      .reason = reason,
                                      .body = body};
            log_warn("watch broken; reconnecting", LF_STR("path", w->path), LF_ERR(msg),
                     LF_STR("rv", w->rv));
            report_error(w, &r);
        }
        json_object_put(body);
        if (!w->stopped)
            schedule(w, w->rv ? NEXT_WATCH : NEXT_LIST, true);
    }
    leave(w);
}

static void start_watch(struct kube_watch *w)
{
    char *url = NULL, *rv = NULL, err[512];
    if (!w->rv) {
        start_list(w);
        return;
    }
    if (!(rv = url_escape(w->rv)) ||
        asprintf(&url,
                 "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%ld%s",
                 w->path, rv, w->timeout_s, w->selectors) < 0) {
        free(rv);
        schedule(w, NEXT_WATCH, true);
        return;
    }
    free(rv);
    kube_stream_reset(w->dec);
    w->stream_status = 0;
    w->errbody_len = 0;
    w->errmsg[0] = '\0';
    w->stream_events = false;
    w->relist = false;
    w->stream_started = kp_mono_now();
    /* The server ends the watch after timeoutSeconds; allow a margin before
     * giving up on a silent connection ourselves. */
    w->stream = kube_stream_start(w->kc, url, (w->timeout_s + 30) * 1000, on_stream_data,
                                  on_stream_done, w, err, sizeof(err));
    free(url);
    if (!w->stream) {
        log_warn("could not start watch", LF_STR("path", w->path), LF_ERR(err));
        schedule(w, NEXT_WATCH, true);
    }
}

/* ---- public ---------------------------------------------------------------------- */

static int build_selectors(struct kube_watch *w, const struct kube_watch_opts *o)
{
    char *f = NULL, *l = NULL;
    int rc = -1;
    if (o->field_selector && o->field_selector[0] && !(f = url_escape(o->field_selector)))
        goto out;
    if (o->label_selector && o->label_selector[0] && !(l = url_escape(o->label_selector)))
        goto out;
    if (asprintf(&w->selectors, "%s%s%s%s", f ? "&fieldSelector=" : "", f ? f : "",
                 l ? "&labelSelector=" : "", l ? l : "") < 0) {
        w->selectors = NULL;
        goto out;
    }
    rc = 0;
out:
    free(f);
    free(l);
    return rc;
}

struct kube_watch *kube_watch_start(struct kube_client *kc, const struct kube_watch_opts *opts,
                                    const struct kube_watch_handlers *h, void *ud, char *err,
                                    size_t errlen)
{
    static bool seeded;
    if (!seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        srand((unsigned)(ts.tv_nsec ^ ts.tv_sec));
        seeded = true;
    }
    if (!kc || !opts || !opts->path || opts->path[0] != '/' || strchr(opts->path, '?') || !h) {
        snprintf(err, errlen,
                 "watch needs a client, handlers and a collection path "
                 "starting with '/' without a query");
        return NULL;
    }
    struct kube_watch *w = calloc(1, sizeof(*w));
    if (w)
        w->kc = kc;
    if (!w || !(w->path = strdup(opts->path)) || build_selectors(w, opts) < 0 ||
        !(w->dec = kube_stream_new(0))) {
        snprintf(err, errlen, "out of memory");
        watch_destroy(w); /* nothing started yet: it frees what was allocated */
        return NULL;
    }
    w->h = *h;
    w->ud = ud;
    w->page_size = opts->list_page_size > 0 ? opts->list_page_size : 500;
    w->timeout_s = opts->watch_timeout_s > 0 ? opts->watch_timeout_s : 300;
    ev_init(&w->timer, on_timer);
    w->timer.data = w;
    /* Start from the loop, never from inside the caller: no callback before we return. */
    schedule(w, NEXT_LIST, false);
    return w;
}

void kube_watch_stop(struct kube_watch *w)
{
    if (!w || w->stopped)
        return;
    w->stopped = true;
    ev_timer_stop(kube_client_loop(w->kc), &w->timer);
    kube_call_cancel(w->list_call);
    w->list_call = NULL;
    http_request_cancel(w->stream);
    w->stream = NULL;
    if (w->depth == 0)
        watch_destroy(w);
}

bool kube_watch_synced(const struct kube_watch *w)
{
    return w && w->synced;
}
