/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_watch_stream.c - libFuzzer target for the watch stream decoder
 * (kube_stream_feed) and the event/Status splitters. The first bytes choose
 * chunk sizes; the same input fed whole must give the same objects and result.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kube_internal.h"

struct tally {
    size_t objects;
    unsigned long hash;
};

static int on_object(json_object *obj, void *ud)
{
    struct tally *t = ud;
    const char *type, *reason, *message;
    json_object *inner;
    t->objects++;
    if (kube_event_split(obj, &type, &inner) == 0) {
        for (const char *p = type; *p; p++)
            t->hash = t->hash * 31 + (unsigned char)*p;
        (void)kube_status_parse(inner, &reason, &message);
    }
    return 0;
}

static int feed_chunks(const uint8_t *sizes, size_t nsizes, const char *data, size_t len,
                       struct tally *t)
{
    char err[256];
    struct kube_stream *s = kube_stream_new(4096); /* small bound: reach the size limit */
    int rc = 0;
    size_t off = 0, i = 0;
    while (off < len && rc == 0) {
        size_t n = nsizes ? (size_t)sizes[i++ % nsizes] + 1 : len;
        if (n > len - off)
            n = len - off;
        rc = kube_stream_feed(s, data + off, n, on_object, t, err, sizeof(err));
        off += n;
    }
    kube_stream_free(s);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t nsizes = data[0] % 8;
    if (size < 1 + nsizes)
        return 0;
    const uint8_t *sizes = data + 1;
    const char *text = (const char *)data + 1 + nsizes;
    size_t len = size - 1 - nsizes;
    /* Runs of number characters longer than the decoder's carry (64) may still be
     * split across json-c calls, where json-c is lenient: no oracle for those. */
    size_t run = 0, longest = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        bool num =
            (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
        run = num ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    struct tally whole = {0}, chunked = {0};
    int rc1 = feed_chunks(NULL, 0, text, len, &whole);
    int rc2 = feed_chunks(sizes, nsizes, text, len, &chunked);
    /* json-c notices some errors (a number like "1-") only when the token ends, so
     * when fed in pieces it may still wait for more where the whole input failed. */
    bool lagging = rc1 < 0 && rc2 == 0;
    if (longest > 60)
        return 0;
    if ((rc1 != rc2 && !lagging) || whole.objects != chunked.objects || whole.hash != chunked.hash)
        __builtin_trap();
    return 0;
}
