# SPDX-License-Identifier: Apache-2.0
"""The HA loop end to end: kubepulse replicas against the real kube-apiserver, the real
InfluxDB and the kubelet simulator (tests/sim), for a few minutes with failovers and scaling.

What is checked:

- Data: for every node and pod, InfluxDB holds a point for every metric-resolution interval
  of the run, except the intervals inside the SIGKILL window (the dead leader's Lease has to
  expire first; the count is printed). None is missing across the SIGTERM failover. No
  interval holds two points of one series (node, pod, namespace, cluster).
- Exactly one writer per interval, from what InfluxDB itself saw: InfluxDB 1.x logs every
  HTTP request with its User-Agent, ``kubepulse/VERSION (identity=ID)``, and a time-based
  (v1) request UUID, whose timestamp is the arrival time to 100 ns. Each write is mapped to
  its interval; no interval has writes from two replicas, and every replica wrote only while
  it led (or flushed right after it stopped).
- Leading intervals of every replica, from their JSON logs ("became leader" / "stopped
  leading", plus the SIGKILL time) and from polling /status, never overlap.
- /healthz, /readyz, /metrics, /status on leader and followers: kubepulse_is_leader is 1 only
  on the leader and /status names the same holder everywhere as the Lease does.
- Scaling: a 4th and 5th replica join as followers, stopping followers never disturbs the
  leader, and one replica alone keeps the metrics flowing.

Timing: --metric-resolution=5s instead of the default 60s so that ~30 intervals fit in about
three minutes; election durations 8s/5s/1s (client-go's 15s/10s/2s would only lengthen the
SIGKILL window). The simulator samples every 5s too, so each interval has exactly one sample.
10 nodes x 10 pods keeps InfluxDB's load moderate on a busy 2-core machine.
"""

from __future__ import annotations

import math
import signal
import time

import pytest

import kpreplicas
from kpharness import wait_for
from kpreplicas import KUBEPULSE, StatusPoller, assert_no_overlap, log, prom_value

RES = 5.0                      # --metric-resolution
LD, RD, RP = 8.0, 5.0, 1.0     # --lease-duration, --renew-deadline, --retry-period
NODES, PODS = 10, 10

pytestmark = pytest.mark.skipif(not KUBEPULSE.exists(), reason=f"{KUBEPULSE} not built")


class World(kpreplicas.World):
    """kpreplicas.World at this test's timing and size (see the module docstring); also
    used by test_security.py."""

    def __init__(self, cluster, procs, namespace, tmp_path, **kw):
        super().__init__(cluster, procs, namespace, tmp_path, res=RES, durations=(LD, RD, RP),
                         **kw)

    def start_sim(self, nodes=NODES, pods=PODS):
        super().start_sim(nodes, pods, register_timeout=300)


def check_endpoints(world: World, leader: Replica):
    """/healthz, /readyz, /metrics, /status on every live replica against the Lease."""
    holder = world.lease()["holderIdentity"]
    assert holder == leader.identity
    for r in world.live():
        for path in ("/healthz", "/readyz"):
            code, body = r.get(path)
            assert code == 200, (r.identity, path, code, body)
        code, text = r.get("/metrics")
        assert code == 200
        is_leader = prom_value(text, "kubepulse_is_leader")
        assert is_leader == (1.0 if r is leader else 0.0), (r.identity, is_leader)
        for name in ("kubepulse_leader_transitions_total", "kubepulse_scrape_cycles_total",
                     "kubepulse_points_handed_to_sinks_total", "kubepulse_nodes_cached",
                     "kubepulse_sink_points_written_total", "kubepulse_build_info"):
            assert prom_value(text, name) is not None, (r.identity, name)
        assert prom_value(text, "kubepulse_nodes_cached") >= NODES, r.identity
        s = r.status()
        assert s["identity"] == r.identity
        assert s["holder"] == holder, (r.identity, s["holder"], holder)
        assert s["leading"] == (r is leader) and s["ready"] is True
        assert s["leaseNamespace"] == world.ns and s["lease"] == "kubepulse"
        if r is leader:
            assert s["leaderDeadlineInSeconds"] > 0
            assert s["collector"]["cycles"] >= 1 and s["sinks"][0]["pointsWritten"] > 0
        else:
            assert "leaderDeadlineInSeconds" not in s


def grid_wait(offset: float):
    """Sleep until `offset` seconds after the next multiple of RES."""
    now = time.time()
    target = math.floor(now / RES) * RES + offset
    while target <= now + 0.05:
        target += RES
    time.sleep(target - now)


def run_intervals(n: int):
    """Let n intervals pass, ending mid-interval."""
    for _ in range(n):
        grid_wait(2.5)


def interval_of(t: float) -> int:
    return math.floor(t / RES + 1e-6)


@pytest.fixture
def world(cluster, procs, namespace, tmp_path):
    w = World(cluster, procs, namespace, tmp_path)
    yield w
    w.cleanup()


def test_ha_end_to_end(world, cluster):
    world.start_sim()
    poller = StatusPoller(world)
    reps = [world.start(b) for b in ("a", "b", "c")]
    leader = world.leader(timeout=20)
    poller.start()
    log(f"\nfirst leader {leader.identity}")
    # The first full interval after the first cycle: the run's data starts there.
    wait_for(lambda: leader.status()["collector"]["cycles"] >= 1, timeout=15, what="a cycle")
    k_first = interval_of(time.time()) + 1
    run_intervals(4)
    check_endpoints(world, leader)

    # --- SIGTERM failover, aimed just after a grid tick: while a cycle is in flight.
    grid_wait(0.02)
    t_term = leader.signal(signal.SIGTERM)
    new = world.leader(timeout=5, exclude=leader)
    assert leader.proc.wait(10) == 0
    term_gap = next(s for s, _ in new.lead_intervals()) - t_term
    log(f"SIGTERM {leader.identity} -> {new.identity} led after {term_gap * 1000:.0f} ms; "
        f"old exited after {(leader.exit_time() - t_term) * 1000:.0f} ms")
    assert term_gap < 1.0, term_gap
    assert world.lease()["holderIdentity"] == new.identity
    world.start("a")
    leader = new
    run_intervals(5)
    check_endpoints(world, leader)

    # --- SIGKILL failover, mid-interval.
    t_kill = leader.signal(signal.SIGKILL)
    leader.proc.wait(5)
    new = world.leader(timeout=LD + 3 * RP + 5, exclude=leader)
    kill_start = next(s for s, _ in new.lead_intervals())
    kill_gap = kill_start - t_kill
    log(f"SIGKILL {leader.identity} -> {new.identity} led after {kill_gap:.2f} s "
        f"(lease duration {LD:.0f} s)")
    assert kill_gap <= LD + 2 * RP + 1.5, kill_gap
    kill_window = set(range(interval_of(t_kill), interval_of(kill_start) + 1))
    world.start("b")
    leader = new
    run_intervals(5)
    check_endpoints(world, leader)

    # --- scaling: a 4th and a 5th replica join as followers.
    spec0 = world.lease()
    transitions0 = leader.status()["leaderTransitions"]
    extra = [world.start("d"), world.start("e")]
    wait_for(lambda: all(r.get("/readyz")[0] == 200 for r in extra), timeout=20,
             what="new replicas ready")
    grid_wait(2.5)
    assert len(world.live()) == 5
    check_endpoints(world, leader)
    # Stop followers one by one down to the leader alone: the leader is never disturbed.
    for r in [r for r in world.live() if r is not leader]:
        r.signal(signal.SIGTERM)
        assert r.proc.wait(10) == 0
        time.sleep(0.5)
        s = leader.status()
        assert s["leading"] and s["holder"] == leader.identity
        assert s["leaderTransitions"] == transitions0
    spec1 = world.lease()
    assert spec1["holderIdentity"] == leader.identity
    assert spec1["leaseTransitions"] == spec0["leaseTransitions"]
    assert spec1["acquireTime"] == spec0["acquireTime"]
    assert world.live() == [leader]
    # Count from mid-interval, so four waits cross exactly four ticks whatever time the
    # followers took to stop (from an early phase run_intervals(4) crosses only three).
    grid_wait(2.5)
    before = leader.status()["collector"]["cycles"]
    run_intervals(4)
    assert leader.status()["collector"]["cycles"] >= before + 4
    check_endpoints(world, leader)
    k_last = interval_of(time.time()) - 1  # the last complete interval
    t_end = time.time()
    time.sleep(1.0)  # let the last writes land
    poller.stop()
    leader.signal(signal.SIGTERM)
    assert leader.proc.wait(10) == 0

    # ---- leading intervals never overlap (logs: exact; /status polls: sampled)
    log_ivs = {r.identity: r.lead_intervals() for r in world.replicas}
    flat = assert_no_overlap(log_ivs, "logs")
    assert_no_overlap(poller.intervals(), "/status polling")
    log("leading intervals: " + ", ".join(f"{n} {s % 1000:.3f}-{e % 1000:.3f}"
                                          for s, e, n in flat))
    assert len(flat) == 3, flat
    # /status holder: every replica names the replica that leads, away from handoffs
    # (followers learn of a new holder through their Lease watch).
    handoffs = [s for s, _, _ in flat]
    leader_at = lambda t: next((n for s, e, n in flat if s <= t <= e), None)  # noqa: E731
    # A replica that just started has observed no Lease yet: its holder is "" until the
    # first read, which is not a disagreement.
    first_seen: dict[str, float] = {}
    for t, ident, _, holder in sorted(poller.samples):
        if holder:
            first_seen.setdefault(ident, t)
    bad = [(t, ident, holder, leader_at(t)) for t, ident, _, holder in poller.samples
           if leader_at(t) and min(abs(t - h) for h in handoffs) > 2.0
           and t >= first_seen.get(ident, float("inf")) and holder != leader_at(t)]
    assert not bad, bad[:5]

    # ---- exactly one writer per interval, from InfluxDB's own request log
    writes = world.influx_writes()
    assert writes and all(code == 204 for _, _, code in writes), writes[:5]
    writers: dict[int, set[str]] = {}
    for t, ident, _ in writes:
        writers.setdefault(interval_of(t), set()).add(ident)
        # Each replica wrote only while it led, or in its shutdown flush right after.
        r = next(r for r in world.replicas if r.identity == ident)
        ok = any(s - 0.001 <= t <= e + 0.001 for s, e in r.lead_intervals())
        exit_t = r.exit_time()
        if not ok and r.signalled_at and exit_t:
            ok = r.signalled_at <= t <= exit_t + 0.01
        assert ok, f"{ident} wrote at {t:.6f} outside its leadership {r.lead_intervals()}"
    shared = {k: w for k, w in writers.items() if len(w) > 1}
    log(f"InfluxDB saw {len(writes)} writes from "
        f"{len({i for _, i, _ in writes})} replicas over {len(writers)} intervals")
    assert not shared, f"intervals written by more than one replica: {shared}"

    # ---- every node and pod has a point in every interval but the SIGKILL window
    t0, t1 = k_first * RES, (k_last + 1) * RES
    expected = set(range(k_first, k_last + 1))
    nodes = {n["name"] for n in world.manifest["nodes"]}
    pods = {(p["namespace"], p["name"]) for n in world.manifest["nodes"] for p in n["pods"]
            if p.get("registrable", True)}
    missing_total, missing_kill, checked = 0, 0, 0
    for meas in ("memory/working_set", "cpu/usage"):
        got_nodes = world.series_points(meas, "type = 'node'", "nodename", t0, t1)
        got_pods = world.series_points(meas, "type = 'pod'", "namespace_name, pod_name", t0, t1)
        series = {(("nodename", n),): ("node", n) for n in nodes}
        series.update({(("namespace_name", ns), ("pod_name", p)): ("pod", f"{ns}/{p}")
                       for ns, p in pods})
        got = {**got_nodes, **got_pods}
        assert set(got) >= set(series), set(series) - set(got)
        for key, what in series.items():
            ks = [interval_of(t) for t in got[key]]
            assert len(ks) == len(set(ks)), f"{meas} {what}: two points in one interval: {ks}"
            miss = expected - set(ks)
            checked += len(expected)
            assert miss <= kill_window, (f"{meas} {what}: missing intervals "
                                         f"{sorted(miss - kill_window)} outside the SIGKILL "
                                         f"window {sorted(kill_window)}")
            missing_kill += len(miss)
            missing_total += len(miss)
    per_series = missing_kill / (2 * (len(nodes) + len(pods)))
    log(f"{len(expected)} intervals x {len(nodes)} nodes + {len(pods)} pods x 2 metrics: "
        f"{checked} checks, {missing_total} missing, all inside the SIGKILL window "
        f"({len(kill_window)} intervals; {per_series:.1f} missing per series)")
    # Namespace and cluster series: one point per interval at most (leaders share the grid).
    for typ, group in (("ns", "namespace_name"), ("cluster", "type")):
        for key, ts in world.series_points("memory/usage", f"type = '{typ}'", group, t0,
                                           t1).items():
            ks = [interval_of(t) for t in ts]
            assert len(ks) == len(set(ks)), f"memory/usage {typ} {key}: {sorted(ts)}"
            assert expected - set(ks) <= kill_window, (typ, key, sorted(expected - set(ks)))
