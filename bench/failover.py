#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""failover.py - leader failover time of kubepulse next to client-go's elector (goelector).

    bench/failover.py --env STATE_DIR/env --impl kubepulse|goelector --signal TERM|KILL \
        [--runs 50] [--sim-token FILE] [--json FILE]

Two replicas share one Lease (15 s / 10 s / 2 s, as client-go's defaults). Each run waits
until one leads and the other has seen it, sends the leader SIGTERM or SIGKILL, and takes
from the replicas' own logs (wall-clock timestamps, same machine):
  acquire - the signal to the follower's "became leader" (goelector: started_leading);
  write   - the signal to the new leader's first batch handed to the null sink (kubepulse).
The stopped replica is then started again (new identity) as the next run's follower.
--signal-at ready (default) signals as soon as the follower is ready; --signal-at in-cycle
waits for the next 15 s tick and signals OFFSET s after it, inside the scrape cycle it
starts (kubepulse then drains that cycle, at most 0.4 s, before it releases): the worst case.
Prints p50/p99/max. Everything it starts is stopped by pid.
"""

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ROOT, free_port, loadavg, read_env, save_json  # noqa: E402


RESOLUTION = 15.0  # --metric-resolution of the kubepulse replicas


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class Replica:
    def __init__(self, args, env, ident, logdir):
        self.ident = ident
        self.log = os.path.join(logdir, f"{ident}.log")
        self.port = None
        out = open(self.log, "wb")
        if args.impl == "kubepulse":
            self.port = free_port()
            kp = args.kubepulse or os.path.join(ROOT, "build-bench/src/kubepulse")
            argv = [kp, "--kubeconfig", env["KP_KUBECONFIG"], "--identity", ident,
                    "--lease-name", args.lease, "--lease-namespace", "default",
                    "--metric-resolution", f"{RESOLUTION:.0f}s", "--kubelet-certificate-authority",
                    args.kubelet_ca or env["KP_CA_CERT"],
                    "--kubelet-preferred-address-types", "InternalIP",
                    "--sink", "null", "--listen", f"127.0.0.1:{self.port}",
                    "--log-format", "json"]
            if args.sim_token:
                argv += ["--kubelet-token-file", args.sim_token]
        else:
            argv = [args.goelector, "-id", ident, "-lease-lock-name", args.lease,
                    "-lease-lock-namespace", "default", "-kubeconfig", env["KP_KUBECONFIG"]]
        self.p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def text(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def status(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=2) as r:
            return json.load(r)

    def leading(self):
        if self.port:
            try:
                return self.status().get("leading") is True
            except OSError:
                return False
        return self.event_ts("started_leading") is not None and \
            self.event_ts("stopped_leading") is None

    def follower_ready(self, leader):
        """Has seen the leader (and, for kubepulse, its caches are warm)."""
        if self.port:
            try:
                st = self.status()
            except OSError:
                return False
            return st.get("holder") == leader and st.get("ready") is True
        return self.event_ts("new_leader", f"leader={leader}") is not None

    def event_ts(self, what, extra=None):
        """Wall time of the first log line for what, or None."""
        for line in self.text().splitlines():
            if self.port:
                if not line.startswith("{"):
                    continue
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                if o.get("msg") == what:
                    return float(o["ts"]) / 1000.0  # milliseconds
            elif line.startswith("ELECTOR ") and f"event={what} " in line and \
                    (extra is None or extra in line):
                return float(line.split("wall=")[1].split()[0])
        return None

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(25)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def wait(pred, timeout, step=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", required=True)
    ap.add_argument("--impl", choices=["kubepulse", "goelector"], default="kubepulse")
    ap.add_argument("--signal", choices=["TERM", "KILL"], default="TERM")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--signal-at", choices=["ready", "in-cycle"], default="ready")
    ap.add_argument("--offset", type=float, default=0.3,
                    help="with --signal-at in-cycle: seconds after the tick")
    ap.add_argument("--sim-token", help="the simulator's bearer token file")
    ap.add_argument("--kubelet-ca", help="CA of the simulator's certificates (default env's)")
    ap.add_argument("--kubepulse")
    ap.add_argument("--goelector")
    ap.add_argument("--lease", default=f"bench-failover-{os.getpid()}")
    ap.add_argument("--json")
    args = ap.parse_args()
    env = read_env(args.env)
    if args.impl == "goelector" and not args.goelector:
        args.goelector = subprocess.run([os.path.join(ROOT, "tests/infra/build-goelector.sh")],
                                        check=True, capture_output=True,
                                        text=True).stdout.strip()
    sig = signal.SIGTERM if args.signal == "TERM" else signal.SIGKILL
    logdir = os.path.join(env["KP_STATE_DIR"], "bench",
                          f"failover-{args.impl}-{args.signal}-{time.strftime('%H%M%S')}")
    os.makedirs(logdir, exist_ok=True)
    print(f"# {args.impl} SIG{args.signal} x{args.runs}, lease {args.lease}, logs {logdir}, "
          f"loadavg at start: {loadavg()}", flush=True)
    reps = [Replica(args, env, "a0", logdir), Replica(args, env, "b0", logdir)]
    acq, wr, loads = [], [], []
    try:
        for run in range(args.runs):
            leader = wait(lambda: next((r for r in reps if r.leading()), None), 60)
            if not leader:
                sys.exit("failover: no leader after 60 s")
            follower = next(r for r in reps if r is not leader)
            if not wait(lambda: follower.follower_ready(leader.ident), 60):
                sys.exit(f"failover: {follower.ident} never saw {leader.ident} lead")
            if args.signal == "KILL":
                time.sleep(0.5)  # let a renew land: the worst case is then a full lease
            if args.signal_at == "in-cycle":
                now = time.time()
                time.sleep(math.ceil(now / RESOLUTION) * RESOLUTION + args.offset - now)
            t0 = time.time()
            leader.p.send_signal(sig)
            ts = wait(lambda: follower.event_ts(
                "became leader" if follower.port else "started_leading"), 40)
            tw = wait(lambda: follower.event_ts("null sink: first batch"), 30) \
                if follower.port else None
            if ts is None:
                sys.exit(f"failover: run {run}: {follower.ident} did not take over in 40 s")
            acq.append(ts - t0)
            if tw is not None:
                wr.append(tw - t0)
            loads.append(float(loadavg().split()[0]))
            print(f"run {run:2d}: acquire {acq[-1]:.3f}s"
                  + (f" first write {wr[-1]:.3f}s" if tw is not None else "")
                  + f" load1 {loads[-1]:.2f}", flush=True)
            leader.stop()
            reps[reps.index(leader)] = Replica(args, env, f"{leader.ident[0]}{run + 1}",
                                               logdir)
    finally:
        for r in reps:
            r.stop()
    res = {"impl": args.impl, "signal": args.signal, "signal_at": args.signal_at,
           "runs": len(acq), "logdir": logdir,
           "load1_avg": sum(loads) / max(len(loads), 1)}
    for name, xs in (("acquire", acq), ("write", wr)):
        if xs:
            res[name] = {"p50": pct(xs, 50), "p99": pct(xs, 99), "max": max(xs),
                         "min": min(xs), "samples": xs}
            print(f"# {name}: p50 {res[name]['p50']:.3f}s p99 {res[name]['p99']:.3f}s "
                  f"max {res[name]['max']:.3f}s min {res[name]['min']:.3f}s (n={len(xs)})")
    print(f"# load1 avg {res['load1_avg']:.2f}")
    if args.json:
        save_json(args.json, res)


if __name__ == "__main__":
    main()
