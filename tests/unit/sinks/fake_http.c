/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_http.c - a scripted stand-in for src/http.c in the sinks' unit tests: requests are
 * recorded, never sent; the test completes them with fake_http_complete(). Defines every
 * function of http.h so the real one is never linked in.
 */
#include "fake_http.h"

#include <stdlib.h>
#include <string.h>

struct http_client {
    int dummy;
};
struct http_request {
    int id;
};

struct fake_req fake_reqs[FAKE_MAX_REQS];
int fake_nreqs;
static struct http_client the_client;
static struct http_request handles[FAKE_MAX_REQS];

const char *http_error_name(int error)
{
    static const char *const n[] = {"ok",        "connect", "timeout", "tls",
                                    "too_large", "aborted", "io"};
    return error >= 0 && error <= 6 ? n[error] : "unknown";
}

struct http_client *http_client_new(struct ev_loop *loop, const struct http_client_opts *opts,
                                    char *err, size_t errlen)
{
    (void)loop, (void)opts, (void)err, (void)errlen;
    return &the_client;
}

void http_client_free(struct http_client *c)
{
    (void)c;
}

struct http_request *http_request_start(struct http_client *c, const struct http_request_opts *o,
                                        char *err, size_t errlen)
{
    (void)c, (void)err, (void)errlen;
    if (fake_nreqs >= FAKE_MAX_REQS)
        return NULL;
    struct fake_req *r = &fake_reqs[fake_nreqs];
    memset(r, 0, sizeof *r);
    snprintf(r->url, sizeof r->url, "%s", o->url);
    for (int i = 0; o->headers && o->headers[i] && i < 8; i++)
        snprintf(r->headers[i], sizeof r->headers[i], "%s", o->headers[i]);
    r->body = malloc(o->body_len + 1);
    memcpy(r->body, o->body, o->body_len);
    r->body[o->body_len] = '\0';
    r->body_len = o->body_len;
    r->on_done = o->on_done;
    r->ud = o->ud;
    r->active = 1;
    handles[fake_nreqs].id = fake_nreqs;
    return &handles[fake_nreqs++];
}

void http_request_cancel(struct http_request *r)
{
    if (r)
        fake_reqs[r->id].active = 0;
}

size_t http_client_in_flight(const struct http_client *c)
{
    (void)c;
    size_t n = 0;
    for (int i = 0; i < fake_nreqs; i++)
        n += fake_reqs[i].active;
    return n;
}

long http_request_status(const struct http_request *r)
{
    (void)r;
    return 0;
}

double http_parse_retry_after(const char *value, long now)
{
    (void)now;
    return value ? atof(value) : -1;
}

void fake_http_complete(int i, int error, long status, const char *body, double retry_after)
{
    struct fake_req *r = &fake_reqs[i];
    struct http_result res = {.error = error,
                              .status = status,
                              .body = body,
                              .body_len = body ? strlen(body) : 0,
                              .retry_after_s = retry_after,
                              .total_time_s = 0.001};
    r->active = 0;
    r->on_done(&res, r->ud);
}

void fake_http_reset(void)
{
    for (int i = 0; i < fake_nreqs; i++)
        free(fake_reqs[i].body);
    fake_nreqs = 0;
}
