#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""metrics_server.py - metrics-server (built by bench/metrics-server/build.sh) scraping the
same simulated cluster as bench/run.py, for the side-by-side table in docs/benchmarks.md.

    bench/metrics_server.py --env STATE_DIR/env --nodes N --sim-token FILE \
        [--kubelet-ca FILE] [--intervals 6] [--json FILE]

The cluster must already hold the N simulated Nodes (bench/run.py registers them). Runs
metrics-server at --metric-resolution=15s against the simulator's /metrics/resource with the
admin kubeconfig plus the simulator's bearer token (metrics-server sends the kubeconfig's
credentials to kubelets), waits --warmup s, then samples its CPU (/proc/PID/stat) and RSS
every 15 s, and reads its own /metrics for kubelet scrape counts. Stops it by pid.
"""

import argparse
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import (ROOT, free_port, loadavg, proc_cpu, proc_mem, read_env,  # noqa: E402
                 save_json)


def kubeconfig_with_token(env, token_file, path):
    """The admin kubeconfig with the simulator's token added to its user."""
    with open(token_file, encoding="ascii") as f:
        token = f.read().strip()
    with open(env["KP_KUBECONFIG"], encoding="utf-8") as f:
        text = f.read()
    # Add "token:" next to the user's client-certificate entry (same indentation).
    text = re.sub(r"^(\s+)(client-certificate(?:-data)?:)", rf"\1token: {token}\n\1\2",
                  text, count=1, flags=re.M)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def ms_metrics(port, env):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(env["KP_ADMIN_CERT"], env["KP_ADMIN_KEY"])
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics", context=ctx,
                                timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("metrics_server_"):
            name_labels, _, v = line.rpartition(" ")
            out[name_labels] = float(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", required=True)
    ap.add_argument("--nodes", type=int, required=True, help="N, for per-node figures")
    ap.add_argument("--sim-token", required=True)
    ap.add_argument("--kubelet-ca")
    ap.add_argument("--warmup", type=float, default=35)
    ap.add_argument("--intervals", type=int, default=6)
    ap.add_argument("--binary")
    ap.add_argument("--json")
    args = ap.parse_args()
    env = read_env(args.env)
    binary = args.binary or subprocess.run(
        [os.path.join(ROOT, "bench/metrics-server/build.sh")], check=True,
        capture_output=True, text=True).stdout.strip()
    d = os.path.join(env["KP_STATE_DIR"], "bench", f"metrics-server-{time.strftime('%H%M%S')}")
    os.makedirs(d, exist_ok=True)
    kc = os.path.join(d, "kubeconfig")
    kubeconfig_with_token(env, args.sim_token, kc)
    port = free_port()
    argv = [binary, "--kubeconfig", kc, "--authentication-kubeconfig", env["KP_KUBECONFIG"],
            "--authorization-kubeconfig", env["KP_KUBECONFIG"], "--secure-port", str(port),
            "--bind-address", "127.0.0.1", "--cert-dir", d, "--metric-resolution", "15s",
            "--kubelet-certificate-authority", args.kubelet_ca or env["KP_CA_CERT"],
            "--kubelet-preferred-address-types", "InternalIP", "--kubelet-use-node-status-port"]
    print(f"# metrics-server N={args.nodes}: {' '.join(argv)}", flush=True)
    print(f"# loadavg at start: {loadavg()}", flush=True)
    log = open(os.path.join(d, "metrics-server.log"), "wb")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    rows = []
    try:
        time.sleep(args.warmup)
        if p.poll() is not None:
            sys.exit(f"metrics-server exited; see {d}/metrics-server.log")
        last = (time.time(), proc_cpu(p.pid))
        for i in range(args.intervals):
            time.sleep(15)
            now = (time.time(), proc_cpu(p.pid))
            hwm, rss = proc_mem(p.pid)
            cpu = now[1] - last[1]
            row = {"interval": i, "cpu_s": cpu, "seconds": now[0] - last[0], "hwm_kib": hwm,
                   "rss_kib": rss, "load1": float(loadavg().split()[0])}
            row["mcore_per_node"] = cpu / row["seconds"] / args.nodes * 1000
            rows.append(row)
            print(f"{i:3d} cpu {cpu:6.2f}s  {row['mcore_per_node']:.4f} mcore/node  peak RSS "
                  f"{hwm} KiB ({hwm / args.nodes:.1f} KiB/node)  RSS {rss} KiB  load1 "
                  f"{row['load1']:.2f}", flush=True)
            last = now
        try:
            m = ms_metrics(port, env)
        except OSError as e:
            m = {"error": str(e)}
        for k in sorted(m):
            if "kubelet_request_total" in k or "storage_points" in k or "error" in k or \
                    "tick_duration_seconds_count" in k or "duration_seconds_sum" in k:
                print(f"# {k} {m[k]}")
    finally:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
    if rows:
        s = {"nodes": args.nodes, "cpu_s_avg": sum(r["cpu_s"] for r in rows) / len(rows),
             "mcore_per_node": sum(r["mcore_per_node"] for r in rows) / len(rows),
             "hwm_kib": max(r["hwm_kib"] for r in rows), "rss_first_kib": rows[0]["rss_kib"],
             "rss_last_kib": rows[-1]["rss_kib"],
             "load1_avg": sum(r["load1"] for r in rows) / len(rows)}
        s["hwm_kib_per_node"] = s["hwm_kib"] / args.nodes
        print(f"# summary: {json.dumps(s)}")
        if args.json:
            save_json(args.json, {"summary": s, "rows": rows, "argv": argv})


if __name__ == "__main__":
    main()
