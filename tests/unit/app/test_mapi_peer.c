/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_mapi_peer.c - the follower's reading of the leader's published address
 * (daemon_mapi_peer.c). The annotation comes from a Lease anyone allowed to
 * write Leases in the namespace can edit: a malformed one must not write
 * outside the host buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kp_test.h"
#include "daemon_int.h"
#include "metricsapi.h"

static void expect_host(const char *addr, const char *want)
{
    char buf[64];
    memset(buf, 'X', sizeof(buf));
    /* buf[0] guards the byte before the output */
    mapi_peer_host(addr, buf + 1, sizeof(buf) - 1);
    assert_int_equal(buf[0], 'X');
    assert_string_equal(buf + 1, want);
}

KP_TEST(test_host_of_address)
{
    (void)state;
    expect_host("10.0.0.7:8443", "10.0.0.7");
    expect_host("[fd00::7]:8443", "fd00::7");
    expect_host("leader.example", "leader.example");
}

KP_TEST(test_host_of_malformed_address)
{
    (void)state;
    /* an unclosed bracket: no write before the buffer, no byte of the name dropped */
    expect_host("[", "[");
    expect_host("[:8443", "[");
    expect_host("[fd00::7", "[fd00:");
}

/* The samples endpoint serves only GET: a POST is authorized as verb "create" on the path, so
 * serving it would hand the samples to someone allowed only to create there. No peer is
 * needed to refuse it. */
KP_TEST(test_samples_only_get)
{
    (void)state;
    struct mapi_response r = {0};
    const char *const methods[] = {"POST", "PUT", "DELETE", "HEAD"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        assert_true(mapi_peer_samples(NULL, methods[i], "/kubepulse/v1/samples", &r));
        assert_int_equal(r.code, 405);
        free(r.body);
    }
    assert_false(mapi_peer_samples(NULL, "POST", "/kubepulse/v1/samplesx", &r));
}
