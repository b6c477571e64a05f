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

Timing: --metric-resolution=5s instead of the default 15s so that ~30 intervals fit in about
three minutes; election durations 8s/5s/1s (client-go's 15s/10s/2s would only lengthen the
SIGKILL window). The simulator samples every 5s too, so each interval has exactly one sample.
10 nodes x 10 pods keeps InfluxDB's load moderate on a busy 2-core machine.
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

import pytest

from kpharness import REPO_ROOT, wait_for

BUILD_DIR = Path(os.environ.get("KP_BUILD_DIR", REPO_ROOT / "build"))
KUBEPULSE = BUILD_DIR / "src" / "kubepulse"
RES = 5.0                      # --metric-resolution
LD, RD, RP = 8.0, 5.0, 1.0     # --lease-duration, --renew-deadline, --retry-period
NODES, PODS = 10, 10

pytestmark = pytest.mark.skipif(not KUBEPULSE.exists(), reason=f"{KUBEPULSE} not built")

# The chart's RBAC (charts/kubepulse/templates/clusterrole.yaml, role.yaml), per resource.
CLUSTER_RULES = ["list,watch:nodes", "get:nodes/stats", "list,watch:pods,namespaces"]
NS_RULES = ["get,list,watch,create,update:leases.coordination.k8s.io", "create:events"]

INFLUX_WRITE = re.compile(
    r'\[httpd\] \S+ - \S+ \[[^\]]+\] "POST /write\?([^ "]*) HTTP/[\d.]+" (\d+) \d+ "[^"]*" '
    r'"([^"]*)" ([0-9a-f-]{36}) (\d+)')
UA = re.compile(r"^kubepulse/\S+ \(identity=([^)]+)\)$")
UUID_EPOCH = 0x01B21DD213814000  # 100-ns ticks from 1582-10-15 to 1970-01-01


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_addr_base() -> str:
    """A loopback /24 whose .1-.N have nothing on :10250 (other simulators may be running)."""
    for second in [60 + (os.getpid() + i) % 150 for i in range(40)]:
        ok = True
        for host in range(1, NODES + 1):
            with socket.socket() as s:
                try:
                    s.bind((f"127.{second}.0.{host}", 10250))
                except OSError:
                    ok = False
                    break
        if ok:
            return f"127.{second}.0.1"
    raise AssertionError("no free loopback range for the simulator")


def http_get(port: int, path: str, timeout: float = 3.0):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError as err:  # not listening yet, or gone
        return 0, str(err)


def prom_value(text: str, name: str, labels: str | None = None) -> float | None:
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", line)
        if m and m.group(1) == name and (labels is None or labels in (m.group(2) or "")):
            return float(m.group(3))
    return None


def start_proc(procs, name, argv):
    """procs.start, and a log() that reads only what this process wrote (logs are appended to
    across runs on a kept cluster)."""
    path = procs.log_dir / f"{name}.log"
    offset = path.stat().st_size if path.exists() else 0
    proc = procs.start(name, argv)

    def own_log():
        with open(proc.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    proc.log = own_log
    return proc


class Replica:
    """One kubepulse process (one identity: a restarted replica gets a new one, like a pod)."""

    def __init__(self, world, identity: str, argv: list[str]):
        self.world, self.identity, self.port = world, identity, free_port()
        self.proc = start_proc(world.procs, identity, [*argv, f"--identity={identity}",
                                                         f"--listen=127.0.0.1:{self.port}"])
        self.killed_at: float | None = None
        self.signalled_at: float | None = None

    def alive(self):
        return self.proc.alive()

    def get(self, path):
        return http_get(self.port, path)

    def status(self):
        code, body = self.get("/status")
        if code == 0:
            raise OSError(body)
        assert code == 200, (self.identity, code, body)
        return json.loads(body)

    def try_status(self):
        try:
            return self.status()
        except (OSError, AssertionError, ValueError):
            return None

    def leading(self) -> bool:
        s = self.try_status()
        return bool(s and s["leading"])

    def events(self) -> list[dict]:
        out = []
        for line in self.proc.log().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def lead_intervals(self) -> list[tuple[float, float]]:
        """[(start, end)] wall times from the log; a SIGKILLed leader ends at its kill."""
        res, start = [], None
        for ev in self.events():
            if ev["msg"] == "became leader":
                start = ev["ts"]
            elif ev["msg"] == "stopped leading" and start is not None:
                res.append((start, ev["ts"]))
                start = None
        if start is not None:
            end = self.killed_at if self.killed_at else (math.inf if self.alive() else None)
            assert end is not None, f"{self.identity} exited while leading without a log line"
            res.append((start, end))
        return res

    def exit_time(self) -> float | None:
        for ev in self.events():
            if ev["msg"] == "kubepulse stopped":
                return ev["ts"]
        return self.killed_at

    def signal(self, sig) -> float:
        t = time.time()
        if sig == signal.SIGKILL:
            self.killed_at = t
        self.signalled_at = t
        self.proc.send(sig)
        return t


class StatusPoller(threading.Thread):
    """Polls /status of every live replica every 0.2 s: who says it leads, and when."""

    def __init__(self, world):
        super().__init__(daemon=True)
        self.world = world
        self.samples: list[tuple[float, str, bool, str]] = []  # (wall, identity, leading, holder)
        self.stop_evt = threading.Event()

    def run(self):
        while not self.stop_evt.is_set():
            for r in list(self.world.replicas):
                if not r.alive():
                    continue
                t0 = time.time()
                s = r.try_status()
                if s is not None:
                    self.samples.append((t0, r.identity, bool(s["leading"]), s["holder"]))
            self.stop_evt.wait(0.2)

    def intervals(self) -> dict[str, list[tuple[float, float]]]:
        """Per identity, [first, last] times seen leading in a row: inside the true intervals."""
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
    flat = sorted((s, e, ident) for ident, ivs in intervals.items() for s, e in ivs)
    for (s1, e1, n1), (s2, e2, n2) in zip(flat, flat[1:]):
        assert e1 <= s2, f"{what}: {n1} led until {e1:.6f} but {n2} began at {s2:.6f}"
    return flat


class World:
    """The kubelet simulator, a least-privilege ServiceAccount and the replicas."""

    def __init__(self, cluster, procs, namespace, tmp_path, sink_extra="", extra_args=(),
                 influx_url=None):
        self.cluster, self.procs, self.ns, self.tmp = cluster, procs, namespace, tmp_path
        self.replicas: list[Replica] = []
        self.db = "k8s_" + uuid.uuid4().hex[:8]
        self.n = 0
        self.token = cluster.mint_token("kubepulse", namespace, rules=NS_RULES,
                                        cluster_rules=CLUSTER_RULES, duration="2h")
        self.token_file = tmp_path / "token"
        self.token_file.write_text(self.token)
        self.token_file.chmod(0o600)
        self.kubeconfig = tmp_path / "kubepulse.kubeconfig"
        self.kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{cluster.apiserver}", certificate-authority: "{cluster.ca_cert}"}}
users:
- name: u
  user: {{tokenFile: "{self.token_file}"}}
contexts:
- name: c
  context: {{cluster: c, user: u, namespace: {namespace}}}
current-context: c
""")
        self.kubeconfig.chmod(0o600)
        self.sink = f"influxdb:{influx_url or cluster.influx_url}?db={self.db}{sink_extra}"
        self.extra_args = list(extra_args)
        self.influx_log = cluster.log_path("influx")
        self.influx_offset = self.influx_log.stat().st_size if self.influx_log.exists() else 0

    def start_sim(self, nodes=NODES, pods=PODS):
        sim = subprocess.run([str(REPO_ROOT / "tests" / "sim" / "build.sh")], check=True,
                             capture_output=True, text=True, timeout=900).stdout.strip()
        self.sim = start_proc(self.procs, "kubeletsim", [
            sim, "-nodes", str(nodes), "-pods", str(pods), "-ca-cert", self.cluster.ca_cert,
            "-ca-key", self.cluster.ca_key, "-token-file", str(self.token_file),
            "-addr-base", free_addr_base(), "-sample-interval", f"{int(RES)}s",
            "-node-prefix", f"{self.db.replace('_', '-')}-",
            "-control", "127.0.0.1:0"])
        line = wait_for(lambda: re.search(r"kubeletsim ready .*control=(\S+)", self.sim.log()),
                        timeout=60, what="kubeletsim ready")
        control = line.group(1)
        env = {**os.environ, "KP_KUBECTL": self.cluster.kubectl_bin,
               "KP_KUBECONFIG": self.cluster.kubeconfig}
        reg = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "sim" / "register.py"),
                              "--control", control], env=env, timeout=300, capture_output=True,
                             text=True)
        assert reg.returncode == 0, reg.stderr
        raw = urllib.request.urlopen(f"http://{control}/manifest", timeout=60).read()
        self.manifest = json.loads(raw)
        self.manifest_file = self.tmp / "manifest.json"
        self.manifest_file.write_bytes(raw)

    def cleanup(self):
        """Remove the simulated nodes and pods, so later tests on this cluster do not scrape
        addresses that are gone."""
        if getattr(self, "manifest_file", None):
            env = {**os.environ, "KP_KUBECTL": self.cluster.kubectl_bin,
                   "KP_KUBECONFIG": self.cluster.kubeconfig}
            subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "sim" / "register.py"),
                            "--manifest", str(self.manifest_file), "--delete"], env=env,
                           timeout=300, capture_output=True)

    def argv(self, log_format="json", sink=None, extra=()):
        return [str(KUBEPULSE), f"--kubeconfig={self.kubeconfig}", f"--lease-namespace={self.ns}",
                f"--metric-resolution={int(RES)}s", f"--lease-duration={int(LD)}s",
                f"--renew-deadline={int(RD)}s", f"--retry-period={int(RP)}s",
                f"--kubelet-timeout={int(RES) - 1}s",
                f"--sink={sink or self.sink}", f"--log-format={log_format}", *self.extra_args, *extra]

    def start(self, base: str, log_format="json", sink=None, extra=()) -> Replica:
        self.n += 1
        r = Replica(self, f"{base}-{self.n}", self.argv(log_format, sink, extra))
        self.replicas.append(r)
        return r

    def assert_none_died(self):
        for r in self.replicas:
            assert r.alive() or r.signalled_at, f"{r.identity} exited:\n{r.proc.log()[-2000:]}"

    def live(self):
        return [r for r in self.replicas if r.alive()]

    def leader(self, timeout=15.0, exclude=None) -> Replica:
        def one():
            self.assert_none_died()
            ls = [r for r in self.live() if r is not exclude and r.leading()]
            return ls[0] if len(ls) == 1 else None
        return wait_for(one, timeout=timeout, interval=0.05, what="exactly one leader")

    def lease(self):
        return json.loads(self.cluster.kubectl("get", "lease", "kubepulse", "-n", self.ns,
                                               "-o", "json").stdout)["spec"]

    def influx_writes(self) -> list[tuple[float, str, int]]:
        """(arrival wall time, identity, HTTP status) of every write to our database."""
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
            assert u.version == 1, rid
            out.append(((u.time - UUID_EPOCH) / 1e7, ua.group(1), code))
        return out

    def series_points(self, measurement: str, where: str, group: str, t0: float, t1: float):
        """{tags tuple: [timestamps]} for one measurement in [t0, t1)."""
        q = (f'SELECT value FROM "{measurement}" WHERE {where} AND time >= {int(t0 * 1e9)} '
             f'AND time < {int(t1 * 1e9)} GROUP BY {group}')
        res = self.cluster.influx_query(q, self.db, epoch="ns")
        out = {}
        for series in res["results"][0].get("series", []):
            key = tuple(sorted((series.get("tags") or {}).items()))
            out[key] = [v[0] / 1e9 for v in series["values"]]
        return out


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
    before = leader.status()["collector"]["cycles"]
    run_intervals(4)
    assert leader.status()["collector"]["cycles"] >= before + 4
    check_endpoints(world, leader)
    k_last = interval_of(time.time()) - 1  # the last complete interval
    t_end = time.time()
    time.sleep(1.0)  # let the last writes land
    poller.stop_evt.set()
    poller.join(5)
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
