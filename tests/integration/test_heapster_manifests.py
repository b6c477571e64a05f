# SPDX-License-Identifier: Apache-2.0
"""Heapster's manifests with only the image changed, on three real nodes (issue #16).

Heapster's own Deployment (tests/integration/data/heapster/heapster.yaml, with its
ServiceAccount and the ClusterRoleBinding to the cluster's bootstrap `system:heapster` role
from heapster-rbac.yaml) and every Heapster command line of the project's seed notes run as
`command: [/heapster, ...]` from the image the Dockerfile builds (scripts/build-image.sh),
imported into the nodes of `tests/infra/up.sh --with-node` (kubelets on 127.0.0.2-4).

adapt() is the only change made to Heapster's objects. Besides the image it makes exactly
what this machine, or the Kubernetes version, forces; each change is named there:
  K1 rbac.authorization.k8s.io/v1beta1 -> v1 (v1beta1 is served no more since 1.22);
  K2 extensions/v1beta1 Deployment -> apps/v1 with spec.selector = the template's labels
     (extensions/v1beta1 Deployments are served no more since 1.16; apps/v1 requires it);
  E1 hostNetwork: only loopback exists here, a pod's own network namespace has no route;
  E2 no kube-proxy: KUBERNETES_SERVICE_HOST/_PORT (and KUBERNETES_PORT*) set to the API
     server's loopback address (the kubelet injects the ClusterIP 10.96.0.1, which from a
     hostNetwork pod would go off the machine), enableServiceLinks: false; the Service
     ports of a URL (kubernetes.default's 443, monitoring-influxdb's 8086) become the loopback
     ports of the real API server and InfluxDB, and the Heapster Service (port 80 -> 8082) is
     not applied (the API server refuses loopback Endpoints);
  E3 no cluster DNS: hostAliases map kubernetes.default and the monitoring-influxdb names to
     127.0.0.1, dnsPolicy None with nameserver 127.0.0.1 (nothing queries the machine's
     resolver);
  E4 addresses off the machine in the seed command lines (10.47.136.60:8080,
     192.168.1.128:8080) become an unused loopback port: never contacted;
  E5 kubeletPort=10250: the kubelets here listen on free ports, not 10250 (other tests'
     simulators bind it on 127.x), so it becomes node 1's port (every node is scraped on N,
     as in Heapster: node 1 answers, the others refuse);
  E6 auth=/root/.kube/config: a Secret holding a kubeconfig (the heapster ServiceAccount's
     token, the API server's loopback address, namespace kube-system: with a kubeconfig the
     Lease is in its context's namespace) mounted at /root/.kube, as operators mounted theirs.

- test_heapster_manifest: with Heapster's RBAC only, kubepulse runs and its log names the
  missing rules (leases in kube-system, then nodes/stats) as the rules to add; with them added
  (what docs/migrating-from-heapster.md says to add) it leads, scrapes the three real kubelets
  and writes Heapster's schema into the real InfluxDB: database k8s with retention policy
  "default", node and container series with Heapster's tags and without the four it dropped,
  each node's cumulative cpu/usage between what its kubelet served before and after, each
  node's memory/node_capacity equal to the Node's capacity, the model API listing the nodes.
  The process is /heapster (the image's symlink to kubepulse), uid 65532, every socket on
  loopback; run as /heapster it serves the model API on Heapster's port 8082.
- test_seed_command_line[N]: each seed command line in that Deployment: the ones that can work
  write every node's points; 10.47.136.60:8080 and 192.168.1.128:8080 (API servers on the
  removed insecure port) exit 1 with kubepulse's reason.

Runtime: about 4 minutes warm (cluster start included; image build cached).
"""

from __future__ import annotations

import copy
import json
import re
import socket
import time
from pathlib import Path

import pytest
import yaml

from kpharness import Cluster, InfluxError, wait_for
from test_chart_real_node import CACHE, NODE_SH, REPO_ROOT, Nodes, http_get, log, node_cluster, run

__all__ = ["node_cluster"]  # the module fixture (3 real nodes), shared with the chart test

DATA = Path(__file__).parent / "data" / "heapster"
IMAGE = "localhost/kubepulse:heapster-manifests"
IMAGE_TAR = CACHE / "images" / "kubepulse-heapster-manifests.tar"
NS = "kube-system"
DB = "k8s"  # Heapster's default database
RES = 60  # kubepulse's default --metric-resolution: the manifests do not set it
STATUS_PORT = 8082  # run as /heapster without --listen: Heapster's --heapster-port default

# The command lines of ../shared/reference/seed-notes.md, "Heapster command lines seen in the
# wild", as written (after /heapster).
SEED = [
    "--source=kubernetes:https://kubernetes.default "
    "--sink=influxdb:http://monitoring-influxdb:8086",
    "--source=kubernetes:https://kubernetes.default "
    "--sink=influxdb:http://monitoring-influxdb.kube-system.svc:8086",
    "--source=kubernetes:http://10.47.136.60:8080?inClusterConfig=false "
    "--sink=influxdb:http://monitoring-influxdb:8086",
    "--source=kubernetes:https://kubernetes.default?inClusterConfig=false&insecure=true"
    "&auth=/root/.kube/config --sink=influxdb:http://monitoring-influxdb:8086",
    "--source=kubernetes:http://192.168.1.128:8080?inClusterConfig=false&kubeletHttps=true"
    "&useServiceAccount=true&auth= --sink=influxdb:http://monitoring-InfluxDB:8086",
    "--source=kubernetes:https://kubernetes.default?inClusterConfig=true&kubeletHttps=true"
    "&kubeletPort=10250&insecure=true&auth=&useServiceAccount=true "
    "--sink=influxdb:http://monitoring-influxdb:8086",
]
OFF_MACHINE = ("10.47.136.60:8080", "192.168.1.128:8080")

# What kubepulse needs beyond system:heapster (docs/migrating-from-heapster.md, RBAC).
EXTRA_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
    "metadata": {"name": "heapster-kubepulse", "namespace": NS},
    "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
               "verbs": ["get", "create", "update", "list", "watch"]},
              {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}]}
EXTRA_CLUSTER_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
    "metadata": {"name": "heapster-kubepulse"},
    "rules": [{"apiGroups": [""], "resources": ["nodes/stats"], "verbs": ["get"]}]}
SUBJECTS = [{"kind": "ServiceAccount", "name": "heapster", "namespace": NS}]
EXTRA_ROLE_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
    "metadata": {"name": "heapster-kubepulse", "namespace": NS}, "subjects": SUBJECTS,
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                "name": "heapster-kubepulse"}}
EXTRA_CLUSTER_ROLE_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
    "metadata": {"name": "heapster-kubepulse"}, "subjects": SUBJECTS,
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "heapster-kubepulse"}}

# As klog's text format quotes them (\" inside a quoted value).
MSG_LEASES = ('forbidden: cannot get leases.coordination.k8s.io \\"kubepulse\\" in namespace '
              '\\"kube-system\\" (HTTP 403)')
MSG_LEASES_FIX = "grant get, create, update, list and watch on leases to this identity"
MSG_NODES_STATS = ('this identity may not get nodes/stats: grant the ClusterRole rule '
                   'apiGroups: [\\"\\"], resources: [\\"nodes/stats\\"], verbs: [\\"get\\"]')


def unused_loopback_port() -> int:
    """A port nothing listens on at 127.0.0.1 (checked by connecting: refused)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port


def manifests() -> list[dict]:
    docs = []
    for name in ("heapster.yaml", "heapster-rbac.yaml"):
        docs += [d for d in yaml.safe_load_all((DATA / name).read_text()) if d]
    return docs


class Env:
    """What adapt() puts in for this machine's addresses."""

    def __init__(self, c: Cluster):
        self.c = c
        self.api_host, self.api_port = re.fullmatch(r"https://([0-9.]+):(\d+)",
                                                    c.apiserver).groups()
        self.influx_port = c.env["KP_INFLUX_PORT"]
        self.nodes = Nodes(c)
        self.kubelet_port_1 = c.env["KP_NODE_1_KUBELET_PORT"]
        self.unused = unused_loopback_port()

    def rewrite(self, arg: str) -> str:
        # E2: Service ports -> the loopback ports (kube-proxy's job on a real cluster)
        arg = re.sub(r"(https://kubernetes\.default)(?=[?/]|$)", rf"\1:{self.api_port}", arg)
        arg = re.sub(r"(monitoring-influxdb[a-z0-9.-]*):8086", rf"\1:{self.influx_port}", arg,
                     flags=re.I)
        # E4: API servers off the machine: an unused loopback port, never contacted
        for addr in OFF_MACHINE:
            arg = arg.replace(addr, f"127.0.0.1:{self.unused}")
        # E5: the kubelets' port here
        return arg.replace("kubeletPort=10250", f"kubeletPort={self.kubelet_port_1}")


def adapt(docs: list[dict], env: Env, args: list[str] | None = None,
          kubeconfig_secret: str | None = None) -> list[dict]:
    """Heapster's objects with our image and exactly the adaptations named in the module's
    docstring (K1, K2, E1-E6). ``args`` replaces the command's arguments after /heapster."""
    out = []
    for d in map(copy.deepcopy, docs):
        if d["kind"] == "Service":
            continue  # E2: no kube-proxy; loopback Endpoints are refused
        if d["kind"] == "ClusterRoleBinding":
            d["apiVersion"] = "rbac.authorization.k8s.io/v1"  # K1
        if d["kind"] == "Deployment":
            d["apiVersion"] = "apps/v1"  # K2
            d["spec"]["selector"] = {"matchLabels": dict(d["spec"]["template"]["metadata"]
                                                         ["labels"])}  # K2
            pod = d["spec"]["template"]["spec"]
            (ctr,) = pod["containers"]
            ctr["image"] = IMAGE  # THE change
            assert ctr["command"][0] == "/heapster"
            if args is not None:
                ctr["command"] = ["/heapster", *args]
            ctr["command"] = [ctr["command"][0]] + [env.rewrite(a) for a in ctr["command"][1:]]
            pod["hostNetwork"] = True  # E1
            pod["enableServiceLinks"] = False  # E2
            ctr["env"] = [{"name": k, "value": v} for k, v in {  # E2
                "KUBERNETES_SERVICE_HOST": env.api_host,
                "KUBERNETES_SERVICE_PORT": env.api_port,
                "KUBERNETES_SERVICE_PORT_HTTPS": env.api_port,
                "KUBERNETES_PORT": f"tcp://{env.api_host}:{env.api_port}",
                "KUBERNETES_PORT_443_TCP": f"tcp://{env.api_host}:{env.api_port}",
                "KUBERNETES_PORT_443_TCP_ADDR": env.api_host,
                "KUBERNETES_PORT_443_TCP_PORT": env.api_port,
                "KUBERNETES_PORT_443_TCP_PROTO": "tcp"}.items()]
            pod["hostAliases"] = [{"ip": "127.0.0.1", "hostnames": [  # E3
                "kubernetes.default", "monitoring-influxdb",
                "monitoring-influxdb.kube-system.svc"]}]
            pod["dnsPolicy"] = "None"  # E3
            pod["dnsConfig"] = {"nameservers": ["127.0.0.1"]}
            if kubeconfig_secret:  # E6
                pod["volumes"] = [{"name": "kubeconfig",
                                   "secret": {"secretName": kubeconfig_secret}}]
                ctr["volumeMounts"] = [{"name": "kubeconfig", "mountPath": "/root/.kube",
                                        "readOnly": True}]
        out.append(d)
    return out


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(node_cluster):
    c = node_cluster
    t0 = time.monotonic()
    run([REPO_ROOT / "scripts" / "build-image.sh", "--tag", IMAGE, "--output", IMAGE_TAR],
        timeout=3600)
    run([NODE_SH, "import", c.state_dir, IMAGE_TAR], timeout=600)
    log(f"image built and imported in {time.monotonic() - t0:.1f}s")
    # The cluster's own system:heapster (Kubernetes' bootstrap policy), not one made here.
    status, role = c.api("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:heapster")
    assert status == 200, role
    assert role["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
    assert not any("nodes/stats" in r.get("resources", []) or
                   "leases" in r.get("resources", []) for r in role["rules"]), role["rules"]
    clean_up(c)  # what a killed run left: the first test starts with Heapster's RBAC only
    c.influx_query(f'DROP DATABASE "{DB}"')
    yield Env(c)
    clean_up(c)


def clean_up(c: Cluster) -> None:
    delete_deployment(c)
    for kind, name, ns in [("rolebinding", "heapster-kubepulse", NS),
                           ("role", "heapster-kubepulse", NS),
                           ("clusterrolebinding", "heapster-kubepulse", None),
                           ("clusterrole", "heapster-kubepulse", None),
                           ("clusterrolebinding", "heapster", None),
                           ("serviceaccount", "heapster", NS),
                           ("secret", "heapster-kubeconfig", NS),
                           ("lease", "kubepulse", NS)]:
        c.kubectl("delete", kind, name, *(["-n", ns] if ns else []), "--ignore-not-found",
                  check=False)


def apply(c: Cluster, objs: list[dict]) -> None:
    c.kubectl("apply", "-f", "-", input={"apiVersion": "v1", "kind": "List", "items": objs})


def delete_deployment(c: Cluster) -> None:
    c.kubectl("delete", "deployment", "heapster", "-n", NS, "--ignore-not-found", check=False)
    wait_for(lambda: not pods(c), timeout=90, interval=0.5, what="heapster pods gone")


def pods(c: Cluster) -> list[dict]:
    out = c.kubectl("get", "pods", "-n", NS, "-l", "k8s-app=heapster", "-o", "json").stdout
    return json.loads(out)["items"]


def running_pod(c: Cluster) -> dict:
    def one():
        ps = [p for p in pods(c) if not p["metadata"].get("deletionTimestamp")]
        return ps[0] if len(ps) == 1 and ps[0]["status"].get("phase") == "Running" else None
    return wait_for(one, timeout=90, interval=0.5, what="the heapster pod Running")


def pod_log(c: Cluster, name: str, previous: bool = False) -> str:
    return c.kubectl("logs", "-n", NS, name, *(["--previous"] if previous else []),
                     check=False).stdout


def status_pid() -> int:
    out = run(["ss", "-Hltnp", f"sport = :{STATUS_PORT}"]).stdout
    pids = set(re.findall(r"pid=(\d+)", out))
    assert len(pids) == 1, out
    return int(pids.pop())


def check_process(pod: dict, want_cmd: list[str]) -> None:
    """The pod's process: /heapster as given, uid 65532, every socket on loopback."""
    pid = status_pid()
    proc = Path(f"/proc/{pid}")
    cmdline = (proc / "cmdline").read_bytes().decode().rstrip("\0").split("\0")
    assert cmdline == want_cmd, cmdline
    assert Path(proc / "root/heapster").is_symlink()
    assert (proc / "exe").resolve().name == "kubepulse"
    uids = re.search(r"^Uid:\s+(.*)$", (proc / "status").read_text(), re.M).group(1).split()
    assert set(uids) == {"65532"}, uids
    env = dict(kv.split("=", 1) for kv in (proc / "environ").read_bytes().decode().split("\0")
               if "=" in kv)
    assert not any(re.search(r"\b10\.96\.", v) for v in env.values()), env
    socks = [line for line in run(["ss", "-Htanp"]).stdout.splitlines() if f"pid={pid}," in line]
    assert socks
    for line in socks:
        local, peer = line.split()[3:5]
        if line.startswith("LISTEN"):
            continue
        assert local.startswith("127.") and peer.startswith("127."), line


def node_cpu(env: Env, token: str) -> dict[str, int]:
    return {n: env.nodes.summary(n, token)["node"]["cpu"]["usageCoreNanoSeconds"]
            for n in env.nodes.names()}


def node_points(c: Cluster, measurement: str, since_ns: int) -> dict[str, list[tuple[int, float]]]:
    try:
        rows = c.influx_rows(f'SELECT value FROM "{measurement}" WHERE time >= {since_ns} '
                             f"AND type = 'node' GROUP BY nodename", DB, epoch="ns")
    except InfluxError as err:
        if "database not found" not in str(err):
            raise
        return {}
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r["nodename"], []).append((r["time"], r["value"]))
    return out


def wait_node_points(c: Cluster, env: Env, since_ns: int, nodes=None, timeout=2 * RES + 30):
    want = nodes or env.nodes.names()
    return wait_for(lambda: (lambda p: p if all(n in p for n in want) else None)(
        node_points(c, "cpu/usage", since_ns)), timeout=timeout, interval=1,
        what=f"cpu/usage points of {want}")


# ---- the tests -----------------------------------------------------------------------------------


def test_heapster_manifest(env):
    c = env.c
    docs = adapt(manifests(), env)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    want_cmd = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert want_cmd == ["/heapster",
                        f"--source=kubernetes:https://kubernetes.default:{env.api_port}",
                        f"--sink=influxdb:http://monitoring-influxdb.kube-system.svc:"
                        f"{env.influx_port}"]
    # 1. Heapster's RBAC only: kubepulse says which rule is missing.
    t0 = time.monotonic()
    apply(c, docs)
    pod = running_pod(c)
    name = pod["metadata"]["name"]
    log(f"heapster pod Running {time.monotonic() - t0:.1f}s after apply")
    wait_for(lambda: MSG_LEASES in pod_log(c, name), timeout=60, interval=1,
             what="the leases rule named")
    assert MSG_LEASES_FIX in pod_log(c, name)
    # 2. + leases: it leads, and the kubelets refuse /stats/summary: nodes/stats is named.
    apply(c, [EXTRA_ROLE, EXTRA_ROLE_BINDING])
    wait_for(lambda: MSG_NODES_STATS in pod_log(c, name), timeout=90, interval=1,
             what="the nodes/stats rule named")
    # 3. + nodes/stats: Heapster's job.
    token = c.mint_token("heapster-test-stats", "default", cluster_rules=["get:nodes/stats"],
                         duration="1h")
    before, since = node_cpu(env, token), time.time_ns()
    apply(c, [EXTRA_CLUSTER_ROLE, EXTRA_CLUSTER_ROLE_BINDING])
    points = wait_node_points(c, env, since)
    after = node_cpu(env, token)
    for n in env.nodes.names():
        for t, v in points[n]:
            assert before[n] <= v <= after[n], (n, before[n], v, after[n])
    log(f"cpu/usage of {sorted(points)} within the kubelets' values; "
        f"{time.monotonic() - t0:.1f}s after apply")
    assert pods(c)[0]["status"]["containerStatuses"][0]["restartCount"] == 0
    check_process(pod, want_cmd)

    # Heapster's database: k8s with its retention policy "default", the database's default.
    rps = c.influx_rows("SHOW RETENTION POLICIES", DB)
    assert [(r["name"], r["default"]) for r in rps] == [("default", True)], rps
    # memory/node_capacity: the Node's capacity, as the kubelet reports it.
    caps = node_points(c, "memory/node_capacity", since)
    for n in env.nodes.names():
        status, node = c.api("GET", f"/api/v1/nodes/{n}")
        want = int(re.fullmatch(r"(\d+)Ki", node["status"]["capacity"]["memory"]).group(1)) * 1024
        assert caps[n] and {v for _, v in caps[n]} == {want}, (n, caps.get(n), want)
    # The pod's own container, with Heapster's tags and not the four its sink dropped.
    rows = c.influx_rows(f"SELECT value FROM \"cpu/usage\" WHERE time >= {since} AND "
                         f"type = 'pod_container' AND pod_name = '{name}' GROUP BY *", DB)
    assert rows, "no cpu/usage of the heapster pod's container"
    r = rows[0]
    assert r["namespace_name"] == NS and r["container_name"] == "heapster", r
    assert r["nodename"] == pod["spec"]["nodeName"], r
    assert "k8s-app:heapster" in r["labels"] and "task:monitoring" in r["labels"], r
    keys = {row["tagKey"] for row in c.influx_rows('SHOW TAG KEYS FROM "cpu/usage"', DB)}
    assert {"nodename", "type", "namespace_name", "pod_name", "container_name", "labels",
            "cluster_name"} <= keys, keys
    assert not keys & {"pod_id", "namespace_id", "hostname", "host_id"}, keys
    # Heapster's model API, on Heapster's port 8082 (the one its Service targets) as kubepulse
    # listens there when run as /heapster without --listen, lists the nodes. On demand (the
    # default, --model-api): the first request starts the window, answered from it empty, and
    # the next cycle's nodes are there.
    url = f"http://{pod['status']['podIP']}:{STATUS_PORT}/api/v1/model/nodes/"
    code, body = http_get(url)
    assert code == 200 and json.loads(body) == [], (code, body)
    wait_for(lambda: (lambda r: r[0] == 200 and sorted(json.loads(r[1])) == env.nodes.names())(
        http_get(url)), timeout=RES + 30, interval=2, what="the model API's nodes")


@pytest.mark.parametrize("n", range(len(SEED)), ids=[f"seed{i + 1}" for i in range(len(SEED))])
def test_seed_command_line(env, n):
    c = env.c
    delete_deployment(c)
    # Heapster's ServiceAccount and binding, and the rules kubepulse needs beyond them.
    apply(c, [d for d in adapt(manifests(), env) if d["kind"] != "Deployment"] +
          [EXTRA_ROLE, EXTRA_ROLE_BINDING, EXTRA_CLUSTER_ROLE, EXTRA_CLUSTER_ROLE_BINDING])
    args = SEED[n].split()
    secret = None
    if "auth=/root/.kube/config" in SEED[n]:  # E6
        secret = "heapster-kubeconfig"
        token = c.kubectl("create", "token", "heapster", "-n", NS, "--duration", "1h").stdout
        kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "heapster",
                      "clusters": [{"name": "c", "cluster": {"server": c.apiserver}}],
                      "users": [{"name": "heapster", "user": {"token": token.strip()}}],
                      "contexts": [{"name": "heapster",
                                    # the Lease's namespace (--lease-namespace's
                                    # default with a kubeconfig: its context's)
                                    "context": {"cluster": "c", "user": "heapster",
                                                "namespace": NS}}]}
        c.kubectl("delete", "secret", secret, "-n", NS, "--ignore-not-found")
        c.kubectl("create", "secret", "generic", secret, "-n", NS,
                  f"--from-literal=config={yaml.safe_dump(kubeconfig)}")
    docs = adapt(manifests(), env, args, secret)
    cmd = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"][0]["command"]
    log(f"seed {n + 1}: {' '.join(cmd)}")
    assert not any(a in " ".join(cmd) for a in OFF_MACHINE)
    since = time.time_ns()
    apply(c, docs)
    if any(a in SEED[n] for a in OFF_MACHINE):
        # The removed insecure port: exit 1, the reason in the log, the address never left.
        url = f"http://127.0.0.1:{env.unused}"

        def crashed():
            for p in pods(c):
                for cs in p["status"].get("containerStatuses", []):
                    t = (cs.get("lastState") or {}).get("terminated") or \
                        (cs.get("state") or {}).get("terminated")
                    if t:
                        return p, t
            return None
        pod, term = wait_for(crashed, timeout=90, interval=0.5, what="kubepulse's exit")
        assert term["exitCode"] == 1, term
        # The log of the container that exited (--previous), or of the current one once it has
        # exited the same way; either may be gone while the kubelet restarts the container.
        want = f"cannot reach the API server at {url} ("
        lg = wait_for(lambda: next((x for x in (pod_log(c, pod["metadata"]["name"], True),
                                                pod_log(c, pod["metadata"]["name"]))
                                    if want in x), None),
                      timeout=60, interval=0.5, what="kubepulse's reason in the pod's log")
        assert ("kube-apiserver has served no plain-HTTP port since Kubernetes 1.20 "
                "(--insecure-port, 8080, was removed), so Heapster's http://HOST:8080 command "
                "lines cannot work") in lg, lg[-3000:]
        return
    pod = running_pod(c)
    if "kubeletPort=" in SEED[n]:
        # Every node on that one port (E5): node 1 answers there, the others refuse.
        first = env.c.env["KP_NODE_1_NAME"]
        points = wait_node_points(c, env, since, nodes=[first])
        assert set(points) == {first}, points
        others = [x for x in env.nodes.names() if x != first]
        wait_for(lambda: all(f'"kubelet scrape failing" node="{x}" reason="connect" '
                             f'detail="Failed to connect to {x} port {env.kubelet_port_1} '
                             in pod_log(c, pod["metadata"]["name"]) for x in others),
                 timeout=30, interval=1, what="the other nodes' failures on that port")
    else:
        wait_node_points(c, env, since)
    check_process(pod, cmd)
    if "insecure=true" in SEED[n]:
        assert "TLS verification of the API server is off" in pod_log(c, pod["metadata"]["name"])
