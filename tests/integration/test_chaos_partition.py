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

Short form (CI): 4s/3s/1s durations, 2 rounds. KP_LONG_TESTS=1: 6 rounds, and a follower
partition as well.
"""

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))
from chaoslib import LONG, World  # noqa: E402
from kpharness import wait_for  # noqa: E402
from kpreplicas import (KUBEPULSE, StatusPoller,  # noqa: E402
                        check_healed, check_partitioned_step_down, log,
                        stop_and_check_leadership, writes_by)

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

    flat = stop_and_check_leadership(world, poller)
    assert len(flat) == ROUNDS + 1, flat
    stops, takeovers, quiet = zip(*figures)
    log(f"partition figures over {ROUNDS} rounds: step-down after partition "
        f"max {max(stops):.3f}s (renew deadline {world.rd}s); takeover after "
        f"max {max(takeovers):.3f}s (lease duration {world.ld}s); last write before "
        f"step-down min {min(quiet):.3f}s")
