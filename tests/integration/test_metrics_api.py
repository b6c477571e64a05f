# SPDX-License-Identifier: Apache-2.0
"""test_metrics_api.py - the resource metrics API (metrics.k8s.io/v1beta1, issue #17) served
by kubepulse from its own scrape, against the real API server and the kubelet simulator.

test_followers_and_takeover: two replicas; the follower serves its copy of the leader's
samples (fetched from the leader's /kubepulse/v1/samples with its ServiceAccount token, the
leader's address read from the "<lease>-metrics-api" Lease); the leader SIGTERMed while a
client polls the follower every 0.2 s: every answer is complete, and the gap between fresh
timestamps is measured and printed.

test_aggregated: through the real aggregation layer. Two replicas in a network namespace the
test makes, on two addresses of its veth (the API server refuses loopback Endpoints); a
selector-less Service and its Endpoints, the APIService v1beta1.metrics.k8s.io with the
cluster CA as caBundle (the serving certificate names the Service), the front proxy's
certificates from tests/infra/pki.sh. `kubectl top node`, `top pod -A`, `-n`, `-l`,
`--containers` equal the API's values (themselves checked against the kubelet's samples),
`--sort-by` orders; a user without rights gets 403, a request carrying front-proxy headers
without the front proxy's certificate 401; the leader taken out of the Endpoints (as for a
terminating pod) and SIGTERMed while `kubectl top node` runs back to back: the count of failed
runs and the longest time between two answers are printed.

test_chart_metrics_api_objects: the chart rendered: the APIService's caBundle is the generated
CA, which verifies the serving certificate for the Service's DNS name (openssl verify); no
insecureSkipTLSVerify; flags, port, volume, the Role's second Lease, the aggregated reader role;
the API server accepts every object (server-side dry run); cert-manager and "off" variants.

test_least_privilege: each binding the metrics API adds (system:auth-delegator, the
extension-apiserver-authentication reader, the followers' samples role) removed in turn, and
what breaks: no TokenReview or SubjectAccessReview (503, never 200), no front-proxy settings
(503), no copy of the leader's samples on a follower (503, the leader logs the refused pull).

test_direct: one replica with --metrics-api-listen on loopback, its ServiceAccount holding
exactly the chart's RBAC plus the chart's system:auth-delegator ClusterRoleBinding and
extension-apiserver-authentication-reader RoleBinding. Requests straight to it:
- no credentials, front-proxy headers without the front-proxy certificate, or a bad token:
  401; a certificate of the cluster CA named like the front proxy is only that user (its
  headers are ignored): 403; a token without metrics.k8s.io rights, or the real front
  proxy's certificate naming a user without rights: 403 (TokenReview and
  SubjectAccessReview by the API server); a token allowed pods but not nodes: 200 / 403;
- the admin (client certificate of the cluster CA): NodeMetrics and PodMetrics whose usage,
  timestamp and window are metrics-server's computation over the kubelet's own responses
  (the simulator's /expected at the two sample times), for every node and container;
  labelSelector and fieldSelector filter as the API server's grammar says.

Runtime: about 90 s (test_aggregated needs root for its network namespace; skipped otherwise).
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from kpharness import wait_for
from kpreplicas import World, free_port

RES = 2.0


def parse_duration(s: str) -> float:
    """Go's time.Duration.String() back to seconds."""
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(h|ms|µs|us|ns|m|s)", s):
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "µs": 1e-6,
                               "us": 1e-6, "ns": 1e-9}[unit]
    return total


def parse_quantity(s: str) -> float:
    m = re.fullmatch(r"([0-9]+)(n|u|m|k|M|G|T|Ki|Mi|Gi|Ti|)", s)
    assert m, s
    return int(m.group(1)) * {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6,
                               "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
                               "Ti": 2**40}[m.group(2)]


def ts_of(s: str) -> int:
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
               .timestamp())


SAMPLES_PATH = "/kubepulse/v1/samples"


def grant_delegation(cluster, namespace: str, sa: str = "kubepulse") -> None:
    """The chart's bindings for delegated authentication and authorization, and the
    followers' right to fetch the leader's samples."""
    subj = [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}]
    cluster.kubectl("apply", "-f", "-", input={
        "apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": f"{namespace}-{sa}-samples"},
             "rules": [{"nonResourceURLs": [SAMPLES_PATH], "verbs": ["get"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": f"{namespace}-{sa}-samples"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": f"{namespace}-{sa}-samples"}, "subjects": subj},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": f"{namespace}-{sa}-auth-delegator"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": "system:auth-delegator"}, "subjects": subj},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": f"{namespace}-{sa}-auth-reader", "namespace": "kube-system"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                         "name": "extension-apiserver-authentication-reader"},
             "subjects": subj}]})


def revoke_delegation(cluster, namespace: str, sa: str = "kubepulse") -> None:
    for kind in ("clusterrolebinding", "clusterrole"):
        cluster.kubectl("delete", kind, f"{namespace}-{sa}-samples", "--ignore-not-found",
                        check=False)
    cluster.kubectl("delete", "clusterrolebinding", f"{namespace}-{sa}-auth-delegator",
                    "--ignore-not-found", check=False)
    cluster.kubectl("delete", "rolebinding", "-n", "kube-system", f"{namespace}-{sa}-auth-reader",
                    "--ignore-not-found", check=False)


class Client:
    """HTTPS to the metrics API, verifying its certificate against the cluster CA."""

    def __init__(self, base: str, ca: str):
        self.base, self.ca = base, ca

    def get(self, path: str, cert: tuple[str, str] | None = None, token: str | None = None,
            headers: dict | None = None) -> tuple[int, dict]:
        ctx = ssl.create_default_context(cafile=self.ca)
        if cert:
            ctx.load_cert_chain(*cert)
        req = urllib.request.Request(self.base + path, headers=dict(headers or {}))
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=15) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


NODES_PATH = "/apis/metrics.k8s.io/v1beta1/nodes"


def wait_all_nodes(api: Client, cert, timeout: float, what: str) -> dict:
    """The NodeMetrics list of api once it holds all 3 nodes (refused connections retried)."""
    def all_nodes():
        try:
            code, body = api.get(NODES_PATH, cert=cert)
        except OSError:
            return None
        return body if code == 200 and len(body["items"]) == 3 else None
    return wait_for(all_nodes, timeout=timeout, interval=0.5, what=what)


def expected(world, node: str, t: int) -> dict:
    url = (f"http://{world.sim_control}/expected?node={node}&time={t}"
           "&only_cpu_and_memory=true")
    return json.loads(urllib.request.urlopen(url, timeout=30).read())


def usage(last: dict, prev: dict, t1: float, t0: float) -> tuple[float, int]:
    """metrics-server's resourceUsage from two kubelet samples: (cores, working set)."""
    delta = last["cpu"]["usageCoreNanoSeconds"] - prev["cpu"]["usageCoreNanoSeconds"]
    return int(delta / (t1 - t0)) / 1e9, last["memory"]["workingSetBytes"]


@pytest.fixture
def world(cluster, procs, namespace, tmp_path):
    w = World(cluster, procs, namespace, tmp_path, res=RES)
    grant_delegation(cluster, namespace)
    w.start_sim(nodes=3, pods=3)
    yield w
    w.cleanup()
    revoke_delegation(cluster, namespace)


def node_of(world, pod: str) -> str:
    return next(n["name"] for n in world.manifest["nodes"] if pod.endswith("-" + n["name"]))


def check_values(world, nodes: dict, pods: dict) -> None:
    """Every NodeMetrics and PodMetrics is metrics-server's computation over the two kubelet
    samples its timestamp and window name."""
    names = {n["name"] for n in world.manifest["nodes"]}
    assert {i["metadata"]["name"] for i in nodes["items"]} == names
    for item in nodes["items"]:
        t1, w = ts_of(item["timestamp"]), parse_duration(item["window"])
        assert w == world.res, item
        last = expected(world, item["metadata"]["name"], t1)["node"]
        prev = expected(world, item["metadata"]["name"], int(t1 - w))["node"]
        cores, ws = usage(last, prev, t1, t1 - w)
        assert parse_quantity(item["usage"]["cpu"]) == pytest.approx(cores, abs=1e-9), item
        assert parse_quantity(item["usage"]["memory"]) == ws, item
        assert item["metadata"]["labels"]["kubernetes.io/hostname"] == item["metadata"]["name"]
    registered = {(p["namespace"], p["name"]) for n in world.manifest["nodes"]
                  for p in n["pods"] if p["registrable"]}
    for item in pods["items"]:
        key = (item["metadata"]["namespace"], item["metadata"]["name"])
        assert key in registered
        node = node_of(world, key[1])
        t1, w = ts_of(item["timestamp"]), parse_duration(item["window"])
        last = {p["podRef"]["name"]: p for p in expected(world, node, t1)["pods"]}[key[1]]
        prev = {p["podRef"]["name"]: p
                for p in expected(world, node, int(t1 - w))["pods"]}[key[1]]
        lc = {c["name"]: c for c in last["containers"]}
        pc = {c["name"]: c for c in prev["containers"]}
        assert {c["name"] for c in item["containers"]} == set(lc), item
        for c in item["containers"]:
            cores, ws = usage(lc[c["name"]], pc[c["name"]], t1, t1 - w)
            assert parse_quantity(c["usage"]["cpu"]) == pytest.approx(cores, abs=1e-9), c
            assert parse_quantity(c["usage"]["memory"]) == ws, c
    assert len(pods["items"]) == len(registered)


def test_direct(cluster, world, tmp_path):
    crt, key = cluster.issue_cert("metrics-api-direct", "kubepulse-metrics",
                                  sans=["IP:127.0.0.1"])
    port = free_port()
    # --model-api=always: the model API's history from the start, as Heapster kept it (the
    # default, on demand, is test_heapster_flags.py's)
    r = world.start("mapi", extra=[f"--metrics-api-listen=127.0.0.1:{port}",
                               f"--tls-cert-file={crt}", f"--tls-private-key-file={key}",
                               "--model-api=always"])
    api = Client(f"https://127.0.0.1:{port}", cluster.ca_cert)
    admin = (cluster.env["KP_ADMIN_CERT"], cluster.env["KP_ADMIN_KEY"])
    wait_all_nodes(api, admin, timeout=30, what="NodeMetrics of all 3 nodes")

    # ---- authentication and authorization
    assert api.get(NODES_PATH)[0] == 401
    forged = {"X-Remote-User": "admin", "X-Remote-Group": "system:masters"}
    assert api.get(NODES_PATH, headers=forged)[0] == 401
    fake = cluster.issue_cert("fake-front-proxy", "front-proxy-client")
    code, body = api.get(NODES_PATH, cert=fake, headers=forged)
    assert code == 403 and 'User "front-proxy-client"' in body["message"], (code, body)
    front = (cluster.env["KP_FRONT_PROXY_CERT"], cluster.env["KP_FRONT_PROXY_KEY"])
    code, body = api.get(NODES_PATH, cert=front, headers={"X-Remote-User": "bob"})
    assert code == 403 and 'User "bob" cannot list resource "nodes"' in body["message"], body
    code, body = api.get(NODES_PATH, cert=front, headers=forged)
    assert code == 200, body
    nobody = cluster.mint_token("nobody", world.ns)
    code, body = api.get("/apis/metrics.k8s.io/v1beta1/namespaces/ns-0/pods", token=nobody)
    assert code == 403 and 'in the namespace "ns-0"' in body["message"], body
    assert api.get(NODES_PATH, token="not-a-token")[0] == 401
    reader = cluster.mint_token("reader", world.ns,
                                cluster_rules=["get,list:pods.metrics.k8s.io"])
    assert api.get("/apis/metrics.k8s.io/v1beta1/pods", token=reader)[0] == 200
    assert api.get(NODES_PATH, token=reader)[0] == 403

    # ---- values
    code, nodes = api.get(NODES_PATH, cert=admin)
    code, pods = api.get("/apis/metrics.k8s.io/v1beta1/pods", cert=admin)
    assert code == 200
    check_values(world, nodes, pods)

    # ---- selectors, one namespace, get
    code, body = api.get("/apis/metrics.k8s.io/v1beta1/namespaces/ns-1/pods", cert=admin)
    assert code == 200 and body["items"]
    assert {i["metadata"]["namespace"] for i in body["items"]} == {"ns-1"}
    some = pods["items"][0]["metadata"]
    app = some["labels"]["app"]
    code, body = api.get(f"/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3D{app}",
                         cert=admin)
    assert body["items"] and all(i["metadata"]["labels"]["app"] == app for i in body["items"])
    code, body = api.get("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app+notin+"
                         f"({app}),kubepulse.io/sim", cert=admin)
    assert body["items"] and all(i["metadata"]["labels"]["app"] != app for i in body["items"])
    code, body = api.get("/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=metadata.name%3D"
                         + some["name"], cert=admin)
    assert [i["metadata"]["name"] for i in body["items"]] == [some["name"]]
    code, body = api.get(f"/apis/metrics.k8s.io/v1beta1/namespaces/{some['namespace']}/pods/"
                         f"{some['name']}", cert=admin)
    assert code == 200 and body["kind"] == "PodMetrics"
    code, body = api.get("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app+in+(", cert=admin)
    assert code == 400 and body["reason"] == "BadRequest"
    code, body = api.get(NODES_PATH + "/no-such-node", cert=admin)
    assert code == 404 and body["reason"] == "NotFound"
    code, body = api.get("/openapi/v2", cert=admin)
    assert code == 200
    assert "io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics" in body["definitions"]
    check_model_api(world, r)
    world.assert_none_died()
    world.check_sanitizers()


def check_model_api(world, replica):
    """Heapster's model API on the status port (the seed notes' query), recording from the
    start (--model-api=always): a namespace's memory/usage between start and end is the sum
    of its pods' memory usage in the kubelet's Summary at each point's time; the list
    endpoints name what is there."""
    import urllib.parse
    from kpreplicas import http_get

    def get(path):
        code, body = http_get(replica.port, path)
        assert code == 200, (path, code, body)
        return json.loads(body)
    assert "ns-0" in get("/api/v1/model/namespaces/")
    assert {n["name"] for n in world.manifest["nodes"]} <= set(get("/api/v1/model/nodes/"))
    assert "memory/usage" in get("/api/v1/model/namespaces/ns-0/metrics/")
    pods = get("/api/v1/model/namespaces/ns-0/pods/")
    assert pods and all(p.startswith("p") for p in pods)
    latest = get("/api/v1/model/namespaces/ns-0/metrics/memory/usage")["latestTimestamp"]
    end = ts_of(latest)
    q = urllib.parse.urlencode({"start": datetime.fromtimestamp(end - 2 * RES, timezone.utc)
                                .strftime("%Y-%m-%dT%H:%M:%SZ"), "end": latest})
    res = get(f"/api/v1/model/namespaces/ns-0/metrics/memory/usage?{q}")
    assert 2 <= len(res["metrics"]) <= 3, res
    for point in res["metrics"]:
        t = ts_of(point["timestamp"])
        want = 0
        for n in world.manifest["nodes"]:
            for p in expected(world, n["name"], t)["pods"]:
                if p["podRef"]["namespace"] == "ns-0":
                    want += p["memory"]["usageBytes"]
        assert point["value"] == want, (point, want)


def test_followers_and_takeover(cluster, world, tmp_path, capsys):
    crt, key = cluster.issue_cert("metrics-api-ha", "kubepulse-metrics", sans=["IP:127.0.0.1"])
    ports = [free_port(), free_port()]
    admin = (cluster.env["KP_ADMIN_CERT"], cluster.env["KP_ADMIN_KEY"])
    reps = []
    for port in ports:
        reps.append(world.start("mapi-ha", extra=[
            f"--metrics-api-listen=127.0.0.1:{port}", f"--tls-cert-file={crt}",
            f"--tls-private-key-file={key}", "--metrics-api-advertise-address=127.0.0.1",
            f"--metrics-api-ca-file={cluster.ca_cert}"]))
    apis = [Client(f"https://127.0.0.1:{p}", cluster.ca_cert) for p in ports]
    leader = world.leader(timeout=30)
    li = reps.index(leader)
    follower, fapi = reps[1 - li], apis[1 - li]
    wait_all_nodes(fapi, admin, timeout=40, what="the follower's copy")
    code, nodes = fapi.get(NODES_PATH, cert=admin)
    code, pods = fapi.get("/apis/metrics.k8s.io/v1beta1/pods", cert=admin)
    check_values(world, nodes, pods)
    # the samples endpoint: only for those allowed, only on the leader
    assert fapi.get(SAMPLES_PATH, cert=admin)[0] == 503
    nobody = cluster.mint_token("nobody-samples", world.ns)
    assert apis[li].get(SAMPLES_PATH, token=nobody)[0] == 403

    # the leader goes; the follower answers throughout
    import time as _t
    leader.signal(15)
    polls, fresh = [], []
    end = _t.time() + 6 * RES + 4
    last_ts = None
    while _t.time() < end:
        t = _t.time()
        code, body = fapi.get(NODES_PATH, cert=admin)
        polls.append((t, code, len(body.get("items", []))))
        if code == 200 and body["items"]:
            ts = max(ts_of(i["timestamp"]) for i in body["items"])
            if ts != last_ts:
                fresh.append((t, ts))
                last_ts = ts
        _t.sleep(0.2)
    bad = [p for p in polls if p[1] != 200 or p[2] != 3]
    assert not bad, f"the follower failed {len(bad)} of {len(polls)} polls: {bad[:5]}"
    assert follower.leading()
    gaps = [b[0] - a[0] for a, b in zip(fresh, fresh[1:])]
    with capsys.disabled():
        print(f"\ntakeover: {len(polls)} polls of the follower, all complete; fresh data every "
              f"{', '.join(f'{g:.1f}' for g in gaps)} s (resolution {RES} s); "
              f"largest gap between fresh timestamps {max(gaps):.1f} s")
    assert len(fresh) >= 3 and max(gaps) <= 3 * RES + 1
    code, nodes = fapi.get(NODES_PATH, cert=admin)
    code, pods = fapi.get("/apis/metrics.k8s.io/v1beta1/pods", cert=admin)
    check_values(world, nodes, pods)
    world.check_sanitizers()


# ---- through the API server's aggregation layer ------------------------------------------

SVC = "kp-metrics"


def serve_aggregated(cluster, world, netns, addrs, port: int, name: str, extra=()) -> list:
    """A replica NAME-N in netns per address of addrs serving the metrics API at addr:port
    with a certificate for the Service SVC in world's namespace, and the APIService through
    that Service (apply_api_service). Returns the replicas, which are in world.replicas too."""
    import netns as kpnetns
    ns = world.ns
    dns = f"{SVC}.{ns}.svc"
    crt, key = cluster.issue_cert(f"metrics-api-{ns}", dns,
                                  sans=[f"DNS:{dns}", f"DNS:{SVC}.{ns}"])
    reps = []
    for addr in addrs:
        world.n += 1
        argv = world.argv(extra=[f"--metrics-api-listen={addr}:{port}",
                                 f"--tls-cert-file={crt}", f"--tls-private-key-file={key}",
                                 f"--metrics-api-advertise-address={addr}",
                                 f"--metrics-api-ca-file={cluster.ca_cert}",
                                 f"--metrics-api-peer-server-name={dns}", *extra])
        reps.append(kpnetns.NetnsReplica(world, f"{name}-{world.n}", argv, netns))
    world.replicas.extend(reps)
    apply_api_service(cluster, ns, addrs, port)
    return reps


def apply_api_service(cluster, ns: str, addrs, port: int) -> None:
    """The metrics.k8s.io APIService, served through the Service SVC in ns by the replicas at
    addrs:port (an Endpoints of our own: no selector), verified with the cluster's CA."""
    ca = base64.b64encode(Path(cluster.ca_cert).read_bytes()).decode()
    cluster.kubectl("apply", "-f", "-", input={"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": SVC, "namespace": ns},
         "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": SVC, "namespace": ns},
         "subsets": [{"addresses": [{"ip": a} for a in addrs],
                      "ports": [{"name": "https", "port": port}]}]},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": "v1beta1.metrics.k8s.io"},
         "spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                  "groupPriorityMinimum": 100, "versionPriority": 100, "caBundle": ca,
                  "service": {"name": SVC, "namespace": ns, "port": 443}}}]})


@pytest.fixture
def netns_two_addrs(procs):
    """A network namespace (tests/chaos/netns.py) with two addresses on its veth, one per
    replica: the API server refuses loopback Endpoints, so the replicas' metrics API must have
    addresses the test made. Both replicas run in this one namespace so that a follower
    reaches the leader (the host does not forward between veths): its loopback is up without
    127/8 (which stays routed to the host's servers), so its own addresses are reachable from
    inside. The second address is routed to the veth on the host; the route goes with it."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))
    import netns as kpnetns
    n, addrs = kpnetns.serving_two_or_skip("aggregated metrics API")
    try:
        yield n, addrs
    finally:
        for p in procs.procs:
            if p.argv[:4] == n.exec_argv([]):
                p.stop()
        n.delete()


def kubectl_top(cluster, *args, token: str | None = None):
    return cluster.kubectl("top", *args, token=token, check=False, timeout=30)


def milli(q: str) -> int:
    """resource.Quantity.MilliValue(): rounded up."""
    import math
    return math.ceil(round(parse_quantity(q) * 1000, 6))


def mebi(q: str) -> int:
    return int(parse_quantity(q)) // (1 << 20)


def top_nodes_expected(nodes: dict) -> dict:
    return {i["metadata"]["name"]: (f"{milli(i['usage']['cpu'])}m", f"{mebi(i['usage']['memory'])}Mi")
            for i in nodes["items"]}


def pod_sums(item: dict) -> tuple[str, str]:
    import math
    cpu = sum(parse_quantity(c["usage"]["cpu"]) for c in item["containers"])
    mem = sum(int(parse_quantity(c["usage"]["memory"])) for c in item["containers"])
    return f"{math.ceil(round(cpu * 1000, 6))}m", f"{mem // (1 << 20)}Mi"


def table(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()[1:]]


MINE: set[str] = set()  # the world's node names: other tests' nodes may share the cluster


def mine(rows: list[list[str]]) -> list[list[str]]:
    return [r for r in rows if r[0] in MINE]


def agree(cluster, path: str, run, want_of, got_of):
    """kubectl's table (got_of(run())) equals what the API's JSON at path says it should
    (want_of(json)). The aggregator picks a replica per request and a follower's copy may be
    one cycle behind the leader's for half a resolution, so this retries until the reads
    agree (and fails with the last difference)."""
    last = None
    for _ in range(20):
        before = json.loads(cluster.kubectl("get", "--raw", path).stdout)
        out = run()
        after = json.loads(cluster.kubectl("get", "--raw", path).stdout)
        assert out.returncode == 0, out.stderr
        want, got = want_of(before), got_of(out)
        if want and got == want and want_of(after) == want:
            return before
        last = (got, want)
        import time as _t
        _t.sleep(0.3)
    raise AssertionError(f"kubectl top never agreed with {path}: {last}")


def strip_times(doc: dict) -> dict:
    for i in doc["items"]:
        i["metadata"].pop("creationTimestamp", None)
    return doc


def test_aggregated(cluster, world, netns_two_addrs, capsys):
    import time as _t
    from kpreplicas import log
    ns = world.ns
    MINE.clear()
    MINE.update(n["name"] for n in world.manifest["nodes"])
    dns = f"{SVC}.{ns}.svc"
    port = 4443
    n, addrs = netns_two_addrs
    reps = serve_aggregated(cluster, world, n, addrs, port, "agg", ["--v=2"])
    addr_of = {r.identity: a for r, a in zip(reps, addrs)}
    try:
        def available():
            svc = json.loads(cluster.kubectl("get", "apiservice", "v1beta1.metrics.k8s.io",
                                             "-o", "json").stdout)
            conds = {c["type"]: c["status"] for c in svc["status"].get("conditions", [])}
            if conds.get("Available") != "True":
                return None
            # both replicas (the aggregator picks one per request) have every node
            for _ in range(6):
                raw = cluster.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes",
                                      check=False)
                if raw.returncode != 0 or {i["metadata"]["name"] for i in json.loads(
                        raw.stdout)["items"]} & MINE != MINE:
                    return None
            out = kubectl_top(cluster, "node")
            return out if out.returncode == 0 and len(mine(table(out.stdout))) == 3 else None
        try:
            wait_for(available, timeout=90, interval=1,
                     what="kubectl top node via the aggregator")
        except AssertionError:
            svc = cluster.kubectl("get", "apiservice", "v1beta1.metrics.k8s.io", "-o",
                                  "jsonpath={.status}", check=False).stdout
            top = kubectl_top(cluster, "node")
            raw = cluster.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1", check=False)
            vers = cluster.kubectl("api-versions", check=False)
            logs = "\n".join(f"{r.identity}: {r.proc.text()[-3000:]}" for r in reps)
            raise AssertionError(f"APIService status {svc}; kubectl top: {top.stderr}\n"
                                 f"raw: {raw.stdout[:300]} {raw.stderr[:300]}\n"
                                 f"api-versions: {vers.stdout} {vers.stderr[:300]}\n{logs}")
        base = "/apis/metrics.k8s.io/v1beta1"

        # values through the aggregator: metrics-server's computation over the kubelet's
        code_nodes = json.loads(cluster.kubectl("get", "--raw", f"{base}/nodes").stdout)
        code_pods = json.loads(cluster.kubectl("get", "--raw", f"{base}/pods").stdout)
        check_values(world, code_nodes, code_pods)

        # kubectl top node / pod -A / -n / -l / --containers / --sort-by
        agree(cluster, f"{base}/nodes", lambda: kubectl_top(cluster, "node"),
              lambda j: {k: v for k, v in top_nodes_expected(j).items() if k in MINE},
              lambda out: {r[0]: (r[1], r[3]) for r in mine(table(out.stdout))})
        agree(cluster, f"{base}/pods", lambda: kubectl_top(cluster, "pod", "-A"),
              lambda j: {(i["metadata"]["namespace"], i["metadata"]["name"]): pod_sums(i)
                         for i in j["items"]},
              lambda out: {(r[0], r[1]): (r[2], r[3]) for r in table(out.stdout)})
        agree(cluster, f"{base}/namespaces/ns-1/pods",
              lambda: kubectl_top(cluster, "pod", "-n", "ns-1"),
              lambda j: {i["metadata"]["name"]: pod_sums(i) for i in j["items"]},
              lambda out: {r[0]: (r[1], r[2]) for r in table(out.stdout)})
        agree(cluster, f"{base}/pods?labelSelector=app%3Dweb",
              lambda: kubectl_top(cluster, "pod", "-A", "-l", "app=web"),
              lambda j: {(i["metadata"]["namespace"], i["metadata"]["name"]): pod_sums(i)
                         for i in j["items"]},
              lambda out: {(r[0], r[1]): (r[2], r[3]) for r in table(out.stdout)})
        agree(cluster, f"{base}/pods", lambda: kubectl_top(cluster, "pod", "-A", "--containers"),
              lambda j: {(i["metadata"]["namespace"], i["metadata"]["name"], c["name"]):
                         (f"{milli(c['usage']['cpu'])}m", f"{mebi(c['usage']['memory'])}Mi")
                         for i in j["items"] for c in i["containers"]},
              lambda out: {(r[0], r[1], r[2]): (r[3], r[4]) for r in table(out.stdout)})
        for key, col in (("cpu", 2), ("memory", 3)):
            out = kubectl_top(cluster, "pod", "-A", f"--sort-by={key}")
            vals = [parse_quantity(r[col]) for r in table(out.stdout)]
            assert out.returncode == 0 and vals == sorted(vals, reverse=True), out.stdout

        # a user without metrics.k8s.io rights: 403 from us, through the aggregator
        nobody = cluster.mint_token("nobody-top", ns)
        out = kubectl_top(cluster, "pod", "-n", "ns-0", token=nobody)
        assert out.returncode != 0 and "forbidden" in out.stderr.lower(), out.stderr
        # straight to a replica, not from the aggregator: the front-proxy headers count for
        # nothing without the front proxy's certificate
        a = addrs[0]
        p = __import__("subprocess").run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
             cluster.ca_cert, "--resolve", f"{dns}:{port}:{a}", "-H", "X-Remote-User: admin",
             "-H", "X-Remote-Group: system:masters", f"https://{dns}:{port}{base}/nodes"],
            capture_output=True, text=True, timeout=20)
        code = int(p.stdout or 0)
        assert code == 401, code

        # the leader SIGTERMed: kubectl top keeps answering
        leader = world.leader(timeout=30)
        results = []
        t_sig = None
        end = _t.time() + 40
        while _t.time() < end:
            t0 = _t.time()
            out = kubectl_top(cluster, "node")
            results.append((t0, _t.time(),
                            out.returncode == 0 and len(mine(table(out.stdout))) == 3,
                            out.stderr.strip()[:120]))
            if t_sig is None and _t.time() > end - 30:
                # as the endpoints controller does for a terminating pod: out of the
                # Service's endpoints, then SIGTERM
                rest = [{"ip": a} for a in addrs if a != addr_of[leader.identity]]
                cluster.kubectl("patch", "endpoints", SVC, "-n", ns, "--type=merge", "-p",
                                json.dumps({"subsets": [{"addresses": rest, "ports": [
                                    {"name": "https", "port": port}]}]}))
                t_sig = leader.signal(15)
        fails = [r for r in results if not r[2]]
        ok_times = [r[1] for r in results if r[2]]
        gaps = [b - a for a, b in zip(ok_times, ok_times[1:])]
        after = [r for r in results if r[0] > t_sig]
        with capsys.disabled():
            print(f"\naggregated takeover: {len(results)} `kubectl top node` runs, "
                  f"{len(fails)} failed; longest time between two answers {max(gaps):.2f} s "
                  f"(resolution {RES} s); {len(after)} runs after the SIGTERM")
        assert not fails, fails[:3]
        assert after and all(r[2] for r in after)
        new = world.leader(timeout=30, exclude=leader)
        assert new is not leader
        nodes = json.loads(cluster.kubectl("get", "--raw", f"{base}/nodes").stdout)
        pods = json.loads(cluster.kubectl("get", "--raw", f"{base}/pods").stdout)
        check_values(world, nodes, pods)
        log(f"aggregated: new leader {new.identity}")
        world.check_sanitizers()
    finally:
        cluster.kubectl("delete", "apiservice", "v1beta1.metrics.k8s.io", "--ignore-not-found",
                        check=False)


# ---- least privilege: each of the metrics API's bindings removed in turn -------------------

# (id, object deleted, can-i that must turn to "no", what breaks)
LEAST = [
    ("auth-delegator", ("clusterrolebinding", "{ns}-kubepulse-auth-delegator", None),
     ("create", "tokenreviews.authentication.k8s.io"), "token_review"),
    ("auth-reader", ("rolebinding", "{ns}-kubepulse-auth-reader", "kube-system"),
     ("get", "configmaps/extension-apiserver-authentication", "-n", "kube-system"),
     "not_configured"),
    ("samples", ("clusterrolebinding", "{ns}-kubepulse-samples", None),
     ("get", "/kubepulse/v1/samples"), "follower_empty"),
]


@pytest.mark.parametrize("variant", LEAST, ids=[v[0] for v in LEAST])
def test_least_privilege(cluster, world, variant):
    name, (kind, obj, obj_ns), can_i, breaks = variant
    ns = world.ns
    who = f"system:serviceaccount:{ns}:kubepulse"

    def allowed():
        out = cluster.kubectl("auth", "can-i", *can_i, f"--as={who}", check=False)
        return out.stdout.strip() == "yes"
    assert allowed(), f"{name}: the bindings do not allow {can_i}"
    where = ["-n", obj_ns] if obj_ns else []
    cluster.kubectl("delete", kind, obj.format(ns=ns), *where)
    wait_for(lambda: not allowed(), timeout=10, what=f"{name}: rule gone")
    crt, key = cluster.issue_cert(f"metrics-api-lp-{name}", "kubepulse-metrics",
                                  sans=["IP:127.0.0.1"])
    ports = [free_port(), free_port()] if breaks == "follower_empty" else [free_port()]
    reps = [world.start(f"lp-{name}", extra=[
        f"--metrics-api-listen=127.0.0.1:{p}", f"--tls-cert-file={crt}",
        f"--tls-private-key-file={key}", "--metrics-api-advertise-address=127.0.0.1",
        f"--metrics-api-ca-file={cluster.ca_cert}"]) for p in ports]
    apis = [Client(f"https://127.0.0.1:{p}", cluster.ca_cert) for p in ports]
    admin = (cluster.env["KP_ADMIN_CERT"], cluster.env["KP_ADMIN_KEY"])
    path = "/apis/metrics.k8s.io/v1beta1/nodes"
    if breaks == "follower_empty":
        leader = world.leader(timeout=30)
        li = reps.index(leader)

        def leader_serves():
            try:
                code, body = apis[li].get(path, cert=admin)
            except OSError:
                return None
            return code == 200 and len(body["items"]) == 3
        wait_for(leader_serves, timeout=30, interval=0.5, what="the leader's NodeMetrics")
        import time as _t
        _t.sleep(3 * RES)
        code, body = apis[1 - li].get(path, cert=admin)
        assert code == 503 and "not reached the leader" in body["message"], (code, body)
        assert re.search(r"cannot fetch the leader's samples.*\"status\":403",
                         reps[1 - li].proc.text()), "the follower's refused pull is not logged"
        return
    reader = cluster.mint_token(f"reader-{name}", ns,
                                cluster_rules=["get,list:nodes.metrics.k8s.io"])

    def answered():
        try:
            return apis[0].get(path, token=reader)
        except OSError:
            return None
    code, body = wait_for(answered, timeout=20, interval=0.5, what="an answer")
    if breaks == "token_review":
        # the TokenReview is refused: no decision, 503 (never a 200)
        assert code == 503 and "TokenReview" in body["message"], (code, body)
        wait_for(lambda: "TokenReview failed" in reps[0].proc.text(), timeout=10,
                 what="the refused TokenReview logged")
        code, body = apis[0].get(path, cert=admin)
        assert code == 503 and "SubjectAccessReview" in body["message"], (code, body)
    else:
        assert code == 503 and "not configured" in body["message"], (code, body)
        wait_for(lambda: "extension-apiserver-authentication" in reps[0].proc.text(),
                 timeout=10, what="the refused ConfigMap logged")


# ---- the chart's metrics API objects ------------------------------------------------------


def test_chart_metrics_api_objects(cluster, namespace, tmp_path):
    """The chart as rendered (helm template) and dry-run by the API server: the APIService's
    caBundle is the generated Secret's CA, which verifies the serving certificate for the
    Service's DNS name (what the aggregator checks); never insecureSkipTLSVerify; the pods
    mount it and get the flags; the Role names the second Lease; view/edit/admin aggregate the
    reader role. cert-manager: Issuers and Certificates, the caBundle injected instead."""
    import subprocess
    import yaml
    from test_packaging import CHART, Helm
    out = subprocess.run([str(Path(__file__).resolve().parents[2] / "scripts" / "build-helm.sh")],
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr
    helm = Helm(out.stdout.strip().splitlines()[-1], tmp_path / "helm", cluster.kubeconfig)
    ns = namespace
    text = helm.run("template", "kp", CHART, "--namespace", ns, "--skip-tests").stdout
    docs = [d for d in yaml.safe_load_all(text) if d]
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    api = by[("APIService", "v1beta1.metrics.k8s.io")]["spec"]
    assert "insecureSkipTLSVerify" not in api
    assert api["service"] == {"name": "kp-kubepulse-metrics-api", "namespace": ns, "port": 443}
    secret = by[("Secret", "kp-kubepulse-metrics-api-tls")]["data"]
    assert api["caBundle"] == secret["ca.crt"]
    for k in ("ca.crt", "tls.crt", "tls.key"):
        (tmp_path / k).write_bytes(base64.b64decode(secret[k]))
    v = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.crt"), "-purpose",
                        "sslserver", "-verify_hostname", f"kp-kubepulse-metrics-api.{ns}.svc",
                        str(tmp_path / "tls.crt")], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    svc = by[("Service", "kp-kubepulse-metrics-api")]["spec"]
    assert svc["ports"][0]["targetPort"] == "metrics-api"
    dep = by[("Deployment", "kp-kubepulse")]["spec"]["template"]["spec"]
    c = dep["containers"][0]
    assert "--metrics-api-listen=:4443" in c["args"]
    assert f"--metrics-api-peer-server-name=kp-kubepulse-metrics-api.{ns}.svc" in c["args"]
    assert any(p["name"] == "metrics-api" and p["containerPort"] == 4443 for p in c["ports"])
    assert any(e["name"] == "POD_IP" for e in c["env"])
    assert any(vol.get("secret", {}).get("secretName") == "kp-kubepulse-metrics-api-tls"
               for vol in dep["volumes"])
    role = by[("Role", "kp-kubepulse")]
    assert "kubepulse-metrics-api" in role["rules"][0]["resourceNames"]
    reader = by[("ClusterRole", "kp-kubepulse-metrics-reader")]
    for r in ("view", "edit", "admin"):
        assert reader["metadata"]["labels"][f"rbac.authorization.k8s.io/aggregate-to-{r}"] == "true"
    assert by[("RoleBinding", "kp-kubepulse-auth-reader")]["metadata"]["namespace"] == "kube-system"
    assert by[("ClusterRoleBinding", "kp-kubepulse-auth-delegator")]["roleRef"]["name"] == \
        "system:auth-delegator"
    # the API server accepts every object (server-side dry run)
    dry = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=text, check=False)
    assert dry.returncode == 0, dry.stderr
    # cert-manager
    text = helm.run("template", "kp", CHART, "--namespace", ns,
                    "--set", "metricsApi.tls.source=certManager").stdout
    docs = [d for d in yaml.safe_load_all(text) if d]
    kinds = [d["kind"] for d in docs]
    assert kinds.count("Issuer") == 2 and kinds.count("Certificate") == 2
    api = next(d for d in docs if d["kind"] == "APIService")
    assert "caBundle" not in api["spec"]
    assert api["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == \
        f"{ns}/kp-kubepulse-metrics-api-tls"
    # off: nothing of it
    docs = [d for d in yaml.safe_load_all(helm.run(
        "template", "kp", CHART, "--set", "metricsApi.enabled=false").stdout) if d]
    assert not [d for d in docs if "metrics" in d["metadata"]["name"] or
                d["kind"] == "APIService"]
    dep = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert not [a for a in dep["containers"][0]["args"] if "metrics-api" in a or "tls-" in a]
