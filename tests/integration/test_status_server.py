# SPDX-License-Identifier: Apache-2.0
"""The status server (issue #18): it cannot be starved, and its /metrics page is what
Kubernetes components expose.

test_probes_answer_under_connection_flood: a leader under a connection flood.

One kubepulse replica leads against the real kube-apiserver, InfluxDB and the kubelet
simulator. An attacker thread then holds open, at once, 1,000 idle connections (connected,
nothing sent), 1,000 half-sent ones (a request head trickled one byte a second: slowloris)
and 1,000 never-read ones (a full GET /metrics sent with a tiny receive window, the answer
never read). Whenever kubepulse closes one of them, the attacker opens another of the same
kind at once, so the flood stays at 3,000 for the whole run.

While that goes on, /healthz, /readyz and /metrics are asked 20 times each and every answer
must be a 200 within 1 s (what a kubelet probe with the default timeoutSeconds: 1 needs).
kubepulse's resident memory must stay bounded (it grows by less than 64 MiB), and the
leader keeps its cycle on time: it still leads, every metric-resolution interval of the
flood has its cycle, none was skipped and no kubelet scrape failed.

The test process raises its own RLIMIT_NOFILE (the replica inherits it) so that the 3,000
connections fit; kubepulse itself bounds what the status server may take of its fds. In the
ASan build the quarantine of freed memory is capped at 16 MiB, so that the memory bound
still measures kubepulse and not the sanitizer's default 256 MiB of freed blocks.

test_metrics_page_as_kubernetes_components: `promtool check metrics` (Debian's prometheus
package) passes on the page of a replica before its first cycle, of the leader and of a
follower; every family is there from the start; process_*, kubepulse_build_info and
client-go's leader_election_master_status{name} are there; the duration histograms count
what the counters count.
"""

from __future__ import annotations

import re
import resource
import select
import shutil
import socket
import subprocess
import threading
import time

import pytest

from kpharness import wait_for
from kpreplicas import KUBEPULSE, World, prom_value

RES = 2.0
FLOOD = {"idle": 1000, "halfsent": 1000, "noread": 1000}
PROBES = 20
PROBE_TIMEOUT = 1.0

pytestmark = pytest.mark.skipif(not KUBEPULSE.exists(), reason=f"{KUBEPULSE} not built")


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}: cannot hold the flood")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class Flood(threading.Thread):
    """Holds FLOOD's connections open against 127.0.0.1:port, reopening any that close."""

    HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: kubepulse\r\nX-Slow: " + b"a" * 4000

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.poll = select.poll()
        self.conns: dict[int, tuple[socket.socket, str, int]] = {}  # fd -> (sock, kind, sent)
        self.stop_evt = threading.Event()
        self.opened = 0
        self.reopened = 0
        self.errors = 0

    def open(self, kind: str) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if kind == "noread":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        except OSError:
            self.errors += 1
            s.close()
            return
        self.conns[s.fileno()] = (s, kind, 0)
        # Connect completion (POLLOUT) for the ones that send; close detection for all.
        self.poll.register(s, select.POLLOUT | select.POLLRDHUP | select.POLLHUP)
        self.opened += 1

    def drop(self, fd: int) -> str:
        s, kind, _ = self.conns.pop(fd)
        self.poll.unregister(fd)
        s.close()
        return kind

    def held(self) -> dict[str, int]:
        out = {k: 0 for k in FLOOD}
        for _, kind, _ in list(self.conns.values()):
            out[kind] += 1
        return out

    def run(self):
        for kind, n in FLOOD.items():
            for _ in range(n):
                self.open(kind)
        next_trickle = time.monotonic() + 1.0
        while not self.stop_evt.is_set():
            for fd, ev in self.poll.poll(100):
                if fd not in self.conns:
                    continue
                s, kind, sent = self.conns[fd]
                if ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
                    self.open(self.drop(fd))
                    self.reopened += 1
                    continue
                if ev & select.POLLOUT:
                    # Connected: send what this kind sends first, then only watch for close.
                    try:
                        if kind == "halfsent":
                            s.send(self.HALF_HEAD[:1])
                            sent = 1
                        elif kind == "noread":
                            s.send(b"GET /metrics HTTP/1.1\r\nHost: kubepulse\r\n\r\n")
                    except OSError:
                        self.open(self.drop(fd))
                        self.reopened += 1
                        continue
                    self.conns[fd] = (s, kind, sent)
                    self.poll.modify(fd, select.POLLRDHUP | select.POLLHUP)
            if time.monotonic() >= next_trickle:
                next_trickle += 1.0
                for fd, (s, kind, sent) in list(self.conns.items()):
                    if kind == "halfsent" and 0 < sent < len(self.HALF_HEAD):
                        try:
                            s.send(self.HALF_HEAD[sent:sent + 1])
                            self.conns[fd] = (s, kind, sent + 1)
                        except OSError:
                            pass
        for fd in list(self.conns):
            self.drop(fd)

    def stop(self):
        self.stop_evt.set()
        self.join(10)


def probe(port: int, path: str) -> tuple[int, float, str]:
    """(HTTP status or 0, seconds, error) of one GET with a 1 s budget for all of it."""
    t0 = time.monotonic()
    phase = "connect"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT) as s:
            phase = "answer"
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: kubepulse\r\nConnection: close\r\n\r\n"
                      .encode())
            data = b""
            while True:
                left = PROBE_TIMEOUT - (time.monotonic() - t0)
                if left <= 0:
                    raise TimeoutError("no complete answer within 1 s")
                s.settimeout(left)
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        took = time.monotonic() - t0
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0
        length = [int(h.split(b":", 1)[1]) for h in head.split(b"\r\n")
                  if h.lower().startswith(b"content-length:")]
        if not length or len(body) != length[0]:
            return 0, took, f"incomplete answer ({len(data)} bytes)"
        return status, took, ""
    except OSError as err:
        return 0, time.monotonic() - t0, f"{phase}: {type(err).__name__}: {err}"


def test_probes_answer_under_connection_flood(cluster, procs, namespace, tmp_path):
    raise_nofile(sum(FLOOD.values()) + 1024)
    world = World(cluster, procs, namespace, tmp_path, res=RES, durations=(8.0, 5.0, 1.0))
    world.env["ASAN_OPTIONS"] += ":quarantine_size_mb=16"
    try:
        world.start_sim(nodes=3, pods=3, register_timeout=300)
        leader = world.start("flood")
        wait_for(leader.leading, timeout=20, what="the replica to lead")
        wait_for(lambda: leader.status()["collector"]["cycles"] >= 2, timeout=6 * RES + 10,
                 what="two cycles")
        before = leader.metrics()
        rss0 = rss_kib(leader.proc.pid)
        t0 = time.monotonic()

        flood = Flood(leader.port)
        flood.start()
        wait_for(lambda: sum(flood.held().values()) >= sum(FLOOD.values()) * 0.95, timeout=30,
                 what="the flood to be open")
        time.sleep(1.0)
        results = []
        peak_rss = rss0
        for i in range(PROBES):
            for path in ("/healthz", "/readyz", "/metrics"):
                results.append((path, *probe(leader.port, path),
                                round(time.monotonic() - t0, 2)))
            peak_rss = max(peak_rss, rss_kib(leader.proc.pid))
            time.sleep(0.25)
        # Hold the flood past the server's timeouts, so that closes and reopens happen too.
        time.sleep(max(0.0, 8.0 - (time.monotonic() - t0)))
        for path in ("/healthz", "/readyz", "/metrics"):
            results.append((path, *probe(leader.port, path), round(time.monotonic() - t0, 2)))
        peak_rss = max(peak_rss, rss_kib(leader.proc.pid))
        held = flood.held()
        flood_s = time.monotonic() - t0
        flood.stop()

        bad = [r for r in results if r[1] != 200 or r[2] > PROBE_TIMEOUT]
        print(f"flood: held {held}, opened {flood.opened}, reopened {flood.reopened}, "
              f"connect errors {flood.errors}; probes {len(results)}, failed {len(bad)}, "
              f"slowest {max(r[2] for r in results):.3f}s; RSS {rss0} -> {peak_rss} KiB")
        assert not bad, f"{len(bad)} of {len(results)} probes failed or were slow: {bad[:10]}"
        assert sum(held.values()) >= sum(FLOOD.values()) * 0.9, held
        assert peak_rss - rss0 < 64 * 1024, f"RSS grew from {rss0} to {peak_rss} KiB"

        after = leader.metrics()
        assert prom_value(after, "kubepulse_is_leader") == 1.0
        cycles = prom_value(after, "kubepulse_scrape_cycles_total") - \
            prom_value(before, "kubepulse_scrape_cycles_total")
        assert cycles >= int(flood_s / RES) - 1, (cycles, flood_s)
        for name in ("kubepulse_scrape_cycles_skipped_total", "kubepulse_leadership_lost_total",
                     "kubepulse_lease_renew_failures_total"):
            assert prom_value(after, name) == prom_value(before, name), name
        failed = sum(float(line.rsplit(" ", 1)[1]) for text in (after,)
                     for line in text.splitlines()
                     if line.startswith("kubepulse_nodes_failed_total{"))
        failed0 = sum(float(line.rsplit(" ", 1)[1]) for line in before.splitlines()
                      if line.startswith("kubepulse_nodes_failed_total{"))
        assert failed == failed0, f"kubelet scrapes failed during the flood: {failed - failed0}"
        world.assert_none_died()
        world.check_sanitizers()
    finally:
        world.cleanup()


def families(text: str) -> dict[str, str]:
    """{family: type} from the page's # TYPE lines."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M)}


def promtool_check(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: tests/infra/install-deps.sh installs Debian's prometheus"
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, f"promtool check metrics: {proc.stdout}{proc.stderr}"


def test_metrics_page_as_kubernetes_components(cluster, procs, namespace, tmp_path):
    """/metrics passes promtool's checks and lint, has every family with zero values from
    the start, the process_* family, client-go's leader_election_master_status and
    histograms that count what the counters count."""
    world = World(cluster, procs, namespace, tmp_path, res=RES, durations=(8.0, 5.0, 1.0))
    try:
        world.start_sim(nodes=3, pods=3, register_timeout=300)
        leader = world.start("metrics")
        code, first = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
            leader.get("/metrics")), timeout=20, what="the first /metrics")
        promtool_check(first)
        wait_for(leader.leading, timeout=20, what="the replica to lead")
        follower = world.start("follower")
        wait_for(lambda: leader.status()["collector"]["cycles"] >= 3, timeout=8 * RES + 10,
                 what="three cycles")
        wait_for(lambda: follower.get("/readyz")[0] == 200, timeout=20, what="follower ready")
        text = leader.metrics()
        promtool_check(text)
        ftext = follower.metrics()
        promtool_check(ftext)

        # Every family exists from the start, with the same type, on leader and follower.
        start, now = families(first), families(text)
        assert start == now, (set(start) ^ set(now))
        assert families(ftext) == now
        for name, kind in {
            "process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge",
            "process_virtual_memory_bytes": "gauge", "process_open_fds": "gauge",
            "process_max_fds": "gauge", "process_start_time_seconds": "gauge",
            "kubepulse_build_info": "gauge", "leader_election_master_status": "gauge",
            "kubepulse_scrape_duration_seconds": "histogram",
            "kubepulse_scrape_cycle_duration_seconds": "histogram",
            "kubepulse_sink_write_duration_seconds": "histogram",
            "kubepulse_lease_renew_duration_seconds": "histogram",
            "kubepulse_sink_sent_bytes_total": "counter",
            "kubepulse_scrape_received_bytes_total": "counter",
        }.items():
            assert now.get(name) == kind, (name, now.get(name))
        for old in ("kubepulse_sink_bytes_sent_total", "kubepulse_scrape_bytes_total",
                    "kubepulse_sink_latency_seconds", "kubepulse_lease_renew_latency_seconds"):
            assert old not in now
        # Zero values, not absent ones: the follower has never scraped nor written.
        assert prom_value(ftext, "kubepulse_scrape_duration_seconds_count") == 0
        assert prom_value(ftext, "kubepulse_scrape_duration_seconds_bucket", 'le="+Inf"') == 0
        assert prom_value(ftext, "kubepulse_nodes_failed_total", 'reason="timeout"') == 0
        assert prom_value(ftext, "kubepulse_sink_sent_bytes_total", "sink=") == 0

        lease = 'name="kubepulse"'
        assert prom_value(text, "leader_election_master_status", lease) == 1
        assert prom_value(ftext, "leader_election_master_status", lease) == 0

        # process_*: the values /proc gives for the same process.
        pid = leader.proc.pid
        assert abs(prom_value(text, "process_start_time_seconds") - time.time()) < 120
        assert prom_value(text, "process_open_fds") >= 5
        assert prom_value(text, "process_max_fds") == \
            float(open(f"/proc/{pid}/limits").read().split("Max open files")[1].split()[0])
        rss = prom_value(text, "process_resident_memory_bytes")
        assert 0.5 < rss / (rss_kib(pid) * 1024) < 2, rss
        assert prom_value(text, "process_cpu_seconds_total") > 0

        # Histograms count what the counters count.
        cycles = prom_value(text, "kubepulse_scrape_cycles_total")
        assert prom_value(text, "kubepulse_scrape_cycle_duration_seconds_count") == cycles
        assert prom_value(text, "kubepulse_scrape_cycle_duration_seconds_bucket",
                          'le="+Inf"') == cycles
        scrapes = prom_value(text, "kubepulse_nodes_scraped_total")
        assert scrapes >= 3 * 3
        assert prom_value(text, "kubepulse_scrape_duration_seconds_count") >= scrapes
        sink = f'sink="influxdb:{cluster.influx_url}'
        assert prom_value(text, "kubepulse_sink_write_duration_seconds_count", sink) == \
            prom_value(text, "kubepulse_sink_requests_total", sink) > 0
        assert prom_value(text, "kubepulse_sink_sent_bytes_total", sink) > 0
        assert prom_value(text, "kubepulse_lease_renew_duration_seconds_count") >= 2
        world.assert_none_died()
        world.check_sanitizers()
    finally:
        world.cleanup()
