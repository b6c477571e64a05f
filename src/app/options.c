/*
 * options.c - the option table, the flag parser, the YAML config loader and
 * the cross-option checks. Flags override the config file.
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

#include "util.h"

#ifndef KP_VERSION
#define KP_VERSION "0.0.0"
#endif
#ifndef KP_GIT_COMMIT
#define KP_GIT_COMMIT "unknown"
#endif

#define KP_CONFIG_MAX_BYTES (1 << 20)

enum opt_type { OPT_STRING, OPT_BOOL, OPT_LONG, OPT_BYTES, OPT_DURATION, OPT_LIST };

struct opt_desc {
    const char *name; /* flag without "--", and config key */
    enum opt_type type;
    size_t offset;
    const char *defval; /* as text, shown by --help and applied by kp_options_init */
    const char *help;
    long min, max; /* OPT_LONG bounds */
};

#define OFF(f) offsetof(struct kp_options, f)

static const struct opt_desc opts[] = {
    {"config", OPT_STRING, OFF(config), "",
     "YAML file with any of these options (keys are flag names)", 0, 0},
    {"kubeconfig", OPT_STRING, OFF(kubeconfig), "",
     "kubeconfig file; default $KUBECONFIG, in-cluster config, ~/.kube/config", 0, 0},
    {"context", OPT_STRING, OFF(context), "", "kubeconfig context; default its current-context", 0,
     0},
    {"leader-elect", OPT_BOOL, OFF(leader_elect), "true",
     "take part in Lease leader election (false: always lead; only for one replica)", 0, 0},
    {"identity", OPT_STRING, OFF(identity), "",
     "this replica's identity in the Lease; default $POD_NAME, else hostname plus a random suffix",
     0, 0},
    {"lease-name", OPT_STRING, OFF(lease_name), "kubepulse",
     "name of the coordination.k8s.io/v1 Lease", 0, 0},
    {"lease-namespace", OPT_STRING, OFF(lease_namespace), "",
     "namespace of the Lease; default the in-cluster namespace, else \"default\"", 0, 0},
    {"lease-duration", OPT_DURATION, OFF(lease_duration_s), "15s",
     "how long followers wait after the last observed change before taking over", 0, 0},
    {"renew-deadline", OPT_DURATION, OFF(renew_deadline_s), "10s",
     "the leader steps down when it could not renew for this long", 0, 0},
    {"retry-period", OPT_DURATION, OFF(retry_period_s), "2s",
     "interval between renew and acquire attempts", 0, 0},
    {"metric-resolution", OPT_DURATION, OFF(metric_resolution_s), "15s",
     "scrape interval; cycles start on wall-clock multiples of it", 0, 0},
    {"kubelet-preferred-address-types", OPT_STRING, OFF(kubelet_preferred_address_types),
     "InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP",
     "node address types to try, in order", 0, 0},
    {"kubelet-port", OPT_LONG, OFF(kubelet_port), "10250",
     "kubelet port when the Node does not publish daemonEndpoints", 1, 65535},
    {"kubelet-certificate-authority", OPT_STRING, OFF(kubelet_certificate_authority), "",
     "CA file for kubelet certificates; default the cluster CA", 0, 0},
    {"kubelet-token-file", OPT_STRING, OFF(kubelet_token_file), "",
     "bearer token file for kubelets (re-read when it changes); default the API credential's "
     "token. The API client certificate, if any, is presented to kubelets too",
     0, 0},
    {"kubelet-insecure-tls", OPT_BOOL, OFF(kubelet_insecure_tls), "false",
     "do not verify kubelet certificates (logs a warning)", 0, 0},
    {"kubelet-timeout", OPT_DURATION, OFF(kubelet_timeout_s), "10s",
     "timeout of one kubelet scrape", 0, 0},
    {"kubelet-max-concurrency", OPT_LONG, OFF(kubelet_max_concurrency), "256",
     "kubelet scrapes in flight at once", 1, 100000},
    {"kubelet-max-body-size", OPT_BYTES, OFF(kubelet_max_body_bytes), "64Mi",
     "largest Summary response accepted from one kubelet", 0, 0},
    {"watch-pods", OPT_BOOL, OFF(watch_pods), "true", "watch Pods for labels, requests and limits",
     0, 0},
    {"source", OPT_STRING, OFF(source), "",
     "Heapster source URI, e.g. kubernetes:https://kubernetes.default?inClusterConfig=true", 0, 0},
    {"sink", OPT_LIST, OFF(sinks), "",
     "sink URI, repeatable: influxdb:http://HOST:8086?db=k8s, influxdb2:URL?org=O&bucket=B, log", 0,
     0},
    {"sink-batch-lines", OPT_LONG, OFF(sink_batch_lines), "5000", "most lines in one write request",
     1, 10000000},
    {"sink-buffer-size", OPT_STRING, OFF(sink_buffer_size), "256Mi",
     "bound of each sink's buffer: bytes (\"256Mi\", of gzipped batches when the sink gzips) "
     "or points (\"2000000points\")",
     0, 0},
    {"sink-timeout", OPT_DURATION, OFF(sink_timeout_s), "10s", "timeout of one write request", 0,
     0},
    {"sink-concurrency", OPT_LONG, OFF(sink_concurrency), "2", "write requests in flight per sink",
     1, 64},
    {"sink-flush-timeout", OPT_DURATION, OFF(sink_flush_timeout_s), "2s",
     "on shutdown, how long to flush buffered points", 0, 0},
    {"listen", OPT_STRING, OFF(listen), ":8080",
     "address of the status server (/healthz /readyz /metrics /status)", 0, 0},
    {"log-format", OPT_STRING, OFF(log_format), "text", "text (klog style) or json", 0, 0},
    {"v", OPT_LONG, OFF(verbosity), "0", "log verbosity", 0, 10},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int kp_parse_duration(const char *s, double *seconds)
{
    static const struct {
        const char *unit;
        double scale;
    } units[] = {
        {"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600},
    };
    double total = 0;
    const char *p = s;

    if (!s || !*s)
        return -1;
    if (strcmp(s, "0") == 0) {
        *seconds = 0;
        return 0;
    }
    while (*p) {
        char *end;
        size_t best = 0;
        double scale = 0;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v))
            return -1;
        p = end;
        /* Longest unit that matches ("ms" before "m"). */
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t n = strlen(units[i].unit);
            if (n > best && strncmp(p, units[i].unit, n) == 0) {
                best = n;
                scale = units[i].scale;
            }
        }
        if (!best)
            return -1;
        p += best;
        total += v * scale;
    }
    if (!isfinite(total) || total > 1e9)
        return -1;
    *seconds = total;
    return 0;
}

/* "64Mi", "1G", "4096": binary (Ki, Mi, Gi) and decimal (k, M, G) suffixes. */
static int parse_bytes(const char *s, long long *out)
{
    static const struct {
        const char *sfx;
        long long mul;
    } sfx[] = {
        {"Ki", 1LL << 10}, {"Mi", 1LL << 20}, {"Gi", 1LL << 30},   {"Ti", 1LL << 40}, {"k", 1000LL},
        {"K", 1000LL},     {"M", 1000000LL},  {"G", 1000000000LL}, {"", 1},
    };
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || v < 0)
        return -1;
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        if (strcmp(end, sfx[i].sfx) == 0) {
            if (v > LLONG_MAX / sfx[i].mul)
                return -1;
            *out = v * sfx[i].mul;
            return 0;
        }
    }
    return -1;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes"))
        *out = true;
    else if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no"))
        *out = false;
    else
        return -1;
    return 0;
}

static const struct opt_desc *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static void clear_list(struct kp_options *o)
{
    for (size_t i = 0; i < o->nsinks; i++) {
        free(o->sinks[i]);
        o->sinks[i] = NULL;
    }
    o->nsinks = 0;
}

/* Store one value; where names the origin for messages ("flag --x", "file:3: key x"). */
static int set_opt(struct kp_options *o, const struct opt_desc *d, const char *val,
                   const char *where, char *err, size_t errlen)
{
    char *base = (char *)o + d->offset;
    char *end;

    switch (d->type) {
    case OPT_STRING: {
        char **dst = (char **)base;
        char *copy = strdup(val);
        if (!copy)
            goto oom;
        free(*dst);
        *dst = copy;
        return 0;
    }
    case OPT_LIST: {
        if (!*val)
            return 0;
        if (o->nsinks >= KP_MAX_SINKS) {
            seterr(err, errlen, "%s: at most %d values are allowed", where, KP_MAX_SINKS);
            return -1;
        }
        if (!(o->sinks[o->nsinks] = strdup(val)))
            goto oom;
        o->nsinks++;
        return 0;
    }
    case OPT_BOOL:
        if (parse_bool(val, (bool *)base) < 0) {
            seterr(err, errlen, "%s: invalid boolean \"%s\" (use true or false)", where, val);
            return -1;
        }
        return 0;
    case OPT_LONG: {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < d->min || v > d->max) {
            seterr(err, errlen, "%s: invalid value \"%s\" (an integer from %ld to %ld)", where, val,
                   d->min, d->max);
            return -1;
        }
        *(long *)base = v;
        return 0;
    }
    case OPT_BYTES:
        if (parse_bytes(val, (long long *)base) < 0) {
            seterr(err, errlen, "%s: invalid size \"%s\" (e.g. 4096, 64Ki, 64Mi, 1Gi)", where, val);
            return -1;
        }
        return 0;
    case OPT_DURATION:
        if (kp_parse_duration(val, (double *)base) < 0) {
            seterr(err, errlen, "%s: invalid duration \"%s\" (e.g. 500ms, 15s, 1m)", where, val);
            return -1;
        }
        return 0;
    }
    return -1;
oom:
    seterr(err, errlen, "%s: out of memory", where);
    return -1;
}

void kp_options_init(struct kp_options *o)
{
    char err[256];
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type != OPT_LIST)
            (void)set_opt(o, &opts[i], opts[i].defval, "default", err, sizeof(err));
}

void kp_options_fini(struct kp_options *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type == OPT_STRING) {
            char **p = (char **)((char *)o + opts[i].offset);
            free(*p);
            *p = NULL;
        }
    clear_list(o);
}

void kp_print_version(FILE *out)
{
    fprintf(out, "kubepulse %s (commit %s)\n", KP_VERSION, KP_GIT_COMMIT);
}

void kp_options_print_help(FILE *out)
{
    static const char *const tname[] = {"string", "", "int", "size", "duration", "uri"};
    fprintf(out, "kubepulse: highly available Kubernetes resource-metrics collector.\n\n"
                 "Usage: kubepulse [flags]\n\nFlags (each is also a key of the --config file):\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt_desc *d = &opts[i];
        char head[96];
        snprintf(head, sizeof(head), "--%s %s", d->name, tname[d->type]);
        fprintf(out, "  %-42s %s", head, d->help);
        if (*d->defval)
            fprintf(out, " (default %s)", d->defval);
        fputc('\n', out);
    }
    fprintf(out, "  %-42s %s\n  %-42s %s\n", "--help", "print this help and exit", "--version",
            "print the version and git commit and exit");
}

/* ---- YAML config ------------------------------------------------------ */

static int yaml_fail(const char *name, const yaml_parser_t *p, char *err, size_t errlen)
{
    seterr(err, errlen, "%s:%zu: invalid YAML: %s", name, p->problem_mark.line + 1,
           p->problem ? p->problem : "parse error");
    return -1;
}

/* Apply one scalar or sequence value for the key at line. */
static int yaml_value(struct kp_options *o, yaml_parser_t *p, const struct opt_desc *d,
                      const char *key, size_t line, const char *name, char *err, size_t errlen)
{
    char where[512];
    yaml_event_t ev;
    int rc = -1;

    snprintf(where, sizeof(where), "%s:%zu: key \"%s\"", name, line, key);
    if (!yaml_parser_parse(p, &ev))
        return yaml_fail(name, p, err, errlen);
    if (ev.type == YAML_SCALAR_EVENT) {
        rc = set_opt(o, d, (const char *)ev.data.scalar.value, where, err, errlen);
    } else if (ev.type == YAML_SEQUENCE_START_EVENT && d->type == OPT_LIST) {
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
            rc = set_opt(o, d, (const char *)item.data.scalar.value, where, err, errlen);
            yaml_event_delete(&item);
            if (rc < 0)
                break;
        }
    } else {
        seterr(err, errlen, "%s: expected a %s", where,
               d->type == OPT_LIST ? "string or a list of strings" : "single value");
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
            const struct opt_desc *d = find_opt(key, strlen(key));
            if (!d || strcmp(key, "config") == 0) {
                seterr(err, errlen, "%s:%zu: unknown key \"%s\" (see kubepulse --help)", name, line,
                       key);
                goto fail_ev;
            }
            if (d->type == OPT_LIST && !list_from_file) {
                clear_list(o);
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

/* Split "--name=value" / "--name value" / "-name"; returns the option or NULL. */
static const struct opt_desc *flag_lookup(const char *arg, const char **inline_val)
{
    const char *name = arg + (arg[1] == '-' ? 2 : 1);
    const char *eq = strchr(name, '=');
    *inline_val = eq ? eq + 1 : NULL;
    return find_opt(name, eq ? (size_t)(eq - name) : strlen(name));
}

static int apply_flags(struct kp_options *o, int argc, char **argv, bool only_config, char *err,
                       size_t errlen)
{
    bool list_from_flags = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val;
        char where[160];
        if (arg[0] != '-' || !arg[1]) {
            seterr(err, errlen, "unexpected argument \"%s\" (flags start with --)", arg);
            return -1;
        }
        const struct opt_desc *d = flag_lookup(arg, &val);
        if (!d) {
            seterr(err, errlen, "unknown flag %.*s (see kubepulse --help)", (int)strcspn(arg, "="),
                   arg);
            return -1;
        }
        if (!val) {
            if (d->type == OPT_BOOL && (i + 1 >= argc || parse_bool(argv[i + 1], &(bool){0}) < 0))
                val = "true";
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                seterr(err, errlen, "flag --%s needs a value", d->name);
                return -1;
            }
        }
        if (only_config != (strcmp(d->name, "config") == 0))
            continue;
        snprintf(where, sizeof(where), "flag --%s", d->name);
        if (d->type == OPT_LIST && !list_from_flags) {
            clear_list(o); /* flags replace the file's list rather than extend it */
            list_from_flags = true;
        }
        if (set_opt(o, d, val, where, err, errlen) < 0)
            return -1;
    }
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
        if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-version")) {
            kp_print_version(out);
            return KP_OPTIONS_EXIT_OK;
        }
    }
    /* --config first, so that every other flag overrides the file. */
    if (apply_flags(o, argc, argv, true, err, errlen) < 0)
        return KP_OPTIONS_EXIT_ERROR;
    if (o->config && *o->config && kp_options_load_file(o, o->config, err, errlen) < 0)
        return KP_OPTIONS_EXIT_ERROR;
    if (apply_flags(o, argc, argv, false, err, errlen) < 0)
        return KP_OPTIONS_EXIT_ERROR;
    if (kp_options_validate(o, err, errlen) < 0)
        return KP_OPTIONS_EXIT_ERROR;
    return KP_OPTIONS_RUN;
}

int kp_options_validate(const struct kp_options *o, char *err, size_t errlen)
{
    /* client-go's rules (leaderelection.NewLeaderElector; 1.2 is its JitterFactor). */
    if (o->lease_duration_s <= o->renew_deadline_s) {
        seterr(err, errlen, "flag --lease-duration must be greater than --renew-deadline");
        return -1;
    }
    if (o->renew_deadline_s <= 1.2 * o->retry_period_s) {
        seterr(err, errlen, "flag --renew-deadline must be greater than 1.2 x --retry-period");
        return -1;
    }
    if (o->lease_duration_s < 1 || o->retry_period_s < 0.1) {
        seterr(err, errlen,
               "flag --lease-duration must be at least 1s and --retry-period at "
               "least 100ms");
        return -1;
    }
    if (o->metric_resolution_s < 1 || o->metric_resolution_s > 3600) {
        seterr(err, errlen, "flag --metric-resolution must be between 1s and 1h");
        return -1;
    }
    if (o->kubelet_timeout_s <= 0 || o->kubelet_timeout_s >= o->metric_resolution_s) {
        seterr(err, errlen,
               "flag --kubelet-timeout must be positive and shorter than "
               "--metric-resolution");
        return -1;
    }
    if (o->sink_timeout_s <= 0) {
        seterr(err, errlen, "flag --sink-timeout must be positive");
        return -1;
    }
    if (strcmp(o->log_format, "text") && strcmp(o->log_format, "json")) {
        seterr(err, errlen, "flag --log-format: invalid value \"%s\" (text or json)",
               o->log_format);
        return -1;
    }
    return 0;
}
