/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_options.c - flags, the YAML config file and their precedence.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kp_test.h"
#include "options.h"
#include "parse_quiet.h"

static enum kp_options_result parse(struct kp_options *o, char *err, size_t errlen, ...)
{
    char *argv[32] = {"kubepulse"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    return parse_quiet(o, argc, argv, err, errlen);
}

KP_TEST(test_defaults)
{
    (void)state;
    struct kp_options o;
    char err[256] = "";
    assert_int_equal(parse(&o, err, sizeof(err), NULL), KP_OPTIONS_RUN);
    assert_true(o.lease_duration_s == 15 && o.renew_deadline_s == 10 && o.retry_period_s == 2);
    assert_true(o.metric_resolution_s == 60);
    assert_string_equal(o.lease_name, "kubepulse");
    assert_int_equal(o.kubelet_port, 10250);
    assert_int_equal(o.kubelet_max_body_bytes, 64LL << 20);
    assert_int_equal(o.kubelet_max_concurrency, 64); /* docs/metrics.md: why 64 */
    assert_true(o.leader_elect);
    assert_false(o.kubelet_insecure_tls);
    assert_int_equal(o.sinks.n, 0);
    kp_options_fini(&o);
}

KP_TEST(test_flag_forms)
{
    (void)state;
    struct kp_options o;
    char err[256] = "";
    assert_int_equal(parse(&o, err, sizeof(err), "--lease-duration=20s", "--retry-period", "3s",
                           "-kubelet-insecure-tls", "--sink", "log",
                           "--sink=influxdb:"
                           "http://127.0.0.1:8086?db=k8s",
                           "--v=3", NULL),
                     KP_OPTIONS_RUN);
    assert_true(o.lease_duration_s == 20);
    assert_true(o.retry_period_s == 3);
    assert_true(o.kubelet_insecure_tls);
    assert_int_equal(o.sinks.n, 2);
    assert_string_equal(o.sinks.v[1], "influxdb:http://127.0.0.1:8086?db=k8s");
    assert_int_equal(o.verbosity, 3);
    kp_options_fini(&o);
}

static void expect_error(const char *needle, ...)
{
    struct kp_options o;
    char err[512] = "";
    char *argv[8] = {"kubepulse"};
    int argc = 1;
    va_list ap;
    va_start(ap, needle);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    kp_options_init(&o);
    assert_int_equal(kp_options_parse(&o, argc, argv, stdout, err, sizeof(err)),
                     KP_OPTIONS_EXIT_ERROR);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
    kp_options_fini(&o);
}

KP_TEST(test_bad_flags_name_the_flag)
{
    (void)state;
    expect_error("unknown flag --nope", "--nope=1", NULL);
    expect_error("--kubelet-port", "--kubelet-port=70000", NULL);
    expect_error("--lease-duration", "--lease-duration=soon", NULL);
    expect_error("--kubelet-max-body-size", "--kubelet-max-body-size=12Q", NULL);
    expect_error("leaseDuration must be greater than renewDeadline", "--lease-duration=10s", NULL);
    expect_error("renewDeadline must be greater than retryPeriod*JitterFactor (1.2)",
                 "--retry-period=9s", NULL);
    expect_error("--log-format", "--log-format=xml", NULL);
    expect_error("needs a value", "--identity", NULL);
    expect_error("--leader-elect", "--leader-elect=maybe", NULL);
}

/* Every setting is refused at flag time, before the daemon connects anywhere: what the
 * elector or a sink would refuse later is refused by kp_options_parse. */
KP_TEST(test_refused_at_flag_time)
{
    (void)state;
    /* Accepted by the option table before, then refused by the elector with API access open:
     * client-go's and the elector's rules, one owner (elector_check_timing). */
    expect_error("--retry-period: retryPeriod must be at least 1s", "--retry-period=500ms", NULL);
    expect_error("renewDeadline must be at least 1s", "--renew-deadline=500ms", "--retry-period=1s",
                 NULL);
    expect_error("unknown option \"bogus\" in --sink=influxdb",
                 "--sink=influxdb:http://h:8086?bogus=1", NULL);
    expect_error("option \"retention\": \"forever\" is not a duration",
                 "--sink=influxdb:http://h:8086?retention=forever", NULL);
    expect_error("give only one of pw, pwFile and pwEnv", "--sink=influxdb:http://h?pw=a&pwEnv=B",
                 NULL);
    expect_error("needs org= and bucket=", "--sink=influxdb2:http://h:8086", NULL);
    expect_error("unknown sink \"graphite\"", "--sink=graphite:tcp://h", NULL);
    expect_error("--sink=log takes no target", "--sink=log:stdout", NULL);
    /* the elector's rules for its names, asked at flag time */
    expect_error("flag --lease-name: lease name must be a DNS subdomain", "--lease-name=Pulse_1",
                 NULL);
    expect_error("flag --lease-namespace: lease namespace must be a DNS label",
                 "--lease-namespace=a.b", NULL);
    static char longid[1100 + 12];
    memset(longid, 'x', sizeof longid - 1);
    memcpy(longid, "--identity=", 11);
    expect_error("flag --identity: identity is too long", longid, NULL);
    expect_error("is not http(s)://HOST[:PORT]", "--sink=influxdb:h:8086", NULL);
    expect_error("flag --sink-buffer-size: invalid size \"12Q\"", "--sink-buffer-size=12Q", NULL);
    expect_error("flag --metric-resolution: 0.5s is out of range", "--metric-resolution=0.5s",
                 NULL);
    expect_error("--kubelet-timeout must be shorter than --metric-resolution",
                 "--kubelet-timeout=60s", NULL);
    expect_error("--source: unknown option \"bogus\"", "--source=kubernetes:?bogus=1", NULL);
    expect_error("flag --log-format: invalid value \"xml\"", "--log-format=xml", NULL);
    expect_error("flag --store-label: \"type\" is one of Heapster's own tags", "--store_label=type",
                 NULL);
    expect_error("flag --store-label: \"=app\" is not name or newName=name", "--store_label==app",
                 NULL);
    expect_error("flag --store-label: at most 4 labels", "--store_label=a,b,c", "--store-label=d,e",
                 NULL);
}

/* Heapster's flags: '_' and '-' alike; glog's and Heapster's meaningless flags accepted and
 * named once. */
KP_TEST(test_heapster_flag_spellings)
{
    (void)state;
    struct kp_options o;
    char err[512] = "";
    assert_int_equal(parse(&o, err, sizeof(err), "--metric_resolution=60s", "--sink_timeout", "5s",
                           "--logtostderr", "--v=2", "--stderrthreshold", "INFO",
                           "--alsologtostderr=false", "--log_dir=/tmp", "--vmodule=x=2",
                           "--api-server", "--heapster-port=8082", "--logtostderr=true",
                           "--tls_cert", "/c", "--max_procs=2", NULL),
                     KP_OPTIONS_RUN);
    assert_true(o.metric_resolution_s == 60);
    assert_true(o.sink_timeout_s == 5);
    assert_int_equal(o.verbosity, 2);
    assert_non_null(o.ignored);
    assert_string_equal(o.ignored, "--logtostderr, --stderrthreshold, --alsologtostderr, "
                                   "--log-dir, --api-server, --tls-cert, --max-procs");
    kp_options_fini(&o);
    /* A real flag stays real in both spellings; an unknown one is still an error. */
    expect_error("unknown flag --metric_resolutions", "--metric_resolutions=60s", NULL);
    expect_error("flag --lease-name needs a value", "--lease_name", NULL);
    expect_error("flag --source: given twice",
                 "--source=kubernetes:", "--source=kubernetes:", NULL);
    /* --disable_metric_sink acts (no model API window), in both spellings, and is not named
     * among the ignored */
    assert_int_equal(parse(&o, err, sizeof(err), NULL), KP_OPTIONS_RUN);
    assert_false(o.disable_metric_sink);
    kp_options_fini(&o);
    assert_int_equal(parse(&o, err, sizeof(err), "--disable_metric_sink", "--logtostderr", NULL),
                     KP_OPTIONS_RUN);
    assert_true(o.disable_metric_sink);
    assert_string_equal(o.ignored, "--logtostderr");
    kp_options_fini(&o);
    assert_int_equal(parse(&o, err, sizeof(err), "--disable-metric-sink=false", NULL),
                     KP_OPTIONS_RUN);
    assert_false(o.disable_metric_sink);
    kp_options_fini(&o);
    /* Heapster's --version is a boolean flag: false asks for nothing */
    assert_int_equal(parse(&o, err, sizeof(err), "--version=false", "--v=1", NULL), KP_OPTIONS_RUN);
    assert_int_equal(o.verbosity, 1);
    kp_options_fini(&o);
}

/* --model-api: on-demand by default; always; off; --disable_metric_sink is off, and given
 * together with --model-api=on-demand or always it is an error naming both flags. */
KP_TEST(test_model_api)
{
    (void)state;
    struct kp_options o;
    char err[512];
    assert_int_equal(parse(&o, err, sizeof(err), NULL), KP_OPTIONS_RUN);
    assert_int_equal(kp_options_model_api(&o), KP_MODEL_API_ON_DEMAND);
    assert_null(o.model_api); /* not given: no default text a check would refuse */
    assert_string_equal(o.log_format, "text");
    kp_options_fini(&o);
    static const struct {
        const char *a, *b;
        enum kp_model_api want;
    } ok[] = {
        {"--model-api=on-demand", NULL, KP_MODEL_API_ON_DEMAND},
        {"--model-api=always", NULL, KP_MODEL_API_ALWAYS},
        {"--model_api=off", NULL, KP_MODEL_API_OFF},
        {"--disable_metric_sink", NULL, KP_MODEL_API_OFF},
        {"--disable_metric_sink=true", "--model-api=off", KP_MODEL_API_OFF},
        /* Heapster's default, given: the model API stays on demand unless --model-api says */
        {"--disable_metric_sink=false", NULL, KP_MODEL_API_ON_DEMAND},
        {"--disable-metric-sink=false", "--model-api=always", KP_MODEL_API_ALWAYS},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_int_equal(parse(&o, err, sizeof(err), ok[i].a, ok[i].b, NULL), KP_OPTIONS_RUN);
        assert_int_equal(kp_options_model_api(&o), ok[i].want);
        kp_options_fini(&o);
    }
    expect_error("flag --model-api: invalid value \"sometimes\" (on-demand, always or off)",
                 "--model-api=sometimes", NULL);
    expect_error("flag --model-api: invalid value \"\"", "--model-api=", NULL);
    expect_error("flags --disable-metric-sink and --model-api=always conflict",
                 "--disable_metric_sink", "--model-api=always", NULL);
    expect_error("flags --disable-metric-sink and --model-api=on-demand conflict",
                 "--model-api=on-demand", "--disable-metric-sink=true", NULL);
    /* the config file's keys are the same settings */
    kp_options_init(&o);
    const char *yaml = "disable_metric_sink: true\nmodel-api: always\n";
    assert_int_equal(kp_options_load_yaml(&o, yaml, strlen(yaml), "c.yaml", err, sizeof(err)), 0);
    assert_int_equal(kp_options_validate(&o, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--disable-metric-sink and --model-api=always conflict"));
    kp_options_fini(&o);
}

/* Heapster's API port: --heapster-port is the port of --listen unless --listen is given; run
 * as /heapster (Heapster's manifests) the default is Heapster's 8082. */
KP_TEST(test_heapster_port)
{
    (void)state;
    struct kp_options o;
    char err[256] = "";
    assert_int_equal(parse(&o, err, sizeof(err), NULL), KP_OPTIONS_RUN);
    assert_string_equal(o.listen, ":8080");
    kp_options_fini(&o);
    assert_int_equal(parse(&o, err, sizeof(err), "--heapster_port=9082", NULL), KP_OPTIONS_RUN);
    assert_string_equal(o.listen, ":9082");
    assert_null(o.ignored);
    kp_options_fini(&o);
    assert_int_equal(
        parse(&o, err, sizeof(err), "--heapster-port", "9082", "--listen", "127.0.0.1:7000", NULL),
        KP_OPTIONS_RUN);
    assert_string_equal(o.listen, "127.0.0.1:7000");
    kp_options_fini(&o);
    expect_error("flag --heapster-port", "--heapster-port=70000", NULL);

    /* Run as /heapster (argv[0]'s base name, as Heapster's manifests do) the default port is
     * Heapster's 8082; --listen and --heapster_port still say where. */
    static const struct {
        const char *argv0, *flag, *listen;
    } runs[] = {
        {"/heapster", "--source=kubernetes:https://kubernetes.default", ":8082"},
        {"heapster", "--listen=:8080", ":8080"},
        {"/heapster", "--heapster_port=8090", ":8090"},
        {"/usr/bin/kubepulse-heapster", NULL, ":8080"},
    };
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        char *argv[] = {(char *)runs[i].argv0, (char *)runs[i].flag, NULL};
        assert_int_equal(parse_quiet(&o, runs[i].flag ? 2 : 1, argv, err, sizeof(err)),
                         KP_OPTIONS_RUN);
        assert_string_equal(o.listen, runs[i].listen);
        kp_options_fini(&o);
    }
}

KP_TEST(test_help_lists_every_flag_with_default)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    kp_options_print_help(f);
    fclose(f);
    const char *want[] = {"--lease-duration duration",
                          "(default 15s)",
                          "--sink value",
                          "--kubelet-max-body-size size",
                          "(default 64Mi)",
                          "--kubelet-max-concurrency int",
                          "--sink-buffer-size string",
                          "(default 256Mi)",
                          "--v int",
                          "--logtostderr",
                          "--sink=influxdb:URL options",
                          "retention string",
                          "--sink=log options"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(buf, want[i]))
            fail_msg("--help lacks \"%s\"", want[i]);
    free(buf);
}

static const char *write_tmp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/kp-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

KP_TEST(test_config_file_and_precedence)
{
    (void)state;
    struct kp_options o;
    char err[256] = "", flag[96];
    const char *path = write_tmp("# kubepulse config\n"
                                 "lease-name: pulse\n"
                                 "metric-resolution: 30s\n"
                                 "kubelet_port: 10255\n"
                                 "sink:\n"
                                 "  - log\n"
                                 "  - influxdb:http://127.0.0.1:8086?db=k8s\n");
    snprintf(flag, sizeof(flag), "--config=%s", path);
    assert_int_equal(parse(&o, err, sizeof(err), "--kubelet-port=9999", flag, NULL),
                     KP_OPTIONS_RUN);
    assert_string_equal(o.lease_name, "pulse");
    assert_true(o.metric_resolution_s == 30);
    assert_int_equal(o.kubelet_port, 9999); /* the flag wins, wherever it stands */
    assert_int_equal(o.sinks.n, 2);
    kp_options_fini(&o);

    /* Flags replace the file's sink list rather than append to it. */
    assert_int_equal(parse(&o, err, sizeof(err), flag, "--sink=log", NULL), KP_OPTIONS_RUN);
    assert_int_equal(o.sinks.n, 1);
    kp_options_fini(&o);
    unlink(path);
}

static void expect_yaml_error(const char *yaml, const char *needle)
{
    struct kp_options o;
    char err[256] = "";
    kp_options_init(&o);
    assert_int_equal(kp_options_load_yaml(&o, yaml, strlen(yaml), "c.yaml", err, sizeof(err)), -1);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
    kp_options_fini(&o);
}

KP_TEST(test_config_errors_name_key_and_line)
{
    (void)state;
    expect_yaml_error("lease-name: a\nbogus-key: 1\n", "c.yaml:2: unknown key \"bogus-key\"");
    expect_yaml_error("lease-name: a\n\nkubelet-port: x\n", "c.yaml:3: key \"kubelet-port\"");
    expect_yaml_error("lease-name: [a, b]\n", "c.yaml:1: key \"lease-name\": expected");
    expect_yaml_error("lease-name: a\n  bad: [\n", "c.yaml:");
    expect_yaml_error("- a\n- b\n", "must be a mapping");
    expect_yaml_error("a:\n  b: c\n", "c.yaml:");
    expect_yaml_error("config: other.yaml\n", "unknown key \"config\"");
}

KP_TEST(test_missing_config_file)
{
    (void)state;
    struct kp_options o;
    char err[256] = "";
    assert_int_equal(parse(&o, err, sizeof(err), "--config=/nonexistent/kp.yaml", NULL),
                     KP_OPTIONS_EXIT_ERROR);
    assert_non_null(strstr(err, "cannot read the config file: /nonexistent/kp.yaml: No such file"));
    kp_options_fini(&o);
}
