#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""scope.py - what the scope flags save in InfluxDB: the series count and influxd's CPU for
the same simulated cluster, scraped by one kubepulse replica without and with them.

    tests/infra/up.sh /tmp/kp
    KP_INFRA_ENV=/tmp/kp/env bench/scope.py [--nodes 50] [--pods 30] [--res 5] [--cycles 6]

One simulator (tests/sim, registered in the API server) serves every run. Each run (a mode
below) gets a fresh database and one replica (tests/integration/kpreplicas.World, the chart's
RBAC); once its first cycle is stored, influxd's CPU time (utime + stime of its pid, from
/proc) is read, then again after --cycles more cycles with everything acknowledged. Printed
per mode: SHOW SERIES EXACT CARDINALITY, points per cycle, influxd CPU-seconds per cycle.
Everything it starts is stopped by pid; the simulated nodes are removed at the end.
"""

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
from kpharness import Cluster, ProcessGroup, wait_for  # noqa: E402
from kpreplicas import World  # noqa: E402

# Operators' usual cuts: the cumulative counters next to their rates, error and page-fault
# counters, inode counts; then the pods of two of the five namespaces (e.g. system ones).
DENY = ("cpu/usage,network/rx,network/tx,network/*_errors*,memory/*page_faults*,"
        "filesystem/inodes*,uptime")
MODES = [
    ("everything", []),
    ("metric-deny", [f"--metric-deny={DENY}"]),
    ("metric-deny + namespace-exclude", [f"--metric-deny={DENY}",
                                         "--namespace-exclude=ns-0,ns-1"]),
    ("node-selector (1 zone of 3)", ["--node-selector=topology.kubernetes.io/zone=zone-a"]),
]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cardinality(cluster, db: str) -> int:
    rows = cluster.influx_rows(f'SHOW SERIES EXACT CARDINALITY ON "{db}"', timeout=120)
    return int(sum(r.get("count", 0) for r in rows))


def measure(world: World, name: str, extra: list[str], cycles: int, influx_pid: int) -> dict:
    db = f"{world.db}_{len(world.replicas)}"
    r = world.start(name.split()[0], sink=f"influxdb:{world.cluster.influx_url}?db={db}",
                    extra=extra)
    assert world.leader(timeout=60) is r

    def settled(n):
        st = r.status()
        s = st["sinks"][0]
        return st if st["collector"]["cycles"] >= n and s["pointsBuffered"] == 0 and \
            s["pointsWritten"] > 0 else None
    timeout = 4 * world.res * (cycles + 2) + 60
    st0 = wait_for(lambda: settled(1), timeout=timeout, interval=0.2, what="first cycle")
    c0, cpu0, t0 = st0["collector"]["cycles"], cpu_seconds(influx_pid), time.time()
    st1 = wait_for(lambda: settled(c0 + cycles), timeout=timeout, interval=0.2,
                   what=f"{cycles} more cycles")
    cpu1, t1 = cpu_seconds(influx_pid), time.time()
    n = st1["collector"]["cycles"] - c0
    points = st1["sinks"][0]["pointsWritten"] - st0["sinks"][0]["pointsWritten"]
    r.signal(signal.SIGTERM)
    wait_for(lambda: not r.alive(), timeout=30, what="replica exits")
    return {"mode": name, "series": cardinality(world.cluster, db), "cycles": n,
            "points_per_cycle": points / n, "influx_cpu_per_cycle": (cpu1 - cpu0) / n,
            "influx_cpu_per_s": (cpu1 - cpu0) / (t1 - t0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--res", type=float, default=5.0, help="--metric-resolution, seconds")
    ap.add_argument("--cycles", type=int, default=6)
    args = ap.parse_args()
    env = os.environ.get("KP_INFRA_ENV")
    if not env:
        sys.exit("KP_INFRA_ENV=STATE_DIR/env is needed (tests/infra/up.sh STATE_DIR)")
    cluster = Cluster(env)
    influx_pid = int(cluster.env["KP_INFLUX_PID"])
    tmp = Path(tempfile.mkdtemp(prefix="kp-bench-scope-"))
    procs = ProcessGroup(tmp / "procs")
    ns = cluster.create_namespace("bench-scope")
    world = World(cluster, procs, ns, tmp, res=args.res)
    rows = []
    try:
        world.start_sim(nodes=args.nodes, pods=args.pods)
        for name, extra in MODES:
            rows.append(measure(world, name, extra, args.cycles, influx_pid))
            print(rows[-1], file=sys.stderr, flush=True)
    finally:
        world.cleanup()
        procs.stop_all()
    print(f"{args.nodes} nodes x {args.pods} pods, --metric-resolution={args.res:g}s, "
          f"{args.cycles} cycles per mode, load1 {os.getloadavg()[0]:.1f}")
    print("| mode | series | points per cycle | InfluxDB CPU-s per cycle |")
    print("|---|---|---|---|")
    base = rows[0]
    for r in rows:
        print(f"| {r['mode']} | {r['series']:,} ({r['series'] / base['series']:.0%}) | "
              f"{r['points_per_cycle']:,.0f} | {r['influx_cpu_per_cycle']:.3f} "
              f"({r['influx_cpu_per_cycle'] / base['influx_cpu_per_cycle']:.0%}) |")


if __name__ == "__main__":
    main()
