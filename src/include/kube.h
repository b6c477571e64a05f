/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube.h - Kubernetes API access shared by the election and the collector.
 *
 * Three layers:
 *  - struct kube_config: where the API server is and how to authenticate,
 *    loaded from the in-cluster environment or a kubeconfig file (libyaml).
 *  - struct kube_client: asynchronous JSON requests on the http client, with
 *    bearer tokens re-read from their file periodically and after every 401,
 *    so bound ServiceAccount tokens rotate without a restart.
 *  - struct kube_watch: list + watch of a collection with resourceVersion
 *    resume, reconnect with backoff and a fresh list after 410 Gone.
 */
#ifndef KP_KUBE_H
#define KP_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

struct ev_loop;
struct http_client;

/* Exec credential plugin (client.authentication.k8s.io/v1). */
struct kube_exec {
    char *command;     /* owned */
    char **args;       /* owned, NULL-terminated */
    char **env;        /* owned, NULL-terminated "NAME=value" */
    char *api_version; /* owned */
};

struct kube_config {
    char *source;  /* owned: "in-cluster" or the kubeconfig path, for messages */
    char *server;  /* owned: https://host:port, no trailing slash */
    char *ca_file; /* owned or NULL */
    char *ca_pem;  /* owned or NULL (certificate-authority-data, decoded) */
    size_t ca_pem_len;
    char *tls_server_name;      /* owned or NULL */
    bool insecure;              /* insecure-skip-tls-verify */
    char *token;                /* owned or NULL: secret, never logged */
    char *token_file;           /* owned or NULL: re-read periodically and on 401 */
    char *cert_file, *key_file; /* owned or NULL */
    char *cert_pem, *key_pem;   /* owned or NULL: key is secret */
    size_t cert_pem_len, key_pem_len;
    char *username, *password; /* owned or NULL: password is secret */
    struct kube_exec *exec;    /* owned or NULL */
    char *namespace;           /* owned: in-cluster namespace or the context's, else NULL */
};

/* In-cluster: KUBERNETES_SERVICE_HOST/_PORT and the ServiceAccount files under
 * sa_dir (NULL: /var/run/secrets/kubernetes.io/serviceaccount). */
int kube_config_load_incluster(const char *sa_dir, struct kube_config **out, char *err,
                               size_t errlen);
/* The namespace of the pod this process runs in, from its ServiceAccount's namespace file
 * under sa_dir (NULL: the in-cluster default), trimmed; malloc'd, or NULL when there is none
 * (not in a pod, or no token mounted). Whatever the API credentials came from. */
char *kube_pod_namespace(const char *sa_dir);
/* A kubeconfig file; context NULL means current-context. Errors name the file,
 * the key and the line. */
int kube_config_load_file(const char *path, const char *context, struct kube_config **out,
                          char *err, size_t errlen);
/* Parse kubeconfig text already in memory (used by the file loader and the fuzzer). */
int kube_config_parse(const char *text, size_t len, const char *path_for_errors,
                      const char *context, struct kube_config **out, char *err, size_t errlen);
/* The operator's choice: --kubeconfig, else $KUBECONFIG, else in-cluster when
 * KUBERNETES_SERVICE_HOST is set, else ~/.kube/config. */
int kube_config_load_auto(const char *kubeconfig_flag, const char *context,
                          struct kube_config **out, char *err, size_t errlen);
void kube_config_free(struct kube_config *cfg);

struct kube_client_opts {
    const char *user_agent;  /* borrowed, copied */
    double token_reload_s;   /* re-read token_file at least this often; default 60 */
    long request_timeout_ms; /* default per request; 0: 30 s */
};

struct kube_client;
/* Takes ownership of cfg. */
struct kube_client *kube_client_new(struct ev_loop *loop, struct http_client *http,
                                    struct kube_config *cfg, const struct kube_client_opts *opts,
                                    char *err, size_t errlen);
void kube_client_free(struct kube_client *kc);
const struct kube_config *kube_client_config(const struct kube_client *kc);
/* The TLS settings of the API server connection (reused for kubelets by default). */
const struct http_tls *kube_client_tls(const struct kube_client *kc);
/* The current bearer token, or NULL: for kubelet scrapes. Secret: never log it.
 * An exec plugin is started (a child the loop watches, at most 30 s) when its cached
 * credential is missing, near its expiry or was rejected with a 401; until it answers this
 * returns the token in hand, and kube_request's calls wait for it. */
const char *kube_client_token(struct kube_client *kc);

/* The result of one API call. Valid only during the callback. */
struct kube_response {
    long status;        /* HTTP status; 0 on a transport error */
    int http_error;     /* enum http_error, 0 if a response arrived */
    const char *error;  /* transport error text, or the Status message of a failure */
    const char *reason; /* metav1.Status reason ("Conflict", "Forbidden", ...) or NULL */
    json_object *body;  /* parsed JSON body, or NULL; borrowed */
};
typedef void (*kube_done_fn)(const struct kube_response *resp, void *ud);

struct kube_call;
/* method "GET", "POST", "PUT", "PATCH" (merge patch), "DELETE"; path starting "/".
 * body may be NULL; it is serialised before return. timeout_ms 0: the client's
 * default. A 401 with a token file or exec plugin refreshes the credentials and
 * retries once. Returns NULL (logged) when the request could not be started:
 * done is then never called. done may start or cancel other calls, but must
 * not free the client. */
struct kube_call *kube_request(struct kube_client *kc, const char *method, const char *path,
                               json_object *body, long timeout_ms, kube_done_fn done, void *ud);
void kube_call_cancel(struct kube_call *call); /* done is not called; NULL is a no-op */

/* ---- list + watch ------------------------------------------------------ */

enum kube_event_type { KUBE_EVENT_ADDED, KUBE_EVENT_MODIFIED, KUBE_EVENT_DELETED };

struct kube_watch_handlers {
    /* A (re)list starts: objects follow as ADDED; at list_done the consumer
     * drops whatever it holds that was not seen since list_begin. */
    void (*list_begin)(void *ud);
    void (*list_done)(void *ud);
    /* One object from a list page or a watch event; obj is borrowed. */
    void (*event)(enum kube_event_type type, json_object *obj, void *ud);
    /* A failed list or a broken watch; the watch retries by itself with backoff. */
    void (*error)(const struct kube_response *resp, void *ud);
};

struct kube_watch_opts {
    const char *path;           /* collection, e.g. "/api/v1/nodes" */
    const char *field_selector; /* optional, e.g. "metadata.name=kubepulse" */
    const char *label_selector; /* optional */
    long list_page_size;        /* limit per list page; 0: 500 */
    long watch_timeout_s;       /* server-side timeoutSeconds; 0: 300 */
};

struct kube_watch;
struct kube_watch *kube_watch_start(struct kube_client *kc, const struct kube_watch_opts *opts,
                                    const struct kube_watch_handlers *h, void *ud, char *err,
                                    size_t errlen);
void kube_watch_stop(struct kube_watch *w);         /* no callbacks after; NULL is a no-op */
bool kube_watch_synced(const struct kube_watch *w); /* a full list has completed */

#endif
