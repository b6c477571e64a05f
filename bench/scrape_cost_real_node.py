#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""scrape_cost_real_node.py - a real kubelet's Summary against the simulator's (issue #20).

    bench/scrape_cost_real_node.py --env STATE_DIR/env [--pods-per-node 10] [--cycles 120]
        [--rounds 2000] [--save DIR] [--json FILE]

On the real nodes of tests/infra/up.sh --with-node (STATE_DIR/env; kubelet v1.32 with
containerd), then on the simulator (tests/sim, in a plain cluster of its own that this script
starts and stops) with the same pods per node and containers per pod:

  1. Runs PODS_PER_NODE pods of the workload image (busybox + burn, sleeping) on each real
     node, waits until every node's Summary lists them whole (CPU, memory, network, the
     token's volume, ephemeral storage, process stats), and saves each
     kubelet's /stats/summary (a token with only nodes/stats). The simulator is then started
     with -nodes 3 -pods P -containers C where P and C are what the real Summaries hold
     (every pod on the node: the workload, and whatever else runs there).
  2. Parser: build-bench/bench/summary_bench on each saved response (ROUNDS times, CPU time
     of the parse only): bytes, pods, containers, ms per response, MB per CPU second.
  3. Daemon: build-bench/src/kubepulse (--leader-elect=false, --sink=null, which encodes
     line protocol, --metric-resolution=RES), one against the three real kubelets and one
     against the three simulated ones, side by side (the same minutes, so the same load on
     this shared machine), CYCLES cycles each after a warm-up; from /proc/PID/stat (and
     the threads' schedstat, in ns) and its /metrics: CPU per node-scrape (process CPU /
     cycles / nodes: the cycle's fixed part, the watches and the encoding included, which
     is why both run the same node count), bytes received and points produced per
     node-scrape. With each runs a daemon selecting no node of the same cluster
     (--node-selector of none: its watches and empty cycles); its CPU over the same window
     is subtracted for the scrapes' own cost (--no-baseline: not run).
Everything it starts is stopped by pid; the workload pods and namespace are deleted.
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import types
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
from run import (ROOT, Procs, free_port, loadavg, proc_cpu, proc_mem, register,  # noqa: E402
                 save_json, scrape_metrics)
from kpharness import BenchServers, Cluster, wait_for  # noqa: E402
from test_chart_real_node import Nodes, http_get  # noqa: E402


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_workload(c, ns, nodes, per_node):
    for node in nodes.names():
        for j in range(per_node):
            c.kubectl("apply", "-n", ns, "-f", "-", input={
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"w{j:02d}-{node.replace('.', '-')}",
                             "labels": {"app": "scrape-cost"}},
                "spec": {"nodeName": node, "containers": [{
                    "name": "sleep", "image": c.env["KP_NODE_WORKLOAD_IMAGE"],
                    "imagePullPolicy": "Never", "command": ["burn"]}],
                    # the ServiceAccount token is mounted, as by default: a volume each
                    "enableServiceLinks": False, "terminationGracePeriodSeconds": 1,
                    "dnsPolicy": "None", "dnsConfig": {"nameservers": ["127.0.0.1"]}}})

    def running():
        items = json.loads(c.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
        return len(items) == per_node * len(nodes.names()) and all(
            p["status"].get("phase") == "Running" for p in items)

    wait_for(running, timeout=300, interval=1, what="the workload pods Running")


POD_PARTS = {"containers", "cpu", "memory", "network", "volume", "ephemeral-storage",
             "process_stats"}


def real_summaries(c, nodes, ns, token, per_node):
    """{node: raw body} once each node's Summary has every workload pod with CPU and memory."""
    def complete():
        out = {}
        for node in nodes.names():
            code, body = http_get(f"{nodes.url(node)}/stats/summary", token=token,
                                  ctx=nodes.ctx(node))
            if code != 200:
                return None
            s = json.loads(body)
            mine = [p for p in s.get("pods", []) if p["podRef"]["namespace"] == ns]
            # cAdvisor fills a new pod's parts over a few housekeeping rounds: wait for all
            if len(mine) < per_node or not all(
                    POD_PARTS <= p.keys() and p["containers"] and all(
                        "usageNanoCores" in (ct.get("cpu") or {}) and ct.get("memory")
                        for ct in p["containers"]) for p in mine):
                return None
            out[node] = body
        return out

    return wait_for(complete, timeout=180, interval=2, what="every pod in the Summaries")


def shape(body):
    s = json.loads(body)
    pods = s.get("pods", [])
    return {"bytes": len(body.encode()), "pods": len(pods),
            "containers": sum(len(p.get("containers") or []) for p in pods),
            "pod_volumes": sum(len(p.get("volume") or []) for p in pods),
            "system_containers": len(s["node"].get("systemContainers") or [])}


SB = re.compile(r"best: ([\d.]+) MB/cpu-s\s+mean: ([\d.]+) MB/cpu-s\s+\(([\d.]+) ms/response")


def parse_bench(path, rounds):
    out = subprocess.run([os.path.join(ROOT, "build-bench", "bench", "summary_bench"), path,
                          str(rounds)], capture_output=True, text=True, check=True).stdout
    m = SB.search(out)
    return {"mb_per_cpu_s_best": float(m.group(1)), "mb_per_cpu_s_mean": float(m.group(2)),
            "ms_per_response_best": float(m.group(3)), "rounds": rounds, "output": out}


def sched_ns(pid):
    """CPU time of pid's live threads in ns (/proc/PID/task/*/schedstat), finer than the
    10 ms ticks of /proc/PID/stat; threads that have exited are not counted."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def daemon_start(args, what, kubeconfig, kubelet_ca, token_file, nodes, logdir, procs,
                 extra=()):
    port = free_port()
    argv = [args.kubepulse, "--kubeconfig", kubeconfig, "--leader-elect=false",
            "--metric-resolution", f"{args.resolution}s", "--kubelet-timeout",
            f"{args.resolution * 0.8:g}s", "--kubelet-certificate-authority", kubelet_ca,
            "--kubelet-token-file", token_file, "--kubelet-preferred-address-types",
            "InternalIP", "--sink", "null", "--listen", f"127.0.0.1:{port}",
            "--log-format", "json", *extra]
    name = "kubepulse-" + what.replace(" ", "-").replace(",", "")
    return {"what": what, "nodes": nodes, "argv": argv, "port": port,
            "p": procs.start(name, argv, logdir)}


def _snap(d, m):
    pid = d["p"].pid
    return {"t": time.time(), "cpu": proc_cpu(pid), "sched": sched_ns(pid) / 1e9,
            "hwm": proc_mem(pid)[0], "cycles": m.get("kubepulse_scrape_cycles_total", 0),
            "scraped": m.get("kubepulse_nodes_scraped_total", 0),
            "failed": m.get("kubepulse_nodes_failed_total#sum", 0),
            "bytes": m.get("kubepulse_scrape_received_bytes_total", 0),
            "points": m.get("kubepulse_points_produced_total", 0)}


def _cycles(d):
    return _metrics(d["port"]).get("kubepulse_scrape_cycles_total", 0)


def daemons_measure(args, daemons):
    """Measures the daemons over the same wall-clock window (same load): each from the end of
    a cycle after its warm-up to the end of its CYCLES-th cycle after that. A daemon with a
    "base" (one that selects no node of the same cluster: the watches, the Pod cache and the
    empty cycles) is measured over its sibling's window; the difference is what the node
    scrapes cost."""
    full = [d for d in daemons if "base" not in d]
    for d in full:
        wait_for(lambda: _cycles(d) >= args.warmup, timeout=120, interval=0.1,
                 what=f"{args.warmup} cycles ({d['what']})")
    for d in daemons:
        wait_for(lambda: _metrics(d["port"]), timeout=60, interval=0.1,
                 what=f"the /metrics of {d['what']}")
    for d in full:
        c0 = _cycles(d)
        m = wait_for(lambda: (lambda m: m if m.get("kubepulse_scrape_cycles_total", 0) > c0
                              else None)(_metrics(d["port"])), timeout=30, interval=0.02,
                     what="a cycle")
        d["a"], d["target"] = _snap(d, m), m["kubepulse_scrape_cycles_total"] + args.cycles
        if d.get("baseline"):
            d["baseline"]["a"] = _snap(d["baseline"], {})
    load, t0 = [float(loadavg().split()[0])], time.time()
    while any("b" not in d for d in full):
        time.sleep(0.1)
        for d in full:
            if "b" not in d:
                m = _metrics(d["port"])
                if m.get("kubepulse_scrape_cycles_total", 0) >= d["target"]:
                    d["b"] = _snap(d, m)
                    if d.get("baseline"):
                        d["baseline"]["b"] = _snap(d["baseline"], {})
        if time.time() - t0 > len(load) * 5:
            load.append(float(loadavg().split()[0]))
    out = {}
    for d in full:
        a, b, nodes = d["a"], d["b"], d["nodes"]
        x = {k: b[k] - a[k] for k in ("t", "cpu", "sched", "cycles", "scraped", "failed",
                                      "bytes", "points")}
        scrapes = x["scraped"]
        r = {"what": d["what"], "nodes": nodes, "cycles": x["cycles"], "node_scrapes": scrapes,
             "failed": x["failed"], "wall_s": x["t"], "cpu_s": x["cpu"],
             "cpu_ms_per_node_scrape": x["cpu"] / max(1, x["cycles"] * nodes) * 1000,
             "sched_cpu_s": x["sched"],
             "sched_ms_per_node_scrape": x["sched"] / max(1, x["cycles"] * nodes) * 1000,
             "bytes_per_node_scrape": x["bytes"] / max(1, scrapes),
             "points_per_node_scrape": x["points"] / max(1, scrapes),
             "peak_rss_kib": b["hwm"], "load1_avg": sum(load) / len(load),
             "argv": d["argv"]}
        if d.get("baseline"):
            base = d["baseline"]
            r["baseline_argv"] = base["argv"]
            r["baseline_sched_cpu_s"] = base["b"]["sched"] - base["a"]["sched"]
            r["baseline_cpu_s"] = base["b"]["cpu"] - base["a"]["cpu"]
            r["marginal_ms_per_node_scrape"] = (x["sched"] - r["baseline_sched_cpu_s"]) / max(
                1, x["cycles"] * nodes) * 1000
            log(f"  without nodes (--node-selector of none): {r['baseline_sched_cpu_s']:.3f} s "
                f"CPU against {x['sched']:.3f} s: {r['marginal_ms_per_node_scrape']:.3f} ms per "
                f"node-scrape for the scrapes alone")
        log(f"daemon on {d['what']}: {r['cpu_ms_per_node_scrape']:.3f} ms CPU per "
            f"node-scrape ({r['sched_ms_per_node_scrape']:.3f} ms by schedstat), "
            f"{r['bytes_per_node_scrape']:.0f} B and {r['points_per_node_scrape']:.1f} points "
            f"per node-scrape, {x['cycles']:.0f} cycles, {scrapes:.0f} scrapes, "
            f"{x['failed']:.0f} failed, load1 avg {r['load1_avg']:.2f}")
        out["real" if d["what"].startswith("real") else "sim"] = r
    return out


def _metrics(port):
    try:
        return scrape_metrics(port)
    except OSError:
        return {}


def free_addr_base():
    """127.N.0.1 such that 127.N.0.1-3 have port 10250 free (other benchmarks' simulators
    may hold other 127.N.x.y)."""
    import socket

    for n in range(40, 250):
        try:
            for i in (1, 2, 3):
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((f"127.{n}.0.{i}", 10250))
            return f"127.{n}.0.1"
        except OSError:
            continue
    sys.exit("scrape_cost_real_node: no free 127.N.0.1-3:10250")


def start_sim(env, pods, containers, addr_base, logdir, procs):
    sim = subprocess.run([os.path.join(ROOT, "tests", "sim", "build.sh")], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    token = os.path.join(logdir, "simtoken")
    with open(token, "w", encoding="ascii") as f:
        f.write(f"bench-{os.getpid()}-{time.time_ns()}")
    ready = os.path.join(logdir, "sim.ready")
    with open(ready, "wb") as rf:
        p = procs.start("sim", [sim, "-nodes", "3", "-pods", str(pods), "-containers",
                                str(containers), "-addr-base", addr_base, "-ca-cert",
                                env["KP_CA_CERT"], "-ca-key", env["KP_CA_KEY"],
                                "-token-file", token, "-control", "127.0.0.1:0"],
                        logdir, stdout=rf)
    control = wait_for(lambda: (lambda m: m and m.group(1))(
        re.search(r"control=(\S+)", open(ready, encoding="utf-8").read())),
        timeout=120, interval=0.2, what="the simulator")
    return p, control, token


@contextlib.contextmanager
def real_side(args, c, logdir):
    """The workload on the real nodes and their saved Summaries: yields (saved, token file)."""
    nodes = Nodes(c)
    ns = c.create_namespace("kpcost")
    try:
        run_workload(c, ns, nodes, args.pods_per_node)
        token = c.mint_token("kpcost-stats", ns, cluster_rules=["get:nodes/stats"])
        token_file = os.path.join(logdir, "token")
        with open(token_file, "w", encoding="ascii") as f:
            f.write(token)
        saved = {}
        for node, body in real_summaries(c, nodes, ns, token, args.pods_per_node).items():
            path = os.path.join(args.save, f"summary-real-{node}.json")
            with open(path, "w", encoding="utf-8") as f:
                f.write(body)
            saved[node] = {"file": path, **shape(body)}
            log(f"real {node}: {saved[node]}")
        yield saved, token_file
    finally:
        c.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@contextlib.contextmanager
def sim_side(args, pods, containers, logdir):
    """The simulator with a plain cluster of its own: yields (saved Summary, env, token)."""
    state = tempfile.mkdtemp(prefix="kubepulse-scrape-cost-")
    servers = BenchServers(None, state)
    sim_procs = Procs()
    try:
        env = servers.env
        _, control, token = start_sim(env, pods, containers,
                                      args.addr_base or free_addr_base(), logdir, sim_procs)
        register(types.SimpleNamespace(nodes=3, pods_max_nodes=1000), env, control, logdir)
        ctx = ssl.create_default_context(cafile=env["KP_CA_CERT"])
        ctx.check_hostname = False
        man = json.load(urllib.request.urlopen(f"http://{control}/manifest", timeout=30))
        node0 = man["nodes"][0] if isinstance(man, dict) else man[0]
        code, body = http_get(f"https://{node0['address']}:{node0['port']}/stats/summary",
                              token=open(token, encoding="ascii").read(), ctx=ctx)
        assert code == 200, (code, body[:200])
        path = os.path.join(args.save, "summary-sim-node-0000.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(body)
        saved = {"file": path, **shape(body)}
        log(f"simulator node 0: {saved}")
        yield saved, env, token
    finally:
        sim_procs.stop_all()
        servers.stop()
        shutil.rmtree(state, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", required=True, help="a running cluster with nodes (STATE_DIR/env)")
    ap.add_argument("--pods-per-node", type=int, default=10)
    ap.add_argument("--cycles", type=int, default=120)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--resolution", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2000, help="summary_bench rounds")
    ap.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                    help="also run a daemon per side that selects no node, to subtract")
    ap.add_argument("--addr-base", help="the simulator's -addr-base (default: a free 127.N.0.1)")
    ap.add_argument("--kubepulse", default=os.path.join(ROOT, "build-bench", "src", "kubepulse"))
    ap.add_argument("--save", help="where to keep the captured Summaries (default the log dir)")
    ap.add_argument("--json")
    args = ap.parse_args()
    c = Cluster(args.env)
    logdir = os.path.join(c.state_dir, "bench", f"scrape-cost-{time.strftime('%H%M%S')}")
    os.makedirs(logdir, exist_ok=True)
    args.save = args.save or logdir
    os.makedirs(args.save, exist_ok=True)
    procs = Procs()
    with contextlib.ExitStack() as stack:
        real, token_file = stack.enter_context(real_side(args, c, logdir))
        pods = round(sum(s["pods"] for s in real.values()) / len(real))
        containers = max(1, round(sum(s["containers"] for s in real.values()) /
                                  sum(s["pods"] for s in real.values())))
        sim, sim_env, sim_token = stack.enter_context(sim_side(args, pods, containers, logdir))
        stack.callback(procs.stop_all)
        sides = [("real kubelets", c.kubeconfig, c.env["KP_KUBELET_CA"], token_file, len(real)),
                 ("simulated kubelets", sim_env["KP_KUBECONFIG"], sim_env["KP_CA_CERT"],
                  sim_token, 3)]
        daemons = []
        for side in sides:
            d = daemon_start(args, *side, logdir, procs)
            daemons.append(d)
            if args.baseline:
                base = daemon_start(args, f"{side[0]}, no node", *side[1:], logdir, procs,
                                    extra=["--node-selector", "kubepulse.io/bench-none=1"])
                base["base"] = d
                d["baseline"] = base
                daemons.append(base)
        measured = daemons_measure(args, daemons)
        real_daemon, sim_daemon = measured["real"], measured["sim"]
    parse = {"real": {n: parse_bench(s["file"], args.rounds) for n, s in real.items()},
             "sim": parse_bench(sim["file"], args.rounds)}
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    version = subprocess.run([args.kubepulse, "--version"], capture_output=True,
                             text=True).stdout.strip()
    out = {"bench": "scrape-cost-real-node", "commit": commit, "kubepulse": version,
           "argv": sys.argv,
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "pods_per_node_sim": pods, "containers_per_pod_sim": containers,
           "summaries": {"real": real, "sim": sim}, "parser": parse,
           "daemon": {"real": real_daemon, "sim": sim_daemon}, "logdir": logdir}
    for n, s in real.items():
        pr = parse["real"][n]
        print(f"# real {n}: {s['bytes']} B, {s['pods']} pods, {s['containers']} containers, "
              f"{s['pod_volumes']} pod volumes; parse {pr['ms_per_response_best']:.3f} ms "
              f"({pr['mb_per_cpu_s_best']:.0f} MB/cpu-s best)")
    ps = parse["sim"]
    print(f"# sim node-0000: {sim['bytes']} B, {sim['pods']} pods, {sim['containers']} "
          f"containers; parse {ps['ms_per_response_best']:.3f} ms "
          f"({ps['mb_per_cpu_s_best']:.0f} MB/cpu-s best)")
    for k in ("real", "sim"):
        d = out["daemon"][k]
        print(f"# daemon {d['what']}: {d['cpu_ms_per_node_scrape']:.3f} ms CPU/node-scrape "
              f"({d['sched_ms_per_node_scrape']:.3f} by schedstat), "
              f"{d['bytes_per_node_scrape']:.0f} B, {d['points_per_node_scrape']:.1f} points "
              f"per node-scrape; {d['cycles']:.0f} cycles, load1 avg {d['load1_avg']:.2f}")
    if args.json:
        save_json(args.json, out)


if __name__ == "__main__":
    main()
