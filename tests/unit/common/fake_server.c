/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_server.c - the canned loopback HTTP/1.1 server of fake_server.h.
 */
#include "fake_server.h"

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
    int fd;
    ev_io io;
    char in[8192];
    size_t in_len;
    char *out;
    size_t out_len, out_off;
    bool close_after;
    struct conn *next;
};

static struct ev_loop *loop;
#define MAX_LISTEN 16
static int accepts, nlisten;
static ev_io accept_io[MAX_LISTEN]; /* .fd: the listening socket */
static struct conn *conns;
static fake_handler_fn handler;
static void *handler_ud;

static void conn_close(struct conn *c)
{
    if (c->fd < 0)
        return;
    ev_io_stop(loop, &c->io);
    close(c->fd);
    c->fd = -1;
}

static void on_conn(struct ev_loop *l, ev_io *w, int revents)
{
    struct conn *c = w->data;
    if (revents & EV_READ) {
        ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->in_len += (size_t)n;
        c->in[c->in_len] = '\0';
        if ((unsigned char)c->in[0] == 0x16) { /* a TLS ClientHello: answer like a plain server */
            static const char bad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
            ssize_t sent = send(c->fd, bad, sizeof(bad) - 1, MSG_NOSIGNAL);
            (void)sent;
            conn_close(c);
            return;
        }
        char *end = strstr(c->in, "\r\n\r\n");
        if (end && !c->out) {
            char method[16] = "", target[1024] = "";
            sscanf(c->in, "%15s %1023s", method, target);
            *end = '\0';
            c->out = handler(method, target, c->in, &c->close_after, &c->out_len, handler_ud);
            c->out_off = 0;
            size_t used = (size_t)(end + 4 - c->in);
            memmove(c->in, end + 4, c->in_len - used);
            c->in_len -= used;
        }
    }
    if (c->out) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0)
            c->out_off += (size_t)n;
        if (c->out_off == c->out_len) {
            free(c->out);
            c->out = NULL;
            if (c->close_after) {
                conn_close(c);
                return;
            }
        }
    }
    ev_io_stop(l, &c->io);
    ev_io_set(&c->io, c->fd, EV_READ | (c->out ? EV_WRITE : 0));
    ev_io_start(l, &c->io);
}

static void on_accept(struct ev_loop *l, ev_io *w, int revents)
{
    (void)revents;
    int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    accepts++;
    struct conn *c = calloc(1, sizeof(*c));
    c->fd = fd;
    c->next = conns;
    conns = c;
    ev_io_init(&c->io, on_conn, fd, EV_READ);
    c->io.data = c;
    ev_io_start(l, &c->io);
}

int fake_server_listen_more(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (nlisten == MAX_LISTEN)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        close(fd);
        return -1;
    }
    ev_io_init(&accept_io[nlisten], on_accept, fd, EV_READ);
    ev_io_start(loop, &accept_io[nlisten]);
    nlisten++;
    return ntohs(sa.sin_port);
}

int fake_server_start(struct ev_loop *l, fake_handler_fn fn, void *ud)
{
    loop = l;
    handler = fn;
    handler_ud = ud;
    return fake_server_listen_more();
}

void fake_server_drop_all(void)
{
    for (struct conn *c = conns; c; c = c->next)
        conn_close(c);
}

void fake_server_stop(void)
{
    while (conns) {
        struct conn *c = conns;
        conns = c->next;
        conn_close(c);
        free(c->out);
        free(c);
    }
    for (; nlisten > 0; nlisten--) {
        ev_io_stop(loop, &accept_io[nlisten - 1]);
        close(accept_io[nlisten - 1].fd);
    }
}

int fake_server_accepts(void)
{
    return accepts;
}
