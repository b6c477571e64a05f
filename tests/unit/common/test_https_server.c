/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_https_server.c - the HTTPS server (https_server.h): a request answered
 * later by its handler, the client's certificate handed to the handler,
 * the serving certificate rotated on disk without a restart, a bad pair kept
 * out, malformed and oversized heads refused, and the head parser itself.
 * The client is a child process speaking OpenSSL, so the loop runs freely.
 */
#include <errno.h>
#include <ev.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kp_test.h"
#include "https_server.h"
#include "testcert.h"

static char dir[64];
static const char *self_path; /* argv[0]: the client runs as a fresh exec of this binary */

/* Write a self-signed P-256 certificate for cn and its key as dir/<base>.crt/.key. */
static void make_pair(const char *cn, const char *base)
{
    EVP_PKEY *k = NULL;
    X509 *x = testcert_self_signed(cn, &k);
    assert_non_null(x);
    char path[160], tmp[170];
    snprintf(path, sizeof(path), "%s/%s.crt", dir, base);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    PEM_write_X509(f, x);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
    snprintf(path, sizeof(path), "%s/%s.key", dir, base);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
    X509_free(x);
    EVP_PKEY_free(k);
}

static const char *path_of(const char *name)
{
    static char p[4][160];
    static int n;
    char *s = p[n++ % 4];
    snprintf(s, 160, "%s/%s", dir, name);
    return s;
}

struct fixture {
    struct ev_loop *loop;
    struct https_server *srv;
    ev_timer later;
    struct https_request *pending;
    char peer_cn[64];
};

static void answer_later(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct fixture *f = w->data;
    char body[256];
    (void)loop;
    (void)revents;
    const char *ua = https_head_get(&f->pending->head, "user-agent");
    int n = snprintf(body, sizeof(body), "%s %s ua=%s peer=%s", f->pending->head.method,
                     f->pending->head.target, ua ? ua : "-", f->peer_cn);
    https_respond(f->pending, 200, "text/plain", body, (size_t)n);
    f->pending = NULL;
}

static void handler(struct https_request *req, void *ud)
{
    struct fixture *f = ud;
    strcpy(f->peer_cn, "none");
    if (req->peer)
        X509_NAME_get_text_by_NID(X509_get_subject_name(req->peer), NID_commonName, f->peer_cn,
                                  sizeof(f->peer_cn));
    /* answered from a timer: the server must hold the request meanwhile */
    f->pending = req;
    ev_timer_set(&f->later, 0.01, 0);
    ev_timer_start(f->loop, &f->later);
}

static struct fixture *fx_new(void)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[512];
    f->loop = ev_loop_new(EVFLAG_AUTO);
    ev_timer_init(&f->later, answer_later, 0.01, 0);
    f->later.data = f;
    struct https_server_opts o = {.listen = "127.0.0.1:0",
                                  .cert_file = path_of("srv.crt"),
                                  .key_file = path_of("srv.key"),
                                  .reload_check_s = 0.05,
                                  .timeout_s = 1.0};
    f->srv = https_server_new(f->loop, &o, handler, f, err, sizeof(err));
    if (!f->srv)
        fail_msg("https_server_new: %s", err);
    return f;
}

static void fx_free(struct fixture *f)
{
    https_server_free(f->srv);
    ev_timer_stop(f->loop, &f->later);
    ev_loop_destroy(f->loop);
    free(f);
}

/* The client, in a child: TLS to port (verifying against ca when given, with a client
 * certificate when given), send raw, read to EOF; writes "CN=<server cn>\n" + the answer
 * to fd. */
static void child_client(int port, const char *ca, const char *cert, const char *key,
                         const char *raw, int fd)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ca) {
        SSL_CTX_load_verify_locations(ctx, ca, NULL);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (cert) {
        SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM);
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        _exit(2);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, s);
    if (SSL_connect(ssl) != 1) {
        dprintf(fd, "HANDSHAKE FAILED\n");
        _exit(0);
    }
    char cn[64] = "";
    X509 *pc = SSL_get1_peer_certificate(ssl);
    X509_NAME_get_text_by_NID(X509_get_subject_name(pc), NID_commonName, cn, sizeof(cn));
    X509_free(pc);
    dprintf(fd, "CN=%s\n", cn);
    SSL_write(ssl, raw, (int)strlen(raw));
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)n) < 0)
            break;
    _exit(0);
}

/* Run the client while turning the loop; returns its output (static buffer). */
static const char *request(struct fixture *f, const char *ca, const char *cert, const char *key,
                           const char *raw)
{
    static char out[8192];
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* exec rather than run in the fork: nothing of the parent's heap lingers (valgrind) */
        char port[16], fd[16];
        snprintf(port, sizeof(port), "%d", https_server_port(f->srv));
        snprintf(fd, sizeof(fd), "%d", p[1]);
        close(p[0]);
        execl(self_path, self_path, "--client", port, ca ? ca : "", cert ? cert : "",
              key ? key : "", raw, fd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    double end = ev_time() + 5;
    int status = 0;
    while (ev_time() < end) {
        ev_run(f->loop, EVRUN_NOWAIT);
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        usleep(1000);
    }
    ssize_t n;
    while ((n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
        len += (size_t)n;
    close(p[0]);
    out[len] = '\0';
    return out;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kp-test-https-XXXXXX");
    assert_non_null(mkdtemp(dir));
    make_pair("serving-a", "srv");
    make_pair("client-x", "cli");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

KP_TEST_GROUP(setup, teardown);

/* The server tests' fixture: a server with a fresh "serving-a" pair in *state. */
static int server_setup(void **state)
{
    make_pair("serving-a", "srv");
    *state = fx_new();
    return 0;
}

static int server_teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* Let f's loop run for the given seconds (the certificate reload check). */
static void run_for(struct fixture *f, double seconds)
{
    double end = ev_time() + seconds;
    while (ev_time() < end)
        ev_run(f->loop, EVRUN_NOWAIT);
}

KP_TEST_F(test_request_answered_later, server_setup, server_teardown)
{
    struct fixture *f = *state;
    const char *r = request(f, path_of("srv.crt"), NULL, NULL,
                            "GET /apis?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: kubectl\r\n\r\n");
    assert_non_null(strstr(r, "CN=serving-a\n"));
    assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(r, "Content-Length: 34\r\n"));
    assert_non_null(strstr(r, "\r\n\r\nGET /apis?x=1 ua=kubectl peer=none"));
    /* with a client certificate: the handler sees it (the TLS layer verified nothing) */
    r = request(f, NULL, path_of("cli.crt"), path_of("cli.key"), "GET / HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(r, "peer=client-x"));
    struct https_server_stats st;
    https_server_get_stats(f->srv, &st);
    assert_int_equal(st.requests, 2);
    assert_int_equal(st.open, 0);
}

KP_TEST_F(test_rotation, server_setup, server_teardown)
{
    struct fixture *f = *state;
    assert_non_null(strstr(request(f, NULL, NULL, NULL, "GET / HTTP/1.1\r\n\r\n"), "CN=serving-a"));
    make_pair("serving-b", "srv");
    run_for(f, 0.3);
    assert_non_null(strstr(request(f, NULL, NULL, NULL, "GET / HTTP/1.1\r\n\r\n"), "CN=serving-b"));
    /* a key that does not match: the previous pair stays in service */
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "cp %s/cli.key %s/srv.key.tmp && mv %s/srv.key.tmp %s/srv.key", dir,
             dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    run_for(f, 0.3); /* past the reload check */
    assert_non_null(strstr(request(f, NULL, NULL, NULL, "GET / HTTP/1.1\r\n\r\n"), "CN=serving-b"));
    struct https_server_stats st;
    https_server_get_stats(f->srv, &st);
    assert_int_equal(st.cert_reloads, 1);
    assert_true(st.cert_reload_failed >= 1);
}

KP_TEST_F(test_bad_heads, server_setup, server_teardown)
{
    struct fixture *f = *state;
    assert_non_null(strstr(request(f, NULL, NULL, NULL, "GET /\r\n\r\n"), "HTTP/1.1 400 "));
    assert_non_null(strstr(request(f, NULL, NULL, NULL, "GET / HTTP/2.0\r\n\r\n"), " 505 "));
    /* exactly the bound, without the blank line: all read, then refused */
    char *big = malloc(16385);
    strcpy(big, "GET / HTTP/1.1\r\nX: ");
    memset(big + strlen(big), 'a', 16384 - strlen(big));
    big[16384] = '\0';
    assert_non_null(strstr(request(f, NULL, NULL, NULL, big), "HTTP/1.1 431 "));
    free(big);
}

KP_TEST(test_head_parse)
{
    (void)state;
    struct https_head h;
    char ok[] = "GET /a%20b?c=d HTTP/1.1\r\nHost: x\r\nX-Remote-User:  alice \r\n"
                "x-remote-group: g1\r\nX-Remote-Group: g2\r\n\r\n";
    assert_int_equal(https_head_parse(ok, strlen(ok), &h), 0);
    assert_string_equal(h.method, "GET");
    assert_string_equal(h.target, "/a%20b?c=d");
    assert_string_equal(https_head_get(&h, "x-remote-user"), "alice");
    assert_string_equal(https_head_get(&h, "X-REMOTE-GROUP"), "g1");
    assert_int_equal(h.nheaders, 4);
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n X: folded\r\n\r\n",
        "GET / HTTP/1.1\nX: y\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET http://x/ HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nX y\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
        "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", bad[i]);
        if (https_head_parse(buf, strlen(buf), &h) == 0)
            fail_msg("accepted: %s", bad[i]);
    }
    char many[HTTPS_MAX_HEADERS * 8 + 64];
    size_t n = (size_t)sprintf(many, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= HTTPS_MAX_HEADERS; i++)
        n += (size_t)sprintf(many + n, "X: 1\r\n");
    strcpy(many + n, "\r\n");
    assert_int_equal(https_head_parse(many, strlen(many), &h), 431);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc == 8 && strcmp(argv[1], "--client") == 0) {
        child_client(atoi(argv[2]), *argv[3] ? argv[3] : NULL, *argv[4] ? argv[4] : NULL,
                     *argv[5] ? argv[5] : NULL, argv[6], atoi(argv[7]));
        return 0;
    }
    return kp_test_run();
}
