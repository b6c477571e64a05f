/*
 * kube_exec.c - exec credential plugins (client.authentication.k8s.io v1 and
 * v1beta1): runs the configured command with fork/exec, reads its
 * ExecCredential from a pipe (bounded size and time) and parses it.
 *
 * This blocks the event loop for as long as the plugin runs (at most the
 * timeout), which happens only when the cached credential expires or is
 * rejected with a 401; plugins are expected to answer quickly.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

static int read_output(int fd, pid_t pid, long timeout_ms, char **out, size_t *out_len, char *err,
                       size_t errlen)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    double deadline = kp_mono_now() + (double)timeout_ms / 1000.0;
    if (!buf) {
        snprintf(err, errlen, "exec plugin: out of memory");
        return -1;
    }
    for (;;) {
        int left = (int)((deadline - kp_mono_now()) * 1000.0);
        if (left <= 0) {
            snprintf(err, errlen, "exec plugin (pid %d) timed out after %ld ms", (int)pid,
                     timeout_ms);
            goto fail;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0) {
            snprintf(err, errlen, "exec plugin: poll: %s", strerror(errno));
            goto fail;
        }
        if (pr == 0)
            continue;
        if (len == cap) {
            if (cap >= EXEC_OUTPUT_MAX) {
                snprintf(err, errlen, "exec plugin output exceeds %u bytes", EXEC_OUTPUT_MAX);
                goto fail;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                snprintf(err, errlen, "exec plugin: out of memory");
                goto fail;
            }
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            snprintf(err, errlen, "exec plugin: read: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
fail:
    free(buf);
    return -1;
}

int kube_exec_run(const struct kube_exec *x, long timeout_ms, struct kube_exec_cred *out, char *err,
                  size_t errlen)
{
    char info[256];
    char **argv = NULL, **env = NULL, *output = NULL;
    size_t nargs = 0, outlen = 0;
    int pipefd[2] = {-1, -1}, status = 0, rc = -1;
    pid_t pid = -1;
    memset(out, 0, sizeof(*out));
    if (timeout_ms <= 0)
        timeout_ms = 30000;
    snprintf(info, sizeof(info),
             "KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
             "\"spec\":{\"interactive\":false}}",
             x->api_version ? x->api_version : "client.authentication.k8s.io/v1");
    for (char **a = x->args; a && *a; a++)
        nargs++;
    argv = calloc(nargs + 2, sizeof(char *));
    env = build_env(x, info);
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
    close(pipefd[1]);
    pipefd[1] = -1;
    if (read_output(pipefd[0], pid, timeout_ms, &output, &outlen, err, errlen) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        goto out;
    }
    /* Output ended: the plugin exits now; bound the wait anyway. */
    for (int i = 0; waitpid(pid, &status, WNOHANG) == 0; i++) {
        if (i >= 200) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        usleep(10000);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "exec plugin %s failed (%s %d)", x->command,
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        goto out;
    }
    char perr[200];
    if (kube_exec_cred_parse(output, outlen, out, perr, sizeof(perr)) < 0) {
        snprintf(err, errlen, "exec plugin %s: %s", x->command, perr);
        goto out;
    }
    rc = 0;
out:
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (output) {
        memset(output, 0, outlen); /* held a secret */
        free(output);
    }
    free(argv);
    free(env);
    return rc;
}
