"""chaoslib - what the chaos tests (tests/integration/test_chaos_*.py) share: kubepulse
replicas against the real servers of tests/infra and the kubelet simulator, a partitionable
TCP proxy per replica (tcpproxy.py), leadership intervals, InfluxDB's own request log, and
sanitizer checks of the replicas' logs.

Clocks: kubepulse's JSON log lines carry the wall clock ("ts"); everything here compares
wall times taken on this one host. The election tests (test_election.py) use
CLOCK_MONOTONIC lines of kp-elector-example and the Go elector; ``wall_to_mono`` converts
when a test mixes both.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from kpharness import REPO_ROOT, wait_for

CHAOS_DIR = REPO_ROOT / "tests" / "chaos"
BUILD_DIR = Path(os.environ.get("KP_BUILD_DIR", REPO_ROOT / "build"))
KUBEPULSE = BUILD_DIR / "src" / "kubepulse"
LONG = os.environ.get("KP_LONG_TESTS") == "1"

# The chart's RBAC (charts/kubepulse/templates/clusterrole.yaml, role.yaml).
CLUSTER_RULES = ["get,list,watch:nodes", "get:nodes/stats", "list,watch:pods,namespaces"]
NS_RULES = ["get,list,watch,create,update,patch:leases.coordination.k8s.io",
            "create,patch:events,events.events.k8s.io"]

INFLUX_WRITE = re.compile(
    r'\[httpd\] \S+ - \S+ \[[^\]]+\] "POST /write\?([^ "]*) HTTP/[\d.]+" (\d+) \d+ "[^"]*" '
    r'"([^"]*)" ([0-9a-f-]{36}) (\d+)')
UA = re.compile(r"^kubepulse/\S+ \(identity=([^)]+)\)$")
UUID_EPOCH = 0x01B21DD213814000  # 100-ns ticks from 1582-10-15 to 1970-01-01
SANITIZER = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|"
                       r"SUMMARY: UndefinedBehaviorSanitizer")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def mono() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def wall_to_mono(t: float) -> float:
    return t - (time.time() - mono())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_addr_base(nodes: int) -> str:
    """A loopback /24 (second octet 60-209) whose .1-.N have nothing on :10250."""
    for second in [60 + (os.getpid() * 7 + i) % 150 for i in range(60)]:
        ok = True
        for host in range(1, min(nodes, 254) + 1):
            with socket.socket() as s:
                try:
                    s.bind((f"127.{second}.0.{host}", 10250))
                except OSError:
                    ok = False
                    break
        if ok:
            return f"127.{second}.0.1"
    raise AssertionError("no free loopback range for the simulator")


def http(method: str, url: str, timeout: float = 3.0):
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def prom_value(text: str, name: str, labels: str | None = None) -> float | None:
    """The first sample of ``name`` whose label set contains ``labels`` (a substring)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", line)
        if m and m.group(1) == name and (labels is None or labels in (m.group(2) or "")):
            return float(m.group(3))
    return None


def start_proc(procs, name: str, argv: list, **kw):
    """procs.start, with ``.text()`` reading only what this run wrote: logs are appended
    to across runs on a kept cluster."""
    path = procs.log_dir / f"{name}.log"
    offset = path.stat().st_size if path.exists() else 0
    proc = procs.start(name, argv, **kw)

    def text():
        with open(proc.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    proc.text = text
    return proc


def sanitizer_reports(text: str) -> list[str]:
    return [l for l in text.splitlines() if SANITIZER.search(l)]


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


class Replica:
    """One kubepulse process; a restarted replica gets a new identity, like a pod."""

    def __init__(self, world, identity: str, argv: list[str]):
        self.world, self.identity, self.port = world, identity, free_port()
        self.proc = start_proc(world.procs, identity, [*argv, f"--identity={identity}",
                                                       f"--listen=127.0.0.1:{self.port}"],
                               extra_env=world.env)
        self.killed_at: float | None = None      # wall time of a SIGKILL
        self.stopped_at: float | None = None     # wall time of a SIGSTOP (while not resumed)
        self.deadline_bound: list[float] = []    # wall bounds of SIGSTOPped leadership
        self.signalled_term = False              # stopped on purpose (soak.py)

    def alive(self) -> bool:
        return self.proc.alive()

    def get(self, path: str, timeout: float = 3.0):
        return http("GET", f"http://127.0.0.1:{self.port}{path}", timeout=timeout)

    def status(self) -> dict | None:
        try:
            code, body = self.get("/status")
            return json.loads(body) if code == 200 else None
        except (OSError, ValueError):
            return None

    def metrics(self) -> str:
        code, body = self.get("/metrics")
        assert code == 200, (self.identity, code)
        return body

    def leading(self) -> bool:
        s = self.status()
        return bool(s and s["leading"])

    def events(self) -> list[dict]:
        out = []
        for line in self.proc.text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def lead_intervals(self) -> list[tuple[float, float]]:
        """[(start, end)] wall times from the log ("became leader" / "stopped leading").
        A leader SIGKILLed ends at the kill; one SIGSTOPped ends at the latest its renew
        deadline can be (stop time + renew deadline) if that comes before its log line."""
        res, start = [], None
        bounds = list(self.deadline_bound)
        for ev in self.events():
            if ev["msg"] == "became leader":
                start = ev["ts"]
            elif ev["msg"] == "stopped leading" and start is not None:
                end = ev["ts"]
                for b in bounds:
                    if start <= b <= end:
                        end = b
                res.append((start, end))
                start = None
        if start is not None:
            end = self.killed_at if self.killed_at else (math.inf if self.alive() else None)
            for b in bounds:
                if b >= start:
                    end = min(end, b)
            assert end is not None, f"{self.identity} exited while leading without a log line"
            res.append((start, end))
        return res

    def signal(self, sig) -> float:
        t = time.time()
        if sig == signal.SIGKILL:
            self.killed_at = t
        elif sig == signal.SIGSTOP:
            self.stopped_at = t
            self.deadline_bound.append(t + self.world.rd)
        self.proc.send(sig)
        return t

    def sanitizer_reports(self) -> list[str]:
        return sanitizer_reports(self.proc.text())


class StatusPoller(threading.Thread):
    """Polls /status of every live replica every 0.2 s: who says it leads, and when."""

    def __init__(self, world):
        super().__init__(daemon=True)
        self.world = world
        self.samples: list[tuple[float, str, bool, str]] = []  # (wall, id, leading, holder)
        self.stop_evt = threading.Event()

    def run(self):
        while not self.stop_evt.is_set():
            for r in list(self.world.replicas):
                if not r.alive() or r.stopped_at:
                    continue
                t0 = time.time()
                s = r.status()
                if s is not None:
                    self.samples.append((t0, r.identity, bool(s["leading"]), s["holder"]))
            self.stop_evt.wait(0.2)

    def stop(self):
        self.stop_evt.set()
        self.join(5)

    def intervals(self) -> dict[str, list[tuple[float, float]]]:
        """Per identity, [first, last] times seen leading in a row: inside the true ones."""
        out: dict[str, list[list[float]]] = {}
        cur: dict[str, list[float] | None] = {}
        for t, ident, leading, _ in sorted(self.samples):
            if leading:
                if cur.get(ident) is None:
                    cur[ident] = [t, t]
                    out.setdefault(ident, []).append(cur[ident])
                else:
                    cur[ident][1] = t
            else:
                cur[ident] = None
        return {k: [tuple(v) for v in vs] for k, vs in out.items()}


def assert_no_overlap(intervals: dict[str, list[tuple[float, float]]], what: str):
    """No two leadership intervals (of any identities) overlap; returns them sorted."""
    flat = sorted((s, e, ident) for ident, ivs in intervals.items() for s, e in ivs)
    for (s1, e1, n1), (s2, e2, n2) in zip(flat, flat[1:]):
        assert e1 <= s2, f"{what}: {n1} led until {e1:.6f} but {n2} began at {s2:.6f}"
    return flat


class World:
    """Simulator, a least-privilege ServiceAccount, kubepulse replicas, optional proxies."""

    def __init__(self, cluster, procs, namespace, tmp_path, res=2.0, durations=(4.0, 3.0, 1.0),
                 extra_args=(), sink_extra="", share_sim_with: "World | None" = None):
        self.cluster, self.procs, self.ns, self.tmp = cluster, procs, namespace, tmp_path
        self.res = res
        self.ld, self.rd, self.rp = durations
        self.replicas: list[Replica] = []
        self.proxies: dict[str, TcpProxy] = {}
        self.n = 0
        self.db = "k8s_" + uuid.uuid4().hex[:8]
        self.env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
                    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
        if share_sim_with is not None:
            # Same ServiceAccount token (the simulator checks it), another database.
            self.token_file = share_sim_with.token_file
        else:
            token = cluster.mint_token("kubepulse", namespace, rules=NS_RULES,
                                       cluster_rules=CLUSTER_RULES, duration="2h")
            self.token_file = tmp_path / "token"
            self.token_file.write_text(token)
            self.token_file.chmod(0o600)
        self.sink = f"influxdb:{cluster.influx_url}?db={self.db}{sink_extra}"
        self.extra_args = list(extra_args)
        self.influx_log = cluster.log_path("influx")
        self.influx_offset = self.influx_log.stat().st_size if self.influx_log.exists() else 0
        self.sim = None

    def kubeconfig(self, server: str | None = None) -> Path:
        server = server or self.cluster.apiserver
        path = self.tmp / f"kubeconfig-{self.db}-{re.sub(r'[^0-9A-Za-z]+', '_', server)}"
        path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{server}", certificate-authority: "{self.cluster.ca_cert}"}}
users:
- name: u
  user: {{tokenFile: "{self.token_file}"}}
contexts:
- name: c
  context: {{cluster: c, user: u, namespace: {self.ns}}}
current-context: c
""")
        path.chmod(0o600)
        return path

    def start_sim(self, nodes=5, pods=5):
        sim = subprocess.run([str(REPO_ROOT / "tests" / "sim" / "build.sh")], check=True,
                             capture_output=True, text=True, timeout=900).stdout.strip()
        self.sim = start_proc(self.procs, "kubeletsim", [
            sim, "-nodes", str(nodes), "-pods", str(pods), "-ca-cert", self.cluster.ca_cert,
            "-ca-key", self.cluster.ca_key, "-token-file", str(self.token_file),
            "-addr-base", free_addr_base(nodes), "-sample-interval", f"{int(self.res)}s",
            "-control", "127.0.0.1:0"])
        m = wait_for(lambda: re.search(r"kubeletsim ready .*control=(\S+)", self.sim.text()),
                     timeout=60, what="kubeletsim ready")
        self.sim_control = m.group(1)
        env = {**os.environ, "KP_KUBECTL": self.cluster.kubectl_bin,
               "KP_KUBECONFIG": self.cluster.kubeconfig}
        reg = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "sim" / "register.py"),
                              "--control", self.sim_control], env=env, timeout=600,
                             capture_output=True, text=True)
        assert reg.returncode == 0, f"register.py failed: {reg.stderr[-2000:]}"
        self.nodes, self.pods = nodes, pods

    def argv(self, kubeconfig: Path) -> list[str]:
        return [str(KUBEPULSE), f"--kubeconfig={kubeconfig}", f"--lease-namespace={self.ns}",
                f"--metric-resolution={int(self.res)}s", f"--lease-duration={int(self.ld)}s",
                f"--renew-deadline={int(self.rd)}s", f"--retry-period={int(self.rp)}s",
                f"--kubelet-timeout={max(1, int(self.res) - 1)}s",
                f"--sink={self.sink}", "--log-format=json", *self.extra_args]

    def start(self, base: str, proxied: bool = False, extra_args=()) -> Replica:
        self.n += 1
        ident = f"{base}-{self.n}"
        server = None
        if proxied:
            target = self.cluster.apiserver.split("://", 1)[1]
            proxy = TcpProxy(self.procs, f"proxy-{ident}", target)
            self.proxies[ident] = proxy
            server = f"https://{proxy.listen}"
        r = Replica(self, ident, [*self.argv(self.kubeconfig(server)), *extra_args])
        self.replicas.append(r)
        return r

    def live(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive()]

    def leader(self, timeout=15.0, exclude=None) -> Replica:
        def one():
            ls = [r for r in self.live() if r is not exclude and not r.stopped_at
                  and r.leading()]
            return ls[0] if len(ls) == 1 else None
        return wait_for(one, timeout=timeout, interval=0.05, what="exactly one leader")

    def leaders(self) -> list[Replica]:
        return [r for r in self.live() if not r.stopped_at and r.leading()]

    def lease(self) -> dict:
        return json.loads(self.cluster.kubectl("get", "lease", "kubepulse", "-n", self.ns,
                                               "-o", "json").stdout)["spec"]

    # -- InfluxDB -------------------------------------------------------------------------

    def influx_writes(self) -> list[tuple[float, str, int]]:
        """(arrival wall time, identity, HTTP status) of every write to our database, from
        InfluxDB's HTTP log: the User-Agent names the replica, the v1 request UUID stamps
        the arrival to 100 ns."""
        with open(self.influx_log, "rb") as f:
            f.seek(self.influx_offset)
            text = f.read().decode(errors="replace")
        out = []
        for m in INFLUX_WRITE.finditer(text):
            query, code, agent, rid = m.group(1), int(m.group(2)), m.group(3), m.group(4)
            if f"db={self.db}" not in query.split("&"):
                continue
            ua = UA.match(agent)
            assert ua, f"write to {self.db} with User-Agent {agent!r}"
            u = uuid.UUID(rid)
            out.append(((u.time - UUID_EPOCH) / 1e7, ua.group(1), code))
        return out

    def influx_count(self, t0: float | None = None) -> int:
        """Points stored in our database (every field is "value"), from time t0 on."""
        where = f" WHERE time >= {int(t0 * 1e9)}" if t0 else ""
        rows = self.cluster.influx_rows(f'SELECT count(value) FROM /.*/{where}', self.db,
                                        timeout=60)
        return int(sum(r.get("count", 0) for r in rows))

    def influx_latest(self) -> float | None:
        """Timestamp (wall s) of the newest node point in our database."""
        rows = self.cluster.influx_rows(
            "SELECT last(value) FROM \"cpu/usage_rate\" WHERE type = 'node'", self.db,
            epoch="ns")
        return rows[0]["time"] / 1e9 if rows else None

    def check_sanitizers(self):
        bad = {r.identity: r.sanitizer_reports()[:5] for r in self.replicas}
        bad = {k: v for k, v in bad.items() if v}
        assert not bad, f"sanitizer reports: {bad}"


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
