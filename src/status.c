/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status.c - the status server: accept, read one bounded request head, hand
 * GET paths to the handler, write the response, close.
 *
 * No client can starve it (issue #18). Every connection has a deadline for
 * its request head and another for its response, so idle, slowloris and
 * never-read connections are closed; the head is bounded in size and its
 * buffer grows only as bytes arrive; and the number of connections is bounded
 * by a share of the fd limit. When the bound (or the fd limit) is reached the
 * oldest connection is shed to make room, so a flood of connections that never
 * finish pushes itself out, while a probe that sends its request at once is
 * answered in the next loop iteration. Work per callback is bounded too (a
 * batch of accepts, one read), so the loop's other watchers - the Lease
 * renewals first - keep their turn.
 */
#include "status.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define STATUS_HEAD_MAX        8192
#define STATUS_HEAD_CHUNK      1024
#define STATUS_MAX_CONNS       4096
#define STATUS_MIN_CONNS       16
#define STATUS_HEAD_TIMEOUT_S  5.0
#define STATUS_WRITE_TIMEOUT_S 5.0
#define STATUS_ACCEPT_BATCH    64
#define STATUS_PAUSE_S         0.1

struct status_conn {
    struct status_server *srv; /* borrowed */
    int fd;
    ev_io io;
    ev_timer timer;
    char *head; /* owned; grows by STATUS_HEAD_CHUNK up to the head bound */
    size_t head_len, head_cap;
    char *out; /* owned: the whole response */
    size_t out_len, out_off;
    struct status_conn *prev, *next; /* accept order: the oldest first */
};

struct status_server {
    struct ev_loop *loop; /* borrowed */
    int fd;
    int port;
    ev_io accept_io;
    ev_timer pause_timer; /* accepting again after EMFILE with nothing to shed */
    status_handler_fn handler;
    void *ud;
    struct status_conn *oldest, *newest; /* owned list */
    struct status_limits limits;
    struct status_server_stats stats;
};

#define S struct status_server_stats
const struct stat_desc status_stat_descs[] = {
    STAT_GAUGE_U64(S, open, "kubepulse_status_connections",
                   "Connections open to the status server now.", NULL),
    STAT_GAUGE_U64(S, max_conns, "kubepulse_status_connections_max",
                   "The most connections the status server keeps open; a new one sheds the "
                   "oldest.",
                   NULL),
    STAT_COUNTER_U64(S, accepted, "kubepulse_status_connections_accepted_total",
                     "Connections accepted by the status server.", NULL),
    STAT_COUNTER_U64(S, requests, "kubepulse_status_requests_total",
                     "Requests answered by the status server.", NULL),
    STAT_COUNTER_U64(S, shed, "kubepulse_status_connections_shed_total",
                     "Connections closed to make room for a newer one.", NULL),
    STAT_COUNTER_U64(S, timed_out, "kubepulse_status_connections_timed_out_total",
                     "Connections closed at their request or answer deadline.", NULL),
    STAT_COUNTER_U64(S, too_large, "kubepulse_status_requests_too_large_total",
                     "Requests refused because their head was over the bound (431).", NULL),
};
#undef S
const size_t status_stat_ndescs = STAT_TABLE_LEN(status_stat_descs);

void status_buf_append(struct status_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (kp_grow((void **)&b->data, &b->cap, b->len + n + 1, 1, 1024) < 0) {
        b->failed = 1;
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void status_buf_printf(struct status_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        status_buf_append(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    status_buf_append(b, big, (size_t)n);
    free(big);
}

void status_prom_family(struct status_buf *b, const char *name, const char *type, const char *help)
{
    status_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void status_prom_sample(struct status_buf *b, const char *name, const char *const *label_pairs,
                        double value)
{
    status_buf_append(b, name, strlen(name));
    if (label_pairs && label_pairs[0]) {
        status_buf_append(b, "{", 1);
        for (size_t i = 0; label_pairs[i] && label_pairs[i + 1]; i += 2) {
            if (i)
                status_buf_append(b, ",", 1);
            status_buf_printf(b, "%s=\"", label_pairs[i]);
            for (const char *p = label_pairs[i + 1]; *p; p++) {
                if (*p == '\\' || *p == '"')
                    status_buf_printf(b, "\\%c", *p);
                else if (*p == '\n')
                    status_buf_append(b, "\\n", 2);
                else
                    status_buf_append(b, p, 1);
            }
            status_buf_append(b, "\"", 1);
        }
        status_buf_append(b, "}", 1);
    }
    if (value != value)
        status_buf_append(b, " NaN\n", 5);
    else if (value > 1.7e308 || value < -1.7e308)
        status_buf_printf(b, " %cInf\n", value > 0 ? '+' : '-');
    else if (value < 9e15 && value > -9e15 && value == (double)(long long)value)
        status_buf_printf(b, " %lld\n", (long long)value);
    else
        status_buf_printf(b, " %.17g\n", value);
}

/* Abortive close (RST) for a connection we give up on: the kernel drops what
 * it still holds for it instead of keeping it through FIN_WAIT. */
static void conn_close(struct status_conn *c, int abort)
{
    struct status_server *s = c->srv;
    ev_io_stop(s->loop, &c->io);
    ev_timer_stop(s->loop, &c->timer);
    if (abort) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(c->fd);
    KP_DQUEUE_UNLINK(s->oldest, s->newest, c);
    s->stats.open--;
    free(c->head);
    free(c->out);
    free(c);
}

static void shed_oldest(struct status_server *s)
{
    s->stats.shed++;
    conn_close(s->oldest, 1);
}

static const char *reason_of(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct status_conn *c = w->data;
    (void)loop;
    (void)revents;
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            conn_close(c, 1);
            return;
        }
        c->out_off += (size_t)n;
    }
    conn_close(c, 0);
}

static void conn_respond(struct status_conn *c, int code, const char *ctype, const char *body,
                         size_t body_len)
{
    struct status_server *s = c->srv;
    char hdr[256];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     code, reason_of(code), ctype, body_len);
    free(c->head); /* the request is done with */
    c->head = NULL;
    c->head_len = c->head_cap = 0;
    c->out = malloc((size_t)n + body_len);
    if (!c->out) {
        conn_close(c, 1);
        return;
    }
    memcpy(c->out, hdr, (size_t)n);
    if (body_len)
        memcpy(c->out + n, body, body_len);
    c->out_len = (size_t)n + body_len;
    ev_io_stop(s->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_set_cb(&c->io, on_write);
    ev_io_start(s->loop, &c->io);
    /* A fresh deadline for the answer: a client that never reads is cut off. */
    ev_timer_stop(s->loop, &c->timer);
    ev_timer_set(&c->timer, s->limits.write_timeout_s, 0);
    ev_timer_start(s->loop, &c->timer);
    on_write(s->loop, &c->io, EV_WRITE); /* most answers fit the socket buffer at once */
}

static void conn_dispatch(struct status_conn *c)
{
    struct status_response resp = {.code = 404, .content_type = "text/plain; charset=utf-8"};
    char method[8], path[1024];

    if (sscanf(c->head, "%7s %1023s HTTP/1.", method, path) != 2 || path[0] != '/') {
        static const char msg[] = "bad request\n";
        conn_respond(c, 400, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char msg[] = "only GET is served here\n";
        conn_respond(c, 405, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
        return;
    }
    char *q = strchr(path, '?');
    if (q) {
        *q++ = '\0';
        q[strcspn(q, "#")] = '\0';
        resp.query = q;
    }
    path[strcspn(path, "#")] = '\0';
    c->srv->handler(path, &resp, c->srv->ud);
    c->srv->stats.requests++;
    if (resp.body.failed) {
        static const char msg[] = "out of memory\n";
        conn_respond(c, 500, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
    } else if (strcmp(method, "HEAD") == 0) {
        conn_respond(c, resp.code, resp.content_type, NULL, 0);
    } else {
        conn_respond(c, resp.code, resp.content_type, resp.body.data ? resp.body.data : "",
                     resp.body.len);
    }
    free(resp.body.data);
}

/* Room for at least one more byte of head (and its NUL), within the bound. */
static int head_grow(struct status_conn *c)
{
    size_t max = c->srv->limits.head_max;
    if (c->head_len + 1 < c->head_cap)
        return 0;
    if (c->head_cap >= max)
        return -1;
    size_t cap = c->head_cap + STATUS_HEAD_CHUNK;
    if (cap > max)
        cap = max;
    char *p = realloc(c->head, cap);
    if (!p)
        return -1;
    c->head = p;
    c->head_cap = cap;
    return 0;
}

static int head_complete(const struct status_conn *c, size_t from)
{
    /* Only the new bytes (and the 3 before them) can complete the blank line. */
    from = from > 3 ? from - 3 : 0;
    return strstr(c->head + from, "\r\n\r\n") || strstr(c->head + from, "\n\n");
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct status_conn *c = w->data;
    (void)loop;
    (void)revents;
    if (head_grow(c) < 0) {
        static const char msg[] = "request head too large\n";
        c->srv->stats.too_large++;
        conn_respond(c, 431, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
        return;
    }
    ssize_t n = recv(c->fd, c->head + c->head_len, c->head_cap - 1 - c->head_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c, 0);
        return;
    }
    size_t from = c->head_len;
    c->head_len += (size_t)n;
    c->head[c->head_len] = '\0';
    if (memchr(c->head + from, '\0', (size_t)n)) {
        static const char msg[] = "bad request\n";
        conn_respond(c, 400, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
    } else if (head_complete(c, from)) {
        conn_dispatch(c);
    }
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct status_conn *c = w->data;
    (void)loop;
    (void)revents;
    c->srv->stats.timed_out++;
    conn_close(c, 1);
}

static void on_pause_end(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct status_server *s = w->data;
    (void)revents;
    ev_io_start(loop, &s->accept_io);
}

/* accept4, shedding the oldest connection when the process is out of fds. */
static int accept_one(struct status_server *s)
{
    for (;;) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0 || errno == EINTR || errno == ECONNABORTED)
            return fd >= 0 ? fd : -2; /* -2: try the next one */
        if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) &&
            s->oldest) {
            shed_oldest(s);
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            /* Out of fds with nothing of ours to shed: the listen socket stays
             * readable, so stop watching it for a moment instead of spinning. */
            ev_io_stop(s->loop, &s->accept_io);
            ev_timer_set(&s->pause_timer, STATUS_PAUSE_S, 0);
            ev_timer_start(s->loop, &s->pause_timer);
        }
        return -1;
    }
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct status_server *s = w->data;
    (void)revents;
    for (int i = 0; i < STATUS_ACCEPT_BATCH; i++) {
        int fd = accept_one(s);
        if (fd == -2)
            continue;
        if (fd < 0)
            return;
        if (s->stats.open >= (uint64_t)s->limits.max_conns)
            shed_oldest(s);
        struct status_conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->srv = s;
        c->fd = fd;
        ev_io_init(&c->io, on_read, fd, EV_READ);
        c->io.data = c;
        ev_timer_init(&c->timer, on_timeout, s->limits.head_timeout_s, 0);
        c->timer.data = c;
        ev_io_start(loop, &c->io);
        ev_timer_start(loop, &c->timer);
        KP_DQUEUE_APPEND(s->oldest, s->newest, c);
        s->stats.open++;
        s->stats.accepted++;
    }
}

/* A share of the fd limit, so that a flood of connections can never take the
 * fds the Lease renewals and the kubelet scrapes need. */
static int default_max_conns(void)
{
    struct rlimit rl;
    long n = STATUS_MAX_CONNS;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (long)(rl.rlim_cur / 4) < n)
        n = (long)(rl.rlim_cur / 4);
    return n < STATUS_MIN_CONNS ? STATUS_MIN_CONNS : (int)n;
}

struct status_server *status_server_new(struct ev_loop *loop, const char *addr,
                                        status_handler_fn handler, void *ud, char *err,
                                        size_t errlen)
{
    char lerr[512];
    int port = 0, fd = kp_listen_tcp(addr, &port, lerr, sizeof(lerr)); /* net_listen.c */
    struct status_server *s = fd < 0 ? NULL : calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "--listen: %s", fd < 0 ? lerr : "out of memory");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    s->loop = loop;
    s->fd = fd;
    s->port = port;
    s->handler = handler;
    s->ud = ud;
    s->limits = (struct status_limits){.max_conns = default_max_conns(),
                                       .head_timeout_s = STATUS_HEAD_TIMEOUT_S,
                                       .write_timeout_s = STATUS_WRITE_TIMEOUT_S,
                                       .head_max = STATUS_HEAD_MAX};
    s->stats.max_conns = (uint64_t)s->limits.max_conns;
    ev_timer_init(&s->pause_timer, on_pause_end, STATUS_PAUSE_S, 0);
    s->pause_timer.data = s;
    ev_io_init(&s->accept_io, on_accept, fd, EV_READ);
    s->accept_io.data = s;
    ev_io_start(loop, &s->accept_io);
    return s;
}

int status_server_port(const struct status_server *s)
{
    return s->port;
}

void status_server_set_limits(struct status_server *s, const struct status_limits *l)
{
    s->limits = *l;
    if (s->limits.head_max < 64)
        s->limits.head_max = 64;
    if (s->limits.max_conns < 1)
        s->limits.max_conns = 1;
    s->stats.max_conns = (uint64_t)s->limits.max_conns;
}

void status_server_get_limits(const struct status_server *s, struct status_limits *l)
{
    *l = s->limits;
}

void status_server_get_stats(const struct status_server *s, struct status_server_stats *st)
{
    *st = s->stats;
}

void status_server_free(struct status_server *s)
{
    if (!s)
        return;
    while (s->oldest)
        conn_close(s->oldest, 0);
    ev_io_stop(s->loop, &s->accept_io);
    ev_timer_stop(s->loop, &s->pause_timer);
    close(s->fd);
    free(s);
}
