/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_auth.h - delegated authentication and authorization, as every
 * aggregated API server does it (k8s.io/apiserver's delegating options):
 *
 * - Front-proxy requests: a client certificate that verifies against the
 *   request-header CA of kube-system/extension-apiserver-authentication (with
 *   the client-auth purpose), whose common name is one of the allowed names
 *   when the list is not empty, carries the user in the username headers,
 *   groups in the group headers and extras under the extra prefixes, all
 *   named by that ConfigMap. Without such a certificate those headers are
 *   ignored.
 * - A client certificate from the cluster's client CA (the same ConfigMap's
 *   client-ca-file): the user is its common name, the groups its organizations.
 * - A bearer token: a TokenReview.
 * - Every authenticated request: a SubjectAccessReview.
 *
 * TokenReviews and SubjectAccessReviews are cached (by a SHA-256 of the token
 * or of the review), allowed and denied alike, for cache_ttl_s, bounded in
 * entries. The ConfigMap is read at start and again every config_refresh_s,
 * so a rotated front-proxy CA is picked up without a restart.
 *
 * Results: 200 allowed, 401 not authenticated, 403 not authorized, 503 the
 * decision could not be made (the ConfigMap not read yet, the API server
 * unreachable).
 */
#ifndef KP_KUBE_AUTH_H
#define KP_KUBE_AUTH_H

#include <json-c/json.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "https_server.h"

struct ev_loop;
struct kube_client;

struct kube_auth_opts {
    double cache_ttl_s;      /* 0: 10 s, as k8s.io/apiserver's defaults */
    double config_refresh_s; /* 0: 60 s */
    size_t cache_max;        /* entries per cache; 0: 4096 */
};

/* What is being done: a resource request (resource set) or a non-resource path. */
struct kube_auth_attrs {
    const char *verb;                       /* "get", "list" */
    const char *group, *version, *resource; /* resource requests */
    const char *namespace, *name;           /* may be NULL */
    const char *path;                       /* non-resource requests */
};

struct kube_auth;
struct kube_auth *kube_auth_new(struct ev_loop *loop, struct kube_client *kc,
                                const struct kube_auth_opts *o);
void kube_auth_free(struct kube_auth *a); /* cancels checks in flight: no callbacks */
/* The ConfigMap has been read (the front-proxy CA is known). */
bool kube_auth_ready(const struct kube_auth *a);

/* The decision; message explains a 401/403/503 (no secrets). user is the authenticated
 * name or NULL. */
typedef void (*kube_auth_done_fn)(int code, const char *message, const char *user, void *ud);

struct kube_auth_check;
/* Decide on one request: peer/chain from TLS (may be NULL), head for the headers. May call
 * done before returning (a cached or local decision); then returns NULL. Otherwise the
 * check is in flight; kube_auth_check_cancel stops it without a callback. */
struct kube_auth_check *kube_auth_start(struct kube_auth *a, X509 *peer, STACK_OF(X509) * chain,
                                        const struct https_head *head,
                                        const struct kube_auth_attrs *attrs, kube_auth_done_fn done,
                                        void *ud);
void kube_auth_check_cancel(struct kube_auth_check *c);

struct kube_auth_stats {
    uint64_t front_proxy, client_cert, token, unauthenticated, allowed, denied, errors;
    uint64_t token_cache_hits, sar_cache_hits, token_reviews, access_reviews;
};
void kube_auth_get_stats(const struct kube_auth *a, struct kube_auth_stats *st);

/* ---- pieces, for tests and fuzzing ---------------------------------------- */

/* The request-header settings of the ConfigMap's data (the JSON object "data"). */
struct kube_auth_config;
struct kube_auth_config *kube_auth_config_parse(json_object *data, char *err, size_t errlen);
void kube_auth_config_free(struct kube_auth_config *c);

/* The user the headers of a verified front-proxy request name: 0, or -1 when no username
 * header is set. The user JSON is {"username":..,"groups":[..],"extra":{..}}; caller puts. */
int kube_auth_user_from_headers(const struct kube_auth_config *c, const struct https_head *h,
                                json_object **user);
/* 1 when peer verifies against the request-header CA with an allowed name; 0 otherwise. */
int kube_auth_front_proxy_ok(const struct kube_auth_config *c, X509 *peer, STACK_OF(X509) * chain);

#endif
