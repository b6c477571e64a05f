/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_internal.h - pieces of the Kubernetes API layer that are internal to
 * kp_common but exposed for its unit tests and fuzzers: the incremental
 * watch-stream decoder, metav1.Status and
 * ExecCredential parsing, and the streaming request the watch is built on.
 * Modules outside src/ use kube.h only.
 */
#ifndef KP_KUBE_INTERNAL_H
#define KP_KUBE_INTERNAL_H

#include <stddef.h>
#include <time.h>
#include <json-c/json.h>

#include "http.h"
#include "kube.h"
#include "util.h"

/* ---- watch stream decoder --------------------------------------------------
 * A watch response is a sequence of JSON objects (one per event), arriving in
 * arbitrary chunks. The decoder feeds bytes to a json_tokener and calls
 * on_object for every complete top-level object, in order. */
#define KUBE_STREAM_MAX_OBJECT (16u << 20) /* one event: 16 MiB */
#define KUBE_STREAM_MAX_DEPTH  128

struct kube_stream;
/* max_object: bytes of one object; 0: KUBE_STREAM_MAX_OBJECT. */
struct kube_stream *kube_stream_new(size_t max_object);
void kube_stream_free(struct kube_stream *s);
/* Drop any partial object (new connection). */
void kube_stream_reset(struct kube_stream *s);
/* on_object gets a borrowed object; returning < 0 stops decoding and is
 * returned. Returns 0, or -1 with err filled on malformed or oversized input
 * (the stream is then unusable until kube_stream_reset). */
typedef int (*kube_stream_object_fn)(json_object *obj, void *ud);
int kube_stream_feed(struct kube_stream *s, const char *data, size_t len,
                     kube_stream_object_fn on_object, void *ud, char *err, size_t errlen);

/* Split one watch event {"type": ..., "object": {...}}. type is "ADDED",
 * "MODIFIED", "DELETED", "BOOKMARK" or "ERROR". Returns 0 or -1. */
int kube_event_split(json_object *ev, const char **type, json_object **obj);

/* If body is a metav1.Status, point reason/message at its fields (borrowed
 * from body; NULL when absent) and return its code (0 when absent). Returns -1
 * when body is not a Status. */
long kube_status_parse(json_object *body, const char **reason, const char **message);

/* ---- exec credentials ------------------------------------------------------ */
struct kube_exec_cred {
    char *token;              /* owned or NULL: secret */
    char *cert_pem, *key_pem; /* owned or NULL: key is secret */
    time_t expiry;            /* wall clock; 0: does not expire */
};
void kube_exec_cred_fini(struct kube_exec_cred *cred);
/* Parse ExecCredential JSON (client.authentication.k8s.io/v1 or v1beta1).
 * Errors never quote the input (it holds secrets). */
int kube_exec_cred_parse(const char *json, size_t len, struct kube_exec_cred *out, char *err,
                         size_t errlen);
/* A plugin run, watched by the loop: the plugin's stdout is read as it becomes readable, its
 * exit comes through ev_child, and a timer ends it after timeout_ms (30 s when <= 0). done
 * gets rc 0 and the credential (which it takes over: kube_exec_cred_fini it), or -1 and a
 * message that never quotes the output. The run is freed before done is called. */
struct kube_exec_proc;
typedef void (*kube_exec_done_fn)(int rc, struct kube_exec_cred *cred, const char *err, void *ud);
/* loop must be libev's default loop (ev_child's rule). exec is borrowed for the run. NULL,
 * with err filled, when the plugin could not be started. */
struct kube_exec_proc *kube_exec_start(struct ev_loop *loop, const struct kube_exec *exec,
                                       long timeout_ms, kube_exec_done_fn done, void *ud, char *err,
                                       size_t errlen);
/* Kill the plugin and forget the run: done is not called. NULL is a no-op. */
void kube_exec_cancel(struct kube_exec_proc *proc);

/* ---- streaming requests (the watch) ----------------------------------------- */
/* A GET of path with the client's auth, streaming the body to on_data. on_done
 * gets the raw http result. The returned request is cancelled with
 * http_request_cancel. */
struct http_request *kube_stream_start(struct kube_client *kc, const char *path, long timeout_ms,
                                       http_data_fn on_data, http_done_fn on_done, void *ud,
                                       char *err, size_t errlen);
/* Tell the client its credentials were rejected (a 401 on a stream): the
 * token file is re-read / the exec plugin re-run before the next request. */
void kube_client_auth_rejected(struct kube_client *kc);
struct ev_loop *kube_client_loop(const struct kube_client *kc);

#endif
