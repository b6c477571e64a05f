/*
 * source.h - Heapster's --source=kubernetes:... flag parsed onto a plain struct that the
 * daemon copies into its own options (source.c).
 */
#ifndef KP_APP_SOURCE_H
#define KP_APP_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

/* Heapster's --source=kubernetes[:MASTER_URL][?options] (also kubernetes.summary_api). */
enum heapster_source_field {
    HS_MASTER = 1 << 0,
    HS_IN_CLUSTER_CONFIG = 1 << 1,
    HS_AUTH = 1 << 2,
    HS_USE_SERVICE_ACCOUNT = 1 << 3,
    HS_INSECURE = 1 << 4,
    HS_KUBELET_PORT = 1 << 5,
    HS_KUBELET_HTTPS = 1 << 6,
    HS_API_VERSION = 1 << 7,
};

struct heapster_source {
    char *master_url;         /* owned; NULL: in-cluster config / kubeconfig decides */
    bool in_cluster_config;   /* inClusterConfig, default true */
    char *auth;               /* owned; auth= kubeconfig path, NULL when absent or empty */
    bool use_service_account; /* useServiceAccount, default false */
    bool insecure;            /* insecure: skip API server TLS verification, default false */
    long kubelet_port;        /* kubeletPort, default 10255 */
    bool kubelet_https;       /* kubeletHttps, default false */
    char *api_version;        /* owned; apiVersion, default "v1" (only v1 accepted) */
    unsigned set;             /* HS_* bits of the options given explicitly */
};

/* Parse a --source value. Unknown options and other prefixes fail, naming them. */
int heapster_source_parse(const char *s, struct heapster_source *out, char *err, size_t errlen);
void heapster_source_fini(struct heapster_source *hs);

#endif
