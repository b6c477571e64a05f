#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""metrics_api.py - kubelet requests and CPU of kubepulse serving InfluxDB and the metrics API
(issue #17) against metrics-server (2 replicas, its HA setting) plus kubepulse for history,
on the same simulated cluster.

    bench/metrics_api.py [--nodes 100] [--pods 30] [--seconds 180] [--rounds 1]
        [--env STATE/env] [--kubepulse BIN] [--json bench/results/metrics-api-n100.json]

Starts (or, with --env, reuses) the real servers of tests/infra, one kubelet simulator
(tests/sim) of N x P and registers its Nodes and Pods, then runs, one after the other on that
cluster, each for --seconds after a warm-up (--rounds times, A B A B ...):

  A  3 kubepulse replicas (leader election on one Lease, --metric-resolution=15s, writing to
     the real InfluxDB), each with the metrics API on (--metrics-api-listen; followers copy
     the leader's samples);
  B  the same 3 kubepulse replicas with the metrics API off, plus 2 metrics-server replicas
     (bench/metrics-server/build.sh; --metric-resolution=15s, both scrape every kubelet);
  C  (--setups ABC) the 2 metrics-server replicas plus Telegraf v1.37.2 for history instead of
     kubepulse (bench/telegraf/build.sh; one [[inputs.kubernetes]] per node as bench/telegraf.py
     configures it, interval 15s, [[outputs.influxdb]] to the same real InfluxDB). Telegraf
     reads each kubelet's /pods as well as /stats/summary on every scrape.

Counted: kubelet requests at the simulator (its control endpoint's /stats counters, the
difference over the measured window; deterministic), user+sys CPU seconds of each setup's
processes (/proc/PID/stat, difference over the window) and their peak RSS (VmHWM), the
simulator's own CPU, and load1 every 15 s (the machine is shared: CPU figures are noisy).
At the end of each window the metrics API is read once on every serving process
(NodeMetrics and PodMetrics lists, admin client certificate) to show what each setup
served. Everything started is stopped by pid.
"""

import argparse
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_server import kubeconfig_with_token  # noqa: E402
from run import (ROOT, BenchServers, Procs, add_bench_args, free_port, loadavg,  # noqa: E402
                 log, proc_cpu, proc_mem, register, save_json, start_sim)


def commit():
    return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()


def sim_stats(control):
    with urllib.request.urlopen(f"http://{control}/stats", timeout=30) as r:
        return json.load(r)["total"]


def api_items(port, env, what):
    """Items of a NodeMetrics or PodMetrics list on 127.0.0.1:port (admin client certificate),
    or the error."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # only counting items; no credential is sent but a cert
    ctx.load_cert_chain(env["KP_ADMIN_CERT"], env["KP_ADMIN_KEY"])
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/apis/metrics.k8s.io/v1beta1/"
                                    f"{what}", context=ctx, timeout=120) as r:
            return len(json.load(r)["items"])
    except OSError as e:
        return f"error: {e}"


def issue_cert(env, name):
    out = subprocess.run([os.path.join(ROOT, "tests/infra/pki.sh"), "issue",
                          env["KP_STATE_DIR"], name, "kubepulse-metrics", "--san",
                          "IP:127.0.0.1"], check=True, capture_output=True, text=True)
    return out.stdout.split()


def start_kubepulse(args, env, procs, logdir, token, setup, i, lease, mapi):
    """One replica; returns (Popen, metrics API port or None)."""
    argv = [args.kubepulse, "--kubeconfig", env["KP_KUBECONFIG"], "--lease-name", lease,
            "--lease-namespace", "default", "--identity", f"{lease}-{i}",
            "--metric-resolution", f"{args.resolution}s",
            "--kubelet-certificate-authority", env["KP_CA_CERT"],
            "--kubelet-token-file", token, "--kubelet-preferred-address-types", "InternalIP",
            "--sink", args.sink or f"influxdb:{env['KP_INFLUX_URL']}?db=k8smapibench",
            "--listen", f"127.0.0.1:{free_port()}", "--log-format", "json", *args.kp_arg]
    if args.nodes > args.pods_max_nodes:
        argv.append("--watch-pods=false")  # Nodes only registered, as bench/run.py does
    port = None
    if mapi:
        port = free_port()
        argv += [f"--metrics-api-listen=127.0.0.1:{port}", f"--tls-cert-file={mapi[0]}",
                 f"--tls-private-key-file={mapi[1]}", "--metrics-api-advertise-address=127.0.0.1",
                 f"--metrics-api-ca-file={env['KP_CA_CERT']}"]
    if i == 0:
        log(f"{setup} kubepulse: " + " ".join(argv))
    return procs.start(f"{setup}-kubepulse-{i}", argv, logdir, nofile=args.nofile), port


def start_metrics_server(args, env, procs, logdir, token, setup, i):
    d = os.path.join(logdir, f"{setup}-metrics-server-{i}")
    os.makedirs(d, exist_ok=True)
    kc = os.path.join(d, "kubeconfig")
    kubeconfig_with_token(env, token, kc)
    port = free_port()
    argv = [args.metrics_server, "--kubeconfig", kc, "--authentication-kubeconfig",
            env["KP_KUBECONFIG"], "--authorization-kubeconfig", env["KP_KUBECONFIG"],
            "--secure-port", str(port), "--bind-address", "127.0.0.1", "--cert-dir", d,
            "--metric-resolution", f"{args.resolution}s",
            "--kubelet-certificate-authority", env["KP_CA_CERT"],
            "--kubelet-preferred-address-types", "InternalIP", "--kubelet-use-node-status-port"]
    if i == 0:
        log(f"{setup} metrics-server: " + " ".join(argv))
    return procs.start(f"{setup}-metrics-server-{i}", argv, logdir), port


def start_telegraf(args, env, procs, logdir, token, setup):
    """Telegraf for history: bench/telegraf.py's configuration with InfluxDB as the output."""
    from telegraf import TELEGRAF_FLAGS, telegraf_config  # it imports this module
    with open(os.path.join(logdir, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    text = telegraf_config(args, args.nodes, manifest, token, env["KP_CA_CERT"], "/dev/null")
    head = text[:text.index("[[outputs.file]]")]
    url = env["KP_INFLUX_URL"]
    text = head + (f'[[outputs.influxdb]]\n  urls = ["{url}"]\n'
                   '  database = "k8smapibench_telegraf"\n  skip_database_creation = false\n')
    cfg = os.path.join(logdir, f"{setup}-telegraf.conf")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(text)
    argv = [args.telegraf, "--config", cfg, *TELEGRAF_FLAGS]
    log(f"{setup} telegraf: " + " ".join(argv))
    return procs.start(f"{setup}-telegraf", argv, logdir, nofile=args.nofile)


def run_setup(args, env, logdir, token, control, sim_pid, setup, rnd, cert):
    procs = Procs()
    lease = f"kp-mapi-bench-{setup.lower()}{rnd}-{os.getpid()}"
    members, ports = [], []
    try:
        for i in range(3 if setup in "AB" else 0):
            p, port = start_kubepulse(args, env, procs, logdir, token, setup, i, lease,
                                      cert if setup == "A" else None)
            members.append((f"kubepulse-{i}", p))
            ports.append(port)
        if setup == "C":
            members.append(("telegraf", start_telegraf(args, env, procs, logdir, token, setup)))
            ports.append(None)
        if setup in "BC":
            for i in range(2):
                p, port = start_metrics_server(args, env, procs, logdir, token, setup, i)
                members.append((f"metrics-server-{i}", p))
                ports.append(port)
        time.sleep(args.warmup)
        for name, p in members:
            if p.poll() is not None:
                sys.exit(f"{setup} {name} exited; see {logdir}")
        s0, t0 = sim_stats(control), time.time()
        c0 = {name: proc_cpu(p.pid) for name, p in members}
        sim0 = proc_cpu(sim_pid)
        loads = []
        end = t0 + args.seconds
        while time.time() < end:
            time.sleep(min(15, max(0, end - time.time())))
            loads.append(float(loadavg().split()[0]))
        s1, t1 = sim_stats(control), time.time()
        c1 = {name: proc_cpu(p.pid) for name, p in members}
        sim1 = proc_cpu(sim_pid)
        hwm = {name: proc_mem(p.pid)[0] for name, p in members}
        served = {name: {w: api_items(port, env, w) for w in ("nodes", "pods")}
                  for (name, _), port in zip(members, ports) if port}
    finally:
        procs.stop_all()
    minutes = (t1 - t0) / 60
    d = {k: s1.get(k, 0) - s0.get(k, 0) for k in s1}
    cpu = {name: c1[name] - c0[name] for name in c1}
    r = {"setup": setup, "round": rnd, "seconds": t1 - t0,
         "kubelet_requests": d, "kubelet_requests_per_min": d.get("requests", 0) / minutes,
         "per_node_per_min": d.get("requests", 0) / minutes / args.nodes,
         "cpu_s": cpu, "cpu_s_total": sum(cpu.values()),
         "cpu_s_kubepulse": sum(v for k, v in cpu.items() if k.startswith("kubepulse")),
         "cpu_s_metrics_server": sum(v for k, v in cpu.items() if k.startswith("metrics-server")),
         "cpu_s_telegraf": sum(v for k, v in cpu.items() if k.startswith("telegraf")),
         "millicores_total": sum(cpu.values()) / (t1 - t0) * 1000,
         "hwm_kib": hwm, "hwm_kib_sum": sum(hwm.values()), "sim_cpu_s": sim1 - sim0,
         "load1": loads, "load1_avg": sum(loads) / max(1, len(loads)),
         "api_items_served": served}
    print(f"{setup}{rnd}: {r['kubelet_requests_per_min']:.1f} kubelet requests/min "
          f"({r['per_node_per_min']:.2f} per node; {json.dumps(d)}); CPU "
          f"{r['cpu_s_total']:.2f} s in {r['seconds']:.0f} s = {r['millicores_total']:.1f} "
          f"millicores ({json.dumps({k: round(v, 2) for k, v in cpu.items()})}); peak RSS "
          f"{json.dumps(hwm)} KiB, sum {r['hwm_kib_sum']} KiB; simulator CPU "
          f"{r['sim_cpu_s']:.2f} s; load1 avg {r['load1_avg']:.2f} (min {min(loads):.2f}, max "
          f"{max(loads):.2f}); metrics API items served {json.dumps(served)}", flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=180, help="measured window per setup")
    ap.add_argument("--warmup", type=float, default=60,
                    help="seconds after start before measuring (election, first cycles)")
    ap.add_argument("--rounds", type=int, default=1, help="A B pairs")
    add_bench_args(ap, state="/tmp/kp-mapi-bench", addr_base="127.4.0.1")
    ap.add_argument("--metrics-server", help="binary (default: bench/metrics-server/build.sh)")
    ap.add_argument("--telegraf", help="binary (default: bench/telegraf/build.sh)")
    ap.add_argument("--setups", default="AB", help="which setups, in order (default AB; C: "
                    "metrics-server x2 + Telegraf)")
    ap.add_argument("--resolution", type=int, default=15, help="--metric-resolution, seconds")
    ap.add_argument("--sink", help="kubepulse --sink (default: the real InfluxDB)")
    ap.add_argument("--no-register", action="store_true",
                    help="the Nodes (and Pods) are registered already (same N, P, --addr-base)")
    args = ap.parse_args()
    args.pods_max_nodes = 1000  # run.register registers Pods up to this N
    args.commit = commit()  # at the start: HEAD may move while it runs
    if not args.telegraf and "C" in args.setups:
        args.telegraf = subprocess.run([os.path.join(ROOT, "bench/telegraf/build.sh")],
                                       check=True, capture_output=True, text=True).stdout.strip()
    if not args.metrics_server and ("B" in args.setups or "C" in args.setups):
        args.metrics_server = subprocess.run(
            [os.path.join(ROOT, "bench/metrics-server/build.sh")], check=True,
            capture_output=True, text=True).stdout.strip()
    sim_procs = Procs()
    results = []
    servers = BenchServers(args.env, args.state)
    env = servers.env
    try:
        logdir = os.path.join(env["KP_STATE_DIR"], "bench",
                              f"metrics-api-{args.nodes}x{args.pods}-{time.strftime('%H%M%S')}")
        os.makedirs(logdir, exist_ok=True)
        sim_pid, control, token = start_sim(args, env, sim_procs, logdir)
        if args.no_register:  # start_telegraf reads the manifest register() saves
            with urllib.request.urlopen(f"http://{control}/manifest?offset=0&limit={args.nodes}",
                                        timeout=600) as r, \
                    open(os.path.join(logdir, "manifest.json"), "wb") as f:
                f.write(r.read())
        else:
            register(args, env, control, logdir)
        cert = issue_cert(env, f"metrics-api-bench-{os.getpid()}")
        print(f"# N={args.nodes} P={args.pods} {args.resolution} s resolution, "
              f"{args.seconds:.0f} s per setup "
              f"after {args.warmup:.0f} s warm-up; loadavg at start: {loadavg()}", flush=True)
        for rnd in range(1, args.rounds + 1):
            for setup in args.setups:
                results.append(run_setup(args, env, logdir, token, control, sim_pid, setup,
                                         rnd, cert))
                if args.json:  # after each setup: a later failure keeps what was measured
                    save_json(args.json, {"nodes": args.nodes, "pods": args.pods, "argv": sys.argv,
                                          "commit": args.commit, "resolution_s": args.resolution,
                                          "results": results})
    finally:
        sim_procs.stop_all()
        servers.stop()


if __name__ == "__main__":
    main()
