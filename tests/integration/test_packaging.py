# SPDX-License-Identifier: Apache-2.0
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
import yaml

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
    """kubectl apply --dry-run=server; returns the "KIND/NAME created (server dry run)" lines.
    The `helm test` ServiceAccount is created for real first, as helm creates it (hook weight
    -2) before the test pod, which the API server admits only when its account exists."""
    for doc in yaml.safe_load_all(manifests):
        if doc and doc["kind"] == "ServiceAccount" and \
                doc["metadata"].get("annotations", {}).get("helm.sh/hook") == "test":
            cluster.kubectl("apply", "-f", "-", input=doc)
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
        "hostNetwork=yes": "hostNetwork: Invalid type",
        "scope.nodeSelector[0]=a": "nodeSelector: Invalid type",
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


# ---- values that would crash-loop the pods: the binary's message at `helm install` ---------

BUILD_DIR = Path(os.environ.get("KP_BUILD_DIR", ROOT / "build"))
KUBEPULSE = BUILD_DIR / "src" / "kubepulse"
CONFIG_PATH = "/etc/kubepulse/config/kubepulse.yaml"  # kubepulse.configDir in _helpers.tpl


def rendered(helm, *args) -> list[dict]:
    out = helm.run("template", "kp", CHART, "--namespace", "kp-test", *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def chart_args(helm, *args) -> list[str]:
    dep = next(d for d in rendered(helm, *args) if d["kind"] == "Deployment")
    return dep["spec"]["template"]["spec"]["containers"][0]["args"]


def flag_name(arg: str) -> str:
    return arg.lstrip("-").split("=", 1)[0].replace("_", "-")


def binary_error(args: list[str], config: dict | None, tmp: Path) -> str:
    """kubepulse's one-line error for args (and config as its --config file), with the file
    named as the chart mounts it."""
    if not KUBEPULSE.exists():
        pytest.skip(f"{KUBEPULSE} not built")
    argv = [str(KUBEPULSE), *args]
    if config is not None:
        path = tmp / "kubepulse.yaml"
        path.write_text(yaml.safe_dump(config, default_flow_style=False))  # sorted, as toYaml
        argv = [a for a in argv if not a.startswith("--config=")] + [f"--config={path}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                          env={"PATH": os.environ["PATH"], "HOME": str(tmp)})
    assert proc.returncode == 2, (args, proc.returncode, proc.stdout, proc.stderr)
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("kubepulse: "), proc.stderr
    message = line[len("kubepulse: "):]
    return message.replace(str(tmp / "kubepulse.yaml"), CONFIG_PATH) if config else message


# (id, helm --set/--set-string arguments, the flags the binary gets in place of the chart's
# same-named ones, the config file it reads). Each is a value that would make every replica
# exit at start.
CRASH_CASES = [
    ("resolution-below-1s", ["--set-string", "metricResolution=500ms"],
     ["--metric-resolution=500ms"], None),
    ("resolution-not-a-duration", ["--set-string", "metricResolution=15"],
     ["--metric-resolution=15"], None),
    ("lease-not-above-renew", ["--set", "leaderElection.leaseDuration=10s"],
     ["--lease-duration=10s"], None),
    ("lease-not-above-renew-whole-seconds", ["--set", "leaderElection.leaseDuration=10500ms"],
     ["--lease-duration=10500ms"], None),
    ("renew-not-above-retry", ["--set", "leaderElection.retryPeriod=9s"],
     ["--retry-period=9s"], None),
    ("retry-below-1s", ["--set", "leaderElection.retryPeriod=500ms"],
     ["--retry-period=500ms"], None),
    ("lease-below-1s", ["--set", "leaderElection.leaseDuration=800ms,"
                        "leaderElection.renewDeadline=500ms,leaderElection.retryPeriod=50ms"],
     ["--lease-duration=800ms", "--renew-deadline=500ms", "--retry-period=50ms"], None),
    ("kubelet-timeout-above-resolution", ["--set", "kubelet.timeout=60s"],
     ["--kubelet-timeout=60s"], None),
    ("kubelet-port-0", ["--set", "kubelet.port=0"], ["--kubelet-port=0"], None),
    ("config-not-a-bool", ["--set-string", "config.watch-pods=maybe"], [],
     {"watch-pods": "maybe"}),
    ("log-format", ["--set", "log.format=xml"], ["--logging-format=xml"], None),
    ("model-api", ["--set", "modelApi=sometimes"], ["--model-api=sometimes"], None),
    # Heapster's flag next to the chart's --model-api=on-demand (the value's default)
    ("model-api-and-disable-metric-sink", ["--set", "extraArgs[0]=--disable_metric_sink"],
     ["--disable_metric_sink"], None),
    ("model-api-always-and-config-disable-metric-sink",
     ["--set", "modelApi=always", "--set", "config.disable-metric-sink=true"],
     ["--model-api=always"], {"disable-metric-sink": True}),
    ("vmodule", ["--set-json", 'extraArgs=["--vmodule=daemon"]'], ["--vmodule=daemon"], None),
    ("verbosity", ["--set", "log.verbosity=11"], ["--v=11"], None),
    ("config-sink-timeout-0", ["--set", "config.sink-timeout=0s"], [],
     {"sink-timeout": "0s"}),
    ("config-batch-lines-0", ["--set", "config.sink-batch-lines=0"], [],
     {"sink-batch-lines": 0}),
    ("config-buffer-size", ["--set", "config.sink-buffer-size=1x"], [],
     {"sink-buffer-size": "1x"}),
    ("config-body-size", ["--set", "config.kubelet-max-body-size=1x"], [],
     {"kubelet-max-body-size": "1x"}),
    ("config-unknown-key", ["--set", "config.no-such-option=1"], [], {"no-such-option": 1}),
    ("config-heapster-spelling", ["--set", "config.sink_timeout=x"], [], {"sink_timeout": "x"}),
    ("config-ignored-flag-is-no-key", ["--set", "config.logtostderr=true"], [],
     {"logtostderr": True}),
    ("extra-unknown-flag", ["--set", "extraArgs[0]=--no-such-flag"], ["--no-such-flag"], None),
    ("extra-bad-duration", ["--set", "extraArgs[0]=--sink-timeout=x"], ["--sink-timeout=x"],
     None),
    ("sink-unknown-type", ["--set", "sinks[0]=foo:bar"], ["--sink=foo:bar"], None),
    ("sink-not-http", ["--set", "sinks[0]=influxdb:ftp://x"], ["--sink=influxdb:ftp://x"],
     None),
    ("sink-unknown-option", ["--set", "sinks[0]=influxdb:http://x?db=k&foo=1"],
     ["--sink=influxdb:http://x?db=k&foo=1"], None),
    ("sink-influxdb2-unknown-option",
     ["--set", "sinks[0]=influxdb2:http://x?org=a&bucket=b&db=k"],
     ["--sink=influxdb2:http://x?org=a&bucket=b&db=k"], None),
    ("sink-log-unknown-option", ["--set", "sinks[0]=log:?db=k"], ["--sink=log:?db=k"], None),
    ("sink-null-unknown-option", ["--set", "sinks[0]=null:?db=k"], ["--sink=null:?db=k"], None),
    ("second-sink-influxdb2-no-bucket",
     ["--set", "sinks[0]=log", "--set", "sinks[1]=influxdb2:http://x?org=a"],
     ["--sink=log", "--sink=influxdb2:http://x?org=a"], None),
    ("metric-allow-unknown", ["--set", "scope.metrics.allow[0]=cpu/usgae"],
     ["--metric-allow=cpu/usgae"], None),
    ("metric-deny-unknown-pattern", ["--set", "scope.metrics.deny[0]=disk/*"],
     ["--metric-deny=disk/*"], None),
    ("metrics-none-left", ["--set", "scope.metrics.allow[0]=cpu/*",
                           "--set", "scope.metrics.deny[0]=cpu/*"],
     ["--metric-allow=cpu/*", "--metric-deny=cpu/*"], None),
    ("namespace-not-a-name", ["--set", "scope.namespaces.exclude[0]=Kube_System"],
     ["--namespace-exclude=Kube_System"], None),
    ("namespace-empty-entry", ["--set-json", 'scope.namespaces.include=["a,,b"]'],
     ["--namespace-include=a,,b"], None),
]
# The node selector's grammar: the chart refuses what the binary refuses, with the binary's
# message up to its reason (which only the binary details).
SELECTOR_CASES = ["a b", "!a=b", "a in ()", "a,", "-a=b", "a=-b", "a<b", "Example.COM/x=a",
                  "a..b/x=y", "a/b/c=d", "x in (a b)", "a>", ",".join(f"k{i}" for i in range(33)),
                  "x in (" + ",".join(f"v{i}" for i in range(33)) + ")"]


def crash_message(helm, tmp_path, values, flags, config) -> tuple[str, str]:
    """(helm's stderr, the binary's message) for one case."""
    proc = helm.run("template", "kp", CHART, *values, check=False)
    assert proc.returncode != 0, f"{values} rendered"
    # The binary, given what the chart would have given it: the default rendering's args with
    # the case's flags in place of the same-named ones, and the case's config file.
    base = chart_args(helm)
    names = {flag_name(f) for f in flags}
    args = [pod_env(a) for a in base if flag_name(a) not in names] + flags
    if config is not None:
        args.append(f"--config={CONFIG_PATH}")
    return proc.stderr, binary_error(args, config, tmp_path)


def pod_env(arg: str) -> str:
    """An arg as the kubelet hands it over: $(POD_NAMESPACE) and the other downward-API
    variables expanded (the binary checks the Lease's namespace and the identity)."""
    for var, value in (("POD_NAMESPACE", "monitoring"), ("POD_NAME", "kp-kubepulse-0"),
                       ("POD_IP", "10.0.0.7")):
        arg = arg.replace(f"$({var})", value)
    return arg


@pytest.mark.parametrize("case", CRASH_CASES, ids=[c[0] for c in CRASH_CASES])
def test_chart_refuses_what_the_binary_refuses(helm, tmp_path, case):
    name, values, flags, config = case
    stderr, message = crash_message(helm, tmp_path, values, flags, config)
    assert message in stderr, (name, message, stderr)


@pytest.mark.parametrize("selector", SELECTOR_CASES)
def test_chart_refuses_the_selectors_the_binary_refuses(helm, tmp_path, selector):
    stderr, message = crash_message(helm, tmp_path, ["--set-json",
                                                     f"scope.nodeSelector={json.dumps(selector)}"],
                                    [f"--node-selector={selector}"], None)
    head = f'flag --node-selector: invalid label selector "{selector}"'
    assert message.startswith(head + ": "), message
    assert head + " [value scope.nodeSelector]" in stderr, (message, stderr)


def test_chart_accepts_the_selectors_the_binary_accepts(helm, tmp_path):
    if not KUBEPULSE.exists():
        pytest.skip(f"{KUBEPULSE} not built")
    for selector in ["", "x=a,y=b", "x!=a", "x==a", "x=", "!x", "x", "x>1,z<5",
                     " x in (a, b) , y notin (c)", "node-role.kubernetes.io/control-plane!=",
                     "topology.kubernetes.io/zone in (eu-west-1a,eu-west-1b)",
                     "x in (a,,b)", "x notin (,a)", "x=in", "x>+1", "a.b-c.d/x=y",
                     ",".join(f"k{i}" for i in range(32))]:
        args = chart_args(helm, "--set-json", f"scope.nodeSelector={json.dumps(selector)}")
        if selector:
            assert f"--node-selector={selector}" in args
        # The binary takes it too: it gets past its options to the missing kubeconfig.
        proc = subprocess.run([str(KUBEPULSE), f"--node-selector={selector}",
                               f"--kubeconfig={tmp_path}/none", "--sink=log"],
                              capture_output=True, text=True, timeout=20)
        assert proc.returncode == 1 and "node-selector" not in proc.stderr, (selector, proc)


def test_model_api_value(helm, tmp_path):
    """modelApi is --model-api: on-demand by default; YAML's unquoted off (false) is off."""
    assert "--model-api=on-demand" in chart_args(helm)
    assert "--model-api=always" in chart_args(helm, "--set", "modelApi=always")
    values = tmp_path / "values.yaml"
    values.write_text("modelApi: off\n")  # YAML 1.1's false, as helm reads it
    assert "--model-api=off" in chart_args(helm, "-f", str(values))
    args = chart_args(helm, "--set-string", "modelApi=off",
                      "--set", "extraArgs[0]=--disable_metric_sink")
    assert "--model-api=off" in args and "--disable_metric_sink" in args, args


def test_chart_flags_have_one_source(helm):
    """Every flag the chart sets is refused in config: and in extraArgs, naming its value;
    config: and extraArgs may not both set one."""
    base = chart_args(helm, "--set", "kubelet.certificateAuthority=/ca.crt",
                      "--set", "scope.nodeSelector=a=b")
    names = sorted({flag_name(a) for a in base})
    assert {"metric-resolution", "sink", "lease-duration", "node-selector",
            "kubelet-certificate-authority"} <= set(names), names
    for name in names:
        proc = helm.run("template", "kp", CHART, "--set-string", f"config.{name}=1", check=False)
        assert proc.returncode != 0, f"config.{name} accepted next to the chart's --{name}"
        assert f'config: key "{name}" is set by the chart as --{name}' in proc.stderr, \
            proc.stderr
        proc = helm.run("template", "kp", CHART, "--set-string", f"extraArgs[0]=--{name}=1",
                        check=False)
        assert proc.returncode != 0 and f"extraArgs: --{name} is set by the chart" in \
            proc.stderr, proc.stderr
    proc = helm.run("template", "kp", CHART, "--set", "metricResolution=30s",
                    "--set", "config.metric-resolution=30s", check=False)
    assert "set metricResolution instead" in proc.stderr, proc.stderr
    # --log-format is the binary's alias of --logging-format, which the chart sets.
    for where in ("config.log-format=json", "extraArgs[0]=--log-format=json"):
        proc = helm.run("template", "kp", CHART, "--set-string", where, check=False)
        assert proc.returncode != 0 and re.search(r'log-format"? is set by the chart', proc.stderr), \
            proc.stderr
    proc = helm.run("template", "kp", CHART, "--set", "config.metric_resolution=30s", check=False)
    assert 'config: key "metric_resolution" is set by the chart as --metric-resolution' in \
        proc.stderr, proc.stderr
    proc = helm.run("template", "kp", CHART, "--set", "extraArgs[0]=--sink-timeout=5s",
                    "--set", "config.sink_timeout=5s", check=False)
    assert "extraArgs: --sink-timeout is also a key of config" in proc.stderr, proc.stderr
    # Heapster's spelling is the same flag.
    proc = helm.run("template", "kp", CHART, "--set", "extraArgs[0]=--metric_resolution=30s",
                    check=False)
    assert "extraArgs: --metric-resolution is set by the chart" in proc.stderr, proc.stderr
    proc = helm.run("template", "kp", CHART, "--set", "extraArgs[0]=--sink-timeout=5s",
                    "--set", "config.sink-timeout=5s", check=False)
    assert "extraArgs: --sink-timeout is also a key of config" in proc.stderr, proc.stderr
    # What the chart does not set goes to either place, once.
    args = chart_args(helm, "--set", "extraArgs[0]=--sink-timeout=5s",
                      "--set", "config.sink-batch-lines=1000")
    assert args[-2:] == [f"--config={CONFIG_PATH}", "--sink-timeout=5s"], args


def chart_option_table() -> dict[str, str]:
    text = (CHART / "templates" / "_validate.tpl").read_text()
    body = text.split('{{- define "kubepulse.optionTable" -}}', 1)[1].split("{{- end }}", 1)[0]
    return {k.strip(): v.split()[0] for k, v in
            (line.split(":", 1) for line in body.strip().splitlines())}


def test_chart_option_table_is_the_binarys():
    """_validate.tpl's copy of the option table lists the binary's flags with their types."""
    if not KUBEPULSE.exists():
        pytest.skip(f"{KUBEPULSE} not built")
    out = subprocess.run([str(KUBEPULSE), "--help"], capture_output=True, text=True,
                         check=True).stdout
    kinds = {"string": "string", "": "bool", "int": "int", "size": "size",
             "duration": "duration", "value": "list"}
    flags = out.split("Flags", 1)[1].split("\n\n", 1)[0]
    binary = {}
    for m in re.finditer(r"^  --([a-z][a-z0-9-]*) ?(\S*)\s{2,}", flags, re.M):
        if m.group(1) not in ("help", "version"):
            binary[m.group(1)] = kinds.get(m.group(2), m.group(2))
    # Heapster's and glog's flags that mean nothing here: accepted with a warning.
    ignored = out.split("meaning nothing here:", 1)[1].split("\n\n", 1)[0]
    for name in re.findall(r"--([a-z][a-z0-9-]*)", ignored):
        binary[name] = "ignored"
    assert len(binary) > 60
    assert chart_option_table() == binary


def test_new_values_render_valid_objects(cluster, helm, namespace):
    """namespaceOverride, revisionHistoryLimit, image.registry, hostNetwork, networkPolicy,
    extraArgs, extraVolumes and a null minAvailable, accepted by the API server."""
    docs = rendered(helm, "--set", "podDisruptionBudget.minAvailable=null")
    pdb = next(d for d in docs if d["kind"] == "PodDisruptionBudget")
    assert pdb["spec"].get("maxUnavailable") == 1 and "minAvailable" not in pdb["spec"], pdb
    docs = rendered(helm, "--set", "podDisruptionBudget.minAvailable=null",
                    "--set", "podDisruptionBudget.maxUnavailable=null")
    pdb = next(d for d in docs if d["kind"] == "PodDisruptionBudget")
    assert pdb["spec"].get("maxUnavailable") == 1, pdb
    docs = rendered(helm, "--set", "podDisruptionBudget.minAvailable=0")
    pdb = next(d for d in docs if d["kind"] == "PodDisruptionBudget")
    assert pdb["spec"] == {"minAvailable": 0, "selector": pdb["spec"]["selector"]}, pdb

    other = cluster.create_namespace("kp-override")
    values = [
        "--set", f"namespaceOverride={other}", "--set", "revisionHistoryLimit=3",
        "--set", "image.registry=registry.example.com/", "--set", "image.repository=kp/kubepulse",
        "--set", "hostNetwork=true", "--set", "networkPolicy.enabled=true",
        "--set", "networkPolicy.from[0].namespaceSelector.matchLabels.team=obs",
        "--set", "extraArgs[0]=--sink-timeout=5s",
        "--set", "extraVolumes[0].name=kubelet-ca",
        "--set", "extraVolumes[0].configMap.name=kubelet-ca",
        "--set", "extraVolumeMounts[0].name=kubelet-ca",
        "--set", "extraVolumeMounts[0].mountPath=/etc/kubepulse/kubelet-ca",
        "--set", "kubelet.certificateAuthority=/etc/kubepulse/kubelet-ca/ca.crt",
        "--set", "podDisruptionBudget.minAvailable=null",
        "--set", "scope.nodeSelector=kubernetes.io/os=linux",
        "--set", "scope.metrics.deny[0]=network/*_errors*",
        "--set", "scope.namespaces.exclude[0]=kube-*",
    ]
    docs = rendered(helm, *values)
    for d in docs:
        if d["kind"] in ("ClusterRole", "ClusterRoleBinding", "APIService"):
            continue
        if d["kind"] == "RoleBinding" and \
                d["roleRef"]["name"] == "extension-apiserver-authentication-reader":
            # the metrics API's delegated authentication reads kube-system's ConfigMap
            assert d["metadata"]["namespace"] == "kube-system", d["metadata"]
            continue
        assert d["metadata"]["namespace"] == other, d["metadata"]
    dep = next(d for d in docs if d["kind"] == "Deployment")
    spec = dep["spec"]["template"]["spec"]
    c = spec["containers"][0]
    assert dep["spec"]["revisionHistoryLimit"] == 3
    assert c["image"] == "registry.example.com/kp/kubepulse:0.1.0"
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert "--listen=$(POD_IP):8080" in c["args"]
    assert {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} \
        in c["env"]
    assert c["args"][-1] == "--sink-timeout=5s"
    assert {"--node-selector=kubernetes.io/os=linux", "--metric-deny=network/*_errors*",
            "--namespace-exclude=kube-*"} <= set(c["args"]), c["args"]
    assert {"name": "kubelet-ca", "configMap": {"name": "kubelet-ca"}} in spec["volumes"]
    assert {"name": "kubelet-ca", "mountPath": "/etc/kubepulse/kubelet-ca"} in \
        c["volumeMounts"]
    np = next(d for d in docs if d["kind"] == "NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress"]  # egress (the Lease) untouched
    peers = np["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"team": "obs"}}} in peers
    assert np["spec"]["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    # The API server accepts every object (server-side dry run), in the override namespace.
    text = "\n---\n".join(yaml.safe_dump(d) for d in docs)
    lines = dry_run_server(cluster, text)
    kinds = {line.split("/")[0] for line in lines}
    assert {"networkpolicy.networking.k8s.io", "poddisruptionbudget.policy",
            "deployment.apps"} <= kinds, lines


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
    # The host port is taken on every node: a surge pod could never be scheduled.
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
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
    # The metrics API's APIService is cluster-wide (one v1beta1.metrics.k8s.io per cluster) and
    # would point at pods that never run here: test_metrics_api.py covers it.
    helm.run("install", release, CHART, "--namespace", namespace,
             "--set", "dashboard.enabled=true", "--set", "sinkSecret.name=influx-credentials",
             "--set", "metricsApi.enabled=false")
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
