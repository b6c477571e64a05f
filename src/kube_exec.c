/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_exec.c - exec credential plugins (client.authentication.k8s.io v1 and
 * v1beta1): runs the configured command with fork/exec as a child the event
 * loop watches (ev_io on its stdout pipe, ev_child for its exit, ev_timer for
 * the timeout), reads its ExecCredential (bounded size and time) and parses it.
 * The loop keeps turning while a plugin runs; kube_client.c holds API requests
 * back until the plugin has answered.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kube_internal.h"

#define EXEC_OUTPUT_MAX (1u << 20)

extern char **environ;

void kube_exec_cred_fini(struct kube_exec_cred *cred)
{
    if (!cred)
        return;
    free(cred->token);
    free(cred->cert_pem);
    free(cred->key_pem);
    memset(cred, 0, sizeof(*cred));
}

static int get_status_str(json_object *status, const char *key, char **out)
{
    json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(status, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -1;
    if (json_object_get_string_len(v) == 0)
        return 0;
    *out = strdup(json_object_get_string(v));
    return *out ? 0 : -1;
}

int kube_exec_cred_parse(const char *json, size_t len, struct kube_exec_cred *out, char *err,
                         size_t errlen)
{
    json_tokener *tok = json_tokener_new_ex(16);
    json_object *root = NULL, *kind, *status, *exp;
    memset(out, 0, sizeof(*out));
    if (!tok || len > EXEC_OUTPUT_MAX) {
        snprintf(err, errlen, "exec plugin output too large or out of memory");
        goto fail;
    }
    root = json_tokener_parse_ex(tok, json, (int)len);
    if (!root || !json_object_is_type(root, json_type_object)) {
        snprintf(err, errlen, "exec plugin output is not a JSON object");
        goto fail;
    }
    if (!json_object_object_get_ex(root, "kind", &kind) ||
        strcmp(json_object_get_string(kind), "ExecCredential") != 0) {
        snprintf(err, errlen, "exec plugin output is not an ExecCredential");
        goto fail;
    }
    if (!json_object_object_get_ex(root, "status", &status) ||
        !json_object_is_type(status, json_type_object)) {
        snprintf(err, errlen, "exec plugin output has no status");
        goto fail;
    }
    if (get_status_str(status, "token", &out->token) < 0 ||
        get_status_str(status, "clientCertificateData", &out->cert_pem) < 0 ||
        get_status_str(status, "clientKeyData", &out->key_pem) < 0) {
        snprintf(err, errlen,
                 "exec plugin status: token, clientCertificateData and "
                 "clientKeyData must be strings");
        goto fail;
    }
    if (!out->token && !out->cert_pem) {
        snprintf(err, errlen, "exec plugin status has neither a token nor a client certificate");
        goto fail;
    }
    if (!out->cert_pem != !out->key_pem) {
        snprintf(err, errlen,
                 "exec plugin status: clientCertificateData and clientKeyData "
                 "must be given together");
        goto fail;
    }
    if (json_object_object_get_ex(status, "expirationTimestamp", &exp) &&
        !json_object_is_type(exp, json_type_null)) {
        int64_t sec;
        int32_t nsec; /* client-go keeps it; a token's expiry needs only the second */
        const char *t = json_object_get_string(exp);
        if (kp_rfc3339_parse(t, strlen(t), -1, &sec, &nsec) < 0) {
            snprintf(err, errlen, "exec plugin status: invalid expirationTimestamp");
            goto fail;
        }
        out->expiry = (time_t)sec;
    }
    json_object_put(root);
    json_tokener_free(tok);
    return 0;
fail:
    json_object_put(root);
    if (tok)
        json_tokener_free(tok);
    kube_exec_cred_fini(out);
    return -1;
}

/* environ + the plugin's env (which wins) + KUBERNETES_EXEC_INFO. */
static char **build_env(const struct kube_exec *x, char *info)
{
    size_t n = 0, m = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    for (char **e = x->env; e && *e; e++)
        m++;
    char **env = calloc(n + m + 2, sizeof(char *));
    if (!env)
        return NULL;
    size_t k = 0;
    for (char **e = environ; e && *e; e++) {
        size_t nl = strcspn(*e, "=");
        bool overridden = strncmp(*e, "KUBERNETES_EXEC_INFO=", 21) == 0;
        for (char **o = x->env; o && *o && !overridden; o++)
            overridden = strncmp(*o, *e, nl + 1) == 0;
        if (!overridden)
            env[k++] = *e;
    }
    for (char **o = x->env; o && *o; o++)
        env[k++] = *o;
    env[k++] = info;
    env[k] = NULL;
    return env;
}

struct kube_exec_proc {
    struct ev_loop *loop; /* borrowed: libev's default loop (ev_child needs it) */
    const char *command;  /* borrowed from the kube_exec, for messages */
    pid_t pid;
    int fd; /* the read end of the plugin's stdout, non-blocking; -1 once at EOF */
    ev_io io;
    ev_child child;
    ev_timer timer;
    long timeout_ms;
    char *buf; /* owned: the output so far (a secret: wiped before it is freed) */
    size_t len, cap;
    bool exited;
    int status;
    kube_exec_done_fn done;
    void *ud;
};

/* Stop watching, kill the plugin if it still runs (libev's SIGCHLD handler reaps it on the
 * default loop), wipe and free. */
static void proc_free(struct kube_exec_proc *p)
{
    if (!p->exited && !ev_is_pending(&p->child)) /* pending: reaped, not yet told */
        kill(p->pid, SIGKILL);
    ev_io_stop(p->loop, &p->io);
    ev_child_stop(p->loop, &p->child);
    ev_timer_stop(p->loop, &p->timer);
    if (p->fd >= 0)
        close(p->fd);
    if (p->buf) {
        explicit_bzero(p->buf, p->len);
        free(p->buf);
    }
    free(p);
}

/* The run is over: parse what it wrote (rc 0) or pass the error on; p is freed before done
 * runs, so done may start another run. */
static void proc_finish(struct kube_exec_proc *p, int rc, const char *msg)
{
    struct kube_exec_cred cred = {0};
    char err[512] = "";
    if (rc < 0) {
        snprintf(err, sizeof(err), "%s", msg);
    } else if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
        snprintf(err, sizeof(err), "exec plugin %s failed (%s %d)", p->command,
                 WIFEXITED(p->status) ? "exit status" : "signal",
                 WIFEXITED(p->status) ? WEXITSTATUS(p->status) : WTERMSIG(p->status));
        rc = -1;
    } else {
        char perr[200];
        rc = kube_exec_cred_parse(p->buf ? p->buf : "", p->len, &cred, perr, sizeof(perr));
        if (rc < 0)
            snprintf(err, sizeof(err), "exec plugin %s: %s", p->command, perr);
    }
    kube_exec_done_fn done = p->done;
    void *ud = p->ud;
    proc_free(p);
    done(rc, rc == 0 ? &cred : NULL, rc == 0 ? NULL : err, ud);
}

/* Both the end of the output and the exit are needed: a plugin may exit before its output is
 * read, and a grandchild may hold the pipe open after it exits (the timer ends that). */
static void proc_check_done(struct kube_exec_proc *p)
{
    if (p->exited && p->fd < 0)
        proc_finish(p, 0, NULL);
}

static void on_output(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct kube_exec_proc *p = w->data;
    char msg[128];
    for (;;) {
        if (p->len == p->cap) {
            if (p->cap >= EXEC_OUTPUT_MAX) {
                snprintf(msg, sizeof(msg), "exec plugin output exceeds %u bytes", EXEC_OUTPUT_MAX);
                proc_finish(p, -1, msg);
                return;
            }
            size_t cap = p->cap ? p->cap * 2 : 4096;
            char *nb = malloc(cap + 1); /* not realloc: the old copy is wiped */
            if (!nb) {
                proc_finish(p, -1, "exec plugin: out of memory");
                return;
            }
            if (p->buf) {
                memcpy(nb, p->buf, p->len);
                explicit_bzero(p->buf, p->len);
                free(p->buf);
            }
            p->buf = nb;
            p->cap = cap;
        }
        ssize_t n = read(p->fd, p->buf + p->len, p->cap - p->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* the rest comes with the next readiness */
        if (n < 0) {
            snprintf(msg, sizeof(msg), "exec plugin: read: %s", strerror(errno));
            proc_finish(p, -1, msg);
            return;
        }
        if (n == 0)
            break;
        p->len += (size_t)n;
    }
    p->buf[p->len] = '\0'; /* cap + 1 bytes were allocated */
    ev_io_stop(p->loop, &p->io);
    close(p->fd);
    p->fd = -1;
    proc_check_done(p);
}

static void on_exit_status(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)revents;
    struct kube_exec_proc *p = w->data;
    ev_child_stop(loop, w);
    p->exited = true;
    p->status = w->rstatus;
    proc_check_done(p);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct kube_exec_proc *p = w->data;
    char msg[128];
    snprintf(msg, sizeof(msg), "exec plugin (pid %d) timed out after %ld ms", (int)p->pid,
             p->timeout_ms);
    proc_finish(p, -1, msg);
}

/* fork + exec with stdin from /dev/null and stdout into a new pipe; *fd gets its read end. */
static pid_t spawn(const struct kube_exec *x, int *fd, char *err, size_t errlen)
{
    char info[256];
    size_t nargs = 0;
    int pipefd[2] = {-1, -1};
    pid_t pid = -1;
    snprintf(info, sizeof(info),
             "KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
             "\"spec\":{\"interactive\":false}}",
             x->api_version ? x->api_version : "client.authentication.k8s.io/v1");
    for (char **a = x->args; a && *a; a++)
        nargs++;
    char **argv = calloc(nargs + 2, sizeof(char *));
    char **env = build_env(x, info);
    if (!argv || !env) {
        snprintf(err, errlen, "exec plugin: out of memory");
        goto out;
    }
    argv[0] = x->command;
    for (size_t i = 0; i < nargs; i++)
        argv[i + 1] = x->args[i];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "exec plugin: pipe: %s", strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "exec plugin: fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) { /* child: only async-signal-safe calls */
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(pipefd[1], STDOUT_FILENO);
        execvpe(x->command, argv, env);
        _exit(127);
    }
    fcntl(pipefd[0], F_SETFL, fcntl(pipefd[0], F_GETFL) | O_NONBLOCK);
    *fd = pipefd[0];
    pipefd[0] = -1;
out:
    for (int i = 0; i < 2; i++)
        if (pipefd[i] >= 0)
            close(pipefd[i]);
    free(argv);
    free(env);
    return pid;
}

struct kube_exec_proc *kube_exec_start(struct ev_loop *loop, const struct kube_exec *x,
                                       long timeout_ms, kube_exec_done_fn done, void *ud, char *err,
                                       size_t errlen)
{
    bool ok = ev_is_default_loop(loop);
    struct kube_exec_proc *p = ok ? calloc(1, sizeof(*p)) : NULL;
    if (!p) {
        snprintf(err, errlen, "exec plugin: %s",
                 ok ? "out of memory" : "needs libev's default loop (ev_child)");
        return NULL;
    }
    p->loop = loop;
    p->command = x->command;
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    p->done = done;
    p->ud = ud;
    p->pid = spawn(x, &p->fd, err, errlen);
    if (p->pid < 0) {
        free(p);
        return NULL;
    }
    ev_io_init(&p->io, on_output, p->fd, EV_READ);
    ev_child_init(&p->child, on_exit_status, p->pid, 0);
    ev_timer_init(&p->timer, on_timeout, (double)p->timeout_ms / 1000.0, 0.);
    p->io.data = p->child.data = p->timer.data = p;
    ev_io_start(loop, &p->io);
    ev_child_start(loop, &p->child);
    ev_now_update(loop); /* the timeout counts from now, not from the loop's last wake-up */
    ev_timer_start(loop, &p->timer);
    return p;
}

void kube_exec_cancel(struct kube_exec_proc *p)
{
    if (p)
        proc_free(p);
}
