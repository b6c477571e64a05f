/* SPDX-License-Identifier: Apache-2.0 */
/*
 * https_server.c - the HTTPS server: accept, TLS handshake, one bounded
 * request head, the handler, the answer, close. Everything runs on the libev
 * loop with non-blocking OpenSSL; no callback does unbounded work.
 *
 * Certificate rotation: a timer compares the certificate and key files with
 * what was loaded (device, inode, size, mtime: a Secret volume swaps a
 * symlink) and builds a new SSL_CTX when they changed. New connections use it;
 * connections in flight keep theirs (each SSL holds a reference).
 */
#include "https_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_tls_load.h"
#include "log.h"
#include "util.h"

#define HEAD_FIRST     2048
#define HEAD_MAX       16384
#define ANSWER_TIMEOUT 60.0

enum conn_state { C_HANDSHAKE, C_READ, C_HANDLING, C_WRITE };

struct conn {
    struct https_request req; /* first: https_respond finds the conn from it */
    struct https_server *srv; /* borrowed */
    int fd;
    SSL *ssl; /* owned */
    enum conn_state state;
    bool orphan; /* closed while its handler works: freed at https_respond */
    ev_io io;
    ev_timer timer;
    char *head; /* owned */
    size_t head_len, head_cap;
    char *out; /* owned */
    size_t out_len, out_off;
    struct conn *prev, *next; /* accept order */
};

struct https_server {
    struct ev_loop *loop; /* borrowed */
    int fd, port;
    ev_io accept_io;
    ev_timer reload_timer;
    SSL_CTX *ctx; /* owned reference */
    char *cert_file, *key_file;
    struct http_tls_stamp stamps[2];      /* the pair in service */
    struct http_tls_stamp fail_stamps[2]; /* the last pair that did not load */
    https_handler_fn handler;
    void *ud;
    int max_conns;
    double timeout_s;
    struct conn *oldest, *newest;
    struct https_server_stats stats;
};

/* ---- certificates ----------------------------------------------------------- */

static int accept_any_cert(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1; /* the handler verifies against the CA of its choice */
}

static SSL_CTX *ctx_load(struct https_server *s, struct http_tls_stamp st[2], char *err,
                         size_t errlen)
{
    struct http_tls_source cert = {.file = s->cert_file}, key = {.file = s->key_file};
    struct http_tls_client c = {0};
    SSL_CTX *ctx = NULL;
    if (http_tls_load_client(&cert, &key, &c, st, err, errlen) < 0)
        goto fail;
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate(ctx, c.cert) != 1 ||
        (c.chain && !SSL_CTX_set1_chain(ctx, c.chain)) || SSL_CTX_use_PrivateKey(ctx, c.key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "serving certificate %s / key %s: %s", s->cert_file, s->key_file,
                 ERR_reason_error_string(ERR_get_error()));
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cert);
    static const unsigned char sid[] = "kubepulse-metrics";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    http_tls_client_fini(&c);
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    http_tls_client_fini(&c);
    return NULL;
}

static void on_reload_check(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct https_server *s = w->data;
    struct http_tls_stamp st[2] = {{0}, {0}};
    char err[512];
    (void)loop;
    (void)revents;
    if (!http_tls_stamp_changed(&s->stamps[0]) && !http_tls_stamp_changed(&s->stamps[1]))
        return;
    /* a pair that failed is tried again only once either file changes again */
    if (s->fail_stamps[0].path && !http_tls_stamp_changed(&s->fail_stamps[0]) &&
        !http_tls_stamp_changed(&s->fail_stamps[1]))
        return;
    SSL_CTX *ctx = ctx_load(s, st, err, sizeof(err));
    if (!ctx) {
        /* a half-written pair is common mid-update: the next change retries */
        s->stats.cert_reload_failed++;
        log_warn("serving certificate changed but does not load; keeping the previous one",
                 LF_ERR(err));
        for (int i = 0; i < 2; i++) {
            http_tls_stamp_fini(&s->fail_stamps[i]);
            s->fail_stamps[i] = st[i];
        }
        return;
    }
    SSL_CTX_free(s->ctx);
    s->ctx = ctx;
    for (int i = 0; i < 2; i++) {
        http_tls_stamp_fini(&s->stamps[i]);
        s->stamps[i] = st[i];
    }
    s->stats.cert_reloads++;
    log_info("serving certificate reloaded", LF_STR("cert", s->cert_file));
}

/* ---- connections ------------------------------------------------------------- */

static void conn_unlink(struct conn *c)
{
    struct https_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else if (s->oldest == c)
        s->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else if (s->newest == c)
        s->newest = c->prev;
    c->prev = c->next = NULL;
}

static void conn_free(struct conn *c)
{
    free(c->head);
    free(c->out);
    free(c);
}

/* Close the socket; a connection whose handler still works is freed by https_respond. */
static void conn_close(struct conn *c)
{
    struct https_server *s = c->srv;
    if (c->fd < 0)
        return;
    ev_io_stop(s->loop, &c->io);
    ev_timer_stop(s->loop, &c->timer);
    if (c->ssl) {
        if (c->state == C_WRITE)
            SSL_shutdown(c->ssl); /* best effort: one close_notify, no wait */
        SSL_free(c->ssl);
        c->ssl = NULL;
        c->req.peer = NULL;
        c->req.peer_chain = NULL;
    }
    close(c->fd);
    c->fd = -1;
    conn_unlink(c);
    s->stats.open--;
    if (c->state == C_HANDLING)
        c->orphan = true;
    else
        conn_free(c);
}

static void conn_wait(struct conn *c, int events)
{
    struct https_server *s = c->srv;
    if (c->io.events != events || !ev_is_active(&c->io)) {
        ev_io_stop(s->loop, &c->io);
        ev_io_set(&c->io, c->fd, events);
        ev_io_start(s->loop, &c->io);
    }
}

/* After SSL_* returned r <= 0: wait for the loop, or give up. */
static bool ssl_again(struct conn *c, int r)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ: conn_wait(c, EV_READ); return true;
    case SSL_ERROR_WANT_WRITE: conn_wait(c, EV_WRITE); return true;
    default: ERR_clear_error(); return false;
    }
}

static void conn_answer_now(struct conn *c, int code, const char *msg);

static void dispatch(struct conn *c)
{
    struct https_server *s = c->srv;
    int code = https_head_parse(c->head, c->head_len, &c->req.head);
    if (code) {
        conn_answer_now(c, code, "malformed request");
        return;
    }
    c->req.peer = SSL_get0_peer_certificate(c->ssl);
    c->req.peer_chain = SSL_get_peer_cert_chain(c->ssl);
    c->state = C_HANDLING;
    ev_io_stop(s->loop, &c->io);
    ev_timer_stop(s->loop, &c->timer);
    ev_timer_set(&c->timer, ANSWER_TIMEOUT, 0);
    ev_timer_start(s->loop, &c->timer);
    s->stats.requests++;
    s->handler(&c->req, s->ud);
}

static void do_write(struct conn *c)
{
    while (c->out_off < c->out_len) {
        int n = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
        if (n <= 0) {
            if (!ssl_again(c, n))
                conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    conn_close(c);
}

static void do_read(struct conn *c)
{
    for (;;) {
        if (c->head_len == c->head_cap) {
            if (c->head_cap >= HEAD_MAX) {
                conn_answer_now(c, 431, "request head too large");
                return;
            }
            size_t cap = c->head_cap ? c->head_cap * 2 : HEAD_FIRST;
            char *p = realloc(c->head, cap + 1);
            if (!p) {
                conn_close(c);
                return;
            }
            c->head = p;
            c->head_cap = cap;
        }
        int n = SSL_read(c->ssl, c->head + c->head_len, (int)(c->head_cap - c->head_len));
        if (n <= 0) {
            if (!ssl_again(c, n))
                conn_close(c);
            return;
        }
        size_t from = c->head_len >= 3 ? c->head_len - 3 : 0;
        c->head_len += (size_t)n;
        c->head[c->head_len] = '\0';
        char *end = memmem(c->head + from, c->head_len - from, "\r\n\r\n", 4);
        if (end) {
            c->head_len = (size_t)(end - c->head) + 4; /* a pipelined rest is ignored */
            dispatch(c);
            return;
        }
    }
}

static void conn_step(struct conn *c)
{
    if (c->state == C_HANDSHAKE) {
        int r = SSL_accept(c->ssl);
        if (r != 1) {
            if (!ssl_again(c, r)) {
                c->srv->stats.handshake_failed++;
                conn_close(c);
            }
            return;
        }
        c->state = C_READ;
    }
    if (c->state == C_READ)
        do_read(c);
    else if (c->state == C_WRITE)
        do_write(c);
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_step(w->data);
}

static void on_conn_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn *c = w->data;
    (void)loop;
    (void)revents;
    c->srv->stats.timed_out++;
    conn_close(c);
}

static const char *reason_phrase(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static void conn_set_answer(struct conn *c, int code, const char *ctype, const char *body,
                            size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-cache, private\r\nConnection: close\r\n\r\n",
                     code, reason_phrase(code), ctype, len);
    free(c->out);
    c->out = malloc((size_t)n + len);
    c->out_len = c->out_off = 0;
    if (!c->out)
        return;
    memcpy(c->out, head, (size_t)n);
    if (len)
        memcpy(c->out + n, body, len);
    c->out_len = (size_t)n + len;
}

static void conn_answer_now(struct conn *c, int code, const char *msg)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "%s\n", msg);
    conn_set_answer(c, code, "text/plain; charset=utf-8", body, (size_t)n);
    c->state = C_WRITE;
    do_write(c);
}

void https_respond(struct https_request *req, int code, const char *content_type, const char *body,
                   size_t len)
{
    struct conn *c = (struct conn *)req;
    if (c->orphan) {
        conn_free(c);
        return;
    }
    conn_set_answer(c, code, content_type ? content_type : "application/json", body, len);
    c->state = C_WRITE;
    do_write(c);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct https_server *s = w->data;
    (void)revents;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(s->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or out of fds: the next readiness retries */
        /* at the bound, the oldest connection not yet handled makes room */
        if (s->stats.open >= s->max_conns) {
            struct conn *o = s->oldest;
            while (o && o->state == C_HANDLING)
                o = o->next;
            if (!o) {
                close(fd);
                continue;
            }
            s->stats.shed++;
            conn_close(o);
        }
        struct conn *c = calloc(1, sizeof(*c));
        SSL *ssl = c ? SSL_new(s->ctx) : NULL;
        if (!ssl || !SSL_set_fd(ssl, fd)) {
            SSL_free(ssl);
            free(c);
            close(fd);
            continue;
        }
        c->srv = s;
        c->fd = fd;
        c->ssl = ssl;
        char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV);
        snprintf(c->req.remote, sizeof(c->req.remote), "%s:%s", host, port);
        KP_DQUEUE_APPEND(s->oldest, s->newest, c);
        s->stats.open++;
        s->stats.accepted++;
        ev_io_init(&c->io, on_conn_io, fd, EV_READ);
        c->io.data = c;
        ev_timer_init(&c->timer, on_conn_timer, s->timeout_s, 0);
        c->timer.data = c;
        ev_timer_start(loop, &c->timer);
        conn_step(c);
    }
}

/* ---- the server ---------------------------------------------------------------- */

struct https_server *https_server_new(struct ev_loop *loop, const struct https_server_opts *o,
                                      https_handler_fn handler, void *ud, char *err, size_t errlen)
{
    struct https_server *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* OpenSSL's socket BIO writes with write(): a peer gone mid-answer must not kill us */
    signal(SIGPIPE, SIG_IGN);
    s->loop = loop;
    s->fd = -1;
    s->handler = handler;
    s->ud = ud;
    s->max_conns = o->max_conns > 0 ? o->max_conns : 1024;
    s->timeout_s = o->timeout_s > 0 ? o->timeout_s : 10.0;
    s->cert_file = strdup(o->cert_file ? o->cert_file : "");
    s->key_file = strdup(o->key_file ? o->key_file : "");
    if (!s->cert_file || !s->key_file || !o->cert_file || !o->key_file) {
        snprintf(err, errlen, "the metrics API needs a serving certificate and key file");
        goto fail;
    }
    s->ctx = ctx_load(s, s->stamps, err, errlen);
    if (!s->ctx)
        goto fail;
    s->fd = kp_listen_tcp(o->listen, &s->port, err, errlen);
    if (s->fd < 0)
        goto fail;
    ev_io_init(&s->accept_io, on_accept, s->fd, EV_READ);
    s->accept_io.data = s;
    ev_io_start(loop, &s->accept_io);
    double every = o->reload_check_s > 0 ? o->reload_check_s : 10.0;
    ev_timer_init(&s->reload_timer, on_reload_check, every, every);
    s->reload_timer.data = s;
    ev_timer_start(loop, &s->reload_timer);
    return s;
fail:
    https_server_free(s);
    return NULL;
}

int https_server_port(const struct https_server *s)
{
    return s->port;
}

void https_server_get_stats(const struct https_server *s, struct https_server_stats *st)
{
    *st = s->stats;
}

void https_server_free(struct https_server *s)
{
    if (!s)
        return;
    while (s->oldest) {
        struct conn *c = s->oldest;
        bool handling = c->state == C_HANDLING;
        conn_close(c);
        if (handling)
            conn_free(c); /* its handler was cancelled by our owner */
    }
    if (s->fd >= 0) {
        ev_io_stop(s->loop, &s->accept_io);
        close(s->fd);
    }
    ev_timer_stop(s->loop, &s->reload_timer);
    SSL_CTX_free(s->ctx);
    for (int i = 0; i < 2; i++) {
        http_tls_stamp_fini(&s->stamps[i]);
        http_tls_stamp_fini(&s->fail_stamps[i]);
    }
    free(s->cert_file);
    free(s->key_file);
    free(s);
}
