/* SPDX-License-Identifier: Apache-2.0 */
/*
 * influxdb.c - owns the influxdb: and influxdb2: sinks' setup: their declared options
 * (Heapster's InfluxDB sink options plus kubepulse's), write/query URLs, credentials from the
 * URI, a file or the environment (never logged), TLS settings, and creating the database
 * (v1) asynchronously on the loop. Delivery is in influxdb_deliver.c.
 */
#include "influxdb.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

/* pwFile= and tokenFile= hold one secret each. */
#define SECRET_FILE_MAX 4096

#define OFF(f) offsetof(struct influx_conf, f)
/* The options both InfluxDB sinks take: Heapster's, then kubepulse's. */
/* clang-format off */
#define COMMON_OPTS                                                                                \
    {"withfields", KP_OPT_BOOL, "false", OFF(withfields),                                          \
     "Heapster's withfields layout (one line per group)", 0, 0, NULL},                             \
    {"cluster_name", KP_OPT_STRING, "default", OFF(cluster_name),                                  \
     "cluster_name tag on every point", 0, 0, NULL},                                               \
    {"disable_counter_metrics", KP_OPT_BOOL, "false", OFF(disable_counter_metrics),                \
     "do not write cumulative metrics", 0, 0, NULL},                                               \
    {"concurrency", KP_OPT_INT, "0", OFF(concurrency),                                             \
     "requests in flight; 0: --sink-concurrency", 0, 64, NULL},                                    \
    {"insecuressl", KP_OPT_BOOL, "false", OFF(insecuressl),                                        \
     "do not verify the server's certificate (logs a warning)", 0, 0, NULL},                       \
    {"secure", KP_OPT_BOOL, "false", OFF(secure), "use https even for an http:// URL", 0, 0,       \
     NULL},                                                                                        \
    {"gzip", KP_OPT_BOOL, "true", OFF(gzip), "gzip request bodies", 0, 0, NULL},                   \
    {"withids", KP_OPT_BOOL, "false", OFF(withids),                                                \
     "also write the pod_id, namespace_id, hostname and host_id tags (Heapster's sink did not)",  \
     0, 0, NULL}
/* clang-format on */

static int check_retention(const char *v, char *err, size_t errlen);

static const struct kp_opt INFLUX1_OPTS[] = {
    {"user", KP_OPT_STRING, "root", OFF(user), "user name", 0, 0, NULL},
    {"pw", KP_OPT_STRING, NULL, OFF(pw), "password (default root; prefer pwFile or pwEnv)", 0, 0,
     NULL},
    {"pwFile", KP_OPT_STRING, NULL, OFF(pw_file), "file holding the password", 0, 0, NULL},
    {"pwEnv", KP_OPT_STRING, NULL, OFF(pw_env), "environment variable holding the password", 0, 0,
     NULL},
    {"db", KP_OPT_STRING, "k8s", OFF(db), "database", 0, 0, NULL},
    {"retention", KP_OPT_STRING, "0", OFF(retention),
     "duration of the created database's policy; 0: forever", 0, 0, check_retention},
    {"rp", KP_OPT_STRING, NULL, OFF(rp), "retention policy written to; default: the database's", 0,
     0, NULL},
    {"createdb", KP_OPT_BOOL, "true", OFF(createdb), "create the database when permitted", 0, 0,
     NULL},
    COMMON_OPTS,
    {0},
};

static const struct kp_opt INFLUX2_OPTS[] = {
    {"org", KP_OPT_STRING, NULL, OFF(org), "organization (required)", 0, 0, NULL},
    {"bucket", KP_OPT_STRING, NULL, OFF(bucket), "bucket (required)", 0, 0, NULL},
    {"tokenFile", KP_OPT_STRING, NULL, OFF(token_file), "file holding the API token", 0, 0, NULL},
    {"tokenEnv", KP_OPT_STRING, "INFLUX_TOKEN", OFF(token_env),
     "environment variable holding the token", 0, 0, NULL},
    COMMON_OPTS,
    {0},
};

static int set_auth_v1(struct influx *in, const struct influx_conf *c, char *err, size_t errlen)
{
    char *pw = NULL;
    if (c->pw_file) {
        if (kp_read_secret_file(c->pw_file, SECRET_FILE_MAX, &pw, err, errlen) < 0)
            return -1;
    } else if (c->pw_env) {
        const char *v = getenv(c->pw_env);
        if (!v) {
            snprintf(err, errlen, "environment variable %.64s (pwEnv) is not set", c->pw_env);
            return -1;
        }
        pw = strdup(v);
    } else {
        pw = strdup(c->pw ? c->pw : "root");
    }
    if (!pw)
        goto oom;
    if (c->user && c->user[0]) {
        char *plain = NULL, *enc = NULL;
        if (asprintf(&plain, "%s:%s", c->user, pw) < 0)
            plain = NULL;
        enc = plain ? kp_base64_encode(plain, strlen(plain)) : NULL;
        kp_secret_free(plain);
        if (!enc || asprintf(&in->auth_header, "Authorization: Basic %s", enc) < 0)
            in->auth_header = NULL;
        kp_secret_free(enc);
        if (!in->auth_header) {
            kp_secret_free(pw);
            goto oom;
        }
    }
    kp_secret_free(pw);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int set_auth_v2(struct influx *in, const struct influx_conf *c, char *err, size_t errlen)
{
    char *tok = NULL;
    if (c->token_file) {
        if (kp_read_secret_file(c->token_file, SECRET_FILE_MAX, &tok, err, errlen) < 0)
            return -1;
    } else if (c->token_env && getenv(c->token_env)) {
        tok = strdup(getenv(c->token_env));
    } else {
        log_warn("influxdb2 sink has no token: writes will only work without auth",
                 LF_STR("token_env", c->token_env));
        return 0;
    }
    if (!tok || !(in->auth_header = malloc(strlen(tok) + 32))) {
        free(tok);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sprintf(in->auth_header, "Authorization: Token %s", tok);
    kp_secret_free(tok);
    return 0;
}

/* Append a query parameter, escaped. */
static void add_param(char *url, const char *key, const char *value)
{
    size_t n = strlen(url);
    n += (size_t)sprintf(url + n, "%s%s=", strchr(url, '?') ? "&" : "?", key);
    uri_query_escape(url + n, value);
}

/* InfluxQL duration literal ("0", "INF", "90m", "4h", "7d", "2w"). */
static int check_retention(const char *r, char *err, size_t errlen)
{
    const char *p = r;
    if (strcmp(r, "0") == 0 || strcmp(r, "INF") == 0 || strcmp(r, "inf") == 0)
        return 0;
    if (!isdigit((unsigned char)*p))
        goto bad;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            goto bad;
        while (isdigit((unsigned char)*p))
            p++;
        if (strncmp(p, "ms", 2) == 0)
            p += 2;
        else if (*p && strchr("usmhdw", *p))
            p++;
        else
            goto bad;
    }
    return 0;
bad:
    snprintf(err, errlen, "\"%.32s\" is not a duration like 4h or 7d (0: forever)", r);
    return -1;
}

/* The rules between options and the URL's form, at flag time and again at open. */
static int influx_check(const void *conf, const struct uri *u, bool v2, char *err, size_t errlen)
{
    const struct influx_conf *c = conf;
    if (!u->scheme || (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0) ||
        !u->host || !u->host[0]) {
        snprintf(err, errlen, "\"%.128s\" is not http(s)://HOST[:PORT]", u->target);
        return -1;
    }
    if (v2 && (!c->org || !c->org[0] || !c->bucket || !c->bucket[0])) {
        snprintf(err, errlen, "--sink=influxdb2 needs org= and bucket=");
        return -1;
    }
    if ((c->pw != NULL) + (c->pw_file != NULL) + (c->pw_env != NULL) > 1) {
        snprintf(err, errlen, "give only one of pw, pwFile and pwEnv");
        return -1;
    }
    return 0;
}

static int influx1_check(const void *conf, const struct uri *u, char *err, size_t errlen)
{
    return influx_check(conf, u, false, err, errlen);
}

static int influx2_check(const void *conf, const struct uri *u, char *err, size_t errlen)
{
    return influx_check(conf, u, true, err, errlen);
}

/* Heapster's own query (createDatabase in metrics/sinks/influxdb/influxdb.go):
 * "CREATE DATABASE db WITH NAME "default"", a default retention policy named "default" kept
 * forever; retention=D gives that policy a duration. Form-encoded as "q=...". */
static char *create_db_body(const struct influx_conf *c)
{
    size_t n = strlen(c->db);
    char *q = malloc(2 * n + 96 + strlen(c->retention));
    if (!q)
        return NULL;
    char *p = q + sprintf(q, "CREATE DATABASE \"");
    for (const char *s = c->db; *s; s++) {
        if (*s == '"' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '"';
    *p = '\0';
    if (strcmp(c->retention, "0") != 0 && strcasecmp(c->retention, "inf") != 0)
        sprintf(p, " WITH DURATION %s NAME \"default\"", c->retention);
    else
        sprintf(p, " WITH NAME \"default\"");
    char *body = malloc(3 * strlen(q) + 3);
    if (body) {
        strcpy(body, "q=");
        uri_query_escape(body + 2, q);
    }
    free(q);
    return body;
}

static int build_urls(struct influx *in, struct uri *u, const struct influx_conf *c, char *err,
                      size_t errlen)
{
    const char *scheme = c->secure ? "https" : u->scheme;
    bool v6 = strchr(u->host, ':') != NULL;
    char base[512];
    /* v1: Heapster used only the host; a path is ignored, as it was. v2: kept as a prefix. */
    const char *path = in->v2 ? u->path : "";
    if (!in->v2 && u->path[0] && strcmp(u->path, "/") != 0)
        log_warn("influxdb sink ignores the URL path, as Heapster did", LF_STR("path", u->path));
    size_t plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    int n = snprintf(base, sizeof base, "%s://%s%s%s:%d%.*s", scheme, v6 ? "[" : "", u->host,
                     v6 ? "]" : "", u->port ? u->port : 8086, (int)plen, path);
    if (n < 0 || (size_t)n >= sizeof base) {
        snprintf(err, errlen, "URL too long");
        return -1;
    }
    size_t room = (size_t)n + 64 +
                  3 * (strlen(c->db ? c->db : "") + strlen(c->rp ? c->rp : "") +
                       strlen(c->org ? c->org : "") + strlen(c->bucket ? c->bucket : ""));
    if (!(in->write_url = malloc(room)) || !(in->query_url = malloc(room))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sprintf(in->query_url, "%s/query", base);
    if (in->v2) {
        sprintf(in->write_url, "%s/api/v2/write", base);
        add_param(in->write_url, "org", c->org);
        add_param(in->write_url, "bucket", c->bucket);
        snprintf(in->s->name, sizeof in->s->name, "influxdb2:%.120s/%.60s/%.60s", base, c->org,
                 c->bucket);
    } else {
        sprintf(in->write_url, "%s/write", base);
        add_param(in->write_url, "db", c->db);
        if (c->rp && c->rp[0])
            add_param(in->write_url, "rp", c->rp);
        snprintf(in->s->name, sizeof in->s->name, "influxdb:%.120s/%.100s", base, c->db);
    }
    add_param(in->write_url, "precision", "ns");
    return 0;
}

static int influx_open_common(struct sink *s, struct uri *u, bool v2, char *err, size_t errlen)
{
    struct influx_conf *c = s->conf;
    struct influx *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->impl = in;
    in->s = s;
    in->v2 = v2;
    if (build_urls(in, u, c, err, errlen) < 0)
        return -1;
    if ((v2 ? set_auth_v2(in, c, err, errlen) : set_auth_v1(in, c, err, errlen)) < 0)
        return -1;
    char ua[256];
    snprintf(ua, sizeof ua, "User-Agent: kubepulse/%s (identity=%s)",
             s->env.version ? s->env.version : "unknown",
             s->env.identity ? s->env.identity : "unknown");
    if (!(in->ua_header = strdup(ua))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    in->tls.insecure = c->insecuressl;
    if (c->insecuressl)
        log_warn("TLS certificate verification is off for this sink (insecuressl=true)",
                 LF_STR("sink", s->name));
    uint64_t bound;
    bool points;
    if (sink_parse_buffer_size(s->env.buffer_size ? s->env.buffer_size : "256Mi", &bound, &points) <
        0) {
        snprintf(err, errlen, "--sink-buffer-size \"%.32s\" is not like 256Mi or 2000000points",
                 s->env.buffer_size);
        return -1;
    }
    struct lp_options lo = {.withfields = c->withfields,
                            .skip_cumulative = c->disable_counter_metrics,
                            .cluster_name = c->cluster_name,
                            .drop_ids = !c->withids};
    if (!(in->enc = lp_encoder_new(&lo, err, errlen)))
        return -1;
    long batch = s->env.batch_lines > 0 ? s->env.batch_lines : 5000;
    influx_deliver_init(in);
    sbuf_init(&in->buf, bound, points, (uint32_t)batch, c->gzip, influx_on_drop, in);
    in->nslots = c->concurrency > 0       ? c->concurrency
                 : s->env.concurrency > 0 ? s->env.concurrency
                                          : 1;
    if (!(in->slots = calloc((size_t)in->nslots, sizeof *in->slots))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->stats.buffer_bound = bound;
    s->stats.buffer_bound_points = points;
    if (!v2 && c->createdb) {
        if (!(in->create_body = create_db_body(c))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        in->creating = true;
        influx_create_db(in);
    }
    log_info("sink opened", LF_STR("sink", s->name), LF_BOOL("withfields", c->withfields),
             LF_INT("concurrency", in->nslots), LF_INT("batch_lines", batch));
    return 0;
}

static int influx1_open(struct sink *s, struct uri *u, char *err, size_t errlen)
{
    return influx_open_common(s, u, false, err, errlen);
}

static int influx2_open(struct sink *s, struct uri *u, char *err, size_t errlen)
{
    return influx_open_common(s, u, true, err, errlen);
}

static void influx_close(struct sink *s)
{
    struct influx *in = s->impl;
    if (!in)
        return;
    influx_deliver_fini(in);
    uint64_t left = sbuf_fini(&in->buf);
    s->stats.points_dropped[SINK_DROP_SHUTDOWN] += left;
    if (left)
        log_warn("sink closed with points still buffered", LF_STR("sink", s->name),
                 LF_INT("points", left));
    lp_encoder_free(in->enc);
    free(in->write_url);
    free(in->query_url);
    if (in->auth_header) {
        memset(in->auth_header, 0, strlen(in->auth_header));
        free(in->auth_header);
    }
    free(in->ua_header);
    free(in->create_body);
    free(in->slots);
    free(in);
    s->impl = NULL;
}

const struct sink_ops sink_influxdb_ops = {
    .prefix = "influxdb",
    .opts = INFLUX1_OPTS,
    .conf_size = sizeof(struct influx_conf),
    .check = influx1_check,
    .open = influx1_open,
    .write = influx_write,
    .flush = influx_flush,
    .gate_changed = influx_gate_changed,
    .close = influx_close,
};

const struct sink_ops sink_influxdb2_ops = {
    .prefix = "influxdb2",
    .opts = INFLUX2_OPTS,
    .conf_size = sizeof(struct influx_conf),
    .check = influx2_check,
    .open = influx2_open,
    .write = influx_write,
    .flush = influx_flush,
    .gate_changed = influx_gate_changed,
    .close = influx_close,
};
