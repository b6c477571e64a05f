/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_config_load.c - where a struct kube_config comes from: a kubeconfig
 * file (bounded read, then kube_config.c's parser), the in-cluster
 * ServiceAccount environment, or kube_config_load_auto's order. Also frees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube_internal.h"

#define KUBECONFIG_MAX_BYTES (4u << 20)
#define KUBE_SA_DIR          "/var/run/secrets/kubernetes.io/serviceaccount"

void kube_config_free(struct kube_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->source);
    free(cfg->server);
    free(cfg->ca_file);
    free(cfg->ca_pem);
    free(cfg->tls_server_name);
    free(cfg->token);
    free(cfg->token_file);
    free(cfg->cert_file);
    free(cfg->key_file);
    free(cfg->cert_pem);
    free(cfg->key_pem);
    free(cfg->username);
    free(cfg->password);
    if (cfg->exec) {
        free(cfg->exec->command);
        for (char **a = cfg->exec->args; a && *a; a++)
            free(*a);
        free(cfg->exec->args);
        for (char **e = cfg->exec->env; e && *e; e++)
            free(*e);
        free(cfg->exec->env);
        free(cfg->exec->api_version);
        free(cfg->exec);
    }
    free(cfg->namespace);
    free(cfg);
}

char *kube_pod_namespace(const char *sa_dir)
{
    char path[4096], err[256], *buf = NULL;
    size_t len;
    snprintf(path, sizeof(path), "%s/namespace", sa_dir ? sa_dir : KUBE_SA_DIR);
    if (kp_read_file(path, 1024, &buf, &len, err, sizeof(err)) < 0)
        return NULL;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (len == 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int kube_config_load_incluster(const char *sa_dir, struct kube_config **out, char *err,
                               size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    struct kube_config *cfg = NULL;
    char *buf = NULL;
    size_t len;
    *out = NULL;
    if (!sa_dir)
        sa_dir = KUBE_SA_DIR;
    if (!host || !host[0] || !port || !port[0]) {
        snprintf(err, errlen,
                 "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                 "must be set (not running in a pod?)");
        return -1;
    }
    if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
        strcspn(host, "/?#@ ") != strlen(host)) {
        snprintf(err, errlen, "in-cluster: invalid KUBERNETES_SERVICE_HOST or _PORT");
        return -1;
    }
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        goto oom;
    bool v6 = strchr(host, ':') != NULL && host[0] != '[';
    if (asprintf(&cfg->server, v6 ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0) {
        cfg->server = NULL;
        goto oom;
    }
    if (!(cfg->source = strdup("in-cluster")) ||
        asprintf(&cfg->token_file, "%s/token", sa_dir) < 0 ||
        asprintf(&cfg->ca_file, "%s/ca.crt", sa_dir) < 0)
        goto oom;
    /* The token must be readable now (as client-go checks); the client re-reads it. */
    if (kp_read_file(cfg->token_file, 64 * 1024, &buf, &len, err, errlen) < 0)
        goto fail;
    free(buf);
    buf = NULL;
    if (access(cfg->ca_file, R_OK) != 0) {
        snprintf(err, errlen, "in-cluster: %s: %s", cfg->ca_file, strerror(errno));
        goto fail;
    }
    cfg->namespace = kube_pod_namespace(sa_dir);
    *out = cfg;
    return 0;
oom:
    snprintf(err, errlen, "in-cluster: out of memory");
fail:
    free(buf);
    kube_config_free(cfg);
    return -1;
}

int kube_config_load_auto(const char *kubeconfig_flag, const char *context,
                          struct kube_config **out, char *err, size_t errlen)
{
    if (kubeconfig_flag && kubeconfig_flag[0])
        return kube_config_load_file(kubeconfig_flag, context, out, err, errlen);
    const char *env = getenv("KUBECONFIG");
    if (env && env[0]) {
        /* A list like kubectl's: merging is not supported, the first existing file wins. */
        char *list = strdup(env), *save = NULL;
        if (!list) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (char *f = strtok_r(list, ":", &save); f; f = strtok_r(NULL, ":", &save)) {
            if (access(f, F_OK) == 0) {
                int rc = kube_config_load_file(f, context, out, err, errlen);
                free(list);
                return rc;
            }
        }
        free(list);
        snprintf(err, errlen, "$KUBECONFIG names no existing file");
        return -1;
    }
    if (getenv("KUBERNETES_SERVICE_HOST"))
        return kube_config_load_incluster(NULL, out, err, errlen);
    const char *home = getenv("HOME");
    char path[4096];
    if (!home || !home[0]) {
        snprintf(err, errlen,
                 "no kubeconfig: none given, no $KUBECONFIG, not in a cluster and "
                 "no $HOME");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/.kube/config", home);
    return kube_config_load_file(path, context, out, err, errlen);
}
