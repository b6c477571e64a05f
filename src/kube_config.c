/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_config.c - the kubeconfig parser: clusters, users and contexts, data
 * and file forms, exec plugins, relative paths against the file's directory.
 * Errors name the file, the line and the key path; they never quote secrets.
 * (Loading files, in-cluster config and the auto order: kube_config_load.c.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube_internal.h"
#include "kube_yaml.h"

#define KUBECONFIG_MAX_BYTES (4u << 20)
#define KUBE_PEM_MAX         (1u << 20)

struct parse_ctx {
    const char *path; /* borrowed: for messages */
    char *dir;        /* owned: base of relative paths, or NULL */
    char *err;
    size_t errlen;
};

static void kc_error(struct parse_ctx *p, const struct kyaml_node *n, const char *key,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void kc_error(struct parse_ctx *p, const struct kyaml_node *n, const char *key,
                     const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        snprintf(p->err, p->errlen, "%s:%d: %s: %s", p->path, n->line, key, msg);
    else
        snprintf(p->err, p->errlen, "%s: %s: %s", p->path, key, msg);
}

/* ---- kubeconfig value helpers ------------------------------------------------ */

/* A scalar value as a string, or NULL (absent). -1 when not a scalar. */
static int get_str(struct parse_ctx *p, const struct kyaml_node *map, const char *key,
                   const char *keypath, const struct kyaml_node **node, const char **out)
{
    const struct kyaml_node *n = kyaml_get(map, key);
    *out = NULL;
    if (node)
        *node = n;
    if (!n)
        return 0;
    if (n->type != KYAML_SCALAR) {
        kc_error(p, n, keypath, "expected a string");
        return -1;
    }
    if (strlen(n->scalar) != n->scalar_len) {
        kc_error(p, n, keypath, "contains a NUL byte");
        return -1;
    }
    *out = n->scalar;
    return 0;
}

#define KEYPATH_MAX 192 /* a prefix (at most 160) plus the longest key */

/* get_str of prefix.key, with that path (for messages) in keypath[KEYPATH_MAX]. */
static int get_field(struct parse_ctx *p, const struct kyaml_node *map, const char *key,
                     const char *prefix, char *keypath, const struct kyaml_node **node,
                     const char **out)
{
    snprintf(keypath, KEYPATH_MAX, "%s.%s", prefix, key);
    return get_str(p, map, key, keypath, node, out);
}

/* get_field of a key that must be there and not empty. */
static int get_required(struct parse_ctx *p, const struct kyaml_node *map, const char *key,
                        const char *prefix, char *keypath, const struct kyaml_node **node,
                        const char **out)
{
    if (get_field(p, map, key, prefix, keypath, node, out) < 0)
        return -1;
    if (!*out || !(*out)[0]) {
        kc_error(p, *node ? *node : map, keypath, "missing");
        return -1;
    }
    return 0;
}

static int dup_str(struct parse_ctx *p, const struct kyaml_node *map, const char *key,
                   const char *prefix, char **out)
{
    char keypath[KEYPATH_MAX];
    const char *v;
    if (get_field(p, map, key, prefix, keypath, NULL, &v) < 0)
        return -1;
    if (v && v[0] && !(*out = strdup(v))) {
        kc_error(p, NULL, keypath, "out of memory");
        return -1;
    }
    return 0;
}

/* v as given when absolute, else relative to the kubeconfig's directory (as client-go).
 * malloc'd; NULL when out of memory. */
static char *config_relative(const struct parse_ctx *p, const char *v)
{
    char *out = NULL;
    if (v[0] == '/' || !p->dir)
        return strdup(v);
    return asprintf(&out, "%s/%s", p->dir, v) < 0 ? NULL : out;
}

static int dup_path(struct parse_ctx *p, const struct kyaml_node *map, const char *key,
                    const char *prefix, char **out)
{
    if (dup_str(p, map, key, prefix, out) < 0)
        return -1;
    if (!*out)
        return 0;
    char *resolved = config_relative(p, *out);
    free(*out);
    *out = resolved;
    if (!resolved) {
        char keypath[KEYPATH_MAX];
        snprintf(keypath, sizeof(keypath), "%s.%s", prefix, key);
        kc_error(p, NULL, keypath, "out of memory");
        return -1;
    }
    return 0;
}

static int dup_b64(struct parse_ctx *p, const struct kyaml_node *map, const char *key,
                   const char *prefix, char **out, size_t *out_len)
{
    char keypath[KEYPATH_MAX];
    const char *v;
    const struct kyaml_node *n;
    if (get_field(p, map, key, prefix, keypath, &n, &v) < 0)
        return -1;
    if (!v || !v[0])
        return 0;
    *out = kp_base64_decode(v, strlen(v), KUBE_PEM_MAX, out_len);
    if (!*out || *out_len == 0) {
        free(*out);
        *out = NULL;
        kc_error(p, n, keypath, "invalid base64");
        return -1;
    }
    return 0;
}

static int get_bool(struct parse_ctx *p, const struct kyaml_node *map, const char *key,
                    const char *prefix, bool *out)
{
    char keypath[KEYPATH_MAX];
    const char *v;
    const struct kyaml_node *n;
    if (get_field(p, map, key, prefix, keypath, &n, &v) < 0)
        return -1;
    if (!v)
        return 0;
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) {
        *out = true;
    } else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE")) {
        *out = false;
    } else {
        kc_error(p, n, keypath, "expected true or false");
        return -1;
    }
    return 0;
}

/* Find the entry named name in the list under key (clusters/users/contexts);
 * returns its inner map (under inner) and its index in *index. */
static int find_named(struct parse_ctx *p, const struct kyaml_node *root, const char *key,
                      const char *inner, const char *name, const struct kyaml_node **out,
                      size_t *index)
{
    const struct kyaml_node *list = kyaml_get(root, key);
    if (list && list->type != KYAML_SEQ && !(list->type == KYAML_SCALAR && !list->scalar[0])) {
        kc_error(p, list, key, "expected a list");
        return -1;
    }
    for (size_t i = 0; list && list->type == KYAML_SEQ && i < list->n_items; i++) {
        const struct kyaml_node *item = list->items[i], *nm;
        char keypath[64];
        const char *v;
        snprintf(keypath, sizeof(keypath), "%s[%zu]", key, i);
        if (item->type != KYAML_MAP) {
            kc_error(p, item, keypath, "expected a mapping");
            return -1;
        }
        if (get_str(p, item, "name", keypath, &nm, &v) < 0)
            return -1;
        if (!v || strcmp(v, name) != 0)
            continue;
        const struct kyaml_node *m = kyaml_get(item, inner);
        if (!m || m->type != KYAML_MAP) {
            snprintf(keypath, sizeof(keypath), "%s[%zu].%s", key, i, inner);
            kc_error(p, m ? m : item, keypath, "expected a mapping");
            return -1;
        }
        *out = m;
        *index = i;
        return 0;
    }
    kc_error(p, list, key, "no entry named \"%s\"", name);
    return -1;
}

/* ---- sections ------------------------------------------------------------------ */

static int parse_cluster(struct parse_ctx *p, const struct kyaml_node *m, const char *pre,
                         struct kube_config *cfg)
{
    char keypath[KEYPATH_MAX];
    const struct kyaml_node *n;
    const char *server;
    if (get_required(p, m, "server", pre, keypath, &n, &server) < 0)
        return -1;
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
        kc_error(p, n, keypath, "must start with https:// or http://");
        return -1;
    }
    if (!(cfg->server = strdup(server))) {
        kc_error(p, n, keypath, "out of memory");
        return -1;
    }
    for (size_t l = strlen(cfg->server); l > 8 && cfg->server[l - 1] == '/'; l--)
        cfg->server[l - 1] = '\0';
    if (dup_path(p, m, "certificate-authority", pre, &cfg->ca_file) < 0 ||
        dup_b64(p, m, "certificate-authority-data", pre, &cfg->ca_pem, &cfg->ca_pem_len) < 0 ||
        get_bool(p, m, "insecure-skip-tls-verify", pre, &cfg->insecure) < 0 ||
        dup_str(p, m, "tls-server-name", pre, &cfg->tls_server_name) < 0)
        return -1;
    return 0;
}

static int parse_str_list(struct parse_ctx *p, const struct kyaml_node *n, const char *keypath,
                          char ***out)
{
    size_t count = n ? n->n_items : 0;
    if (n && n->type != KYAML_SEQ) {
        kc_error(p, n, keypath, "expected a list");
        return -1;
    }
    if (!(*out = calloc(count + 1, sizeof(char *))))
        goto oom;
    for (size_t i = 0; i < count; i++) {
        if (n->items[i]->type != KYAML_SCALAR) {
            kc_error(p, n->items[i], keypath, "item %zu: expected a string", i);
            return -1;
        }
        if (!((*out)[i] = strdup(n->items[i]->scalar)))
            goto oom;
    }
    return 0;
oom:
    kc_error(p, n, keypath, "out of memory");
    return -1;
}

static int parse_exec_env(struct parse_ctx *p, const struct kyaml_node *n, const char *pre,
                          char ***out)
{
    char keypath[192];
    size_t count = n ? n->n_items : 0;
    snprintf(keypath, sizeof(keypath), "%s.env", pre);
    if (n && n->type != KYAML_SEQ && !(n->type == KYAML_SCALAR && !n->scalar[0])) {
        kc_error(p, n, keypath, "expected a list of {name, value}");
        return -1;
    }
    if (n && n->type == KYAML_SCALAR)
        count = 0;
    if (!(*out = calloc(count + 1, sizeof(char *)))) {
        kc_error(p, n, keypath, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const char *name, *value;
        snprintf(keypath, sizeof(keypath), "%s.env[%zu]", pre, i);
        if (n->items[i]->type != KYAML_MAP) {
            kc_error(p, n->items[i], keypath, "expected {name, value}");
            return -1;
        }
        if (get_str(p, n->items[i], "name", keypath, NULL, &name) < 0 ||
            get_str(p, n->items[i], "value", keypath, NULL, &value) < 0)
            return -1;
        if (!name || !name[0] || strchr(name, '=')) {
            kc_error(p, n->items[i], keypath, "invalid or missing name");
            return -1;
        }
        if (asprintf(&(*out)[i], "%s=%s", name, value ? value : "") < 0) {
            (*out)[i] = NULL;
            kc_error(p, n->items[i], keypath, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int parse_exec(struct parse_ctx *p, const struct kyaml_node *m, const char *pre,
                      struct kube_config *cfg)
{
    char keypath[KEYPATH_MAX];
    const char *cmd, *api;
    const struct kyaml_node *n;
    struct kube_exec *x = calloc(1, sizeof(*x));
    if (!x) {
        kc_error(p, m, pre, "out of memory");
        return -1;
    }
    cfg->exec = x;
    if (m->type != KYAML_MAP) {
        kc_error(p, m, pre, "expected a mapping");
        return -1;
    }
    if (get_required(p, m, "command", pre, keypath, &n, &cmd) < 0)
        return -1;
    /* Like client-go: a relative command with a slash is relative to the kubeconfig. */
    x->command = strchr(cmd, '/') ? config_relative(p, cmd) : strdup(cmd);
    snprintf(keypath, sizeof(keypath), "%s.apiVersion", pre);
    if (get_str(p, m, "apiVersion", keypath, &n, &api) < 0)
        return -1;
    if (!api || (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
                 strcmp(api, "client.authentication.k8s.io/v1beta1") != 0)) {
        kc_error(p, n ? n : m, keypath,
                 "must be client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1");
        return -1;
    }
    x->api_version = strdup(api);
    snprintf(keypath, sizeof(keypath), "%s.args", pre);
    if (!x->command || !x->api_version ||
        parse_str_list(p, kyaml_get(m, "args"), keypath, &x->args) < 0 ||
        parse_exec_env(p, kyaml_get(m, "env"), pre, &x->env) < 0) {
        if (!p->err[0])
            kc_error(p, m, pre, "out of memory");
        return -1;
    }
    return 0;
}

static int parse_user(struct parse_ctx *p, const struct kyaml_node *m, const char *pre,
                      struct kube_config *cfg)
{
    if (dup_str(p, m, "token", pre, &cfg->token) < 0 ||
        dup_path(p, m, "tokenFile", pre, &cfg->token_file) < 0 ||
        dup_path(p, m, "client-certificate", pre, &cfg->cert_file) < 0 ||
        dup_b64(p, m, "client-certificate-data", pre, &cfg->cert_pem, &cfg->cert_pem_len) < 0 ||
        dup_path(p, m, "client-key", pre, &cfg->key_file) < 0 ||
        dup_b64(p, m, "client-key-data", pre, &cfg->key_pem, &cfg->key_pem_len) < 0 ||
        dup_str(p, m, "username", pre, &cfg->username) < 0 ||
        dup_str(p, m, "password", pre, &cfg->password) < 0)
        return -1;
    const struct kyaml_node *x = kyaml_get(m, "exec");
    if (x && !(x->type == KYAML_SCALAR && !x->scalar[0])) {
        char keypath[160];
        snprintf(keypath, sizeof(keypath), "%s.exec", pre);
        if (parse_exec(p, x, keypath, cfg) < 0)
            return -1;
    }
    if ((cfg->cert_file || cfg->cert_pem) != (cfg->key_file || cfg->key_pem)) {
        kc_error(p, m, pre, "client certificate and client key must be given together");
        return -1;
    }
    return 0;
}

static int parse_root(struct parse_ctx *p, const struct kyaml_node *root, const char *context,
                      struct kube_config *cfg)
{
    const char *cur, *cluster_name, *user_name, *ns;
    const struct kyaml_node *ctx, *cl, *us, *n;
    size_t ci, cli, ui;
    char pre[96];
    if (root->type != KYAML_MAP) {
        kc_error(p, root, "(top level)", "expected a mapping");
        return -1;
    }
    if (get_str(p, root, "current-context", "current-context", NULL, &cur) < 0)
        return -1;
    if (context && context[0])
        cur = context;
    if (!cur || !cur[0]) {
        kc_error(p, NULL, "current-context", "not set and no context was given");
        return -1;
    }
    if (find_named(p, root, "contexts", "context", cur, &ctx, &ci) < 0)
        return -1;
    snprintf(pre, sizeof(pre), "contexts[%zu].context", ci);
    char kp_cluster[128], kp_user[128], kp_ns[128];
    snprintf(kp_cluster, sizeof(kp_cluster), "%s.cluster", pre);
    snprintf(kp_user, sizeof(kp_user), "%s.user", pre);
    snprintf(kp_ns, sizeof(kp_ns), "%s.namespace", pre);
    if (get_str(p, ctx, "cluster", kp_cluster, &n, &cluster_name) < 0 ||
        get_str(p, ctx, "user", kp_user, NULL, &user_name) < 0 ||
        get_str(p, ctx, "namespace", kp_ns, NULL, &ns) < 0)
        return -1;
    if (!cluster_name || !cluster_name[0]) {
        kc_error(p, ctx, kp_cluster, "missing");
        return -1;
    }
    if (ns && ns[0] && !(cfg->namespace = strdup(ns)))
        goto oom;
    if (find_named(p, root, "clusters", "cluster", cluster_name, &cl, &cli) < 0)
        return -1;
    snprintf(pre, sizeof(pre), "clusters[%zu].cluster", cli);
    if (parse_cluster(p, cl, pre, cfg) < 0)
        return -1;
    if (user_name && user_name[0]) {
        if (find_named(p, root, "users", "user", user_name, &us, &ui) < 0)
            return -1;
        snprintf(pre, sizeof(pre), "users[%zu].user", ui);
        if (parse_user(p, us, pre, cfg) < 0)
            return -1;
    }
    return 0;
oom:
    kc_error(p, ctx, pre, "out of memory");
    return -1;
}

int kube_config_parse(const char *text, size_t len, const char *path_for_errors,
                      const char *context, struct kube_config **out, char *err, size_t errlen)
{
    struct parse_ctx p = {
        .path = path_for_errors ? path_for_errors : "kubeconfig", .err = err, .errlen = errlen};
    struct kube_config *cfg = NULL;
    struct kyaml_node *root = NULL;
    char yerr[256];
    *out = NULL;
    if (errlen)
        err[0] = '\0';
    if (len > KUBECONFIG_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %u bytes", p.path, KUBECONFIG_MAX_BYTES);
        return -1;
    }
    if (path_for_errors) {
        const char *slash = strrchr(path_for_errors, '/');
        p.dir = slash ? strndup(path_for_errors, (size_t)(slash - path_for_errors)) : strdup(".");
        if (p.dir && !p.dir[0]) { /* "/config" */
            free(p.dir);
            p.dir = strdup("/");
        }
        if (!p.dir)
            goto oom;
    }
    root = kyaml_parse(text, len, yerr, sizeof(yerr));
    if (!root) {
        snprintf(err, errlen, "%s:%s", p.path, yerr);
        goto fail;
    }
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg || !(cfg->source = strdup(p.path)))
        goto oom;
    if (parse_root(&p, root, context, cfg) < 0)
        goto fail;
    kyaml_free(root);
    free(p.dir);
    *out = cfg;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", p.path);
fail:
    kyaml_free(root);
    free(p.dir);
    kube_config_free(cfg);
    return -1;
}

int kube_config_load_file(const char *path, const char *context, struct kube_config **out,
                          char *err, size_t errlen)
{
    char *text;
    size_t len;
    *out = NULL;
    if (kp_read_file(path, KUBECONFIG_MAX_BYTES, &text, &len, err, errlen) < 0)
        return -1;
    int rc = kube_config_parse(text, len, path, context, out, err, errlen);
    free(text);
    return rc;
}
