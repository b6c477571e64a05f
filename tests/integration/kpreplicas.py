# SPDX-License-Identifier: Apache-2.0
"""kpreplicas - kubepulse replicas against the real servers of tests/infra and the kubelet
simulator (tests/sim), for the tests that run the daemon itself: test_ha_e2e.py,
test_security.py and the chaos tests (tests/chaos/chaoslib.py builds on this module).

A World is one run: a least-privilege ServiceAccount (exactly the chart's RBAC), the
simulator with its nodes registered, an InfluxDB database of its own and the replicas. It
also reads leadership intervals from the replicas' logs and /status, every write InfluxDB
logged, and sanitizer reports.

Clocks: kubepulse's JSON log lines carry the wall clock ("ts", in milliseconds as
component-base writes it; ``Replica.events`` turns it into seconds); everything here compares
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

BUILD_DIR = Path(os.environ.get("KP_BUILD_DIR", REPO_ROOT / "build"))
KUBEPULSE = BUILD_DIR / "src" / "kubepulse"

# The chart's RBAC (charts/kubepulse/templates/clusterrole.yaml, role.yaml), per resource.
CLUSTER_RULES = ["list,watch:nodes", "get:nodes/stats", "list,watch:pods,namespaces"]
NS_RULES = ["get,list,watch,create,update:leases.coordination.k8s.io", "create:events"]

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
    """A loopback /24 (second octet 60-209) whose .1-.N have nothing on :10250 (other
    simulators may be running)."""
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
    """(status, body); raises OSError when nothing answers."""
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def http_get(port: int, path: str, timeout: float = 3.0):
    """GET on 127.0.0.1:port: (status, body), or (0, error) when not listening (yet, or
    any more)."""
    try:
        return http("GET", f"http://127.0.0.1:{port}{path}", timeout=timeout)
    except OSError as err:
        return 0, str(err)


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
    return [line for line in text.splitlines() if SANITIZER.search(line)]


class Replica:
    """One kubepulse process; a restarted replica gets a new identity, like a pod."""

    # The status server's address; a subclass running elsewhere (netns.py) overrides it.
    host = "127.0.0.1"

    def wrap_argv(self, argv: list[str]) -> list[str]:
        """The command that runs argv (a subclass may run it in a namespace)."""
        return argv

    def __init__(self, world, identity: str, argv: list[str]):
        self.world, self.identity, self.port = world, identity, free_port()
        self.proc = start_proc(world.procs, identity,
                               self.wrap_argv([*argv, f"--identity={identity}",
                                               f"--listen={self.host}:{self.port}"]),
                               extra_env=world.env)
        self.killed_at: float | None = None      # wall time of a SIGKILL
        self.signalled_at: float | None = None   # wall time of the last signal sent
        self.stopped_at: float | None = None     # wall time of a SIGSTOP (while not resumed)
        self.deadline_bound: list[float] = []    # wall bounds of SIGSTOPped leadership
        self.signalled_term = False              # stopped on purpose (soak.py)

    def alive(self) -> bool:
        return self.proc.alive()

    def get(self, path: str, timeout: float = 3.0):
        return http_get(self.port, path, timeout=timeout)

    def status(self) -> dict:
        """/status; raises OSError when nothing answers, AssertionError unless 200."""
        code, body = self.get("/status")
        if code == 0:
            raise OSError(body)
        assert code == 200, (self.identity, code, body)
        return json.loads(body)

    def try_status(self) -> dict | None:
        try:
            return self.status()
        except (OSError, AssertionError, ValueError):
            return None

    def metrics(self) -> str:
        code, body = self.get("/metrics")
        assert code == 200, (self.identity, code)
        return body

    def leading(self) -> bool:
        s = self.try_status()
        return bool(s and s["leading"])

    def events(self) -> list[dict]:
        out = []
        for line in self.proc.text().splitlines():
            if line.startswith("{"):
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                ev["ts"] = ev["ts"] / 1000.0  # milliseconds in the log
                out.append(ev)
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

    def exit_time(self) -> float | None:
        for ev in self.events():
            if ev["msg"] == "kubepulse stopped":
                return ev["ts"]
        return self.killed_at

    def signal(self, sig) -> float:
        t = time.time()
        if sig == signal.SIGKILL:
            self.killed_at = t
        elif sig == signal.SIGSTOP:
            self.stopped_at = t
            self.deadline_bound.append(t + self.world.rd)
        self.signalled_at = t
        self.proc.send(sig)
        return t

    def sanitizer_reports(self) -> list[str]:
        return sanitizer_reports(self.proc.text())


class StatusPoller(threading.Thread):
    """Polls /status of every live, running replica every 0.2 s: who says it leads, and
    when."""

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
                s = r.try_status()
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


def _register_env(cluster) -> dict:
    return {**os.environ, "KP_KUBECTL": cluster.kubectl_bin,
            "KP_KUBECONFIG": cluster.kubeconfig}


class World:
    """The kubelet simulator, a least-privilege ServiceAccount and the replicas.

    ``res`` is --metric-resolution (and the simulator's sample interval), ``durations`` the
    election's (lease duration, renew deadline, retry period), all in seconds. A World
    given ``share_sim_with`` uses that one's token (the simulator checks it) and another
    database; only the World that started the simulator removes its nodes (``cleanup``).
    """

    def __init__(self, cluster, procs, namespace, tmp_path, res=2.0, durations=(4.0, 3.0, 1.0),
                 extra_args=(), sink_extra="", share_sim_with: "World | None" = None,
                 influx_url: str | None = None):
        self.cluster, self.procs, self.ns, self.tmp = cluster, procs, namespace, tmp_path
        self.res = res
        self.ld, self.rd, self.rp = durations
        self.replicas: list[Replica] = []
        self.n = 0
        self.db = "k8s_" + uuid.uuid4().hex[:8]
        self.env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
                    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
        if share_sim_with is not None:
            self.token, self.token_file = share_sim_with.token, share_sim_with.token_file
        else:
            self.token = cluster.mint_token("kubepulse", namespace, rules=NS_RULES,
                                            cluster_rules=CLUSTER_RULES, duration="2h")
            self.token_file = tmp_path / "token"
            self.token_file.write_text(self.token)
            self.token_file.chmod(0o600)
        self.sink = f"influxdb:{influx_url or cluster.influx_url}?db={self.db}{sink_extra}"
        self.extra_args = list(extra_args)
        self.influx_log = cluster.log_path("influx")
        self.influx_offset = self.influx_log.stat().st_size if self.influx_log.exists() else 0
        self.sim = None
        self.manifest_file: Path | None = None

    def kubeconfig(self, server: str | None = None) -> Path:
        server = server or self.cluster.apiserver
        path = self.tmp / f"kubeconfig-{self.db}-{re.sub(r'[^0-9A-Za-z]+', '_', server)}"
        return self.cluster.write_kubeconfig(path, {"tokenFile": str(self.token_file)},
                                             server=server, namespace=self.ns)

    def start_sim(self, nodes=5, pods=5, register_timeout=600.0):
        """The simulator, its nodes named after our database, registered in the cluster."""
        sim = subprocess.run([str(REPO_ROOT / "tests" / "sim" / "build.sh")], check=True,
                             capture_output=True, text=True, timeout=900).stdout.strip()
        self.sim = start_proc(self.procs, "kubeletsim", [
            sim, "-nodes", str(nodes), "-pods", str(pods), "-ca-cert", self.cluster.ca_cert,
            "-ca-key", self.cluster.ca_key, "-token-file", str(self.token_file),
            "-addr-base", free_addr_base(nodes), "-sample-interval", f"{int(self.res)}s",
            "-node-prefix", f"{self.db.replace('_', '-')}-",
            "-control", "127.0.0.1:0"])
        m = wait_for(lambda: re.search(r"kubeletsim ready .*control=(\S+)", self.sim.text()),
                     timeout=60, what="kubeletsim ready")
        self.sim_control = m.group(1)
        reg = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "sim" / "register.py"),
                              "--control", self.sim_control], env=_register_env(self.cluster),
                             timeout=register_timeout, capture_output=True, text=True)
        assert reg.returncode == 0, f"register.py failed: {reg.stderr[-2000:]}"
        self.nodes, self.pods = nodes, pods
        raw = urllib.request.urlopen(f"http://{self.sim_control}/manifest", timeout=60).read()
        self.manifest = json.loads(raw)
        self.manifest_file = self.tmp / f"manifest-{self.db}.json"
        self.manifest_file.write_bytes(raw)

    def cleanup(self):
        """Remove the simulated nodes and pods, so later tests on this cluster do not scrape
        addresses that are gone."""
        if self.manifest_file is not None:
            subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "sim" / "register.py"),
                            "--manifest", str(self.manifest_file), "--delete"],
                           env=_register_env(self.cluster), timeout=300, capture_output=True)

    def argv(self, kubeconfig: Path | None = None, log_format="json", sink=None,
             extra=()) -> list[str]:
        return [str(KUBEPULSE), f"--kubeconfig={kubeconfig or self.kubeconfig()}",
                f"--lease-namespace={self.ns}",
                f"--metric-resolution={int(self.res)}s", f"--lease-duration={int(self.ld)}s",
                f"--renew-deadline={int(self.rd)}s", f"--retry-period={int(self.rp)}s",
                f"--kubelet-timeout={max(1, int(self.res) - 1)}s",
                f"--sink={sink or self.sink}", f"--log-format={log_format}", *self.extra_args,
                *extra]

    def start(self, base: str, log_format="json", sink=None, extra=(),
              kubeconfig: Path | None = None) -> Replica:
        self.n += 1
        r = Replica(self, f"{base}-{self.n}", self.argv(kubeconfig, log_format, sink, extra))
        self.replicas.append(r)
        return r

    def assert_none_died(self):
        for r in self.replicas:
            assert r.alive() or r.signalled_at, f"{r.identity} exited:\n{r.proc.text()[-2000:]}"

    def live(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive()]

    def leader(self, timeout=15.0, exclude=None) -> Replica:
        def one():
            self.assert_none_died()
            ls = [r for r in self.live() if r is not exclude and not r.stopped_at
                  and r.leading()]
            return ls[0] if len(ls) == 1 else None
        return wait_for(one, timeout=timeout, interval=0.05, what="exactly one leader")

    def leaders(self) -> list[Replica]:
        return [r for r in self.live() if not r.stopped_at and r.leading()]

    def lease(self) -> dict:
        return json.loads(self.cluster.kubectl("get", "lease", "kubepulse", "-n", self.ns,
                                               "-o", "json").stdout)["spec"]

    def check_sanitizers(self):
        bad = {r.identity: r.sanitizer_reports()[:5] for r in self.replicas}
        bad = {k: v for k, v in bad.items() if v}
        assert not bad, f"sanitizer reports: {bad}"

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


# ---- partitions (test_chaos_partition.py, test_chaos_netns.py) -------------------------


def writes_by(world, ident: str, after: float | None = None) -> list[float]:
    """Arrival times of the successful InfluxDB writes of replica `ident` (after `after`)."""
    return [t for t, i, code in world.influx_writes() if i == ident and code == 204
            and (after is None or t > after)]


def event_time(replica, msg: str, after: float):
    """(ts, reason) of the replica's first log event `msg` at or after `after`, or None."""
    for ev in replica.events():
        if ev["msg"] == msg and ev["ts"] >= after:
            return ev["ts"], ev.get("reason")
    return None


def check_partitioned_step_down(world, leader, t_part: float, step_down_timeout: float):
    """The partitioned leader steps down on its own clock, no later than its renew
    deadline (plus scheduling slack), and before another replica leads; that one leads
    within leaseDuration + renewDeadline + 3 retry periods and writes; the old leader writes
    nothing after its step-down, for a further interval. Returns (new, t_stop, reason,
    t_new, last_write)."""
    wait_for(lambda: not leader.leading(), timeout=step_down_timeout, interval=0.05,
             what=f"{leader.identity} stepping down")
    t_stop, reason = wait_for(lambda: event_time(leader, "stopped leading", t_part),
                              timeout=5, what="'stopped leading' line")
    new = world.leader(timeout=world.ld + world.rd + 4 * world.rp, exclude=leader)
    t_new = event_time(new, "became leader", t_part)[0]
    assert t_stop <= t_part + world.rd + 0.25, (t_stop - t_part, reason)
    assert t_stop <= t_new, (t_stop, t_new)
    assert t_new - t_part <= world.ld + world.rd + 3 * world.rp, t_new - t_part
    wait_for(lambda: writes_by(world, new.identity, t_new), timeout=4 * world.res + 5,
             what=f"writes from {new.identity}")
    time.sleep(world.res)  # a further interval in which it could misbehave
    late = writes_by(world, leader.identity, t_stop)
    assert not late, f"{leader.identity} wrote after stepping down at {t_stop}: {late}"
    last = max(writes_by(world, leader.identity) or [float("nan")])
    return new, t_stop, reason, t_new, last


def check_healed(world, leader, new) -> float:
    """After the heal the old leader follows the new one, and for three retry periods the
    new one is the only leader and the Lease's holder. Returns when it followed."""
    wait_for(lambda: (leader.try_status() or {}).get("holder") == new.identity,
             timeout=world.ld + 4 * world.rp + 10, interval=0.1,
             what=f"{leader.identity} seeing {new.identity} after the heal")
    t_follow = time.time()
    end = time.time() + 3 * world.rp
    while time.time() < end:
        assert world.leaders() == [new], [r.identity for r in world.leaders()]
        time.sleep(0.2)
    assert world.lease()["holderIdentity"] == new.identity
    return t_follow


def stop_and_check_leadership(world, poller, last=None) -> list:
    """The end of a chaos test: stop the poller, SIGTERM every live replica (each exits 0;
    replica `last`, if given, only after the others have exited), leading intervals never
    overlap (logs and /status polling), every InfluxDB write came from a replica leading at
    the time (or flushing after its SIGTERM as leader), no sanitizer report. Returns the
    intervals from the logs, in order."""
    poller.stop()
    live = world.live()
    for group in ([r for r in live if r is not last], [r for r in live if r is last]):
        for r in group:
            r.signal(signal.SIGTERM)
        for r in group:
            assert r.proc.wait(15) == 0, (r.identity, r.proc.text()[-2000:])
    for r in world.replicas:
        assert r.proc.wait(15) == 0, (r.identity, r.proc.text()[-2000:])
    flat = assert_no_overlap({r.identity: r.lead_intervals() for r in world.replicas}, "logs")
    assert_no_overlap(poller.intervals(), "/status polling")
    for t, ident, code in world.influx_writes():
        r = next(r for r in world.replicas if r.identity == ident)
        ivs = r.lead_intervals()
        if any(s <= t <= e + 0.01 for s, e in ivs):
            continue
        # After its last interval only if that one ended in its own SIGTERM (the flush of the
        # interval it completed); never after losing the Lease, retries included.
        term = [ev["ts"] for ev in r.events() if ev["msg"] == "shutting down" and ev.get("leading")]
        assert ivs and t >= ivs[-1][1] and term and term[0] <= ivs[-1][1] + 0.01, \
            (ident, t, ivs, term)
    world.check_sanitizers()
    return flat
