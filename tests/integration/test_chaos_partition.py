# SPDX-License-Identifier: Apache-2.0
"""Network partition of the leader from the API server (issue "Hardening", task 1).

Three kubepulse replicas; each reaches the kube-apiserver through its own TCP proxy
(tests/chaos/tcpproxy.py), InfluxDB and the kubelet simulator directly. "Partitioning" a
replica blackholes its proxy: its API connections fall silent (no RST, no FIN) while it can
still scrape and write — the dangerous case, since only the Lease tells it to stop. See
docs/hardening.md for why a proxy stands in for a network namespace here.

Each round partitions the current leader and checks:
- it stops leading (/status "leading" false, "stopped leading" in its log) no later than its
  guaranteed deadline (partition time + renew deadline) and before anyone else leads;
- InfluxDB's own HTTP log (User-Agent = identity) shows no write from it after that;
- another replica leads within leaseDuration + a few retry periods, and writes;
- after the heal there is exactly one leader, and the healed replica follows it.
Over the run, leading intervals (logs, and /status polling) never overlap, every replica
exits 0 on SIGTERM and the logs hold no sanitizer report (build with -DKP_SANITIZE=ON).

A second test partitions a leader whose points are waiting for InfluxDB (stopped): after
its step-down it sends nothing, retries included, while it keeps those points; InfluxDB
comes back and only the new leader writes. When the partitioned replica leads again it
delivers what it kept: nothing lost, nothing sent without the Lease.

Short form (CI): 4s/3s/1s durations, 2 rounds. KP_LONG_TESTS=1: 6 rounds, and a follower
partition as well.
"""

import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))
from chaoslib import LONG, World, sink_stats  # noqa: E402
from kpharness import wait_for  # noqa: E402
from kpreplicas import (KUBEPULSE, StatusPoller,  # noqa: E402
                        check_healed, check_partitioned_step_down, event_time, log,
                        prom_value, stop_and_check_leadership, writes_by)

pytestmark = pytest.mark.skipif(not KUBEPULSE.exists(), reason=f"{KUBEPULSE} not built")

ROUNDS = 6 if LONG else 2


@pytest.fixture
def world(cluster, procs, namespace, tmp_path):
    w = World(cluster, procs, namespace, tmp_path, res=2.0, durations=(4.0, 3.0, 1.0))
    yield w
    w.cleanup()


def test_partitioned_leader_stops_before_lease_expires(world):
    world.start_sim(nodes=5, pods=5)
    reps = [world.start(b, proxied=True) for b in ("a", "b", "c")]
    poller = StatusPoller(world)
    poller.start()
    leader = world.leader(timeout=30)
    wait_for(lambda: writes_by(world, leader.identity), timeout=20, what="first writes")
    figures = []

    for rnd in range(ROUNDS):
        proxy = world.proxies[leader.identity]
        time.sleep(world.rp * 1.5)  # mid-renew-cycle, somewhere
        t_part = proxy.blackhole()
        # It must stop on its own clock, at the latest at its guarantee; InfluxDB is still
        # reachable from it, but it must not write after stepping down.
        new, t_stop, reason, t_new, last = check_partitioned_step_down(
            world, leader, t_part, step_down_timeout=world.rd + 3)
        log(f"\nround {rnd}: partitioned {leader.identity}; it stopped after "
            f"{t_stop - t_part:.3f}s ({reason}); {new.identity} led after {t_new - t_part:.3f}s")
        figures.append((t_stop - t_part, t_new - t_part, t_stop - last))

        t_heal = proxy.heal()
        # The healed replica follows; exactly one leader, the new one, for a while.
        t_follow = check_healed(world, leader, new)
        log(f"round {rnd}: healed; {leader.identity} followed after {t_follow - t_heal:.2f}s")
        leader = new

    if LONG:
        # A partitioned follower changes nothing.
        follower = next(r for r in world.live() if r is not leader)
        proxy = world.proxies[follower.identity]
        proxy.blackhole()
        time.sleep(world.ld + 2 * world.rp)
        assert world.leaders() == [leader]
        proxy.heal()
        time.sleep(2 * world.rp)
        assert world.leaders() == [leader]

    # The leader last: a follower still running at its release would take over.
    flat = stop_and_check_leadership(world, poller, last=leader)
    assert len(flat) == ROUNDS + 1, flat
    stops, takeovers, quiet = zip(*figures)
    log(f"partition figures over {ROUNDS} rounds: step-down after partition "
        f"max {max(stops):.3f}s (renew deadline {world.rd}s); takeover after "
        f"max {max(takeovers):.3f}s (lease duration {world.ld}s); last write before "
        f"step-down min {min(quiet):.3f}s")


HELD = "not leading: sink holds its buffered points until this replica leads again"
RESUMED = "leading again: sending the points held since leadership was lost"
# The longest retry delay the sink can have reached in the outage before the step-down
# (backoff from 0.5 s doubling, capped at 30 s; jitter at most 1x): attempts 0-4 fit in
# the ~10 s the test takes to get there, so attempt 5 waits at most 16 s.
RETRY_WAIT = 16.0


def sent_bytes(replica) -> float:
    return prom_value(replica.metrics(), "kubepulse_sink_sent_bytes_total") or 0


def test_partitioned_leader_holds_its_buffer(world, request):
    cluster = world.cluster
    influx_down = []
    request.addfinalizer(lambda: influx_down and cluster.control("influx", "start"))
    world.start_sim(nodes=3, pods=3)
    for b in ("a", "b"):
        world.start(b, proxied=True)
    poller = StatusPoller(world)
    poller.start()
    leader = world.leader(timeout=30)
    wait_for(lambda: writes_by(world, leader.identity), timeout=20, what="first writes")

    # InfluxDB goes away: the leader's next cycles wait in its buffer, retried with backoff.
    cluster.control("influx", "stop")
    influx_down.append(True)
    t_down = time.time()
    wait_for(lambda: sink_stats(leader)["buffered"] > 0, timeout=4 * world.res + 5,
             what="points waiting for InfluxDB")
    t_part = world.proxies[leader.identity].blackhole()
    wait_for(lambda: not leader.leading(), timeout=world.rd + 3, interval=0.05,
             what=f"{leader.identity} stepping down")
    t_stop, _ = wait_for(lambda: event_time(leader, "stopped leading", t_part), timeout=5,
                         what="'stopped leading' line")
    wait_for(lambda: event_time(leader, HELD, t_part), timeout=5, what="the hold line")
    held = sink_stats(leader)
    sent = sent_bytes(leader)
    assert held["buffered"] > 0 and held["dropped"] == 0, held
    assert prom_value(leader.metrics(), "kubepulse_sink_held") == 1
    new = world.leader(timeout=world.ld + world.rd + 4 * world.rp, exclude=leader)
    cluster.control("influx", "start")
    influx_down.clear()
    t_up = time.time()
    wait_for(lambda: writes_by(world, new.identity, t_up), timeout=4 * world.res + 20,
             what=f"writes from {new.identity}")
    # Past every retry the old leader had scheduled: it sent nothing and kept everything.
    time.sleep(max(0.0, t_stop + RETRY_WAIT - time.time()))
    late = writes_by(world, leader.identity, t_stop)
    now = sink_stats(leader)
    log(f"\n{leader.identity}: InfluxDB down {t_part - t_down:.1f}s before the partition, "
        f"stepped down {t_stop - t_part:.2f}s after it holding {held['buffered']:.0f} points; "
        f"{new.identity} led; InfluxDB up {t_up - t_stop:.1f}s after the step-down; "
        f"{time.time() - t_stop:.1f}s later {leader.identity} had sent "
        f"{sent_bytes(leader) - sent:.0f} more bytes, written {late}")
    assert not late, f"{leader.identity} wrote after stepping down at {t_stop}: {late}"
    assert sent_bytes(leader) == sent
    assert now["buffered"] == held["buffered"] and now["written"] == held["written"], now
    assert now["dropped"] == 0, now

    # It leads again (healed; the other releases on SIGTERM) and delivers what it kept.
    world.proxies[leader.identity].heal()
    check_healed(world, leader, new)
    new.signal(signal.SIGTERM)
    assert new.proc.wait(15) == 0, new.proc.text()[-2000:]
    wait_for(leader.leading, timeout=world.ld + 3 * world.rp, what=f"{leader.identity} leading")
    wait_for(lambda: event_time(leader, RESUMED, t_stop), timeout=5, what="the resume line")
    wait_for(lambda: sink_stats(leader)["buffered"] == 0, timeout=30, what="held points sent")
    end = sink_stats(leader)
    assert end["dropped"] == 0 and end["written"] >= held["written"] + held["buffered"], end
    assert prom_value(leader.metrics(), "kubepulse_sink_held") == 0
    # The cycles it scraped while InfluxDB was down are there, each once per node.
    pts = world.series_points("cpu/usage_rate", "type = 'node'", "nodename",
                              t_down - world.res, t_stop)
    log(f"{leader.identity} led again and sent {end['written'] - held['written']:.0f} points; "
        f"node points sampled from the outage to the step-down: "
        f"{ {k[0][1]: len(v) for k, v in pts.items()} }")
    assert len(pts) == 3 and all(v and len(v) == len(set(v)) for v in pts.values()), pts
    stop_and_check_leadership(world, poller, last=leader)
