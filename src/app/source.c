/*
 * source.c - owns the mapping of Heapster's --source=kubernetes:... flag onto a plain
 * struct (struct heapster_source) that the daemon copies into its own options. Options and
 * defaults are those of Heapster's kubernetes source (docs/source-configuration.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"
#include "uri.h"

static int dup_to(char **dst, const char *s)
{
    free(*dst);
    *dst = strdup(s);
    return *dst ? 0 : -1;
}

int heapster_source_parse(const char *s, struct heapster_source *out, char *err, size_t errlen)
{
    struct uri u;
    char e[256] = "";
    memset(out, 0, sizeof *out);
    out->in_cluster_config = true;
    out->kubelet_port = 10255;
    if (uri_parse(s, &u, e, sizeof e) < 0)
        goto fail;
    if (strcmp(u.prefix, "kubernetes") != 0 && strcmp(u.prefix, "kubernetes.summary_api") != 0) {
        snprintf(e, sizeof e, "unsupported source \"%.64s\" (only kubernetes)", u.prefix);
        goto fail;
    }
    if (u.target[0] && strcmp(u.target, "''") != 0) {
        if (!u.scheme || (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0) ||
            !u.host || !u.host[0]) {
            snprintf(e, sizeof e, "master URL \"%.128s\" is not http(s)://HOST[:PORT]", u.target);
            goto fail;
        }
        if (dup_to(&out->master_url, u.target) < 0)
            goto oom;
        out->set |= HS_MASTER;
    }
    const char *v;
    bool b;
    long l;
    b = out->in_cluster_config;
    if (uri_get_bool(&u, "inClusterConfig", &b, e, sizeof e) < 0)
        goto fail;
    if (uri_get(&u, "inClusterConfig"))
        out->set |= HS_IN_CLUSTER_CONFIG;
    out->in_cluster_config = b;
    b = false;
    if (uri_get_bool(&u, "useServiceAccount", &b, e, sizeof e) < 0)
        goto fail;
    if (uri_get(&u, "useServiceAccount"))
        out->set |= HS_USE_SERVICE_ACCOUNT;
    out->use_service_account = b;
    b = false;
    if (uri_get_bool(&u, "insecure", &b, e, sizeof e) < 0)
        goto fail;
    if (uri_get(&u, "insecure"))
        out->set |= HS_INSECURE;
    out->insecure = b;
    b = false;
    if (uri_get_bool(&u, "kubeletHttps", &b, e, sizeof e) < 0)
        goto fail;
    if (uri_get(&u, "kubeletHttps"))
        out->set |= HS_KUBELET_HTTPS;
    out->kubelet_https = b;
    l = out->kubelet_port;
    if (uri_get_long(&u, "kubeletPort", 1, 65535, &l, e, sizeof e) < 0)
        goto fail;
    if (uri_get(&u, "kubeletPort"))
        out->set |= HS_KUBELET_PORT;
    out->kubelet_port = l;
    if ((v = uri_get(&u, "auth")) != NULL) {
        out->set |= HS_AUTH;
        if (v[0] && dup_to(&out->auth, v) < 0)
            goto oom;
    }
    if ((v = uri_get(&u, "apiVersion")) != NULL) {
        if (strcmp(v, "v1") != 0) {
            snprintf(e, sizeof e, "option \"apiVersion\": only v1 is supported, not \"%.32s\"", v);
            goto fail;
        }
        out->set |= HS_API_VERSION;
    }
    if (dup_to(&out->api_version, "v1") < 0)
        goto oom;
    if (uri_check_unused(&u, "--source", e, sizeof e) < 0)
        goto fail;
    uri_fini(&u);
    return 0;
oom:
    snprintf(e, sizeof e, "out of memory");
fail:
    snprintf(err, errlen, "--source: %s", e);
    uri_fini(&u);
    heapster_source_fini(out);
    return -1;
}

void heapster_source_fini(struct heapster_source *hs)
{
    if (!hs)
        return;
    free(hs->master_url);
    free(hs->auth);
    free(hs->api_version);
    hs->master_url = hs->auth = hs->api_version = NULL;
}
