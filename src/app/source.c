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

int kp_options_apply_source(struct kp_options *o, char *err, size_t errlen)
{
    struct heapster_source hs;
    if (!o->source || !*o->source)
        return 0;
    if (heapster_source_parse(o->source, &hs, err, errlen) < 0)
        return -1;
    if ((hs.set & HS_KUBELET_HTTPS) && !hs.kubelet_https) {
        snprintf(err, errlen,
                 "--source: kubeletHttps=false is not supported: kubepulse "
                 "scrapes kubelets over HTTPS only (remove the option)");
        heapster_source_fini(&hs);
        return -1;
    }
    if (hs.set & HS_KUBELET_PORT)
        o->kubelet_port = hs.kubelet_port;
    if (hs.auth && !(o->kubeconfig && *o->kubeconfig)) {
        free(o->kubeconfig);
        o->kubeconfig = strdup(hs.auth);
    }
    heapster_source_fini(&hs);
    return 0;
}
