/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_client.c - struct kube_client: JSON requests to the API server on the
 * http client, with authentication (static or file bearer tokens, client
 * certificates, basic auth, exec plugins), one retry after a 401 with fresh
 * credentials, and metav1.Status error bodies decoded into kube_response.
 * Owns the kube_config and the current credentials; never logs them.
 *
 * An exec plugin runs as a child the loop watches (kube_exec.c). While it runs, requests
 * wait in the call list and start when it answers; streams and kube_client_token use the
 * credentials in hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_internal.h"
#include "log.h"

#define KUBE_BODY_MAX        (256u << 20) /* a list page of big objects */
#define KUBE_TOKEN_MAX       (64u << 10)
#define KUBE_EXEC_TIMEOUT_MS 30000
#define KUBE_EXEC_EARLY_S    10.0 /* refresh exec credentials this long before expiry */
#define KUBE_EXEC_RETRY_S    5.0  /* after a failed run */

struct kube_call {
    struct kube_client *kc; /* borrowed */
    char *method, *path;    /* owned */
    char *body;             /* owned: serialised JSON or NULL */
    size_t body_len;
    long timeout_ms;
    kube_done_fn done;
    void *ud;
    struct http_request *req; /* the attempt in flight */
    int attempt;
    bool in_done;
    bool waiting; /* for the exec plugin: started when it answers */
    struct kube_call *prev, *next;
};

struct kube_client {
    struct ev_loop *loop;     /* borrowed */
    struct http_client *http; /* borrowed */
    struct kube_config *cfg;  /* owned */
    struct http_tls tls;      /* points into cfg / exec_cred */
    char *user_agent;         /* owned or NULL */
    double token_reload_s;
    long timeout_ms;
    char *token;          /* owned: the bearer token in use; secret */
    double token_read_at; /* monotonic */
    bool creds_stale;     /* a 401 was seen: refresh before the next request */
    struct kube_exec_cred exec_cred;
    struct kube_exec_proc *exec_run; /* owned: the plugin while it runs */
    double exec_started;             /* monotonic */
    double exec_deadline;            /* monotonic; 0: no expiry */
    double exec_retry_at;            /* monotonic: no re-run before this after a failure */
    bool exec_valid;
    char *basic; /* owned: base64(user:password); secret */
    struct kube_call *calls;
};

/* ---- credentials ---------------------------------------------------------------- */

static void reload_token_file(struct kube_client *kc)
{
    char err[512], *buf;
    kc->token_read_at = kp_mono_now();
    if (kp_read_secret_file(kc->cfg->token_file, KUBE_TOKEN_MAX, &buf, err, sizeof(err)) < 0) {
        log_warn("could not read the bearer token file; keeping the previous token", LF_ERR(err));
        return;
    }
    if (kc->token && strcmp(kc->token, buf) != 0)
        log_v(2, "bearer token file changed", LF_STR("path", kc->cfg->token_file));
    kp_secret_free(kc->token);
    kc->token = buf;
}

static void start_waiting_calls(struct kube_client *kc);

/* kube_exec_done_fn: the plugin answered (or failed, or timed out). */
static void exec_done(int rc, struct kube_exec_cred *cred, const char *err, void *ud)
{
    struct kube_client *kc = ud;
    double t0 = kc->exec_started;
    kc->exec_run = NULL;
    if (rc < 0) {
        log_warn("exec credential plugin failed", LF_ERR(err));
        kc->exec_retry_at = kp_mono_now() + KUBE_EXEC_RETRY_S; /* not on every request */
        start_waiting_calls(kc); /* with what is in hand: the server will say */
        return;
    }
    if (kc->exec_cred.cert_pem && kc->tls.cert_pem == kc->exec_cred.cert_pem) {
        /* back to the kubeconfig's own certificate, if any */
        kc->tls.cert_pem = kc->cfg->cert_pem;
        kc->tls.cert_pem_len = kc->cfg->cert_pem_len;
        kc->tls.key_pem = kc->cfg->key_pem;
        kc->tls.key_pem_len = kc->cfg->key_pem_len;
        kc->tls.cert_file = kc->cfg->cert_pem ? NULL : kc->cfg->cert_file;
        kc->tls.key_file = kc->cfg->key_pem ? NULL : kc->cfg->key_file;
    }
    kube_exec_cred_fini(&kc->exec_cred);
    kc->exec_cred = *cred;
    kc->exec_valid = true;
    kc->exec_retry_at = 0;
    kc->exec_deadline = 0;
    if (cred->expiry) {
        double left = difftime(cred->expiry, time(NULL)) - KUBE_EXEC_EARLY_S;
        kc->exec_deadline = t0 + (left > 1.0 ? left : 1.0);
    }
    kp_secret_free(kc->token);
    kc->token = cred->token ? strdup(cred->token) : NULL;
    if (cred->cert_pem) {
        kc->tls.cert_file = kc->tls.key_file = NULL;
        kc->tls.cert_pem = cred->cert_pem;
        kc->tls.cert_pem_len = strlen(cred->cert_pem);
        kc->tls.key_pem = cred->key_pem;
        kc->tls.key_pem_len = strlen(cred->key_pem);
    }
    log_v(1, "exec credential plugin ran", LF_STR("command", kc->cfg->exec->command),
          LF_DBL("seconds", kp_mono_now() - t0), LF_BOOL("expires", cred->expiry != 0));
    start_waiting_calls(kc);
}

/* Start the plugin when the credential is missing, rejected or near its expiry (and no failed
 * run is too recent). True while a run is in progress: requests wait for it. */
static bool exec_pending(struct kube_client *kc)
{
    char err[512];
    double now = kp_mono_now();
    if (!kc->cfg->exec || kc->exec_run)
        return kc->exec_run != NULL;
    bool need =
        !kc->exec_valid || kc->creds_stale || (kc->exec_deadline && now >= kc->exec_deadline);
    if (!need || now < kc->exec_retry_at)
        return false;
    kc->creds_stale = false;
    kc->exec_started = now;
    kc->exec_run = kube_exec_start(kc->loop, kc->cfg->exec, KUBE_EXEC_TIMEOUT_MS, exec_done, kc,
                                   err, sizeof(err));
    if (!kc->exec_run) {
        log_warn("exec credential plugin failed", LF_ERR(err));
        kc->exec_retry_at = now + KUBE_EXEC_RETRY_S;
    }
    return kc->exec_run != NULL;
}

const char *kube_client_token(struct kube_client *kc)
{
    double now = kp_mono_now();
    if (kc->cfg->exec) {
        (void)exec_pending(kc); /* the token in hand until the plugin answers */
    } else if (kc->cfg->token_file) {
        if (kc->creds_stale || !kc->token || now - kc->token_read_at >= kc->token_reload_s)
            reload_token_file(kc);
        kc->creds_stale = false;
    }
    return kc->token;
}

void kube_client_auth_rejected(struct kube_client *kc)
{
    if (kc->cfg->exec || kc->cfg->token_file)
        kc->creds_stale = true;
}

static bool creds_refreshable(const struct kube_client *kc)
{
    return kc->cfg->exec != NULL || kc->cfg->token_file != NULL;
}

/* ---- client ------------------------------------------------------------------ */

struct kube_client *kube_client_new(struct ev_loop *loop, struct http_client *http,
                                    struct kube_config *cfg, const struct kube_client_opts *opts,
                                    char *err, size_t errlen)
{
    struct kube_client *kc = calloc(1, sizeof(*kc));
    if (!kc) {
        snprintf(err, errlen, "out of memory");
        kube_config_free(cfg);
        return NULL;
    }
    kc->loop = loop;
    kc->http = http;
    kc->cfg = cfg;
    kc->token_reload_s = opts && opts->token_reload_s > 0 ? opts->token_reload_s : 60.0;
    kc->timeout_ms = opts && opts->request_timeout_ms > 0 ? opts->request_timeout_ms : 30000;
    if (opts && opts->user_agent && !(kc->user_agent = strdup(opts->user_agent)))
        goto oom;
    kc->tls.ca_file = cfg->ca_pem ? NULL : cfg->ca_file;
    kc->tls.ca_pem = cfg->ca_pem;
    kc->tls.ca_pem_len = cfg->ca_pem_len;
    kc->tls.cert_file = cfg->cert_pem ? NULL : cfg->cert_file;
    kc->tls.cert_pem = cfg->cert_pem;
    kc->tls.cert_pem_len = cfg->cert_pem_len;
    kc->tls.key_file = cfg->key_pem ? NULL : cfg->key_file;
    kc->tls.key_pem = cfg->key_pem;
    kc->tls.key_pem_len = cfg->key_pem_len;
    kc->tls.server_name = cfg->tls_server_name;
    kc->tls.insecure = cfg->insecure;
    if (cfg->insecure)
        log_warn("TLS verification of the API server is disabled (insecure-skip-tls-verify)",
                 LF_STR("server", cfg->server));
    if (cfg->token && !(kc->token = strdup(cfg->token)))
        goto oom;
    if (cfg->username && cfg->password) {
        char *up;
        if (asprintf(&up, "%s:%s", cfg->username, cfg->password) < 0)
            goto oom;
        kc->basic = kp_base64_encode(up, strlen(up));
        kp_secret_free(up);
        if (!kc->basic)
            goto oom;
    }
    if (cfg->token_file)
        reload_token_file(kc);
    return kc;
oom:
    snprintf(err, errlen, "out of memory");
    kube_client_free(kc);
    return NULL;
}

static void call_free(struct kube_call *call)
{
    KP_DLIST_UNLINK(call->kc->calls, call);
    free(call->method);
    free(call->path);
    free(call->body);
    free(call);
}

void kube_client_free(struct kube_client *kc)
{
    if (!kc)
        return;
    while (kc->calls) {
        http_request_cancel(kc->calls->req);
        call_free(kc->calls);
    }
    kube_exec_cancel(kc->exec_run);
    kube_exec_cred_fini(&kc->exec_cred);
    kp_secret_free(kc->token);
    kp_secret_free(kc->basic);
    free(kc->user_agent);
    kube_config_free(kc->cfg);
    free(kc);
}

const struct kube_config *kube_client_config(const struct kube_client *kc)
{
    return kc->cfg;
}

const struct http_tls *kube_client_tls(const struct kube_client *kc)
{
    return &kc->tls;
}

struct ev_loop *kube_client_loop(const struct kube_client *kc)
{
    return kc->loop;
}

/* ---- requests ------------------------------------------------------------------ */

static struct http_request *start_http(struct kube_client *kc, const char *method, const char *path,
                                       const char *body, size_t body_len, long timeout_ms,
                                       http_data_fn on_data, http_done_fn on_done, void *ud,
                                       char *err, size_t errlen)
{
    char *url = NULL, *auth = NULL, *ua = NULL;
    const char *headers[6];
    size_t nh = 0;
    struct http_request *r = NULL;
    const char *token = kube_client_token(kc);
    if (asprintf(&url, "%s%s", kc->cfg->server, path) < 0) {
        url = NULL;
        goto oom;
    }
    headers[nh++] = "Accept: application/json";
    if (body)
        headers[nh++] = strcmp(method, "PATCH") == 0 ? "Content-Type: application/merge-patch+json"
                                                     : "Content-Type: application/json";
    if (token) {
        if (asprintf(&auth, "Authorization: Bearer %s", token) < 0)
            goto oom;
        headers[nh++] = auth;
    } else if (kc->basic) {
        if (asprintf(&auth, "Authorization: Basic %s", kc->basic) < 0)
            goto oom;
        headers[nh++] = auth;
    }
    if (kc->user_agent) {
        if (asprintf(&ua, "User-Agent: %s", kc->user_agent) < 0)
            goto oom;
        headers[nh++] = ua;
    }
    headers[nh] = NULL;
    struct http_request_opts o = {
        .method = method,
        .url = url,
        .headers = headers,
        .body = body,
        .body_len = body_len,
        .tls = &kc->tls,
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = 10000,
        .max_body = on_data ? 0 : KUBE_BODY_MAX,
        .on_data = on_data,
        .on_done = on_done,
        .ud = ud,
    };
    r = http_request_start(kc->http, &o, err, errlen);
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    free(url);
    kp_secret_free(auth);
    free(ua);
    return r;
}

static void deliver(struct kube_call *call, const struct kube_response *resp)
{
    call->in_done = true;
    call->req = NULL;
    call->done(resp, call->ud);
    call_free(call);
}

static void call_http_done(const struct http_result *res, void *ud);

static int call_start_attempt(struct kube_call *call, char *err, size_t errlen)
{
    call->waiting = exec_pending(call->kc);
    if (call->waiting)
        return 0; /* start_waiting_calls starts it */
    call->req = start_http(call->kc, call->method, call->path, call->body, call->body_len,
                           call->timeout_ms, NULL, call_http_done, call, err, errlen);
    return call->req ? 0 : -1;
}

/* The plugin answered: start the calls that waited for it, one at a time, since a done
 * callback may add or cancel calls (a call added meanwhile starts at once, or waits for a new
 * run, and then this stops). */
static void start_waiting_calls(struct kube_client *kc)
{
    char err[512];
    struct kube_call *call;
    while (!kc->exec_run) {
        for (call = kc->calls; call && !call->waiting; call = call->next)
            ;
        if (!call)
            return;
        call->waiting = false;
        call->req = start_http(kc, call->method, call->path, call->body, call->body_len,
                               call->timeout_ms, NULL, call_http_done, call, err, sizeof(err));
        if (!call->req) {
            struct kube_response r = {.http_error = HTTP_ERR_IO, .error = err};
            deliver(call, &r);
        }
    }
}

static json_object *parse_body(const char *body, size_t len)
{
    if (len == 0 || len > (size_t)INT32_MAX)
        return NULL;
    json_tokener *tok = json_tokener_new_ex(KUBE_STREAM_MAX_DEPTH);
    if (!tok)
        return NULL;
    json_object *obj = json_tokener_parse_ex(tok, body, (int)len);
    if (obj && json_tokener_get_parse_end(tok) < len) {
        /* trailing whitespace only */
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
            if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' && body[i] != '\t') {
                json_object_put(obj);
                obj = NULL;
                break;
            }
    }
    json_tokener_free(tok);
    return obj;
}

static void call_http_done(const struct http_result *res, void *ud)
{
    struct kube_call *call = ud;
    struct kube_client *kc = call->kc;
    char err[512], msg[600];
    call->req = NULL;
    if (res->error == 0 && res->status == 401 && call->attempt == 0 && creds_refreshable(kc)) {
        log_v(1, "API server rejected the credentials; refreshing them and retrying once",
              LF_STR("method", call->method), LF_STR("path", call->path));
        kc->creds_stale = true;
        call->attempt++;
        if (call_start_attempt(call, err, sizeof(err)) == 0)
            return;
        struct kube_response r = {.http_error = HTTP_ERR_IO, .error = err};
        deliver(call, &r);
        return;
    }
    struct kube_response resp = {.status = res->status, .http_error = res->error};
    json_object *body = NULL;
    if (res->error) {
        snprintf(msg, sizeof(msg), "%s %s: %s (%s)", call->method, call->path,
                 res->error_msg ? res->error_msg : "transport error", http_error_name(res->error));
        resp.error = msg;
    } else {
        body = parse_body(res->body, res->body_len);
        resp.body = body;
        if (res->status >= 400 || res->status < 200) {
            const char *reason, *message;
            kube_status_parse(body, &reason, &message);
            resp.reason = reason;
            snprintf(msg, sizeof(msg), "%s %s: HTTP %ld%s%s", call->method, call->path, res->status,
                     message ? ": " : "", message ? message : "");
            resp.error = message ? message : msg;
        } else if (!body && res->body_len > 0) {
            snprintf(msg, sizeof(msg), "%s %s: response is not valid JSON", call->method,
                     call->path);
            resp.error = msg;
        }
    }
    deliver(call, &resp);
    json_object_put(body);
}

struct kube_call *kube_request(struct kube_client *kc, const char *method, const char *path,
                               json_object *body, long timeout_ms, kube_done_fn done, void *ud)
{
    char err[512];
    struct kube_call *call = calloc(1, sizeof(*call));
    if (!call)
        goto oom;
    call->kc = kc;
    KP_DLIST_PUSH(kc->calls, call); /* from here on call_free undoes everything */
    call->done = done;
    call->ud = ud;
    call->timeout_ms = timeout_ms > 0 ? timeout_ms : kc->timeout_ms;
    call->method = strdup(method ? method : "GET");
    call->path = strdup(path);
    if (!call->method || !call->path)
        goto oom;
    if (body) {
        const char *s = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
        if (!s || !(call->body = strdup(s)))
            goto oom;
        call->body_len = strlen(call->body);
    }
    if (call_start_attempt(call, err, sizeof(err)) < 0) {
        log_error("could not start an API request", LF_STR("method", call->method),
                  LF_STR("path", call->path), LF_ERR(err));
        call_free(call);
        return NULL;
    }
    return call;
oom:
    log_error("out of memory starting an API request", LF_STR("path", path));
    if (call)
        call_free(call);
    return NULL;
}

void kube_call_cancel(struct kube_call *call)
{
    if (!call || call->in_done)
        return;
    http_request_cancel(call->req);
    call_free(call);
}

struct http_request *kube_stream_start(struct kube_client *kc, const char *path, long timeout_ms,
                                       http_data_fn on_data, http_done_fn on_done, void *ud,
                                       char *err, size_t errlen)
{
    return start_http(kc, "GET", path, NULL, 0, timeout_ms, on_data, on_done, ud, err, errlen);
}
