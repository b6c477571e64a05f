/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procstat.h - the standard process_* metrics of Prometheus' client libraries
 * (CPU seconds, resident and virtual memory, open and max fds, start time),
 * read from /proc/self (at most once a second), as client_golang's process collector does.
 */
#ifndef KP_PROCSTAT_H
#define KP_PROCSTAT_H

struct status_buf;

/* Every family is written; a value that cannot be read is 0 and does not fail the page. */
void procstat_render_prom(struct status_buf *b);

#endif
