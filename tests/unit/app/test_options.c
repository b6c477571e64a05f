/*
 * test_options.c - flags, the YAML config file and their precedence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "options.h"

static enum kp_options_result parse(struct kp_options *o, char *err, size_t errlen, ...)
{
    char *argv[32] = {"kubepulse"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    kp_options_init(o);
    FILE *devnull = fopen("/dev/null", "w");
    enum kp_options_result r = kp_options_parse(o, argc, argv, devnull, err, errlen);
    fclose(devnull);
    return r;
}

static void test_defaults(void **state)
{
    (void)state;
    struct kp_options o;
    char err[256] = "";
    assert_int_equal(parse(&o, err, sizeof(err), NULL), KP_OPTIONS_RUN);
    assert_true(o.lease_duration_s == 15 && o.renew_deadline_s == 10 && o.retry_period_s == 2);
    assert_true(o.metric_resolution_s == 15);
    assert_string_equal(o.lease_name, "kubepulse");
    assert_int_equal(o.kubelet_port, 10250);
    assert_int_equal(o.kubelet_max_body_bytes, 64LL << 20);
    assert_true(o.leader_elect);
    assert_false(o.kubelet_insecure_tls);
    assert_int_equal(o.nsinks, 0);
    kp_options_fini(&o);
}

static void test_flag_forms(void **state)
{
    (void)state;
    struct kp_options o;
    char err[256] = "";
    assert_int_equal(parse(&o, err, sizeof(err), "--lease-duration=20s", "--retry-period", "500ms",
                           "-kubelet-insecure-tls", "--sink", "log",
                           "--sink=influxdb:"
                           "http://127.0.0.1:8086?db=k8s",
                           "--v=3", NULL),
                     KP_OPTIONS_RUN);
    assert_true(o.lease_duration_s == 20);
    assert_true(o.retry_period_s == 0.5);
    assert_true(o.kubelet_insecure_tls);
    assert_int_equal(o.nsinks, 2);
    assert_string_equal(o.sinks[1], "influxdb:http://127.0.0.1:8086?db=k8s");
    assert_int_equal(o.verbosity, 3);
    kp_options_fini(&o);
}

static void expect_error(const char *needle, ...)
{
    struct kp_options o;
    char err[256] = "";
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

static void test_bad_flags_name_the_flag(void **state)
{
    (void)state;
    expect_error("unknown flag --nope", "--nope=1", NULL);
    expect_error("--kubelet-port", "--kubelet-port=70000", NULL);
    expect_error("--lease-duration", "--lease-duration=soon", NULL);
    expect_error("--kubelet-max-body-size", "--kubelet-max-body-size=12Q", NULL);
    expect_error("--lease-duration must be greater than --renew-deadline", "--lease-duration=10s",
                 NULL);
    expect_error("--renew-deadline must be greater than 1.2 x --retry-period", "--retry-period=9s",
                 NULL);
    expect_error("--log-format", "--log-format=xml", NULL);
    expect_error("needs a value", "--identity", NULL);
    expect_error("--leader-elect", "--leader-elect=maybe", NULL);
}

static void test_durations(void **state)
{
    (void)state;
    double s;
    assert_int_equal(kp_parse_duration("1m30s", &s), 0);
    assert_true(s == 90);
    assert_int_equal(kp_parse_duration("250ms", &s), 0);
    assert_true(s == 0.25);
    assert_int_equal(kp_parse_duration("1.5h", &s), 0);
    assert_true(s == 5400);
    assert_int_equal(kp_parse_duration("0", &s), 0);
    assert_int_equal(kp_parse_duration("15", &s), -1);
    assert_int_equal(kp_parse_duration("-1s", &s), -1);
    assert_int_equal(kp_parse_duration("", &s), -1);
    assert_int_equal(kp_parse_duration("s", &s), -1);
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

static void test_config_file_and_precedence(void **state)
{
    (void)state;
    struct kp_options o;
    char err[256] = "", flag[96];
    const char *path = write_tmp("# kubepulse config\n"
                                 "lease-name: pulse\n"
                                 "metric-resolution: 30s\n"
                                 "kubelet-port: 10255\n"
                                 "sink:\n"
                                 "  - log\n"
                                 "  - influxdb:http://127.0.0.1:8086?db=k8s\n");
    snprintf(flag, sizeof(flag), "--config=%s", path);
    assert_int_equal(parse(&o, err, sizeof(err), "--kubelet-port=9999", flag, NULL),
                     KP_OPTIONS_RUN);
    assert_string_equal(o.lease_name, "pulse");
    assert_true(o.metric_resolution_s == 30);
    assert_int_equal(o.kubelet_port, 9999); /* the flag wins, wherever it stands */
    assert_int_equal(o.nsinks, 2);
    kp_options_fini(&o);

    /* Flags replace the file's sink list rather than append to it. */
    assert_int_equal(parse(&o, err, sizeof(err), flag, "--sink=log", NULL), KP_OPTIONS_RUN);
    assert_int_equal(o.nsinks, 1);
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

static void test_config_errors_name_key_and_line(void **state)
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

static void test_missing_config_file(void **state)
{
    (void)state;
    struct kp_options o;
    char err[256] = "";
    assert_int_equal(parse(&o, err, sizeof(err), "--config=/nonexistent/kp.yaml", NULL),
                     KP_OPTIONS_EXIT_ERROR);
    assert_non_null(strstr(err, "cannot read the config file: /nonexistent/kp.yaml: No such file"));
    kp_options_fini(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flag_forms),
        cmocka_unit_test(test_bad_flags_name_the_flag),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_config_file_and_precedence),
        cmocka_unit_test(test_config_errors_name_key_and_line),
        cmocka_unit_test(test_missing_config_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
