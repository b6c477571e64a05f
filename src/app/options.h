/*
 * options.h - every setting of the daemon, from flags and the YAML config file.
 *
 * One table (options.c) describes each option once: its flag name, which is
 * also its key in the config file, its type, default and help text. --help,
 * the flag parser, the config loader and validation all read that table, so a
 * new option cannot be forgotten by one of them.
 */
#ifndef KP_OPTIONS_H
#define KP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define KP_MAX_SINKS 8

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
    char *source; /* Heapster --source URI, mapped onto the options above */
    /* sinks */
    char *sinks[KP_MAX_SINKS];
    size_t nsinks;
    long sink_batch_lines;
    char *sink_buffer_size; /* "256Mi" (bytes) or "1000000points" */
    double sink_timeout_s;
    long sink_concurrency;
    double sink_flush_timeout_s;
    /* operation */
    char *listen;
    char *log_format;
    long verbosity;
    char *config;
};

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

/* "15s", "1m30s", "250ms", "2h" (Go's time.ParseDuration subset, no sign). */
int kp_parse_duration(const char *s, double *seconds);

#endif
