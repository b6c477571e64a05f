/* SPDX-License-Identifier: Apache-2.0 */
/*
 * source.h - Heapster's --source=kubernetes:... flag: its options (an option map, optmap.h)
 * parsed onto a plain struct, and mapped onto the daemon's options (source.c).
 */
#ifndef KP_APP_SOURCE_H
#define KP_APP_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Bits of heapster_source.set: bit i is option i of the source's option map. */
enum heapster_source_field {
    HS_IN_CLUSTER_CONFIG = 1 << 0,
    HS_AUTH = 1 << 1,
    HS_USE_SERVICE_ACCOUNT = 1 << 2,
    HS_INSECURE = 1 << 3,
    HS_KUBELET_PORT = 1 << 4,
    HS_KUBELET_HTTPS = 1 << 5,
    HS_API_VERSION = 1 << 6,
    HS_MASTER = 1 << 7, /* the URL, not an option */
};

/* Heapster's --source=kubernetes[:MASTER_URL][?options] (also kubernetes.summary_api). */
struct heapster_source {
    char *master_url;         /* owned; NULL: in-cluster config / kubeconfig decides */
    bool in_cluster_config;   /* inClusterConfig, default true */
    char *auth;               /* owned; auth= kubeconfig path, NULL when absent or empty */
    bool use_service_account; /* useServiceAccount, default false */
    bool insecure;            /* insecure: skip TLS verification, default false */
    long kubelet_port;        /* kubeletPort, default 10255 */
    bool kubelet_https;       /* kubeletHttps, default false */
    char *api_version;        /* owned; apiVersion, default "v1" (only v1 accepted) */
    unsigned set;             /* HS_* bits of the options given explicitly */
};

/* Parse a --source value. Unknown options and other prefixes fail, naming them. */
int heapster_source_parse(const char *s, struct heapster_source *out, char *err, size_t errlen);
void heapster_source_fini(struct heapster_source *hs);
/* The source's options with their defaults, for --help. */
void heapster_source_print_options(FILE *out);

struct kp_options;
/* Map o->source (if any) onto o's API and kubelet options. Fails naming the option that
 * cannot act here, and why. */
int kp_options_apply_source(struct kp_options *o, char *err, size_t errlen);

#endif
