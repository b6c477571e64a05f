/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.h - kubepulse's daemon: one libev loop carrying the election, the
 * node and pod watches, the scrape cycles, the sinks and the status server.
 *
 * Leadership gates every write: the collector scrapes only while this replica
 * leads, and a batch is handed to the sinks only while the elector still
 * guarantees leadership (before its renew deadline). SIGTERM stops the cycle,
 * releases the Lease, flushes the sinks within --sink-flush-timeout and exits.
 */
#ifndef KP_DAEMON_H
#define KP_DAEMON_H

#include <stddef.h>

struct kp_options;

/* Runs until SIGTERM/SIGINT. Returns the process exit code; on a start-up
 * error prints what went wrong and what to do, and returns non-zero. */
int daemon_run(const struct kp_options *o);

/* The default identity: $POD_NAME, else the host name plus a random suffix. */
void daemon_default_identity(char *out, size_t outlen);

#endif
