/* SPDX-License-Identifier: Apache-2.0 */
/*
 * options.c - the daemon's option map, the flag parser, the YAML config loader, the rules
 * between settings, and the mapping of Heapster's --source onto the options. Flags override
 * the config file. Everything is checked here, before the daemon connects anywhere.
 */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "collector.h"
#include "elector.h"
#include "kube.h"
#include "kube_selector.h"
#include "log.h"
#include "sink.h"
#include "source.h"
#include "util.h"
#include "version.h"

#define KP_CONFIG_MAX_BYTES (1 << 20)

#define OFF(f) offsetof(struct kp_options, f)

static int check_buffer_size(const char *v, char *err, size_t errlen)
{
    uint64_t bound;
    bool points;
    if (sink_parse_buffer_size(v, &bound, &points) < 0) {
        snprintf(err, errlen, "invalid size \"%.64s\" (e.g. 256Mi or 2000000points)", v);
        return -1;
    }
    return 0;
}

/* Heapster's label keys, which a stored label may not replace. */
static const char *const HEAPSTER_TAGS[] = {
    "cluster_name", "container_base_image", "container_name", "host_id", "hostname", "labels",
    "namespace_id", "namespace_name",       "nodename",       "pod_id",  "pod_name", "resource_id",
    "type"};

/* "name" or "newName=name", comma-separated as pflag's StringSlice took them. */
static int check_store_label(const char *v, char *err, size_t errlen)
{
    for (const char *p = v; *p;) {
        size_t n = strcspn(p, ","), eq = strcspn(p, "=");
        size_t klen = eq < n ? eq : n;
        if (!n || !klen || (eq < n && eq + 1 == n) || strspn(p, "=") > 0) {
            snprintf(err, errlen, "\"%.64s\" is not name or newName=name", v);
            return -1;
        }
        for (size_t i = 0; i < sizeof HEAPSTER_TAGS / sizeof HEAPSTER_TAGS[0]; i++) {
            if (strlen(HEAPSTER_TAGS[i]) == klen && strncmp(p, HEAPSTER_TAGS[i], klen) == 0) {
                snprintf(err, errlen,
                         "\"%.*s\" is one of Heapster's own tags: store it as "
                         "newName=%.*s",
                         (int)klen, p, (int)klen, p);
                return -1;
            }
        }
        p += n + (p[n] ? 1 : 0);
    }
    return 0;
}

/* The elector's rules; "" means "derive it" (the default identity and namespace). */
static int check_identity(const char *v, char *err, size_t errlen)
{
    return *v ? elector_check_identity(v, err, errlen) : 0;
}

static int check_lease_namespace(const char *v, char *err, size_t errlen)
{
    return *v ? elector_check_lease_namespace(v, err, errlen) : 0;
}

static int check_log_format(const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0) {
        snprintf(err, errlen, "invalid value \"%.64s\" (text or json)", v);
        return -1;
    }
    return 0;
}

static const char *const MODEL_API[] = {"on-demand", "always", "off"}; /* kp_model_api order */

static int check_model_api(const char *v, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof MODEL_API / sizeof MODEL_API[0]; i++)
        if (strcmp(v, MODEL_API[i]) == 0)
            return 0;
    snprintf(err, errlen, "invalid value \"%.64s\" (on-demand, always or off)", v);
    return -1;
}

enum kp_model_api kp_options_model_api(const struct kp_options *o)
{
    if (o->disable_metric_sink)
        return KP_MODEL_API_OFF;
    for (size_t i = 0; o->model_api && i < sizeof MODEL_API / sizeof MODEL_API[0]; i++)
        if (strcmp(o->model_api, MODEL_API[i]) == 0)
            return (enum kp_model_api)i;
    return KP_MODEL_API_ON_DEMAND;
}

static int check_vmodule(const char *v, char *err, size_t errlen)
{
    return log_vmodule_check(v, err, errlen);
}

/* Other names of a setting, as flags and config keys: one setting, one field. */
static const struct {
    const char *alias, *name;
} aliases[] = {
    {"log-format", "logging-format"}, /* kubepulse's first name; Kubernetes' is the second */
};

static const struct kp_opt opts[];

/* The option named name[0..n), by its name or an alias ('_' and '-' alike). */
static const struct kp_opt *find_opt(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        const struct kp_opt one[] = {{aliases[i].alias, KP_OPT_STRING, NULL, 0, "", 0, 0, NULL},
                                     {0}};
        if (kp_opts_find(one, name, n, true))
            return kp_opts_find(opts, aliases[i].name, strlen(aliases[i].name), false);
    }
    return kp_opts_find(opts, name, n, true);
}

static const struct kp_opt opts[] = {
    {"config", KP_OPT_STRING, "", OFF(config),
     "YAML file with any of these options (keys are flag names)", 0, 0, NULL},
    {"kubeconfig", KP_OPT_STRING, "", OFF(kubeconfig),
     "kubeconfig file; default $KUBECONFIG, in-cluster config, ~/.kube/config", 0, 0, NULL},
    {"context", KP_OPT_STRING, "", OFF(context), "kubeconfig context; default its current-context",
     0, 0, NULL},
    {"leader-elect", KP_OPT_BOOL, "true", OFF(leader_elect),
     "take part in Lease leader election (false: always lead; only for one replica)", 0, 0, NULL},
    {"identity", KP_OPT_STRING, "", OFF(identity),
     "this replica's identity in the Lease; default $POD_NAME, else hostname plus a random "
     "suffix",
     0, 0, check_identity},
    {"lease-name", KP_OPT_STRING, "kubepulse", OFF(lease_name),
     "name of the coordination.k8s.io/v1 Lease", 0, 0, elector_check_lease_name},
    {"lease-namespace", KP_OPT_STRING, "", OFF(lease_namespace),
     "namespace of the Lease; default the pod's, else the kubeconfig context's, else \"default\"",
     0, 0, check_lease_namespace},
    /* The three election durations' rules are the elector's (elector_check_timing). */
    {"lease-duration", KP_OPT_DURATION, "15s", OFF(lease_duration_s),
     "how long followers wait after the last observed change before taking over", 0, 0, NULL},
    {"renew-deadline", KP_OPT_DURATION, "10s", OFF(renew_deadline_s),
     "the leader steps down when it could not renew for this long (client-go's rules: "
     "lease-duration > renew-deadline > 1.2 x retry-period, each at least 1s)",
     0, 0, NULL},
    {"retry-period", KP_OPT_DURATION, "2s", OFF(retry_period_s),
     "interval between renew and acquire attempts", 0, 0, NULL},
    {"metric-resolution", KP_OPT_DURATION, "60s", OFF(metric_resolution_s),
     "scrape interval; cycles start on wall-clock multiples of it", 1, 3600, NULL},
    {"kubelet-preferred-address-types", KP_OPT_STRING,
     "InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP", OFF(kubelet_preferred_address_types),
     "node address types to try, in order", 0, 0, NULL},
    {"kubelet-port", KP_OPT_INT, "10250", OFF(kubelet_port),
     "kubelet port when the Node does not publish daemonEndpoints", 1, 65535, NULL},
    {"kubelet-certificate-authority", KP_OPT_STRING, "", OFF(kubelet_certificate_authority),
     "CA file for kubelet certificates; default the cluster CA", 0, 0, NULL},
    {"kubelet-token-file", KP_OPT_STRING, "", OFF(kubelet_token_file),
     "bearer token file for kubelets (re-read when it changes); default the API credential's "
     "token. The API client certificate, if any, is presented to kubelets too",
     0, 0, NULL},
    {"kubelet-insecure-tls", KP_OPT_BOOL, "false", OFF(kubelet_insecure_tls),
     "do not verify kubelet certificates (logs a warning)", 0, 0, NULL},
    {"kubelet-timeout", KP_OPT_DURATION, "10s", OFF(kubelet_timeout_s),
     "timeout of one kubelet scrape (shorter than --metric-resolution)", 0.001, 3600, NULL},
    {"kubelet-max-concurrency", KP_OPT_INT, "64", OFF(kubelet_max_concurrency),
     "kubelet scrapes in flight at once (each holds ~60-90 KB while it runs); raise it for "
     "many slow or unreachable kubelets (docs/metrics.md)",
     1, 100000, NULL},
    {"kubelet-max-body-size", KP_OPT_SIZE, "64Mi", OFF(kubelet_max_body_bytes),
     "largest Summary response accepted from one kubelet", 0, 0, NULL},
    {"watch-pods", KP_OPT_BOOL, "true", OFF(watch_pods),
     "watch Pods for labels, requests and limits", 0, 0, NULL},
    {"node-selector", KP_OPT_STRING, "", OFF(node_selector),
     "label selector of the nodes to scrape, as metrics-server's (e.g. "
     "node-role.kubernetes.io/control-plane!=,pool in (a,b)); default every node",
     0, 0, kube_label_selector_check},
    {"metric-allow", KP_OPT_STRING, "", OFF(metric_allow),
     "metrics to write, comma-separated names or patterns (cpu/usage_rate,memory/*); default "
     "all",
     0, 0, collector_check_metrics},
    {"metric-deny", KP_OPT_STRING, "", OFF(metric_deny),
     "metrics not to write, comma-separated names or patterns (e.g. network/*_errors*)", 0, 0,
     collector_check_metrics},
    {"namespace-include", KP_OPT_STRING, "", OFF(namespace_include),
     "namespaces whose pods are written, comma-separated names or patterns; default all", 0, 0,
     collector_check_namespaces},
    {"namespace-exclude", KP_OPT_STRING, "", OFF(namespace_exclude),
     "namespaces whose pods are not written, comma-separated names or patterns (kube-*)", 0, 0,
     collector_check_namespaces},
    {"label-separator", KP_OPT_STRING, ",", OFF(label_separator),
     "separator of the key:value pairs in the labels tag (Heapster's)", 0, 0, NULL},
    {"ignore-label", KP_OPT_LIST, "", OFF(ignore_labels),
     "label left out of the labels tag; repeatable, or comma-separated (Heapster's)", 0, 0, NULL},
    {"store-label", KP_OPT_LIST, "", OFF(store_labels),
     "label also written as a tag of its own, name or newName=name; repeatable, or "
     "comma-separated; at most 4 (Heapster's)",
     0, 0, check_store_label},
    {"source", KP_OPT_STRING, "", OFF(source),
     "Heapster source URI, e.g. kubernetes:https://kubernetes.default?inClusterConfig=true "
     "(docs/migrating-from-heapster.md)",
     0, 0, NULL},
    {"sink", KP_OPT_LIST, "", OFF(sinks),
     "sink URI, repeatable: influxdb:http://HOST:8086?db=k8s, influxdb2:URL?org=O&bucket=B, log "
     "(options below)",
     0, KP_MAX_SINKS, NULL},
    {"sink-batch-lines", KP_OPT_INT, "5000", OFF(sink_batch_lines),
     "most lines in one write request", 1, 10000000, NULL},
    {"sink-buffer-size", KP_OPT_STRING, "256Mi", OFF(sink_buffer_size),
     "bound of each sink's buffer: bytes (\"256Mi\", of gzipped batches when the sink gzips) "
     "or points (\"2000000points\")",
     0, 0, check_buffer_size},
    {"sink-timeout", KP_OPT_DURATION, "10s", OFF(sink_timeout_s), "timeout of one write request",
     0.001, 3600, NULL},
    {"sink-concurrency", KP_OPT_INT, "2", OFF(sink_concurrency),
     "write requests in flight per sink", 1, 64, NULL},
    {"sink-flush-timeout", KP_OPT_DURATION, "2s", OFF(sink_flush_timeout_s),
     "on shutdown, how long to flush buffered points", 0, 3600, NULL},
    {"metrics-api-listen", KP_OPT_STRING, "", OFF(metrics_api_listen),
     "address of the HTTPS server of the resource metrics API (metrics.k8s.io, for kubectl top "
     "and the HorizontalPodAutoscaler), e.g. :4443; empty: off",
     0, 0, NULL},
    {"tls-cert-file", KP_OPT_STRING, "", OFF(tls_cert_file),
     "serving certificate of the metrics API (PEM, chain after it); re-read when it changes", 0, 0,
     NULL},
    {"tls-private-key-file", KP_OPT_STRING, "", OFF(tls_private_key_file),
     "private key of --tls-cert-file; re-read when it changes", 0, 0, NULL},
    {"metrics-api-advertise-address", KP_OPT_STRING, "", OFF(metrics_api_advertise_address),
     "host at which the other replicas reach this one's metrics API while it leads; default "
     "$POD_IP",
     0, 0, NULL},
    {"metrics-api-ca-file", KP_OPT_STRING, "", OFF(metrics_api_ca_file),
     "CA of the replicas' serving certificates: followers verify the leader with it and serve "
     "a copy of its samples; empty: followers answer only what they collected themselves",
     0, 0, NULL},
    {"metrics-api-peer-server-name", KP_OPT_STRING, "", OFF(metrics_api_peer_server_name),
     "name the leader's serving certificate is verified for (e.g. the Service's DNS name); "
     "default the advertised host",
     0, 0, NULL},
    {"check-release", KP_OPT_BOOL, "false", OFF(check_release),
     "check a running release and exit (the chart's helm test): the Lease --lease-name in "
     "--lease-namespace names a holder whose /status (at its pod IP, the port of --listen) says "
     "it leads, completed a scrape cycle and every sink wrote; exit 0, else 1 with the reason",
     0, 0, NULL},
    {"check-timeout", KP_OPT_DURATION, "120s", OFF(check_timeout_s),
     "how long --check-release waits for all of that", 1, 3600, NULL},
    {"listen", KP_OPT_STRING, ":8080", OFF(listen),
     "address of the status server (/healthz /readyz /metrics /status, Heapster's model API "
     "/api/v1/model/)",
     0, 0, NULL},
    {"disable-metric-sink", KP_OPT_BOOL, "false", OFF(disable_metric_sink),
     "as Heapster's: keep no window of recent batches, so Heapster's model API (/api/v1/model/) "
     "answers 404 (the same as --model-api=off)",
     0, 0, NULL},
    {"model-api", KP_OPT_STRING, NULL, OFF(model_api),
     "Heapster's model API (/api/v1/model/) on the status port: on-demand (the default: its "
     "window records from the first request on, and stops and frees its memory after 15 "
     "minutes without one), always (Heapster's: records from the start; the window is most of "
     "the daemon's memory, docs/benchmarks.md) or off (404)",
     0, 0, check_model_api},
    {"heapster-port", KP_OPT_INT, "0", OFF(heapster_port),
     "Heapster's API port: without --listen, the status server listens on :PORT (all "
     "addresses); run as /heapster (Heapster's manifests) the default is Heapster's 8082, the "
     "port its Service targets; 0: --listen's default",
     0, 65535, NULL},
    {"logging-format", KP_OPT_STRING, "text", OFF(log_format),
     "text (klog's format) or json (component-base's JSON lines), as Kubernetes components take "
     "it",
     0, 0, check_log_format},
    {"v", KP_OPT_INT, "0", OFF(verbosity), "log verbosity", 0, 10, NULL},
    {"vmodule", KP_OPT_STRING, "", OFF(vmodule),
     "comma-separated list of pattern=N settings for file-filtered logging (pattern: a source "
     "file's name without .c, or a glob of it), as klog takes it",
     0, 0, check_vmodule},
    {0},
};

/*
 * Flags of Heapster (metrics/options/options.go and the k8s.io/apiserver options it adds),
 * of glog and of k8s.io/apiserver's logs package that mean nothing here: accepted, so that
 * Heapster's command lines run unchanged, and named in one warning at start. is_bool: the
 * flag takes no value ("--logtostderr" alone means true).
 */
static const struct {
    const char *name;
    bool is_bool;
} ignored_flags[] = {
    /* glog: kubepulse logs to stderr only; --v is a real flag */
    {"logtostderr", true},
    {"alsologtostderr", true},
    {"stderrthreshold", false},
    {"log-dir", false},
    {"log-backtrace-at", false},
    {"log-flush-frequency", false},
    /* Heapster's own */
    {"api-server", true}, /* the Metrics API: see the metrics-API issue */
    {"listen-ip", false},
    {"max-procs", false},
    {"tls-cert", false},
    {"tls-key", false},
    {"tls-client-ca", false},
    {"allowed-users", false},
    {"historical-source", false},
    {"disable-export", true},
    {"sink-export-data-timeout", false},
    /* k8s.io/apiserver serving, authentication, authorization and feature options */
    {"bind-address", false},
    {"secure-port", false},
    {"cert-dir", false},
    {"tls-ca-file", false},
    {"tls-sni-cert-key", false},
    {"public-address-override", false},
    {"requestheader-username-headers", false},
    {"requestheader-group-headers", false},
    {"requestheader-extra-headers-prefix", false},
    {"requestheader-client-ca-file", false},
    {"requestheader-allowed-names", false},
    {"client-ca-file", false},
    {"authentication-kubeconfig", false},
    {"authentication-token-webhook-cache-ttl", false},
    {"authentication-skip-lookup", true},
    {"authorization-kubeconfig", false},
    {"authorization-webhook-cache-authorized-ttl", false},
    {"authorization-webhook-cache-unauthorized-ttl", false},
    {"profiling", true},
    {"contention-profiling", true},
    {"enable-swagger-ui", true},
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void kp_options_init(struct kp_options *o)
{
    char err[256];
    memset(o, 0, sizeof(*o));
    (void)kp_opts_defaults(opts, o, err, sizeof(err));
}

void kp_options_fini(struct kp_options *o)
{
    if (!o)
        return;
    kp_opts_free(opts, o);
    free(o->api_server);
    free(o->api_token_file);
    free(o->ignored);
    free(o->notes);
    o->api_server = o->api_token_file = o->ignored = o->notes = NULL;
}

void kp_print_version(FILE *out)
{
    fprintf(out, "kubepulse %s (commit %s)\n", KP_VERSION, KP_GIT_COMMIT);
}

void kp_options_print_help(FILE *out)
{
    fprintf(out, "kubepulse: highly available Kubernetes resource-metrics collector.\n\n"
                 "Usage: kubepulse [flags]\n\nFlags (each is also a key of the --config file; "
                 "'_' and '-' are the same in names):\n");
    kp_opts_print(opts, out, "--", 42);
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        char flag[64], help[96];
        const struct kp_opt *d = find_opt(aliases[i].name, strlen(aliases[i].name));
        snprintf(flag, sizeof(flag), "--%s %s", aliases[i].alias,
                 d->type == KP_OPT_STRING ? "string" : "");
        snprintf(help, sizeof(help), "alias of --%s", aliases[i].name);
        fprintf(out, "  %-42s %s\n", flag, help);
    }
    fprintf(out, "  %-42s %s\n  %-42s %s\n", "--help", "print this help and exit", "--version",
            "print the version and git commit and exit");
    fprintf(out, "\nAccepted for Heapster's command lines, with a warning, but meaning nothing "
                 "here:\n ");
    int col = 1;
    for (size_t i = 0; i < sizeof ignored_flags / sizeof ignored_flags[0]; i++) {
        int n = (int)strlen(ignored_flags[i].name) + 3;
        if (col + n > 98) {
            fprintf(out, "\n ");
            col = 1;
        }
        col += fprintf(out, " --%s", ignored_flags[i].name);
    }
    fputc('\n', out);
    heapster_source_print_options(out);
    sink_print_options(out);
}

/* ---- YAML config ------------------------------------------------------ */

static int yaml_fail(const char *name, const yaml_parser_t *p, char *err, size_t errlen)
{
    seterr(err, errlen, "%s:%zu: invalid YAML: %s", name, p->problem_mark.line + 1,
           p->problem ? p->problem : "parse error");
    return -1;
}

/* Apply one scalar or sequence value for the key at line. */
static int yaml_value(struct kp_options *o, yaml_parser_t *p, const struct kp_opt *d,
                      const char *key, size_t line, const char *name, char *err, size_t errlen)
{
    char where[512];
    yaml_event_t ev;
    int rc = -1;

    snprintf(where, sizeof(where), "%s:%zu: key \"%s\"", name, line, key);
    if (!yaml_parser_parse(p, &ev))
        return yaml_fail(name, p, err, errlen);
    if (ev.type == YAML_SCALAR_EVENT) {
        rc = kp_opt_set(d, o, (const char *)ev.data.scalar.value, where, err, errlen);
    } else if (ev.type == YAML_SEQUENCE_START_EVENT && d->type == KP_OPT_LIST) {
        rc = 0;
        for (;;) {
            yaml_event_t item;
            if (!yaml_parser_parse(p, &item)) {
                rc = yaml_fail(name, p, err, errlen);
                break;
            }
            if (item.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&item);
                break;
            }
            if (item.type != YAML_SCALAR_EVENT) {
                seterr(err, errlen, "%s:%zu: key \"%s\": list items must be strings", name,
                       item.start_mark.line + 1, key);
                yaml_event_delete(&item);
                rc = -1;
                break;
            }
            rc = kp_opt_set(d, o, (const char *)item.data.scalar.value, where, err, errlen);
            yaml_event_delete(&item);
            if (rc < 0)
                break;
        }
    } else {
        seterr(err, errlen, "%s: expected a %s", where,
               d->type == KP_OPT_LIST ? "string or a list of strings" : "single value");
    }
    yaml_event_delete(&ev);
    return rc;
}

int kp_options_load_yaml(struct kp_options *o, const char *text, size_t len, const char *name,
                         char *err, size_t errlen)
{
    yaml_parser_t p;
    yaml_event_t ev;
    int depth = 0, rc = -1;
    bool done = false, list_from_file = false;

    if (!yaml_parser_initialize(&p)) {
        seterr(err, errlen, "%s: out of memory", name);
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            yaml_fail(name, &p, err, errlen);
            goto out;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: break;
        case YAML_MAPPING_START_EVENT:
            if (depth++ > 0) {
                seterr(err, errlen, "%s:%zu: nested mappings are not options", name,
                       ev.start_mark.line + 1);
                goto fail_ev;
            }
            break;
        case YAML_MAPPING_END_EVENT: depth--; break;
        case YAML_SCALAR_EVENT: {
            const char *key = (const char *)ev.data.scalar.value;
            size_t line = ev.start_mark.line + 1;
            if (depth != 1) {
                if (!*key && depth == 0)
                    break; /* an empty document */
                seterr(err, errlen, "%s:%zu: the config must be a mapping of option: value", name,
                       line);
                goto fail_ev;
            }
            const struct kp_opt *d = find_opt(key, strlen(key));
            if (!d || strcmp(d->name, "config") == 0) {
                seterr(err, errlen, "%s:%zu: unknown key \"%s\" (see kubepulse --help)", name, line,
                       key);
                goto fail_ev;
            }
            if (d->type == KP_OPT_LIST && !list_from_file) {
                kp_strlist_clear((struct kp_strlist *)((char *)o + d->offset));
                list_from_file = true;
            }
            if (yaml_value(o, &p, d, key, line, name, err, errlen) < 0)
                goto fail_ev;
            break;
        }
        default:
            seterr(err, errlen, "%s:%zu: the config must be a mapping of option: value", name,
                   ev.start_mark.line + 1);
            goto fail_ev;
        }
        yaml_event_delete(&ev);
    }
    rc = 0;
    goto out;
fail_ev:
    yaml_event_delete(&ev);
out:
    yaml_parser_delete(&p);
    return rc;
}

int kp_options_load_file(struct kp_options *o, const char *path, char *err, size_t errlen)
{
    char *buf, rerr[512];
    size_t len;
    if (kp_read_file(path, KP_CONFIG_MAX_BYTES, &buf, &len, rerr, sizeof(rerr)) < 0) {
        seterr(err, errlen, "cannot read the config file: %s", rerr);
        return -1;
    }
    int rc = kp_options_load_yaml(o, buf, len, path, err, errlen);
    free(buf);
    return rc;
}

/* ---- flags ------------------------------------------------------------- */

static int ignored_flag(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof ignored_flags / sizeof ignored_flags[0]; i++) {
        const struct kp_opt one[] = {{.name = ignored_flags[i].name}, {0}};
        if (kp_opts_find(one, name, n, true))
            return (int)i;
    }
    return -1;
}

/* Add "--name" to o->ignored once. */
static int note_ignored(struct kp_options *o, const char *name)
{
    size_t have = o->ignored ? strlen(o->ignored) : 0, n = strlen(name);
    if (o->ignored) {
        for (const char *p = o->ignored; (p = strstr(p, name)) != NULL; p += n)
            if (p[-1] == '-' && (p[n] == ',' || !p[n]))
                return 0;
    }
    char *s = realloc(o->ignored, have + n + 5);
    if (!s)
        return -1;
    sprintf(s + have, "%s--%s", have ? ", " : "", name);
    o->ignored = s;
    return 0;
}

static bool is_bool_text(const char *s)
{
    bool b;
    return kp_parse_bool(s, &b) == 0;
}

static int apply_flags(struct kp_options *o, int argc, char **argv, bool only_config, char *err,
                       size_t errlen)
{
    bool list_from_flags = false;
    int sources = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val;
        char where[160];
        if (arg[0] != '-' || !arg[1]) {
            seterr(err, errlen, "unexpected argument \"%s\" (flags start with --)", arg);
            return -1;
        }
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        val = eq ? eq + 1 : NULL;
        /* Heapster's --version is a boolean: --version=false is no request */
        if (nlen == 7 && strncmp(name, "version", 7) == 0 && val && strcmp(val, "false") == 0)
            continue;
        const struct kp_opt *d = find_opt(name, nlen);
        int ig = d ? -1 : ignored_flag(name, nlen);
        if (!d && ig < 0) {
            seterr(err, errlen, "unknown flag %.*s (see kubepulse --help)", (int)strcspn(arg, "="),
                   arg);
            return -1;
        }
        bool is_bool = d ? d->type == KP_OPT_BOOL : ignored_flags[ig].is_bool;
        if (!val) {
            if (is_bool && (i + 1 >= argc || !is_bool_text(argv[i + 1])))
                val = "true";
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                seterr(err, errlen, "flag --%s needs a value",
                       d ? d->name : ignored_flags[ig].name);
                return -1;
            }
        }
        if (!d) {
            if (!only_config && note_ignored(o, ignored_flags[ig].name) < 0) {
                seterr(err, errlen, "out of memory");
                return -1;
            }
            continue;
        }
        if (only_config != (strcmp(d->name, "config") == 0))
            continue;
        /* named as typed (an alias stays an alias), with Heapster's '_' made '-' */
        snprintf(where, sizeof(where), "flag --%.*s", (int)nlen, name);
        for (char *p = where + 7; *p; p++)
            *p = *p == '_' ? '-' : *p;
        if (d->offset == offsetof(struct kp_options, source) && ++sources > 1) {
            seterr(err, errlen,
                   "flag --source: given twice; kubepulse has one source, kubernetes: (Heapster's "
                   "other sources are not supported)");
            return -1;
        }
        if (d->type == KP_OPT_LIST && !list_from_flags) {
            /* flags replace the file's list rather than extend it */
            kp_strlist_clear((struct kp_strlist *)((char *)o + d->offset));
            list_from_flags = true;
        }
        if (kp_opt_set(d, o, val, where, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Whether flag NAME is on the command line (either spelling, '_' or '-'). */
static bool flag_given(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-')
            continue;
        a += a[1] == '-' ? 2 : 1;
        size_t k = 0;
        while (k < n && a[k] && (a[k] == name[k] || (a[k] == '_' && name[k] == '-')))
            k++;
        if (k == n && (a[k] == '\0' || a[k] == '='))
            return true;
    }
    return false;
}

/*
 * Heapster served its API on --heapster-port (8082), the port its Service targets. Without
 * --listen (flag or config file), --heapster-port=N means --listen=:N, and run as "heapster"
 * (the image's /heapster, which Heapster's manifests run) the default is Heapster's 8082.
 */
static int heapster_listen(struct kp_options *o, int argc, char **argv, bool listen_from_file,
                           char *err, size_t errlen)
{
    if (listen_from_file || flag_given(argc, argv, "listen"))
        return 0;
    long port = o->heapster_port;
    if (port == 0 && argc > 0 && argv[0]) {
        const char *base = strrchr(argv[0], '/');
        if (strcmp(base ? base + 1 : argv[0], "heapster") == 0)
            port = 8082;
    }
    if (port == 0)
        return 0;
    char buf[16];
    snprintf(buf, sizeof(buf), ":%ld", port);
    char *listen = strdup(buf);
    if (!listen) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    free(o->listen);
    o->listen = listen;
    return 0;
}

enum kp_options_result kp_options_parse(struct kp_options *o, int argc, char **argv, FILE *out,
                                        char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || !strcmp(argv[i], "-help")) {
            kp_options_print_help(out);
            return KP_OPTIONS_EXIT_OK;
        }
        if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-version") ||
            !strcmp(argv[i], "--version=true")) {
            kp_print_version(out);
            return KP_OPTIONS_EXIT_OK;
        }
    }
    /* --config first, so that every other flag overrides the file. */
    if (apply_flags(o, argc, argv, true, err, errlen) < 0)
        return KP_OPTIONS_EXIT_ERROR;
    if (o->config && *o->config && kp_options_load_file(o, o->config, err, errlen) < 0)
        return KP_OPTIONS_EXIT_ERROR;
    bool listen_from_file = strcmp(o->listen, ":8080") != 0;
    if (apply_flags(o, argc, argv, false, err, errlen) < 0)
        return KP_OPTIONS_EXIT_ERROR;
    if (heapster_listen(o, argc, argv, listen_from_file, err, errlen) < 0)
        return KP_OPTIONS_EXIT_ERROR;
    if (kp_options_apply_source(o, err, errlen) < 0)
        return KP_OPTIONS_EXIT_ERROR;
    if (kp_options_validate(o, err, errlen) < 0)
        return KP_OPTIONS_EXIT_ERROR;
    return KP_OPTIONS_RUN;
}

int kp_options_validate(const struct kp_options *o, char *err, size_t errlen)
{
    char e[512];
    /* client-go's rules, stated and checked by the elector (elector_check_timing). */
    if (elector_check_timing(o->lease_duration_s, o->renew_deadline_s, o->retry_period_s, e,
                             sizeof e) < 0) {
        seterr(err, errlen, "flags --lease-duration, --renew-deadline, --retry-period: %s", e);
        return -1;
    }
    size_t nstore = 0;
    for (size_t i = 0; i < o->store_labels.n; i++)
        for (const char *p = o->store_labels.v[i]; p; p = strchr(p + 1, ','))
            nstore++;
    if (nstore > KP_MAX_STORED_LABELS) {
        seterr(err, errlen,
               "flag --store-label: at most %d labels (a series has room for %d "
               "tags beyond Heapster's)",
               KP_MAX_STORED_LABELS, KP_MAX_STORED_LABELS);
        return -1;
    }
    if (o->disable_metric_sink && o->model_api && *o->model_api &&
        strcmp(o->model_api, "off") != 0) {
        seterr(err, errlen,
               "flags --disable-metric-sink and --model-api=%s conflict: --disable-metric-sink "
               "turns Heapster's model API off; give one of them (--model-api=off is the same)",
               o->model_api);
        return -1;
    }
    if (o->kubelet_timeout_s >= o->metric_resolution_s) {
        seterr(err, errlen, "flag --kubelet-timeout must be shorter than --metric-resolution");
        return -1;
    }
    struct collector_opts scope = {.node_selector = o->node_selector,
                                   .metric_allow = o->metric_allow,
                                   .metric_deny = o->metric_deny,
                                   .namespace_include = o->namespace_include,
                                   .namespace_exclude = o->namespace_exclude};
    if (collector_scope_check(&scope, err, errlen) < 0)
        return -1;
    if (o->metrics_api_listen && *o->metrics_api_listen &&
        (!o->tls_cert_file || !*o->tls_cert_file || !o->tls_private_key_file ||
         !*o->tls_private_key_file)) {
        seterr(err, errlen,
               "flag --metrics-api-listen needs --tls-cert-file and --tls-private-key-file");
        return -1;
    }
    for (size_t i = 0; i < o->sinks.n; i++) {
        if (sink_check(o->sinks.v[i], e, sizeof e) < 0) {
            seterr(err, errlen, "flag %s (#%zu)", e, i + 1);
            return -1;
        }
    }
    return 0;
}
