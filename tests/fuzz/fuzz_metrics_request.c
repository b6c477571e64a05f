/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_metrics_request.c - the metrics.k8s.io request side: the request target (path
 * segments, percent-decoding, the query) routed by mapi_handle over a store with nodes and
 * pods, and the label and field selector parsers and matchers on their own.
 * A follower's import of the leader's samples (mapi_store_import) is the fourth; the first
 * also goes to Heapster's model API (mapi_window_handle).
 * Input: the first byte picks the parser, the rest is its text. Nothing may crash, leak or
 * read out of bounds; every answer must be JSON with a code.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapi_int.h"

#define S 1000000000LL

static struct mapi_store *store(void)
{
    static struct mapi_store *st;
    if (st)
        return st;
    st = mapi_store_new(60);
    for (int i = 0; i < 2; i++) {
        struct kp_series se[2] = {
            {.labels = {{"labels", "zone:a,app.kubernetes.io/name:x"},
                        {"nodename", "n1"},
                        {"type", "node"}},
             .nlabels = 3},
            {.labels = {{"container_name", "c"},
                        {"labels", "app:web"},
                        {"namespace_name", "ns"},
                        {"pod_name", "p"},
                        {"type", "pod_container"}},
             .nlabels = 5},
        };
        int64_t ts = (1700000000LL + i * 60) * S;
        struct kp_point pt[4] = {
            {0, KP_M_CPU_USAGE, {.i = (10 + i) * S}, ts},
            {0, KP_M_MEM_WORKING_SET, {.i = 1024}, ts},
            {1, KP_M_CPU_USAGE, {.i = (5 + i) * S}, ts},
            {1, KP_M_MEM_WORKING_SET, {.i = 1000}, ts},
        };
        struct kp_batch b = {se, 2, pt, 4, NULL};
        mapi_store_add_batch(st, &b);
        mapi_store_commit(st);
    }
    return st;
}

static const char *field(const char *key, const void *obj)
{
    (void)obj;
    return strcmp(key, "metadata.name") == 0 ? "p" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384)
        return 0;
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    char err[256];
    struct kube_selector sel;
    switch (data[0] % 4) {
    case 3: {
        /* a follower's copy of the leader's samples: into a store of its own */
        struct mapi_store *f = mapi_store_new(60);
        if (mapi_store_import(f, s, size - 1, err, sizeof err) == 0) {
            size_t len;
            free(mapi_store_export(f, &len));
            struct mapi_response r;
            mapi_handle(f, "GET", "/apis/metrics.k8s.io/v1beta1/pods", 0, &r);
            free(r.body);
        }
        mapi_store_free(f);
        break;
    }
    case 0: {
        struct mapi_response r;
        mapi_handle(store(), "GET", s, 0, &r);
        if (r.code < 200 || r.code > 599 || !r.body)
            abort();
        json_object *o = json_tokener_parse(r.body);
        if (!o)
            abort();
        json_object_put(o);
        free(r.body);
        /* the same text as a Heapster model API request on the status port */
        static struct mapi_window *win;
        if (!win) {
            struct mapi_window_opts wo = {.resolution_s = 60, .mode = MAPI_WINDOW_ALWAYS};
            win = mapi_window_new(&wo);
            for (int i = 0; i < 3; i++) {
                struct kp_series se = {.labels = {{"namespace_name", "ns"}, {"type", "ns"}},
                                       .nlabels = 2};
                struct kp_point pt = {0, KP_M_MEM_USAGE, {.i = 5}, (1700000000LL + i * 60) * S};
                struct kp_batch b = {&se, 1, &pt, 1, NULL};
                mapi_window_add_batch(win, &b);
            }
        }
        char *q = strchr(s, '?');
        if (q)
            *q++ = '\0';
        mapi_window_handle(win, s, q, 1700000300LL * S, &r);
        if (!r.body || r.code < 200 || r.code > 599)
            abort();
        free(r.body);
        break;
    }
    case 1:
        if (kube_selector_parse(s, &sel, err, sizeof err) == 0) {
            (void)mapi_selector_match_labels(&sel, "a:b,c:d,app.kubernetes.io/name:x");
            (void)mapi_selector_match_labels(&sel, NULL);
        } else if (!memchr(err, '\0', sizeof err)) {
            abort();
        }
        kube_selector_fini(&sel);
        break;
    default:
        if (mapi_field_selector_parse(s, &sel, err, sizeof err) == 0)
            (void)mapi_selector_match_fields(&sel, field, NULL);
        kube_selector_fini(&sel);
        break;
    }
    free(s);
    return 0;
}
