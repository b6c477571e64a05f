/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_watch.c - kube_client and kube_watch against a scripted fake API
 * server (fake_server.c): headers and Status errors, the 401 retry with a
 * re-read token file, requests waiting for a slow exec plugin while the loop
 * turns, paged lists, bookmarks advancing the resourceVersion,
 * 410 relists, reconnects after errors, and stopping from inside a handler.
 * (The same paths run against the real kube-apiserver in
 * tests/integration/test_kube_client.py.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>

#include "kp_test.h"
#include "fake_server.h"
#include "http.h"
#include "kube.h"

static struct ev_loop *loop;
static int port;
static struct http_client *http;

/* ---- the scripted server -------------------------------------------------------------- */

struct script {
    char seen[32][256]; /* request targets, in order */
    int n_seen;
    int lists; /* list requests (not pages) answered */
    char last_head[2048];
    const char *valid_token; /* NULL: accept anything */
};
static struct script sc;

static char *reply(const char *status, const char *body, size_t *len)
{
    char *out;
    int n = asprintf(
        &out, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
        status, strlen(body), body);
    *len = n > 0 ? (size_t)n : 0;
    return out;
}

static const char lease_fmt[] =
    "{\"kind\":\"Lease\",\"metadata\":{\"name\":\"%s\",\"resourceVersion\":\"%s\"}}";

static char *handle(const char *method, const char *target, const char *head, bool *close,
                    size_t *len, void *ud)
{
    (void)ud;
    if (sc.n_seen < 32)
        snprintf(sc.seen[sc.n_seen++], sizeof(sc.seen[0]), "%s %s", method, target);
    snprintf(sc.last_head, sizeof(sc.last_head), "%s", head);
    if (sc.valid_token) {
        char want[128];
        snprintf(want, sizeof(want), "Authorization: Bearer %s\r\n", sc.valid_token);
        if (!strstr(head, want))
            return reply("401 Unauthorized",
                         "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"Unauthorized\","
                         "\"reason\":\"Unauthorized\",\"code\":401}",
                         len);
    }
    if (!strcmp(method, "POST")) {
        *close = true; /* the body follows the head: do not read it as a request */
        return reply("409 Conflict",
                     "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"leases \\\"x\\\" "
                     "already exists\",\"reason\":\"AlreadyExists\",\"code\":409}",
                     len);
    }
    if (!strcmp(method, "PATCH")) {
        *close = true;
        return reply("200 OK", "{\"kind\":\"Lease\",\"metadata\":{\"name\":\"x\"}}", len);
    }
    if (!strncmp(target, "/leases?limit=2&continue=c1", 27))
        return reply("200 OK",
                     "{\"kind\":\"LeaseList\",\"metadata\":{\"resourceVersion\":\"10\"},"
                     "\"items\":[{\"metadata\":{\"name\":\"c\"}}]}",
                     len);
    if (!strncmp(target, "/leases?limit=2", 15)) {
        if (sc.lists++ == 0)
            return reply("200 OK",
                         "{\"kind\":\"LeaseList\",\"metadata\":{\"resourceVersion\":\"10\","
                         "\"continue\":\"c1\"},\"items\":[{\"metadata\":{\"name\":\"a\"}},"
                         "{\"metadata\":{\"name\":\"b\"}}]}",
                         len);
        return reply("200 OK",
                     "{\"kind\":\"LeaseList\",\"metadata\":{\"resourceVersion\":\"20\"},"
                     "\"items\":[{\"metadata\":{\"name\":\"a\"}}]}",
                     len);
    }
    char ev1[256], ev2[256], body[1024];
    if (strstr(target, "watch=1&resourceVersion=10&")) {
        *close = true; /* the server ends the watch (timeoutSeconds) */
        snprintf(ev1, sizeof(ev1), lease_fmt, "d", "11");
        snprintf(ev2, sizeof(ev2), lease_fmt, "", "15");
        snprintf(body, sizeof(body),
                 "{\"type\":\"ADDED\",\"object\":%s}\n{\"type\":\"BOOKMARK\",\"object\":%s}\n", ev1,
                 ev2);
        return reply("200 OK", body, len);
    }
    if (strstr(target, "watch=1&resourceVersion=15&")) {
        *close = true;
        return reply("200 OK",
                     "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"status\":\"Failure\","
                     "\"message\":\"too old resource version: 15 (18)\",\"reason\":\"Expired\","
                     "\"code\":410}}\n",
                     len);
    }
    if (strstr(target, "watch=1&resourceVersion=20&")) {
        int watches = 0;
        for (int i = 0; i < sc.n_seen; i++)
            watches += strstr(sc.seen[i], "resourceVersion=20&") != NULL;
        if (watches == 1)
            return reply("500 Internal Server Error",
                         "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"etcd is sad\","
                         "\"reason\":\"InternalError\",\"code\":500}",
                         len);
        *close = true;
        snprintf(ev1, sizeof(ev1), lease_fmt, "e", "21");
        snprintf(body, sizeof(body), "{\"type\":\"DELETED\",\"object\":%s}\n", ev1);
        return reply("200 OK", body, len);
    }
    return NULL; /* anything else: hang */
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    loop = ev_default_loop(0);
    port = fake_server_start(loop, handle, NULL);
    http = http_client_new(loop, &(struct http_client_opts){0}, err, sizeof(err));
    return port > 0 && http ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    http_client_free(http);
    fake_server_stop();
    ev_loop_destroy(loop);
    curl_global_cleanup();
    return 0;
}

KP_TEST_GROUP(setup, teardown);

static struct kube_client *client_with(const char *token, const char *token_file)
{
    char err[256];
    struct kube_config *cfg = calloc(1, sizeof(*cfg));
    assert_int_equal(asprintf(&cfg->server, "http://127.0.0.1:%d", port) > 0, 1);
    cfg->source = strdup("test");
    cfg->token = token ? strdup(token) : NULL;
    cfg->token_file = token_file ? strdup(token_file) : NULL;
    struct kube_client_opts o = {.user_agent = "kp-test/1", .token_reload_s = 3600};
    struct kube_client *kc = kube_client_new(loop, http, cfg, &o, err, sizeof(err));
    assert_non_null(kc);
    return kc;
}

/* ---- requests -------------------------------------------------------------------------- */

struct resp {
    int done;
    long status;
    char reason[64], error[256], name[64];
};

static void on_resp(const struct kube_response *r, void *ud)
{
    struct resp *o = ud;
    json_object *meta, *name;
    o->done++;
    o->status = r->status;
    snprintf(o->reason, sizeof(o->reason), "%s", r->reason ? r->reason : "");
    snprintf(o->error, sizeof(o->error), "%s", r->error ? r->error : "");
    if (r->body && json_object_object_get_ex(r->body, "metadata", &meta) &&
        json_object_object_get_ex(meta, "name", &name))
        snprintf(o->name, sizeof(o->name), "%s", json_object_get_string(name));
    ev_break(loop, EVBREAK_ONE);
}

KP_TEST(test_request_headers_and_status)
{
    (void)state;
    struct kube_client *kc = client_with("tok-1", NULL);
    struct resp o = {0};
    json_object *body = json_tokener_parse("{\"metadata\":{\"name\":\"x\"}}");
    assert_non_null(kube_request(kc, "POST", "/leases", body, 0, on_resp, &o));
    ev_run(loop, 0);
    assert_int_equal(o.status, 409);
    assert_string_equal(o.reason, "AlreadyExists");
    assert_string_equal(o.error, "leases \"x\" already exists");
    assert_non_null(strstr(sc.last_head, "Authorization: Bearer tok-1\r\n"));
    assert_non_null(strstr(sc.last_head, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(sc.last_head, "User-Agent: kp-test/1\r\n"));
    assert_non_null(strstr(sc.last_head, "Accept: application/json\r\n"));
    memset(&o, 0, sizeof(o));
    assert_non_null(kube_request(kc, "PATCH", "/leases/x", body, 0, on_resp, &o));
    ev_run(loop, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.name, "x");
    assert_non_null(strstr(sc.last_head, "PATCH /leases/x HTTP/1.1"));
    assert_non_null(strstr(sc.last_head, "Content-Type: application/merge-patch+json\r\n"));
    /* cancel: done never runs */
    memset(&o, 0, sizeof(o));
    kube_call_cancel(kube_request(kc, "GET", "/hang", NULL, 0, on_resp, &o));
    kube_call_cancel(NULL);
    assert_non_null(kube_request(kc, "GET", "/hang", NULL, 0, on_resp, &o));
    kube_client_free(kc); /* with a call in flight */
    assert_int_equal(o.done, 0);
    json_object_put(body);
}

KP_TEST(test_token_file_reread_after_401)
{
    (void)state;
    char path[] = "/tmp/kp-token-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "old\n", 4), 4);
    close(fd);
    struct kube_client *kc = client_with(NULL, path);
    assert_string_equal(kube_client_token(kc), "old");
    FILE *f = fopen(path, "w");
    fputs("new\n", f);
    fclose(f);
    sc.valid_token = "new";
    int before = sc.n_seen;
    struct resp o = {0};
    assert_non_null(kube_request(kc, "PATCH", "/leases/x", NULL, 0, on_resp, &o));
    ev_run(loop, 0);
    assert_int_equal(o.done, 1);
    assert_int_equal(o.status, 200); /* the 401 was retried with the re-read token */
    assert_int_equal(sc.n_seen - before, 2);
    assert_string_equal(kube_client_token(kc), "new");
    /* no fresh token on disk: the one retry also fails, and the 401 is reported */
    sc.valid_token = "newer";
    memset(&o, 0, sizeof(o));
    assert_non_null(kube_request(kc, "PATCH", "/leases/x", NULL, 0, on_resp, &o));
    ev_run(loop, 0);
    assert_int_equal(o.status, 401);
    assert_string_equal(o.reason, "Unauthorized");
    sc.valid_token = NULL;
    kube_client_free(kc);
    unlink(path);
}

/* An exec credential plugin that takes 300 ms: the request waits for its token (one request
 * reaches the server, with it) and the loop keeps turning meanwhile (a 20 ms timer fires). */
static void count_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l;
    (void)revents;
    ++*(int *)w->data;
}

KP_TEST(test_request_waits_for_slow_exec_plugin)
{
    (void)state;
    struct kube_client *kc = client_with(NULL, NULL);
    struct kube_config *cfg = (struct kube_config *)kube_client_config(kc);
    cfg->exec = calloc(1, sizeof(*cfg->exec));
    cfg->exec->command = strdup("sh");
    cfg->exec->args = calloc(3, sizeof(char *));
    cfg->exec->args[0] = strdup("-c");
    cfg->exec->args[1] = strdup("sleep 0.3; printf '{\"kind\":\"ExecCredential\","
                                "\"status\":{\"token\":\"exec-tok\"}}'");
    sc.valid_token = "exec-tok";
    int ticks = 0, before = sc.n_seen;
    ev_timer tick;
    ev_timer_init(&tick, count_tick, 0.02, 0.02);
    tick.data = &ticks;
    ev_timer_start(loop, &tick);
    struct resp o = {0};
    double t0 = ev_time();
    assert_non_null(kube_request(kc, "PATCH", "/leases/x", NULL, 0, on_resp, &o));
    assert_int_equal(sc.n_seen, before); /* nothing sent before the plugin answers */
    ev_run(loop, 0);
    ev_timer_stop(loop, &tick);
    assert_int_equal(o.done, 1);
    assert_int_equal(o.status, 200);
    assert_int_equal(sc.n_seen - before, 1); /* sent once, with the plugin's token */
    assert_non_null(strstr(sc.last_head, "Authorization: Bearer exec-tok\r\n"));
    assert_true(ev_time() - t0 >= 0.3);
    assert_true(ticks >= 5); /* about 15; a loop blocked by the plugin counts at most 1 */
    /* the credential is cached: the next request goes at once */
    memset(&o, 0, sizeof(o));
    assert_non_null(kube_request(kc, "PATCH", "/leases/x", NULL, 0, on_resp, &o));
    assert_int_equal(sc.n_seen - before, 1);
    ev_run(loop, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(kube_client_token(kc), "exec-tok");
    /* freed while the plugin runs (a 401 makes the credential stale): it is killed, and the
     * waiting call never completes */
    sc.valid_token = "other";
    memset(&o, 0, sizeof(o));
    assert_non_null(kube_request(kc, "PATCH", "/leases/x", NULL, 0, on_resp, &o));
    ev_run(loop, EVRUN_ONCE); /* the 401 arrives; the retry waits for a new run */
    while (!o.done && sc.n_seen - before < 3)
        ev_run(loop, EVRUN_ONCE);
    assert_int_equal(sc.n_seen - before, 3);
    assert_int_equal(o.done, 0); /* the retry waits */
    kube_client_free(kc);
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(o.done, 0);
    sc.valid_token = NULL;
}

/* ---- list + watch ---------------------------------------------------------------------- */

struct rec {
    char log[64][32];
    int n;
    int errors;
    struct kube_watch *w;
    const char *stop_at; /* stop the watch from inside the handler at this entry */
};

static void rec_add(struct rec *r, const char *s)
{
    if (r->n < 64)
        snprintf(r->log[r->n++], sizeof(r->log[0]), "%s", s);
    if (r->stop_at && !strcmp(s, r->stop_at)) {
        kube_watch_stop(r->w);
        r->w = NULL;
        ev_break(loop, EVBREAK_ONE);
    }
}

static void h_begin(void *ud)
{
    rec_add(ud, "BEGIN");
}

static void h_done(void *ud)
{
    rec_add(ud, "DONE");
}

static void h_event(enum kube_event_type t, json_object *obj, void *ud)
{
    static const char *names[] = {"ADDED", "MODIFIED", "DELETED"};
    json_object *meta, *name;
    char s[32];
    const char *n = "?";
    if (json_object_object_get_ex(obj, "metadata", &meta) &&
        json_object_object_get_ex(meta, "name", &name))
        n = json_object_get_string(name);
    snprintf(s, sizeof(s), "%s %s", names[t], n);
    rec_add(ud, s);
}

static void h_error(const struct kube_response *resp, void *ud)
{
    struct rec *r = ud;
    char s[32];
    r->errors++;
    snprintf(s, sizeof(s), "ERROR %ld", resp->status);
    rec_add(ud, s);
}

KP_TEST(test_list_watch_bookmark_relist_reconnect)
{
    (void)state;
    sc.valid_token = NULL; /* whatever an earlier test left */
    struct kube_client *kc = client_with("t", NULL);
    struct rec r = {.stop_at = "DELETED e"};
    char err[256];
    struct kube_watch_opts wo = {.path = "/leases",
                                 .list_page_size = 2,
                                 .watch_timeout_s = 5,
                                 .label_selector = "app=kube pulse"};
    struct kube_watch_handlers h = {h_begin, h_done, h_event, h_error};
    sc.n_seen = 0;
    sc.lists = 0;
    r.w = kube_watch_start(kc, &wo, &h, &r, err, sizeof(err));
    assert_non_null(r.w);
    assert_false(kube_watch_synced(r.w));
    assert_int_equal(r.n, 0); /* nothing happens before the loop runs */
    ev_run(loop, 0);
    const char *want[] = {"BEGIN", "ADDED a", "ADDED b", "ADDED c",   "DONE",     "ADDED d",
                          "BEGIN", "ADDED a", "DONE",    "ERROR 500", "DELETED e"};
    size_t nwant = sizeof(want) / sizeof(want[0]);
    for (int i = 0; i < r.n; i++)
        print_message("%s\n", r.log[i]);
    assert_int_equal(r.n, (int)nwant);
    for (size_t i = 0; i < nwant; i++)
        assert_string_equal(r.log[i], want[i]);
    /* the requests: two pages, a watch from the list's RV, a resume from the bookmark's RV
     * (answered with 410), a fresh list, a watch that failed, and its retry */
    assert_non_null(strstr(sc.seen[0], "GET /leases?limit=2&labelSelector=app%3Dkube%20pulse"));
    assert_non_null(strstr(sc.seen[1], "limit=2&continue=c1"));
    assert_non_null(strstr(sc.seen[2], "watch=1&resourceVersion=10&allowWatchBookmarks=true"
                                       "&timeoutSeconds=5&labelSelector=app%3Dkube%20pulse"));
    assert_non_null(strstr(sc.seen[3], "resourceVersion=15&"));
    assert_non_null(strstr(sc.seen[4], "/leases?limit=2&labelSelector"));
    assert_non_null(strstr(sc.seen[5], "resourceVersion=20&"));
    assert_non_null(strstr(sc.seen[6], "resourceVersion=20&"));
    kube_watch_stop(NULL);
    kube_client_free(kc);
}
