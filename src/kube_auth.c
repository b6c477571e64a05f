/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_auth.c - delegated authentication and authorization (kube_auth.h):
 * the ConfigMap's request-header settings, front-proxy and client
 * certificates, TokenReview and SubjectAccessReview with their caches.
 */
#include "kube_auth.h"

#include <ctype.h>
#include <ev.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_tls_load.h"
#include "kube.h"
#include "log.h"
#include "util.h"

#define CM_PATH    "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
#define TIMEOUT_MS 10000
#define TOKEN_MAX  16384

/* ---- the ConfigMap ---------------------------------------------------------------- */

struct strv {
    char **v;
    size_t n;
};

struct kube_auth_config {
    X509_STORE *rh_ca;     /* owned or NULL: no front proxy configured */
    X509_STORE *client_ca; /* owned or NULL */
    struct strv allowed, user_h, group_h, extra_p;
};

static void strv_fini(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

void kube_auth_config_free(struct kube_auth_config *c)
{
    if (!c)
        return;
    X509_STORE_free(c->rh_ca);
    X509_STORE_free(c->client_ca);
    strv_fini(&c->allowed);
    strv_fini(&c->user_h);
    strv_fini(&c->group_h);
    strv_fini(&c->extra_p);
    free(c);
}

static const char *data_str(json_object *data, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(data, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* A ConfigMap value holding a JSON array of strings ("[\"X-Remote-User\"]"). */
static int parse_list(json_object *data, const char *key, struct strv *out, char *err,
                      size_t errlen)
{
    const char *s = data_str(data, key);
    if (!s || !*s)
        return 0;
    json_object *arr = json_tokener_parse(s);
    if (!arr || !json_object_is_type(arr, json_type_array) || json_object_array_length(arr) > 64) {
        json_object_put(arr);
        snprintf(err, errlen, "extension-apiserver-authentication: %s is not a JSON list", key);
        return -1;
    }
    size_t n = json_object_array_length(arr);
    bool oom = !(out->v = calloc(n ? n : 1, sizeof(char *)));
    for (size_t i = 0; !oom && i < n; i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        const char *v = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
        /* an entry left out could empty the allowed names, which then allow any name */
        if (!v || strlen(v) >= 256) {
            json_object_put(arr);
            snprintf(err, errlen,
                     "extension-apiserver-authentication: %s holds an entry that "
                     "is not a string of at most 255 bytes",
                     key);
            return -1;
        }
        if (!*v && strcmp(key, "requestheader-allowed-names") != 0)
            continue; /* an empty header name or prefix: none */
        if ((out->v[out->n] = strdup(v)))
            out->n++;
        else
            oom = true;
    }
    json_object_put(arr);
    return oom ? -1 : 0;
}

static X509_STORE *parse_ca(json_object *data, const char *key, char *err, size_t errlen)
{
    const char *pem = data_str(data, key);
    if (!pem || !*pem)
        return NULL;
    X509_STORE *st = X509_STORE_new();
    struct http_tls_source src = {.pem = pem, .len = strlen(pem)};
    if (!st || http_tls_load_ca(st, &src, NULL, err, errlen) < 0) {
        X509_STORE_free(st);
        return NULL;
    }
    return st;
}

struct kube_auth_config *kube_auth_config_parse(json_object *data, char *err, size_t errlen)
{
    struct kube_auth_config *c = calloc(1, sizeof(*c));
    if (!c || !data || !json_object_is_type(data, json_type_object)) {
        snprintf(err, errlen, "extension-apiserver-authentication: no data");
        free(c);
        return NULL;
    }
    err[0] = '\0';
    c->client_ca = parse_ca(data, "client-ca-file", err, errlen);
    if (!c->client_ca && err[0])
        goto fail;
    c->rh_ca = parse_ca(data, "requestheader-client-ca-file", err, errlen);
    if (!c->rh_ca && err[0])
        goto fail;
    if (parse_list(data, "requestheader-allowed-names", &c->allowed, err, errlen) < 0 ||
        parse_list(data, "requestheader-username-headers", &c->user_h, err, errlen) < 0 ||
        parse_list(data, "requestheader-group-headers", &c->group_h, err, errlen) < 0 ||
        parse_list(data, "requestheader-extra-headers-prefix", &c->extra_p, err, errlen) < 0)
        goto fail;
    return c;
fail:
    kube_auth_config_free(c);
    return NULL;
}

/* ---- certificates ----------------------------------------------------------------- */

static int verify_client(X509_STORE *store, X509 *peer, STACK_OF(X509) * chain)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = 0;
    if (ctx && X509_STORE_CTX_init(ctx, store, peer, chain) == 1) {
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
        ok = X509_verify_cert(ctx) == 1;
    }
    X509_STORE_CTX_free(ctx);
    return ok;
}

static void cert_cn(X509 *x, char *out, size_t outlen)
{
    out[0] = '\0';
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)outlen) < 0)
        out[0] = '\0';
}

int kube_auth_front_proxy_ok(const struct kube_auth_config *c, X509 *peer, STACK_OF(X509) * chain)
{
    char cn[256];
    if (!c->rh_ca || !peer || !verify_client(c->rh_ca, peer, chain))
        return 0;
    if (c->allowed.n == 0)
        return 1;
    cert_cn(peer, cn, sizeof(cn));
    for (size_t i = 0; i < c->allowed.n; i++)
        if (!strcmp(cn, c->allowed.v[i]))
            return 1;
    return 0;
}

/* x509 authentication: CN is the user, each O a group. */
static json_object *user_from_cert(X509 *peer)
{
    char cn[256];
    cert_cn(peer, cn, sizeof(cn));
    if (!cn[0])
        return NULL;
    json_object *u = json_object_new_object(), *groups = json_object_new_array();
    json_object_object_add(u, "username", json_object_new_string(cn));
    X509_NAME *n = X509_get_subject_name(peer);
    for (int i = -1; (i = X509_NAME_get_index_by_NID(n, NID_organizationName, i)) >= 0;) {
        unsigned char *s = NULL;
        if (ASN1_STRING_to_UTF8(&s, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i))) >= 0) {
            json_object_array_add(groups, json_object_new_string((char *)s));
            OPENSSL_free(s);
        }
    }
    json_object_object_add(u, "groups", groups);
    return u;
}

/* ---- the request headers ------------------------------------------------------------ */

static int hexv(char c)
{
    return isxdigit((unsigned char)c)
               ? (isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10)
               : -1;
}

/* An extra's key: the header name after the prefix, lower-cased and percent-decoded. */
static void extra_key(const char *s, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; s[i] && o + 1 < outlen; i++) {
        if (s[i] == '%' && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            out[o++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        } else {
            out[o++] = (char)tolower((unsigned char)s[i]);
        }
    }
    out[o] = '\0';
}

int kube_auth_user_from_headers(const struct kube_auth_config *c, const struct https_head *h,
                                json_object **user)
{
    const char *name = NULL;
    *user = NULL;
    for (size_t i = 0; i < c->user_h.n && !name; i++) {
        const char *v = https_head_get(h, c->user_h.v[i]);
        if (v && *v)
            name = v;
    }
    if (!name)
        return -1;
    json_object *u = json_object_new_object(), *groups = json_object_new_array();
    json_object *extra = json_object_new_object();
    json_object_object_add(u, "username", json_object_new_string(name));
    for (size_t k = 0; k < h->nheaders; k++) {
        const struct https_header *hd = &h->headers[k];
        for (size_t i = 0; i < c->group_h.n; i++)
            if (!strcasecmp(hd->name, c->group_h.v[i]) && *hd->value)
                json_object_array_add(groups, json_object_new_string(hd->value));
        for (size_t i = 0; i < c->extra_p.n; i++) {
            size_t pl = strlen(c->extra_p.v[i]);
            if (strncasecmp(hd->name, c->extra_p.v[i], pl) != 0 || !hd->name[pl])
                continue;
            char key[256];
            extra_key(hd->name + pl, key, sizeof(key));
            json_object *vals;
            if (!json_object_object_get_ex(extra, key, &vals)) {
                vals = json_object_new_array();
                json_object_object_add(extra, key, vals);
            }
            json_object_array_add(vals, json_object_new_string(hd->value));
        }
    }
    json_object_object_add(u, "groups", groups);
    json_object_object_add(u, "extra", extra);
    *user = u;
    return 0;
}

/* ---- caches ------------------------------------------------------------------------- */

struct centry {
    unsigned char key[32];
    double expires;    /* monotonic */
    int code;          /* 200 allowed / authenticated, 401, 403 */
    char *msg;         /* owned or NULL */
    json_object *user; /* owned or NULL (token cache) */
};

struct cache {
    struct centry *e; /* owned */
    size_t n, cap;
};

static void centry_fini(struct centry *e)
{
    free(e->msg);
    json_object_put(e->user);
    memset(e, 0, sizeof(*e));
}

static void cache_fini(struct cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        centry_fini(&c->e[i]);
    free(c->e);
    memset(c, 0, sizeof(*c));
}

static struct centry *cache_get(struct cache *c, const unsigned char key[32], double now)
{
    for (size_t i = 0; i < c->n; i++) {
        if (memcmp(c->e[i].key, key, 32) != 0)
            continue;
        if (c->e[i].expires > now)
            return &c->e[i];
        centry_fini(&c->e[i]);
        c->e[i] = c->e[--c->n];
        return NULL;
    }
    return NULL;
}

static void cache_put(struct cache *c, size_t max, const unsigned char key[32], double expires,
                      int code, const char *msg, json_object *user)
{
    struct centry *slot = NULL;
    for (size_t i = 0; i < c->n && !slot; i++)
        if (!memcmp(c->e[i].key, key, 32))
            slot = &c->e[i];
    if (!slot && c->n == max) {
        /* full: the entry closest to expiry makes room */
        size_t victim = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->e[i].expires < c->e[victim].expires)
                victim = i;
        slot = &c->e[victim];
    }
    if (!slot) {
        if (kp_grow((void **)&c->e, &c->cap, c->n + 1, sizeof(*c->e), 64) < 0)
            return;
        slot = &c->e[c->n++];
        memset(slot, 0, sizeof(*slot));
    }
    centry_fini(slot);
    memcpy(slot->key, key, 32);
    slot->expires = expires;
    slot->code = code;
    slot->msg = msg ? strdup(msg) : NULL;
    slot->user = user ? json_object_get(user) : NULL;
}

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32);
}

/* ---- the authority ------------------------------------------------------------------ */

struct kube_auth {
    struct ev_loop *loop;     /* borrowed */
    struct kube_client *kube; /* borrowed */
    struct kube_auth_opts o;
    struct kube_auth_config *cfg; /* owned; NULL until read */
    struct kube_call *cm_call;    /* in flight */
    ev_timer refresh;
    struct cache tokens, reviews;
    struct kube_auth_check *checks; /* owned list of checks in flight */
    struct kube_auth_stats stats;
};

struct kube_auth_check {
    struct kube_auth *a; /* borrowed */
    kube_auth_done_fn done;
    void *ud;
    struct kube_call *call;
    json_object *user;  /* owned: {"username", "uid", "groups", "extra"} */
    json_object *attrs; /* owned: resourceAttributes or nonResourceAttributes */
    bool resource;
    unsigned char key[32];   /* the token's digest, then the review's */
    bool starting, finished; /* decided inside kube_auth_start: freed there */
    struct kube_auth_check *prev, *next;
};

static void on_cm(const struct kube_response *r, void *ud)
{
    struct kube_auth *a = ud;
    char err[512];
    a->cm_call = NULL;
    if (r->status != 200 || !r->body) {
        log_warn("cannot read kube-system/extension-apiserver-authentication; the metrics API "
                 "answers 503 until it can",
                 LF_INT("status", r->status), LF_ERR(r->error ? r->error : ""));
        return;
    }
    json_object *data = NULL;
    json_object_object_get_ex(r->body, "data", &data);
    struct kube_auth_config *c = kube_auth_config_parse(data, err, sizeof(err));
    if (!c) {
        log_warn("extension-apiserver-authentication does not parse; keeping the previous one",
                 LF_ERR(err));
        return;
    }
    if (!a->cfg)
        log_info("front-proxy authentication configured", LF_BOOL("requestheader", c->rh_ca),
                 LF_INT("allowed_names", c->allowed.n));
    kube_auth_config_free(a->cfg);
    a->cfg = c;
}

static void fetch_config(struct kube_auth *a)
{
    if (!a->cm_call)
        a->cm_call = kube_request(a->kube, "GET", CM_PATH, NULL, TIMEOUT_MS, on_cm, a);
}

static void on_refresh(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct kube_auth *a = w->data;
    /* until the first read succeeds, retry every few seconds */
    if (!a->cfg) {
        w->repeat = 5;
        ev_timer_again(loop, w);
    } else if (w->repeat != a->o.config_refresh_s) {
        w->repeat = a->o.config_refresh_s;
        ev_timer_again(loop, w);
    }
    fetch_config(a);
}

struct kube_auth *kube_auth_new(struct ev_loop *loop, struct kube_client *kc,
                                const struct kube_auth_opts *o)
{
    struct kube_auth *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->loop = loop;
    a->kube = kc;
    a->o = *o;
    if (a->o.cache_ttl_s <= 0)
        a->o.cache_ttl_s = 10;
    if (a->o.config_refresh_s <= 0)
        a->o.config_refresh_s = 60;
    if (!a->o.cache_max)
        a->o.cache_max = 4096;
    ev_init(&a->refresh, on_refresh);
    a->refresh.repeat = 5;
    a->refresh.data = a;
    ev_timer_again(loop, &a->refresh);
    fetch_config(a);
    return a;
}

bool kube_auth_ready(const struct kube_auth *a)
{
    return a->cfg != NULL;
}

void kube_auth_get_stats(const struct kube_auth *a, struct kube_auth_stats *st)
{
    *st = a->stats;
}

static void check_free(struct kube_auth_check *c)
{
    KP_DLIST_UNLINK(c->a->checks, c);
    kube_call_cancel(c->call);
    json_object_put(c->user);
    json_object_put(c->attrs);
    free(c);
}

void kube_auth_check_cancel(struct kube_auth_check *c)
{
    if (c)
        check_free(c);
}

void kube_auth_free(struct kube_auth *a)
{
    if (!a)
        return;
    while (a->checks)
        check_free(a->checks);
    kube_call_cancel(a->cm_call);
    ev_timer_stop(a->loop, &a->refresh);
    kube_auth_config_free(a->cfg);
    cache_fini(&a->tokens);
    cache_fini(&a->reviews);
    free(a);
}

/* The decision reaches the caller; the check ends. */
static void finish(struct kube_auth_check *c, int code, const char *msg)
{
    struct kube_auth *a = c->a;
    const char *user = NULL;
    json_object *un;
    if (c->user && json_object_object_get_ex(c->user, "username", &un))
        user = json_object_get_string(un);
    if (code == 200)
        a->stats.allowed++;
    else if (code == 403)
        a->stats.denied++;
    else if (code == 401)
        a->stats.unauthenticated++;
    else
        a->stats.errors++;
    c->done(code, msg, user, c->ud);
    if (c->starting)
        c->finished = true;
    else
        check_free(c);
}

/* ---- authorization -------------------------------------------------------------------- */

/* A review (TokenReview, SubjectAccessReview) of kind with spec (taken over), POSTed to path
 * for c; 503 with unreachable when it cannot be sent. The body is serialised by kube_request
 * and not kept (a TokenReview's spec holds the token). */
static void post_review(struct kube_auth_check *c, const char *api_version, const char *kind,
                        json_object *spec, const char *path, kube_done_fn done,
                        const char *unreachable)
{
    json_object *body = json_object_new_object();
    json_object_object_add(body, "apiVersion", json_object_new_string(api_version));
    json_object_object_add(body, "kind", json_object_new_string(kind));
    json_object_object_add(body, "spec", spec);
    c->call = kube_request(c->a->kube, "POST", path, body, TIMEOUT_MS, done, c);
    json_object_put(body);
    if (!c->call)
        finish(c, 503, unreachable);
}

/* In a review's callback: true when the API server answered it; otherwise logs failed and
 * finishes c with 503 and unanswered. */
static bool review_answered(struct kube_auth_check *c, const struct kube_response *r,
                            const char *failed, const char *unanswered)
{
    c->call = NULL;
    if (r->status == 201 || r->status == 200)
        return true;
    log_warn(failed, LF_INT("status", r->status), LF_ERR(r->error ? r->error : ""));
    finish(c, 503, unanswered);
    return false;
}

static void on_sar(const struct kube_response *r, void *ud)
{
    struct kube_auth_check *c = ud;
    struct kube_auth *a = c->a;
    json_object *st = NULL, *allowed = NULL, *reason = NULL;
    if (!review_answered(c, r, "SubjectAccessReview failed",
                         "authorization failed: the API server's SubjectAccessReview did not "
                         "answer"))
        return;
    json_object_object_get_ex(r->body, "status", &st);
    json_object_object_get_ex(st, "allowed", &allowed);
    json_object_object_get_ex(st, "reason", &reason);
    int code = json_object_get_boolean(allowed) ? 200 : 403;
    const char *why = reason ? json_object_get_string(reason) : NULL;
    cache_put(&a->reviews, a->o.cache_max, c->key, kp_mono_now() + a->o.cache_ttl_s, code, why,
              NULL);
    finish(c, code, code == 200 ? NULL : why);
}

/* As the API server's authenticators do (AuthenticatedGroupAdder): every authenticated user
 * is in system:authenticated, which the default discovery and OpenAPI rules are bound to. */
static void add_authenticated_group(json_object *user)
{
    json_object *groups;
    if (!json_object_object_get_ex(user, "groups", &groups) ||
        !json_object_is_type(groups, json_type_array)) {
        groups = json_object_new_array();
        json_object_object_add(user, "groups", groups);
    }
    for (size_t i = 0; i < json_object_array_length(groups); i++)
        if (!strcmp(json_object_get_string(json_object_array_get_idx(groups, i)),
                    "system:authenticated"))
            return;
    json_object_array_add(groups, json_object_new_string("system:authenticated"));
}

static void authorize(struct kube_auth_check *c)
{
    struct kube_auth *a = c->a;
    /* a copy: a TokenReview's user may be shared with the cache */
    json_object *u = NULL;
    if (json_object_deep_copy(c->user, &u, NULL) == 0) {
        json_object_put(c->user);
        c->user = u;
    }
    add_authenticated_group(c->user);
    json_object *spec = json_object_new_object(), *v;
    static const char *const keys[] = {"username", "uid", "groups", "extra"};
    static const char *const spec_keys[] = {"user", "uid", "groups", "extra"};
    for (int i = 0; i < 4; i++)
        if (json_object_object_get_ex(c->user, keys[i], &v))
            json_object_object_add(spec, spec_keys[i], json_object_get(v));
    json_object_object_add(spec, c->resource ? "resourceAttributes" : "nonResourceAttributes",
                           json_object_get(c->attrs));
    const char *s = json_object_to_json_string_ext(spec, JSON_C_TO_STRING_PLAIN);
    sha256(s, strlen(s), c->key);
    struct centry *e = cache_get(&a->reviews, c->key, kp_mono_now());
    if (e) {
        a->stats.sar_cache_hits++;
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", e->msg ? e->msg : "");
        json_object_put(spec);
        finish(c, e->code, e->code == 200 ? NULL : msg);
        return;
    }
    a->stats.access_reviews++;
    post_review(c, "authorization.k8s.io/v1", "SubjectAccessReview", spec,
                "/apis/authorization.k8s.io/v1/subjectaccessreviews", on_sar,
                "authorization failed: could not reach the API server");
}

/* ---- authentication by token ------------------------------------------------------------ */

static void on_token_review(const struct kube_response *r, void *ud)
{
    struct kube_auth_check *c = ud;
    struct kube_auth *a = c->a;
    json_object *st = NULL, *ok = NULL, *user = NULL;
    if (!review_answered(c, r, "TokenReview failed",
                         "authentication failed: the API server's TokenReview did not answer"))
        return;
    json_object_object_get_ex(r->body, "status", &st);
    json_object_object_get_ex(st, "authenticated", &ok);
    json_object_object_get_ex(st, "user", &user);
    double exp = kp_mono_now() + a->o.cache_ttl_s;
    if (!json_object_get_boolean(ok) || !user) {
        cache_put(&a->tokens, a->o.cache_max, c->key, exp, 401, NULL, NULL);
        finish(c, 401, "Unauthorized");
        return;
    }
    cache_put(&a->tokens, a->o.cache_max, c->key, exp, 200, NULL, user);
    c->user = json_object_get(user);
    authorize(c);
}

static void review_token(struct kube_auth_check *c, const char *token)
{
    struct kube_auth *a = c->a;
    sha256(token, strlen(token), c->key);
    struct centry *e = cache_get(&a->tokens, c->key, kp_mono_now());
    a->stats.token++;
    if (e) {
        a->stats.token_cache_hits++;
        if (e->code != 200) {
            finish(c, 401, "Unauthorized");
            return;
        }
        c->user = json_object_get(e->user);
        authorize(c);
        return;
    }
    json_object *spec = json_object_new_object();
    json_object_object_add(spec, "token", json_object_new_string(token));
    a->stats.token_reviews++;
    post_review(c, "authentication.k8s.io/v1", "TokenReview", spec,
                "/apis/authentication.k8s.io/v1/tokenreviews", on_token_review,
                "authentication failed: could not reach the API server");
}

/* "Bearer <token>" (the scheme case-insensitive), or NULL. */
static const char *bearer(const struct https_head *h)
{
    const char *v = https_head_get(h, "authorization");
    if (!v || strncasecmp(v, "bearer ", 7) != 0)
        return NULL;
    v += 7;
    while (*v == ' ')
        v++;
    return *v && strlen(v) < TOKEN_MAX ? v : NULL;
}

static json_object *attrs_json(const struct kube_auth_attrs *at, bool *resource)
{
    json_object *o = json_object_new_object();
    *resource = at->resource != NULL;
    json_object_object_add(o, "verb", json_object_new_string(at->verb ? at->verb : "get"));
    if (!*resource) {
        json_object_object_add(o, "path", json_object_new_string(at->path ? at->path : "/"));
        return o;
    }
    const char *const kv[][2] = {{"group", at->group},
                                 {"version", at->version},
                                 {"resource", at->resource},
                                 {"namespace", at->namespace},
                                 {"name", at->name}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (kv[i][1] && *kv[i][1])
            json_object_object_add(o, kv[i][0], json_object_new_string(kv[i][1]));
    return o;
}

struct kube_auth_check *kube_auth_start(struct kube_auth *a, X509 *peer, STACK_OF(X509) * chain,
                                        const struct https_head *head,
                                        const struct kube_auth_attrs *attrs, kube_auth_done_fn done,
                                        void *ud)
{
    if (!a->cfg) {
        done(503,
             "authentication is not configured yet (extension-apiserver-authentication "
             "not read)",
             NULL, ud);
        a->stats.errors++;
        return NULL;
    }
    struct kube_auth_check *c = calloc(1, sizeof(*c));
    if (!c) {
        done(503, "out of memory", NULL, ud);
        return NULL;
    }
    c->a = a;
    c->done = done;
    c->ud = ud;
    c->attrs = attrs_json(attrs, &c->resource);
    KP_DLIST_PUSH(a->checks, c);

    c->starting = true;
    const char *token = bearer(head);
    if (peer && kube_auth_front_proxy_ok(a->cfg, peer, chain) &&
        kube_auth_user_from_headers(a->cfg, head, &c->user) == 0) {
        a->stats.front_proxy++;
        authorize(c);
    } else if (peer && a->cfg->client_ca && verify_client(a->cfg->client_ca, peer, chain) &&
               (c->user = user_from_cert(peer)) != NULL) {
        a->stats.client_cert++;
        authorize(c);
    } else if (token) {
        review_token(c, token);
    } else {
        finish(c, 401, "Unauthorized");
    }
    c->starting = false;
    if (c->finished) {
        check_free(c);
        return NULL;
    }
    return c;
}
