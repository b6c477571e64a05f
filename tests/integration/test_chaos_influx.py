# SPDX-License-Identifier: Apache-2.0
"""InfluxDB outage during writes (issue "Hardening", task 3).

Two kubepulse replicas scrape the same kubelet simulator (1 node x 2 pods: ~200 points a
cycle), each leading its own Lease and writing to its own database of the shared InfluxDB:
"big" with the default buffer (256Mi), "small" with --sink-buffer-size=500points (about two
cycles: a bound below one cycle would drop in normal operation too). InfluxDB is stopped (SIGTERM, by pid) for
OUTAGE seconds while they write, then started again with the same port and data.

- big: every point arrives. At a quiet moment after the backlog drained (between two
  cycles), the points InfluxDB holds (count(value) over every measurement) equal the points
  the replica counted as written, which equal the points it handed to the sink; nothing
  dropped or still buffered. Every node has its point in every interval of the outage.
- small: the drop counter (reason buffer_full) equals the points missing from InfluxDB
  (handed - stored), and the log says "sink buffer full" once for the outage, not per point,
  and once more when writes succeed again, with the count and the dropped sample times.

Short form (CI): a 30 s outage. KP_LONG_TESTS=1: 5 minutes.
"""

import math
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))
from chaoslib import LONG, World, sink_stats  # noqa: E402
from kpharness import wait_for  # noqa: E402
from kpreplicas import KUBEPULSE, log, prom_value  # noqa: E402

pytestmark = pytest.mark.skipif(not KUBEPULSE.exists(), reason=f"{KUBEPULSE} not built")

OUTAGE = 300.0 if LONG else 30.0
RES = 2.0
NODES, PODS = 1, 2  # ~200 points a cycle: 500points holds two cycles


def quiet_sample(world, replica):
    """(stats, InfluxDB count) taken together between two cycles with nothing in flight:
    at grid + 1.2 s the cycle's batch has been written; the next starts at grid + RES."""
    for _ in range(20):
        now = time.time()
        target = math.floor(now / RES) * RES + 1.2
        if target <= now:
            target += RES
        time.sleep(target - now)
        st = sink_stats(replica)
        if st["buffered"] == 0:
            count = world.influx_count()
            st2 = sink_stats(replica)
            if st2["written"] == st["written"] and st2["handed"] == st["handed"]:
                return st, count
    raise AssertionError(f"never quiet: {sink_stats(replica)}")


def test_influx_outage_big_and_tiny_buffer(cluster, procs, namespace, tmp_path, request):
    big = World(cluster, procs, namespace, tmp_path, res=RES,
                extra_args=["--lease-name=kp-big"])
    request.addfinalizer(big.cleanup)
    small = World(cluster, procs, namespace, tmp_path, res=RES, share_sim_with=big,
                  extra_args=["--lease-name=kp-small", "--sink-buffer-size=500points"])
    big.start_sim(nodes=NODES, pods=PODS)
    rb, rs = big.start("big"), small.start("small")
    wait_for(lambda: rb.leading() and rs.leading(), timeout=30, what="both leading")
    wait_for(lambda: sink_stats(rb)["written"] > 0 and sink_stats(rs)["written"] > 0,
             timeout=20, what="first writes")
    st0, _ = quiet_sample(big, rb)
    cycles = prom_value(rb.metrics(), "kubepulse_scrape_cycles_total") or 1
    per_cycle = st0["handed"] / cycles
    log(f"\n~{per_cycle:.0f} points per cycle ({NODES} nodes x {PODS} pods)")

    t_down = time.time()
    cluster.control("influx", "stop")
    time.sleep(OUTAGE)
    mid_b, mid_s = sink_stats(rb), sink_stats(rs)
    cluster.control("influx", "start")
    t_up = time.time()
    log(f"InfluxDB down {t_up - t_down:.1f}s; at the end of it big buffered "
        f"{mid_b['buffered']:.0f} points, small buffered {mid_s['buffered']:.0f} and dropped "
        f"{mid_s['dropped']:.0f}")
    assert mid_b["dropped"] == 0 and mid_b["buffered"] > 0, mid_b
    assert mid_s["buffered"] <= 500 and mid_s["dropped"] > 0, mid_s

    # The backlog drains; then compare at a quiet moment.
    wait_for(lambda: sink_stats(rb)["buffered"] == 0, timeout=60, what="big drained")
    t_drained = time.time()
    st, count = quiet_sample(big, rb)
    log(f"big: backlog drained {t_drained - t_up:.1f}s after InfluxDB came back; handed "
        f"{st['handed']:.0f}, written {st['written']:.0f}, InfluxDB holds {count}, dropped "
        f"{st['dropped']:.0f}")
    assert st["dropped"] == 0, st
    assert st["handed"] == st["written"] == count, (st, count)
    # Every node has a point for every interval of the outage.
    rows = cluster.influx_rows(
        f"SELECT count(value) FROM \"cpu/usage_rate\" WHERE type = 'node' AND "
        f"time >= {int(t_down * 1e9)} AND time < {int(t_up * 1e9)} GROUP BY nodename",
        big.db)
    expect = int((t_up - t_down) // RES) - 1
    assert len(rows) == NODES and all(r["count"] >= expect for r in rows), (rows, expect)

    st, count = quiet_sample(small, rs)
    missing = st["handed"] - count
    log(f"small: handed {st['handed']:.0f}, written {st['written']:.0f}, InfluxDB holds "
        f"{count}, dropped {st['dropped_by_reason']}")
    assert st["written"] == count, (st, count)
    assert st["dropped"] == st["dropped_by_reason"].get("buffer_full", 0) == missing, (st, count)
    full = [e for e in rs.events() if e["msg"].startswith("sink buffer full")]
    # Error records have no "v" (component-base's JSON); a warning about a failure says err=.
    errors = [e for e in rs.events() if ("v" not in e or "err" in e)
              and t_down <= e["ts"] <= t_up + 5]
    log(f"small: {len(full)} 'sink buffer full' line(s); {len(errors)} warning/error lines "
        f"during the outage")
    assert len(full) == 1, full
    # Once a write succeeds again, one line says how many points went and their sample times:
    # from the outage's start (the oldest buffered then was sampled a cycle or two before it)
    # to that first success, which can come after the restart (the retry backoff).
    over = [e for e in rs.events() if e["msg"].startswith("sink buffer drained after an overflow")]
    assert len(over) == 1, over
    assert over[0]["points"] == st["dropped_by_reason"]["buffer_full"], over
    first, last = over[0]["first_sample_ns"] / 1e9, over[0]["last_sample_ns"] / 1e9
    log(f"small: dropped sample times {first - t_down:+.1f}s to {last - t_down:+.1f}s from the "
        f"outage's start (it lasted {t_up - t_down:.1f}s; the first write succeeded again at "
        f"{over[0]['ts'] - t_down:+.1f}s)")
    assert t_down - 2 * RES - 1 <= first <= last <= over[0]["ts"], (first, last, t_down, over)
    assert len(errors) < 4 * OUTAGE, [e["msg"] for e in errors][:20]

    for r in (rb, rs):
        r.signal(signal.SIGTERM)
        assert r.proc.wait(15) == 0, r.proc.text()[-2000:]
    big.check_sanitizers()
    small.check_sanitizers()

