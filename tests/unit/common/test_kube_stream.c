/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_stream.c - the watch stream decoder (events split at every byte
 * boundary, several per chunk, bounds, malformed input), watch event and
 * metav1.Status splitting, ExecCredential parsing, exec plugins run as children the loop
 * watches (the loop keeps turning while a slow plugin runs).
 */
#include <stdarg.h>
#include <stddef.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "kube_internal.h"

static const char stream_text[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Lease\",\"metadata\":{\"name\":\"a\","
    "\"resourceVersion\":\"10\"},\"spec\":{\"holderIdentity\":\"x \\\"q\\\" \\u00e9\"}}}\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":"
    "\"12\"}}}\n"
    "  {\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"13\"},"
    "\"n\":[1,2.5,-3e2,true,false,null,{},[]]}}\r\n"
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
    "\"Failure\",\"message\":\"too old resource version: 1 (5)\",\"reason\":\"Expired\","
    "\"code\":410}}\n";

struct collected {
    char names[16][32];
    char rvs[16][32];
    int n;
    int stop_after;
};

static int collect(json_object *ev, void *ud)
{
    struct collected *c = ud;
    const char *type;
    json_object *obj, *meta, *rv;
    if (kube_event_split(ev, &type, &obj) < 0)
        type = "?", obj = ev;
    assert_true(c->n < 16);
    snprintf(c->names[c->n], sizeof(c->names[0]), "%s", type);
    c->rvs[c->n][0] = '\0';
    if (json_object_object_get_ex(obj, "metadata", &meta) &&
        json_object_object_get_ex(meta, "resourceVersion", &rv))
        snprintf(c->rvs[c->n], sizeof(c->rvs[0]), "%s", json_object_get_string(rv));
    c->n++;
    return c->stop_after && c->n >= c->stop_after ? -7 : 0;
}

static void check_all(const struct collected *c)
{
    assert_int_equal(c->n, 4);
    assert_string_equal(c->names[0], "ADDED");
    assert_string_equal(c->rvs[0], "10");
    assert_string_equal(c->names[1], "BOOKMARK");
    assert_string_equal(c->rvs[1], "12");
    assert_string_equal(c->names[2], "MODIFIED");
    assert_string_equal(c->rvs[2], "13");
    assert_string_equal(c->names[3], "ERROR");
}

KP_TEST(test_whole_and_two_part_splits)
{
    (void)state;
    size_t len = strlen(stream_text);
    char err[256];
    for (size_t cut = 0; cut <= len; cut++) {
        struct kube_stream *s = kube_stream_new(0);
        struct collected c = {0};
        assert_int_equal(kube_stream_feed(s, stream_text, cut, collect, &c, err, sizeof(err)), 0);
        assert_int_equal(
            kube_stream_feed(s, stream_text + cut, len - cut, collect, &c, err, sizeof(err)), 0);
        check_all(&c);
        kube_stream_free(s);
    }
}

KP_TEST(test_byte_by_byte_and_three_parts)
{
    (void)state;
    size_t len = strlen(stream_text);
    char err[256];
    struct kube_stream *s = kube_stream_new(0);
    struct collected c = {0};
    for (size_t i = 0; i < len; i++)
        assert_int_equal(kube_stream_feed(s, stream_text + i, 1, collect, &c, err, sizeof(err)), 0);
    check_all(&c);
    /* every pair of cut points over a shorter prefix (two events) */
    size_t two = strstr(stream_text, "  {") - stream_text;
    for (size_t a = 0; a <= two; a += 3) {
        for (size_t b = a; b <= two; b += 5) {
            struct collected d = {0};
            kube_stream_reset(s);
            assert_int_equal(kube_stream_feed(s, stream_text, a, collect, &d, err, 256), 0);
            assert_int_equal(kube_stream_feed(s, stream_text + a, b - a, collect, &d, err, 256), 0);
            assert_int_equal(kube_stream_feed(s, stream_text + b, two - b, collect, &d, err, 256),
                             0);
            assert_int_equal(d.n, 2);
        }
    }
    kube_stream_free(s);
}

KP_TEST(test_callback_stop_and_reset)
{
    (void)state;
    char err[256];
    struct kube_stream *s = kube_stream_new(0);
    struct collected c = {.stop_after = 2};
    assert_int_equal(
        kube_stream_feed(s, stream_text, strlen(stream_text), collect, &c, err, sizeof(err)), -7);
    assert_int_equal(c.n, 2);
    /* a partial object is dropped by reset (a new connection) */
    kube_stream_reset(s);
    c = (struct collected){0};
    assert_int_equal(kube_stream_feed(s, "{\"type\":\"ADD", 12, collect, &c, err, 256), 0);
    kube_stream_reset(s);
    assert_int_equal(
        kube_stream_feed(s, stream_text, strlen(stream_text), collect, &c, err, sizeof(err)), 0);
    check_all(&c);
    kube_stream_free(s);
}

static void feed_bad(const char *data, size_t len, size_t max, const char *want)
{
    char err[256] = "";
    struct kube_stream *s = kube_stream_new(max);
    struct collected c = {0};
    int rc = kube_stream_feed(s, data, len, collect, &c, err, sizeof(err));
    assert_int_equal(rc, -1);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
    /* broken until reset */
    assert_int_equal(kube_stream_feed(s, "{}", 2, collect, &c, err, sizeof(err)), -1);
    kube_stream_free(s);
}

KP_TEST(test_malformed_and_bounds)
{
    (void)state;
    feed_bad("[1,2]", 5, 0, "expected '{'");
    feed_bad("{\"a\":}", 6, 0, "invalid JSON");
    feed_bad("{\"a\":1}x", 8, 0, "expected '{'");
    feed_bad("{\"a\":\"\0\"}", 9, 0, "invalid JSON");
    feed_bad("{\"a\":1 \0 }", 10, 0, "invalid JSON");
    feed_bad("{\"type\":\"ADDED\",\"object\":{\"big\":\"0123456789012345678901234567890\"}}", 66,
             40, "larger than 40 bytes");
    char deep[1200];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{\"a\":");
    feed_bad(deep, n, 0, "invalid JSON");
    /* an oversized object split over many chunks */
    char err[256];
    struct kube_stream *s = kube_stream_new(100);
    struct collected c = {0};
    int rc = kube_stream_feed(s, "{\"a\":\"", 6, collect, &c, err, sizeof(err));
    for (int i = 0; i < 30 && rc == 0; i++)
        rc = kube_stream_feed(s, "xxxxxxxx", 8, collect, &c, err, sizeof(err));
    assert_int_equal(rc, -1);
    kube_stream_free(s);
    kube_stream_free(NULL);
}

static int take_n(json_object *obj, void *ud)
{
    json_object *n;
    if (json_object_object_get_ex(obj, "n", &n))
        *(long *)ud = (long)json_object_get_int64(n);
    return 0;
}

/* json-c 0.16 parsed "9" + "-}" (a number split across calls) as 9: the
 * decoder holds back a trailing number run so this is an error at every cut. */
KP_TEST(test_number_split_across_chunks)
{
    (void)state;
    const char bad[] = "{\"n\":9-}\n{\"n\":1}", good[] = "{\"n\":-12345.5e1} {\"n\":77}";
    char err[256];
    for (size_t cut = 0; cut <= strlen(bad); cut++) {
        struct kube_stream *s = kube_stream_new(0);
        long n = 0;
        int rc = kube_stream_feed(s, bad, cut, take_n, &n, err, sizeof(err));
        if (rc == 0)
            rc = kube_stream_feed(s, bad + cut, strlen(bad) - cut, take_n, &n, err, sizeof(err));
        assert_int_equal(rc, -1);
        assert_int_equal(n, 0);
        kube_stream_free(s);
    }
    for (size_t cut = 0; cut <= strlen(good); cut++) {
        struct kube_stream *s = kube_stream_new(0);
        long n = 0;
        assert_int_equal(kube_stream_feed(s, good, cut, take_n, &n, err, sizeof(err)), 0);
        if (cut == 17) /* exactly the first object */
            assert_int_equal(n, -123455);
        assert_int_equal(
            kube_stream_feed(s, good + cut, strlen(good) - cut, take_n, &n, err, sizeof(err)), 0);
        /* the last number waits for its delimiter: a '}' ended it */
        assert_int_equal(n, 77);
        kube_stream_free(s);
    }
}

/* Lenient json-c read past an object's end into "/..." (a comment?) and failed
 * the whole chunk, while the same bytes in pieces delivered the object first. */
KP_TEST(test_no_lookahead_past_object)
{
    (void)state;
    const char text[] = "{\"n\":5}\n/\377";
    char err[256];
    for (size_t cut = 0; cut <= sizeof(text) - 1; cut++) {
        struct kube_stream *s = kube_stream_new(0);
        long n = 0;
        int rc = kube_stream_feed(s, text, cut, take_n, &n, err, sizeof(err));
        if (rc == 0)
            rc = kube_stream_feed(s, text + cut, sizeof(text) - 1 - cut, take_n, &n, err,
                                  sizeof(err));
        assert_int_equal(rc, -1);
        assert_int_equal(n, 5);
        assert_non_null(strstr(err, "expected '{'"));
        kube_stream_free(s);
    }
}

KP_TEST(test_event_split_and_status)
{
    (void)state;
    const char *type, *reason, *message;
    json_object *obj;
    json_object *ev = json_tokener_parse("{\"type\":\"ADDED\",\"object\":[]}");
    assert_int_equal(kube_event_split(ev, &type, &obj), -1);
    json_object_put(ev);
    ev = json_tokener_parse("{\"object\":{}}");
    assert_int_equal(kube_event_split(ev, &type, &obj), -1);
    json_object_put(ev);
    json_object *st = json_tokener_parse(
        "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"leases is forbidden\","
        "\"reason\":\"Forbidden\",\"code\":403}");
    assert_int_equal(kube_status_parse(st, &reason, &message), 403);
    assert_string_equal(reason, "Forbidden");
    assert_string_equal(message, "leases is forbidden");
    json_object_put(st);
    st = json_tokener_parse("{\"kind\":\"Lease\"}");
    assert_int_equal(kube_status_parse(st, &reason, &message), -1);
    assert_null(reason);
    json_object_put(st);
    assert_int_equal(kube_status_parse(NULL, &reason, &message), -1);
}

KP_TEST(test_exec_credential)
{
    (void)state;
    struct kube_exec_cred cred;
    char err[256];
    const char *ok = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
                     "\"ExecCredential\",\"status\":{\"token\":\"tok\",\"expirationTimestamp\":"
                     "\"2026-01-02T03:04:05Z\"}}";
    assert_int_equal(kube_exec_cred_parse(ok, strlen(ok), &cred, err, sizeof(err)), 0);
    assert_string_equal(cred.token, "tok");
    assert_int_equal((long)cred.expiry, 1767323045L);
    assert_null(cred.cert_pem);
    kube_exec_cred_fini(&cred);
    const char *certs = "{\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":"
                        "\"C\",\"clientKeyData\":\"K\"}}";
    assert_int_equal(kube_exec_cred_parse(certs, strlen(certs), &cred, err, sizeof(err)), 0);
    assert_string_equal(cred.cert_pem, "C");
    assert_string_equal(cred.key_pem, "K");
    assert_null(cred.token);
    assert_int_equal((long)cred.expiry, 0);
    kube_exec_cred_fini(&cred);
    const char *bad[] = {
        "not json",
        "{\"kind\":\"Other\",\"status\":{\"token\":\"SECRET\"}}",
        "{\"kind\":\"ExecCredential\"}",
        "{\"kind\":\"ExecCredential\",\"status\":{}}",
        "{\"kind\":\"ExecCredential\",\"status\":{\"token\":5}}",
        "{\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":\"SECRET\"}}",
        ("{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"SECRET\","
         "\"expirationTimestamp\":\"soon\"}}"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(kube_exec_cred_parse(bad[i], strlen(bad[i]), &cred, err, sizeof(err)), -1);
        assert_null(strstr(err, "SECRET"));
        assert_null(cred.token);
    }
}

/* ---- exec plugins, run by the loop ------------------------------------------------------ */

struct run {
    int done, rc;
    struct kube_exec_cred cred;
    char err[512];
    int ticks;            /* of a 20 ms timer while the plugin runs */
    int ticks_at_done;    /* ticks counted when done ran */
    double started, took; /* monotonic */
};

static void on_run_done(int rc, struct kube_exec_cred *cred, const char *err, void *ud)
{
    struct run *r = ud;
    r->done++;
    r->rc = rc;
    r->ticks_at_done = r->ticks;
    r->took = kp_mono_now() - r->started;
    if (cred)
        r->cred = *cred; /* taken over */
    snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
    ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    ((struct run *)w->data)->ticks++;
}

/* Start x on the default loop with a 20 ms ticker beside it; run until done. */
static void run_plugin(struct kube_exec *x, long timeout_ms, struct run *r)
{
    struct ev_loop *loop = EV_DEFAULT;
    char err[256];
    ev_timer tick;
    memset(r, 0, sizeof(*r));
    ev_timer_init(&tick, on_tick, 0.02, 0.02);
    tick.data = r;
    ev_timer_start(loop, &tick);
    r->started = kp_mono_now();
    struct kube_exec_proc *p =
        kube_exec_start(loop, x, timeout_ms, on_run_done, r, err, sizeof(err));
    if (!p)
        fail_msg("kube_exec_start: %s", err);
    ev_run(loop, 0);
    ev_timer_stop(loop, &tick);
    assert_int_equal(r->done, 1);
}

KP_TEST(test_exec_run)
{
    (void)state;
    struct run r;
    char *args[] = {"-c",
                    "[ \"$X\" = 1 ] && printf '{\"kind\":\"ExecCredential\",\"status\":"
                    "{\"token\":\"%s\"}}' \"$0\"",
                    NULL};
    char *env[] = {"X=1", NULL};
    struct kube_exec x = {.command = "sh",
                          .args = args,
                          .env = env,
                          .api_version = "client.authentication.k8s.io/v1"};
    run_plugin(&x, 5000, &r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.cred.token, "sh");
    kube_exec_cred_fini(&r.cred);
    char *slow[] = {"-c", "sleep 5", NULL};
    x.args = slow;
    run_plugin(&x, 200, &r);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.err, "timed out after 200 ms"));
    assert_true(r.took < 2.0); /* the timer ended it, not the plugin */
    char *fails[] = {"-c", "exit 3", NULL};
    x.args = fails;
    run_plugin(&x, 5000, &r);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.err, "exit status 3"));
    char *garbage[] = {"-c", "echo SECRET-not-json", NULL};
    x.args = garbage;
    run_plugin(&x, 5000, &r);
    assert_int_equal(r.rc, -1);
    assert_null(strstr(r.err, "SECRET")); /* the output is never quoted */
    x.command = "/nonexistent/plugin";
    x.args = NULL;
    run_plugin(&x, 5000, &r);
    assert_int_equal(r.rc, -1);
    assert_non_null(strstr(r.err, "exit status 127"));
}

/* A plugin that takes 300 ms: the loop keeps turning (a 20 ms timer fires throughout), the
 * output written in two parts with a pause between arrives whole, and a run can be cancelled
 * while it is in progress. */
KP_TEST(test_exec_slow_plugin_loop_turns)
{
    (void)state;
    struct kube_exec x = {.command = "sh",
                          .args = (char *[]){"-c",
                                             "printf '{\"kind\":\"ExecCredential\",'; sleep 0.3; "
                                             "printf '\"status\":{\"token\":\"slow\"}}'",
                                             NULL}};
    struct run r;
    run_plugin(&x, 5000, &r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.cred.token, "slow");
    assert_true(r.took >= 0.3);
    assert_true(r.ticks_at_done >= 5); /* 15 expected; a blocked loop counts at most 1 */
    kube_exec_cred_fini(&r.cred);

    /* cancelled: done never runs, the loop has nothing of it left to wait for */
    char err[256];
    struct kube_exec_proc *p =
        kube_exec_start(EV_DEFAULT, &x, 5000, on_run_done, &r, err, sizeof(err));
    assert_non_null(p);
    memset(&r, 0, sizeof(r));
    kube_exec_cancel(p);
    kube_exec_cancel(NULL);
    ev_run(EV_DEFAULT, EVRUN_NOWAIT);
    assert_int_equal(r.done, 0);
    /* a loop other than libev's default one cannot watch a child */
    struct ev_loop *other = ev_loop_new(0);
    assert_null(kube_exec_start(other, &x, 5000, on_run_done, &r, err, sizeof(err)));
    assert_non_null(strstr(err, "default loop"));
    ev_loop_destroy(other);
}
