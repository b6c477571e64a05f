/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kpkube.c - a test driver for the Kubernetes API layer (kube.h), used by
 * tests/integration/test_kube_client.py. Not installed.
 *
 *   kpkube [options] get PATH                 one GET, result as one JSON line
 *   kpkube [options] request METHOD PATH [JSON]
 *   kpkube [options] poll PATH N INTERVAL_S   N GETs, one JSON line each
 *   kpkube [options] watch PATH               list+watch, one JSON line per event
 *
 * Options: --kubeconfig F, --context C, --in-cluster SA_DIR, --auto,
 * --token-reload S, --count N (watch: exit after N ADDED/MODIFIED/DELETED
 * events after the first list), --timeout S (exit 3 when reached),
 * --watch-timeout S, --field-selector S, --label-selector S, --page-size N, --v N.
 * Results: {"status":..,"reason":..,"error":..,"body":..}; watch lines have a "type"
 * (LIST_BEGIN, LIST_DONE, ADDED, MODIFIED, DELETED, ERROR).
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "kube.h"
#include "log.h"

struct app {
    struct ev_loop *loop;
    struct kube_client *kc;
    struct kube_watch *w;
    const char *path;
    long count, seen, polls_left;
    double interval;
    ev_timer deadline, poll_timer;
    int rc;
    bool after_first_list;
};

static void print_line(json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    fflush(stdout);
    json_object_put(o);
}

static json_object *resp_json(const struct kube_response *r)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_int64(r->status));
    json_object_object_add(o, "http_error", json_object_new_string(http_error_name(r->http_error)));
    json_object_object_add(o, "reason", r->reason ? json_object_new_string(r->reason) : NULL);
    json_object_object_add(o, "error", r->error ? json_object_new_string(r->error) : NULL);
    json_object_object_add(o, "body", r->body ? json_object_get(r->body) : NULL);
    return o;
}

static void on_done(const struct kube_response *r, void *ud)
{
    struct app *a = ud;
    print_line(resp_json(r));
    if (a->polls_left > 1) {
        a->polls_left--;
        ev_timer_set(&a->poll_timer, a->interval, 0.);
        ev_timer_start(a->loop, &a->poll_timer);
        return;
    }
    ev_break(a->loop, EVBREAK_ALL);
}

static void on_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct app *a = t->data;
    if (!kube_request(a->kc, "GET", a->path, NULL, 0, on_done, a)) {
        a->rc = 1;
        ev_break(a->loop, EVBREAK_ALL);
    }
}

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct app *a = t->data;
    a->rc = 3;
    ev_break(loop, EVBREAK_ALL);
}

static void print_type(const char *type)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(type));
    print_line(o);
}

static void w_list_begin(void *ud)
{
    (void)ud;
    print_type("LIST_BEGIN");
}

static void w_list_done(void *ud)
{
    struct app *a = ud;
    a->after_first_list = true;
    print_type("LIST_DONE");
}

static void w_event(enum kube_event_type t, json_object *obj, void *ud)
{
    struct app *a = ud;
    static const char *names[] = {"ADDED", "MODIFIED", "DELETED"};
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(names[t]));
    json_object_object_add(o, "object", json_object_get(obj));
    print_line(o);
    if (a->after_first_list && a->count > 0 && ++a->seen >= a->count) {
        kube_watch_stop(a->w); /* from inside a handler, on purpose */
        a->w = NULL;
        ev_break(a->loop, EVBREAK_ALL);
    }
}

static void w_error(const struct kube_response *r, void *ud)
{
    (void)ud;
    json_object *o = resp_json(r);
    json_object_object_add(o, "type", json_object_new_string("ERROR"));
    print_line(o);
}

static int usage(void)
{
    fprintf(stderr, "usage: kpkube [--kubeconfig F] [--context C] [--in-cluster DIR] [--auto] "
                    "get PATH | request METHOD PATH [JSON] | poll PATH N S | watch PATH\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *kubeconfig = NULL, *context = NULL, *sa_dir = NULL, *fsel = NULL, *lsel = NULL;
    bool incluster = false, autocfg = false;
    double token_reload = 0, timeout = 60;
    long watch_timeout = 0, page_size = 0;
    struct app a = {.rc = 0};
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--auto")) {
            autocfg = true;
            i--;
            continue;
        }
        if (!v)
            return usage();
        if (!strcmp(o, "--kubeconfig"))
            kubeconfig = v;
        else if (!strcmp(o, "--context"))
            context = v;
        else if (!strcmp(o, "--in-cluster"))
            incluster = true, sa_dir = v;
        else if (!strcmp(o, "--token-reload"))
            token_reload = atof(v);
        else if (!strcmp(o, "--count"))
            a.count = atol(v);
        else if (!strcmp(o, "--timeout"))
            timeout = atof(v);
        else if (!strcmp(o, "--watch-timeout"))
            watch_timeout = atol(v);
        else if (!strcmp(o, "--page-size"))
            page_size = atol(v);
        else if (!strcmp(o, "--field-selector"))
            fsel = v;
        else if (!strcmp(o, "--label-selector"))
            lsel = v;
        else if (!strcmp(o, "--v"))
            log_configure(LOG_FORMAT_TEXT, atoi(v), stderr);
        else
            return usage();
    }
    if (i + 1 >= argc)
        return usage();
    const char *cmd = argv[i], *method = "GET", *body_text = NULL;
    a.path = argv[i + 1];
    a.polls_left = 1;
    if (!strcmp(cmd, "request")) {
        if (i + 2 >= argc)
            return usage();
        method = argv[i + 1];
        a.path = argv[i + 2];
        body_text = i + 3 < argc ? argv[i + 3] : NULL;
    } else if (!strcmp(cmd, "poll")) {
        if (i + 3 >= argc)
            return usage();
        a.polls_left = atol(argv[i + 2]);
        a.interval = atof(argv[i + 3]);
    } else if (strcmp(cmd, "get") && strcmp(cmd, "watch")) {
        return usage();
    }

    char err[1024];
    struct kube_config *cfg = NULL;
    int rc;
    if (incluster)
        rc = kube_config_load_incluster(sa_dir, &cfg, err, sizeof(err));
    else if (autocfg || !kubeconfig)
        rc = kube_config_load_auto(kubeconfig, context, &cfg, err, sizeof(err));
    else
        rc = kube_config_load_file(kubeconfig, context, &cfg, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "kpkube: %s\n", err);
        return 1;
    }
    a.loop = ev_default_loop(0);
    struct http_client_opts ho = {.user_agent = "kpkube/test"};
    struct http_client *http = http_client_new(a.loop, &ho, err, sizeof(err));
    struct kube_client_opts ko = {.user_agent = "kpkube/test", .token_reload_s = token_reload};
    a.kc = http ? kube_client_new(a.loop, http, cfg, &ko, err, sizeof(err)) : NULL;
    if (!a.kc) {
        fprintf(stderr, "kpkube: %s\n", err);
        http_client_free(http);
        return 1;
    }
    ev_timer_init(&a.deadline, on_deadline, timeout, 0.);
    a.deadline.data = &a;
    ev_timer_start(a.loop, &a.deadline);
    ev_timer_init(&a.poll_timer, on_poll, 0., 0.);
    a.poll_timer.data = &a;
    json_object *body = NULL;
    if (body_text && !(body = json_tokener_parse(body_text))) {
        fprintf(stderr, "kpkube: body is not JSON\n");
        a.rc = 2;
        goto out;
    }
    if (!strcmp(cmd, "watch")) {
        struct kube_watch_opts wo = {.path = a.path,
                                     .field_selector = fsel,
                                     .label_selector = lsel,
                                     .list_page_size = page_size,
                                     .watch_timeout_s = watch_timeout};
        struct kube_watch_handlers h = {w_list_begin, w_list_done, w_event, w_error};
        a.w = kube_watch_start(a.kc, &wo, &h, &a, err, sizeof(err));
        if (!a.w) {
            fprintf(stderr, "kpkube: %s\n", err);
            a.rc = 1;
            goto out;
        }
    } else if (!kube_request(a.kc, method, a.path, body, 0, on_done, &a)) {
        a.rc = 1;
        goto out;
    }
    ev_run(a.loop, 0);
out:
    json_object_put(body);
    kube_watch_stop(a.w);
    ev_timer_stop(a.loop, &a.deadline);
    ev_timer_stop(a.loop, &a.poll_timer);
    kube_client_free(a.kc);
    http_client_free(http);
    ev_loop_destroy(a.loop);
    return a.rc;
}
