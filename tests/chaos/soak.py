#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""soak.py - the on-demand soak run behind scripts/soak.sh (see docs/hardening.md).

Against a running tests/infra cluster (--env STATE_DIR/env): the kubelet simulator with
--nodes nodes, --replicas kubepulse replicas on the default election durations, and for
--duration seconds a schedule of faults scaled to the run:

- every --kill-every s: SIGKILL the leader, start a replacement (a new identity);
- at 30 % and 70 %: the API server crashes (SIGKILL) and is started again;
- at 50 %: InfluxDB stops for --influx-outage s;
- at 15 % and 60 %: kubelet faults on a tenth of the nodes (hang, 500, truncated,
  malformed, refused, slow) for two minutes (or a tenth of the run), then cleared.

Every --sample s it writes one CSV row per live replica (RSS, open fds, leading, sink
counters) to --csv, and at the end prints a summary: RSS and fd growth after the warm-up,
metric-resolution intervals present in InfluxDB versus missing (each missing one matched
to the fault window it fell in, or to the sample times a sink said it dropped for a full
buffer), and the sink's drop counters by reason.
Exit status 1 when a replica crashed, reported a sanitizer error, or an interval is missing
outside every fault window and every counted drop.
"""

import argparse
import csv
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from chaoslib import World, sink_stats  # noqa: E402
from kpharness import Cluster, ProcessGroup  # noqa: E402
from kpreplicas import http, log  # noqa: E402

FAULTS = ["kind=hang&stage=http", "kind=status500", "kind=truncated", "kind=malformed",
          "kind=refused", "kind=slow&rate=200"]


def proc_sample(pid):
    rss = 0
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    return rss, fds


class Sampler(threading.Thread):
    def __init__(self, world, path, every):
        super().__init__(daemon=True)
        self.world, self.every, self.stop_evt = world, every, threading.Event()
        self.f = open(path, "w", newline="")
        self.w = csv.writer(self.f)
        self.w.writerow(["wall", "elapsed_s", "identity", "pid", "leading", "rss_kb", "fds",
                         "handed", "written", "buffered", "dropped"])
        self.t0 = time.time()
        self.rows = []
        self.last = {}  # identity -> its last sink_stats

    def run(self):
        while not self.stop_evt.is_set():
            now = time.time()
            for r in self.world.live():
                ps = proc_sample(r.proc.pid)
                if ps is None:
                    continue
                try:
                    st = sink_stats(r)
                    self.last[r.identity] = st
                    lead = int(r.leading())
                except (OSError, AssertionError, ValueError):
                    st, lead = {"handed": "", "written": "", "buffered": "", "dropped": ""}, ""
                row = [f"{now:.3f}", f"{now - self.t0:.1f}", r.identity, r.proc.pid, lead,
                       ps[0], ps[1], st["handed"], st["written"], st["buffered"], st["dropped"]]
                self.w.writerow(row)
                self.rows.append(row)
            self.f.flush()
            self.stop_evt.wait(self.every)
        self.f.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", required=True)
    ap.add_argument("--duration", type=float, default=3600)
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--pods", type=int, default=10)
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--resolution", type=float, default=15)
    ap.add_argument("--durations", default="15,10,2", help="lease,renew,retry seconds")
    ap.add_argument("--kill-every", type=float, default=300)
    ap.add_argument("--influx-outage", type=float, default=30)
    ap.add_argument("--sample", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=None, help="default: 10%% of the run")
    ap.add_argument("--csv", default="soak.csv")
    ap.add_argument("--kp-arg", action="append", default=[], metavar="FLAG",
                    help="an extra kubepulse flag for every replica, e.g. "
                         "--kp-arg=--sink-concurrency=4 (repeatable)")
    a = ap.parse_args()

    cluster = Cluster(a.env)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    procs = ProcessGroup(cluster.state_dir / "procs" / f"soak-{stamp}")
    tmp = Path(tempfile.mkdtemp(prefix="kubepulse-soak-"))
    ns = cluster.create_namespace("soak")
    ld, rd, rp = (float(x) for x in a.durations.split(","))
    world = World(cluster, procs, ns, tmp, res=a.resolution, durations=(ld, rd, rp),
                  extra_args=a.kp_arg)
    windows = []  # (start, end, reason): where missing intervals are expected
    failed = []
    sampler = None
    try:
        t = time.time()
        world.start_sim(nodes=a.nodes, pods=a.pods)
        log(f"soak: {a.nodes} nodes x {a.pods} pods registered in {time.time() - t:.0f}s; "
            f"logs in {procs.log_dir}")
        for i in range(a.replicas):
            world.start("r")
        world.leader(timeout=ld + 4 * rp + 30)
        sampler = Sampler(world, a.csv, a.sample)
        sampler.start()
        t0 = time.time()
        fault_len = min(120.0, a.duration / 10)
        plan = [(k * a.kill_every, "kill-leader") for k in
                range(1, int(a.duration // a.kill_every) + 1) if k * a.kill_every < a.duration]
        plan += [(0.3 * a.duration, "apiserver"), (0.7 * a.duration, "apiserver"),
                 (0.5 * a.duration, "influx"), (0.15 * a.duration, "kubelet-faults"),
                 (0.6 * a.duration, "kubelet-faults")]
        plan.sort()
        clear_at = []
        for at, what in plan + [(a.duration, "end")]:
            while time.time() < t0 + at:
                for c in [c for c in clear_at if time.time() >= c]:
                    http("DELETE", f"http://{world.sim_control}/fault?node=all")
                    log(f"soak {time.time() - t0:6.0f}s: kubelet faults cleared")
                    clear_at.remove(c)
                time.sleep(0.5)
                bad = [r.identity for r in world.replicas if not r.alive() and
                       not r.killed_at and not r.signalled_term]
                if bad:
                    raise RuntimeError(f"replicas died: {bad}")
            now = time.time()
            if what == "end":
                break
            log(f"soak {now - t0:6.0f}s: {what}")
            if what == "kill-leader":
                leader = world.leader(timeout=ld + 4 * rp + 20)
                leader.signal(signal.SIGKILL)
                leader.proc.wait(10)
                world.start("r")
                new = world.leader(timeout=ld + 4 * rp + 20, exclude=leader)
                windows.append((now, time.time(), "leader SIGKILL"))
                log(f"soak: {leader.identity} killed, {new.identity} leads after "
                    f"{time.time() - now:.1f}s")
            elif what == "apiserver":
                cluster.control("apiserver", "kill")
                time.sleep(2)
                cluster.control("apiserver", "start")
                windows.append((now, time.time() + ld + 2 * rp, "API server crash"))
            elif what == "influx":
                cluster.control("influx", "stop")
                time.sleep(a.influx_outage)
                cluster.control("influx", "start")
                windows.append((now, time.time(), "InfluxDB outage (buffered)"))
            elif what == "kubelet-faults":
                step = max(1, a.nodes // 10)
                for k, node in enumerate(range(0, a.nodes, step)):
                    http("POST", f"http://{world.sim_control}/fault?node={node}&"
                                 f"{FAULTS[k % len(FAULTS)]}")
                clear_at.append(time.time() + fault_len)
                windows.append((now, now + fault_len + a.resolution,
                                "kubelet faults (a tenth of the nodes)"))
        t_end = time.time()
        time.sleep(a.resolution)  # the last cycle lands
    except Exception as err:  # noqa: BLE001 - report, clean up, exit 1
        log(f"soak: FAILED: {err!r}")
        failed.append(repr(err))
        t0 = t0 if "t0" in locals() else time.time()
        t_end = time.time()
    finally:
        if sampler:
            sampler.stop_evt.set()
            sampler.join(a.sample + 5)
        for r in world.live():
            r.signalled_term = True
        procs.stop_all()
        world.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)  # kubeconfigs and the token

    failed += summarize(world, sampler, a, t0, t_end, windows)
    print(f"soak: {'FAILED: ' + '; '.join(failed) if failed else 'OK'}")
    print(f"soak: CSV {a.csv}; logs {procs.log_dir}")
    return 1 if failed else 0


def summarize(world, sampler, a, t0, t_end, windows):
    failed = []
    warm = a.warmup if a.warmup is not None else 0.1 * a.duration
    print(f"\n=== soak summary: {t_end - t0:.0f}s, {a.nodes} nodes x {a.pods} pods, "
          f"{len(world.replicas)} replicas over the run ===")
    by_id = {}
    for row in (sampler.rows if sampler else []):
        by_id.setdefault(row[2], []).append((float(row[1]), int(row[5]), int(row[6]),
                                             row[4] == 1))
    # A replica's memory depends on its role (a leader holds caches, rates and buffers), so
    # growth is also given over its leading samples only, after the warm-up.
    print(f"{'replica':10} {'lived_s':>8} {'rss0_MiB':>9} {'rss1_MiB':>9} {'rssmax':>7} "
          f"{'fd0':>4} {'fd1':>4} {'fdmax':>5}  {'leading_s':>9} {'lead_rss0':>9} "
          f"{'lead_rss1':>9}")
    for ident, rows in by_id.items():
        after = [r for r in rows if r[0] >= warm] or rows
        first, last = after[0], after[-1]
        lead = [r for r in after if r[3]]
        lead_cols = (f"{lead[-1][0] - lead[0][0]:9.0f} {lead[0][1] / 1024:9.1f} "
                     f"{lead[-1][1] / 1024:9.1f}" if lead else f"{'-':>9} {'-':>9} {'-':>9}")
        print(f"{ident:10} {rows[-1][0] - rows[0][0]:8.0f} {first[1] / 1024:9.1f} "
              f"{last[1] / 1024:9.1f} {max(r[1] for r in after) / 1024:7.1f} {first[2]:4d} "
              f"{last[2]:4d} {max(r[2] for r in after):5d}  {lead_cols}")
    # Intervals: the cluster-wide point is written once per interval by whoever leads.
    try:
        rows = world.cluster.influx_rows(
            f"SELECT value FROM \"memory/usage\" WHERE type = 'cluster' AND "
            f"time >= {int(t0 * 1e9)} AND time < {int(t_end * 1e9)}", world.db, epoch="ns",
            timeout=120)
    except Exception as err:  # noqa: BLE001
        rows = []
        failed.append(f"InfluxDB query failed: {err}")
    have = {math.floor(r["time"] / 1e9 / a.resolution + 1e-6) for r in rows}
    first_k = math.ceil(t0 / a.resolution) + 1
    last_k = math.floor(t_end / a.resolution) - 1
    expected = set(range(first_k, last_k + 1))
    missing = sorted(expected - have)
    # Points the sink dropped for a full buffer are counted, and the sink says which sample
    # times they had when its writes succeed again: an interval inside such a range was
    # collected and counted as dropped, not lost.
    overflows = [(int(ev["first_sample_ns"]) / 1e9, int(ev["last_sample_ns"]) / 1e9)
                 for r in world.replicas for ev in r.events()
                 if ev["msg"].startswith("sink buffer drained after an overflow")
                 and int(ev.get("last_sample_ns", 0)) > 0]
    reasons = {}
    for k in missing:
        t = k * a.resolution
        why = next((w for s, e, w in windows if s - a.resolution <= t <= e + a.resolution),
                   None)
        if why is None and any(lo < t + a.resolution and t <= hi for lo, hi in overflows):
            why = "dropped: buffer_full (counted)"
        why = why or "UNEXPLAINED"
        reasons[why] = reasons.get(why, 0) + 1
    print(f"intervals: {len(expected)} expected, {len(expected & have)} written, "
          f"{len(missing)} missing: {reasons or '-'}")
    if reasons.get("UNEXPLAINED"):
        failed.append(f"{reasons['UNEXPLAINED']} intervals missing outside fault windows")
    drops, totals, full_lines = {}, {"handed": 0, "written": 0, "buffered": 0}, 0
    for r in world.replicas:
        # Final counters of each replica: its last sample (the process is gone now).
        st = sampler.last.get(r.identity) if sampler else None
        if st:
            for k in totals:
                totals[k] += st[k]
            for reason, n in st["dropped_by_reason"].items():
                if n:
                    drops[reason] = drops.get(reason, 0) + n
        full_lines += sum(1 for ev in r.events() if ev["msg"].startswith("sink buffer full"))
    print(f"points (last samples, summed over replicas): handed {totals['handed']:.0f}, "
          f"written {totals['written']:.0f}, buffered at last sample {totals['buffered']:.0f}; "
          f"dropped by reason {drops or 'none'}; 'sink buffer full' log lines {full_lines}")
    crashed = [r.identity for r in world.replicas
               if r.proc.popen.returncode not in (0, -9) and not r.killed_at]
    if crashed:
        failed.append(f"replicas exited badly: {crashed}")
    san = {r.identity: r.sanitizer_reports()[:3] for r in world.replicas}
    san = {k: v for k, v in san.items() if v}
    if san:
        failed.append(f"sanitizer reports: {san}")
    print(f"fault windows: " + "; ".join(f"{w} {s - t0:.0f}-{e - t0:.0f}s"
                                         for s, e, w in windows))
    return failed


if __name__ == "__main__":
    sys.exit(main())
