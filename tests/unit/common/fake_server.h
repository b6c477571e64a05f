/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_server.h - a canned HTTP/1.1 server on loopback for the unit tests,
 * run on the test's libev loop. For each request head the handler returns the
 * whole raw response (malloc'd; NULL: never answer); the connection is closed
 * after it when *close is set.
 */
#ifndef KP_TEST_FAKE_SERVER_H
#define KP_TEST_FAKE_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
typedef char *(*fake_handler_fn)(const char *method, const char *target, const char *head,
                                 bool *close, size_t *len, void *ud);

/* Returns the port, or -1. One server per process. */
int fake_server_start(struct ev_loop *loop, fake_handler_fn handler, void *ud);
/* Another listening port of the same server (same handler), or -1; up to 16 in all. */
int fake_server_listen_more(void);
void fake_server_stop(void);
int fake_server_accepts(void);
/* Close every open connection (a server restart, as the client sees it). */
void fake_server_drop_all(void);

#endif
