#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""run.py - scale benchmark of kubepulse against a real API server and the kubelet simulator.

    bench/run.sh N P [--influx] [options]        (run.sh only finds python3 and calls this)

Starts (or reuses) the real servers from tests/infra, the simulator (tests/sim) serving N
kubelets x P pods, registers N Nodes (and their Pods when N <= --pods-max-nodes, else nodes
only and kubepulse runs with --watch-pods=false), then kubepulse as the only replica
(--leader-elect=false) at --metric-resolution=15s writing to the null sink (or, with
--influx, to the real InfluxDB). For each scrape cycle it prints wall time, CPU user+sys
(deltas of /proc/PID/stat between cycle ends), peak and current RSS (VmHWM, VmRSS), bytes
received (= bytes fed to the streaming parser), points produced and written, and the same
per node; the simulator's own CPU/RSS is measured the same way. Everything it starts is
stopped by pid. --json FILE saves the cycles and a summary for bench/plot.py.
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
# the servers and their env file: kpharness's, which the other benches import from here
from kpharness import BenchServers, read_env_file as read_env  # noqa: E402,F401
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"run: {msg}", file=sys.stderr, flush=True)


def proc_cpu(pid):
    """utime + stime of pid, seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_mem(pid):
    """(VmHWM, VmRSS) in KiB."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out.get("VmHWM", 0), out.get("VmRSS", 0)


def loadavg():
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PROM = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


STATUS_LATENCY = {"max_s": 0.0, "timeouts": 0}


def scrape_metrics(port, timeout=5):
    t0 = time.time()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
        text = r.read().decode()
    STATUS_LATENCY["max_s"] = max(STATUS_LATENCY["max_s"], time.time() - t0)
    m = {}
    for line in text.splitlines():
        g = PROM.match(line)
        if g:
            key = g.group(1) + (g.group(2) or "")
            m[key] = float(g.group(3))
            m.setdefault(g.group(1) + "#sum", 0.0)
            m[g.group(1) + "#sum"] += float(g.group(3))
    return m


class Procs:
    """Processes this run started; stopped by pid, TERM then KILL."""

    def __init__(self):
        self.procs = []

    def start(self, name, argv, logdir, nofile=None, **kw):
        out = open(os.path.join(logdir, f"{name}.log"), "ab")

        def pre():
            os.setsid()
            if nofile:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        p = subprocess.Popen(argv, stdout=kw.pop("stdout", out), stderr=out,
                             preexec_fn=pre, **kw)
        self.procs.append((name, p))
        return p

    def stop_all(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []


def start_sim(args, env, procs, logdir):
    sim = subprocess.run([os.path.join(ROOT, "tests/sim/build.sh")], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    token = os.path.join(logdir, "simtoken")
    with open(token, "w", encoding="ascii") as f:
        f.write(f"bench-{os.getpid()}-{time.time_ns()}")
    argv = [sim, "-nodes", str(args.nodes), "-pods", str(args.pods), "-addr-base",
            args.addr_base, "-ca-cert", env["KP_CA_CERT"], "-ca-key", env["KP_CA_KEY"],
            "-token-file", token, "-control", "127.0.0.1:0"]
    ready = os.path.join(logdir, "sim.ready")
    with open(ready, "wb") as rf:
        p = procs.start("sim", argv, logdir, nofile=args.nofile, stdout=rf)
    deadline = time.time() + 120
    while time.time() < deadline:
        with open(ready, encoding="utf-8") as f:
            m = re.search(r"control=(\S+)", f.read())
        if m:
            return p.pid, m.group(1), token
        if p.poll() is not None:
            sys.exit(f"run: the simulator exited (see {logdir}/sim.log)")
        time.sleep(0.2)
    sys.exit("run: the simulator did not get ready in 120 s")


def register(args, env, control, logdir):
    man = os.path.join(logdir, "manifest.json")
    with urllib.request.urlopen(f"http://{control}/manifest?offset=0&limit={args.nodes}",
                                timeout=600) as r, open(man, "wb") as f:
        f.write(r.read())
    cmd = [sys.executable, os.path.join(ROOT, "tests/sim/register.py"), "--manifest", man]
    if args.nodes > args.pods_max_nodes:
        cmd.append("--no-pods")
    e = dict(os.environ, KP_KUBECTL=env["KP_KUBECTL"], KP_KUBECONFIG=env["KP_KUBECONFIG"])
    t0 = time.time()
    subprocess.run(cmd, check=True, env=e)
    log(f"registered {args.nodes} nodes{' (no pods)' if '--no-pods' in cmd else ''} "
        f"in {time.time() - t0:.0f}s")


def sim_registered(args, env, procs, logdir):
    """The simulator of the run, (pid, control URL, token file): a running one (--sim,
    --sim-token) or one started now; its nodes and pods registered unless --no-register."""
    if args.sim:
        pid, control = args.sim.split(",")
        sim_pid, token = int(pid), args.sim_token
    else:
        sim_pid, control, token = start_sim(args, env, procs, logdir)
    if not args.no_register:
        register(args, env, control, logdir)
    return sim_pid, control, token


def sink_uri(args, env):
    """--sink of the run: args.sink when a caller set one (bench/influx_e2e.py), else the real
    InfluxDB (--influx) or the null sink."""
    if getattr(args, "sink", None):
        return args.sink
    return (f"influxdb:{env['KP_INFLUX_URL']}?db=k8sbench" if args.influx
            else f"null?encode={'false' if args.no_encode else 'true'}")


def start_kubepulse(args, env, procs, logdir, token, port, extra=()):
    """kubepulse on the simulator's kubelets, its status server on port; extra: more flags
    before args.kp_arg (bench/kubectl_top.py: the metrics API's)."""
    kp = args.kubepulse
    sink = sink_uri(args, env)
    argv = [kp, "--kubeconfig", env["KP_KUBECONFIG"], "--leader-elect=false",
            "--metric-resolution", f"{args.resolution}s", "--kubelet-certificate-authority",
            args.kubelet_ca or env["KP_CA_CERT"], "--kubelet-token-file", token,
            "--kubelet-preferred-address-types", "InternalIP", "--sink", sink,
            "--listen", f"127.0.0.1:{port}", "--log-format", "json"]
    if getattr(args, "concurrency", None) is not None:  # else the daemon's default
        argv += ["--kubelet-max-concurrency", str(args.concurrency)]
    argv += extra
    if args.nodes > args.pods_max_nodes:
        argv.append("--watch-pods=false")
    argv += args.kp_arg
    log("kubepulse: " + " ".join(argv))
    return procs.start("kubepulse", argv, logdir, nofile=args.nofile)


def per_cycle(args, kp_pid, sim_pid, port):
    """Sample at every cycle end; returns the rows."""
    rows = []
    n = args.nodes
    last = None
    deadline = time.time() + args.resolution * (args.cycles + args.warmup + 3) + 60
    print(f"# N={n} P={args.pods} resolution={args.resolution}s sink="
          f"{'influxdb' if args.influx else 'null'} loadavg at start: {loadavg()}")
    hdr = ("cycle wall_s cpu_s mcore/node rss_peak_KiB rss_KiB KiB/node bytes_rx points "
           "written ok failed sim_cpu_s sim_rss_KiB load1")
    print(hdr)
    while time.time() < deadline and len(rows) < args.cycles:
        try:
            m = scrape_metrics(port, timeout=60)
        except OSError:  # timeout or closed: the status server shares the daemon's loop
            STATUS_LATENCY["timeouts"] += 1
            continue
        cycles = m.get("kubepulse_scrape_cycles_total", 0)
        if last is None or cycles == last["cycles"]:
            if last is None and cycles >= args.warmup:
                last = snapshot(m, kp_pid, sim_pid)
            time.sleep(0.1)
            continue
        cur = snapshot(m, kp_pid, sim_pid)
        d = {k: cur[k] - last[k] for k in ("cpu", "sim_cpu", "bytes", "points", "written",
                                            "scraped", "failed", "handed", "cycles", "wall_sum")}
        # The cycle histogram's sum grows by the wall time of the cycles that ended since.
        wall_s = d["wall_sum"] / max(1, d["cycles"])
        row = {"cycle": int(cur["cycles"]), "wall_s": wall_s, "cpu_s": d["cpu"],
               "interval_s": cur["t"] - last["t"], "hwm_kib": cur["hwm"], "rss_kib": cur["rss"],
               "bytes": d["bytes"], "points": d["points"], "written": d["written"],
               "handed": d["handed"], "scraped": d["scraped"], "failed": d["failed"],
               "sim_cpu_s": d["sim_cpu"], "sim_rss_kib": cur["sim_rss"],
               "sim_hwm_kib": cur["sim_hwm"], "load1": float(loadavg().split()[0]),
               "skipped": cur["skipped"]}
        # average CPU between two cycle ends (one resolution, or more when cycles are skipped)
        row["mcore_per_node"] = row["cpu_s"] / row["interval_s"] / n * 1000
        rows.append(row)
        print(f"{row['cycle']:5d} {row['wall_s']:6.2f} {row['cpu_s']:6.2f} "
              f"{row['mcore_per_node']:9.4f} {row['hwm_kib']:12d} {row['rss_kib']:8d} "
              f"{row['hwm_kib'] / n:8.1f} {row['bytes']:10.0f} {row['points']:8.0f} "
              f"{row['written']:8.0f} {row['scraped']:5.0f} {row['failed']:5.0f} "
              f"{row['sim_cpu_s']:8.2f} {row['sim_rss_kib']:11d} {row['load1']:5.2f}",
              flush=True)
        last = cur
    return rows


def snapshot(m, kp_pid, sim_pid):
    hwm, rss = proc_mem(kp_pid)
    shwm, srss = proc_mem(sim_pid) if sim_pid else (0, 0)
    return {"t": time.time(), "cycles": m.get("kubepulse_scrape_cycles_total", 0),
            "wall_sum": m.get("kubepulse_scrape_cycle_duration_seconds_sum", 0),
            "skipped": m.get("kubepulse_scrape_cycles_skipped_total", 0),
            "cpu": proc_cpu(kp_pid), "sim_cpu": proc_cpu(sim_pid) if sim_pid else 0,
            "hwm": hwm, "rss": rss, "sim_hwm": shwm, "sim_rss": srss,
            "bytes": m.get("kubepulse_scrape_received_bytes_total", 0),
            "points": m.get("kubepulse_points_produced_total", 0),
            "handed": m.get("kubepulse_points_handed_to_sinks_total", 0),
            "written": m.get("kubepulse_sink_points_written_total#sum", 0),
            "scraped": m.get("kubepulse_nodes_scraped_total", 0),
            "failed": m.get("kubepulse_nodes_failed_total#sum", 0)}


def summarize(args, rows):
    n = args.nodes
    if not rows:
        return {}
    avg = lambda k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
    s = {"nodes": n, "pods": args.pods, "sink": "influxdb" if args.influx else "null",
         "cycles": len(rows), "wall_s_max": max(r["wall_s"] for r in rows),
         "wall_s_avg": avg("wall_s"), "cpu_s_avg": avg("cpu_s"),
         "mcore_per_node": avg("mcore_per_node"),
         "hwm_kib": max(r["hwm_kib"] for r in rows),
         "hwm_kib_per_node": max(r["hwm_kib"] for r in rows) / n,
         "rss_first_kib": rows[0]["rss_kib"], "rss_last_kib": rows[-1]["rss_kib"],
         "bytes_per_node": avg("bytes") / n, "points_per_node": avg("points") / n,
         "written_per_node": avg("written") / n, "failed_total": sum(r["failed"] for r in rows),
         "sim_cpu_s_avg": avg("sim_cpu_s"), "sim_rss_kib": rows[-1]["sim_rss_kib"],
         "load1_avg": avg("load1"), "watch_pods": n <= args.pods_max_nodes,
         "status_latency_max_s": STATUS_LATENCY["max_s"],
         "cycles_skipped": rows[-1].get("skipped", 0)}
    print(f"# summary: wall max {s['wall_s_max']:.2f}s avg {s['wall_s_avg']:.2f}s; CPU "
          f"{s['cpu_s_avg']:.3f}s/cycle = {s['mcore_per_node']:.4f} millicore/node; peak RSS "
          f"{s['hwm_kib']} KiB = {s['hwm_kib_per_node']:.1f} KiB/node; RSS first/last "
          f"{s['rss_first_kib']}/{s['rss_last_kib']} KiB; {s['bytes_per_node']:.0f} B, "
          f"{s['points_per_node']:.0f} points, {s['written_per_node']:.0f} written per node; "
          f"failed scrapes {s['failed_total']:.0f}; simulator {s['sim_cpu_s_avg']:.2f} "
          f"cpu-s/cycle, RSS {s['sim_rss_kib']} KiB; load1 avg {s['load1_avg']:.2f}; "
          f"slowest /metrics answer {s['status_latency_max_s']:.2f}s; cycles skipped "
          f"{s['cycles_skipped']:.0f}")
    return s


def save_json(path, obj):
    """Writes a benchmark's results (--json): one JSON document, indented, a newline at the end."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def add_bench_args(ap, state: str, addr_base: str):
    """The options of every simulator benchmark: the servers (--env to reuse running ones, else
    started in --state), the simulator's first address, RLIMIT_NOFILE, the kubepulse binary,
    extra kubepulse flags and the JSON results file."""
    ap.add_argument("--env", help="reuse running servers (tests/infra STATE_DIR/env)")
    ap.add_argument("--state", default=state, help="STATE_DIR when starting servers")
    ap.add_argument("--addr-base", default=addr_base, help="simulator -addr-base")
    ap.add_argument("--nofile", type=int, default=20000, help="RLIMIT_NOFILE for both")
    ap.add_argument("--kubepulse", default=os.path.join(ROOT, "build-bench/src/kubepulse"),
                    help="the kubepulse binary")
    ap.add_argument("--kp-arg", action="append", default=[], help="extra kubepulse flag")
    ap.add_argument("--json", help="save the results here (bench/results/ keeps them)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("nodes", type=int)
    ap.add_argument("pods", type=int)
    ap.add_argument("--influx", action="store_true", help="write to the real InfluxDB")
    ap.add_argument("--no-encode", action="store_true", help="null sink without encoding")
    ap.add_argument("--cycles", type=int, default=6, help="cycles to measure (default 6)")
    ap.add_argument("--warmup", type=int, default=2, help="cycles before measuring (default 2)")
    ap.add_argument("--resolution", type=int, default=15)
    ap.add_argument("--concurrency", type=int,
                    help="--kubelet-max-concurrency (default: the daemon's own)")
    ap.add_argument("--pods-max-nodes", type=int, default=1000,
                    help="above this N register nodes only and run with --watch-pods=false")
    add_bench_args(ap, state="/tmp/kp-bench", addr_base="127.3.0.1")
    ap.add_argument("--sim", metavar="PID,CONTROL",
                    help="reuse a running simulator (its token file: --sim-token)")
    ap.add_argument("--sim-token")
    ap.add_argument("--kubelet-ca", help="CA of a reused simulator (default: the env's CA)")
    ap.add_argument("--no-register", action="store_true", help="objects are registered already")
    args = ap.parse_args()

    procs = Procs()
    servers = BenchServers(args.env, args.state)
    env = servers.env
    try:
        logdir = os.path.join(env["KP_STATE_DIR"], "bench", f"run-{args.nodes}x{args.pods}-"
                              f"{time.strftime('%H%M%S')}")
        os.makedirs(logdir, exist_ok=True)
        sim_pid, _, token = sim_registered(args, env, procs, logdir)
        port = free_port()
        kp = start_kubepulse(args, env, procs, logdir, token, port)
        for _ in range(100):
            try:
                scrape_metrics(port)
                break
            except OSError:
                if kp.poll() is not None:
                    sys.exit(f"run: kubepulse exited (see {logdir}/kubepulse.log)")
                time.sleep(0.1)
        rows = per_cycle(args, kp.pid, sim_pid, port)
        s = summarize(args, rows)
        if args.json:
            save_json(args.json, {"summary": s, "rows": rows, "argv": sys.argv,
                                  "logdir": logdir})
    finally:
        procs.stop_all()
        servers.stop()


if __name__ == "__main__":
    main()
