/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth.c - kubelet credentials (auth.h). The token file is read with a size
 * bound and only when its stat changes, so a rotated token (a projected
 * ServiceAccount token, a Secret mount) is picked up within one cycle.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube.h"
#include "log.h"
#include "util.h"

static void drop_token(struct kubelet_auth *a)
{
    kp_secret_free(a->token);
    a->token = NULL;
}

static int load(struct kubelet_auth *a, const struct stat *st, char *err, size_t errlen)
{
    char *tok = NULL;
    if (kp_read_secret_file(a->token_file, KUBELET_TOKEN_MAX, &tok, err, errlen) < 0)
        return -1;
    drop_token(a);
    a->token = tok;
    a->mtime = st->st_mtim;
    a->size = st->st_size;
    a->ino = st->st_ino;
    a->reload = false;
    return 0;
}

int kubelet_auth_init(struct kubelet_auth *a, struct kube_client *kube, const char *token_file,
                      const char *ca_file, bool insecure, char *err, size_t errlen)
{
    struct stat st;
    memset(a, 0, sizeof(*a));
    a->kube = kube;
    a->insecure = insecure;
    if (ca_file && *ca_file && !(a->ca_file = strdup(ca_file)))
        goto oom;
    if (token_file && *token_file) {
        if (!(a->token_file = strdup(token_file)))
            goto oom;
        /* a missing or bad file at start-up is an operator error: say so now */
        if (stat(token_file, &st) < 0) {
            snprintf(err, errlen, "--kubelet-token-file %s: %s", token_file, strerror(errno));
            return -1;
        }
        char lerr[512];
        if (load(a, &st, lerr, sizeof(lerr)) < 0) {
            snprintf(err, errlen, "--kubelet-token-file %s", lerr);
            return -1;
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

void kubelet_auth_fini(struct kubelet_auth *a)
{
    drop_token(a);
    free(a->token_file);
    free(a->ca_file);
    memset(a, 0, sizeof(*a));
}

void kubelet_auth_refresh(struct kubelet_auth *a)
{
    struct stat st;
    char err[512];
    if (!a->token_file)
        return;
    if (stat(a->token_file, &st) < 0) {
        snprintf(err, sizeof(err), "%s: %s", a->token_file, strerror(errno));
    } else if (!a->reload && st.st_ino == a->ino && st.st_size == a->size &&
               st.st_mtim.tv_sec == a->mtime.tv_sec && st.st_mtim.tv_nsec == a->mtime.tv_nsec) {
        return; /* unchanged */
    } else if (load(a, &st, err, sizeof(err)) == 0) {
        if (a->warned)
            log_info("kubelet token file readable again", LF_STR("file", a->token_file));
        a->warned = false;
        return;
    }
    /* keep using the last good token */
    if (!a->warned)
        log_warn("cannot re-read the kubelet token file; keeping the last token", LF_ERR(err));
    a->warned = true;
}

void kubelet_auth_rejected(struct kubelet_auth *a)
{
    a->reload = true;
}

const char *kubelet_auth_token(struct kubelet_auth *a)
{
    if (a->token_file)
        return a->token;
    return a->kube ? kube_client_token(a->kube) : NULL;
}

void kubelet_auth_tls(const struct kubelet_auth *a, struct http_tls *out)
{
    const struct http_tls *ktls = a->kube ? kube_client_tls(a->kube) : NULL;
    memset(out, 0, sizeof(*out));
    if (ktls)
        *out = *ktls;
    /* the kubelet's certificate names the node, not the API server; the API
     * client certificate (file, blob or exec plugin's) is kept */
    out->server_name = NULL;
    if (a->ca_file) {
        out->ca_file = a->ca_file;
        out->ca_pem = NULL;
        out->ca_pem_len = 0;
    }
    out->insecure = a->insecure;
}
