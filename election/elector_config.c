/* SPDX-License-Identifier: Apache-2.0 */
/*
 * elector_config.c - defaults and validation of struct elector_config.
 *
 * The rules are client-go's (NewLeaderElector) plus one of ours: the lease
 * duration is written to the Lease in whole seconds, so the renew deadline must
 * be below that whole number, or a leader could outlive what others wait for.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "elector_lock.h"

void elector_config_init(struct elector_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->lease_duration_s = 15;
    cfg->renew_deadline_s = 10;
    cfg->retry_period_s = 2;
    cfg->release_on_cancel = true;
    cfg->watch = true;
}

/* RFC 1123 label (max 63) or subdomain (max 253). */
static bool dns_name_ok(const char *s, size_t max, bool dots)
{
    size_t n = s ? strnlen(s, max + 1) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && !(dots && c == '.'))
            return false;
        if ((i == 0 || i == n - 1) && !alnum)
            return false;
    }
    return true;
}

/*
 * client-go, k8s.io/client-go/tools/leaderelection/leaderelection.go, NewLeaderElector:
 *   LeaseDuration > RenewDeadline, RenewDeadline > JitterFactor (1.2) * RetryPeriod, and each
 *   of the three > 0.
 * Ours on top: each at least 1 s, and the lease duration above the renew deadline in whole
 * seconds, because leaseDurationSeconds is an integer in the Lease (a leader could otherwise
 * outlive what the others wait for); the whole number must fit that int32.
 */
int elector_check_timing(double lease_duration_s, double renew_deadline_s, double retry_period_s,
                         char *err, size_t errlen)
{
    const char *msg = NULL;
    if (!(lease_duration_s >= 1) || lease_duration_s > INT32_MAX)
        msg = "leaseDuration must be at least 1s";
    else if (!(renew_deadline_s >= 1))
        msg = "renewDeadline must be at least 1s";
    else if (!(retry_period_s >= 1))
        msg = "retryPeriod must be at least 1s";
    else if (lease_duration_s <= renew_deadline_s || floor(lease_duration_s) <= renew_deadline_s)
        msg = "leaseDuration must be greater than renewDeadline (in whole seconds, as written "
              "to the Lease)";
    else if (renew_deadline_s <= ELECTOR_JITTER_FACTOR * retry_period_s)
        msg = "renewDeadline must be greater than retryPeriod*JitterFactor (1.2)";
    if (msg) {
        snprintf(err, errlen, "%s", msg);
        return -1;
    }
    return 0;
}

static int check_msg(const char *msg, char *err, size_t errlen)
{
    if (!msg)
        return 0;
    snprintf(err, errlen, "%s", msg);
    return -1;
}

int elector_check_identity(const char *v, char *err, size_t errlen)
{
    if (!v || !v[0])
        return check_msg("identity is empty: each replica needs a unique identity (e.g. the "
                         "pod name)",
                         err, errlen);
    if (strnlen(v, LEASE_HOLDER_MAX) >= LEASE_HOLDER_MAX)
        return check_msg("identity is too long (limit 1023 bytes)", err, errlen);
    return 0;
}

int elector_check_lease_name(const char *v, char *err, size_t errlen)
{
    return check_msg(dns_name_ok(v, LEASE_NAME_MAX - 1, true)
                         ? NULL
                         : "lease name must be a DNS subdomain (lowercase alphanumerics, '-', "
                           "'.')",
                     err, errlen);
}

int elector_check_lease_namespace(const char *v, char *err, size_t errlen)
{
    return check_msg(dns_name_ok(v, LEASE_NS_MAX - 1, false)
                         ? NULL
                         : "lease namespace must be a DNS label (lowercase alphanumerics, '-')",
                     err, errlen);
}

int elector_config_validate(const struct elector_config *c, char *err, size_t errlen)
{
    const char *msg = NULL;
    char timing[160];
    if (elector_check_identity(c->identity, err, errlen) < 0 ||
        elector_check_lease_name(c->lease_name, err, errlen) < 0 ||
        elector_check_lease_namespace(c->lease_namespace, err, errlen) < 0)
        return -1;
    if (elector_check_timing(c->lease_duration_s, c->renew_deadline_s, c->retry_period_s, timing,
                             sizeof timing) < 0)
        msg = timing;
    else if (!c->cb.on_started_leading || !c->cb.on_stopped_leading)
        msg = "on_started_leading and on_stopped_leading callbacks are required";
    if (msg) {
        snprintf(err, errlen, "%s", msg);
        return -1;
    }
    return 0;
}
