# SPDX-License-Identifier: Apache-2.0
"""kubepulse as the chart's pods on three real nodes (issue #15).

tests/infra/up.sh --with-node runs kube-controller-manager, kube-scheduler and three kubelets
(each with its own containerd) on 127.0.0.2-4. scripts/build-image.sh builds the image from
the Dockerfile, node.sh imports it into every node's containerd, and `helm install` puts the
chart on the cluster with the image, the loopback API server address and what this machine
needs overridden (--set flags in install_args below: hostNetwork, because only loopback
exists; DNS on 127.0.0.1; the test InfluxDB; a 5 s resolution to keep the test short).

- test_pods_run_as_the_chart_says: 3 pods Running and Ready, one per node, each bound to its
  node's address; in the process: uid 65532, read-only root, in-cluster configuration from the
  projected token (bound to the pod), the API server's loopback address in every KUBERNETES_*
  variable and no ClusterIP anywhere; every socket of the replicas on loopback; the PDB.
- test_holder_is_a_pod_and_only_it_scrapes: the Lease names a pod; only that pod's /status
  and /metrics count cycles and scrapes.
- test_influx_equals_what_the_kubelets_serve: while the leader writes, the test reads every
  kubelet's /stats/summary itself (a token with only nodes/stats; the API server does not
  proxy to loopback nodes) and every node, pod and container value in InfluxDB for a sample
  the test also saw equals the kubelet's, a CPU- and memory-burning pod included.
- test_delete_leader_pod: `kubectl delete pod <leader>` (the kubelet's graceful stop): a new
  holder within 1 s, the replacement pod joins as follower, one cluster point per interval
  with at most one missing.
- test_scale_and_rolling_upgrade: kubectl scale to 5 (2 Pending: the host port) and 1, helm
  upgrade to 3 with a new pod template (one pod at a time): never two leaders at once, no
  interval missing beyond one per change of leader.
- test_missing_nodes_stats_rule: a release whose ServiceAccount lacks nodes/stats: the real
  kubelet answers 403 and kubepulse's log names the missing rule.
- test_helm_test_passes: `helm test` (the release's image as `kubepulse --check-release`)
  succeeds: a leader, a completed cycle, points in InfluxDB.
- test_self_signed_kubelet_certificate: a kubelet restarted with its own self-signed
  certificate (kubeadm's default): kubepulse's default verification fails and the log names
  --kubelet-certificate-authority and --kubelet-insecure-tls; back on the cluster CA it is
  scraped again.
- test_freeze_leader_node: the leader's whole node frozen (cgroup freezer) longer than the
  lease: another replica leads within leaseDuration plus one retry; thawed, the old leader
  starts no cycle, writes nothing and follows.
- test_token_rotation: a release with a 600 s projected token (installed first): the kubelet
  rotates it, and past the first token's expiry the Lease is renewed, every kubelet scraped
  and InfluxDB written, no 401.

Runtime: about 11 minutes warm, cluster start included, most of it the token's 600 s (the
image build is cached: 4 s); cold the image build adds about 3 minutes.
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kpharness import (INFRA_DIR, REPO_ROOT, Cluster, real_node_cluster, real_nodes_unavailable,
                       wait_for)
from test_packaging import CHART, Helm

NODE_SH = INFRA_DIR / "node.sh"
CACHE = Path(os.environ.get("KUBEPULSE_CACHE", Path.home() / ".cache" / "kubepulse"))
IMAGE_TAR = CACHE / "images" / "kubepulse.tar"
IMAGE_REPO, IMAGE_TAG = "localhost/kubepulse", "0.1.0"
RES = 5  # metricResolution, seconds
RELEASE = "kubepulse"
LEASE = "kubepulse"
DB = "k8s_real_node"
DB_ROT = "k8s_real_node_rotation"
BURN_CPU_M, BURN_MEM_MIB = 300, 48


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, timeout=1800, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def http_get(url: str, *, token: str | None = None, ctx: ssl.SSLContext | None = None,
             timeout: float = 5) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                 if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def rfc3339_ns(s: str) -> int:
    """'2026-12-07T01:02:03.123456789Z' (or without fraction) -> ns since the epoch."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", s)
    assert m, s
    secs = int(time.mktime(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) - time.timezone)
    return secs * 10**9 + int((m.group(2) or "0").ljust(9, "0"))


# ---- the cluster, the image, the release -------------------------------------------------------


@pytest.fixture(scope="module")
def node_cluster(request):
    """A cluster with three real nodes: $KP_NODE_INFRA_ENV's, else one started here."""
    env_file = os.environ.get("KP_NODE_INFRA_ENV")
    if env_file:
        yield Cluster(env_file)
        return
    why = real_nodes_unavailable()
    if why:
        pytest.skip(f"this machine cannot run containers: {why}")
    # logs (the replicas' too, saved by the release fixtures) stay when a test failed
    with real_node_cluster(request.session, "real-node-chart") as cluster:
        yield cluster


class Nodes:
    """The nodes of the env file: name, address, kubelet URL, CA of its serving certificate."""

    def __init__(self, cluster: Cluster):
        env = cluster.reload_env()
        self.cluster = cluster
        self.count = int(env["KP_NODES"])
        self.index = {env[f"KP_NODE_{i}_NAME"]: i for i in range(1, self.count + 1)}

    def names(self) -> list[str]:
        return sorted(self.index)

    def url(self, name: str) -> str:
        return self.cluster.env[f"KP_NODE_{self.index[name]}_KUBELET_URL"]

    def ctx(self, name: str) -> ssl.SSLContext:
        env = self.cluster.reload_env()
        ctx = ssl.create_default_context(cafile=env[f"KP_NODE_{self.index[name]}_KUBELET_CA"])
        ctx.check_hostname = False  # the certificate's SAN is the IP; urllib checks it anyway
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def summary(self, name: str, token: str) -> dict:
        status, body = http_get(f"{self.url(name)}/stats/summary", token=token,
                                ctx=self.ctx(name))
        assert status == 200, (name, status, body[:300])
        return json.loads(body)


@pytest.fixture(scope="module")
def image(node_cluster):
    """The Dockerfile's image, built here (cached) and imported into every node."""
    t0 = time.monotonic()
    run([REPO_ROOT / "scripts" / "build-image.sh", "--output", IMAGE_TAR], timeout=3600)
    t1 = time.monotonic()
    run([NODE_SH, "import", node_cluster.state_dir, IMAGE_TAR], timeout=600)
    log(f"image: build-image.sh {t1 - t0:.1f}s, import into the nodes {time.monotonic() - t1:.1f}s")
    return f"{IMAGE_REPO}:{IMAGE_TAG}"


@pytest.fixture(scope="module")
def helm(node_cluster, tmp_path_factory):
    out = run([REPO_ROOT / "scripts" / "build-helm.sh"])
    return Helm(out.stdout.strip().splitlines()[-1], tmp_path_factory.mktemp("helm"),
                node_cluster.kubeconfig)


def free_port() -> int:
    import socket

    with socket.socket() as s:  # one port free on 127.0.0.2-4 alike (they share the host)
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_args(cluster: Cluster, port: int, *extra: str, db: str = DB) -> list[str]:
    api = re.fullmatch(r"https://([0-9.]+):(\d+)", cluster.apiserver)
    assert api, cluster.apiserver
    return ["--set", f"image.repository={IMAGE_REPO}", "--set", f"image.tag={IMAGE_TAG}",
            "--set", f"apiServer.host={api.group(1)}", "--set", f"apiServer.port={api.group(2)}",
            # what this machine needs: loopback only
            "--set", "hostNetwork=true", "--set", f"containerPort={port}",
            "--set", "dnsPolicy=None", "--set", "dnsConfig.nameservers[0]=127.0.0.1",
            "--set-string", f"sinks[0]=influxdb:{cluster.influx_url}?db={db}",
            "--set", f"metricResolution={RES}s", "--set", "kubelet.timeout=4s", *extra]


class Release:
    def __init__(self, cluster: Cluster, helm: Helm, ns: str, port: int, name: str = RELEASE):
        self.cluster, self.helm, self.ns, self.port, self.name = cluster, helm, ns, port, name
        self.nodes = Nodes(cluster)

    def pods(self) -> list[dict]:
        out = self.cluster.kubectl("get", "pods", "-n", self.ns, "-l",
                                   f"app.kubernetes.io/instance={self.name}", "-o", "json").stdout
        return json.loads(out)["items"]

    def ready_pods(self) -> list[dict]:
        return [p for p in self.pods() if not p["metadata"].get("deletionTimestamp") and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions", []))]

    def holder(self) -> str:
        status, lease = self.cluster.api(
            "GET", f"/apis/coordination.k8s.io/v1/namespaces/{self.ns}/leases/{LEASE}")
        return lease["spec"].get("holderIdentity", "") if status == 200 else ""

    def status(self, pod: dict) -> dict:
        code, body = http_get(f"http://{pod['status']['podIP']}:{self.port}/status", timeout=3)
        assert code == 200, (pod["metadata"]["name"], code, body)
        return json.loads(body)

    def metrics(self, pod: dict) -> dict[str, float]:
        code, body = http_get(f"http://{pod['status']['podIP']}:{self.port}/metrics", timeout=3)
        assert code == 200, body
        out = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def pid(self, pod: dict) -> int:
        """The host pid of the pod's kubepulse: the process listening on podIP:port."""
        out = run(["ss", "-Hltnp", f"src {pod['status']['podIP']}:{self.port}"]).stdout
        m = re.search(r"pid=(\d+)", out)
        assert m, (pod["metadata"]["name"], out)
        return int(m.group(1))

    def logs(self, pod_name: str) -> str:
        """The pod's log ("" while its kubelet cannot serve it, e.g. restarting)."""
        return self.cluster.kubectl("logs", "-n", self.ns, pod_name, check=False).stdout


def wait_ready(rel: Release, n: int, timeout: float) -> list[dict]:
    return wait_for(lambda: (lambda p: p if len(p) == n else None)(rel.ready_pods()),
                    timeout=timeout, interval=0.2, what=f"{n} Ready pods")


@pytest.fixture(scope="module")
def release(node_cluster, image, helm):
    c = node_cluster
    ns = c.create_namespace("kpnode")
    c.influx_query(f'CREATE DATABASE "{DB}"')
    # A CPU- and memory-burning workload in its own network namespace (not hostNetwork).
    c.kubectl("apply", "-n", ns, "-f", "-", input={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "burner"},
        "spec": {"containers": [{
            "name": "burn", "image": c.env["KP_NODE_WORKLOAD_IMAGE"],
            "imagePullPolicy": "Never",
            "command": ["burn", "--cpu", str(BURN_CPU_M), "--mem", str(BURN_MEM_MIB)]}],
            "enableServiceLinks": False, "automountServiceAccountToken": False,
            "dnsPolicy": "None", "dnsConfig": {"nameservers": ["127.0.0.1"]}}})
    port = free_port()
    rel = Release(c, helm, ns, port)
    t0 = time.monotonic()
    helm.run("install", RELEASE, CHART, "--namespace", ns, *install_args(c, port))
    pods = wait_ready(rel, 3, timeout=120)
    rel.install_to_ready = time.monotonic() - t0
    log(f"helm install -> 3 pods Ready in {rel.install_to_ready:.1f}s")
    wait_for(lambda: c.kubectl("get", "pod", "burner", "-n", ns, "-o",
                               "jsonpath={.status.phase}").stdout == "Running",
             timeout=60, what="the burner pod")
    yield rel
    for p in rel.pods():  # the replicas' logs, for a look after a failure
        proc = c.kubectl("logs", "-n", ns, p["metadata"]["name"], check=False)
        (c.state_dir / f"{p['metadata']['name']}.log").write_text(proc.stdout + proc.stderr)
    helm.run("uninstall", RELEASE, "--namespace", ns, "--wait", check=False, timeout=180)
    c.kubectl("delete", "pod", "burner", "-n", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def rotating(node_cluster, image, helm):
    """A one-replica release whose projected token lives 600 s (the API server's minimum),
    installed at the start of the module so that test_token_rotation, the module's last test,
    waits only for the rest of the token's life."""
    c = node_cluster
    ns = c.create_namespace("kprot")
    c.influx_query(f'CREATE DATABASE "{DB_ROT}"')
    port = free_port()
    # Another release name: the ClusterRole's name comes from it.
    rel = Release(c, helm, ns, port, name="rot")
    helm.run("install", rel.name, CHART, "--namespace", ns,
             *install_args(c, port, "--set", "replicaCount=1",
                           "--set", "serviceAccount.tokenExpirationSeconds=600",
                           "--set", "metricsApi.enabled=false", db=DB_ROT))
    wait_ready(rel, 1, timeout=120)
    yield rel
    for p in rel.pods():
        proc = c.kubectl("logs", "-n", ns, p["metadata"]["name"], check=False)
        (c.state_dir / f"{p['metadata']['name']}.log").write_text(proc.stdout + proc.stderr)
    helm.run("uninstall", rel.name, "--namespace", ns, "--wait", check=False, timeout=180)


# ---- the tests ---------------------------------------------------------------------------------


def test_pods_run_as_the_chart_says(release, rotating):
    rel, c = release, release.cluster
    pods = rel.ready_pods()
    assert len(pods) == 3
    assert sorted(p["spec"]["nodeName"] for p in pods) == rel.nodes.names()  # one per node
    api_host, api_port = re.fullmatch(r"https://([0-9.]+):(\d+)", c.apiserver).groups()
    for pod in pods:
        name = pod["metadata"]["name"]
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"] == pod["spec"]["nodeName"]  # hostNetwork: node's address
        cs = pod["status"]["containerStatuses"][0]
        assert cs["ready"] and cs["restartCount"] == 0, cs
        pid = rel.pid(pod)
        proc = Path(f"/proc/{pid}")
        uids = re.search(r"^Uid:\s+(.*)$", (proc / "status").read_text(), re.M).group(1).split()
        assert set(uids) == {"65532"}, (name, uids)
        root = next(line for line in (proc / "mountinfo").read_text().splitlines()
                    if line.split()[4] == "/")
        assert "ro" in root.split()[5].split(","), (name, root)
        env = dict(kv.split("=", 1) for kv in
                   (proc / "environ").read_bytes().decode().split("\0") if "=" in kv)
        kube = {k: v for k, v in env.items() if k.startswith("KUBERNETES_")}
        assert kube["KUBERNETES_SERVICE_HOST"] == api_host
        assert kube["KUBERNETES_SERVICE_PORT"] == api_port
        assert all(api_host in v or v in (api_port, "tcp") for v in kube.values()), kube
        assert not any(re.search(r"\b10\.96\.", v) for v in env.values()), kube
        # In-cluster configuration: no kubeconfig flag, the projected token bound to this pod.
        cmdline = (proc / "cmdline").read_bytes().decode().split("\0")
        assert not any("kubeconfig" in a for a in cmdline), cmdline
        token = (proc / "root/var/run/secrets/kubernetes.io/serviceaccount/token").read_text()
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert claims["kubernetes.io"]["pod"]["name"] == name, claims
        assert claims["sub"] == f"system:serviceaccount:{rel.ns}:{RELEASE}"
        assert claims["exp"] - claims["iat"] >= 3600  # the chart's 3607 s (or extended)
        # Every TCP socket of the replica is on loopback, both ends.
        socks = run(["ss", "-Htanp"]).stdout
        mine = [line for line in socks.splitlines() if f"pid={pid}," in line]
        assert mine, socks
        for line in mine:
            local, peer = line.split()[3:5]
            for addr in (local, peer):
                host = addr.rsplit(":", 1)[0].strip("[]")
                assert host.startswith("127.") or host in ("*", "0.0.0.0"), (name, line)
    pdb = json.loads(c.kubectl("get", "pdb", RELEASE, "-n", rel.ns, "-o", "json").stdout)
    assert pdb["status"]["currentHealthy"] == 3 and pdb["status"]["disruptionsAllowed"] == 1, \
        pdb["status"]
    print(f"install to 3 pods Ready: {rel.install_to_ready:.1f}s")


def test_holder_is_a_pod_and_only_it_scrapes(release):
    rel = release
    pods = {p["metadata"]["name"]: p for p in rel.ready_pods()}
    holder = wait_for(lambda: rel.holder() in pods and rel.holder(), timeout=30,
                      what="a holder")
    out = rel.cluster.kubectl("get", "lease", LEASE, "-n", rel.ns).stdout
    assert holder in out, out
    # Two cycles later: only the holder has scraped.
    time.sleep(2 * RES + 1)
    scraped = {}
    for name, pod in pods.items():
        st = rel.status(pod)
        m = rel.metrics(pod)
        assert st["holder"] == holder, (name, st["holder"])
        assert st["leading"] == (name == holder), (name, st)
        scraped[name] = (st["collector"]["cycles"], m.get("kubepulse_nodes_scraped_total", 0))
    assert scraped[holder][0] >= 2 and scraped[holder][1] >= 6, scraped
    assert all(v == (0, 0) for k, v in scraped.items() if k != holder), scraped


# Measurement -> the Summary field it must equal, per series type.
NODE_FIELDS = {"cpu/usage": ("cpu", "usageCoreNanoSeconds"),
               "memory/usage": ("memory", "usageBytes"),
               "memory/working_set": ("memory", "workingSetBytes"),
               "memory/rss": ("memory", "rssBytes")}
POD_FIELDS = {"cpu/usage": ("cpu", "usageCoreNanoSeconds"),
              "memory/working_set": ("memory", "workingSetBytes"),
              "memory/usage": ("memory", "usageBytes")}


def sample_time(entity: dict) -> int | None:
    for part in ("cpu", "memory"):
        if entity.get(part, {}).get("time"):
            return rfc3339_ns(entity[part]["time"])
    return None


def record(seen: dict, key: tuple, entity: dict, fields: dict, asked_ns: int) -> None:
    """seen[(key, sample time)] = [(values, live, asked)...]; live: stamped with the second the
    request was made in (figures computed for that request, not a cached sample)."""
    t = sample_time(entity)
    if t is None:
        return
    values = tuple(entity.get(part, {}).get(f) for part, f in fields.values())
    live = t >= asked_ns // 10**9 * 10**9
    seen.setdefault((key, t), []).append((values, live, asked_ns))


def test_influx_equals_what_the_kubelets_serve(release):
    rel, c = release, release.cluster
    token = c.mint_token("stats-reader", rel.ns, cluster_rules=["get:nodes/stats"],
                         duration="1h")
    # Sample times in the Summary have second precision. The kubelet serves cAdvisor's cached
    # sample of a container (the same values until its next housekeeping) when cAdvisor knows
    # the container, else figures from containerd made for each request, stamped with the
    # request's second. A cached sample must be equal in InfluxDB; for a per-request one
    # nobody but kubepulse saw its figures, so its cumulative CPU counter must lie between
    # what the kubelet served before and after it.
    pods = [p["metadata"]["name"] for p in rel.ready_pods()]
    want = [("node", n) for n in rel.nodes.names()] + \
        [("pod", rel.ns, p) for p in pods] + [("pod_container", rel.ns, p, "kubepulse")
                                              for p in pods] + \
        [("pod", rel.ns, "burner"), ("pod_container", rel.ns, "burner", "burn")]

    def poll(seen: dict) -> None:
        for node in rel.nodes.names():
            asked = time.time_ns()
            s = rel.nodes.summary(node, token)
            record(seen, ("node", node), s["node"], NODE_FIELDS, asked)
            for pod in s.get("pods", []):
                ref = pod["podRef"]
                record(seen, ("pod", ref["namespace"], ref["name"]), pod, POD_FIELDS, asked)
                for ctr in pod.get("containers", []):
                    record(seen, ("pod_container", ref["namespace"], ref["name"], ctr["name"]),
                           ctr, NODE_FIELDS, asked)

    # A young container is served per request until cAdvisor has taken it up (tens of
    # seconds here): wait until every container of the test is served from cAdvisor.
    def all_cached() -> bool:
        early: dict = {}
        poll(early)
        cached = {k for (k, _), vs in early.items() if not all(lv for _, lv, _ in vs)}
        return all(k in cached for k in want if k[0] == "pod_container")

    t0 = time.monotonic()
    wait_for(all_cached, timeout=120, interval=1, what="cAdvisor samples of every container")
    print(f"every container served from cAdvisor after {time.monotonic() - t0:.1f}s more")
    seen: dict = {}
    t_start = time.time()
    # Poll every kubelet through four intervals; keep every response's values.
    while time.time() - t_start < 4 * RES + 2:
        poll(seen)
        time.sleep(0.5)
    time.sleep(RES + 2)  # the leader's last cycle of the window is written

    since = int(t_start * 1e9)
    matched: dict = {}
    wrong = []
    live = bracketed = 0
    influx_seen: dict = {}
    by_key: dict = {}  # key -> [(sample time, values, live, asked)]
    for (key, t), served in seen.items():
        by_key.setdefault(key, []).extend((t, v, lv, a) for v, lv, a in served)
    sec = 10**9
    for measurement in sorted(set(NODE_FIELDS) | set(POD_FIELDS)):
        rows = c.influx_rows(f'SELECT value FROM "{measurement}" WHERE time >= {since} '
                             f"AND (type = 'node' OR type = 'pod' OR type = 'pod_container') "
                             f"GROUP BY *", DB, epoch="ns")
        for r in rows:
            if r["type"] == "node":
                key, fields = ("node", r["nodename"]), NODE_FIELDS
            elif r["type"] == "pod":
                key, fields = ("pod", r["namespace_name"], r["pod_name"]), POD_FIELDS
            else:
                key = ("pod_container", r["namespace_name"], r["pod_name"], r["container_name"])
                fields = NODE_FIELDS
            if measurement == "cpu/usage":
                influx_seen.setdefault(key, []).append((r["time"], r["value"]))
            if measurement not in fields or key not in by_key:
                continue
            pos = list(fields).index(measurement)
            g = r["time"]  # the cycle's grid time: kubepulse asked the kubelet right then
            # The cached sample current at g: taken at least a second before g and still
            # served a second after it.
            cached = [(t, v) for t, v, lv, a in by_key[key]
                      if not lv and t + sec <= g and a >= g + sec]
            if cached:
                newest = max(t for t, _ in cached)
                kubelet = {v[pos] for t, v in cached if t == newest}
                matched[key] = matched.get(key, 0) + 1
                if r["value"] not in kubelet:
                    wrong.append((measurement, key, g, r["value"], kubelet))
                continue
            live += 1
            if measurement != "cpu/usage":
                continue
            # A per-request CPU counter lies between the kubelet's before and after g.
            before = [v[pos] for t, v, lv, a in by_key[key] if lv and a + sec <= g]
            after = [v[pos] for t, v, lv, a in by_key[key] if lv and a >= g + sec]
            if not before or not after:
                continue
            bracketed += 1
            matched[key] = matched.get(key, 0) + 1
            if not max(before) <= r["value"] <= min(after):
                wrong.append((measurement, key, g, r["value"], "not in",
                              (max(before), min(after))))
    assert not wrong, wrong[:10]
    missing = [k for k in want if not matched.get(k)]
    for k in missing:
        print(f"not compared: {k}\n  InfluxDB cpu/usage (time, value): {influx_seen.get(k)}\n"
              f"  kubelet (time, values, per request, asked): " + str(sorted(
                  {(t, v, lv, a) for (kk, t), vs in seen.items() if kk == k
                   for v, lv, a in vs})))
    assert not missing, missing
    print(f"{sum(matched.values()) - bracketed} InfluxDB values equal to the kubelets' "
          f"({len(matched)} series keys); {live} values of per-request samples, "
          f"{bracketed} of them CPU counters between the kubelet's before and after")
    # The burner burns (its rate is computed from the kubelet's sample times, which the
    # points, stamped with the cycle's grid time, no longer carry).
    where = f"WHERE type = 'pod_container' AND pod_name = 'burner' AND namespace_name = '{rel.ns}'"
    rates = [r["value"] for r in c.influx_rows(
        f'SELECT value FROM "cpu/usage_rate" {where} AND time >= {since}', DB)]
    print(f"burner cpu/usage_rate (millicores): {rates}")
    assert rates and max(rates) > 0 and max(rates) <= 1.5 * BURN_CPU_M, rates
    ws = c.influx_rows(f'SELECT last(value) FROM "memory/working_set" {where}', DB)
    assert ws and ws[0]["last"] >= BURN_MEM_MIB * 2**20, ws


def cluster_points(c: Cluster, since_ns: int) -> list[int]:
    rows = c.influx_rows(f"SELECT value FROM \"memory/usage\" WHERE type = 'cluster' "
                         f"AND time >= {since_ns}", DB, epoch="ns")
    return [r["time"] for r in rows]


def test_delete_leader_pod(release):
    rel, c = release, release.cluster
    old = wait_for(lambda: rel.holder(), timeout=30, what="a holder")
    before = {p["metadata"]["name"] for p in rel.pods()}
    t_window = time.time() - 3 * RES
    t0 = time.monotonic()
    c.kubectl("delete", "pod", old, "-n", rel.ns, "--wait=false")
    new = wait_for(lambda: (lambda h: h if h and h != old else None)(rel.holder()),
                   timeout=20, interval=0.01, what="a new holder")
    took = time.monotonic() - t0
    print(f"kubectl delete pod {old}: {new} holds the Lease after {took * 1000:.0f} ms")
    assert new in before, new
    assert took < 1.0, took
    # The replacement pod joins as a follower.
    pods = wait_ready(rel, 3, timeout=90)
    fresh = [p for p in pods if p["metadata"]["name"] not in before]
    assert len(fresh) == 1, [p["metadata"]["name"] for p in pods]
    st = rel.status(fresh[0])
    assert not st["leading"] and st["holder"] == new, st
    # One cluster point per interval across the failover, at most one missing.
    time.sleep(2 * RES + 2)
    times = cluster_points(c, int(t_window * 1e9))
    assert all(t % (RES * 10**9) == 0 for t in times), times
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert times and max(gaps, default=0) <= 2 * RES * 10**9, gaps
    assert rel.holder() == new


class LeaderWatch(threading.Thread):
    """Asks every running replica's /status, every 0.2 s, whether it leads; keeps the largest
    number that said so at once and every holder of the Lease seen."""

    def __init__(self, rel: Release):
        super().__init__(daemon=True)
        self.rel, self.stop, self.most, self.holders, self.polls = rel, False, 0, [], 0

    def run(self):
        while not self.stop:
            status, pods = self.rel.cluster.api(
                "GET", f"/api/v1/namespaces/{self.rel.ns}/pods?labelSelector="
                f"app.kubernetes.io%2Finstance%3D{RELEASE}")
            leading = 0
            for p in pods.get("items", []) if status == 200 else []:
                ip = p["status"].get("podIP")
                if not ip or p["status"].get("phase") != "Running":
                    continue
                try:
                    code, body = http_get(f"http://{ip}:{self.rel.port}/status", timeout=1)
                except OSError:
                    continue
                if code == 200 and json.loads(body).get("leading"):
                    leading += 1
            self.most = max(self.most, leading)
            h = self.rel.holder()
            if h and (not self.holders or self.holders[-1] != h):
                self.holders.append(h)
            self.polls += 1
            time.sleep(0.2)


def test_scale_and_rolling_upgrade(release, helm):
    """kubectl scale to 5 (2 stay Pending: the host port is taken on every node) and to 1,
    then helm upgrade back to 3 with a changed pod template (a rolling update of every pod):
    never two leaders, every interval written but at most one per change of leader."""
    rel, c = release, release.cluster
    t_start = time.time()
    watch = LeaderWatch(rel)
    watch.start()
    try:
        c.kubectl("scale", "deployment", RELEASE, "-n", rel.ns, "--replicas=5")
        wait_for(lambda: len(rel.pods()) == 5, timeout=30, what="5 pods")
        time.sleep(2 * RES)
        pending = [p["metadata"]["name"] for p in rel.pods() if p["status"]["phase"] == "Pending"]
        assert len(pending) == 2 and len(rel.ready_pods()) == 3, pending
        c.kubectl("scale", "deployment", RELEASE, "-n", rel.ns, "--replicas=1")
        wait_for(lambda: len(rel.pods()) == 1 and len(rel.ready_pods()) == 1, timeout=90,
                 what="1 pod")
        time.sleep(2 * RES)
        before = {p["metadata"]["name"] for p in rel.pods()}
        t0 = time.monotonic()
        helm.run("upgrade", RELEASE, CHART, "--namespace", rel.ns, "--reuse-values",
                 "--set", "replicaCount=3", "--set", f"podAnnotations.rollout=r{int(t_start)}")
        wait_for(lambda: (lambda ps: len(ps) == 3 and not before & {
            p["metadata"]["name"] for p in ps} and len(rel.pods()) == 3)(rel.ready_pods()),
            timeout=180, interval=0.5, what="3 new Ready pods after helm upgrade")
        print(f"helm upgrade: 3 new pods Ready after {time.monotonic() - t0:.1f}s")
        time.sleep(2 * RES + 2)
    finally:
        watch.stop = True
        watch.join()
    print(f"{watch.polls} polls, at most {watch.most} leader(s) at once; holders: {watch.holders}")
    assert watch.polls > 20 and watch.most == 1, (watch.polls, watch.most)
    times = cluster_points(c, int(t_start * 1e9))
    assert all(t % (RES * 10**9) == 0 for t in times), times
    missing = sum((b - a) // (RES * 10**9) - 1 for a, b in zip(times, times[1:]))
    gaps = [b - a for a, b in zip(times, times[1:])]
    print(f"cluster points: {len(times)}, intervals missing: {missing}, "
          f"leader changes: {len(watch.holders) - 1}")
    assert max(gaps) <= 2 * RES * 10**9, gaps
    assert missing <= len(watch.holders) - 1, (missing, watch.holders)


def test_missing_nodes_stats_rule(release, helm):
    """A second release whose ServiceAccount has every rule but nodes/stats."""
    rel, c = release, release.cluster
    ns = c.create_namespace("kpnostats")
    c.mint_token("kubepulse-nostats", ns, rules=[
        "get,list,watch,update,create:leases.coordination.k8s.io", "create:events"],
        cluster_rules=["list,watch:nodes", "list,watch:pods,namespaces"])
    port = free_port()
    helm.run("install", "nostats", CHART, "--namespace", ns,
             *install_args(c, port, "--set", "replicaCount=1", "--set", "rbac.create=false",
                           "--set", "serviceAccount.create=false",
                           "--set", "serviceAccount.name=kubepulse-nostats",
                           "--set", "metricsApi.enabled=false"))
    try:
        pod = wait_for(lambda: next(iter(json.loads(c.kubectl(
            "get", "pods", "-n", ns, "-o", "json").stdout)["items"]), None), timeout=30,
            what="the pod")["metadata"]["name"]
        line = wait_for(lambda: re.search(
            r'"kubelet scrape failing" node="[0-9.]+" reason="http_status" '
            r'detail="HTTP 403[^"]*".*', c.kubectl("logs", "-n", ns, pod, check=False).stdout),
            timeout=60, interval=1, what="the 403 in the log").group(0)
        print(line)
        assert "nodes/stats" in line and 'hint=' in line, line
        assert 'resources: [\\"nodes/stats\\"], verbs: [\\"get\\"]' in line, line
    finally:
        helm.run("uninstall", "nostats", "--namespace", ns, "--wait", check=False, timeout=120)


def test_self_signed_kubelet_certificate(release):
    rel, c = release, release.cluster
    node = rel.nodes.names()[-1]
    i = rel.nodes.index[node]
    leader = wait_for(lambda: rel.holder(), timeout=30, what="a holder")
    run([NODE_SH, "serving", c.state_dir, i, "self-signed"], timeout=120)
    try:
        pat = (rf'"kubelet scrape failing" node="{re.escape(node)}" reason="tls" .*')
        line = wait_for(lambda: re.search(pat, rel.logs(rel.holder() or leader)), timeout=60,
                        interval=1, what="the TLS failure in the leader's log").group(0)
        print(line)
        assert "--kubelet-certificate-authority" in line and "--kubelet-insecure-tls" in line
    finally:
        run([NODE_SH, "serving", c.state_dir, i, "ca"], timeout=120)
    wait_for(lambda: re.search(rf'"kubelet scrape ok again" node="{re.escape(node)}"',
                               rel.logs(rel.holder())), timeout=60, interval=1,
             what="the node scraped again")


def test_helm_test_passes(release):
    """`helm test`: the chart's test pod (the release's image, `kubepulse --check-release`, on
    the replicas' network) finds the Lease's holder, and that pod leads, has completed a cycle
    and has written to InfluxDB."""
    rel = release
    wait_for(lambda: rel.holder(), timeout=30, what="a holder")
    proc = rel.helm.run("test", RELEASE, "--namespace", rel.ns, "--timeout", "3m",
                        check=False, timeout=240)
    print(proc.stdout)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    # The ServiceAccount, Role, RoleBinding and the pod, each a hook named kubepulse-test; helm
    # fails (non-zero) when the pod's kubepulse exits 1.
    phases = re.findall(r"TEST SUITE:\s+kubepulse-test\n(?:.*\n){0,3}?Phase:\s+(\w+)",
                        proc.stdout)
    assert phases == ["Succeeded"] * 4, proc.stdout


def test_freeze_leader_node(release):
    """The leader's whole node (kubelet, containerd, pods) frozen with the cgroup freezer for
    longer than the lease: a replica on another node leads within leaseDuration plus one retry
    period of the freeze, the frozen leader starts no cycle and writes nothing once thawed, and
    follows. (The chart's default election timings: 15 s lease, 2 s retry period.)"""
    rel, c = release, release.cluster
    lease_s, retry_s = 15, 2
    old = wait_for(lambda: rel.holder(), timeout=30, what="a holder")
    pod = next(p for p in rel.pods() if p["metadata"]["name"] == old)
    i = rel.nodes.index[pod["spec"]["nodeName"]]
    t0 = time.monotonic()
    run([NODE_SH, "freeze", c.state_dir, i], timeout=60)
    try:
        new = wait_for(lambda: (lambda h: h if h and h != old else None)(rel.holder()),
                       timeout=lease_s + 3 * retry_s + 5, interval=0.05, what="a new holder")
        took = time.monotonic() - t0
        print(f"node {i} frozen: {new} holds the Lease after {took:.2f}s")
        assert took <= lease_s + retry_s + 0.5, took
        time.sleep(max(0.0, lease_s + 2 * retry_s + 2 - (time.monotonic() - t0)))
    finally:
        run([NODE_SH, "thaw", c.state_dir, i], timeout=60)
    t_thaw = time.monotonic()
    st = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        http_get(f"http://{pod['status']['podIP']}:{rel.port}/status", timeout=2)),
        timeout=20, what="the thawed replica's /status")
    first = json.loads(st[1])
    time.sleep(2 * RES + 1)
    later = rel.status(pod)
    print(f"thawed {old}: leading={later['leading']}, holder {later['holder']}, cycles "
          f"{first['collector']['cycles']} -> {later['collector']['cycles']}, points written "
          f"{first['sinks'][0]['pointsWritten']} -> {later['sinks'][0]['pointsWritten']} "
          f"({time.monotonic() - t_thaw:.1f}s after the thaw)")
    assert not later["leading"] and later["holder"] == new, later
    assert later["collector"]["cycles"] == first["collector"]["cycles"]
    assert later["sinks"][0]["pointsWritten"] == first["sinks"][0]["pointsWritten"]
    assert rel.holder() == new


def test_token_rotation(rotating):
    """The projected token (expirationSeconds 600) is replaced by the kubelet while kubepulse
    runs; after the first token has expired, kubepulse still renews its Lease and scrapes every
    kubelet (both with the token) and writes."""
    rel, c = rotating, rotating.cluster
    pod = rel.ready_pods()[0]
    path = Path(f"/proc/{rel.pid(pod)}/root/var/run/secrets/kubernetes.io/serviceaccount/token")

    def claims(token: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))

    first = path.read_text()
    exp = claims(first)["exp"]
    assert exp - claims(first)["iat"] == 600, claims(first)
    print(f"first token expires in {exp - time.time():.0f}s")
    # The kubelet replaces it after 80% of its life (480 s), on a pod sync (up to ~90 s later).
    rotated = wait_for(lambda: (lambda t: t if t != first else None)(path.read_text()),
                       timeout=max(10, exp - time.time()), interval=2, what="a new token")
    print(f"token rotated {exp - time.time():.0f}s before the first one expired")
    assert claims(rotated)["exp"] > exp
    # Past the first token's expiry: everything kubepulse does with a token still works.
    time.sleep(max(0, exp - time.time()) + 2 * RES + 2)
    st = rel.status(pod)
    status, lease = c.api(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/{rel.ns}/leases/{LEASE}")
    renewed = rfc3339_ns(re.sub(r"\.\d+Z$", "Z", lease["spec"]["renewTime"])) / 1e9
    assert status == 200 and lease["spec"]["holderIdentity"] == pod["metadata"]["name"], lease
    assert time.time() - renewed < 5, lease["spec"]["renewTime"]
    assert st["leading"], st
    refused = re.findall(r".*(?:status=401\b|HTTP 401).*", rel.logs(pod["metadata"]["name"]))
    assert not refused, refused

    # A node's sample is new every 10-15 s (cAdvisor): wait for one of each after the expiry.
    def nodes_written():
        rows = c.influx_rows(f"SELECT count(value) FROM \"memory/working_set\" WHERE "
                             f"type = 'node' AND time > {int((exp + 1) * 1e9)} GROUP BY nodename",
                             DB_ROT)
        return sorted(r["nodename"] for r in rows if r["count"] > 0) == rel.nodes.names()

    wait_for(nodes_written, timeout=45, interval=1, what="points of every node after the expiry")
    refused = re.findall(r".*(?:status=401\b|HTTP 401).*", rel.logs(pod["metadata"]["name"]))
    assert not refused, refused
