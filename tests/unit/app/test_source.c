/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_source.c - Heapster's --source=kubernetes:... parsed onto struct heapster_source
 * (src/app/source.c).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "options.h"
#include "parse_quiet.h"
#include "source.h"

KP_TEST(test_heapster_source)
{
    (void)state;
    struct heapster_source hs;
    char err[256];
    assert_int_equal(heapster_source_parse("kubernetes:https://kubernetes.default?inClusterConfig="
                                           "false&kubeletHttps=true&kubeletPort=10250&insecure="
                                           "true&auth=/etc/kc&useServiceAccount=true&apiVersion=v1",
                                           &hs, err, sizeof err),
                     0);
    assert_string_equal(hs.master_url, "https://kubernetes.default");
    assert_false(hs.in_cluster_config);
    assert_true(hs.kubelet_https);
    assert_int_equal(hs.kubelet_port, 10250);
    assert_true(hs.insecure);
    assert_string_equal(hs.auth, "/etc/kc");
    assert_true(hs.use_service_account);
    assert_int_equal(hs.set, HS_MASTER | HS_IN_CLUSTER_CONFIG | HS_KUBELET_HTTPS | HS_KUBELET_PORT |
                                 HS_INSECURE | HS_AUTH | HS_USE_SERVICE_ACCOUNT | HS_API_VERSION);
    heapster_source_fini(&hs);
    assert_int_equal(heapster_source_parse("kubernetes", &hs, err, sizeof err), 0);
    assert_null(hs.master_url);
    assert_true(hs.in_cluster_config);
    assert_int_equal(hs.kubelet_port, 10255);
    assert_false(hs.kubelet_https);
    assert_int_equal(hs.set, 0);
    heapster_source_fini(&hs);
    assert_int_equal(
        heapster_source_parse("kubernetes.summary_api:''?auth=\"\"", &hs, err, sizeof err), 0);
    assert_null(hs.auth);
    heapster_source_fini(&hs);
    assert_int_equal(heapster_source_parse("kubernetes:?bogus=1", &hs, err, sizeof err), -1);
    assert_non_null(strstr(err, "\"bogus\""));
    assert_int_equal(heapster_source_parse("kubernetes:?kubeletPort=0", &hs, err, sizeof err), -1);
    assert_int_equal(heapster_source_parse("kubernetes:?insecure=maybe", &hs, err, sizeof err), -1);
    assert_int_equal(heapster_source_parse("cadvisor:external", &hs, err, sizeof err), -1);
    assert_int_equal(heapster_source_parse("kubernetes:ftp://x", &hs, err, sizeof err), -1);
}

static int parse_source(struct kp_options *o, char *err, size_t errlen, const char *src,
                        const char *extra)
{
    char flag[512];
    snprintf(flag, sizeof flag, "--source=%s", src);
    char *argv[] = {"kubepulse", flag, (char *)extra, NULL};
    return (int)parse_quiet(o, extra ? 3 : 2, argv, err, errlen);
}

/* The command lines of ../shared/reference/seed-notes.md, each mapped as Heapster did. */
KP_TEST(test_seed_command_lines)
{
    (void)state;
    struct kp_options o;
    char err[512] = "";

    assert_int_equal(
        parse_source(&o, err, sizeof err, "kubernetes:https://kubernetes.default", NULL),
        KP_OPTIONS_RUN);
    assert_string_equal(o.api_server, "https://kubernetes.default");
    assert_false(o.api_no_credentials || o.api_insecure || o.kubelet_http || o.kubelet_port_fixed);
    assert_non_null(strstr(o.notes, "read-only HTTP port 10255, is off"));
    kp_options_fini(&o);

    assert_int_equal(parse_source(&o, err, sizeof err,
                                  "kubernetes:http://10.47.136.60:8080?inClusterConfig=false",
                                  NULL),
                     KP_OPTIONS_RUN);
    assert_string_equal(o.api_server, "http://10.47.136.60:8080");
    assert_true(o.api_no_credentials);
    assert_null(o.api_token_file);
    kp_options_fini(&o);

    assert_int_equal(parse_source(&o, err, sizeof err,
                                  "kubernetes:https://kubernetes.default?inClusterConfig=false&"
                                  "insecure=true&auth=/root/.kube/config",
                                  NULL),
                     KP_OPTIONS_RUN);
    assert_string_equal(o.kubeconfig, "/root/.kube/config");
    assert_null(o.api_server); /* the kubeconfig names the server, as in Heapster */
    assert_true(o.api_insecure && o.kubelet_insecure_tls);
    assert_non_null(strstr(o.notes, "the URL is not used with auth="));
    kp_options_fini(&o);

    assert_int_equal(parse_source(&o, err, sizeof err,
                                  "kubernetes:http://192.168.1.128:8080?inClusterConfig=false&"
                                  "kubeletHttps=true&useServiceAccount=true&auth=",
                                  NULL),
                     KP_OPTIONS_RUN);
    assert_true(o.api_no_credentials);
    assert_string_equal(o.api_token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
    assert_false(o.kubelet_http || o.kubelet_port_fixed);
    kp_options_fini(&o);

    assert_int_equal(parse_source(&o, err, sizeof err,
                                  "kubernetes:https://kubernetes.default?inClusterConfig=true&"
                                  "kubeletHttps=true&kubeletPort=10250&insecure=true&auth=&"
                                  "useServiceAccount=true",
                                  NULL),
                     KP_OPTIONS_RUN);
    assert_string_equal(o.api_server, "https://kubernetes.default");
    assert_false(o.api_no_credentials || o.kubelet_http);
    assert_true(o.kubelet_port_fixed && o.kubelet_port == 10250);
    assert_true(o.api_insecure && o.kubelet_insecure_tls);
    kp_options_fini(&o);
}

static void expect_source_error(const char *src, const char *extra, const char *needle)
{
    struct kp_options o;
    char err[512] = "";
    assert_int_equal(parse_source(&o, err, sizeof err, src, extra), KP_OPTIONS_EXIT_ERROR);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
    kp_options_fini(&o);
}

KP_TEST(test_kubelet_options)
{
    (void)state;
    struct kp_options o;
    char err[512] = "";
    /* Heapster's read-only port, asked for: plain HTTP on 10255 for every node. */
    assert_int_equal(parse_source(&o, err, sizeof err, "kubernetes:?kubeletHttps=false", NULL),
                     KP_OPTIONS_RUN);
    assert_true(o.kubelet_http && o.kubelet_port_fixed && o.kubelet_port == 10255);
    kp_options_fini(&o);
    assert_int_equal(parse_source(&o, err, sizeof err, "kubernetes:?kubeletPort=10266", NULL),
                     KP_OPTIONS_RUN);
    assert_true(o.kubelet_http && o.kubelet_port_fixed && o.kubelet_port == 10266);
    kp_options_fini(&o);
    expect_source_error("kubernetes:?kubeletPort=10250", NULL, "add kubeletHttps=true");
    expect_source_error("kubernetes:?inClusterConfig=false", NULL, "needs the API server's URL");
    expect_source_error("kubernetes:https://h:6443?inClusterConfig=false", "--kubeconfig=/k",
                        "--kubeconfig is given");
    expect_source_error("kubernetes:?inClusterConfig=false&auth=/a", "--kubeconfig=/k",
                        "name two kubeconfigs");
    expect_source_error("kubernetes:?apiVersion=v2", NULL, "only v1 is supported");
}
