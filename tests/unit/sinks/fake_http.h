/* SPDX-License-Identifier: Apache-2.0 */
/* fake_http.h - the scripted HTTP client of the sinks' unit tests (see fake_http.c). */
#ifndef KP_TEST_FAKE_HTTP_H
#define KP_TEST_FAKE_HTTP_H

#include <stdio.h>

#include "http.h"

#define FAKE_MAX_REQS 256

struct fake_req {
    char url[512];
    char headers[8][256];
    char *body; /* owned copy */
    size_t body_len;
    http_done_fn on_done;
    void *ud;
    int active;
};
extern struct fake_req fake_reqs[FAKE_MAX_REQS];
extern int fake_nreqs;

void fake_http_complete(int i, int error, long status, const char *body, double retry_after);
void fake_http_reset(void);

#endif
