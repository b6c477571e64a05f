# SPDX-License-Identifier: Apache-2.0
"""The Kubernetes API layer (src/http.c, kube_config.c, kube_client.c, kube_watch.c) against
the real kube-apiserver of tests/infra, driven through tests/tools/kpkube.c.

Covers: kubeconfig auth by client cert (file and inline data), bearer tokenFile rotated on
disk (picked up after the 401, with a long reload period), exec credential plugins, basic
TLS options (tls-server-name, insecure), in-cluster config, metav1.Status errors (403
Forbidden), list+watch of Leases (ADDED/MODIFIED/DELETED, paged lists) and watch resume
after an apiserver restart.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

import pytest

BUILD_DIR = Path(os.environ.get("KP_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
KPKUBE = BUILD_DIR / "tests" / "integration" / "kpkube"

LEASE_RULES = ["get,list,watch,create,update,patch,delete:leases.coordination.k8s.io"]


@pytest.fixture(scope="module", autouse=True)
def _kpkube_built():
    if not KPKUBE.exists():
        pytest.fail(f"{KPKUBE} is missing: build the kpkube target first", pytrace=False)


def kpkube(*args, env=None, timeout=60) -> list[dict]:
    """Run kpkube to completion; returns its JSON output lines."""
    proc = subprocess.run([str(KPKUBE), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"kpkube {args} -> {proc.returncode}: {proc.stderr}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def kpkube_one(*args, **kw) -> dict:
    lines = kpkube(*args, **kw)
    assert len(lines) == 1, lines
    return lines[0]


class Watcher:
    """kpkube watch in the background; lines arrive on a queue."""

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen([str(KPKUBE), *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env,
                                     stdin=subprocess.DEVNULL)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.lines.put(json.loads(line))

    def wait(self, pred, timeout=30.0, what="watch line") -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; saw {self.summary()}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if pred(line):
                return line

    def summary(self):
        return [(s.get("type"), (s.get("object") or {}).get("metadata", {}).get("name"),
                 s.get("status")) for s in self.seen]

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def event_for(type_, name):
    return lambda l: l.get("type") == type_ and l["object"]["metadata"]["name"] == name


def write_kubeconfig(path: Path, server: str, cluster: dict, user: dict, namespace="default"):
    """A kubeconfig as JSON (valid YAML), with one cluster/user/context."""
    cfg = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server, **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u",
                                               "namespace": namespace}}],
    }
    path.write_text(json.dumps(cfg, indent=1))
    return path


def b64file(path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()


def lease(name, holder="a"):
    return json.dumps({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": name}, "spec": {"holderIdentity": holder}})


def self_subject(kubeconfig) -> str:
    r = kpkube_one("--kubeconfig", kubeconfig, "request", "POST",
                   "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                   '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}')
    assert r["status"] == 201, r
    return r["body"]["status"]["userInfo"]["username"]


def rotate_sa(cluster, sa, ns, rules) -> str:
    """Invalidate every token of ServiceAccount ns/sa (delete + recreate it) and mint a new one."""
    old_uid = json.loads(cluster.kubectl("get", "sa", sa, "-n", ns, "-o", "json").stdout)
    cluster.kubectl("delete", "sa", sa, "-n", ns, "--wait=true")
    token = cluster.mint_token(sa, ns, rules=rules)
    new_uid = json.loads(cluster.kubectl("get", "sa", sa, "-n", ns, "-o", "json").stdout)
    assert old_uid["metadata"]["uid"] != new_uid["metadata"]["uid"]
    return token


def wait_token_dead(cluster, token, path):
    """The apiserver caches token reviews for ~10 s: wait until the old token is refused."""
    deadline = time.monotonic() + 30
    while cluster.api("GET", path, token=token)[0] != 401:
        assert time.monotonic() < deadline, "old token still accepted"
        time.sleep(0.5)


def token_file_kubeconfig(cluster, namespace, tmp_path, sa):
    """A ServiceAccount SA with LEASE_RULES and a kubeconfig that reads its token from a file:
    (token, the token file, the kubeconfig, the namespace's leases path)."""
    token = cluster.mint_token(sa, namespace, rules=LEASE_RULES)
    tfile = tmp_path / "token"
    tfile.write_text(token)
    kc = write_kubeconfig(tmp_path / "kc.yaml", cluster.apiserver,
                          {"certificate-authority": cluster.ca_cert}, {"tokenFile": str(tfile)})
    return token, tfile, kc, f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


# ---- client certificates ------------------------------------------------------------------

def test_admin_kubeconfig_client_cert_files(cluster):
    r = kpkube_one("--kubeconfig", cluster.kubeconfig, "get", "/api/v1/namespaces/default")
    assert r["status"] == 200 and r["http_error"] == "ok"
    assert r["body"]["metadata"]["name"] == "default"
    r = kpkube_one("--kubeconfig", cluster.kubeconfig, "get", "/api/v1/namespaces/kp-none-x")
    assert r["status"] == 404 and r["reason"] == "NotFound"
    assert "not found" in r["error"]


def test_inline_data_and_kubeconfig_env(cluster, tmp_path):
    crt, key = cluster.admin_cert
    kc = write_kubeconfig(tmp_path / "inline.yaml", cluster.apiserver,
                          {"certificate-authority-data": b64file(cluster.ca_cert)},
                          {"client-certificate-data": b64file(crt),
                           "client-key-data": b64file(key)})
    env = dict(os.environ, KUBECONFIG=f"/nonexistent/x:{kc}")
    env.pop("KUBERNETES_SERVICE_HOST", None)
    r = kpkube_one("--auto", "get", "/version", env=env)
    assert r["status"] == 200 and r["body"]["major"] == "1"


def test_relative_paths_and_tls_server_name(cluster, tmp_path):
    crt, key = cluster.admin_cert
    for name, src in (("ca.crt", cluster.ca_cert), ("a.crt", crt), ("a.key", key)):
        (tmp_path / name).write_bytes(Path(src).read_bytes())
    server = cluster.apiserver.replace("127.0.0.1", "localhost")
    good = write_kubeconfig(tmp_path / "good.yaml", server,
                            {"certificate-authority": "ca.crt",
                             "tls-server-name": "kubernetes.default.svc"},
                            {"client-certificate": "a.crt", "client-key": "a.key"})
    r = kpkube_one("--kubeconfig", good, "get", "/api/v1/namespaces/default")
    assert r["status"] == 200, r
    bad = write_kubeconfig(tmp_path / "bad.yaml", server,
                           {"certificate-authority": "ca.crt", "tls-server-name": "evil.example"},
                           {"client-certificate": "a.crt", "client-key": "a.key"})
    r = kpkube_one("--kubeconfig", bad, "get", "/api/v1/namespaces/default")
    assert r["status"] == 0 and r["http_error"] == "tls", r
    # No CA at all: verification fails, unless insecure-skip-tls-verify.
    noca = write_kubeconfig(tmp_path / "noca.yaml", server, {},
                            {"client-certificate": "a.crt", "client-key": "a.key"})
    assert kpkube_one("--kubeconfig", noca, "get", "/version")["http_error"] == "tls"
    insecure = write_kubeconfig(tmp_path / "insecure.yaml", server,
                                {"insecure-skip-tls-verify": True},
                                {"client-certificate": "a.crt", "client-key": "a.key"})
    assert kpkube_one("--kubeconfig", insecure, "get", "/version")["status"] == 200


def test_connect_error_is_classified(cluster, tmp_path):
    kc = write_kubeconfig(tmp_path / "dead.yaml", "https://127.0.0.1:1",
                          {"certificate-authority": cluster.ca_cert}, {})
    r = kpkube_one("--kubeconfig", kc, "get", "/version")
    assert r["status"] == 0 and r["http_error"] == "connect", r


# ---- bearer tokens ------------------------------------------------------------------------

def test_forbidden_status_is_parsed(cluster, namespace, tmp_path):
    token = cluster.mint_token("norights", namespace)
    (tmp_path / "token").write_text(token + "\n")
    kc = write_kubeconfig(tmp_path / "kc.yaml", cluster.apiserver,
                          {"certificate-authority": cluster.ca_cert}, {"tokenFile": "token"})
    r = kpkube_one("--kubeconfig", kc, "get", f"/api/v1/namespaces/{namespace}/configmaps")
    assert r["status"] == 403 and r["reason"] == "Forbidden", r
    assert 'cannot list resource "configmaps"' in r["error"], r["error"]
    assert f"system:serviceaccount:{namespace}:norights" in r["error"]
    assert token not in json.dumps(r)


def test_token_file_rotation_picked_up_after_401(cluster, namespace, tmp_path):
    token, tfile, kc, path = token_file_kubeconfig(cluster, namespace, tmp_path, "rot")
    # Reload period of an hour: only the 401 can make the client re-read the file.
    w = Watcher("--kubeconfig", kc, "--token-reload", 3600, "--watch-timeout", 2,
                "--timeout", 120, "watch", path)
    try:
        w.wait(lambda l: l["type"] == "LIST_DONE")
        new = rotate_sa(cluster, "rot", namespace, LEASE_RULES)
        wait_token_dead(cluster, token, path)
        tfile.write_text(new + "\n")
        time.sleep(3)  # the watch reconnects (timeoutSeconds=2) with the old token: 401
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=lease("after-rotation"))
        w.wait(event_for("ADDED", "after-rotation"), timeout=40)
    finally:
        err = w.stop()
    assert token not in err and new not in err
    # A plain request retried after the 401 never shows the 401 to the caller.
    tfile.write_text(token)  # stale again
    r = kpkube_one("--kubeconfig", kc, "--token-reload", 3600, "get", path)
    assert r["status"] == 401  # no fresh token on disk: the retry fails too
    tfile.write_text(new)
    r = kpkube_one("--kubeconfig", kc, "--token-reload", 3600, "get", path)
    assert r["status"] == 200


def test_token_file_periodic_reload(cluster, namespace, tmp_path):
    token, tfile, kc, path = token_file_kubeconfig(cluster, namespace, tmp_path, "periodic")
    proc = subprocess.Popen([str(KPKUBE), "--kubeconfig", str(kc), "--token-reload", "1",
                             "poll", path, "12", "0.5"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        tfile.write_text("garbage-token-that-is-not-valid")  # reload picks it up -> 401s
        time.sleep(2.5)
        tfile.write_text(token)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    statuses = [json.loads(l)["status"] for l in out.splitlines()]
    assert statuses[0] == 200 and statuses[-1] == 200 and 401 in statuses, statuses


def test_exec_plugin(cluster, namespace, tmp_path):
    token = cluster.mint_token("execsa", namespace, rules=LEASE_RULES)
    (tmp_path / "tok").write_text(token)
    runs = tmp_path / "runs"
    plugin = tmp_path / "bin" / "plugin.sh"
    plugin.parent.mkdir()
    plugin.write_text(f"""#!/bin/sh
echo run >> {runs}
[ "$1" = "--flag" ] || exit 3
[ "$KP_PLUGIN_ENV" = "yes" ] || exit 4
case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) exit 5 ;; esac
printf '{{"apiVersion":"%s","kind":"ExecCredential","status":{{"token":"%s",\
"expirationTimestamp":"2099-01-01T00:00:00Z"}}}}' "$API" "$(cat {tmp_path / 'tok'})"
""")
    plugin.chmod(0o755)
    for api in ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"):
        kc = write_kubeconfig(tmp_path / "kc.yaml", cluster.apiserver,
                              {"certificate-authority": cluster.ca_cert},
                              {"exec": {"apiVersion": api, "command": "./bin/plugin.sh",
                                        "args": ["--flag"],
                                        "env": [{"name": "KP_PLUGIN_ENV", "value": "yes"},
                                                {"name": "API", "value": api}]}})
        assert self_subject(kc) == f"system:serviceaccount:{namespace}:execsa"
    # Cached until expiry: several requests, one run.
    runs.write_text("")
    lines = kpkube("--kubeconfig", kc, "poll",
                   f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases", 3, 0.1)
    assert [l["status"] for l in lines] == [200, 200, 200]
    assert runs.read_text().count("run") == 1
    # Rejected credential: the plugin runs again and the request is retried once.
    new = rotate_sa(cluster, "execsa", namespace, LEASE_RULES)
    wait_token_dead(cluster, token, f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases")
    runs.write_text("")
    proc = subprocess.Popen([str(KPKUBE), "--kubeconfig", str(kc), "poll",
                             f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases",
                             "1", "0"], stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out)["status"] == 401  # plugin still hands out the old token
    (tmp_path / "tok").write_text(new)
    r = kpkube_one("--kubeconfig", kc, "get",
                   f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases")
    assert r["status"] == 200


def test_exec_plugin_failure_is_reported(cluster, tmp_path):
    kc = write_kubeconfig(tmp_path / "kc.yaml", cluster.apiserver,
                          {"certificate-authority": cluster.ca_cert},
                          {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                    "command": "/bin/false"}})
    proc = subprocess.run([str(KPKUBE), "--kubeconfig", str(kc), "get", "/api/v1/nodes"],
                          capture_output=True, text=True, timeout=60)
    r = json.loads(proc.stdout)
    assert r["status"] == 401 or r["status"] == 403, r
    assert "exec credential plugin failed" in proc.stderr


def test_in_cluster(cluster, namespace, tmp_path):
    token = cluster.mint_token("incluster", namespace, rules=LEASE_RULES)
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(token)
    (sa / "ca.crt").write_bytes(Path(cluster.ca_cert).read_bytes())
    (sa / "namespace").write_text(namespace)
    port = cluster.apiserver.rsplit(":", 1)[1]
    env = dict(os.environ, KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=port)
    r = kpkube_one("--in-cluster", sa, "get",
                   f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases", env=env)
    assert r["status"] == 200, r


# ---- list + watch ----------------------------------------------------------------------------

def test_watch_leases_and_write_verbs(cluster, namespace):
    path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    for i in range(5):  # a paged list: 5 objects, pages of 2
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=lease(f"pre-{i}"))
    w = Watcher("--kubeconfig", cluster.kubeconfig, "--page-size", 2, "--timeout", 90,
                "watch", path)
    try:
        w.wait(lambda l: l["type"] == "LIST_DONE")
        listed = {l["object"]["metadata"]["name"] for l in w.seen if l["type"] == "ADDED"}
        assert listed == {f"pre-{i}" for i in range(5)}
        kc = cluster.kubeconfig
        r = kpkube_one("--kubeconfig", kc, "request", "POST", path, lease("w1"))
        assert r["status"] == 201, r
        w.wait(event_for("ADDED", "w1"))
        r = kpkube_one("--kubeconfig", kc, "request", "PATCH", f"{path}/w1",
                       '{"spec":{"holderIdentity":"b"}}')
        assert r["status"] == 200 and r["body"]["spec"]["holderIdentity"] == "b", r
        ev = w.wait(event_for("MODIFIED", "w1"))
        assert ev["object"]["spec"]["holderIdentity"] == "b"
        r = kpkube_one("--kubeconfig", kc, "request", "POST", path, lease("w1"))
        assert r["status"] == 409 and r["reason"] == "AlreadyExists", r
        r = kpkube_one("--kubeconfig", kc, "request", "DELETE", f"{path}/w1")
        assert r["status"] == 200, r
        w.wait(event_for("DELETED", "w1"))
    finally:
        w.stop()


def test_watch_count_stops_from_handler(cluster, namespace):
    path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    proc = subprocess.Popen([str(KPKUBE), "--kubeconfig", cluster.kubeconfig, "--count", "2",
                             "--timeout", "60", "watch", path], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=lease("c1"))
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=lease("c2"))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    types = [json.loads(l)["type"] for l in out.splitlines()]
    assert types[-2:] == ["ADDED", "ADDED"]


def test_watch_resumes_after_apiserver_restart(cluster, namespace):
    path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    w = Watcher("--kubeconfig", cluster.kubeconfig, "--timeout", 240, "watch", path)
    try:
        w.wait(lambda l: l["type"] == "LIST_DONE")
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=lease("before"))
        w.wait(event_for("ADDED", "before"))
        cluster.control("apiserver", "restart")
        w.wait(lambda l: l["type"] == "ERROR", timeout=60, what="the broken watch reported")
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=lease("after"))
        w.wait(event_for("ADDED", "after"), timeout=90)
        # Resumed from the last resourceVersion, or, when the restarted apiserver's watch
        # cache no longer holds it (410 Expired), relisted: then "before" comes again inside
        # a complete LIST_BEGIN .. LIST_DONE.
        types = [l["type"] for l in w.seen]
        if types.count("LIST_BEGIN") > 1:
            second = len(types) - 1 - types[::-1].index("LIST_BEGIN")
            relisted = w.seen[second:]
            assert "LIST_DONE" in [l["type"] for l in relisted], w.summary()
            assert any(event_for("ADDED", "before")(l) for l in relisted), w.summary()
        else:
            names = [(l["type"], l["object"]["metadata"]["name"]) for l in w.seen
                     if "object" in l]
            assert names.count(("ADDED", "before")) == 1, w.summary()
    finally:
        w.stop()
