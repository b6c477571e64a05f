# SPDX-License-Identifier: Apache-2.0
"""The real nodes of tests/infra (up.sh --with-node): three kubelets v1.32.13, each with its own
containerd, on 127.0.0.2-4 (tests/infra/node.sh, README "Real nodes").

The module starts its own cluster with nodes in a temporary directory (it must see the whole
life of the cluster, down.sh included) and checks what an operator installing a chart on it
relies on: the nodes become Ready, a Deployment's pods run in network namespaces of their own
that lead nowhere, a hostNetwork pod runs on its node's address, the kubelet answers
/stats/summary only to a token with nodes/stats (webhook authentication and authorization),
its serving certificate verifies against the cluster CA (and, self-signed, does not), logs and
exec work, every socket of the cluster is on loopback, the machine's sysctls, firewall and
default paths are untouched, and down.sh leaves no process, mount or cgroup behind.

Skipped, with `node.sh check`'s one-line reason, on a machine that cannot run containers.
"""

import json
import os
import re
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kpharness import INFRA_DIR, Cluster, read_env_file, wait_for

NODE_SH = INFRA_DIR / "node.sh"
SYSCTLS = ["vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
           "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward",
           "net/ipv4/conf/all/forwarding", "net/ipv6/conf/all/forwarding"]
# Default paths of containerd, the kubelet and CNI that the nodes must never create.
HOST_PATHS = ["/run/containerd", "/var/lib/kubelet", "/var/lib/containerd", "/var/log/pods",
              "/var/log/containers", "/opt/containerd", "/etc/cni/net.d", "/etc/kubernetes"]


def run(cmd, timeout=120, check=True):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def host_state():
    """What the nodes must leave as it is: sysctls, default paths, and no trace of Kubernetes
    or CNI in the firewall or among the machine's network links. (Only traces of our kind are
    compared: other tests on the same machine may add nftables tables and veth pairs.)"""
    state = {}
    for name in SYSCTLS:
        try:
            state[name] = Path("/proc/sys", name).read_text().strip()
        except OSError:
            state[name] = None
    nft = run(["nft", "list", "ruleset"], check=False).stdout
    state["nft"] = sorted(set(re.findall(r"\b(?:KUBE|CNI)-[A-Z0-9-]+", nft)))
    links = re.findall(r"^\d+: ([^:@]+)", run(["ip", "-o", "link"]).stdout, re.M)
    state["links"] = sorted(n for n in links if re.match(r"(cni|kp-nowhere|cbr|kube)", n))
    state["paths"] = {p: os.path.lexists(p) for p in HOST_PATHS}
    return state


class Nodes:
    """The cluster with nodes started by this module, and what was measured on the way."""

    def __init__(self, state_dir: Path, up_secs: float, before: dict):
        self.state_dir = state_dir
        self.up_secs = up_secs
        self.before = before
        self.cluster = Cluster(state_dir / "env")
        self.down_done = False

    @property
    def env(self):
        return self.cluster.reload_env()

    def count(self):
        return int(self.env["KP_NODES"])

    def node(self, i, key):
        return self.env[f"KP_NODE_{i}_{key}"]

    def kubelet_get(self, i, path, token=None, cafile=None):
        """GET from node i's kubelet, verifying its certificate against ``cafile`` (default:
        the CA the env names for it). Returns (status, body); raises ssl.SSLError when the
        certificate does not verify."""
        ctx = ssl.create_default_context(cafile=cafile or self.node(i, "KUBELET_CA"))
        req = urllib.request.Request(self.node(i, "KUBELET_URL") + path)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def cgroup_pids(self):
        """Every pid in the nodes' cgroups (kubelets, containerd, shims, pods, holders)."""
        top = self.env["KP_NODE_CGROUP_ROOT"].lstrip("/")
        pids = set()
        for mount in cgroup_mounts():
            for root, _dirs, files in os.walk(Path(mount, top)):
                if "cgroup.procs" in files:
                    try:
                        pids.update(int(p) for p in Path(root, "cgroup.procs").read_text().split())
                    except OSError:
                        pass
        return pids

    def server_pids(self):
        pids = set()
        for f in self.state_dir.glob("*.pid"):
            try:
                pids.add(int(f.read_text().strip()))
            except (OSError, ValueError):
                pass
        return pids


def cgroup_mounts():
    out = run(["findmnt", "-rn", "-t", "cgroup,cgroup2", "-o", "TARGET"]).stdout
    return out.split()


@pytest.fixture(scope="module")
def nodes(request):
    check = run([NODE_SH, "check"], check=False)
    if check.returncode != 0:
        pytest.skip(check.stdout.strip() or check.stderr.strip())
    before = host_state()
    # Under ctest a fixed place in the build tree: should a run be killed before its
    # down.sh, the next up.sh into the same directory stops what it left running.
    if os.environ.get("KP_BUILD_DIR"):
        state_dir = Path(os.environ["KP_BUILD_DIR"], "real-node")
        state_dir.mkdir(parents=True, exist_ok=True)
    else:
        state_dir = Path(tempfile.mkdtemp(prefix="kp-node-"))
    t0 = time.monotonic()
    up = subprocess.run([str(INFRA_DIR / "up.sh"), "--with-node", str(state_dir)],
                        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800)
    up_secs = time.monotonic() - t0
    (state_dir / "up.log").write_text(up.stderr)
    if up.returncode != 0:
        errors = [line for line in up.stderr.splitlines() if "error" in line]
        pytest.fail(f"up.sh --with-node {state_dir} failed (log: {state_dir}/up.log):\n"
                    + "\n".join(errors), pytrace=False)
    print(f"\nup.sh --with-node: {up_secs:.1f}s\n{up.stderr}")
    n = Nodes(state_dir, up_secs, before)
    yield n
    if not n.down_done:
        subprocess.run([str(INFRA_DIR / "down.sh"), str(state_dir)], check=False)
    # The servers' logs stay for a look when something failed (or when asked).
    if os.environ.get("KP_KEEP_INFRA") != "1" and request.session.testsfailed == 0:
        subprocess.run([str(INFRA_DIR / "down.sh"), str(state_dir), "--purge"], check=False)
    else:
        print(f"\nkept the real-node cluster's state in {state_dir}")


def apply(cluster, obj):
    cluster.kubectl("apply", "-f", "-", input=obj)


def pods_running(cluster, ns, selector):
    out = json.loads(cluster.kubectl("get", "pods", "-n", ns, "-l", selector, "-o", "json").stdout)
    return out["items"]


def wait_running(cluster, ns, selector, count, timeout=90):
    def ready():
        items = pods_running(cluster, ns, selector)
        ok = [p for p in items if p["status"].get("phase") == "Running"
              and all(c.get("ready") for c in p["status"].get("containerStatuses", [{}]))]
        return ok if len(ok) == count else None
    return wait_for(ready, timeout=timeout, interval=0.2, what=f"{count} pods {selector} Running")


def workload_pod_spec(env, args, host_network=False):
    spec = {
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 2,
        "containers": [{"name": "work", "image": env["KP_NODE_WORKLOAD_IMAGE"],
                        "imagePullPolicy": "Never", "args": args}],
    }
    if host_network:
        spec["hostNetwork"] = True
    return spec


def test_nodes_ready(nodes):
    env = nodes.env
    names = env["KP_NODE_NAMES"].split(",")
    assert names == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    items = json.loads(nodes.cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    by_name = {n["metadata"]["name"]: n for n in items}
    for i, name in enumerate(names, start=1):
        node = by_name[name]
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", node["status"]["conditions"]
        addrs = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert addrs == {"InternalIP": name, "Hostname": name}
        assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == \
            int(env[f"KP_NODE_{i}_KUBELET_PORT"])
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.13"
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
        assert not [t for t in node["spec"].get("taints", [])
                    if t["key"].startswith("node.kubernetes.io/")], node["spec"]["taints"]


def test_deployment_pods_run_in_their_own_network_namespace(nodes):
    cluster, env = nodes.cluster, nodes.env
    ns = cluster.create_namespace("real-node-deploy")
    t0 = time.monotonic()
    apply(cluster, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "burn", "namespace": ns},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "burn"}},
                 "template": {"metadata": {"labels": {"app": "burn"}},
                              "spec": workload_pod_spec(env, ["--cpu", "20", "--mem", "8"])}}})
    pods = wait_running(cluster, ns, "app=burn", 3)
    print(f"Deployment of 3: Running after {time.monotonic() - t0:.1f}s")
    host_netns = os.readlink("/proc/self/ns/net")
    for pod in pods:
        name = pod["metadata"]["name"]
        assert pod["status"]["podIP"] == "127.0.0.1"
        out = cluster.kubectl("exec", "-n", ns, name, "--", "sh", "-c",
                              "readlink /proc/self/ns/net; echo ==; ip -o addr; echo ==; ip -o link;"
                              " echo ==; ip route; echo ==; ip -6 route; echo ==;"
                              " cat /etc/resolv.conf; echo ==;"
                              " nc -w 2 10.96.0.1 443 </dev/null 2>&1; true").stdout
        netns, addrs, links, routes, routes6, resolv, connect = out.split("==\n")
        assert netns.strip() != host_netns, "the pod shares the machine's network namespace"
        # The only addresses: loopback's. No route at all, so nothing leaves the namespace.
        inet = re.findall(r"\binet6? (\S+)", addrs)
        assert sorted(inet) == ["127.0.0.1/8", "::1/128"], addrs
        assert re.search(r"^\d+: eth0@", links, re.M), links
        assert routes.strip() == "" and "default" not in routes6, (routes, routes6)
        assert resolv.split() == ["nameserver", "127.0.0.1"], resolv
        assert "Network is unreachable" in connect, connect


def test_host_network_pod_runs_on_its_node_address(nodes):
    cluster, env = nodes.cluster, nodes.env
    ns = cluster.create_namespace("real-node-hostnet")
    node = env["KP_NODE_2_NAME"]
    spec = workload_pod_spec(env, [], host_network=True)
    spec["nodeName"] = node
    apply(cluster, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hostnet",
                    "namespace": ns, "labels": {"app": "hostnet"}}, "spec": spec})
    pod = wait_running(cluster, ns, "app=hostnet", 1)[0]
    assert pod["status"]["podIP"] == node
    out = cluster.kubectl("exec", "-n", ns, "hostnet", "--", "sh", "-c",
                          "readlink /proc/self/ns/net; cat /etc/resolv.conf").stdout.split("\n")
    assert out[0] == os.readlink("/proc/self/ns/net")
    assert out[1] == "nameserver 127.0.0.1"


def test_an_image_pull_by_mistake_stays_on_loopback(nodes):
    """No registry is reachable and none may be tried: containerd resolves names with the
    node's resolv.conf (nameserver 127.0.0.1), so a pull fails at once on loopback."""
    cluster, env = nodes.cluster, nodes.env
    ns = cluster.create_namespace("real-node-pull")
    spec = workload_pod_spec(env, [])
    spec["containers"][0].update(image="kubepulse.test/absent:1", imagePullPolicy="Always")
    apply(cluster, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pull",
                    "namespace": ns}, "spec": spec})

    def pull_failed():
        events = json.loads(cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout)
        msgs = [e["message"] for e in events["items"] if e["reason"] == "Failed"]
        return msgs or None

    msgs = wait_for(pull_failed, timeout=60, what="the pull to fail")
    assert any("127.0.0.1:53" in m for m in msgs), msgs


def test_logs_and_exec_through_the_api_server(nodes):
    cluster, env = nodes.cluster, nodes.env
    ns = cluster.create_namespace("real-node-logs")
    apply(cluster, {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "logs", "namespace": ns, "labels": {"app": "logs"}},
                    "spec": workload_pod_spec(env, ["--cpu", "1"])})
    wait_running(cluster, ns, "app=logs", 1)
    logs = wait_for(lambda: cluster.kubectl("logs", "-n", ns, "logs").stdout or None, timeout=20)
    assert "burn: cpu=1m mem=0MiB" in logs
    assert cluster.kubectl("exec", "-n", ns, "logs", "--", "id", "-u").stdout.strip() == "0"


def test_projected_service_account_token_reaches_the_pod(nodes):
    """The kubelet mounts the token volume (a tmpfs) in the node's mount namespace, where
    containerd, which binds it into the container, must see it: the pod reads a token the API
    server takes as the pod's ServiceAccount, and the kube-root-ca.crt the controller-manager
    publishes."""
    cluster, env = nodes.cluster, nodes.env
    ns = cluster.create_namespace("real-node-token")
    spec = workload_pod_spec(env, [])
    spec["automountServiceAccountToken"] = True
    apply(cluster, {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "token", "namespace": ns, "labels": {"app": "token"}},
                    "spec": spec})
    wait_running(cluster, ns, "app=token", 1)
    sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount"
    token = cluster.kubectl("exec", "-n", ns, "token", "--", "cat", f"{sa_dir}/token").stdout
    ca = cluster.kubectl("exec", "-n", ns, "token", "--", "cat", f"{sa_dir}/ca.crt").stdout
    assert ca == Path(env["KP_CA_CERT"]).read_text()
    status, review = cluster.api("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                 {"apiVersion": "authentication.k8s.io/v1",
                                  "kind": "SelfSubjectReview"}, token=token.strip())
    assert status == 201, review
    user = review["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{ns}:default"
    assert user["extra"]["authentication.kubernetes.io/pod-name"] == ["token"]


def test_kubelet_stats_need_a_token_with_nodes_stats(nodes):
    cluster = nodes.cluster
    ns = cluster.create_namespace("real-node-authz")
    allowed = cluster.mint_token("stats", ns, cluster_rules=["get:nodes/stats"])
    denied = cluster.mint_token("nostats", ns)
    for i in range(1, nodes.count() + 1):
        status, body = nodes.kubelet_get(i, "/stats/summary", token=allowed)
        assert status == 200, body
        summary = json.loads(body)
        assert summary["node"]["nodeName"] == nodes.node(i, "NAME")
        assert {c["name"] for c in summary["node"]["systemContainers"]} >= \
            {"kubelet", "runtime", "pods"}
        status, body = nodes.kubelet_get(i, "/stats/summary", token=denied)
        assert status == 403, body
        assert "verb=get, resource=nodes, subresource(s)=[stats]" in body
        status, body = nodes.kubelet_get(i, "/stats/summary")
        assert status == 401, body
        # An invalid token is refused by the TokenReview, not let through.
        status, _ = nodes.kubelet_get(i, "/stats/summary", token=allowed[:-4] + "AAAA")
        assert status == 401


def test_summary_measures_a_workload(nodes):
    """The kubelet's Summary reports what burn uses: its memory and its CPU share."""
    cluster, env = nodes.cluster, nodes.env
    ns = cluster.create_namespace("real-node-burn")
    node = env["KP_NODE_3_NAME"]
    spec = workload_pod_spec(env, ["--cpu", "200", "--mem", "48"])
    spec["nodeName"] = node
    apply(cluster, {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "burn", "namespace": ns, "labels": {"app": "burn"}},
                    "spec": spec})
    wait_running(cluster, ns, "app=burn", 1)
    token = cluster.mint_token("stats", ns, cluster_rules=["get:nodes/stats"])

    def measured():
        status, body = nodes.kubelet_get(3, "/stats/summary", token=token)
        assert status == 200, body
        for pod in json.loads(body)["pods"]:
            if pod["podRef"]["namespace"] == ns:
                c = pod["containers"][0]
                if c.get("cpu", {}).get("usageNanoCores") and c.get("memory", {}).get(
                        "workingSetBytes") and pod.get("network"):
                    return pod
        return None

    pod = wait_for(measured, timeout=60, interval=1, what="burn in the Summary")
    c = pod["containers"][0]
    assert c["memory"]["workingSetBytes"] >= 48 << 20
    # 200 millicores asked; the machine's other load may take some of it, never add to it.
    assert 30e6 < c["cpu"]["usageNanoCores"] < 400e6, c["cpu"]
    assert [i["name"] for i in pod["network"]["interfaces"] if i["name"] == "eth0"]


def test_serving_certificate_verifies_against_the_cluster_ca(nodes):
    env = nodes.env
    assert env["KP_NODE_SERVING"] == "ca"
    for i in range(1, nodes.count() + 1):
        assert nodes.node(i, "KUBELET_CA") == env["KP_CA_CERT"]
        status, _ = nodes.kubelet_get(i, "/healthz", cafile=env["KP_CA_CERT"])
        assert status == 401  # verified TLS, then authentication (anonymous is off)


def test_self_signed_serving_certificate_does_not(nodes):
    """kubeadm's default: the kubelet's own CA. The cluster CA must not verify it; the CA the
    env names for that node (and the bundle KP_KUBELET_CA) must."""
    env = nodes.env
    run([NODE_SH, "serving", nodes.state_dir, "1", "self-signed"])
    try:
        env = nodes.env
        assert env["KP_NODE_1_SERVING"] == "self-signed"
        assert env["KP_NODE_1_KUBELET_CA"] != env["KP_CA_CERT"]
        with pytest.raises(urllib.error.URLError) as err:
            nodes.kubelet_get(1, "/healthz", cafile=env["KP_CA_CERT"])
        assert isinstance(err.value.reason, ssl.SSLCertVerificationError), err.value
        status, _ = nodes.kubelet_get(1, "/healthz")
        assert status == 401
        for i in range(1, nodes.count() + 1):
            status, _ = nodes.kubelet_get(i, "/healthz", cafile=env["KP_KUBELET_CA"])
            assert status == 401
        wait_for(lambda: node_ready(nodes, env["KP_NODE_1_NAME"]), timeout=30)
    finally:
        run([NODE_SH, "serving", nodes.state_dir, "1", "ca"])
    status, _ = nodes.kubelet_get(1, "/healthz", cafile=nodes.env["KP_CA_CERT"])
    assert status == 401


def node_ready(nodes, name):
    _, node = nodes.cluster.api("GET", f"/api/v1/nodes/{name}")
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def test_every_socket_of_the_cluster_is_on_loopback(nodes):
    pids = nodes.cgroup_pids() | nodes.server_pids()
    assert len(pids) > 10
    host_netns = os.readlink("/proc/self/ns/net")
    netns_of = {}
    for pid in pids:
        try:
            netns_of.setdefault(os.readlink(f"/proc/{pid}/ns/net"), pid)
        except OSError:
            pass
    checked = 0
    bad = []
    for netns, pid in netns_of.items():
        cmd = ["ss", "-tuanpH"]
        if netns != host_netns:
            cmd = ["nsenter", f"--net=/proc/{pid}/ns/net", "--"] + cmd
        for line in run(cmd).stdout.splitlines():
            owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
            if netns == host_netns and not owners & pids:
                continue
            fields = line.split()
            local, peer = fields[4], fields[5]
            checked += 1
            addrs = [local]
            if peer.rsplit(":", 1)[0] not in ("*", "0.0.0.0", "[::]"):
                addrs.append(peer)  # (a listening or unconnected socket has no peer)
            for addr in addrs:
                host = addr.rsplit(":", 1)[0].strip("[]")
                host = host.removeprefix("::ffff:")
                if not (host.startswith("127.") or host == "::1"):
                    bad.append(line)
    assert checked > 10, "no sockets of the cluster seen"
    assert not bad, "\n".join(bad)


def test_the_machine_is_untouched_while_running(nodes):
    now = host_state()
    for key, value in nodes.before.items():
        assert now[key] == value, f"{key} changed while the nodes run: {value!r} -> {now[key]!r}"
    # Nothing the nodes mounted is visible outside their own mount namespaces.
    state = str(nodes.state_dir)
    assert state not in Path("/proc/self/mountinfo").read_text()


def test_zz_down_leaves_nothing_behind(nodes):
    env = nodes.env
    pids = nodes.cgroup_pids() | nodes.server_pids()
    top = env["KP_NODE_CGROUP_ROOT"]
    run([INFRA_DIR / "down.sh", nodes.state_dir], timeout=300)
    nodes.down_done = True
    state = str(nodes.state_dir)
    alive = [p for p in pids if Path(f"/proc/{p}").exists()
             and Path(f"/proc/{p}/stat").read_text().split(")")[-1].split()[0] not in "ZX"]
    assert not alive, f"processes left: {alive}"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            mounts = (proc / "mountinfo").read_text()
        except OSError:
            continue
        assert state not in cmdline, f"pid {proc.name} left: {cmdline}"
        # A mount namespace of a node that outlived down.sh would still show its mounts.
        assert state not in mounts, f"pid {proc.name} still sees mounts under {state}"
    for mount in cgroup_mounts():
        assert not Path(mount, top.lstrip("/")).exists(), f"cgroup {mount}{top} left"
    after = host_state()
    for key, value in nodes.before.items():
        assert after[key] == value, f"{key} changed: {value!r} -> {after[key]!r}"
    assert read_env_file(nodes.state_dir / "env")["KP_NODE_1_KUBELET_PID"] == ""
