/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_uri.c - the flag URI parsers: generic uri_parse, Heapster's --source option map, and
 * every sink's option map and rules (sink_check, as at flag time; sink_open of the log sink,
 * which does no I/O).
 * Nothing may crash, leak or read out of bounds; errors must be NUL-terminated.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"
#include "source.h"
#include "uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > URI_MAX_LEN + 16)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    char err[256];
    struct uri u;
    if (uri_parse(s, &u, err, sizeof err) == 0) {
        for (size_t i = 0; i < u.nopts; i++)
            (void)uri_get(&u, u.opts[i].key);
    }
    uri_fini(&u);
    struct heapster_source hs;
    if (heapster_source_parse(s, &hs, err, sizeof err) == 0)
        heapster_source_fini(&hs);
    else if (strlen(err) >= sizeof err)
        abort();
    if (sink_check(s, err, sizeof err) < 0 && strlen(err) >= sizeof err)
        abort();
    /* The log sink shares the option machinery with the InfluxDB sinks. */
    if (strncmp(s, "log", 3) == 0) {
        static FILE *devnull;
        if (!devnull)
            devnull = fopen("/dev/null", "w");
        struct sink_env env = {.out = devnull, .buffer_size = "1Mi", .batch_lines = 10};
        struct sink *sk;
        if (sink_open(s, &env, &sk, err, sizeof err) == 0)
            sink_free(sk);
    }
    free(s);
    return 0;
}
