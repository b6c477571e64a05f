/* SPDX-License-Identifier: Apache-2.0 */
/*
 * source.c - owns Heapster's --source=kubernetes:... flag: its option map (the options and
 * defaults of Heapster's kubernetes source, docs/source-configuration.md in Heapster), the
 * parse onto struct heapster_source, and what each option becomes in kubepulse's options.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optmap.h"
#include "options.h"
#include "source.h"
#include "uri.h"

static int check_api_version(const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "v1") != 0) {
        snprintf(err, errlen, "only v1 is supported, not \"%.32s\"", v);
        return -1;
    }
    return 0;
}

#define OFF(f) offsetof(struct heapster_source, f)
/* In the order of the HS_* bits. */
static const struct kp_opt SOURCE_OPTS[] = {
    {"inClusterConfig", KP_OPT_BOOL, "true", OFF(in_cluster_config),
     "use the pod's ServiceAccount and the in-cluster API server", 0, 0, NULL},
    {"auth", KP_OPT_STRING, NULL, OFF(auth), "kubeconfig file (with inClusterConfig=false)", 0, 0,
     NULL},
    {"useServiceAccount", KP_OPT_BOOL, "false", OFF(use_service_account),
     "send the pod's ServiceAccount token", 0, 0, NULL},
    {"insecure", KP_OPT_BOOL, "false", OFF(insecure),
     "do not verify the API server's and the kubelets' certificates", 0, 0, NULL},
    {"kubeletPort", KP_OPT_INT, "10255", OFF(kubelet_port), "kubelet port", 1, 65535, NULL},
    {"kubeletHttps", KP_OPT_BOOL, "false", OFF(kubelet_https), "scrape kubelets over HTTPS", 0, 0,
     NULL},
    {"apiVersion", KP_OPT_STRING, "v1", OFF(api_version), "API version", 0, 0, check_api_version},
    {0},
};

int heapster_source_parse(const char *s, struct heapster_source *out, char *err, size_t errlen)
{
    struct uri u;
    char e[512] = "";
    uint64_t given = 0;
    memset(out, 0, sizeof *out);
    if (uri_parse(s, &u, e, sizeof e) < 0)
        goto fail;
    if (strcmp(u.prefix, "kubernetes") != 0 && strcmp(u.prefix, "kubernetes.summary_api") != 0) {
        snprintf(e, sizeof e, "unsupported source \"%.64s\" (only kubernetes)", u.prefix);
        goto fail;
    }
    if (kp_opts_apply_uri(SOURCE_OPTS, &u, out, "--source", &given, e, sizeof e) < 0)
        goto fail;
    out->set = (unsigned)given;
    if (out->auth && !out->auth[0]) {
        free(out->auth);
        out->auth = NULL;
    }
    if (u.target[0] && strcmp(u.target, "''") != 0) {
        if (!u.scheme || (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0) ||
            !u.host || !u.host[0]) {
            snprintf(e, sizeof e, "master URL \"%.128s\" is not http(s)://HOST[:PORT]", u.target);
            goto fail;
        }
        if (!(out->master_url = strdup(u.target))) {
            snprintf(e, sizeof e, "out of memory");
            goto fail;
        }
        out->set |= HS_MASTER;
    }
    uri_fini(&u);
    return 0;
fail:
    snprintf(err, errlen, "--source: %s", e);
    uri_fini(&u);
    heapster_source_fini(out);
    return -1;
}

void heapster_source_print_options(FILE *out)
{
    fprintf(out, "\n--source=kubernetes[:URL] options (Heapster's; ?name=value&...):\n");
    kp_opts_print(SOURCE_OPTS, out, "", 40);
}

void heapster_source_fini(struct heapster_source *hs)
{
    if (!hs)
        return;
    kp_opts_free(SOURCE_OPTS, hs);
    free(hs->master_url);
    hs->master_url = NULL;
}

/* Heapster's default ServiceAccount token (metrics/sources/kubelet/configs.go). */
#define HS_SA_TOKEN "/var/run/secrets/kubernetes.io/serviceaccount/token"

static int set_str(char **dst, const char *v)
{
    char *c = strdup(v);
    if (!c)
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

/* Append "; text" to o->notes. */
static int note(struct kp_options *o, const char *text)
{
    size_t have = o->notes ? strlen(o->notes) : 0;
    char *s = realloc(o->notes, have + strlen(text) + 3);
    if (!s)
        return -1;
    sprintf(s + have, "%s%s", have ? "; " : "", text);
    o->notes = s;
    return 0;
}

/* kubeletHttps and kubeletPort as Heapster: HTTP on 10255 unless kubeletHttps=true, the port
 * for every node. Without either option kubepulse keeps its own default (HTTPS on the port
 * each Node publishes): Heapster's default, the read-only port, is off in current kubelets. */
static int map_kubelet(struct kp_options *o, const struct heapster_source *hs, char *err,
                       size_t errlen)
{
    char text[256];
    if (!(hs->set & (HS_KUBELET_HTTPS | HS_KUBELET_PORT)))
        return note(o, "kubelets: HTTPS on each Node's port (Heapster's default, the "
                       "read-only HTTP port 10255, is off in current kubelets; give "
                       "kubeletHttps=false to use it)");
    if (!hs->kubelet_https && hs->kubelet_port == 10250) {
        snprintf(err, errlen,
                 "--source: kubeletPort=10250 without kubeletHttps=true means plain HTTP to "
                 "port 10250 (Heapster's kubeletHttps defaults to false), where the kubelet "
                 "serves HTTPS only: add kubeletHttps=true");
        return -1;
    }
    o->kubelet_http = !hs->kubelet_https;
    if (hs->set & HS_KUBELET_PORT || o->kubelet_http) {
        o->kubelet_port = hs->kubelet_port;
        o->kubelet_port_fixed = true;
    }
    if (o->kubelet_port_fixed)
        snprintf(text, sizeof text, "kubelets: %s on port %ld", o->kubelet_http ? "HTTP" : "HTTPS",
                 o->kubelet_port);
    else
        snprintf(text, sizeof text, "kubelets: HTTPS on each Node's port");
    return note(o, text);
}

/*
 * API access as Heapster's GetKubeClientConfig (common/kubernetes/configs.go):
 *   inClusterConfig=true (default): the in-cluster config (kubepulse: the usual --kubeconfig,
 *     $KUBECONFIG, in-cluster, ~/.kube/config), its server replaced by the URL when one is
 *     given; auth= is not used there (Heapster ignored it too: noted).
 *   inClusterConfig=false with auth=PATH: that kubeconfig, current context; the URL is not
 *     used (as in Heapster: noted).
 *   inClusterConfig=false without auth: the URL, no credentials; useServiceAccount=true adds
 *     the pod's ServiceAccount token.
 *   insecure=true: no TLS verification of the API server and of the kubelets.
 */
static int map_api(struct kp_options *o, const struct heapster_source *hs, char *err, size_t errlen)
{
    bool kubeconfig_flag = o->kubeconfig && *o->kubeconfig;
    if (hs->in_cluster_config) {
        if (hs->master_url && set_str(&o->api_server, hs->master_url) < 0)
            goto oom;
        if (hs->auth && note(o, "auth= is not used with inClusterConfig=true (as in Heapster)") < 0)
            goto oom;
    } else if (hs->auth) {
        if (kubeconfig_flag && strcmp(o->kubeconfig, hs->auth) != 0) {
            snprintf(err, errlen,
                     "--source: auth=%.200s and --kubeconfig=%.200s name two kubeconfigs: "
                     "give one",
                     hs->auth, o->kubeconfig);
            return -1;
        }
        if (set_str(&o->kubeconfig, hs->auth) < 0)
            goto oom;
        if (hs->master_url &&
            note(o, "the URL is not used with auth= (the kubeconfig names the server, as in "
                    "Heapster)") < 0)
            goto oom;
    } else {
        if (!hs->master_url) {
            snprintf(err, errlen,
                     "--source: inClusterConfig=false without auth= needs the API server's URL "
                     "(kubernetes:https://HOST:PORT?inClusterConfig=false)");
            return -1;
        }
        if (kubeconfig_flag) {
            snprintf(err, errlen,
                     "--source: inClusterConfig=false without auth= talks to %.200s without "
                     "a kubeconfig, but --kubeconfig is given: drop one, or use auth=",
                     hs->master_url);
            return -1;
        }
        if (set_str(&o->api_server, hs->master_url) < 0)
            goto oom;
        o->api_no_credentials = true;
        if (hs->use_service_account && set_str(&o->api_token_file, HS_SA_TOKEN) < 0)
            goto oom;
    }
    if (hs->insecure) {
        o->api_insecure = true;
        o->kubelet_insecure_tls = true;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int kp_options_apply_source(struct kp_options *o, char *err, size_t errlen)
{
    struct heapster_source hs;
    int rc;
    if (!o->source || !*o->source)
        return 0;
    if (heapster_source_parse(o->source, &hs, err, errlen) < 0)
        return -1;
    err[0] = '\0';
    rc = map_api(o, &hs, err, errlen);
    if (rc == 0)
        rc = map_kubelet(o, &hs, err, errlen);
    if (rc < 0 && !err[0])
        snprintf(err, errlen, "out of memory");
    heapster_source_fini(&hs);
    return rc;
}
