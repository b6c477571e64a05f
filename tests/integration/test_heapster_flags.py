# SPDX-License-Identifier: Apache-2.0
"""test_heapster_flags.py - Heapster's command lines against the real API server and simulated
kubelets (issue #16, "Heapster's command lines run unchanged"; issue #19, "every flag validated
once, at flag time").

- a bad flag, sink option or --source option is refused before anything connects (exit 2,
  the option named, no "kubepulse starting");
- Heapster's spellings (--metric_resolution) and glog's flags run, with one warning naming the
  flags that mean nothing here;
- each --source option acts as in Heapster (metrics/sources/kubelet/configs.go,
  common/kubernetes/configs.go): the URL's API server is the one talked to, insecure=true
  skips the API server's and the kubelets' certificate checks, inClusterConfig=false with
  auth=PATH uses that kubeconfig (not the URL), inClusterConfig=false without auth talks to
  the URL with no credentials, kubeletHttps=false scrapes the read-only HTTP port 10255,
  kubeletHttps=true&kubeletPort=N scrapes every node on N, and Heapster's
  http://HOST:8080 command line fails with the reason.

useServiceAccount=true reads Heapster's fixed /var/run/secrets/kubernetes.io/serviceaccount/
token: that test puts a minted token there in a private mount namespace (root only).

Runtime: about a minute.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpharness import REPO_ROOT, ProcessGroup, wait_for
from kpreplicas import free_port, http_get

BUILD_DIR = Path(os.environ.get("KP_BUILD_DIR", REPO_ROOT / "build"))
KUBEPULSE = BUILD_DIR / "src" / "kubepulse"
TLS_PREFIX, HTTP_PREFIX = "kphs-", "kphh-"
TLS_BASE, HTTP_BASE = "127.1.41.1", "127.1.42.1"  # apart from other tests' simulators
COMMON = ["--leader-elect=false", "--listen=127.0.0.1:0", "--metric_resolution=2s",
          "--kubelet_timeout=1s", "--sink=log", "--v=1"]


class Sims:
    """Two simulators: HTTPS kubelets on 10250 and read-only-port kubelets (HTTP) on 10255,
    registered as Nodes."""

    def __init__(self, cluster, procs: ProcessGroup, tls=(TLS_PREFIX, TLS_BASE),
                 http=(HTTP_PREFIX, HTTP_BASE)):
        self.cluster, self.procs = cluster, procs
        out = subprocess.run([str(REPO_ROOT / "tests" / "sim" / "build.sh")], check=True,
                             capture_output=True, text=True, timeout=600)
        sim_bin = out.stdout.strip().splitlines()[-1]
        self.controls = []
        kinds = [("sim-tls", *tls, ["-port", "10250"])]
        if http:
            kinds.append(("sim-http", *http, ["-port", "10255", "-plain-http"]))
        for name, prefix, base, extra in kinds:
            sim = procs.start(name, [sim_bin, "-nodes", 2, "-pods", 2, "-node-prefix", prefix,
                                     "-addr-base", base, "-ca-cert", cluster.ca_cert,
                                     "-ca-key", cluster.ca_key, "-control", "127.0.0.1:0",
                                     "-sample-interval", "2s", *extra])
            m = wait_for(lambda: re.search(r"kubeletsim ready .*control=(\S+)", sim.log()),
                         timeout=30, what=f"{name} ready")
            self.controls.append(m.group(1))
            self.register(m.group(1))

    def register(self, control: str, delete: bool = False):
        env = {**os.environ, "KP_KUBECTL": self.cluster.kubectl_bin,
               "KP_KUBECONFIG": self.cluster.kubeconfig}
        subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "sim" / "register.py"),
                        "--control", control] + (["--delete"] if delete else []),
                       env=env, check=True, capture_output=True, timeout=300)


def running_sims(cluster, name: str, **kinds):
    """Sims for a module's fixture: started, registered, and cleaned up by pid and Node."""
    if not KUBEPULSE.exists():
        pytest.skip(f"{KUBEPULSE} not built")
    procs = ProcessGroup(cluster.state_dir / "procs" / f"{name}-{int(time.time())}")
    s = None
    try:
        s = Sims(cluster, procs, **kinds)
        yield s
    finally:
        for control in (s.controls if s else []):
            try:
                s.register(control, delete=True)
            except subprocess.SubprocessError as err:
                print(f"register.py --delete failed: {err}", file=sys.stderr)
        procs.stop_all()


@pytest.fixture(scope="module")
def sims(cluster):
    yield from running_sims(cluster, "test_heapster_flags")


def admin_kubeconfig(cluster, path: Path, *, server: str | None = None,
                     verify: bool = True) -> Path:
    cert, key = cluster.admin_cert
    return cluster.write_kubeconfig(path, {"client-certificate": cert, "client-key": key},
                                    server=server, verify=verify)


def run_once(*args, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([str(KUBEPULSE), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class Run:
    """One kubepulse run; its stdout (line protocol) and stderr in a log that may already
    hold earlier runs' output (the same test run again): only this run's part is read."""

    def __init__(self, procs: ProcessGroup, name: str, args):
        path = procs.log_dir / f"{name}.log"
        self.offset = path.stat().st_size if path.exists() else 0
        self.proc = procs.start(name, [KUBEPULSE, *COMMON, *args])

    def log(self) -> str:
        with open(self.proc.log_path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")


def start(procs: ProcessGroup, name: str, *args) -> Run:
    return Run(procs, name, args)


def points_of(run: Run, prefix: str) -> set[str]:
    """Node names with a node-level cpu/usage_rate line in the run's output."""
    return set(re.findall(r"^cpu/usage_rate,[^ ]*?nodename=(" + re.escape(prefix) + r"[^, ]+)"
                          r"[^ ]*?type=node ", run.log(), re.M))


def wait_points(proc, prefix: str, timeout: float = 25) -> set[str]:
    return wait_for(lambda: (lambda s: s if len(s) == 2 else None)(points_of(proc, prefix)),
                    timeout=timeout, interval=0.3, what=f"points of both {prefix} nodes")


# ---- flag time ------------------------------------------------------------------------


@pytest.mark.parametrize("args, needle", [
    (["--sink=influxdb:http://127.0.0.1:1?db=k8s&bogus=1"], 'unknown option "bogus"'),
    (["--retry-period=500ms"], "retryPeriod must be at least 1s"),
    (["--sink=influxdb:http://127.0.0.1:1?retention=forever"], '"forever" is not a duration'),
    (["--source=kubernetes:https://kubernetes.default?kubeletPort=10250"],
     "add kubeletHttps=true"),
    (["--source=kubernetes:https://kubernetes.default?inClusterConfig=false&nope=1"],
     '--source: unknown option "nope"'),
    (["--metric_resolution=60"], 'flag --metric-resolution: invalid duration "60"'),
    (["--disable_metric_sink", "--model-api=always"],
     "flags --disable-metric-sink and --model-api=always conflict"),
    (["--model-api=sometimes"], 'flag --model-api: invalid value "sometimes"'),
])
def test_refused_at_flag_time(cluster, tmp_path, args, needle):
    """With a working kubeconfig, the refusal comes first: nothing has started or connected
    (the daemon logs "kubepulse starting" before anything else it does)."""
    kc = admin_kubeconfig(cluster, tmp_path / "kc")
    r = run_once("--kubeconfig", kc, "--listen=127.0.0.1:0", *args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr, r.stderr
    assert "kubepulse starting" not in r.stderr, r.stderr


def test_help_lists_flags_and_options():
    out = run_once("--help").stdout
    for want in ("--metric-resolution duration", "(default 60s)", "--logtostderr",
                 "--sink=influxdb:URL options", "kubeletPort int", "(default 10255)"):
        assert want in out, want


# ---- Heapster's flags and --source options, running -----------------------------------


def test_heapster_spellings_glog_flags_and_the_urls_server(sims, cluster, procs, tmp_path):
    """Heapster's manifest flags as written; the kubeconfig names a server nobody listens on,
    the --source URL the real one: points arrive only if the URL's server is used."""
    kc = admin_kubeconfig(cluster, tmp_path / "kc", server=f"https://127.0.0.1:{free_port()}")
    kp = start(procs, "kp-url", "--kubeconfig", kc, f"--source=kubernetes:{cluster.apiserver}",
               "--logtostderr", "--alsologtostderr=false", "--stderrthreshold", "INFO",
               "--vmodule=x=2", "--api-server", "--heapster-port=8082")
    assert wait_points(kp, TLS_PREFIX)
    log = kp.log()
    warnings = re.findall(r"mean nothing here and are ignored.*", log)
    assert len(warnings) == 1, warnings
    for flag in ("--logtostderr", "--alsologtostderr", "--stderrthreshold", "--api-server"):
        assert flag in warnings[0]
    assert "--heapster-port" not in warnings[0]  # it acts (the port of --listen), given here
    assert "--vmodule" not in warnings[0]  # glog's --vmodule is a real flag here, as in klog
    assert f'server="{cluster.apiserver}"' in log
    # Heapster's default kubelet port (10255, plain HTTP) is not what this run scrapes
    assert "read-only HTTP port 10255, is off" in log
    assert not points_of(kp, HTTP_PREFIX)


def metric_value(port: int, name: str) -> float:
    code, body = http_get(port, "/metrics")
    assert code == 200, (code, body)
    m = re.search(rf"^{re.escape(name)} (\S+)$", body, re.M)
    assert m, (name, body)
    return float(m.group(1))


def test_model_api_modes(sims, cluster, procs, tmp_path):
    """--model-api: on demand (the default) the window records nothing until the first model
    API request, which is answered from the empty window, and from then on it records; always
    (Heapster's) it records from the start; off, and Heapster's --disable_metric_sink, answer
    404 naming the flag, while the scrape and the sink go on (and --disable_metric_sink is not
    among the ignored flags). The stop after 15 idle minutes is test_window.c's."""
    kc = admin_kubeconfig(cluster, tmp_path / "kc-model")
    runs = {"kp-ondemand": start(procs, "kp-ondemand", "--kubeconfig", kc),
            "kp-always": start(procs, "kp-always", "--kubeconfig", kc, "--model-api=always"),
            "kp-off": start(procs, "kp-off", "--kubeconfig", kc, "--model_api=off"),
            "kp-nosink": start(procs, "kp-nosink", "--kubeconfig", kc, "--disable_metric_sink")}
    ports = {}
    for name, kp in runs.items():
        assert wait_points(kp, TLS_PREFIX)
        ports[name] = int(wait_for(lambda: re.search(r"status server listening.*?port[=\":]+(\d+)",
                                                     kp.log()), timeout=10, what="port").group(1))
    # points were written: the cycles ran; the on-demand window kept none of them
    port = ports["kp-ondemand"]
    assert metric_value(port, "kubepulse_model_api_recording") == 0
    assert metric_value(port, "kubepulse_model_api_points") == 0
    assert "model API window recording" not in runs["kp-ondemand"].log()
    code, body = http_get(port, "/api/v1/model/nodes/")
    assert code == 200 and json.loads(body) == [], (code, body)
    # an entity with no points answers in Heapster's shape, as before
    code, body = http_get(port, "/api/v1/model/nodes/no-such-node/metrics/cpu/usage_rate")
    assert code == 200 and json.loads(body)["metrics"] == [], (code, body)
    assert metric_value(port, "kubepulse_model_api_recording") == 1
    assert "model API window recording" in runs["kp-ondemand"].log()
    # both nodes of a cycle recorded after the first request (a batch is one pod's or one
    # node's series: a cycle in progress may have shown one)
    wait_for(lambda: len([n for n in json.loads(http_get(port, "/api/v1/model/nodes/")[1])
                          if n.startswith(TLS_PREFIX)]) == 2, timeout=15, interval=0.5,
             what="both nodes recorded after the first request")
    assert metric_value(port, "kubepulse_model_api_points") > 0
    code, body = http_get(port, "/status")
    model = json.loads(body)["modelApi"]
    assert model["mode"] == "on-demand" and model["recording"] and model["points"] > 0, model
    # always: recording before any request, the nodes there at the first one
    port = ports["kp-always"]
    assert metric_value(port, "kubepulse_model_api_recording") == 1
    assert metric_value(port, "kubepulse_model_api_points") > 0
    code, body = http_get(port, "/api/v1/model/nodes/")
    assert code == 200 and "kphs-" in body, (code, body)
    for name, flag in (("kp-off", "--model-api=off"), ("kp-nosink", "--disable_metric_sink")):
        code, body = http_get(ports[name], "/api/v1/model/nodes/")
        assert code == 404 and flag in body, (name, code, body)
        assert metric_value(ports[name], "kubepulse_model_api_recording") == 0
        code, body = http_get(ports[name], "/status")
        assert json.loads(body)["modelApi"]["mode"] == "off", body
    assert "disable-metric-sink" not in runs["kp-nosink"].log()  # acts: not named as ignored


def test_insecure_skips_api_server_and_kubelet_verification(sims, cluster, procs, tmp_path):
    """No CA in the kubeconfig and a kubelet CA that did not sign the kubelets: nothing
    works until insecure=true, which turns both checks off, with a warning for each."""
    kc = tmp_path / "kc-no-ca"
    cert, key = cluster.admin_cert
    kc.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{cluster.apiserver}"}}}}]
users: [{{name: u, user: {{client-certificate: "{cert}", client-key: "{key}"}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
current-context: c
""")
    wrong_ca = "/etc/ssl/certs/ca-certificates.crt"
    base = ["--kubeconfig", kc, f"--kubelet-certificate-authority={wrong_ca}"]
    strict = start(procs, "kp-strict", *base, f"--source=kubernetes:{cluster.apiserver}")
    kp = start(procs, "kp-insecure", *base,
               f"--source=kubernetes:{cluster.apiserver}?insecure=true")
    assert wait_points(kp, TLS_PREFIX)
    log = kp.log()
    assert "TLS verification of the API server is disabled" in log
    assert "TLS verification of kubelets is off" in log
    assert not points_of(strict, TLS_PREFIX)
    assert re.search(r"certificate|SSL|TLS", strict.log()), strict.log()[-2000:]


def test_auth_kubeconfig_without_in_cluster_config(sims, cluster, procs, tmp_path):
    """The seed command line with inClusterConfig=false&insecure=true&auth=PATH and no
    --kubeconfig: the kubeconfig at auth= names the server (the URL, which does not resolve
    here, is not used, as in Heapster)."""
    kc = admin_kubeconfig(cluster, tmp_path / "kc-auth")
    kp = start(procs, "kp-auth", f"--source=kubernetes:https://kubernetes.default?"
               f"inClusterConfig=false&insecure=true&auth={kc}")
    assert wait_points(kp, TLS_PREFIX)
    assert "the URL is not used with auth=" in kp.log()


def test_in_cluster_config_false_talks_to_the_url_without_credentials(sims, cluster, procs):
    kp = start(procs, "kp-anon",
               f"--source=kubernetes:{cluster.apiserver}?inClusterConfig=false&insecure=true")
    wait_for(lambda: "system:anonymous" in kp.log(), timeout=20,
             what="the API server's answer to an anonymous request")
    assert not points_of(kp, TLS_PREFIX)


def test_heapster_insecure_port_command_line_says_why(cluster, tmp_path):
    port = free_port()
    r = run_once("--listen=127.0.0.1:0", "--sink=log",
                 f"--source=kubernetes:http://127.0.0.1:{port}?inClusterConfig=false",
                 timeout=30)
    assert r.returncode == 1, r.stderr
    assert f"cannot reach the API server at http://127.0.0.1:{port}" in r.stderr
    assert "--insecure-port, 8080, was removed" in r.stderr


@pytest.mark.parametrize("name, query, prefix, logged, other", [
    # kubeletHttps=false: Heapster's plain HTTP on kubeletPort (default 10255), every node.
    ("kp-ro", "kubeletHttps=false", HTTP_PREFIX, "kubelets are scraped over plain HTTP",
     TLS_PREFIX),
    ("kp-https", "kubeletHttps=true&kubeletPort=10250", TLS_PREFIX,
     "kubelets: HTTPS on port 10250", HTTP_PREFIX),
], ids=["read_only_port", "https_port"])
def test_kubelet_port(sims, cluster, procs, tmp_path, name, query, prefix, logged, other):
    """Heapster's kubeletHttps and kubeletPort pick the scheme and the port of every node."""
    kc = admin_kubeconfig(cluster, tmp_path / "kc")
    kp = start(procs, name, "--kubeconfig", kc, f"--source=kubernetes:{cluster.apiserver}?{query}")
    assert wait_points(kp, prefix)
    assert logged in kp.log()
    assert not points_of(kp, other)


def test_label_flags_as_heapster(sims, cluster, procs, tmp_path):
    """--ignore_label, --store_label and --label_separator as Heapster's LabelCopier: the
    simulated pods' labels are app, kubepulse.io/sim, pod-template-hash and tier."""
    kc = admin_kubeconfig(cluster, tmp_path / "kc")
    kp = start(procs, "kp-labels", "--kubeconfig", kc, "--ignore_label=pod-template-hash",
               "--ignore_label", "kubepulse.io/sim", "--store_label=tier,application=app",
               "--label_separator=;")
    wait_points(kp, TLS_PREFIX)

    def pod_line():
        m = re.search(r"^cpu/usage_rate,([^ ]*,type=pod(?:,[^ ]*)?) ", kp.log(), re.M)
        return m and m.group(1)
    tags = dict(t.split("=", 1) for t in re.split(r"(?<!\\),", wait_for(
        pod_line, timeout=20, what="a pod's line")))
    assert re.fullmatch(r"app:[^;]+;tier:[a-z]+", tags["labels"]), tags
    assert tags["application"] == tags["labels"].split(";")[0][4:], tags
    assert tags["tier"] in ("frontend", "backend", "data"), tags
    assert list(tags) == sorted(tags), tags  # stored tags in key order, as Heapster's


SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"  # Heapster's, fixed


def test_use_service_account(sims, cluster, procs, namespace, tmp_path):
    """inClusterConfig=false&useServiceAccount=true: the URL, with the pod's ServiceAccount
    token from Heapster's fixed path. The token is put there in a private mount namespace
    (a tmpfs over /run for that process only: the machine's /run is untouched)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    token = cluster.mint_token("kubepulse", namespace, cluster_rules=[
        "list,watch:nodes", "get:nodes/stats", "list,watch:pods,namespaces"])
    existed = os.path.exists(SA_DIR)
    tfile = tmp_path / "token"
    tfile.write_text(token)
    src = f"kubernetes:{cluster.apiserver}?inClusterConfig=false&insecure=true"
    script = ('mount -t tmpfs tmpfs /run && mkdir -p "$SA" && cp "$TOKEN" "$SA/token" && '
              'exec "$@"')

    def in_namespace(name, source):
        path = procs.log_dir / f"{name}.log"
        run = Run.__new__(Run)
        run.offset = path.stat().st_size if path.exists() else 0
        run.proc = procs.start(name, ["unshare", "-m", "--propagation", "private", "sh", "-c",
                                      script, "sh", KUBEPULSE, *COMMON, f"--source={source}"],
                               extra_env={"SA": SA_DIR, "TOKEN": str(tfile)})
        return run

    with_sa = in_namespace("kp-sa", src + "&useServiceAccount=true")
    without = in_namespace("kp-no-sa", src)
    assert wait_points(with_sa, TLS_PREFIX)
    wait_for(lambda: "system:anonymous" in without.log(), timeout=20,
             what="the anonymous replica's refusal")
    assert not points_of(without, TLS_PREFIX)
    assert os.path.exists(SA_DIR) == existed  # the machine's /run is untouched
