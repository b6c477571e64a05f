/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_http.c - transport behaviour of the HTTP client against a tiny canned
 * HTTP/1.1 server on loopback, run on the same libev loop: collected and
 * streamed bodies, connection reuse, max_body, Retry-After, timeouts, error
 * classes, cancellation from inside callbacks; plus Retry-After parsing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "kp_test.h"
#include "fake_server.h"
#include "http.h"

/* ---- the canned server ------------------------------------------------------------ */

static struct ev_loop *loop;
static int port;

static char *respond(const char *method, const char *path, const char *req_head, bool *close,
                     size_t *len, void *ud)
{
    (void)method;
    (void)req_head;
    (void)close;
    (void)ud;
    char head[512], date[64];
    const char *status = "200 OK", *extra = "", *body = "hello world";
    size_t body_len = 11;
    char *big = NULL;
    if (!strcmp(path, "/silent"))
        return NULL;
    if (!strcmp(path, "/retry")) {
        status = "503 Service Unavailable";
        extra = "Retry-After: 7\r\n";
        body = "busy";
        body_len = 4;
    } else if (!strcmp(path, "/date")) {
        time_t t = time(NULL) + 30;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof(date), "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        status = "429 Too Many Requests";
        extra = date;
    } else if (!strcmp(path, "/big")) {
        body_len = 300000;
        big = malloc(body_len);
        memset(big, 'x', body_len);
        body = big;
    }
    int hl = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Length: %zu\r\n%s\r\n", status,
                      body_len, extra);
    char *out = malloc((size_t)hl + body_len);
    memcpy(out, head, (size_t)hl);
    memcpy(out + hl, body, body_len);
    *len = (size_t)hl + body_len;
    free(big);
    return out;
}

static int server_up(void **state)
{
    (void)state;
    loop = ev_default_loop(0);
    port = fake_server_start(loop, respond, NULL);
    return port > 0 ? 0 : -1;
}

static int server_down(void **state)
{
    (void)state;
    fake_server_stop();
    ev_loop_destroy(loop);
    curl_global_cleanup();
    return 0;
}

KP_TEST_GROUP(server_up, server_down);

/* ---- client side ------------------------------------------------------------------ */

struct outcome {
    int done;
    int error;
    long status;
    char body[64];
    size_t received;
    double retry_after;
    struct http_request *self; /* for cancel-from-inside */
    int data_calls;
    int abort_at; /* on_data returns -1 on this call */
    int cancel_at;
    struct http_client *client; /* set: on_data's first call starts /hello into inner */
    struct outcome *inner;
};

static struct http_request *start(struct http_client *c, const char *path, struct outcome *o,
                                  size_t max_body, bool stream, long timeout_ms);

static void on_done(const struct http_result *res, void *ud)
{
    struct outcome *o = ud;
    o->done++;
    o->error = res->error;
    o->status = res->status;
    o->received = res->bytes_received;
    o->retry_after = res->retry_after_s;
    snprintf(o->body, sizeof(o->body), "%s", res->body ? res->body : "");
    if (res->error)
        assert_non_null(res->error_msg);
    ev_break(loop, EVBREAK_ONE);
}

static int on_data(const char *data, size_t len, void *ud)
{
    (void)data;
    (void)len;
    struct outcome *o = ud;
    o->data_calls++;
    if (o->abort_at && o->data_calls == o->abort_at)
        return -1;
    if (o->client && o->data_calls == 1) /* curl is on the stack: the add is deferred */
        start(o->client, "/hello", o->inner, 0, false, 5000);
    if (o->cancel_at && o->data_calls == o->cancel_at) {
        http_request_cancel(o->self);
        ev_break(loop, EVBREAK_ONE);
    }
    return 0;
}

static struct http_request *start(struct http_client *c, const char *path, struct outcome *o,
                                  size_t max_body, bool stream, long timeout_ms)
{
    char url[128], err[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    struct http_request_opts ro = {.url = url,
                                   .on_done = on_done,
                                   .ud = o,
                                   .max_body = max_body,
                                   .on_data = stream ? on_data : NULL,
                                   .timeout_ms = timeout_ms};
    struct http_request *r = http_request_start(c, &ro, err, sizeof(err));
    assert_non_null(r);
    o->self = r;
    return r;
}

/* The tests' fixture: a client of the fake server's loop in *state. */
static int client_setup(void **state)
{
    char err[256];
    struct http_client_opts co = {.user_agent = "test/1", .max_cached_connections = 4};
    *state = http_client_new(loop, &co, err, sizeof(err));
    return *state ? 0 : -1;
}

static int client_teardown(void **state)
{
    http_client_free(*state);
    return 0;
}

/* start, then run the loop until nothing is left to do */
static void fetch(struct http_client *c, const char *path, struct outcome *o, size_t max_body,
                  bool stream, long timeout_ms)
{
    start(c, path, o, max_body, stream, timeout_ms);
    ev_run(loop, 0);
}

/* GET path on c and wait for its outcome (no callback tricks). */
static struct outcome get(struct http_client *c, const char *path, size_t max_body, bool stream,
                          long timeout_ms)
{
    struct outcome o = {0};
    fetch(c, path, &o, max_body, stream, timeout_ms);
    return o;
}

KP_TEST_F(test_body_and_reuse, client_setup, client_teardown)
{
    struct http_client *c = *state;
    struct outcome o = {0};
    int before = fake_server_accepts();
    start(c, "/hello", &o, 0, false, 5000);
    assert_int_equal(http_client_in_flight(c), 1);
    ev_run(loop, 0);
    assert_int_equal(o.done, 1);
    assert_int_equal(o.error, HTTP_OK);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello world");
    assert_true(o.retry_after < 0);
    o = get(c, "/hello", 0, false, 5000);
    assert_int_equal(o.status, 200);
    assert_int_equal(fake_server_accepts() - before, 1); /* the connection was reused */
    assert_int_equal(http_client_in_flight(c), 0);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Hosts spread over several curl multi handles: concurrent requests to ten servers all
 * complete, and each server's second request reuses the connection of its first, so the
 * same server always lands on the same handle. */
KP_TEST(test_shards_keep_connections)
{
    (void)state;
    enum { NSERV = 10 };
    char err[256];
    int ports[NSERV] = {port};
    for (int i = 1; i < NSERV; i++)
        assert_true((ports[i] = fake_server_listen_more()) > 0);
    struct http_client_opts co = {.max_cached_connections = 16, .shards = 8};
    int fds = open_fds();
    struct http_client *c = http_client_new(loop, &co, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(open_fds(), fds); /* a shard's curl handle (and its socket pair) waits
                                          for the shard's first request */
    int before = fake_server_accepts();
    for (int round = 0; round < 2; round++) {
        struct outcome o[NSERV] = {0};
        for (int i = 0; i < NSERV; i++) {
            char url[128];
            snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", ports[i]);
            struct http_request_opts ro = {
                .url = url, .on_done = on_done, .ud = &o[i], .timeout_ms = 5000};
            assert_non_null(http_request_start(c, &ro, err, sizeof(err)));
        }
        assert_int_equal(http_client_in_flight(c), NSERV);
        for (int done = 0; done < NSERV;) {
            ev_run(loop, EVRUN_ONCE);
            done = 0;
            for (int i = 0; i < NSERV; i++)
                done += o[i].done;
        }
        for (int i = 0; i < NSERV; i++) {
            assert_int_equal(o[i].done, 1);
            assert_int_equal(o[i].status, 200);
            assert_string_equal(o[i].body, "hello world");
        }
    }
    assert_int_equal(fake_server_accepts() - before, NSERV);
    http_client_free(c);

    co.shards = HTTP_MAX_SHARDS + 1;
    assert_null(http_client_new(loop, &co, err, sizeof(err)));
    assert_non_null(strstr(err, "shards"));
    co.shards = 2;
    co.max_total_connections = 8; /* curl would apply it per handle */
    assert_null(http_client_new(loop, &co, err, sizeof(err)));
    assert_non_null(strstr(err, "one shard"));
}

KP_TEST_F(test_retry_after, client_setup, client_teardown)
{
    struct http_client *c = *state;
    struct outcome o = get(c, "/retry", 0, false, 5000);
    assert_int_equal(o.error, HTTP_OK);
    assert_int_equal(o.status, 503);
    assert_true(o.retry_after == 7.0);
    o = get(c, "/date", 0, false, 5000);
    assert_int_equal(o.status, 429);
    assert_true(o.retry_after >= 28 && o.retry_after <= 31);
}

KP_TEST_F(test_too_large_and_streaming, client_setup, client_teardown)
{
    struct http_client *c = *state;
    struct outcome o = get(c, "/big", 1000, false, 5000);
    assert_int_equal(o.error, HTTP_ERR_TOO_LARGE);
    assert_string_equal(http_error_name(o.error), "too_large");
    o = get(c, "/big", 0, true, 5000);
    assert_int_equal(o.error, HTTP_OK);
    assert_int_equal(o.received, 300000);
    assert_true(o.data_calls >= 1);
    assert_string_equal(o.body, ""); /* streamed, not collected */
    memset(&o, 0, sizeof(o));
    o.abort_at = 1;
    fetch(c, "/big", &o, 0, true, 5000);
    assert_int_equal(o.error, HTTP_ERR_ABORTED);
}

KP_TEST_F(test_cancel_inside_on_data, client_setup, client_teardown)
{
    struct http_client *c = *state;
    struct outcome o = {.cancel_at = 1};
    fetch(c, "/big", &o, 0, true, 5000);
    assert_int_equal(o.done, 0);
    assert_int_equal(http_client_in_flight(c), 0);
    /* the client still works afterwards */
    struct outcome p = get(c, "/hello", 0, false, 5000);
    assert_int_equal(p.status, 200);
    /* cancel outside callbacks, and free with a request in flight: no on_done */
    struct outcome q = {0};
    http_request_cancel(start(c, "/silent", &q, 0, false, 5000));
    http_request_cancel(NULL);
    start(c, "/silent", &q, 0, false, 5000);
    http_client_free(c);
    *state = NULL; /* freed here: the teardown has nothing left to free */
    assert_int_equal(q.done, 0);
}

KP_TEST_F(test_start_inside_on_data, client_setup, client_teardown)
{
    struct http_client *c = *state;
    struct outcome inner = {0};
    struct outcome o = {.client = c, .inner = &inner};
    start(c, "/big", &o, 0, true, 5000);
    while (o.done + inner.done < 2)
        ev_run(loop, EVRUN_ONCE);
    assert_int_equal(o.error, HTTP_OK);
    assert_int_equal(inner.error, HTTP_OK);
    assert_int_equal(inner.status, 200);
    assert_string_equal(inner.body, "hello world");
}

KP_TEST_F(test_error_classes, client_setup, client_teardown)
{
    struct http_client *c = *state;
    struct outcome o = get(c, "/silent", 0, false, 300);
    assert_int_equal(o.error, HTTP_ERR_TIMEOUT);
    assert_int_equal(o.status, 0);

    /* a port nobody listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    char url[128], err[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    memset(&o, 0, sizeof(o));
    struct http_request_opts ro = {.url = url, .on_done = on_done, .ud = &o};
    assert_non_null(http_request_start(c, &ro, err, sizeof(err)));
    ev_run(loop, 0);
    assert_int_equal(o.error, HTTP_ERR_CONNECT);

    /* TLS to a plain-HTTP server: handshake failure */
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/hello", port);
    memset(&o, 0, sizeof(o));
    struct http_tls tls = {.server_name = "kubernetes"};
    ro.tls = &tls;
    assert_non_null(http_request_start(c, &ro, err, sizeof(err)));
    ev_run(loop, 0);
    assert_int_equal(o.error, HTTP_ERR_TLS);

    ro.url = "ftp://127.0.0.1/";
    assert_null(http_request_start(c, &ro, err, sizeof(err)));
    assert_non_null(strstr(err, "http"));
    http_client_free(NULL); /* a no-op */
}

KP_TEST(test_parse_retry_after)
{
    (void)state;
    long now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
    assert_true(http_parse_retry_after("120", now) == 120);
    assert_true(http_parse_retry_after(" 5 \r\n", now) == 5);
    assert_true(http_parse_retry_after("0", now) == 0);
    assert_true(http_parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now) == 60);
    assert_true(http_parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now) == 0);
    assert_true(http_parse_retry_after("", now) < 0);
    assert_true(http_parse_retry_after("soon", now) < 0);
    assert_true(http_parse_retry_after("1.5", now) < 0);
    assert_true(http_parse_retry_after("-3", now) < 0);
    assert_true(http_parse_retry_after("12abc", now) < 0);
    assert_true(http_parse_retry_after(NULL, now) < 0);
}
