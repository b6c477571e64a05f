#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kubectl_top.py - latency of `kubectl top node` and `kubectl top pod -A` through the real
kube-apiserver's aggregation layer, kubepulse serving metrics.k8s.io (issue #20).

    bench/kubectl_top.py [--nodes 5000] [--pods 30] [--runs 50] [--env STATE/env]
        [--kubepulse BIN] [--json bench/results/kubectl-top-n5000.json]

Starts (or, with --env, reuses) the real servers of tests/infra, one kubelet simulator
(tests/sim) of N x P on --addr-base, registers its Nodes (and their Pods when
N <= --pods-max-nodes; above it Nodes only and kubepulse runs with --watch-pods=false, as
bench/run.py does), then one kubepulse (--leader-elect=false, --metric-resolution=15s or
--resolution, history to the null sink with encoding, or --sink) with the metrics API on.
The API server refuses loopback Endpoints, so the metrics API listens on the host's end of a
veth pair (tests/chaos/netns.py makes it, on a free 10.x.y.z/30; deleted at the end). A
Service, its Endpoints and the APIService v1beta1.metrics.k8s.io (caBundle: the cluster CA,
the serving certificate naming the Service) are applied as in
tests/integration/test_metrics_api.py; the API server's front-proxy certificate from
tests/infra/pki.sh authenticates it to kubepulse.

Waits until the APIService is Available and kubepulse serves every node and N x P pods
(read directly with the admin certificate), measures kubepulse's CPU without requests for
--baseline s, then runs `kubectl top node`, `kubectl top pod -A` and
`kubectl get --raw /apis/metrics.k8s.io/v1beta1/pods` (the same answer without kubectl's
decoding, sorting and table) back to back, --runs times each, timing each run (wall, from
exec to exit). Reported per command: p50/p99/max latency, failures, rows printed, bytes of
the API's answer (`kubectl get --raw` once), kubectl's own CPU, kubepulse's CPU (user+sys;
also above the baseline) and peak/current RSS over the runs, the API server's CPU over the
runs, load1 before and after. Everything started is stopped by pid; the APIService and
namespace are deleted.
"""

import argparse
import base64
import json
import os
import resource
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import (ROOT, Procs, add_bench_args, free_port, loadavg, log, proc_cpu,  # noqa: E402
                 proc_mem, read_env, register, save_json, start_kubepulse, start_sim)

sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "chaos"))
import netns as kpnetns  # noqa: E402

SVC = "kubepulse-top-bench"
BASE = "/apis/metrics.k8s.io/v1beta1"


def commit():
    return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()


def kubectl(env, *args, input=None, check=True, timeout=600):
    argv = [env["KP_KUBECTL"], "--kubeconfig", env["KP_KUBECONFIG"], *args]
    p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        sys.exit(f"kubectl {' '.join(args)}: {p.stderr.strip()[:500]}")
    return p


def percentile(xs, q):
    """Nearest-rank percentile of xs (q in 0..100)."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))
    return s[k]


def direct_count(addr, port, env, what):
    """Items of a list straight from kubepulse (admin client certificate), or None."""
    ctx = ssl.create_default_context(cafile=env["KP_CA_CERT"])
    ctx.check_hostname = False  # the certificate names the Service, not this address
    ctx.load_cert_chain(env["KP_ADMIN_CERT"], env["KP_ADMIN_KEY"])
    try:
        with urllib.request.urlopen(f"https://{addr}:{port}{BASE}/{what}", context=ctx,
                                    timeout=120) as r:
            return len(json.load(r)["items"])
    except (OSError, ValueError, KeyError):
        return None


def apply_apiservice(env, ns, addr, port):
    with open(env["KP_CA_CERT"], "rb") as f:
        ca = base64.b64encode(f.read()).decode()
    objs = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": SVC, "namespace": ns},
         "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": SVC, "namespace": ns},
         "subsets": [{"addresses": [{"ip": addr}], "ports": [{"name": "https", "port": port}]}]},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": "v1beta1.metrics.k8s.io"},
         "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
                  "versionPriority": 100, "caBundle": ca,
                  "service": {"name": SVC, "namespace": ns, "port": 443}}}]}
    kubectl(env, "apply", "-f", "-", input=json.dumps(objs))


def available(env):
    p = kubectl(env, "get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "json", check=False)
    if p.returncode != 0:
        return False
    conds = {c["type"]: c["status"] for c in json.loads(p.stdout)["status"].get("conditions", [])}
    return conds.get("Available") == "True"


def wait_served(args, env, kp, addr, port):
    """Until the APIService is Available and kubepulse serves N nodes and N x P pods. The
    NodeMetrics list is read every --poll s (cheap); the PodMetrics list only once every node
    is served, since each read of it is an answer of tens of MB on kubepulse's loop."""
    want = {"nodes": args.nodes, "pods": args.nodes * args.pods}
    t0 = time.time()
    last = None
    while time.time() < t0 + args.ready_timeout:
        if kp.poll() is not None:
            sys.exit(f"kubepulse exited ({kp.returncode}); see its log")
        got = {"nodes": direct_count(addr, port, env, "nodes"), "pods": None}
        if got["nodes"] == args.nodes:
            got["pods"] = direct_count(addr, port, env, "pods")
        ok = available(env)
        if got != last:
            log(f"served {got} of {want}; APIService available: {ok} "
                f"({time.time() - t0:.0f} s; load {loadavg()})")
            last = got
        if ok and got == want:
            return time.time() - t0, got
        time.sleep(args.poll)
    if last and last["nodes"] and last["nodes"] >= args.min_served * args.nodes:
        got = {"nodes": last["nodes"], "pods": direct_count(addr, port, env, "pods")}
        log(f"not every node served after {args.ready_timeout:.0f} s; measuring with {got}")
        return time.time() - t0, got
    sys.exit(f"not every node and pod served after {args.ready_timeout:.0f} s: {last} of {want}")


def rows_of(stdout):
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    return max(0, len(lines) - 1)  # the header


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def baseline(args, kp_pid):
    """kubepulse's CPU-s per second with no request (its scrape alone), over --baseline s."""
    c0, t0 = proc_cpu(kp_pid), time.time()
    time.sleep(args.baseline)
    rate = (proc_cpu(kp_pid) - c0) / (time.time() - t0)
    log(f"kubepulse without requests: {rate:.3f} CPU-s per second over {args.baseline:.0f} s")
    return rate


def run_top(args, env, kp_pid, apiserver_pid, what, base_rate=0.0):
    """--runs back-to-back runs of `kubectl WHAT` (top ..., or get --raw PATH: the same answer
    without kubectl's decoding and table); returns the summary. kubectl's own CPU is that of
    the waited-for children (one at a time)."""
    cmd = [env["KP_KUBECTL"], "--kubeconfig", env["KP_KUBECONFIG"], *what]
    raw = what[:2] == ["get", "--raw"]
    lat, rows, fails, out_bytes = [], [], [], []
    load0 = loadavg()
    c0, a0, t0 = proc_cpu(kp_pid), proc_cpu(apiserver_pid), time.time()
    k0 = children_cpu()
    for i in range(args.runs):
        s = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        lat.append(time.monotonic() - s)
        if p.returncode != 0:
            fails.append(p.stderr.strip()[:300])
        rows.append(p.stdout.count('"metadata":{"name"') if raw else rows_of(p.stdout))
        out_bytes.append(len(p.stdout))
    c1, a1, t1 = proc_cpu(kp_pid), proc_cpu(apiserver_pid), time.time()
    kubectl_cpu = children_cpu() - k0
    hwm, rss = proc_mem(kp_pid)
    r = {"command": "kubectl " + " ".join(what), "runs": args.runs,
         "kubectl_cpu_s_per_run": kubectl_cpu / args.runs,
         "p50_s": percentile(lat, 50), "p99_s": percentile(lat, 99), "max_s": max(lat),
         "min_s": min(lat), "mean_s": sum(lat) / len(lat), "latencies_s": lat,
         "failed": len(fails), "errors": fails[:5], "rows_min": min(rows), "rows_max": max(rows),
         "stdout_bytes": max(out_bytes), "seconds": t1 - t0,
         "kubepulse_cpu_s": c1 - c0, "kubepulse_cpu_s_per_run": (c1 - c0) / args.runs,
         "kubepulse_cpu_s_per_run_above_baseline":
             (c1 - c0 - base_rate * (t1 - t0)) / args.runs,
         "apiserver_cpu_s": a1 - a0, "apiserver_cpu_s_per_run": (a1 - a0) / args.runs,
         "kubepulse_hwm_kib": hwm, "kubepulse_rss_kib": rss,
         "load_before": load0, "load_after": loadavg()}
    print(f"{r['command']}: {args.runs} runs, p50 {r['p50_s']:.3f} s, p99 {r['p99_s']:.3f} s, "
          f"max {r['max_s']:.3f} s; {r['failed']} failed; rows {r['rows_min']}-{r['rows_max']}; "
          f"kubepulse {r['kubepulse_cpu_s_per_run']:.3f} CPU-s per run, peak RSS {hwm} KiB, "
          f"RSS {rss} KiB; API server {r['apiserver_cpu_s_per_run']:.3f}, kubectl "
          f"{r['kubectl_cpu_s_per_run']:.3f} CPU-s per run; "
          f"load {load0} -> {r['load_after']}", flush=True)
    return r


def raw_size(env, path):
    """Bytes and items of one answer through the aggregator, and its time."""
    s = time.monotonic()
    p = kubectl(env, "get", "--raw", path, check=False)
    dt = time.monotonic() - s
    if p.returncode != 0:
        return {"path": path, "error": p.stderr.strip()[:300]}
    return {"path": path, "bytes": len(p.stdout.encode()), "seconds": dt,
            "items": len(json.loads(p.stdout)["items"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--runs", type=int, default=50, help="runs of each kubectl top command")
    add_bench_args(ap, state="/tmp/kp-top-bench", addr_base="127.6.0.1")
    ap.add_argument("--pods-max-nodes", type=int, default=1000,
                    help="above this N register Nodes only; kubepulse --watch-pods=false")
    ap.add_argument("--sink", default="null?encode=true", help="kubepulse --sink (history)")
    ap.add_argument("--concurrency", type=int,
                    help="--kubelet-max-concurrency (default: the daemon's own)")
    ap.add_argument("--ready-timeout", type=float, default=900,
                    help="seconds to wait for every node and pod to be served")
    ap.add_argument("--min-served", type=float, default=1.0,
                    help="after --ready-timeout, measure anyway when this share of the nodes "
                    "is served (recorded in the JSON)")
    ap.add_argument("--baseline", type=float, default=60,
                    help="seconds of kubepulse's CPU without requests, subtracted per run")
    ap.add_argument("--poll", type=float, default=15, help="seconds between readiness checks")
    ap.add_argument("--no-register", action="store_true",
                    help="the Nodes (and Pods) are registered already (same N, P, --addr-base)")
    ap.add_argument("--resolution", type=int, default=15, help="--metric-resolution, seconds")
    ap.set_defaults(kubelet_ca=None)  # start_kubepulse: the simulator started here, the env's CA
    args = ap.parse_args()
    # SIGTERM runs the finally below too (what was started is stopped, the veth deleted)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    args.commit = commit()  # at the start: HEAD may move while it runs
    procs = Procs()
    started_infra = False
    n = None
    env = None
    ns = f"kp-top-bench-{os.getpid()}"
    try:
        if args.env:
            env = read_env(args.env)
        else:
            subprocess.run([os.path.join(ROOT, "tests/infra/up.sh"), args.state], check=True)
            started_infra = True
            env = read_env(os.path.join(args.state, "env"))
        logdir = os.path.join(env["KP_STATE_DIR"], "bench",
                              f"kubectl-top-{args.nodes}x{args.pods}-{time.strftime('%H%M%S')}")
        os.makedirs(logdir, exist_ok=True)
        why = kpnetns.unavailable()
        if why:
            sys.exit(f"the aggregator needs a non-loopback address for the Endpoints: {why}")
        n = kpnetns.Netns().create()
        addr = n.host_addr
        sim_pid, control, token = start_sim(args, env, procs, logdir)
        t = time.time()
        if not args.no_register:
            register(args, env, control, logdir)
        reg_s = time.time() - t
        dns = f"{SVC}.{ns}.svc"
        out = subprocess.run([os.path.join(ROOT, "tests/infra/pki.sh"), "issue",
                              env["KP_STATE_DIR"], f"top-bench-{os.getpid()}", dns, "--san",
                              f"DNS:{dns}", "--san", f"IP:{addr}"],
                             check=True, capture_output=True, text=True)
        cert = out.stdout.split()
        port = free_port()
        kp = start_kubepulse(args, env, procs, logdir, token, free_port(),
                             [f"--metrics-api-listen={addr}:{port}", f"--tls-cert-file={cert[0]}",
                              f"--tls-private-key-file={cert[1]}"])
        apply_apiservice(env, ns, addr, port)
        print(f"# N={args.nodes} P={args.pods} ({args.nodes * args.pods} pods), "
              f"{args.resolution} s resolution, sink {args.sink}; {args.runs} runs each; "
              f"loadavg at start: {loadavg()}", flush=True)
        ready_s, served = wait_served(args, env, kp, addr, port)
        sizes = [raw_size(env, f"{BASE}/nodes"), raw_size(env, f"{BASE}/pods")]
        print(f"# answers through the aggregator: {json.dumps(sizes)}", flush=True)
        apiserver = int(env["KP_APISERVER_PID"])
        rate = baseline(args, kp.pid) if args.baseline > 0 else 0.0
        results = [run_top(args, env, kp.pid, apiserver, what, rate) for what in (
            ["top", "node"], ["top", "pod", "-A"], ["get", "--raw", f"{BASE}/pods"])]
        if args.json:
            save_json(args.json, {
                "nodes": args.nodes, "pods": args.pods, "argv": sys.argv, "commit": args.commit,
                "sink": args.sink, "resolution_s": args.resolution, "register_s": reg_s,
                "ready_s": ready_s, "served_at_start": served,
                "kubepulse_baseline_cpu_s_per_s": rate, "answers": sizes,
                "results": results, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    finally:
        if env is not None and not started_infra:
            kubectl(env, "delete", "apiservice", "v1beta1.metrics.k8s.io", "--ignore-not-found",
                    check=False)
            kubectl(env, "delete", "namespace", ns, "--ignore-not-found", "--wait=false",
                    check=False)
        procs.stop_all()
        if n is not None:
            n.delete()
        if started_infra:
            subprocess.run([os.path.join(ROOT, "tests/infra/down.sh"), args.state])


if __name__ == "__main__":
    main()
