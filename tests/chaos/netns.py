# SPDX-License-Identifier: Apache-2.0
"""netns - a network namespace for one kubepulse replica, and a kernel-made partition of it
from one server, for tests/integration/test_chaos_netns.py.

The test cluster's servers (kube-apiserver, InfluxDB, the simulated kubelets) listen on
loopback addresses (127.0.0.1, 127.x.y.z). A namespace has a loopback of its own, so they
are normally out of its reach. Here the namespace's loopback stays down (so it owns no 127/8
address) and all of 127.0.0.0/8 is routed over a veth pair to the host, with
``route_localnet`` set on both ends of the pair (and nowhere else), which lets the kernel
carry loopback addresses over that one link. A replica inside therefore reaches every server
at the very address the others use: same URLs, same kubeconfig, the same certificates
verify (their SANs name 127.0.0.1 and the nodes' 127.x.y.z), no forwarder in the path.

``partition(host, port)`` drops one server's TCP traffic in both directions at the
namespace's end of the veth pair (an nftables ``netdev`` table: ingress and egress hooks),
so the replica's connections fall silent (no RST, no FIN, no ICMP: its retransmissions go
unanswered) while every other address and port keeps working. ``heal()`` removes the table.
Everything made here lives in the namespace or on the veth pair: ``delete()`` removes both;
the host's own routes and ruleset are never touched.

Needs root (CAP_NET_ADMIN), ``ip`` (iproute2), ``nft`` (nftables, from
tests/infra/install-deps.sh) and a kernel with the netdev egress hook (5.16+).
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import secrets
import shutil
import subprocess
import time

from kpreplicas import Replica, http

CAP_NET_ADMIN = 12
TABLE = "kp_partition"


def unavailable() -> str | None:
    """Why a namespace cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns, veth, nftables)"
    with open("/proc/self/status") as f:
        caps = next((ln.split()[1] for ln in f if ln.startswith("CapEff:")), "0")
    if not int(caps, 16) >> CAP_NET_ADMIN & 1:
        return "needs CAP_NET_ADMIN"
    for tool, pkg in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"no {tool} command ({pkg}; tests/infra/install-deps.sh installs it)"
    return None


def _run(argv: list[str], timeout: float = 10, check: bool = True,
         input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


class NetnsError(RuntimeError):
    """A namespace, link, route or nftables command failed."""


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.x.y.z/30 that overlaps no route or address of the host."""
    used = []
    for what in (["route", "show", "table", "all"], ["addr", "show"]):
        out = _run(["ip", "-j", "-4", *what]).stdout
        for item in json.loads(out or "[]"):
            if "dst" in item and item["dst"] not in ("default", ""):
                used.append(ipaddress.ip_network(item["dst"], strict=False))
            for a in item.get("addr_info", []):
                used.append(ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False))
    rnd = random.Random(secrets.randbits(32))
    for _ in range(200):
        net = ipaddress.ip_network(f"10.{rnd.randrange(200, 255)}.{rnd.randrange(256)}."
                                   f"{rnd.randrange(64) * 4}/30")
        if not any(net.overlaps(u) for u in used):
            return net
    raise NetnsError("no free 10.x.y.z/30 for the veth pair")


class Netns:
    """``kp-<random>``: a namespace, a veth pair on a private /30, the host's loopback
    reachable through it. Use as a context manager, or call ``delete()`` in a finally."""

    def __init__(self):
        tag = secrets.token_hex(3)
        self.name = f"kp-{tag}"
        self.host_if, self.ns_if = f"kp{tag}h", f"kp{tag}n"  # <= 15 characters
        net = _free_subnet()
        self.host_addr, self.ns_addr = (str(a) for a in net.hosts())
        self.prefix = net.prefixlen
        self.made = False
        self.cut: tuple[str, int] | None = None  # what partition() drops, until heal()

    def create(self) -> "Netns":
        _run(["ip", "netns", "add", self.name])
        self.made = True
        try:
            _run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if,
                  "netns", self.name])
            _run(["ip", "addr", "add", f"{self.host_addr}/{self.prefix}", "dev", self.host_if])
            _run(["ip", "link", "set", self.host_if, "up"])
            with open(f"/proc/sys/net/ipv4/conf/{self.host_if}/route_localnet", "w") as f:
                f.write("1")
            self.run("sh", "-c", f"echo 1 > /proc/sys/net/ipv4/conf/{self.ns_if}/route_localnet")
            self.ip("addr", "add", f"{self.ns_addr}/{self.prefix}", "dev", self.ns_if)
            self.ip("link", "set", self.ns_if, "up")
            # lo stays down: with it up, 127/8 would be the namespace's own.
            self.ip("route", "add", "127.0.0.0/8", "via", self.host_addr, "dev", self.ns_if,
                    "src", self.ns_addr)
            # The partition's table once, checked only (-c): fails early without the netdev
            # egress hook (kernel < 5.16, nft < 1.0.1).
            self.run("nft", "-c", "-f", "-", input=self._ruleset("127.0.0.1", 1))
        except BaseException:
            self.delete()
            raise
        return self

    def serve_two_addresses(self) -> list[str]:
        """After create(): a home for two servers the host reaches at addresses of their own
        (the API server refuses loopback Endpoints). lo comes up without 127/8, which stays
        routed to the host, so the namespace's own addresses answer from inside too (a server
        here reaches the other); a second address is routed to the veth on the host (the route
        goes with the veth). Returns [ns_addr, second]."""
        self.ip("link", "set", "lo", "up")
        self.ip("addr", "del", "127.0.0.1/8", "dev", "lo")
        second = str(list(_free_subnet().hosts())[1])
        self.ip("addr", "add", f"{second}/32", "dev", self.ns_if)
        _run(["ip", "route", "add", f"{second}/32", "dev", self.host_if, "src", self.host_addr])
        return [self.ns_addr, second]

    def exec_argv(self, argv: list) -> list[str]:
        """argv run inside the namespace (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.name, *[str(a) for a in argv]]

    def run(self, *argv, timeout: float = 10, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess:
        return _run(self.exec_argv(list(argv)), timeout=timeout, check=check, input=input)

    def ip(self, *args) -> subprocess.CompletedProcess:
        return _run(["ip", "-n", self.name, *args])

    def _ruleset(self, host: str, port: int) -> str:
        dev = self.ns_if
        return (f"table netdev {TABLE} {{\n"
                f"  chain from_server {{ type filter hook ingress device \"{dev}\" priority 0;\n"
                f"    ip saddr {host} tcp sport {port} drop; }}\n"
                f"  chain to_server {{ type filter hook egress device \"{dev}\" priority 0;\n"
                f"    ip daddr {host} tcp dport {port} drop; }}\n"
                f"}}\n")

    def partition(self, host: str, port: int) -> float:
        """Drop host:port's TCP traffic both ways from now on; returns the wall time just
        before the rules went in."""
        assert self.cut is None, f"already partitioned from {self.cut}"
        t = time.time()
        self.run("nft", "-f", "-", input=self._ruleset(host, port))
        self.cut = (host, port)
        return t

    def heal(self) -> float:
        """Remove the partition; returns the wall time just before."""
        t = time.time()
        self.run("nft", "delete", "table", "netdev", TABLE)
        self.cut = None
        return t

    def http_probe(self, url: str, timeout: float = 2.0, cacert: str | None = None):
        """From inside: (curl exit code, HTTP status). 28 = timed out (silence), 7 = refused."""
        argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                str(timeout), *(["--cacert", cacert] if cacert else []), url]
        p = self.run(*argv, timeout=timeout + 5, check=False)
        return p.returncode, int(p.stdout or 0)

    def delete(self) -> None:
        """Remove the veth pair and the namespace (and with them the nftables table).
        Idempotent; stop the processes inside first, or the namespace outlives its name."""
        if not self.made:
            return
        _run(["ip", "link", "del", self.host_if], check=False)
        _run(["ip", "netns", "del", self.name], check=False)
        self.made = False

    def __enter__(self) -> "Netns":
        return self.create()

    def __exit__(self, *exc) -> None:
        self.delete()


def serving_two_or_skip(what: str) -> tuple[Netns, list[str]]:
    """A new namespace serving two addresses (Netns.serve_two_addresses), or the calling test
    skipped with the reason (after what) when one cannot be made here."""
    import pytest
    reason = unavailable()
    if reason:
        pytest.skip(f"{what}: {reason}")
    n = Netns()
    try:
        return n, n.create().serve_two_addresses()
    except (NetnsError, subprocess.CalledProcessError) as err:
        n.delete()
        pytest.skip(f"{what}: cannot set up a network namespace here: {err}")


class NetnsReplica(Replica):
    """A kpreplicas.Replica run inside ``netns``: its status server listens on the
    namespace's veth address, which the test reaches from the host."""

    def __init__(self, world, identity: str, argv: list[str], netns: Netns):
        self.netns, self.host = netns, netns.ns_addr
        super().__init__(world, identity, argv)

    def wrap_argv(self, argv: list[str]) -> list[str]:
        return self.netns.exec_argv(argv)

    def get(self, path: str, timeout: float = 3.0):
        try:
            return http("GET", f"http://{self.netns.ns_addr}:{self.port}{path}", timeout=timeout)
        except OSError as err:
            return 0, str(err)


def start_replica(world, netns: Netns, base: str, **argv_kw) -> NetnsReplica:
    """Like ``world.start(base)``, inside ``netns``."""
    world.n += 1
    r = NetnsReplica(world, f"{base}-{world.n}", world.argv(**argv_kw), netns)
    world.replicas.append(r)
    return r
