/*
 * test_source.c - Heapster's --source=kubernetes:... parsed onto struct heapster_source
 * (src/app/source.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "source.h"

static void test_heapster_source(void **state)
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heapster_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
