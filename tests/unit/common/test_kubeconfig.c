/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kubeconfig.c - kubeconfig parsing (every key, data and file forms,
 * contexts, relative paths, errors with file:line: key), in-cluster config,
 * kube_config_load_auto's order. (base64 and RFC 3339: test_util.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kp_test.h"
#include "kube_internal.h"

/* "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" */
#define PEM_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
#define PEM_TXT "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

static const char full_config[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: prod\n"
    "preferences: {}\n"
    "clusters:\n"
    "- name: prod-cluster\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority-data: " PEM_B64 "\n"
    "    tls-server-name: kubernetes.default.svc\n"
    "    extensions: [{name: x, extension: {a: b}}]\n"
    "- name: dev-cluster\n"
    "  cluster:\n"
    "    server: https://dev.example:443\n"
    "    certificate-authority: certs/ca.crt\n"
    "    insecure-skip-tls-verify: true\n"
    "users:\n"
    "- name: prod-user\n"
    "  user:\n"
    "    client-certificate-data: " PEM_B64 "\n"
    "    client-key-data: " PEM_B64 "\n"
    "- name: dev-user\n"
    "  user:\n"
    "    client-certificate: certs/dev.crt\n"
    "    client-key: /abs/dev.key\n"
    "    token: static-token\n"
    "    tokenFile: token\n"
    "    username: admin\n"
    "    password: s3cret\n"
    "- name: exec-user\n"
    "  user:\n"
    "    exec:\n"
    "      apiVersion: client.authentication.k8s.io/v1beta1\n"
    "      command: ./bin/plugin\n"
    "      args: [--region, eu]\n"
    "      env:\n"
    "      - name: FOO\n"
    "        value: bar\n"
    "      - {name: EMPTY}\n"
    "      interactiveMode: Never\n"
    "contexts:\n"
    "- name: prod\n"
    "  context: {cluster: prod-cluster, user: prod-user, namespace: monitoring}\n"
    "- name: dev\n"
    "  context: {cluster: dev-cluster, user: dev-user}\n"
    "- name: exec\n"
    "  context: {cluster: dev-cluster, user: exec-user}\n";

static struct kube_config *parse_ok(const char *text, const char *context)
{
    struct kube_config *cfg = NULL;
    char err[512] = "";
    int rc =
        kube_config_parse(text, strlen(text), "/etc/kube/config", context, &cfg, err, sizeof(err));
    if (rc != 0)
        fail_msg("parse failed: %s", err);
    assert_non_null(cfg);
    return cfg;
}

static void parse_err(const char *text, const char *context, const char *want)
{
    struct kube_config *cfg = (void *)1;
    char err[512] = "";
    assert_int_equal(
        kube_config_parse(text, strlen(text), "/x/config", context, &cfg, err, sizeof(err)), -1);
    assert_null(cfg);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
}

KP_TEST(test_current_context_data_forms)
{
    (void)state;
    struct kube_config *cfg = parse_ok(full_config, NULL);
    assert_string_equal(cfg->source, "/etc/kube/config");
    assert_string_equal(cfg->server, "https://10.0.0.1:6443");
    assert_int_equal(cfg->ca_pem_len, strlen(PEM_TXT));
    assert_memory_equal(cfg->ca_pem, PEM_TXT, cfg->ca_pem_len);
    assert_null(cfg->ca_file);
    assert_string_equal(cfg->tls_server_name, "kubernetes.default.svc");
    assert_false(cfg->insecure);
    assert_string_equal(cfg->cert_pem, PEM_TXT);
    assert_string_equal(cfg->key_pem, PEM_TXT);
    assert_int_equal(cfg->key_pem_len, strlen(PEM_TXT));
    assert_null(cfg->token);
    assert_null(cfg->exec);
    assert_string_equal(cfg->namespace, "monitoring");
    kube_config_free(cfg);
}

KP_TEST(test_context_override_file_forms)
{
    (void)state;
    struct kube_config *cfg = parse_ok(full_config, "dev");
    assert_string_equal(cfg->server, "https://dev.example:443");
    assert_string_equal(cfg->ca_file, "/etc/kube/certs/ca.crt");
    assert_true(cfg->insecure);
    assert_string_equal(cfg->cert_file, "/etc/kube/certs/dev.crt");
    assert_string_equal(cfg->key_file, "/abs/dev.key");
    assert_string_equal(cfg->token, "static-token");
    assert_string_equal(cfg->token_file, "/etc/kube/token");
    assert_string_equal(cfg->username, "admin");
    assert_string_equal(cfg->password, "s3cret");
    assert_null(cfg->namespace);
    kube_config_free(cfg);
}

KP_TEST(test_exec)
{
    (void)state;
    struct kube_config *cfg = parse_ok(full_config, "exec");
    assert_non_null(cfg->exec);
    assert_string_equal(cfg->exec->command, "/etc/kube/./bin/plugin");
    assert_string_equal(cfg->exec->api_version, "client.authentication.k8s.io/v1beta1");
    assert_string_equal(cfg->exec->args[0], "--region");
    assert_string_equal(cfg->exec->args[1], "eu");
    assert_null(cfg->exec->args[2]);
    assert_string_equal(cfg->exec->env[0], "FOO=bar");
    assert_string_equal(cfg->exec->env[1], "EMPTY=");
    assert_null(cfg->exec->env[2]);
    kube_config_free(cfg);
    /* A bare command name is looked up in $PATH, not next to the kubeconfig. */
    cfg = parse_ok("current-context: c\n"
                   "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                   "clusters: [{name: k, cluster: {server: 'https://h'}}]\n"
                   "users: [{name: u, user: {exec: {command: gke-auth, "
                   "apiVersion: client.authentication.k8s.io/v1}}}]\n",
                   NULL);
    assert_string_equal(cfg->exec->command, "gke-auth");
    assert_null(cfg->exec->args[0]);
    assert_null(cfg->exec->env[0]);
    kube_config_free(cfg);
}

KP_TEST(test_errors_name_file_line_key)
{
    (void)state;
    parse_err("current-context: c\n"
              "contexts:\n"
              "- name: c\n"
              "  context: {cluster: k, user: u}\n"
              "clusters: [{name: k, cluster: {server: 'https://h'}}]\n"
              "users:\n"
              "- name: u\n"
              "  user:\n"
              "    client-certificate-data: " PEM_B64 "\n"
              "    client-key-data: 'not base64!'\n",
              NULL, "/x/config:10: users[0].user.client-key-data: invalid base64");
    parse_err("current-context: c\n"
              "contexts: [{name: c, context: {cluster: k}}]\n"
              "clusters:\n"
              "- name: k\n"
              "  cluster:\n"
              "    server: ftp://h\n",
              NULL, "/x/config:6: clusters[0].cluster.server: must start with https://");
    parse_err("contexts: []\n", NULL, "/x/config: current-context: not set");
    parse_err("current-context: c\ncontexts: []\n", NULL,
              "/x/config:2: contexts: no entry named \"c\"");
    parse_err(full_config, "nope", "contexts: no entry named \"nope\"");
    parse_err("current-context: c\n"
              "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
              "clusters: [{name: k, cluster: {server: 'https://h'}}]\n"
              "users:\n"
              "- name: u\n"
              "  user:\n"
              "    exec: {command: x, apiVersion: client.authentication.k8s.io/v1alpha1}\n",
              NULL, "/x/config:7: users[0].user.exec.apiVersion: must be");
    parse_err("current-context: c\n"
              "contexts: [{name: c, context: {cluster: k}}]\n"
              "clusters: [{name: k, cluster: {server: 'https://h', "
              "insecure-skip-tls-verify: maybe}}]\n",
              NULL, "/x/config:3: clusters[0].cluster.insecure-skip-tls-verify: expected true");
    parse_err("current-context: c\n"
              "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
              "clusters: [{name: k, cluster: {server: 'https://h'}}]\n"
              "users: [{name: u, user: {client-certificate: a.crt}}]\n",
              NULL, "client certificate and client key must be given together");
    parse_err("current-context: [a]\n", NULL, "/x/config:1: current-context: expected a string");
    parse_err("a: &x 1\nb: *x\n", NULL, "/x/config:1: YAML anchors are not supported");
    parse_err("a: [1, 2\n", NULL, "/x/config:2: invalid YAML");
    parse_err("- 1\n", NULL, "(top level): expected a mapping");
    parse_err("a: 1\n---\nb: 2\n", NULL, "more than one YAML document");
    char deep[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    parse_err(deep, NULL, "nested deeper than");
}

KP_TEST(test_secrets_not_in_errors)
{
    (void)state;
    struct kube_config *cfg = NULL;
    char err[512];
    const char *text = "current-context: c\n"
                       "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                       "clusters: [{name: k, cluster: {server: 'https://h'}}]\n"
                       "users: [{name: u, user: {token: SECRETTOKEN, "
                       "client-key-data: SECRETKEY!}}]\n";
    assert_int_equal(kube_config_parse(text, strlen(text), "f", NULL, &cfg, err, sizeof(err)), -1);
    assert_null(strstr(err, "SECRET"));
}

static char tmpdir[64];

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < sizeof(path)); /* a truncated path would write elsewhere */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup_tmp(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/kp-kubecfg-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

KP_TEST_GROUP(setup_tmp, teardown_tmp);

KP_TEST(test_load_file_relative_and_size)
{
    (void)state;
    char path[256], err[512];
    struct kube_config *cfg = NULL;
    write_file(tmpdir, "config",
               "current-context: c\n"
               "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
               "clusters: [{name: k, cluster: {server: 'https://h', certificate-authority: ca}}]\n"
               "users: [{name: u, user: {tokenFile: sub/tok}}]\n");
    snprintf(path, sizeof(path), "%s/config", tmpdir);
    assert_int_equal(kube_config_load_file(path, NULL, &cfg, err, sizeof(err)), 0);
    char want[256];
    snprintf(want, sizeof(want), "%s/ca", tmpdir);
    assert_string_equal(cfg->ca_file, want);
    snprintf(want, sizeof(want), "%s/sub/tok", tmpdir);
    assert_string_equal(cfg->token_file, want);
    kube_config_free(cfg);
    /* Over 4 MiB: refused before parsing. */
    snprintf(path, sizeof(path), "%s/big", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < (5 << 20) / 64; i++)
        fputs("# padding padding padding padding padding padding padding paddin\n", f);
    fclose(f);
    assert_int_equal(kube_config_load_file(path, NULL, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger than"));
    snprintf(path, sizeof(path), "%s/missing", tmpdir);
    assert_int_equal(kube_config_load_file(path, NULL, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "No such file"));
}

KP_TEST(test_incluster)
{
    (void)state;
    char err[512], sa[256];
    struct kube_config *cfg = NULL;
    snprintf(sa, sizeof(sa), "%s/sa", tmpdir);
    mkdir(sa, 0700);
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(kube_config_load_incluster(sa, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(kube_config_load_incluster(sa, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/sa/token"));
    write_file(sa, "token", "tok\n");
    write_file(sa, "ca.crt", PEM_TXT);
    write_file(sa, "namespace", "monitoring\n");
    assert_int_equal(kube_config_load_incluster(sa, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->server, "https://10.96.0.1:443");
    assert_string_equal(cfg->namespace, "monitoring");
    assert_string_equal(cfg->source, "in-cluster");
    assert_non_null(strstr(cfg->token_file, "/sa/token"));
    assert_non_null(strstr(cfg->ca_file, "/sa/ca.crt"));
    assert_null(cfg->token);
    kube_config_free(cfg);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(kube_config_load_incluster(sa, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->server, "https://[fd00::1]:443");
    kube_config_free(cfg);
    setenv("KUBERNETES_SERVICE_PORT", "443/x", 1);
    assert_int_equal(kube_config_load_incluster(sa, &cfg, err, sizeof(err)), -1);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    /* the pod's namespace alone (the Lease's default, whatever the credentials came from) */
    char *ns = kube_pod_namespace(sa);
    assert_string_equal(ns, "monitoring");
    free(ns);
    write_file(sa, "namespace", " \n");
    assert_null(kube_pod_namespace(sa));
    snprintf(err, sizeof(err), "%s/none", tmpdir);
    assert_null(kube_pod_namespace(err));
}

KP_TEST(test_load_auto_order)
{
    (void)state;
    char err[512], flag[256], envf[256], home[256];
    struct kube_config *cfg = NULL;
    const char *tmpl = "current-context: c\n"
                       "contexts: [{name: c, context: {cluster: k}}]\n"
                       "clusters: [{name: k, cluster: {server: 'https://%s'}}]\n";
    char text[512];
    snprintf(text, sizeof(text), tmpl, "flag");
    write_file(tmpdir, "flag.yaml", text);
    snprintf(text, sizeof(text), tmpl, "env");
    write_file(tmpdir, "env.yaml", text);
    snprintf(home, sizeof(home), "%s/home", tmpdir);
    mkdir(home, 0700);
    strcat(home, "/.kube");
    mkdir(home, 0700);
    snprintf(text, sizeof(text), tmpl, "home");
    write_file(home, "config", text);
    snprintf(home, sizeof(home), "%s/home", tmpdir);
    snprintf(flag, sizeof(flag), "%s/flag.yaml", tmpdir);
    snprintf(envf, sizeof(envf), "/nonexistent:%s/env.yaml", tmpdir);
    setenv("HOME", home, 1);
    setenv("KUBECONFIG", envf, 1);
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    assert_int_equal(kube_config_load_auto(flag, NULL, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->server, "https://flag");
    kube_config_free(cfg);
    assert_int_equal(kube_config_load_auto(NULL, NULL, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->server, "https://env");
    kube_config_free(cfg);
    unsetenv("KUBECONFIG");
    /* in-cluster is chosen (and fails here: no /var/run/secrets token) */
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(kube_config_load_auto("", NULL, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "serviceaccount/token"));
    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(kube_config_load_auto(NULL, NULL, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg->server, "https://home");
    kube_config_free(cfg);
}
