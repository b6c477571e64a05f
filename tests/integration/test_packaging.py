"""The packaging against the real API server of tests/infra: the Helm chart and deploy/ are
accepted by a server-side dry run, `helm install` creates objects whose RBAC grants exactly
what kubepulse needs (checked with the ServiceAccount's own token), scaling works through
helm and kubectl, and every query of the Grafana dashboard runs on the real InfluxDB against
points in Heapster's schema.

No node runs pods in this cluster, so the Deployment's pods are never scheduled; what is
checked is what the API server stores and authorizes.
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kubepulse"
DEPLOY = ROOT / "deploy"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"


class Helm:
    """The pinned helm (scripts/build-helm.sh), with its own config/cache dirs and the test
    cluster's admin kubeconfig."""

    def __init__(self, binary: str, home: Path, kubeconfig: str):
        self.binary = binary
        self.env = dict(os.environ, HELM_CACHE_HOME=str(home / "cache"),
                        HELM_CONFIG_HOME=str(home / "config"), HELM_DATA_HOME=str(home / "data"),
                        KUBECONFIG=kubeconfig)

    def run(self, *args, check=True, timeout=120) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.binary, *map(str, args)], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(map(str, args))} failed ({proc.returncode}): "
                                 f"{proc.stderr.strip()}")
        return proc


@pytest.fixture(scope="session")
def helm(cluster, tmp_path_factory):
    # Cold: ~1.5 min to build from the Go module proxy; then cached in ~/.cache/kubepulse/bin.
    out = subprocess.run([str(ROOT / "scripts" / "build-helm.sh")], capture_output=True,
                         text=True, timeout=1200)
    assert out.returncode == 0, out.stderr
    return Helm(out.stdout.strip().splitlines()[-1], tmp_path_factory.mktemp("helm"),
                cluster.kubeconfig)


def dry_run_server(cluster, manifests: str, *args) -> list[str]:
    """kubectl apply --dry-run=server; returns the "KIND/NAME created (server dry run)" lines."""
    proc = cluster.kubectl("apply", "--dry-run=server", "-f", "-", *args, input=manifests)
    lines = proc.stdout.strip().splitlines()
    assert lines and all("(server dry run)" in line for line in lines), proc.stdout
    return lines


# ---- chart and deploy/ ----------------------------------------------------------------------


def test_chart_lints_and_schema_rejects_bad_values(helm):
    helm.run("lint", "--strict", CHART)
    bad = {
        "replicaCount=-1": "replicaCount: Must be greater than or equal to 0",
        "replicaCount=three": "replicaCount: Invalid type. Expected: integer",
        "leaderElection.leaseDuration=15": "leaseDuration: Invalid type",
        "log.format=xml": "log.format must be one of",
        # Credentials inline in a sink URI (they would land in the pod spec): refused.
        "sinks[0]=influxdb:http://influx:8086?db=k8s&pw=secret": "sinks.0: Must not validate",
        # The API server refuses projected tokens shorter than 10 minutes.
        "serviceAccount.tokenExpirationSeconds=60": "Must be greater than or equal to 600",
        "dnsPolicy=ClusterFirstWithoutHostNet": "dnsPolicy must be one of",
        "apiServer.host=https://10.0.0.1": "apiServer.host: Does not match pattern",
    }
    for value, message in bad.items():
        proc = helm.run("template", "t", CHART, "--set", value, check=False)
        assert proc.returncode != 0, f"--set {value} was accepted"
        assert message in proc.stderr, (value, proc.stderr)
    # Several replicas without election would all write: the chart refuses to render it.
    proc = helm.run("template", "t", CHART, "--set", "leaderElection.enabled=false", check=False)
    assert proc.returncode != 0 and "needs leaderElection.enabled" in proc.stderr
    helm.run("template", "t", CHART, "--set", "leaderElection.enabled=false",
             "--set", "replicaCount=1")


def test_deploy_dir_is_the_chart_rendering():
    proc = subprocess.run([str(ROOT / "scripts" / "gen-deploy.sh"), "--check"],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr


def test_rendered_chart_passes_server_dry_run(cluster, helm, namespace):
    rendered = helm.run(
        "template", "kubepulse", CHART, "--namespace", namespace,
        "--set", "dashboard.enabled=true", "--set", "sinkSecret.name=influx-credentials",
        "--set", "config.sink-batch-lines=1000", "--set", "podDisruptionBudget.minAvailable=2",
        "--set", "priorityClassName=system-cluster-critical").stdout
    lines = dry_run_server(cluster, rendered)
    kinds = {line.split("/")[0] for line in lines}
    assert {"serviceaccount", "clusterrole.rbac.authorization.k8s.io",
            "clusterrolebinding.rbac.authorization.k8s.io", "role.rbac.authorization.k8s.io",
            "rolebinding.rbac.authorization.k8s.io", "service", "deployment.apps",
            "poddisruptionbudget.policy", "configmap", "pod"} <= kinds, lines


def test_host_network_values(cluster, helm, namespace):
    """hostNetwork with an explicit API server address: every KUBERNETES_* variable the kubelet
    would inject for the `kubernetes` Service points at that address, no service links, the
    status server on the pod IP, the chart's own projected token; the API server accepts it."""
    import yaml  # PyYAML, from python3's standard Debian install

    rendered = helm.run(
        "template", "kubepulse", CHART, "--namespace", namespace, "--set", "hostNetwork=true",
        "--set", "apiServer.host=127.0.0.1", "--set", "apiServer.port=6443",
        "--set", "serviceAccount.tokenExpirationSeconds=600").stdout
    dry_run_server(cluster, rendered)
    dep = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["hostNetwork"] is True and pod["enableServiceLinks"] is False
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert pod["automountServiceAccountToken"] is False
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert {k: v for k, v in env.items() if k.startswith("KUBERNETES_")} == {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "6443", "KUBERNETES_PORT": "tcp://127.0.0.1:6443",
        "KUBERNETES_PORT_443_TCP": "tcp://127.0.0.1:6443", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "6443", "KUBERNETES_PORT_443_TCP_ADDR": "127.0.0.1"}
    assert "--listen=$(POD_IP):8080" in c["args"]
    sources = next(v for v in pod["volumes"] if v["name"] == "kube-api-access")["projected"]
    assert sources["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 600
    mount = next(m for m in c["volumeMounts"] if m["name"] == "kube-api-access")
    assert mount["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    # Without hostNetwork: no pod IP binding, no API server variables, the cluster's DNS.
    plain = yaml.safe_load_all(helm.run("template", "kubepulse", CHART).stdout)
    pod = next(d for d in plain if d and d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert "--listen=:8080" in pod["containers"][0]["args"] and "dnsPolicy" not in pod
    assert not [e for e in pod["containers"][0]["env"] if e["name"].startswith("KUBERNETES_")]


def test_deploy_dir_passes_server_dry_run(cluster):
    out = cluster.kubectl("apply", "--dry-run=server", "-f", DEPLOY).stdout
    lines = out.strip().splitlines()
    # PDB, ServiceAccount, ClusterRole(+Binding), Role(+Binding), Service, Deployment
    assert len(lines) == 8 and all("(server dry run)" in line for line in lines), out
    assert "deployment.apps/kubepulse created (server dry run)" in lines, out


# ---- helm install: objects, RBAC, scaling ---------------------------------------------------

# What `kubectl auth can-i` must answer for the chart's ServiceAccount: (verb, resource,
# extra kubectl args, namespaced?) -> allowed. NS is replaced by the release namespace.
ALLOWED = [
    ("list", "nodes", []), ("watch", "nodes", []),
    ("get", "nodes", ["--subresource=stats"]),
    ("list", "pods", ["--all-namespaces"]), ("watch", "pods", ["--all-namespaces"]),
    ("list", "namespaces", []), ("watch", "namespaces", []),
    ("get", "leases.coordination.k8s.io/kubepulse", ["-n", "NS"]),
    ("update", "leases.coordination.k8s.io/kubepulse", ["-n", "NS"]),
    ("list", "leases.coordination.k8s.io/kubepulse", ["-n", "NS"]),
    ("watch", "leases.coordination.k8s.io/kubepulse", ["-n", "NS"]),
    ("create", "leases.coordination.k8s.io", ["-n", "NS"]),
    ("create", "events", ["-n", "NS"]),
]
FORBIDDEN = [
    ("get", "nodes", ["--subresource=proxy"]), ("create", "nodes", ["--subresource=proxy"]),
    ("get", "nodes", ["--subresource=metrics"]), ("update", "nodes", []),
    ("delete", "nodes", []), ("patch", "nodes", ["--subresource=status"]),
    # Verbs kubepulse does not use (test_packaging_rbac.py showed nothing breaks without them)
    ("get", "nodes", []), ("patch", "leases.coordination.k8s.io/kubepulse", ["-n", "NS"]),
    ("patch", "events", ["-n", "NS"]), ("create", "events.events.k8s.io", ["-n", "NS"]),
    ("get", "pods", ["-n", "NS"]), ("create", "pods", ["-n", "NS"]),
    ("create", "pods", ["--subresource=exec", "-n", "NS"]),
    ("get", "secrets", ["-n", "NS"]), ("list", "secrets", ["--all-namespaces"]),
    ("get", "configmaps", ["-n", "NS"]),
    ("update", "leases.coordination.k8s.io/other", ["-n", "NS"]),
    ("get", "leases.coordination.k8s.io/other", ["-n", "NS"]),
    ("delete", "leases.coordination.k8s.io/kubepulse", ["-n", "NS"]),
    ("list", "leases.coordination.k8s.io", ["-n", "NS"]),
    ("update", "leases.coordination.k8s.io/kubepulse", ["-n", "kube-system"]),
    ("create", "leases.coordination.k8s.io", ["-n", "kube-system"]),
    ("create", "events", ["-n", "kube-system"]),
    ("get", "events", ["-n", "NS"]),
    ("create", "serviceaccounts", ["--subresource=token", "-n", "NS"]),
]


def can_i(cluster, token, verb, resource, args, ns) -> bool:
    args = [ns if a == "NS" else a for a in args]
    proc = cluster.kubectl("auth", "can-i", verb, resource, *args, token=token, check=False)
    assert proc.stdout.strip() in ("yes", "no"), proc.stdout + proc.stderr
    return proc.returncode == 0


def rules_of(cluster, token, ns) -> set[tuple]:
    """`kubectl auth can-i --list` in ns, as a set of (resource, nonresource, names, verbs)."""
    out = cluster.kubectl("auth", "can-i", "--list", "-n", ns, token=token).stdout
    rows = set()
    for line in out.splitlines()[1:]:
        cols = re.split(r"\s{2,}", line.strip())
        if len(cols) == 4:
            rows.add(tuple(cols))
    return rows


def deployment(cluster, ns, name) -> dict:
    return json.loads(cluster.kubectl("get", "deployment", name, "-n", ns, "-o", "json").stdout)


def test_helm_install_rbac_and_scaling(cluster, helm, namespace):
    release = f"kp-{namespace[-6:]}"  # unique: the ClusterRole names derive from it
    full = f"{release}-kubepulse"
    helm.run("install", release, CHART, "--namespace", namespace,
             "--set", "dashboard.enabled=true", "--set", "sinkSecret.name=influx-credentials")
    try:
        # -- the objects, as stored by the API server
        dep = deployment(cluster, namespace, full)
        assert dep["spec"]["replicas"] == 3
        pod = dep["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert pod["serviceAccountName"] == full
        assert "--lease-namespace=$(POD_NAMESPACE)" in container["args"]
        assert "--identity=$(POD_NAME)" in container["args"]
        assert not any(re.search(r"[?&](pw|token)=", a) for a in container["args"])
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["sink-secret"]["readOnly"] is True
        cm = json.loads(cluster.kubectl("get", "configmap", f"{full}-dashboard", "-n", namespace,
                                        "-o", "json").stdout)
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(cm["data"]["kubepulse.json"])["uid"] == "kubepulse-resources"
        pdb = json.loads(cluster.kubectl("get", "pdb", full, "-n", namespace, "-o",
                                         "json").stdout)
        assert pdb["spec"]["maxUnavailable"] == 1

        # -- RBAC: the exact rules, then what the ServiceAccount's own token may do
        cr = json.loads(cluster.kubectl("get", "clusterrole", full, "-o", "json").stdout)
        assert sorted((r["resources"], r["verbs"]) for r in cr["rules"]) == [
            (["namespaces"], ["list", "watch"]), (["nodes"], ["list", "watch"]),
            (["nodes/stats"], ["get"]), (["pods"], ["list", "watch"])]
        role = json.loads(cluster.kubectl("get", "role", full, "-n", namespace, "-o",
                                          "json").stdout)
        assert {(tuple(r["resources"]), tuple(r.get("resourceNames", [])), tuple(r["verbs"]))
                for r in role["rules"]} == {
            (("leases",), ("kubepulse",), ("get", "update", "list", "watch")),
            (("leases",), (), ("create",)),
            (("events",), (), ("create",))}

        token = cluster.kubectl("create", "token", full, "-n", namespace,
                                "--duration", "15m").stdout.strip()
        wrong = {}
        for verb, res, args in ALLOWED:
            if not can_i(cluster, token, verb, res, args, namespace):
                wrong[(verb, res, *args)] = "denied"
        for verb, res, args in FORBIDDEN:
            if can_i(cluster, token, verb, res, args, namespace):
                wrong[(verb, res, *args)] = "allowed"
        assert not wrong, wrong

        # Nothing beyond what any ServiceAccount gets by default, plus the chart's rules.
        baseline = rules_of(cluster, cluster.mint_token("nobody", namespace, duration="15m"),
                            namespace)
        extra = rules_of(cluster, token, namespace) - baseline
        assert extra == {
            ("nodes", "[]", "[]", "[list watch]"), ("nodes/stats", "[]", "[]", "[get]"),
            ("pods", "[]", "[]", "[list watch]"), ("namespaces", "[]", "[]", "[list watch]"),
            ("leases.coordination.k8s.io", "[]", "[kubepulse]", "[get update list watch]"),
            ("leases.coordination.k8s.io", "[]", "[]", "[create]"),
            ("events", "[]", "[]", "[create]")}, extra

        # The requests kubepulse makes, with its token.
        leases = LEASES.format(ns=namespace)
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "kubepulse"},
                 "spec": {"holderIdentity": f"{full}-a", "leaseDurationSeconds": 15}}
        status, created = cluster.api("POST", leases, lease, token=token)
        assert status == 201, created
        status, got = cluster.api("GET", f"{leases}/kubepulse", token=token)
        assert status == 200 and got["spec"]["holderIdentity"] == f"{full}-a"
        got["spec"]["holderIdentity"] = f"{full}-b"
        status, body = cluster.api("PUT", f"{leases}/kubepulse", got, token=token)
        assert status == 200, body
        status, body = cluster.api(
            "GET", f"{leases}?fieldSelector=metadata.name%3Dkubepulse", token=token)
        assert status == 200 and [i["metadata"]["name"] for i in body["items"]] == ["kubepulse"]
        assert cluster.api("GET", leases, token=token)[0] == 403  # all leases: no
        status, _ = cluster.api("POST", leases, dict(lease, metadata={"name": "other"}),
                                token=token)
        assert status == 201  # create cannot be limited by name (documented in role.yaml) ...
        status, other = cluster.api("GET", f"{leases}/other")
        other["spec"]["holderIdentity"] = "x"
        assert cluster.api("PUT", f"{leases}/other", other, token=token)[0] == 403  # ... but
        assert cluster.api("DELETE", f"{leases}/kubepulse", token=token)[0] == 403
        assert cluster.api("GET", "/api/v1/nodes", token=token)[0] == 200
        assert cluster.api("GET", "/api/v1/pods", token=token)[0] == 200
        assert cluster.api("GET", "/api/v1/nodes/n1/proxy/stats/summary",
                           token=token)[0] == 403
        assert cluster.api("GET", f"/api/v1/namespaces/{namespace}/secrets",
                           token=token)[0] == 403

        # -- scaling: helm upgrade, then kubectl scale
        helm.run("upgrade", release, CHART, "--namespace", namespace, "--reuse-values",
                 "--set", "replicaCount=5")
        assert deployment(cluster, namespace, full)["spec"]["replicas"] == 5
        cluster.kubectl("scale", "deployment", full, "-n", namespace, "--replicas=2")
        assert deployment(cluster, namespace, full)["spec"]["replicas"] == 2
        history = helm.run("history", release, "--namespace", namespace, "-o", "json").stdout
        assert [r["status"] for r in json.loads(history)][-1] == "deployed"
    finally:
        helm.run("uninstall", release, "--namespace", namespace, check=False)
    # Cluster-scoped objects go with the release.
    proc = cluster.kubectl("get", "clusterrole", full, check=False)
    assert proc.returncode != 0 and "NotFound" in proc.stderr


# ---- the Grafana dashboard ------------------------------------------------------------------

# One series per Heapster entity type, with the tags kubepulse writes (collector/model.c).
DASHBOARD_SERIES = [
    {"type": "cluster"},
    {"type": "node", "nodename": "node-a", "hostname": "node-a", "resource_id": "/"},
    {"type": "node", "nodename": "node-b.example", "hostname": "node-b", "resource_id": "/"},
    {"type": "ns", "namespace_name": "default"},
    {"type": "ns", "namespace_name": "kube-system"},
    {"type": "pod", "namespace_name": "default", "pod_name": "web-1", "nodename": "node-a"},
    {"type": "pod_container", "namespace_name": "default", "pod_name": "web-1",
     "nodename": "node-a", "container_name": "app"},
]


def dashboard_queries(*args) -> list[dict]:
    out = subprocess.run([str(ROOT / "scripts" / "dashboard-queries.py"), "--json",
                          "--templating", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("variables", [
    [],  # every variable "All"
    ["--var", "node=node-b.example", "--var", "namespace=default", "--var", "pod=web-1"],
])
def test_dashboard_queries_return_data_from_heapster_schema(cluster, variables):
    db = f"dash_{int(time.time() * 1000)}"
    cluster.influx_query(f'CREATE DATABASE "{db}"')
    queries = dashboard_queries(*variables)
    measurements = {m for q in queries for m in re.findall(r'FROM "([^"]+)"', q["query"])}
    assert {"cpu/usage_rate", "memory/working_set", "network/rx_rate",
            "filesystem/usage"} <= measurements
    now = int(time.time())
    lines = [f"{m},{','.join(f'{k}={v}' for k, v in sorted(s.items()))} value=1000i {t}"
             for m in sorted(measurements) for s in DASHBOARD_SERIES
             for t in range(now - 900, now, 15)]
    cluster.influx_write(lines, db, precision="s")
    empty = []
    for q in queries:
        rows = cluster.influx_rows(q["query"], db)  # raises on an InfluxQL error
        if not any(v is not None for r in rows for k, v in r.items() if k != "time"):
            empty.append((q["panel"], q["refId"], q["query"]))
    assert not empty, empty
    # The cluster totals sum the nodes' latest values once per interval: 2 nodes x 1000m.
    allocatable = next(q for q in queries if "cpu/node_allocatable" in q["query"])
    values = [r["sum"] for r in cluster.influx_rows(allocatable["query"], db)
              if r.get("sum") is not None]
    assert values and set(values) == {2.0}, values
