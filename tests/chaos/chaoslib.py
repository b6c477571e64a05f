# SPDX-License-Identifier: Apache-2.0
"""chaoslib - what only the chaos tests (tests/integration/test_chaos_*.py, soak.py) add to
the shared replica machinery of tests/integration/kpreplicas.py: a partitionable TCP proxy
(tcpproxy.py) in front of the API server per replica, sink counters from /metrics, and the
KP_LONG_TESTS switch.

Importable from tests/integration (the test adds tests/chaos to sys.path) and from soak.py
(which adds tests/integration): kpharness and kpreplicas are found the same way.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import kpreplicas
from kpharness import REPO_ROOT, wait_for
from kpreplicas import Replica, http, prom_value, start_proc

CHAOS_DIR = REPO_ROOT / "tests" / "chaos"
LONG = os.environ.get("KP_LONG_TESTS") == "1"


class TcpProxy:
    """tests/chaos/tcpproxy.py in front of one server, started through ``procs``."""

    def __init__(self, procs, name: str, target: str):
        self.proc = start_proc(procs, name, [sys.executable, str(CHAOS_DIR / "tcpproxy.py"),
                                             "--target", target])
        m = wait_for(lambda: re.search(r"tcpproxy ready listen=(\S+) control=(\S+)",
                                       self.proc.text()), timeout=20, what=f"{name} ready")
        self.listen, self.control = m.group(1), m.group(2)

    def _ctl(self, method: str, path: str) -> dict:
        code, body = http(method, f"http://{self.control}{path}", timeout=5)
        assert code == 200, (path, code, body)
        return json.loads(body)

    def blackhole(self) -> float:
        t = time.time()
        self._ctl("POST", "/blackhole")
        return t

    def heal(self) -> float:
        t = time.time()
        self._ctl("POST", "/heal")
        return t

    def reset(self) -> dict:
        return self._ctl("POST", "/reset")

    def status(self) -> dict:
        return self._ctl("GET", "/status")


class World(kpreplicas.World):
    """kpreplicas.World, and replicas that reach the API server through a TcpProxy each."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.proxies: dict[str, TcpProxy] = {}

    def start(self, base: str, proxied: bool = False, **kw) -> Replica:
        """A replica; ``proxied``: through a new proxy, in ``proxies`` under its identity."""
        if not proxied:
            return super().start(base, **kw)
        ident = f"{base}-{self.n + 1}"
        target = self.cluster.apiserver.split("://", 1)[1]
        proxy = TcpProxy(self.procs, f"proxy-{ident}", target)
        self.proxies[ident] = proxy
        r = super().start(base, kubeconfig=self.kubeconfig(f"https://{proxy.listen}"), **kw)
        assert r.identity == ident, (r.identity, ident)
        return r


def sink_stats(replica: Replica) -> dict:
    """written, buffered, handed and dropped (total and by reason) of the first sink."""
    text = replica.metrics()
    dropped = {}
    for line in text.splitlines():
        m = re.match(r'^kubepulse_sink_points_dropped_total\{[^}]*reason="([^"]+)"[^}]*\} (\S+)$',
                     line)
        if m:
            dropped[m.group(1)] = float(m.group(2))
    return {"written": prom_value(text, "kubepulse_sink_points_written_total") or 0,
            "buffered": prom_value(text, "kubepulse_sink_points_buffered") or 0,
            "handed": prom_value(text, "kubepulse_points_handed_to_sinks_total") or 0,
            "requests": prom_value(text, "kubepulse_sink_requests_total") or 0,
            "failures": prom_value(text, "kubepulse_sink_request_failures_total") or 0,
            "dropped": sum(dropped.values()), "dropped_by_reason": dropped}
