/* SPDX-License-Identifier: Apache-2.0 */
/*
 * options.h - every setting of the daemon, from flags and the YAML config file.
 *
 * One option map (options.c, optmap.h) describes each option once: its flag name, which is
 * also its key in the config file, its type, default, bounds and help text. --help, the flag
 * parser, the config loader and validation all read that table, so a new option cannot be
 * forgotten by one of them. Every setting is checked when it is parsed; the rules between
 * settings (kp_options_validate), the --sink URIs and Heapster's --source (mapped onto these
 * options) are checked before kp_options_parse returns, so nothing connects with a bad one.
 *
 * Flag names match with '_' and '-' alike (Heapster's --metric_resolution); Heapster's and
 * glog's flags that mean nothing here are accepted and named in one warning (ignored).
 */
#ifndef KP_OPTIONS_H
#define KP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "optmap.h"

#define KP_MAX_SINKS         8
#define KP_MAX_STORED_LABELS 4 /* KP_MAX_LABELS (16) less Heapster's 12 */

struct kp_options {
    /* API access */
    char *kubeconfig;
    char *context;
    /* election */
    bool leader_elect;
    char *identity;
    char *lease_name;
    char *lease_namespace;
    double lease_duration_s;
    double renew_deadline_s;
    double retry_period_s;
    /* collection */
    double metric_resolution_s;
    char *kubelet_preferred_address_types;
    long kubelet_port;
    char *kubelet_certificate_authority;
    char *kubelet_token_file;
    bool kubelet_insecure_tls;
    double kubelet_timeout_s;
    long kubelet_max_concurrency;
    long long kubelet_max_body_bytes;
    bool watch_pods;
    bool disable_metric_sink; /* Heapster's --disable_metric_sink: no model API window */
    char *model_api;          /* --model-api: "on-demand", "always", "off"; NULL: not given */
    /* scope: what is scraped and written (the collector owns the lists' grammar) */
    char *node_selector;
    char *metric_allow, *metric_deny;
    char *namespace_include, *namespace_exclude;
    /* --check-release: check a running release and exit (check.c) */
    bool check_release;
    double check_timeout_s;
    char *label_separator;           /* Heapster's --label_separator */
    struct kp_strlist ignore_labels; /* Heapster's --ignore_label (each may be "a,b") */
    struct kp_strlist store_labels;  /* Heapster's --store_label: "name" or "newName=name" */
    char *source; /* Heapster --source URI, mapped onto the options (kp_options_parse) */
    /* Kubelets and API access from Heapster's --source (NULL/false: not given) */
    bool kubelet_http;       /* kubeletHttps=false: plain HTTP (the read-only port) */
    bool kubelet_port_fixed; /* kubeletPort=N: every node on N, as Heapster */
    char *api_server;        /* owned: the server to talk to, instead of the config's */
    bool api_insecure;       /* insecure=true: do not verify the API server's certificate */
    bool api_no_credentials; /* inClusterConfig=false without auth: no credentials */
    char *api_token_file;    /* owned: useServiceAccount=true: the ServiceAccount token */
    /* sinks */
    struct kp_strlist sinks;
    long sink_batch_lines;
    char *sink_buffer_size; /* "256Mi" (bytes) or "1000000points" */
    double sink_timeout_s;
    long sink_concurrency;
    double sink_flush_timeout_s;
    /* the resource metrics API (metrics.k8s.io) */
    char *metrics_api_listen;
    char *tls_cert_file;
    char *tls_private_key_file;
    char *metrics_api_advertise_address;
    char *metrics_api_ca_file;
    char *metrics_api_peer_server_name;
    /* operation */
    char *listen;
    long heapster_port; /* Heapster's --heapster-port: the port of --listen when not given */
    char *log_format;   /* --logging-format, alias --log-format */
    long verbosity;
    char *vmodule;
    char *config;
    char *ignored; /* owned: "--a, --b": flags accepted for Heapster but meaning nothing here */
    char *notes;   /* owned: what --source changed or left out, for one log line at start */
};

/* Heapster's model API window (--model-api, --disable_metric_sink). */
enum kp_model_api { KP_MODEL_API_ON_DEMAND, KP_MODEL_API_ALWAYS, KP_MODEL_API_OFF };
enum kp_model_api kp_options_model_api(const struct kp_options *o);

enum kp_options_result { KP_OPTIONS_RUN, KP_OPTIONS_EXIT_OK, KP_OPTIONS_EXIT_ERROR };

void kp_options_init(struct kp_options *o); /* defaults */
void kp_options_fini(struct kp_options *o);

/* Parse argv (and --config when given; flags override the file). On a bad flag,
 * value or file, returns EXIT_ERROR with a one-line message in err naming the flag
 * or the file, key and line. --help and --version print to out and return EXIT_OK. */
enum kp_options_result kp_options_parse(struct kp_options *o, int argc, char **argv, FILE *out,
                                        char *err, size_t errlen);

/* Load a YAML config file into o (keys are flag names without "--"). */
int kp_options_load_file(struct kp_options *o, const char *path, char *err, size_t errlen);
/* Parse YAML text already in memory (the fuzzer's entry point). */
int kp_options_load_yaml(struct kp_options *o, const char *text, size_t len, const char *name,
                         char *err, size_t errlen);

/* Cross-option checks (client-go's election rules, timeouts vs resolution). */
int kp_options_validate(const struct kp_options *o, char *err, size_t errlen);

void kp_options_print_help(FILE *out);
void kp_print_version(FILE *out);

#endif
