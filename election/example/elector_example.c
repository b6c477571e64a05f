/* SPDX-License-Identifier: Apache-2.0 */
/*
 * elector_example.c - kp-elector-example, the C counterpart of client-go's
 * leader election example: run several copies with different -id against one
 * Lease and watch exactly one lead.
 *
 *   kp-elector-example -id=a -lease-lock-name=demo -lease-lock-namespace=default \
 *       [-kubeconfig=PATH] [-lease-duration=15s -renew-deadline=10s -retry-period=2s] [-v=N]
 *
 * stdout carries one machine-readable line per transition and one every 5 s
 * while leading (tests rebuild leading intervals from them):
 *
 *   ELECTOR event=started_leading id=a mono=12.345678 wall=1700000000.123456
 *   ELECTOR event=stopped_leading id=a mono=... wall=... lead_until_mono=...
 *
 * (lead_until_mono: the monotonic time leadership was guaranteed until.)
 *
 * mono is CLOCK_MONOTONIC (comparable across processes on one host), wall is
 * the Unix time. SIGTERM/SIGINT release the Lease and exit 0 within ~1 s.
 */
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "elector.h"
#include "http.h"
#include "kube.h"
#include "log.h"

struct example {
    struct ev_loop *loop; /* borrowed */
    struct elector *e;    /* owned */
    ev_timer tick;
    ev_signal sigterm, sigint;
    const char *id; /* borrowed from argv */
    int exit_code;
};

static void emit(const char *event, const char *id, const char *extra)
{
    struct timespec m, w;
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_REALTIME, &w);
    printf("ELECTOR event=%s id=%s mono=%lld.%06ld wall=%lld.%06ld%s\n", event, id,
           (long long)m.tv_sec, m.tv_nsec / 1000, (long long)w.tv_sec, w.tv_nsec / 1000,
           extra ? extra : "");
    fflush(stdout);
}

static void on_started(struct elector *e, void *ud)
{
    struct example *x = ud;
    char extra[64];
    double until = 0;
    elector_leader_deadline(e, &until);
    snprintf(extra, sizeof(extra), " lead_until_mono=%.6f", until);
    emit("started_leading", x->id, extra);
    ev_timer_again(x->loop, &x->tick);
}

static void on_stopped(struct elector *e, void *ud)
{
    struct example *x = ud;
    struct elector_stats st;
    char extra[64];
    elector_get_stats(e, &st);
    ev_timer_stop(x->loop, &x->tick);
    /* Leadership ended at the earlier of now and its guarantee (after a SIGSTOP,
     * "now" is long past the guarantee, which is what others relied on). */
    snprintf(extra, sizeof(extra), " lead_until_mono=%.6f", st.last_leader_deadline);
    emit("stopped_leading", x->id, extra);
}

static void on_new_leader(struct elector *e, const char *identity, void *ud)
{
    (void)e;
    struct example *x = ud;
    char extra[1100];
    snprintf(extra, sizeof(extra), " leader=%s", identity);
    emit("new_leader", x->id, extra);
}

/* The "work": only while the elector still guarantees leadership. */
static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct example *x = w->data;
    double until;
    if (elector_leader_deadline(x->e, &until)) {
        char extra[64];
        snprintf(extra, sizeof(extra), " lead_until_mono=%.6f", until);
        emit("leading", x->id, extra);
    }
}

static void released(struct elector *e, int status, void *ud)
{
    (void)e;
    struct example *x = ud;
    emit(status == 0 ? "released" : "release_failed", x->id, NULL);
    ev_break(x->loop, EVBREAK_ALL);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct example *x = w->data;
    emit("signal", x->id, NULL);
    ev_signal_stop(loop, &x->sigterm);
    ev_signal_stop(loop, &x->sigint);
    elector_release(x->e, released, x);
}

/* "-name=value" or "--name=value"; returns value or NULL. */
static const char *flag_value(const char *arg, const char *name)
{
    while (*arg == '-')
        arg++;
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

/* Go durations as the flags take them: "15s", "500ms", "1m", or plain seconds. */
static int parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    double mult = strcmp(end, "ms") == 0           ? 0.001
                  : strcmp(end, "s") == 0 || !*end ? 1
                  : strcmp(end, "m") == 0          ? 60
                                                   : -1;
    if (end == s || mult < 0 || v < 0)
        return -1;
    *out = v * mult;
    return 0;
}

static int usage(const char *msg)
{
    fprintf(stderr,
            "kp-elector-example: %s\nusage: kp-elector-example -id=ID -lease-lock-name=NAME "
            "-lease-lock-namespace=NS [-kubeconfig=PATH] [-lease-duration=15s] "
            "[-renew-deadline=10s] [-retry-period=2s] [-v=N]\n",
            msg);
    return 2;
}

int main(int argc, char **argv)
{
    struct elector_config cfg;
    const char *kubeconfig = NULL, *v;
    int verbosity = 0;
    char err[512];
    struct example x = {0};
    elector_config_init(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double *dur = NULL;
        if ((v = flag_value(a, "id")))
            cfg.identity = v;
        else if ((v = flag_value(a, "lease-lock-name")))
            cfg.lease_name = v;
        else if ((v = flag_value(a, "lease-lock-namespace")))
            cfg.lease_namespace = v;
        else if ((v = flag_value(a, "kubeconfig")))
            kubeconfig = v;
        else if ((v = flag_value(a, "v")))
            verbosity = atoi(v);
        else if ((v = flag_value(a, "lease-duration")))
            dur = &cfg.lease_duration_s;
        else if ((v = flag_value(a, "renew-deadline")))
            dur = &cfg.renew_deadline_s;
        else if ((v = flag_value(a, "retry-period")))
            dur = &cfg.retry_period_s;
        else
            return usage("unknown flag");
        if (dur && parse_seconds(v, dur) != 0)
            return usage("bad duration");
    }
    if (!cfg.identity || !cfg.lease_name || !cfg.lease_namespace)
        return usage("-id, -lease-lock-name and -lease-lock-namespace are required");
    log_configure(LOG_FORMAT_TEXT, verbosity, stderr);

    x.loop = EV_DEFAULT;
    x.id = cfg.identity;
    x.exit_code = 1;
    cfg.cb = (struct elector_callbacks){.on_started_leading = on_started,
                                        .on_stopped_leading = on_stopped,
                                        .on_new_leader = on_new_leader,
                                        .ud = &x};

    struct kube_config *kcfg = NULL;
    struct http_client *http = NULL;
    struct kube_client *kc = NULL;
    if (kube_config_load_auto(kubeconfig, NULL, &kcfg, err, sizeof(err)) != 0)
        goto fail;
    struct http_client_opts hopts = {.user_agent = "kp-elector-example"};
    if (!(http = http_client_new(x.loop, &hopts, err, sizeof(err))))
        goto fail;
    struct kube_client_opts kopts = {.user_agent = "kp-elector-example"};
    kc = kube_client_new(x.loop, http, kcfg, &kopts, err, sizeof(err));
    kcfg = NULL; /* owned by kc now, or freed */
    if (!kc)
        goto fail;
    if (!(x.e = elector_new(x.loop, kc, &cfg, err, sizeof(err))))
        goto fail;

    ev_init(&x.tick, tick_cb);
    x.tick.repeat = 5.0;
    x.tick.data = &x;
    ev_signal_init(&x.sigterm, signal_cb, SIGTERM);
    ev_signal_init(&x.sigint, signal_cb, SIGINT);
    x.sigterm.data = x.sigint.data = &x;
    ev_signal_start(x.loop, &x.sigterm);
    ev_signal_start(x.loop, &x.sigint);

    emit("start", x.id, NULL);
    if (elector_start(x.e, err, sizeof(err)) != 0)
        goto fail;
    ev_run(x.loop, 0);
    x.exit_code = 0;
    emit("exit", x.id, NULL);
    goto out;
fail:
    fprintf(stderr, "kp-elector-example: %s\n", err);
out:
    ev_timer_stop(x.loop, &x.tick);
    elector_free(x.e);
    kube_client_free(kc);
    http_client_free(http);
    kube_config_free(kcfg);
    return x.exit_code;
}
