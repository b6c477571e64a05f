# SPDX-License-Identifier: Apache-2.0
"""kpharness — the integration tests' handle on the real servers from tests/infra.

``Cluster`` wraps one running cluster made by ``tests/infra/up.sh`` (etcd +
kube-apiserver with TLS, Node+RBAC and ServiceAccount tokens; InfluxDB 1.x), described by
its STATE_DIR/env file: kubectl and apiserver calls as admin or as a minted token, certs from
the cluster CA, InfluxQL queries and writes, and start/stop/restart/kill/pause of each
server by pid for chaos tests. conftest.py turns it into pytest fixtures.

Only the standard library is used: urllib + ssl for HTTP, subprocess for kubectl and the
tests/infra scripts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "tests" / "infra"

# Servers the tests/infra scripts know, and the script that controls each.
SERVER_SCRIPTS = {
    "etcd": ("etcd.sh",),
    "apiserver": ("apiserver.sh",),
    "influx": ("influx.sh",),
    "influx-auth": ("influx.sh", "--auth"),
}


class InfluxError(RuntimeError):
    """An InfluxDB request failed (HTTP error, or an error inside the JSON result)."""


def read_env_file(path: str | os.PathLike) -> dict[str, str]:
    """Parse STATE_DIR/env: plain KEY=VALUE lines, as written by tests/infra/lib.sh."""
    env = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    return env


class BenchServers:
    """The servers a benchmark runs against: those of env_file (a running STATE_DIR/env) when
    given, else servers started now in state_dir with tests/infra/up.sh; stop() stops only
    servers it started."""

    def __init__(self, env_file: str | None, state_dir: str):
        self.started = None if env_file else state_dir
        if self.started:
            subprocess.run([str(INFRA_DIR / "up.sh"), state_dir], check=True)
        self.env = read_env_file(env_file or Path(state_dir) / "env")

    def stop(self):
        if self.started:
            subprocess.run([str(INFRA_DIR / "down.sh"), self.started], check=False)
            self.started = None


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1, what: str = "condition"):
    """Call predicate() until it returns a truthy value, which is returned; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _rule_spec(rule) -> str:
    """A rule for mint-token.sh: 'get,list:leases.coordination.k8s.io' or a dict
    {"verbs": [...], "resources": [...]} with resources spelled like kubectl (pods, nodes/proxy,
    leases.coordination.k8s.io)."""
    if isinstance(rule, str):
        return rule
    return ",".join(rule["verbs"]) + ":" + ",".join(rule["resources"])


class Cluster:
    """A running test cluster, described by its STATE_DIR/env file."""

    def __init__(self, env_file: str | os.PathLike):
        self.env_file = Path(env_file)
        self.reload_env()

    # -- description -----------------------------------------------------------------

    def reload_env(self) -> dict[str, str]:
        """Re-read the env file (pids change when a server is restarted)."""
        self.env = read_env_file(self.env_file)
        self.state_dir = Path(self.env["KP_STATE_DIR"])
        self.apiserver = self.env["KP_APISERVER"]
        self.kubeconfig = self.env["KP_KUBECONFIG"]
        self.ca_cert = self.env["KP_CA_CERT"]
        self.ca_key = self.env["KP_CA_KEY"]
        self.admin_cert = (self.env["KP_ADMIN_CERT"], self.env["KP_ADMIN_KEY"])
        self.kubectl_bin = self.env["KP_KUBECTL"]
        self.influx_url = self.env["KP_INFLUX_URL"]
        return self.env

    def pid(self, server: str) -> int | None:
        """Pid of a running server ('etcd', 'apiserver', 'influx', 'influx-auth'), else None."""
        try:
            return int((self.state_dir / f"{server}.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def log_path(self, server: str) -> Path:
        return self.state_dir / f"{server}.log"

    # -- server control (chaos tests) --------------------------------------------------

    def control(self, server: str, action: str, timeout: float = 120) -> None:
        """start|stop|restart|kill|pause|resume a server by pid, through its tests/infra script.
        Restarts keep the same flags and port."""
        script, *extra = SERVER_SCRIPTS[server]
        _run([str(INFRA_DIR / script), action, str(self.state_dir), *extra], timeout=timeout)
        self.reload_env()

    def influx_auth(self) -> tuple[str, str, str]:
        """Start (once) the auth-enabled InfluxDB; returns (url, admin user, admin password)."""
        if self.pid("influx-auth") is None or "KP_INFLUX_AUTH_URL" not in self.env:
            self.control("influx-auth", "start")
        env = self.env
        return env["KP_INFLUX_AUTH_URL"], env["KP_INFLUX_AUTH_USER"], env["KP_INFLUX_AUTH_PASSWORD"]

    # -- Kubernetes ----------------------------------------------------------------------

    def kubectl(self, *args, input: str | bytes | dict | None = None, token: str | None = None,
                check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run the cluster's kubectl as admin (client cert), or as the bearer of ``token``.
        ``input`` may be a dict (sent as JSON). Returns the CompletedProcess (text)."""
        if token is None:
            auth = ["--kubeconfig", self.kubeconfig]
        else:
            # An empty kubeconfig so nothing from ~/.kube leaks in; identity is the token only.
            auth = ["--kubeconfig", os.devnull, "--server", self.apiserver,
                    "--certificate-authority", self.ca_cert, "--token", token]
        if isinstance(input, dict):
            input = json.dumps(input)
        if isinstance(input, bytes):
            input = input.decode()
        proc = subprocess.run([self.kubectl_bin, *auth, *map(str, args)], input=input,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(map(str, args))} failed "
                                 f"({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def ssl_context(self, cert: tuple[str, str] | None = None) -> ssl.SSLContext:
        """TLS context trusting the cluster CA, presenting ``cert`` (crt, key) if given."""
        ctx = ssl.create_default_context(cafile=self.ca_cert)
        if cert is not None:
            ctx.load_cert_chain(*cert)
        return ctx

    def api(self, method: str, path: str, body=None, token: str | None = None,
            cert: tuple[str, str] | None = None, headers: dict | None = None,
            content_type: str | None = None, timeout: float = 30):
        """One request to the apiserver. Identity: ``token`` (bearer), else ``cert``
        (crt, key), else the admin client cert. ``body`` is a dict (JSON) or str/bytes; PATCH
        defaults to a merge patch. Returns (status, parsed JSON or text)."""
        if token is None and cert is None:
            cert = self.admin_cert
        hdrs = {"Accept": "application/json"}
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else (
                body.encode() if isinstance(body, str) else json.dumps(body).encode())
            hdrs["Content-Type"] = content_type or (
                "application/merge-patch+json" if method.upper() == "PATCH" else "application/json")
        hdrs.update(headers or {})
        req = urllib.request.Request(self.apiserver + path, data=data, headers=hdrs,
                                     method=method.upper())
        ctx = self.ssl_context(cert if token is None else None)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read())

    def write_kubeconfig(self, path: Path, user: dict[str, str], *, server: str | None = None,
                         verify: bool = True, namespace: str | None = None) -> Path:
        """A kubeconfig (mode 0600) for the API server, or ``server`` in front of it, as
        ``user`` (its kubeconfig fields: token, tokenFile, client-certificate/client-key).
        ``verify=False`` sets insecure-skip-tls-verify instead of trusting the test CA."""
        tls = (f'certificate-authority: "{self.ca_cert}"' if verify
               else "insecure-skip-tls-verify: true")
        fields = ", ".join(f'{k}: "{v}"' for k, v in user.items())
        context = "cluster: c, user: u" + (f", namespace: {namespace}" if namespace else "")
        path = Path(path)
        # Written aside and renamed over: replicas started a moment ago may be reading the
        # file just now (a rewrite in place once gave one of them half a kubeconfig).
        tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex}")
        tmp.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{server or self.apiserver}", {tls}}}
users:
- name: u
  user: {{{fields}}}
contexts:
- name: c
  context: {{{context}}}
current-context: c
""")
        tmp.chmod(0o600)
        os.replace(tmp, path)
        return path

    def create_namespace(self, prefix: str = "kp") -> str:
        """A fresh namespace (unique name) with its 'default' ServiceAccount, which the
        ServiceAccount admission plugin needs for pods (no controller-manager runs unless
        up.sh --with-node started one).
        Namespaces are not deleted: without the namespace controller they never finish
        terminating, so every test just uses its own."""
        base = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")[:40] or "kp"
        name = f"{base}-{uuid.uuid4().hex[:6]}"
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        status, body = self.api("POST", "/api/v1/namespaces", ns)
        assert status == 201, (status, body)
        status, body = self.api("POST", f"/api/v1/namespaces/{name}/serviceaccounts",
                                {"apiVersion": "v1", "kind": "ServiceAccount",
                                 "metadata": {"name": "default"}})
        # 409: a kube-controller-manager (up.sh --with-node) made it first.
        assert status in (201, 409), (status, body)
        return name

    def mint_token(self, sa: str, namespace: str, rules=(), cluster_rules=(),
                   clusterrole: str | None = None, duration: str = "1h",
                   audience: str | None = None) -> str:
        """Create ServiceAccount ``namespace/sa`` (and the namespace) if missing, grant it
        exactly ``rules`` (a Role + RoleBinding in the namespace), ``cluster_rules`` (a
        ClusterRole + ClusterRoleBinding) and/or the existing ``clusterrole`` inside the
        namespace, and return a bound TokenRequest token. No rules: no RBAC grant at all.
        Rules: 'get,list:leases.coordination.k8s.io' or {"verbs": [...], "resources": [...]}."""
        cmd = [str(INFRA_DIR / "mint-token.sh"), str(self.state_dir), namespace, sa,
               "--duration", duration]
        for rule in rules:
            cmd += ["--rule", _rule_spec(rule)]
        for rule in cluster_rules:
            cmd += ["--cluster-rule", _rule_spec(rule)]
        if clusterrole:
            cmd += ["--bind-clusterrole", clusterrole]
        if audience:
            cmd += ["--audience", audience]
        return _run(cmd).stdout.strip()

    def issue_cert(self, name: str, cn: str, orgs=(), sans=()) -> tuple[str, str]:
        """A leaf cert signed by the cluster CA (server + client usage): returns (crt, key).
        A kubelet's client identity is cn='system:node:NAME', orgs=['system:nodes']; a
        serving cert needs sans like ['IP:127.0.0.1', 'DNS:node-a']."""
        cmd = [str(INFRA_DIR / "pki.sh"), "issue", str(self.state_dir), name, cn]
        for org in orgs:
            cmd += ["--org", org]
        for san in sans:
            cmd += ["--san", san]
        crt, key = _run(cmd).stdout.split()
        return crt, key

    # -- InfluxDB ------------------------------------------------------------------------

    def _influx(self, path: str, params: dict, data: bytes | None, url: str | None,
                auth: tuple[str, str] | None, timeout: float):
        base = url or self.influx_url
        params = dict(params)
        if auth is not None:
            params["u"], params["p"] = auth
        req = urllib.request.Request(f"{base}{path}?{urllib.parse.urlencode(params)}",
                                     data=data, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            raise InfluxError(f"POST {path} -> HTTP {err.code}: {err.read().decode()}") from None

    def influx_query(self, q: str, db: str | None = None, *, url: str | None = None,
                     auth: tuple[str, str] | None = None, epoch: str | None = None,
                     timeout: float = 30) -> dict:
        """Run InfluxQL through POST /query; returns the parsed JSON. Raises InfluxError on
        an HTTP error or an error in any statement's result."""
        params = {"q": q}
        if db:
            params["db"] = db
        if epoch:
            params["epoch"] = epoch
        _, raw = self._influx("/query", params, b"", url, auth, timeout)
        result = json.loads(raw)
        errors = [r["error"] for r in result.get("results", []) if "error" in r]
        if "error" in result or errors:
            raise InfluxError(f"{q!r}: {result.get('error') or errors}")
        return result

    def influx_rows(self, q: str, db: str | None = None, **kw) -> list[dict]:
        """influx_query, flattened: one dict per row of every series (tags merged in)."""
        rows = []
        for res in self.influx_query(q, db, **kw).get("results", []):
            for series in res.get("series", []):
                for values in series.get("values", []):
                    row = dict(series.get("tags") or {})
                    row.update(zip(series["columns"], values))
                    rows.append(row)
        return rows

    def influx_write(self, lines, db: str, *, precision: str = "ns", url: str | None = None,
                     auth: tuple[str, str] | None = None, timeout: float = 30) -> None:
        """Write line protocol (a str or a list of lines) through POST /write."""
        if not isinstance(lines, str):
            lines = "\n".join(lines)
        status, body = self._influx("/write", {"db": db, "precision": precision},
                                    lines.encode(), url, auth, timeout)
        if status != 204:
            raise InfluxError(f"write -> HTTP {status}: {body!r}")


class ManagedProcess:
    """One process a test started (a kubepulse replica, a kubelet simulator...): its own
    session, stdin from /dev/null, stdout+stderr appended to ``log_path``. Stopped by pid."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict | None = None,
                 cwd: str | None = None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        with open(log_path, "ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                          start_new_session=True)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def pause(self) -> None:
        self.send(signal.SIGSTOP)

    def resume(self) -> None:
        self.send(signal.SIGCONT)

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Send ``sig`` (TERM by default), wait up to ``timeout`` s, then SIGKILL. Returns the
        exit status (negative: killed by that signal)."""
        if self.alive():
            os.kill(self.pid, sig)
            if sig != signal.SIGKILL:
                os.kill(self.pid, signal.SIGCONT)  # a paused process must wake to see it
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
        return self.popen.wait(10)

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class ProcessGroup:
    """The processes one test started; ``stop_all()`` (run by the ``procs`` fixture at the
    end of the test) stops every one still running, by pid."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[ManagedProcess] = []

    def start(self, name: str, argv: list, env: dict | None = None,
              extra_env: dict | None = None, cwd: str | None = None) -> ManagedProcess:
        """Start ``argv`` as ``name`` (log: LOG_DIR/NAME.log). ``env`` replaces the
        environment, ``extra_env`` adds to the current one."""
        if extra_env:
            env = {**(env if env is not None else os.environ), **extra_env}
        proc = ManagedProcess(name, argv, self.log_dir / f"{name}.log", env, cwd)
        self.procs.append(proc)
        return proc

    def stop_all(self, timeout: float = 10) -> None:
        for proc in reversed(self.procs):
            proc.stop(timeout=timeout)


def _decode(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@contextlib.contextmanager
def real_node_cluster(session, name: str, extra_env: dict | None = None):
    """A cluster with three real nodes (up.sh --with-node) for one test module. Under ctest its
    state is BUILD_DIR/NAME (the next up.sh there stops what a killed run left; a directory of
    its own, so never another module's cluster), else a new temporary directory (ask
    real_nodes_unavailable first). The state and the logs stay when a test of the session
    failed (or with KP_KEEP_INFRA=1)."""
    if os.environ.get("KP_BUILD_DIR"):
        state_dir = Path(os.environ["KP_BUILD_DIR"], name)
        state_dir.mkdir(parents=True, exist_ok=True)
    else:
        state_dir = Path(tempfile.mkdtemp(prefix=f"kubepulse-{name}-"))
    started = False
    try:
        t0 = time.monotonic()
        up = subprocess.run([str(INFRA_DIR / "up.sh"), "--with-node", str(state_dir)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **(extra_env or {})})
        if up.returncode != 0:
            raise RuntimeError(f"up.sh --with-node {state_dir} failed; logs kept there")
        started = True
        print(f"cluster with 3 nodes up in {time.monotonic() - t0:.1f}s", file=sys.stderr)
        yield Cluster(up.stdout.strip().splitlines()[-1])
    finally:
        keep = os.environ.get("KP_KEEP_INFRA") == "1" or not started or session.testsfailed > 0
        if keep:
            print(f"\nkept the cluster's state and logs in {state_dir}", file=sys.stderr)
        subprocess.run([str(INFRA_DIR / "down.sh"), str(state_dir)] +
                       ([] if keep else ["--purge"]), stdin=subprocess.DEVNULL, check=False)


def real_nodes_unavailable() -> str | None:
    """Why this machine cannot run real nodes (node.sh check's one line), or None."""
    check = subprocess.run([str(INFRA_DIR / "node.sh"), "check"], capture_output=True,
                           text=True)
    return (check.stdout.strip() or "node.sh check failed") if check.returncode else None
