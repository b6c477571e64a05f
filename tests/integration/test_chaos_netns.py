# SPDX-License-Identifier: Apache-2.0
"""Network partition of the leader by the kernel (issue #9): the leader runs in a network
namespace of its own and the API server's packets are dropped there, while InfluxDB and
the kubelets stay reachable.

The test makes the namespace itself (tests/chaos/netns.py: ``ip netns add kp-<random>``, a
veth pair on a private /30, the host's loopback routed over it) and runs one kubepulse
replica inside with ``ip netns exec``; that one starts first and leads. Two more replicas run
on the host. The partition is an nftables netdev table on the namespace's end of the veth
pair dropping TCP to and from the API server's address and port, both ways: the leader's
API connections go silent (no RST, FIN or ICMP), new ones never get a SYN-ACK. Unlike the
proxy variant (test_chaos_partition.py) nothing in user space stands in the path: what the
replica sees is the kernel's own behaviour on a dead path (retransmissions, then its own
timeouts).

Checks, as in the proxy variant:
- the partitioned leader stops leading ("stopped leading" in its log, /status) no later than
  the partition + renew deadline, and before another replica logs "became leader";
- during the partition, from inside the namespace, InfluxDB answers /ping and the kubelets
  /healthz while the API server does not answer at all (curl times out);
- InfluxDB's own HTTP log (User-Agent = identity) shows no write from it after it stopped;
- another replica leads and writes; after the heal exactly one leader, the one the Lease
  names, and the healed replica follows it;
- over the run leadership intervals (logs and /status polling) never overlap, every write
  falls inside its writer's interval, every replica exits 0 on SIGTERM, no sanitizer report.

Skipped when not root, without CAP_NET_ADMIN, or when ``ip netns`` / nftables fail here.
Short form (CI): one partition of the leader, 4s/3s/1s durations. KP_LONG_TESTS=1 also
partitions it again as a follower (nothing may change) and heals.
"""

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))
import netns as kpnetns  # noqa: E402
from chaoslib import LONG  # noqa: E402
from kpharness import wait_for  # noqa: E402
from kpreplicas import (KUBEPULSE, StatusPoller, World,  # noqa: E402
                        check_healed, check_partitioned_step_down, log,
                        stop_and_check_leadership, writes_by)

pytestmark = pytest.mark.skipif(not KUBEPULSE.exists(), reason=f"{KUBEPULSE} not built")


@pytest.fixture
def world(cluster, procs, namespace, tmp_path):
    w = World(cluster, procs, namespace, tmp_path, res=2.0, durations=(4.0, 3.0, 1.0))
    yield w
    w.cleanup()


@pytest.fixture
def ns(procs):
    """The namespace, deleted at the end even on failure (after the processes inside it are
    stopped, by pid); skip when it cannot be made."""
    reason = kpnetns.unavailable()
    if reason:
        pytest.skip(f"network namespace partition: {reason}")
    n = kpnetns.Netns()
    try:
        n.create()
    except kpnetns.NetnsError as err:
        pytest.skip(f"network namespace partition: cannot set up a namespace here: {err}")
    try:
        yield n
    finally:
        try:
            for p in procs.procs:
                if p.argv[:4] == n.exec_argv([]):
                    p.stop()
        finally:
            n.delete()


def check_paths(world, ns, api_port, expect_api: bool):
    """From inside the namespace: InfluxDB and a kubelet answer; the API server answers
    only when ``expect_api``. Returns the curl results."""
    influx = ns.http_probe(f"{world.cluster.influx_url}/ping")
    node = world.manifest["nodes"][0]
    kubelet = ns.http_probe(f"https://{node['address']}:{node['port']}/healthz",
                            cacert=world.cluster.ca_cert)
    api = ns.http_probe(f"https://127.0.0.1:{api_port}/readyz", timeout=1.5,
                        cacert=world.cluster.ca_cert)
    assert influx == (0, 204), f"InfluxDB /ping from {ns.name}: {influx}"
    assert kubelet == (0, 200), f"kubelet /healthz from {ns.name}: {kubelet}"
    if expect_api:
        assert api[0] == 0, f"API server from {ns.name}: curl exit {api[0]}"
    else:
        assert api[0] == 28, f"API server from {ns.name} during the partition: {api} " \
                             "(want curl exit 28: silence, not a refusal)"
    return influx, kubelet, api


def test_partitioned_netns_leader_stops_before_lease_expires(ns, world):
    api_port = int(world.cluster.env["KP_APISERVER_PORT"])
    world.start_sim(nodes=5, pods=5)
    check_paths(world, ns, api_port, expect_api=True)

    leader = kpnetns.start_replica(world, ns, "p")
    assert world.leader(timeout=30) is leader
    wait_for(lambda: writes_by(world, leader.identity), timeout=20, what="first writes")
    others = [world.start(b) for b in ("b", "c")]
    wait_for(lambda: all((r.try_status() or {}).get("holder") == leader.identity
                         for r in others), timeout=20, what="followers seeing the leader")
    poller = StatusPoller(world)
    poller.start()

    time.sleep(world.rp * 1.5)  # mid-renew-cycle, somewhere
    t_part = ns.partition("127.0.0.1", api_port)
    t_cut = time.time() - t_part
    influx, kubelet, api = check_paths(world, ns, api_port, expect_api=False)
    new, t_stop, reason, t_new, last = check_partitioned_step_down(
        world, leader, t_part, step_down_timeout=world.rd + 3)
    log(f"\npartitioned {leader.identity} in {ns.name} (nft took {t_cut * 1000:.0f} ms); it "
        f"stopped after {t_stop - t_part:.3f}s ({reason}); {new.identity} led after "
        f"{t_new - t_part:.3f}s; from inside during the partition: InfluxDB /ping {influx[1]}, "
        f"kubelet /healthz {kubelet[1]}, API server curl exit {api[0]} (timeout)")
    world.assert_none_died()

    t_heal = ns.heal()
    check_paths(world, ns, api_port, expect_api=True)
    t_follow = check_healed(world, leader, new)
    log(f"healed; {leader.identity} followed {new.identity} after {t_follow - t_heal:.2f}s; "
        f"its last write reached InfluxDB {t_stop - last:.3f}s before its step-down")

    if LONG:
        # The same replica partitioned as a follower changes nothing.
        ns.partition("127.0.0.1", api_port)
        time.sleep(world.ld + 2 * world.rp)
        assert world.leaders() == [new], [r.identity for r in world.leaders()]
        ns.heal()
        time.sleep(2 * world.rp)
        assert world.leaders() == [new], [r.identity for r in world.leaders()]
        assert (leader.try_status() or {}).get("holder") == new.identity

    flat = stop_and_check_leadership(world, poller, last=new)
    assert [ident for _, _, ident in flat] == [leader.identity, new.identity], flat
    log(f"netns partition figures: step-down {t_stop - t_part:.3f}s after the cut (renew "
        f"deadline {world.rd}s); takeover {t_new - t_part:.3f}s after the cut (lease duration "
        f"{world.ld}s); last write {t_stop - last:.3f}s before the step-down; none after")
