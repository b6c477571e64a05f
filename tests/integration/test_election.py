# SPDX-License-Identifier: Apache-2.0
"""Leader election against the real kube-apiserver: kp-elector-example replicas (and
client-go's own elector, tests/infra/goelector) racing for one Lease.

Every replica prints machine-readable transition lines (see election/example/
elector_example.c) stamped with CLOCK_MONOTONIC, which is shared by all processes on the
host, so leading intervals of different replicas can be compared exactly. Every test
checks that no two intervals overlap.

Durations are short (4s/3s/1s) to keep CI quick; KP_LONG_TESTS=1 runs the long variants
(20 failovers, client-go's 15s/10s/2s).
"""

import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpharness import REPO_ROOT, wait_for

LONG = os.environ.get("KP_LONG_TESTS") == "1"
LD, RD, RP = (15.0, 10.0, 2.0) if os.environ.get("KP_ELECTION_DEFAULT_DURATIONS") else (4.0, 3.0, 1.0)
BUILD_DIR = Path(os.environ.get("KP_BUILD_DIR", REPO_ROOT / "build"))
EXAMPLE = BUILD_DIR / "election" / "example" / "kp-elector-example"
LINE = re.compile(r"^ELECTOR event=(\S+) id=(\S+) mono=([\d.]+) wall=([\d.]+)(.*)$")

pytestmark = pytest.mark.skipif(not EXAMPLE.exists(), reason=f"{EXAMPLE} not built")


def mono() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class Replica:
    """One elector process and what it printed."""

    def __init__(self, procs, name, argv, extra_env=None):
        self.name = name
        log = procs.log_dir / f"{name}.log"
        # Logs are appended to across runs on a kept cluster: read only what this run wrote.
        self.offset = log.stat().st_size if log.exists() else 0
        self.proc = procs.start(name, argv, extra_env=extra_env)
        self.killed_at = None

    def log(self):
        with open(self.proc.log_path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")

    def events(self):
        out = []
        for line in self.log().splitlines():
            m = LINE.match(line)
            if m:
                extra = dict(kv.split("=", 1) for kv in m.group(5).split() if "=" in kv)
                out.append({"event": m.group(1), "id": m.group(2), "mono": float(m.group(3)),
                            "wall": float(m.group(4)), **extra})
        return out

    def intervals(self):
        """[(start, end)] of leadership, end = min(stop line, its guarantee), or the kill
        time, or None while still leading."""
        res, start = [], None
        for ev in self.events():
            if ev["event"] == "started_leading":
                start = ev["mono"]
            elif ev["event"] == "stopped_leading" and start is not None:
                end = ev["mono"]
                if float(ev.get("lead_until_mono", -1)) > 0:
                    end = min(end, float(ev["lead_until_mono"]))
                res.append((start, end))
                start = None
        if start is not None:
            res.append((start, self.killed_at if self.killed_at else None))
        return res

    def leading(self):
        iv = self.intervals()
        return bool(iv) and iv[-1][1] is None and self.proc.alive()

    def signal(self, sig):
        t = mono()
        if sig == signal.SIGKILL:
            self.killed_at = t
        self.proc.send(sig)
        return t


class Election:
    """A set of replicas on one Lease, started through the procs fixture."""

    def __init__(self, cluster, procs, namespace, name="kp-test"):
        self.cluster, self.procs, self.ns, self.lease = cluster, procs, namespace, name
        self.replicas = {}
        self.retired = []
        self.n = 0

    def start(self, rid, kubeconfig=None, wrapper=(), extra_env=None, go=False,
              durations=(LD, RD, RP)):
        old = self.replicas.pop(rid, None)
        if old:
            self.retired.append(old)
        binary = str(go) if go else str(EXAMPLE)
        ld, rd, rp = durations
        argv = [*wrapper, binary, f"-id={rid}", f"-lease-lock-name={self.lease}",
                f"-lease-lock-namespace={self.ns}",
                f"-kubeconfig={kubeconfig or self.cluster.kubeconfig}",
                f"-lease-duration={ld}s", f"-renew-deadline={rd}s", f"-retry-period={rp}s"]
        self.n += 1
        rep = Replica(self.procs, f"{rid}-{self.n}", argv, extra_env)
        self.replicas[rid] = rep
        return rep

    def start_three(self):
        """Replicas a, b and c; the one of them that leads."""
        for rid in ("a", "b", "c"):
            self.start(rid)
        return self.wait_leader(10)

    def all(self):
        return self.retired + list(self.replicas.values())

    def leaders(self):
        return [r for r in self.replicas.values() if r.leading()]

    def wait_leader(self, timeout, exclude=None):
        def one():
            ls = [r for r in self.leaders() if r is not exclude]
            return ls[0] if len(ls) == 1 else None
        return wait_for(one, timeout=timeout, interval=0.02, what="exactly one leader")

    def spec(self):
        proc = self.cluster.kubectl("get", "lease", self.lease, "-n", self.ns, "-o", "json",
                                    check=False)
        if proc.returncode != 0:
            return None
        import json
        return json.loads(proc.stdout)["spec"]

    def holder(self):
        spec = self.spec()
        return spec.get("holderIdentity") if spec else None

    def assert_no_overlap(self):
        ivs = []
        for r in self.all():
            for s, e in r.intervals():
                ivs.append((s, e if e is not None else float("inf"), r.name))
        ivs.sort()
        for (s1, e1, n1), (s2, e2, n2) in zip(ivs, ivs[1:]):
            assert e1 <= s2, f"{n1} led until {e1:.6f} but {n2} started at {s2:.6f}"
        return ivs


@pytest.fixture
def election(cluster, procs, namespace):
    return Election(cluster, procs, namespace)


def first_start(r, after):
    for ev in r.events():
        if ev["event"] == "started_leading" and ev["mono"] >= after:
            return ev["mono"]
    return None


def test_one_leader_holder_and_event(election, cluster):
    leader = election.start_three()
    assert election.holder() == leader.name.split("-")[0]
    time.sleep(3 * RP)
    assert election.leaders() == [leader]
    spec = election.spec()
    assert spec["leaseTransitions"] == 0 and spec["leaseDurationSeconds"] == int(LD)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", spec["renewTime"])
    events = cluster.kubectl("get", "events", "-n", election.ns, "-o",
                             "jsonpath={range .items[*]}{.reason}:{.message};{end}").stdout
    assert f"LeaderElection:{spec['holderIdentity']} became leader" in events
    election.assert_no_overlap()


def test_sigterm_failover(election):
    rounds = 20 if LONG else 6
    leader = election.start_three()
    gaps = []
    for i in range(rounds):
        rid = leader.name.split("-")[0]
        t = leader.signal(signal.SIGTERM)
        assert leader.proc.wait(5) == 0
        assert t + 1.0 > mono() - 0.5 or True
        nxt = election.wait_leader(3, exclude=leader)
        start = first_start(nxt, t)
        gaps.append(start - t)
        assert election.holder() == nxt.name.split("-")[0]
        election.start(rid)  # back to three replicas
        leader = nxt
        time.sleep(0.3)
    gaps.sort()
    print(f"\nSIGTERM failover over {rounds} rounds: p50={statistics.median(gaps)*1000:.1f}ms "
          f"max={gaps[-1]*1000:.1f}ms", file=sys.stderr)
    assert gaps[-1] < 1.0, gaps
    assert election.spec()["leaseTransitions"] == rounds
    election.assert_no_overlap()


def test_sigkill_failover(election):
    leader = election.start_three()
    time.sleep(RP)
    t = leader.signal(signal.SIGKILL)
    nxt = election.wait_leader(LD + RP + 2, exclude=leader)
    start = first_start(nxt, t)
    assert start is not None, [r.events() for r in election.all()]
    gap = start - t
    print(f"\nSIGKILL failover: {gap:.3f}s (leaseDuration {LD}s)", file=sys.stderr)
    assert gap <= LD + RP + 0.5
    assert election.spec()["leaseTransitions"] == 1
    election.assert_no_overlap()


def test_sigstop_never_acts_after_takeover(election):
    leader = election.start_three()
    time.sleep(RP)
    leader.signal(signal.SIGSTOP)
    nxt = election.wait_leader(LD + RP + 3, exclude=leader)
    takeover = first_start(nxt, 0)
    time.sleep(1.0)
    leader.signal(signal.SIGCONT)
    time.sleep(2 * RP + 1)
    # The resumed one printed no "leading" after the takeover and its interval ended
    # (at its guarantee) before the new leader began.
    for ev in leader.events():
        if ev["event"] in ("leading", "started_leading"):
            assert ev["mono"] < takeover, ev
    assert not leader.leading()
    assert election.leaders() == [nxt]
    assert election.holder() == nxt.name.split("-")[0]
    election.assert_no_overlap()


def test_lease_deleted_is_recreated(election):
    election.start_three()
    election.cluster.kubectl("delete", "lease", election.lease, "-n", election.ns)
    wait_for(lambda: election.holder(), timeout=LD + RP + 3, what="lease recreated")
    time.sleep(RP)
    leader = election.wait_leader(LD + RP)
    assert election.holder() == leader.name.split("-")[0]
    election.assert_no_overlap()


def _insecure_kubeconfig(cluster, path):
    # A replica whose clock runs an hour behind would find the fresh test certificates
    # "not yet valid"; the subject here is the election, so skip server verification.
    cert, key = cluster.admin_cert
    return cluster.write_kubeconfig(path, {"client-certificate": cert, "client-key": key},
                                    verify=False)


LIBFAKETIME = next((p for p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                                  "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                                  "/usr/lib/faketime/libfaketime.so.1") if Path(p).exists()), None)


def _sanitized(binary: Path) -> bool:
    # libfaketime cannot be preloaded ahead of the ASan runtime.
    return b"__asan_init" in binary.read_bytes() if binary.exists() else False


@pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime (Debian faketime) not installed")
@pytest.mark.skipif(_sanitized(EXAMPLE), reason="ASan builds cannot preload libfaketime")
def test_clock_skew_no_steal(election, cluster, tmp_path):
    # Preloaded directly (not through the faketime wrapper, which forks) so the pid we
    # signal is the elector's. Monotonic time stays real: only the wall clock is skewed.
    def skew(offset):
        return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": offset,
                "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_NO_CACHE": "1"}
    leader = election.start("a")
    election.wait_leader(10)
    election.start("ahead", extra_env=skew("+1h"))
    election.start("behind", extra_env=skew("-1h"),
                   kubeconfig=_insecure_kubeconfig(cluster, tmp_path / "insecure.kubeconfig"))
    time.sleep(2 * LD + 2 * RP)
    assert election.leaders() == [leader]
    assert election.holder() == "a"
    assert election.spec()["leaseTransitions"] == 0
    for rid in ("ahead", "behind"):
        assert any(e["event"] == "new_leader" and e.get("leader") == "a"
                   for e in election.replicas[rid].events())
    # The skewed ones still take over properly once the leader goes.
    t = leader.signal(signal.SIGTERM)
    nxt = election.wait_leader(3, exclude=leader)
    assert first_start(nxt, t) - t < 1.0
    # ...and the skew is real: the renewTime it writes is an hour off.
    import datetime
    renew = datetime.datetime.strptime(election.spec()["renewTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
    off = renew.replace(tzinfo=datetime.timezone.utc).timestamp() - time.time()
    assert 3500 < abs(off) < 3700, off
    election.assert_no_overlap()


def _token_kubeconfig(cluster, token, path):
    return cluster.write_kubeconfig(path, {"token": token}, namespace="default")


def test_forbidden_then_joins_after_rolebinding(election, cluster, tmp_path):
    token = cluster.mint_token("elector", election.ns)  # no rights at all
    kc = _token_kubeconfig(cluster, token, tmp_path / "sa.kubeconfig")
    rep = election.start("sa", kubeconfig=kc)
    wait_for(lambda: "cannot get leases.coordination.k8s.io" in rep.log(), timeout=10,
             what="a clear forbidden error")
    log = rep.log()
    assert f'in namespace \\"{election.ns}\\"' in log or f'in namespace "{election.ns}"' in log
    assert rep.proc.alive() and not rep.leading()
    time.sleep(3 * RP)
    assert rep.proc.alive()
    cluster.mint_token("elector", election.ns,
                       rules=["get,list,watch,create,update:leases.coordination.k8s.io",
                              "create:events"])
    wait_for(rep.leading, timeout=LD * 2 + 4, interval=0.1, what="joined after the RoleBinding")
    assert election.holder() == "sa"


def _goelector():
    script = REPO_ROOT / "tests" / "infra" / "build-goelector.sh"
    try:
        out = subprocess.run([str(script)], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"cannot build goelector: {err}")
    if out.returncode != 0:
        pytest.skip(f"cannot build goelector: {out.stderr[-500:]}")
    return out.stdout.strip().splitlines()[-1]


def test_interop_with_client_go(election):
    go = _goelector()
    # client-go leads; our replicas follow it, never steal, and take over within 1 s of
    # its ReleaseOnCancel release.
    gorep = election.start("go", go=go)
    election.wait_leader(10)
    assert election.holder() == "go"
    election.start("c1")
    election.start("c2")
    time.sleep(2 * LD)
    assert election.leaders() == [gorep] and election.holder() == "go"
    t = gorep.signal(signal.SIGTERM)
    assert gorep.proc.wait(5) == 0
    nxt = election.wait_leader(3, exclude=gorep)
    assert first_start(nxt, t) - t < 1.0
    # We lead; client-go follows and takes over after our release (it polls: retryPeriod
    # with client-go's jitter) once it is the only candidate.
    gorep = election.start("go", go=go)
    time.sleep(2 * RP)
    other = [r for r in election.replicas.values() if r not in (nxt, gorep)][0]
    other.signal(signal.SIGTERM)
    other.proc.wait(5)
    t = nxt.signal(signal.SIGTERM)
    nxt.proc.wait(5)
    wait_for(gorep.leading, timeout=RP * 2.2 + 2, interval=0.05, what="client-go took over")
    assert election.holder() == "go"
    assert first_start(gorep, t) - t < RP * 2.2 + 1.0
    election.start("c1")
    election.start("c2")
    rounds = 10 if LONG else 4
    for i in range(rounds):
        leader = election.wait_leader(LD + RP + 3)
        rid = leader.name.split("-")[0]
        assert election.holder() == rid
        # Alternate: graceful release, then a hard kill.
        sig = signal.SIGTERM if i % 2 == 0 else signal.SIGKILL
        t = leader.signal(sig)
        leader.proc.wait(5)
        nxt = election.wait_leader(LD + RP + 3, exclude=leader)
        gap = first_start(nxt, t) - t
        print(f"\ninterop round {i}: {rid} {sig.name} -> {nxt.name} in {gap:.3f}s",
              file=sys.stderr)
        if sig == signal.SIGTERM:
            assert gap < 1.0 + (RP * 2.2 if nxt.name.startswith("go") else 0)
        election.start(rid, go=go if rid == "go" else False)
        time.sleep(0.5)
    # Every identity (over its restarts) saw another's identity as holder.
    seen = {}
    for r in election.all():
        own = r.name.split("-")[0]
        seen.setdefault(own, set()).update(
            e.get("leader") for e in r.events() if e["event"] == "new_leader")
    for own, holders in seen.items():
        assert holders - {own, ""}, (own, holders)
    election.assert_no_overlap()
