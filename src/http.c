/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.c - the asynchronous HTTP client: curl's multi-socket API driven by one
 * libev loop, as in curl's evhiperfifo example. Owns the CURLM handles, one
 * ev_io per socket curl asks us to watch, one ev_timer per handle for curl's
 * timeouts, and every struct http_request in flight.
 *
 * Hosts are spread over several CURLM handles ("shards", by a hash of the URL's
 * authority, so a host always meets its own kept connection). curl 7.88 walks its
 * whole connection cache in every curl_multi_remove_handle once a connection was
 * kept: one cache for 5,000 kubelets made each request O(nodes), about a quarter
 * of the CPU of a cycle. Each shard's cache holds only its own hosts. A shard's
 * handle is made when its first request comes (curl gives every multi handle a
 * socket pair): a follower, talking to the API server only, holds one.
 *
 * One loop iteration can find hundreds of sockets ready, and a completed Summary
 * costs about a millisecond to parse, aggregate and hand on: processed in one go
 * they kept timers (the SIGTERM drain deadline, a Lease renewal) waiting for
 * 0.3 s and more. So socket events are handled for at most ITER_BUDGET_S per
 * iteration; the rest stay ready (libev polls level-triggered) and come back in
 * the next iteration, after its timers.
 *
 * curl forbids calling curl_multi_remove_handle from inside its callbacks, so
 * a request cancelled while curl is on the stack (from on_data) is only
 * marked; the write callback then fails the transfer and the request is reaped
 * without on_done once curl has returned.
 *
 * TLS material (CA, client certificate and key) is prepared once per distinct
 * configuration and shared by every connection: http_tls.c owns that, and the
 * TLS options of each easy handle (http_tls_apply). This file only holds the
 * client's cache and each request's reference.
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <ev.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_tls.h"
#include "log.h"
#include "util.h"

#define ITER_BUDGET_S 0.02

enum req_state { REQ_RUNNING, REQ_CANCELLED, REQ_DONE };

struct http_shard;

struct http_request {
    struct http_client *c;         /* borrowed */
    struct http_shard *shard;      /* borrowed: the handle the request is (to be) added to */
    CURL *easy;                    /* owned */
    struct curl_slist *headers;    /* owned */
    struct curl_slist *connect_to; /* owned: CURLOPT_CONNECT_TO for server_name */
    char *url;                     /* owned: the effective URL (after a server_name rewrite) */
    enum req_state state;
    http_data_fn on_data;
    http_done_fn on_done;
    void *ud;
    char *body; /* owned: the collected body when on_data is NULL */
    size_t body_len, body_cap;
    size_t max_body;
    size_t received;
    bool too_large, aborted;
    bool pending_add; /* started from inside a curl callback: added once curl returns */
    double retry_after_s;
    struct http_tls_use tls; /* the prepared TLS material it holds */
    char errbuf[CURL_ERROR_SIZE];
    struct http_request *prev, *next;
};

struct http_sock {
    struct http_shard *shard; /* borrowed */
    curl_socket_t fd;
    ev_io io;
};

struct http_shard {
    struct http_client *c; /* borrowed */
    CURLM *multi;          /* owned; NULL until the shard's first request */
    ev_timer timer;
};

struct http_client {
    struct ev_loop *loop;      /* borrowed */
    struct http_shard *shards; /* owned, nshards */
    size_t nshards;
    long max_total, max_host, max_cached; /* applied to each shard's handle */
    ev_check iter;                        /* marks the end of each iteration's poll */
    double iter_start;                    /* ev_time() then */
    char *user_agent;                     /* owned or NULL */
    struct http_tls_cache *tls;           /* owned */
    struct http_request *reqs;
    size_t n_reqs;
    int curl_depth;  /* > 0 while curl_multi_socket_action is on the stack */
    bool need_flush; /* a request was cancelled or started while curl was on the stack */
};

static bool curl_inited;

const char *http_error_name(int error)
{
    switch (error) {
    case HTTP_OK: return "ok";
    case HTTP_ERR_CONNECT: return "connect";
    case HTTP_ERR_TIMEOUT: return "timeout";
    case HTTP_ERR_TLS: return "tls";
    case HTTP_ERR_TOO_LARGE: return "too_large";
    case HTTP_ERR_ABORTED: return "aborted";
    case HTTP_ERR_IO: return "io";
    default: return "unknown";
    }
}

double http_parse_retry_after(const char *value, long now)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value)) {
        char *end;
        double v = strtod(value, &end);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end != '\0' || v < 0 || v > 1e9)
            return -1;
        for (const char *p = value; p < end; p++) /* no "1e3", "0x10", "1.5" */
            if (!isdigit((unsigned char)*p) && !isspace((unsigned char)*p))
                return -1;
        return v;
    }
    if (*value == '\0')
        return -1;
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1)
        return -1;
    return t > now ? (double)(t - now) : 0.0;
}

/* ---- request bookkeeping -------------------------------------------------- */

static void req_unlink(struct http_request *r)
{
    struct http_client *c = r->c;
    KP_DLIST_UNLINK(c->reqs, r);
    r->prev = r->next = NULL;
    c->n_reqs--;
}

/* Remove from curl and free. Only outside curl's callbacks. */
static void req_destroy(struct http_request *r)
{
    if (r->easy) {
        if (r->shard) /* NULL when setup failed before a shard was chosen */
            curl_multi_remove_handle(r->shard->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    req_unlink(r);
    curl_slist_free_all(r->headers);
    curl_slist_free_all(r->connect_to);
    http_tls_use_fini(&r->tls);
    free(r->url);
    free(r->body);
    free(r);
}

static void finish(struct http_request *r, CURLcode rc);

/* Work curl does not allow from inside its callbacks: removing cancelled
 * requests and adding requests started from on_data. */
static void flush_deferred(struct http_client *c)
{
    if (!c->need_flush || c->curl_depth > 0)
        return;
    c->need_flush = false;
restart:
    for (struct http_request *r = c->reqs, *next; r; r = next) {
        next = r->next;
        if (r->state == REQ_CANCELLED) {
            req_destroy(r);
        } else if (r->pending_add) {
            r->pending_add = false;
            CURLMcode mc = curl_multi_add_handle(r->shard->multi, r->easy);
            if (mc != CURLM_OK) {
                snprintf(r->errbuf, sizeof(r->errbuf), "curl_multi_add_handle: %s",
                         curl_multi_strerror(mc));
                finish(r, CURLE_FAILED_INIT); /* on_done may change the list */
                goto restart;
            }
        }
    }
}

static int classify(const struct http_request *r, CURLcode rc)
{
    switch (rc) {
    case CURLE_OK: return HTTP_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT: return HTTP_ERR_CONNECT;
    case CURLE_OPERATION_TIMEDOUT: return HTTP_ERR_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED: return HTTP_ERR_TLS;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        if (r->too_large || rc == CURLE_FILESIZE_EXCEEDED)
            return HTTP_ERR_TOO_LARGE;
        return r->aborted ? HTTP_ERR_ABORTED : HTTP_ERR_IO;
    default: return HTTP_ERR_IO;
    }
}

static void finish(struct http_request *r, CURLcode rc)
{
    struct http_result res = {0};
    long status = 0;
    double total = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &total);
    res.error = classify(r, rc);
    if (res.error == HTTP_ERR_TOO_LARGE)
        res.error_msg = "response body exceeds the size limit";
    else if (res.error == HTTP_ERR_ABORTED)
        res.error_msg = "aborted by the receiver";
    else if (res.error == HTTP_ERR_TLS && r->tls.err[0])
        res.error_msg = r->tls.err;
    else if (res.error)
        res.error_msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
    res.status = status;
    res.body = r->body ? r->body : "";
    res.body_len = r->body_len;
    res.bytes_received = r->received;
    res.retry_after_s = r->retry_after_s;
    res.total_time_s = total;
    r->state = REQ_DONE;
    if (r->on_done)
        r->on_done(&res, r->ud);
    req_destroy(r);
}

static void check_multi_info(struct http_shard *sh)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(sh->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct http_request *r = NULL;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (!r)
            continue;
        if (r->state == REQ_CANCELLED)
            req_destroy(r);
        else
            finish(r, rc);
    }
    flush_deferred(sh->c);
}

static void socket_action(struct http_shard *sh, curl_socket_t fd, int mask)
{
    int running;
    sh->c->curl_depth++;
    curl_multi_socket_action(sh->multi, fd, mask, &running);
    sh->c->curl_depth--;
    check_multi_info(sh);
}

/* ---- libev glue ------------------------------------------------------------- */

static void on_iter(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)loop;
    (void)revents;
    ((struct http_client *)w->data)->iter_start = ev_time();
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct http_sock *s = w->data;
    if (ev_time() - s->shard->c->iter_start > ITER_BUDGET_S)
        return; /* still ready in the next iteration */
    int mask =
        (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    socket_action(s->shard, s->fd, mask);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    socket_action(w->data, CURL_SOCKET_TIMEOUT, 0);
}

static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
    (void)easy;
    struct http_shard *sh = userp;
    struct http_client *c = sh->c;
    struct http_sock *s = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            ev_io_stop(c->loop, &s->io);
            curl_multi_assign(sh->multi, fd, NULL);
            free(s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->shard = sh;
        s->fd = fd;
        s->io.data = s;
        curl_multi_assign(sh->multi, fd, s);
    } else {
        ev_io_stop(c->loop, &s->io);
    }
    int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    ev_io_init(&s->io, on_io, fd, events);
    s->io.data = s;
    ev_io_start(c->loop, &s->io);
    return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct http_shard *sh = userp;
    struct ev_loop *loop = sh->c->loop;
    ev_timer_stop(loop, &sh->timer);
    if (timeout_ms >= 0) {
        /* 0 means "now": a zero timer runs on the next loop iteration, never re-entering curl. */
        ev_timer_set(&sh->timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(loop, &sh->timer);
    }
    return 0;
}

/* ---- easy-handle callbacks -------------------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct http_request *r = ud;
    size_t n = size * nmemb;
    if (r->state != REQ_RUNNING)
        return 0;
    if (r->max_body && (r->received + n > r->max_body || r->received + n < r->received)) {
        r->too_large = true;
        return 0;
    }
    r->received += n;
    if (r->on_data) {
        if (r->on_data(ptr, n, r->ud) < 0) {
            r->aborted = true;
            return 0;
        }
        return r->state == REQ_RUNNING ? n : 0; /* cancelled from inside on_data */
    }
    if (kp_grow((void **)&r->body, &r->body_cap, r->body_len + n + 1, 1, 4096) < 0)
        return 0;
    memcpy(r->body + r->body_len, ptr, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct http_request *r = ud;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    http_tls_use_track(r->c->tls, r->easy, &r->tls); /* once: see http_tls_use_fini */
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        r->retry_after_s = -1; /* a new response (after 100-continue or a redirect) */
    } else if (n > sizeof(name) - 1 && n < 256 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
        char v[256];
        memcpy(v, buf + sizeof(name) - 1, n - (sizeof(name) - 1));
        v[n - (sizeof(name) - 1)] = '\0';
        r->retry_after_s = http_parse_retry_after(v, (long)time(NULL));
    }
    return n;
}

/* ---- client ---------------------------------------------------------------- */

static int shard_init(struct http_shard *sh)
{
    struct http_client *c = sh->c;
    if (sh->multi)
        return 0;
    if (!(sh->multi = curl_multi_init()))
        return -1;
    ev_init(&sh->timer, on_timer);
    sh->timer.data = sh;
    curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
    curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
    if (c->max_total > 0)
        curl_multi_setopt(sh->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, c->max_total);
    if (c->max_host > 0)
        curl_multi_setopt(sh->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->max_host);
    if (c->max_cached > 0)
        curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, c->max_cached);
    return 0;
}

struct http_client *http_client_new(struct ev_loop *loop, const struct http_client_opts *opts,
                                    char *err, size_t errlen)
{
    struct http_client *c = NULL;
    long nshards = opts && opts->shards > 0 ? opts->shards : 1;
    if (nshards > HTTP_MAX_SHARDS) {
        snprintf(err, errlen, "at most %d HTTP client shards, not %ld", HTTP_MAX_SHARDS, nshards);
        return NULL;
    }
    if (nshards > 1 && opts->max_total_connections > 0) {
        /* curl would apply the limit to each handle, not to the client */
        snprintf(err, errlen, "a total connection limit needs a client of one shard");
        return NULL;
    }
    if (!curl_inited) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "curl_global_init failed");
            return NULL;
        }
        curl_inited = true;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        goto oom;
    c->loop = loop;
    if (!(c->shards = calloc((size_t)nshards, sizeof(*c->shards))))
        goto oom;
    c->nshards = (size_t)nshards;
    for (size_t i = 0; i < c->nshards; i++)
        c->shards[i].c = c;
    /* A check watcher runs after the poll, before the iteration's callbacks (at the top
     * priority): the budget counts their time, not the wait before them. */
    ev_check_init(&c->iter, on_iter);
    ev_set_priority(&c->iter, EV_MAXPRI);
    c->iter.data = c;
    ev_check_start(loop, &c->iter);
    ev_unref(loop); /* the marker alone does not keep the loop running */
    c->iter_start = ev_time();
    if (opts) {
        c->max_total = opts->max_total_connections;
        c->max_host = opts->max_host_connections;
        c->max_cached = opts->max_cached_connections;
    }
    if (opts && opts->user_agent && !(c->user_agent = strdup(opts->user_agent)))
        goto oom;
    if (!(c->tls = http_tls_cache_new()))
        goto oom;
    return c;
oom:
    snprintf(err, errlen, "out of memory creating the HTTP client");
    http_client_free(c);
    return NULL;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    while (c->reqs)
        req_destroy(c->reqs);
    for (size_t i = 0; i < c->nshards; i++) {
        struct http_shard *sh = &c->shards[i];
        if (!sh->multi)
            continue;
        curl_multi_cleanup(sh->multi); /* REMOVE callbacks free the http_socks */
        ev_timer_stop(c->loop, &sh->timer);
    }
    free(c->shards);
    if (ev_is_active(&c->iter)) {
        ev_ref(c->loop);
        ev_check_stop(c->loop, &c->iter);
    }
    http_tls_cache_free(c->tls); /* kept connections hold their own OpenSSL references */
    free(c->user_agent);
    free(c);
}

void http_client_set_max_cached(struct http_client *c, long n)
{
    /* Each shard keeps connections to its own hosts only, so giving each the whole
     * figure keeps at most n in all. */
    if (n <= 0)
        return;
    c->max_cached = n;
    for (size_t i = 0; i < c->nshards; i++)
        if (c->shards[i].multi)
            curl_multi_setopt(c->shards[i].multi, CURLMOPT_MAXCONNECTS, n);
}

size_t http_client_in_flight(const struct http_client *c)
{
    size_t n = 0;
    for (const struct http_request *r = c ? c->reqs : NULL; r; r = r->next)
        n += r->state == REQ_RUNNING;
    return n;
}

long http_request_status(const struct http_request *r)
{
    long status = 0;
    if (r && r->easy)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* tls-server-name: connect to the URL's host but verify (and send SNI for)
 * server_name, by rewriting the URL host and pinning the address. */
static int apply_server_name(struct http_request *r, const char *url, const char *server_name,
                             struct curl_slist **connect_to, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *out = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(err, errlen, "invalid URL '%s'", url);
        goto out;
    }
    char entry[600], hosthdr[600];
    snprintf(entry, sizeof(entry), "%s:%s:%s:%s", server_name, port, host, port);
    snprintf(hosthdr, sizeof(hosthdr), "Host: %s:%s", host, port);
    if (curl_url_set(u, CURLUPART_HOST, server_name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK) {
        snprintf(err, errlen, "invalid tls server name '%s'", server_name);
        goto out;
    }
    struct curl_slist *h = curl_slist_append(r->headers, hosthdr);
    struct curl_slist *ct = curl_slist_append(NULL, entry);
    free(r->url);
    r->url = strdup(out);
    if (!h || !ct || !r->url) {
        curl_slist_free_all(ct);
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    r->headers = h;
    *connect_to = ct;
    rc = 0;
out:
    curl_free(host);
    curl_free(port);
    curl_free(out);
    curl_url_cleanup(u);
    return rc;
}

/* The URL's host is an IPv4 or a bracketed IPv6 literal (kubelets are reached by
 * their InternalIP). Userinfo is not expected in the URLs this client is given. */
static bool url_host_is_ip(const char *url)
{
    const char *h = strstr(url, "://");
    char buf[INET6_ADDRSTRLEN + 1];
    unsigned char addr[sizeof(struct in6_addr)];
    if (!h)
        return false;
    h += 3;
    int v6 = *h == '[';
    size_t n = v6 ? strcspn(++h, "]") : strcspn(h, ":/?#");
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, h, n);
    buf[n] = '\0';
    return inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) == 1;
}

/* The shard of a URL: the hash of its scheme and authority ("https://10.0.0.7:10250"),
 * so every request to one server meets the same connection cache. */
static struct http_shard *shard_of(struct http_client *c, const char *url)
{
    const char *h = strstr(url, "://");
    size_t n = h ? (size_t)(h + 3 - url) + strcspn(h + 3, "/?#") : strlen(url);
    return &c->shards[kp_hash(url, n) % c->nshards];
}

static int setup_easy(struct http_request *r, const struct http_request_opts *o,
                      struct curl_slist **connect_to, char *err, size_t errlen)
{
    CURL *e = r->easy;
    for (const char *const *h = o->headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(r->headers, *h);
        if (!n) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        r->headers = n;
    }
    if (o->tls && o->tls->server_name && o->tls->server_name[0] &&
        apply_server_name(r, o->url, o->tls->server_name, connect_to, err, errlen) < 0)
        return -1;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* An address literal needs no DNS, and its cache entry can never go stale. Left at
     * curl's 60 s, every lookup prunes the whole DNS cache, which holds one entry per
     * kubelet: O(nodes) per request, a third of the CPU at 5,000 nodes (curl 7.88). */
    if (url_host_is_ip(r->url))
        curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, -1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    if (r->headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    if (*connect_to)
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, *connect_to);
    if (r->c->user_agent)
        curl_easy_setopt(e, CURLOPT_USERAGENT, r->c->user_agent);
    if (o->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    if (o->connect_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    if (o->low_speed_time_s > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT,
                         o->low_speed_limit > 0 ? o->low_speed_limit : 1L);
    }
    const char *m = o->method ? o->method : "GET";
    if (o->body || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body ? o->body : "");
    }
    if (strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
#if LIBCURL_VERSION_NUM >= 0x073e00
    /* Over TLS curl copies the request head into an upload buffer, 64 KiB by default and
     * one per transfer in flight (a Summary scrape of every node at once): a GET needs
     * only curl's smallest. */
    if (!o->body && strcmp(m, "GET") == 0)
        curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
#endif
    http_tls_apply(r->c->tls, e, o->tls, &r->tls);
    return 0;
}

struct http_request *http_request_start(struct http_client *c, const struct http_request_opts *o,
                                        char *err, size_t errlen)
{
    if (!c || !o || !o->url || !o->on_done) {
        snprintf(err, errlen, "http request needs a client, a url and on_done");
        return NULL;
    }
    if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) {
        snprintf(err, errlen, "URL must start with http:// or https://");
        return NULL;
    }
    struct http_request *r = calloc(1, sizeof(*r));
    if (!r || !(r->url = strdup(o->url)) || !(r->easy = curl_easy_init())) {
        snprintf(err, errlen, "out of memory");
        if (r)
            free(r->url);
        free(r);
        return NULL;
    }
    r->c = c;
    r->on_data = o->on_data;
    r->on_done = o->on_done;
    r->ud = o->ud;
    r->max_body = o->max_body;
    r->retry_after_s = -1;
    KP_DLIST_PUSH(c->reqs, r);
    c->n_reqs++;
    if (setup_easy(r, o, &r->connect_to, err, errlen) < 0)
        goto fail;
    struct http_shard *sh = shard_of(c, r->url);
    if (shard_init(sh) < 0) {
        snprintf(err, errlen, "out of memory creating a curl multi handle");
        goto fail;
    }
    r->shard = sh;
    if (c->curl_depth > 0) {
        r->pending_add = true;
        c->need_flush = true;
        return r;
    }
    CURLMcode mc = curl_multi_add_handle(r->shard->multi, r->easy);
    if (mc != CURLM_OK) {
        snprintf(err, errlen, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        goto fail;
    }
    return r;
fail:
    req_destroy(r);
    return NULL;
}

void http_request_cancel(struct http_request *r)
{
    if (!r || r->state != REQ_RUNNING)
        return;
    r->state = REQ_CANCELLED;
    if (r->c->curl_depth > 0)
        r->c->need_flush = true;
    else
        req_destroy(r);
}
