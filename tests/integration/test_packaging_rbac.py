# SPDX-License-Identifier: Apache-2.0
"""The Helm chart's RBAC, used for real: the chart is installed into the API server of
tests/infra, a token is minted for its ServiceAccount (`kubectl create token`), and kubepulse
processes run outside the cluster with a kubeconfig holding only that token, against
kubeletsim's simulated kubelets (registered as real Nodes and Pods).

- test_three_replicas_with_chart_rbac: 3 replicas elect exactly one leader (`kubectl get
  lease` shows it, renewTime advances), all list nodes, pods and namespaces (/readyz 200,
  /status counts what `kubectl get` counts), the leader's "became leader" Event is recorded,
  the leader scrapes and writes, both to stdout and to the real InfluxDB, where every query of
  the Grafana dashboard returns data; `helm upgrade --set replicaCount` and `kubectl scale`
  leave the holder in place; a SIGTERMed leader hands over.
- test_least_privilege: each rule of the chart's ClusterRole and Role is removed in turn (the
  installed objects are edited as admin, then restored) and one replica shows what breaks,
  with the error kubepulse logs. Verbs kubepulse does not use were found this way and taken
  out of the chart (nodes get, leases patch, events patch, the events.k8s.io group); the
  VARIANTS table below keeps proving that removing a rule breaks something.

What cannot be shown here: the `nodes/stats` rule. A real kubelet authorizes
/stats/summary with a SubjectAccessReview (verb get, resource nodes, subresource stats);
kubeletsim only checks the bearer token, so a replica without the rule still scrapes the
simulator. The test says so and checks what the rule authorizes with
`kubectl auth can-i get nodes --subresource=stats`.

Runtime: about 30 seconds (4s/3s/1s election timings, 2 s resolution, 3 nodes x 3 pods).
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from kpharness import REPO_ROOT, ProcessGroup, wait_for
from test_packaging import CHART, Helm

BUILD_DIR = Path(os.environ.get("KP_BUILD_DIR", REPO_ROOT / "build"))
KUBEPULSE = BUILD_DIR / "src" / "kubepulse"
RES = 2  # --metric-resolution and the simulator's sample interval, seconds
NODES, PODS = 3, 3
PREFIX = "kprbac-"
ADDR_BASE = "127.1.23.1"  # apart from other tests' simulators
LEASE = "kp-lease"  # the chart's leaderElection.leaseName here
ELECTION = ["--lease-duration=4s", "--renew-deadline=3s", "--retry-period=1s"]


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


class Replica:
    """One kubepulse process: its stdout (line protocol) in a file, its log, its status."""

    def __init__(self, rig: "Rig", identity: str, sinks: list[str], extra: list[str]):
        self.identity = identity
        self.out = rig.procs.log_dir / f"{identity}.stdout"
        self.out.write_text("")
        argv = ["sh", "-c", 'exec "$0" "$@" > "$KP_OUT"', KUBEPULSE,
                "--kubeconfig", rig.kubeconfig, "--lease-namespace", rig.ns,
                "--lease-name", LEASE, "--identity", identity, *ELECTION,
                f"--metric-resolution={RES}s", "--kubelet-timeout=1s",
                "--kubelet-token-file", rig.kubelet_token, "--listen", "127.0.0.1:0",
                "--sink-flush-timeout=1s", "--v=2", *(f"--sink={s}" for s in sinks), *extra]
        self.proc = rig.procs.start(identity, argv, extra_env={"KP_OUT": str(self.out)})
        port = wait_for(lambda: re.search(r"status server listening.* port=(\d+)", self.log()),
                        timeout=20, what=f"{identity} status server")
        self.url = f"http://127.0.0.1:{port.group(1)}"

    def log(self) -> str:
        return self.proc.log()

    def status(self) -> dict:
        return json.loads(http_get(self.url + "/status")[1])

    def readyz(self) -> int:
        return http_get(self.url + "/readyz")[0]

    def points(self) -> list[str]:
        return [line for line in self.out.read_text(errors="replace").splitlines()
                if line and not line.startswith("=")]


class Rig:
    """The installed release, its token and kubeconfig, and the kubelet simulator."""

    def __init__(self, cluster, helm: Helm, procs: ProcessGroup, tmp: Path):
        self.cluster, self.helm, self.procs, self.tmp = cluster, helm, procs, tmp

    def start_sim(self):
        out = subprocess.run([str(REPO_ROOT / "tests" / "sim" / "build.sh")], check=True,
                             capture_output=True, text=True, timeout=600)
        self.kubelet_token = self.tmp / "kubelet-token"
        self.kubelet_token.write_text(secrets.token_urlsafe(24) + "\n")
        sim = self.procs.start("kubeletsim", [
            out.stdout.strip().splitlines()[-1], "-nodes", NODES, "-pods", PODS,
            "-node-prefix", PREFIX, "-addr-base", ADDR_BASE, "-ca-cert", self.cluster.ca_cert,
            "-ca-key", self.cluster.ca_key, "-token-file", self.kubelet_token,
            "-control", "127.0.0.1:0", "-sample-interval", f"{RES}s"])
        self.control = wait_for(lambda: re.search(r"kubeletsim ready .*control=(\S+)",
                                                  sim.log()), timeout=30,
                                what="kubeletsim ready").group(1)
        with urllib.request.urlopen(f"http://{self.control}/manifest", timeout=30) as resp:
            self.node_names = [n["name"] for n in json.load(resp)["nodes"]]

    def register(self, delete: bool = False):
        env = {**os.environ, "KP_KUBECTL": self.cluster.kubectl_bin,
               "KP_KUBECONFIG": self.cluster.kubeconfig}
        subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "sim" / "register.py"),
                        "--control", self.control] + (["--delete"] if delete else []),
                       env=env, check=True, capture_output=True, timeout=300)

    def install(self):
        self.ns = self.cluster.create_namespace("kp-rbac")
        self.release = f"kp-{self.ns[-6:]}"
        self.full = f"{self.release}-kubepulse"
        # metricsApi off: its APIService is cluster-wide and would point at pods that never
        # run here (test_metrics_api.py covers the metrics API's RBAC)
        self.helm.run("install", self.release, CHART, "--namespace", self.ns,
                      "--set", f"leaderElection.leaseName={LEASE}",
                      "--set", "metricsApi.enabled=false")
        # The ServiceAccount's own token, as `kubectl create token` mints it, in a
        # kubeconfig with nothing else: the identity is the chart's account and nothing more.
        token = self.cluster.kubectl("create", "token", self.full, "-n", self.ns,
                                     "--duration", "1h").stdout.strip()
        self.token = token
        self.kubeconfig = self.tmp / "kubeconfig"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "sa",
            "clusters": [{"name": "test", "cluster": {
                "server": self.cluster.apiserver,
                "certificate-authority": self.cluster.ca_cert}}],
            "users": [{"name": "sa", "user": {"token": token}}],
            "contexts": [{"name": "sa", "context": {"cluster": "test", "user": "sa"}}]}))
        self.kubeconfig.chmod(0o600)
        self.cluster_role = self.get("clusterrole", self.full)
        self.role = self.get("role", self.full)

    # -- cluster views -----------------------------------------------------------------

    def get(self, kind: str, name: str) -> dict:
        args = ["get", kind, name, "-o", "json"]
        if kind != "clusterrole":
            args += ["-n", self.ns]
        return json.loads(self.cluster.kubectl(*args).stdout)

    def lease(self) -> dict | None:
        proc = self.cluster.kubectl("get", "lease", LEASE, "-n", self.ns, "-o", "json",
                                    check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def holder(self) -> str | None:
        lease = self.lease()
        return lease["spec"].get("holderIdentity") if lease else None

    def delete_lease(self):
        self.cluster.kubectl("delete", "lease", LEASE, "-n", self.ns, "--ignore-not-found")

    def leader_events(self, identity: str) -> list[dict]:
        items = json.loads(self.cluster.kubectl("get", "events", "-n", self.ns, "-o",
                                                "json").stdout)["items"]
        return [e for e in items if e.get("message") == f"{identity} became leader"
                and e["involvedObject"].get("name") == LEASE]

    def can_i(self, verb: str, resource: str, *args) -> bool:
        proc = self.cluster.kubectl("auth", "can-i", verb, resource, "-n", self.ns, *args,
                                    token=self.token, check=False)
        return proc.returncode == 0

    def count(self, kind: str) -> int:
        return len(json.loads(self.cluster.kubectl("get", kind, "-A", "-o", "json")
                              .stdout)["items"])

    def replica(self, identity: str, sinks=("log",), extra=()) -> Replica:
        return Replica(self, identity, list(sinks), list(extra))


@pytest.fixture(scope="module")
def rig(cluster, tmp_path_factory):
    if not KUBEPULSE.exists():
        pytest.skip(f"{KUBEPULSE} not built")
    out = subprocess.run([str(REPO_ROOT / "scripts" / "build-helm.sh")], capture_output=True,
                         text=True, timeout=1200)
    assert out.returncode == 0, out.stderr
    tmp = tmp_path_factory.mktemp("rbac")
    helm = Helm(out.stdout.strip().splitlines()[-1], tmp / "helm", cluster.kubeconfig)
    procs = ProcessGroup(cluster.state_dir / "procs" / f"test_packaging_rbac-{int(time.time())}")
    r = Rig(cluster, helm, procs, tmp)
    try:
        r.start_sim()
        r.register()
        r.install()
        yield r
    finally:
        for p in procs.procs[1:]:  # the replicas; the simulator is needed for --delete
            p.stop()
        if hasattr(r, "release"):
            helm.run("uninstall", r.release, "--namespace", r.ns, check=False)
        if hasattr(r, "control"):
            try:
                r.register(delete=True)  # leave the shared cluster without our nodes, pods
            except subprocess.SubprocessError as err:
                print(f"register.py --delete failed: {err}", file=sys.stderr)
        procs.stop_all()


# ---- the chart's RBAC, three replicas ------------------------------------------------------


def dashboard_queries(*args) -> list[dict]:
    out = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "dashboard-queries.py"),
                          "--json", "--templating", *args], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_three_replicas_with_chart_rbac(rig):
    db = f"kprbac_{int(time.time())}"
    influx = f"influxdb:{rig.cluster.influx_url}?db={db}"
    reps = [rig.replica(f"{rig.full}-r{i}", sinks=("log", influx)) for i in range(3)]

    # -- election: exactly one leader, and the Lease names it
    def one_leader():
        st = [r.status() for r in reps]
        leaders = [s["identity"] for s in st if s["leading"]]
        return leaders[0] if len(leaders) == 1 and rig.holder() == leaders[0] else None
    leader_id = wait_for(one_leader, timeout=20, what="exactly one leader, in the Lease")
    leader = next(r for r in reps if r.identity == leader_id)
    assert all(r.status()["holder"] == leader_id for r in reps)
    get_lease = rig.cluster.kubectl("get", "lease", LEASE, "-n", rig.ns).stdout
    assert leader_id in get_lease, get_lease

    # -- node and pod listing: ready everywhere, caches as the API server has them
    wait_for(lambda: all(r.readyz() == 200 for r in reps), timeout=20, what="readyz 200 x3")
    nodes, pods = rig.count("nodes"), rig.count("pods")
    assert nodes >= NODES and pods >= NODES * PODS
    for r in reps:
        c = r.status()["collector"]
        assert (c["nodesCached"], c["podsCached"]) == (nodes, pods), (r.identity, c)

    # -- Lease renewals
    t1 = rig.lease()["spec"]["renewTime"]
    wait_for(lambda: rig.lease()["spec"]["renewTime"] != t1, timeout=5, what="renewTime moves")
    assert rig.holder() == leader_id

    # -- the leader's Event
    wait_for(lambda: rig.leader_events(leader_id), timeout=10, what="LeaderElection event")
    events = rig.cluster.kubectl("get", "events", "-n", rig.ns).stdout
    assert f"{leader_id} became leader" in events, events

    # -- scraping: points for every simulated node on the leader's stdout, none elsewhere
    def scraped():
        text = "\n".join(leader.points())
        return all(f"nodename={n}" in text for n in rig.node_names)
    wait_for(scraped, timeout=4 * RES + 10, what="points from every simulated node")
    assert all(not r.points() for r in reps if r is not leader)

    # -- the dashboard, on what the daemon wrote to InfluxDB (2-3 cycles, rates included)
    def rates_written():
        rows = rig.cluster.influx_rows('SELECT count("value") FROM "cpu/usage_rate" '
                                       "WHERE \"type\" = 'pod_container'", db)
        return rows and rows[0]["count"] >= 2 * NODES * PODS
    wait_for(rates_written, timeout=6 * RES + 15, interval=0.5, what="2 cycles in InfluxDB")
    some_pod = json.loads(rig.cluster.kubectl(
        "get", "pods", "-A", "-o", "json", "--field-selector",
        f"spec.nodeName={rig.node_names[0]}").stdout)["items"][0]["metadata"]
    for variables in ([], ["--var", f"node={rig.node_names[0]}",
                           "--var", f"namespace={some_pod['namespace']}",
                           "--var", f"pod={some_pod['name']}"]):
        empty = []
        for q in dashboard_queries(*variables):
            rows = rig.cluster.influx_rows(q["query"], db)
            if not any(v is not None for r in rows for k, v in r.items() if k != "time"):
                empty.append((q["panel"], q["refId"], q["query"]))
        assert not empty, (variables, empty)

    # -- scaling the release while the replicas run: the holder stays the holder
    rig.helm.run("upgrade", rig.release, CHART, "--namespace", rig.ns, "--reuse-values",
                 "--set", "replicaCount=5")
    assert rig.get("deployment", rig.full)["spec"]["replicas"] == 5
    assert rig.holder() == leader_id
    rig.cluster.kubectl("scale", "deployment", rig.full, "-n", rig.ns, "--replicas=2")
    assert rig.get("deployment", rig.full)["spec"]["replicas"] == 2
    t2 = rig.lease()["spec"]["renewTime"]
    wait_for(lambda: rig.lease()["spec"]["renewTime"] != t2, timeout=5, what="renewTime moves")
    assert rig.holder() == leader_id

    # -- a SIGTERMed leader releases; a follower leads at once, with the same rights
    leader.proc.stop(signal.SIGTERM)
    assert "lease released" in leader.log() or rig.holder() != leader_id
    new = wait_for(lambda: (h := rig.holder()) and h not in ("", leader_id) and h,
                   timeout=5, what="a new holder")
    assert new in {r.identity for r in reps if r is not leader}
    wait_for(lambda: rig.leader_events(new), timeout=10, what="the new leader's Event")
    for r in reps:
        assert "forbidden" not in r.log().lower(), r.identity
        r.proc.stop()


# ---- `helm test`: the chart's check, run against real replicas --------------------------------

HELM_TEST_PORT = 18091  # containerPort for this test; every replica on its own loopback address
HELM_TEST_ADDR = "127.1.24.{}"


def run_helm_test(pod: dict, kubeconfig: Path, timeout_s: int):
    """The test pod's container as the chart renders it (the release's image: kubepulse with
    its args), run here: outside the cluster, so with a kubeconfig for the test pod's
    ServiceAccount instead of the mounted token."""
    c = pod["spec"]["containers"][0]
    assert c["args"][0] == "--check-release", c["args"]
    return subprocess.run([str(KUBEPULSE), *c["args"], f"--kubeconfig={kubeconfig}",
                           f"--check-timeout={timeout_s}s"],
                          capture_output=True, text=True, timeout=timeout_s + 30)


def test_helm_test_pod_checks_leader_cycle_and_sink(rig, tmp_path):
    """`helm test` passes only when a leader exists, has completed a cycle and every sink wrote:
    its ServiceAccount, Role and RoleBinding are applied as rendered, its token minted; the
    replicas' Pod objects name their loopback address as podIP, as the kubelet would."""
    out = rig.helm.run("template", rig.release, CHART, "--namespace", rig.ns,
                       "--set", f"leaderElection.leaseName={LEASE}",
                       "--set", f"containerPort={HELM_TEST_PORT}",
                       "--show-only", "templates/tests/test-release.yaml").stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding", "Pod"]
    for d in docs[:3]:
        rig.cluster.kubectl("apply", "-f", "-", input=d)
    pod = docs[3]
    assert pod["spec"]["containers"][0]["image"] == "localhost/kubepulse:0.1.0"
    token = rig.cluster.kubectl("create", "token", pod["spec"]["serviceAccountName"], "-n",
                                rig.ns, "--duration", "15m").stdout.strip()
    kubeconfig = tmp_path / "test-sa.kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "test", "cluster": {
            "server": rig.cluster.apiserver, "certificate-authority": rig.cluster.ca_cert}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "test", "user": "sa"}}]}))
    kubeconfig.chmod(0o600)
    rig.delete_lease()

    # Nobody leads: the check fails, saying so.
    proc = run_helm_test(pod, kubeconfig, 2)
    assert proc.returncode == 1 and "FAIL: cannot read the Lease" in proc.stderr, proc

    def start(i: int, sinks) -> Replica:
        ident = f"{rig.full}-ht{i}-{secrets.token_hex(2)}"
        addr = HELM_TEST_ADDR.format(i)
        rig.cluster.kubectl("create", "-f", "-", input={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": ident, "namespace": rig.ns},
            "spec": {"containers": [{"name": "kubepulse", "image": "localhost/kubepulse"}]}})
        rig.cluster.kubectl("patch", "pod", ident, "-n", rig.ns, "--subresource=status",
                            "--type=merge", "-p", json.dumps(
                                {"status": {"podIP": addr, "podIPs": [{"ip": addr}]}}))
        return rig.replica(ident, sinks=sinks, extra=["--listen", f"{addr}:{HELM_TEST_PORT}"])

    db = f"kphelmtest_{int(time.time())}"
    influx = f"influxdb:{rig.cluster.influx_url}?db={db}"
    reps = [start(i, ("log", influx)) for i in (1, 2)]
    proc = run_helm_test(pod, kubeconfig, 60)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    holder = rig.holder()
    assert proc.stdout.strip().splitlines()[-1] == (
        f"ok: {holder} leads, completed a scrape cycle, and every sink wrote"), proc.stdout
    for r in reps:
        r.proc.stop(signal.SIGTERM)

    # A leader whose sink never writes (nothing listens there): the check fails on the sink.
    rig.delete_lease()
    dead = start(3, ("log", "influxdb:http://127.0.0.1:9?db=x"))
    wait_for(lambda: rig.holder() == dead.identity, timeout=15, what="the new leader")
    proc = run_helm_test(pod, kubeconfig, 3 * RES + 2)
    assert proc.returncode == 1, proc.stdout
    assert f"FAIL: {dead.identity}: a sink has not written any point yet" in proc.stderr, proc
    dead.proc.stop()


# ---- least privilege, rule by rule ---------------------------------------------------------


def without(rules: list[dict], resource: str, verbs=None) -> list[dict]:
    """rules minus the verbs (None: the whole rule) of the rule on resource ("leases@": the
    rule with resourceNames)."""
    out = []
    for rule in copy.deepcopy(rules):
        named = bool(rule.get("resourceNames"))
        key = resource.rstrip("@")
        if key in rule["resources"] and named == resource.endswith("@"):
            if not verbs:
                continue
            rule["verbs"] = [v for v in rule["verbs"] if v not in verbs]
        out.append(rule)
    return out


# (id, object, resource ("leases@" = the rule with resourceNames), verbs removed (None: the
# whole rule), can-i that must turn to "no", what must break). The chart's rules each appear.
VARIANTS = [
    ("nodes", "clusterrole", "nodes", None, ("list", "nodes"), "not_ready:/api/v1/nodes:points"),
    ("nodes-stats", "clusterrole", "nodes/stats", None,
     ("get", "nodes", "--subresource=stats"), "sim_cannot_tell"),
    ("pods", "clusterrole", "pods", None, ("list", "pods", "-A"),
     "not_ready:/api/v1/pods:labels="),
    ("namespaces", "clusterrole", "namespaces", None, ("list", "namespaces"),
     "not_ready:/api/v1/namespaces:namespace_id="),
    ("lease-named", "role", "leases@", None, ("update", f"leases.coordination.k8s.io/{LEASE}"),
     "no_leader:get"),
    ("lease-update", "role", "leases@", ["update"],
     ("update", f"leases.coordination.k8s.io/{LEASE}"), "no_leader:update"),
    ("lease-create", "role", "leases", None, ("create", "leases.coordination.k8s.io"),
     "no_leader:create"),
    ("lease-list-watch", "role", "leases@", ["list", "watch"],
     ("watch", f"leases.coordination.k8s.io/{LEASE}"), "polls"),
    ("events", "role", "events", None, ("create", "events"), "no_event"),
]


def test_every_rule_has_a_variant(rig):
    whole = {(kind, res) for _, kind, res, verbs, _, _ in VARIANTS if verbs is None}
    for kind, obj in (("clusterrole", rig.cluster_role), ("role", rig.role)):
        for rule in obj["rules"]:
            for res in rule["resources"]:
                key = res + ("@" if rule.get("resourceNames") else "")
                assert (kind, key) in whole, f"no VARIANTS entry removes {kind} rule {key}"


def apply_rules(rig, kind: str, rules: list[dict]):
    obj = copy.deepcopy(rig.cluster_role if kind == "clusterrole" else rig.role)
    for k in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        obj["metadata"].pop(k, None)
    obj["rules"] = rules
    rig.cluster.kubectl("replace", "-f", "-", input=obj)


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_least_privilege(rig, variant):
    name, kind, resource, verbs, can_i, breaks = variant
    base = rig.cluster_role if kind == "clusterrole" else rig.role
    rules = without(base["rules"], resource, verbs)
    assert rules != base["rules"], f"{name}: the chart has no such rule any more"
    rig.delete_lease()
    assert rig.can_i(*can_i), f"{name}: the chart's rules do not allow {can_i}"
    apply_rules(rig, kind, rules)
    try:
        # RBAC reaches the authorizer through a watch: wait until it shows
        wait_for(lambda: not rig.can_i(*can_i), timeout=10, what=f"{name}: rule gone")
        check_breakage(rig, name, breaks)
    finally:
        apply_rules(rig, kind, base["rules"])
        wait_for(lambda: rig.can_i(*can_i), timeout=10, what=f"{name}: rule back")


def check_breakage(rig, name: str, breaks: str):
    ident = f"{rig.full}-{name}-{secrets.token_hex(2)}"
    if breaks == "no_leader:update":
        # get and create still work: the Lease is created held by someone else, which only
        # an update could take over.
        rig.cluster.kubectl("create", "-f", "-", input={
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": LEASE, "namespace": rig.ns},
            "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 1,
                     "renewTime": "2020-01-01T00:00:00.000000Z",
                     "acquireTime": "2020-01-01T00:00:00.000000Z"}})
    r = rig.replica(ident)
    kind, _, what = breaks.partition(":")
    what, _, lost = what.partition(":")
    if kind == "not_ready":
        # no list: the cache never syncs, /readyz stays 503, the log names the refusal
        wait_for(lambda: re.search(rf'"list failed" path="{re.escape(what)}" status=403 '
                                   rf'err=".*forbidden', r.log()), timeout=10,
                 what=f"{name}: list failed ... forbidden")
        assert r.readyz() == 503
        assert not r.status()["ready"]
        # a leader anyway: the election does not depend on the caches
        wait_for(lambda: rig.holder() == ident, timeout=10, what="leader")
        sim = f"nodename={rig.node_names[0]},"
        if lost == "points":  # no Node list: nothing to scrape
            time.sleep(RES + 1)
            assert not any(sim in line for line in r.points())
        else:
            # The grid's cycles still run (only the early first cycle waits for the caches):
            # pod points are written without what the missing cache supplies.
            pods = wait_for(lambda: [p for p in r.points() if sim in p and "type=pod " in p],
                            timeout=3 * RES + 5, what="pod points")
            assert not any(lost in p for p in pods), pods[0]
    elif kind == "no_leader":
        wait_for(lambda: re.search(rf'forbidden: cannot {what} leases.coordination.k8s.io '
                                   rf'\\?"{LEASE}\\?" in namespace', r.log()),
                 timeout=10, what=f"{name}: forbidden {what} in the log")
        time.sleep(2)
        assert not r.status()["leading"] and rig.holder() != ident
        assert r.readyz() == 200  # a follower: ready, never writes
        assert not r.points()
    elif kind == "no_event":
        # leadership works, the Event is missing and a warning says why (W: visible at
        # the default verbosity, once)
        wait_for(lambda: rig.holder() == ident and r.status()["leading"], timeout=10,
                 what="leader")
        wait_for(lambda: re.search(r'^W.*"could not record the LeaderElection event[^"]*" '
                                   r'.*status=403', r.log(), re.M),
                 timeout=10, what="event failure logged")
        assert not rig.leader_events(ident)
        wait_for(lambda: r.points(), timeout=3 * RES + 5, what="points")
    elif kind == "polls":
        # followers cannot watch the Lease: they poll it every retry period instead; the
        # election still works, a released Lease is just seen later
        wait_for(lambda: rig.holder() == ident, timeout=10, what="leader")
        wait_for(lambda: "cannot watch leases.coordination.k8s.io (forbidden)" in r.log(),
                 timeout=10, what="watch forbidden logged")
        assert rig.leader_events(ident) or wait_for(lambda: rig.leader_events(ident), 5)
    elif kind == "sim_cannot_tell":
        # kubeletsim does no SubjectAccessReview: a real kubelet would answer 403 here
        # ("kubelet scrape failing" reason=http_status). All the simulator can show is that
        # the rest works without the rule.
        wait_for(lambda: rig.holder() == ident and r.readyz() == 200, timeout=10,
                 what="leader, ready")
        wait_for(lambda: any(f"nodename={rig.node_names[0]}" in line for line in r.points()),
                 timeout=3 * RES + 5, what="points (the simulator does not authorize)")
    else:
        raise AssertionError(breaks)
    r.proc.stop()
