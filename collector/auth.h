/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth.h - how the collector authenticates to kubelets and verifies them.
 *
 * Bearer token: from --kubelet-token-file when given (re-read when the file
 * changes, and after a 401), else the API credential's token. Client
 * certificate: the API client's, when it has one (kubeconfig or exec
 * plugin), as kube-apiserver presents its own to kubelets; a kubelet that
 * does not ask for one never sees it. CA: --kubelet-certificate-authority, else the cluster CA.
 */
#ifndef KP_COLLECTOR_AUTH_H
#define KP_COLLECTOR_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "http.h"

#define KUBELET_TOKEN_MAX 16384

struct kube_client;

struct kubelet_auth {
    struct kube_client *kube; /* borrowed, may be NULL */
    char *token_file;         /* owned or NULL */
    char *token;              /* owned: the file's token, or NULL */
    struct timespec mtime;    /* of the file when last read */
    off_t size;
    ino_t ino;
    bool reload;   /* re-read at the next refresh whatever the stat says */
    bool warned;   /* a read failure was logged (log changes only) */
    char *ca_file; /* owned or NULL: the kubelet CA override */
    bool insecure;
};

int kubelet_auth_init(struct kubelet_auth *a, struct kube_client *kube, const char *token_file,
                      const char *ca_file, bool insecure, char *err, size_t errlen);
void kubelet_auth_fini(struct kubelet_auth *a);
/* Once per cycle: re-read the token file if it changed (or after a 401). */
void kubelet_auth_refresh(struct kubelet_auth *a);
/* A kubelet answered 401: re-read the token file at the next refresh. */
void kubelet_auth_rejected(struct kubelet_auth *a);
/* The bearer token to send, or NULL. Secret: never log it. */
const char *kubelet_auth_token(struct kubelet_auth *a);
/* TLS settings for a kubelet request (pointers borrowed from a and the client). */
void kubelet_auth_tls(const struct kubelet_auth *a, struct http_tls *out);

#endif
