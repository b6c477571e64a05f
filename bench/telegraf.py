#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""telegraf.py - kubepulse against Telegraf's inputs.kubernetes (issue #20), side by side on
one kubelet simulator and the real API server of tests/infra.

    bench/telegraf.py [--nodes 100,500] [--pods 30] [--rounds 2] [--cycles 4] [--warmup 2]
        [--env STATE/env | --env 100=STATE1/env,500=STATE2/env] [--no-register]
        [--kubepulse BIN] [--telegraf BIN] [--json bench/results/F.json]

For each N (ascending: each N registers nodes 0..N-1 over the previous N's, so one set of
servers cannot go down in N; --env N=ENV gives each N servers of its own, and --no-register
reuses what an earlier run registered there) it starts one simulator (tests/sim) of N
kubelets x P pods, registers its Nodes and Pods (bench/run.py's functions), runs Telegraf
once with outputs.file into a real file to count what it emits (lines and fields per node,
every node present, no error), then runs, one after the other on
that cluster, --rounds times A B A B ...:

  A  kubepulse, the only replica (--leader-elect=false), --metric-resolution=15s, the null
     sink (which encodes line protocol and discards it), flags as bench/run.py;
  B  Telegraf v1.37.2 (bench/telegraf/build.sh: only inputs.kubernetes and outputs
     file/discard/influxdb), one [[inputs.kubernetes]] per node (url https://ADDR:PORT, the
     simulator's bearer token file, tls_ca), interval = flush_interval = 15s, rounded to the
     interval like kubepulse's grid, [[outputs.file]] files = ["/dev/null"] in line protocol.

Each run skips --warmup cycles and measures --cycles whole 15 s cycles, in a window from
7.5 s after a grid tick to 7.5 s after a later one (both collectors cycle on the 15 s wall
clock grid). Measured over the window: user+sys CPU of the collector (/proc/PID/stat), the
kubelet requests it made by path (the simulator's /stats counters; a node-scrape is one
GET /stats/summary), load1 every 15 s and the simulator's own CPU; at its end, peak RSS
(VmHWM) and RSS. kubepulse's values per node-scrape come from its /metrics (points produced
over nodes scraped); Telegraf's from the counting run (fields of its line protocol: one
field is one value, as one kubepulse point is one value). Telegraf's log is checked for
errors and warnings (E!, W!) after every run. Everything started is stopped by pid.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from metrics_api import commit, sim_stats  # noqa: E402
from run import (ROOT, BenchServers, Procs, add_bench_args, free_port, loadavg,  # noqa: E402
                 log, proc_cpu, proc_mem, read_env, register, save_json, scrape_metrics,
                 start_kubepulse, start_sim)

RES = 15  # seconds; both collectors
# No environment variables in our configuration: opt in to v1.38's default, which also keeps
# v1.37's warning about the change out of the log we check.
TELEGRAF_FLAGS = ["--strict-env-handling"]
PATHS = ("summaryRequests", "podsRequests", "metricsRequests", "healthzRequests",
         "unauthorized", "notFound")


def telegraf_config(args, n, manifest, token, ca, out_file, timeout=None):
    """Telegraf's TOML for N nodes of the manifest, writing line protocol to out_file;
    response_timeout Telegraf's default (5 s) unless given."""
    # Telegraf writes as soon as metric_batch_size metrics are buffered and drops the oldest
    # beyond metric_buffer_limit (default 10,000): sized to hold two whole cycles so nothing is
    # dropped at any N (about 160 metrics per node per cycle at 30 pods).
    buffer_limit = max(10000, 2 * 200 * n)
    lines = ["[agent]", f'  interval = "{RES}s"', "  round_interval = true",
             f'  flush_interval = "{RES}s"', '  flush_jitter = "0s"', '  collection_jitter = "0s"',
             "  metric_batch_size = 1000", f"  metric_buffer_limit = {buffer_limit}",
             "  skip_processors_after_aggregators = true", ""]
    for nd in manifest["nodes"][:n]:
        lines += ["[[inputs.kubernetes]]", f'  url = "https://{nd["address"]}:{nd["port"]}"',
                  f'  bearer_token = "{token}"', f'  tls_ca = "{ca}"']
        lines += [f'  response_timeout = "{timeout}"', ""] if timeout else [""]
    lines += ["[[outputs.file]]", f'  files = ["{out_file}"]', '  data_format = "influx"', ""]
    return "\n".join(lines)


def split_unescaped(s, sep):
    """Split line protocol at sep outside backslash escapes and double quotes."""
    out, cur, esc, quoted = [], [], False, False
    for ch in s:
        if esc:
            cur.append(ch)
            esc = False
        elif ch == "\\":
            cur.append(ch)
            esc = True
        elif ch == '"':
            cur.append(ch)
            quoted = not quoted
        elif ch == sep and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def count_line_protocol(path, n):
    """Lines, fields, per measurement and per node in Telegraf's output."""
    lines = fields = 0
    per_meas, nodes = {}, set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = split_unescaped(line, " ")
            if len(parts) != 3:
                sys.exit(f"telegraf: unexpected line protocol: {line[:200]}")
            key, fset = parts[0], parts[1]
            tags = split_unescaped(key, ",")
            meas = tags[0]
            nf = len(split_unescaped(fset, ","))
            lines += 1
            fields += nf
            m = per_meas.setdefault(meas, {"lines": 0, "fields": 0})
            m["lines"] += 1
            m["fields"] += nf
            for t in tags[1:]:
                k, _, v = t.partition("=")
                if k == "node_name" and meas == "kubernetes_node":
                    nodes.add(v)
    return {"lines": lines, "fields": fields, "lines_per_node": lines / n,
            "fields_per_node": fields / n, "per_measurement": per_meas,
            "nodes_with_kubernetes_node": len(nodes)}


def telegraf_problems(logpath, since):
    """E! and W! lines Telegraf logged after byte offset since."""
    with open(logpath, encoding="utf-8", errors="replace") as f:
        f.seek(since)
        return [ln.rstrip() for ln in f if " E! " in ln or " W! " in ln]


def count_telegraf(args, n, manifest, token, ca, logdir):
    """One gather of every node into a real file (telegraf --once); what it emitted."""
    out = os.path.join(logdir, f"telegraf-once-{n}.lp")
    cfg = os.path.join(logdir, f"telegraf-once-{n}.conf")
    with open(cfg, "w", encoding="utf-8") as f:
        # The counting gather opens every connection at once (500 TLS handshakes and
        # Summaries): on a loaded machine some exceed Telegraf's 5 s default, which would
        # count a load artefact, not what Telegraf emits. The measured runs keep the default.
        f.write(telegraf_config(args, n, manifest, token, ca, out, timeout="60s"))
    logpath = os.path.join(logdir, f"telegraf-once-{n}.log")
    with open(logpath, "wb") as lf:
        r = subprocess.run([args.telegraf, "--config", cfg, *TELEGRAF_FLAGS, "--once"],
                           stdout=lf, stderr=lf, timeout=300)
    problems = telegraf_problems(logpath, 0)
    if r.returncode != 0 or problems:
        sys.exit(f"telegraf --once exited {r.returncode}; see {logpath}: {problems[:5]}")
    c = count_line_protocol(out, n)
    if c["nodes_with_kubernetes_node"] != n:
        sys.exit(f"telegraf emitted kubernetes_node for {c['nodes_with_kubernetes_node']} of "
                 f"{n} nodes; see {out}")
    want = sum(len(p["containers"]) for nd in manifest["nodes"][:n] for p in nd["pods"])
    got = c["per_measurement"].get("kubernetes_pod_container", {}).get("lines", 0)
    if got != want:
        sys.exit(f"telegraf emitted {got} kubernetes_pod_container lines for {want} containers")
    c["bytes_per_node"] = os.path.getsize(out) / n
    log(f"telegraf --once at N={n}: {c['lines_per_node']:.1f} lines, "
        f"{c['fields_per_node']:.1f} fields, {c['bytes_per_node']:.0f} bytes per node; "
        f"every node and container present")
    return c


def window_bounds(t_start, warmup, cycles, phase):
    """(start, end) of a window of whole cycles after warmup cycles: ticks on the grid."""
    first = (int(t_start) // RES + 1) * RES
    begin = first + warmup * RES - RES + phase
    return begin, begin + cycles * RES


def sleep_until(t, proc, what, logdir):
    while True:
        left = t - time.time()
        if proc.poll() is not None:
            sys.exit(f"{what} exited (see {logdir})")
        if left <= 0:
            return
        time.sleep(min(left, 1.0))


def kp_counts(port):
    m = scrape_metrics(port, timeout=60)
    return {"points": m.get("kubepulse_points_produced_total", 0),
            "scraped": m.get("kubepulse_nodes_scraped_total", 0),
            "failed": m.get("kubepulse_nodes_failed_total#sum", 0),
            "cycles": m.get("kubepulse_scrape_cycles_total", 0)}


def run_one(args, nargs, env, logdir, token, control, sim_pid, manifest, who, rnd):
    procs = Procs()
    n = nargs.nodes
    tg_log, tg_log_off, port = None, 0, None
    try:
        if who == "kubepulse":
            port = free_port()
            p = start_kubepulse(nargs, env, procs, logdir, token, port)
        else:
            cfg = os.path.join(logdir, f"telegraf-{n}.conf")
            with open(cfg, "w", encoding="utf-8") as f:
                f.write(telegraf_config(args, n, manifest, token, env["KP_CA_CERT"],
                                        "/dev/null"))
            tg_log = os.path.join(logdir, "telegraf.log")
            tg_log_off = os.path.getsize(tg_log) if os.path.exists(tg_log) else 0
            p = procs.start("telegraf", [args.telegraf, "--config", cfg, *TELEGRAF_FLAGS],
                            logdir,
                            nofile=args.nofile)
        t_started = time.time()
        begin, end = window_bounds(t_started, args.warmup, args.cycles, args.phase)
        sleep_until(begin, p, who, logdir)
        s0, c0, sc0, t0 = sim_stats(control), proc_cpu(p.pid), proc_cpu(sim_pid), time.time()
        k0 = kp_counts(port) if port else None
        hwm0, rss0 = proc_mem(p.pid)
        loads = []
        while time.time() < end - 0.5:
            sleep_until(min(end, time.time() + RES), p, who, logdir)
            loads.append(float(loadavg().split()[0]))
        s1, c1, sc1, t1 = sim_stats(control), proc_cpu(p.pid), proc_cpu(sim_pid), time.time()
        k1 = kp_counts(port) if port else None
        hwm, rss = proc_mem(p.pid)
    finally:
        procs.stop_all()
    d = {k: s1.get(k, 0) - s0.get(k, 0) for k in PATHS + ("requests", "bytes")}
    minutes = (t1 - t0) / 60
    scrapes = d["summaryRequests"]
    r = {"collector": who, "round": rnd, "nodes": n, "seconds": t1 - t0, "cycles": args.cycles,
         "cpu_s": c1 - c0, "node_scrapes": scrapes,
         "cpu_ms_per_node_scrape": (c1 - c0) / max(1, scrapes) * 1000,
         "millicores_per_node": (c1 - c0) / (t1 - t0) / n * 1000,
         "hwm_kib": hwm, "rss_kib": rss, "hwm_kib_per_node": hwm / n,
         "window_start_hwm_kib": hwm0, "window_start_rss_kib": rss0,
         "seconds_since_start": t1 - t_started,
         "kubelet_requests": d,
         "kubelet_requests_per_min": {k: v / minutes for k, v in d.items() if k in PATHS and v},
         "kubelet_bytes_per_node_scrape": d["bytes"] / max(1, scrapes),
         "sim_cpu_s": sc1 - sc0, "load1": loads, "load1_avg": sum(loads) / max(1, len(loads))}
    if k1:
        dk = {k: k1[k] - k0[k] for k in k1}
        r["kubepulse"] = dk
        r["values_per_node_scrape"] = dk["points"] / max(1, dk["scraped"])
        if dk["failed"]:
            log(f"kubepulse: {dk['failed']:.0f} failed node scrapes in the window")
    if tg_log:
        r["telegraf_log_problems"] = telegraf_problems(tg_log, tg_log_off)
        if r["telegraf_log_problems"]:
            log(f"telegraf logged {len(r['telegraf_log_problems'])} E!/W! lines, first: "
                f"{r['telegraf_log_problems'][0]}")
    if scrapes != args.cycles * n or d["podsRequests"] not in (0, scrapes):
        log(f"{who}: {scrapes} summary and {d['podsRequests']} /pods requests in "
            f"{args.cycles} cycles of {n} nodes")
    print(f"{who} N={n} round {rnd}: {r['cpu_s']:.2f} CPU-s for {scrapes} node-scrapes = "
          f"{r['cpu_ms_per_node_scrape']:.3f} ms each; peak RSS {hwm} KiB "
          f"({r['hwm_kib_per_node']:.1f} KiB/node), RSS {rss0} -> {rss} KiB over the window; "
          f"kubelet requests/min "
          f"{json.dumps({k: round(v, 1) for k, v in r['kubelet_requests_per_min'].items()})}; "
          f"simulator {r['sim_cpu_s']:.2f} CPU-s; load1 avg {r['load1_avg']:.2f}", flush=True)
    return r


def compare(n, runs, counted):
    """Means over the rounds and the ratios Telegraf / kubepulse."""
    def mean(who, key):
        v = [r[key] for r in runs if r["collector"] == who and r["nodes"] == n]
        return sum(v) / len(v) if v else float("nan")

    def peak(who):
        return max((r["hwm_kib"] for r in runs if r["collector"] == who and r["nodes"] == n),
                   default=float("nan"))

    def rpm(who):
        out = {}
        rs = [r for r in runs if r["collector"] == who and r["nodes"] == n]
        for r in rs:
            for k, v in r["kubelet_requests_per_min"].items():
                out[k] = out.get(k, 0) + v / len(rs)
        return out

    c = {"nodes": n}
    for who in ("kubepulse", "telegraf"):
        c[who] = {"cpu_ms_per_node_scrape": mean(who, "cpu_ms_per_node_scrape"),
                  "cpu_ms_per_node_scrape_each": [r["cpu_ms_per_node_scrape"] for r in runs
                                                  if r["collector"] == who and r["nodes"] == n],
                  "hwm_kib": peak(who), "hwm_kib_per_node": peak(who) / n,
                  "kubelet_requests_per_min": rpm(who), "load1_avg": mean(who, "load1_avg")}
    c["kubepulse"]["values_per_node_scrape"] = mean("kubepulse", "values_per_node_scrape")
    c["telegraf"]["values_per_node_scrape"] = counted["fields_per_node"]
    kp, tg = c["kubepulse"], c["telegraf"]
    c["cpu_ratio"] = tg["cpu_ms_per_node_scrape"] / kp["cpu_ms_per_node_scrape"]
    c["rss_ratio"] = tg["hwm_kib"] / kp["hwm_kib"]
    c["cpu_ratio_per_value"] = ((tg["cpu_ms_per_node_scrape"] / tg["values_per_node_scrape"]) /
                                (kp["cpu_ms_per_node_scrape"] / kp["values_per_node_scrape"]))
    return c


def print_table(comparisons):
    print("\n|   N | CPU ms/node-scrape kubepulse | Telegraf | ratio | peak RSS kubepulse | "
          "Telegraf | KiB/node kp / tg | ratio | values/node-scrape kp / tg | "
          "kubelet req/min kp | tg | load1 kp / tg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in comparisons:
        kp, tg = c["kubepulse"], c["telegraf"]

        def rq(d):
            return ", ".join(f"{k.replace('Requests', '')} {v:.0f}" for k, v in sorted(d.items()))

        print(f"| {c['nodes']} | {kp['cpu_ms_per_node_scrape']:.3f} | "
              f"{tg['cpu_ms_per_node_scrape']:.3f} | {c['cpu_ratio']:.1f}x | "
              f"{kp['hwm_kib'] / 1024:.1f} MiB | {tg['hwm_kib'] / 1024:.1f} MiB | "
              f"{kp['hwm_kib_per_node']:.0f} / {tg['hwm_kib_per_node']:.0f} | "
              f"{c['rss_ratio']:.1f}x | {kp['values_per_node_scrape']:.0f} / "
              f"{tg['values_per_node_scrape']:.0f} | {rq(kp['kubelet_requests_per_min'])} | "
              f"{rq(tg['kubelet_requests_per_min'])} | {kp['load1_avg']:.1f} / "
              f"{tg['load1_avg']:.1f} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", default="100,500", help="comma-separated N (default 100,500)")
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2, help="A B pairs per N (default 2)")
    ap.add_argument("--cycles", type=int, default=4, help="measured cycles per run (default 4)")
    ap.add_argument("--warmup", type=int, default=2, help="cycles skipped first (default 2)")
    ap.add_argument("--phase", type=float, default=7.5,
                    help="seconds after a grid tick where windows start and end (default 7.5)")
    add_bench_args(ap, state="/tmp/kp-telegraf-bench", addr_base="127.5.0.1")
    ap.add_argument("--no-register", action="store_true",
                    help="the env's Nodes and Pods are those of N already (an earlier run)")
    ap.add_argument("--telegraf", help="binary (default: bench/telegraf/build.sh)")
    args = ap.parse_args()
    ns = sorted(int(x) for x in args.nodes.split(","))
    if not args.telegraf:
        args.telegraf = subprocess.run([os.path.join(ROOT, "bench/telegraf/build.sh")],
                                       check=True, capture_output=True,
                                       text=True).stdout.strip()
    version = subprocess.run([args.telegraf, "--version"], capture_output=True,
                             text=True).stdout.strip()
    runs, comparisons, counted = [], [], {}
    out = {"argv": sys.argv, "commit": commit(), "telegraf": version, "pods": args.pods,
           "cycles": args.cycles, "warmup": args.warmup, "runs": runs,
           "comparisons": comparisons, "telegraf_counted": counted,
           "loadavg_start": loadavg()}

    def save():
        if args.json:  # after each run: a later failure keeps what was measured
            save_json(args.json, out)
    # --env N=ENV,N=ENV: running servers of each N's own
    envs = {}
    if args.env and "=" in args.env:
        envs = {int(k): read_env(v) for k, v in (x.split("=", 1) for x in args.env.split(","))}
        if set(ns) - set(envs):
            sys.exit(f"--env names no servers for N = {sorted(set(ns) - set(envs))}")
        args.env = os.path.join(envs[ns[0]]["KP_STATE_DIR"], "env")
    servers = BenchServers(args.env, args.state)
    env = servers.env
    try:
        print(f"# kubepulse {out['commit']} against {version}, P={args.pods}, {RES} s, "
              f"{args.rounds} rounds A/B of {args.cycles} cycles after {args.warmup}; "
              f"loadavg at start {loadavg()}", flush=True)
        for n in ns:
            env = envs.get(n, env)
            nargs = argparse.Namespace(
                nodes=n, pods=args.pods, addr_base=args.addr_base, nofile=args.nofile,
                pods_max_nodes=1000, kubepulse=args.kubepulse, influx=False, no_encode=False,
                resolution=RES, kubelet_ca=None, concurrency=None, kp_arg=args.kp_arg)
            logdir = os.path.join(env["KP_STATE_DIR"], "bench",
                                  f"telegraf-{n}x{args.pods}-{time.strftime('%H%M%S')}")
            os.makedirs(logdir, exist_ok=True)
            sim_procs = Procs()
            try:
                sim_pid, control, token = start_sim(nargs, env, sim_procs, logdir)
                if args.no_register:
                    with urllib.request.urlopen(f"http://{control}/manifest?offset=0&limit={n}",
                                                timeout=600) as r:
                        manifest = json.load(r)
                else:
                    register(nargs, env, control, logdir)
                    with open(os.path.join(logdir, "manifest.json"), encoding="utf-8") as f:
                        manifest = json.load(f)
                counted[str(n)] = count_telegraf(args, n, manifest, token, env["KP_CA_CERT"],
                                                 logdir)
                for rnd in range(1, args.rounds + 1):
                    for who in ("kubepulse", "telegraf"):
                        runs.append(run_one(args, nargs, env, logdir, token, control, sim_pid,
                                            manifest, who, rnd))
                        save()
            finally:
                sim_procs.stop_all()
            comparisons.append(compare(n, runs, counted[str(n)]))
            out["loadavg_end"] = loadavg()
            save()
            print_table(comparisons)
    finally:
        servers.stop()


if __name__ == "__main__":
    main()
