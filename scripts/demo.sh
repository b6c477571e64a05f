#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# demo.sh — kubepulse's main job, end to end, on one machine (README.md, "The two commands"):
# the Helm chart's pods on three real Kubernetes nodes, scraping real kubelets.
#
# Installs the Debian packages and builds the servers (once per machine: kube-apiserver,
# kubelet, controller-manager, scheduler, helm), builds the container image from the Dockerfile
# (scripts/build-image.sh, cached), then starts a local cluster with three real nodes on
# 127.0.0.2-4, each a kubelet with its own containerd (tests/infra/up.sh --with-node), and
# InfluxDB. It imports the image into the nodes, runs a CPU- and memory-burning Deployment,
# and `helm install`s charts/kubepulse: three replicas, one per node, racing for the Lease.
# It shows the pods, the Lease holder (a pod), what reached InfluxDB next to what a kubelet
# serves itself, deletes the leader pod with kubectl (and prints how long the takeover took),
# shows the replacement pod following, and keeps running until Ctrl-C, which stops
# everything it started, by pid.
#
# Usage: scripts/demo.sh [--once] [--simulated]
#   --once        stop after the failover instead of waiting for Ctrl-C (CI)
#   --simulated   the simulated demo instead (scripts/demo-simulated.sh: 10 simulated kubelets
#                 x 30 pods, kubepulse as host processes); also what runs, after one line
#                 saying why, on a machine that cannot run containers
#
# Environment: KP_DEMO_DIR (state, logs; default /tmp/kubepulse-demo-node),
# KP_DEMO_RESOLUTION (the chart's metricResolution, default 15s).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=../tests/infra/lib.sh
source tests/infra/lib.sh

once=false
simulated=false
pass=()
for arg in "$@"; do
    case "$arg" in
    --once) once=true; pass+=(--once) ;;
    --simulated) simulated=true ;;
    -h | --help) sed -n '3,25p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$simulated" == false ]] || exec scripts/demo-simulated.sh "${pass[@]}"

DIR="${KP_DEMO_DIR:-/tmp/kubepulse-demo-node}"
RESOLUTION="${KP_DEMO_RESOLUTION:-15s}"
NS=kubepulse           # the release's namespace: its ServiceAccount and Lease live there
RELEASE=kubepulse
LEASE=kubepulse
WORK_NS=demo           # the burning workload
IMAGE_TAR="$KP_CACHE/images/kubepulse.tar"

# shellcheck source=demo-lib.sh
source scripts/demo-lib.sh

# ---- 1. can this machine run containers at all? ----------------------------------------------

tests/infra/install-deps.sh >/dev/null 2>&1 || tests/infra/install-deps.sh
if ! why="$(tests/infra/node.sh check 2>&1)"; then
    echo "demo.sh: this machine cannot run containers (${why:-node.sh check failed}); running the simulated demo (scripts/demo.sh --simulated)"
    exec scripts/demo-simulated.sh "${pass[@]}"
fi

started_infra=false
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ "$started_infra" == true ]]; then
        step "stopping everything demo.sh started (nodes, pods, control plane, InfluxDB; by pid)"
        tests/infra/down.sh "$DIR" >/dev/null 2>&1 || true
        info "logs and data kept in $DIR (node-N-kubelet.log, apiserver.log, influx.log, ...)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers -------------------------------------------------------------------------------

helm_() {
    HELM_CACHE_HOME="$DIR/helm/cache" HELM_CONFIG_HOME="$DIR/helm/config" \
        HELM_DATA_HOME="$DIR/helm/data" "$HELM" --kubeconfig "$KP_KUBECONFIG" "$@"
}
# The Lease's holder, straight from the API server (curl: a poll every few ms is cheap).
holder() {
    curl -sf --max-time 2 --cacert "$KP_CA_CERT" --cert "$KP_ADMIN_CERT" --key "$KP_ADMIN_KEY" \
        "$KP_APISERVER/apis/coordination.k8s.io/v1/namespaces/$NS/leases/$LEASE" |
        jq -r '.spec.holderIdentity // ""'
}
pods_json() { kubectl_ get pods -n "$NS" -l "app.kubernetes.io/instance=$RELEASE" -o json; }
ready_pods() { # names of the Ready, not terminating pods
    pods_json | jq -r '.items[] | select(.metadata.deletionTimestamp == null) |
        select(any(.status.conditions[]?; .type == "Ready" and .status == "True")) |
        .metadata.name'
}
pod_ip() { kubectl_ get pod "$1" -n "$NS" -o jsonpath='{.status.podIP}'; }
status_of() { curl -sf --max-time 2 "http://$(pod_ip "$1"):$PORT/status"; }

three_ready() { [[ "$(ready_pods | wc -l)" -eq 3 ]]; }

# ---- 2. builds -------------------------------------------------------------------------------

step "building the servers: kube-apiserver, kubectl, kubelet, controller-manager, scheduler (cached in ~/.cache/kubepulse)"
tests/infra/build-servers.sh --with-node >/dev/null
step "building helm (cached)"
HELM="$(scripts/build-helm.sh)"
info "$HELM"
step "building the kubepulse image from the Dockerfile (scripts/build-image.sh; cached after the first time)"
t0=$(kp_now_ms)
scripts/build-image.sh --output "$IMAGE_TAR" 2>"$KP_CACHE/images/build-image.log" >/dev/null ||
    { tail -n 30 "$KP_CACHE/images/build-image.log"; die "the image build failed"; }
grep -E 'image localhost|checking' "$KP_CACHE/images/build-image.log" | sed 's/^/    /'
info "image ready in $(kp_secs_since "$t0")s: $IMAGE_TAR"

# ---- 3. the cluster ------------------------------------------------------------------------

step "starting etcd, kube-apiserver, InfluxDB, controller-manager, scheduler and 3 real nodes in $DIR"
started_infra=true
mkdir -p "$DIR"
tests/infra/up.sh --with-node "$DIR" >/dev/null 2>"$DIR/up.log" ||
    { tail -n 20 "$DIR/up.log"; die "tests/infra/up.sh --with-node failed (log: $DIR/up.log)"; }
# shellcheck disable=SC1091
source "$DIR/env"
DIR="$KP_STATE_DIR"
grep -E 'Ready and schedulable|all servers up' "$DIR/up.log" | sed 's/^\[[0-9:]*\] /    /'
kubectl_ get nodes -o wide | sed 's/^/    /'
info "API server $KP_APISERVER, InfluxDB $KP_INFLUX_URL"

step "importing the image into every node's containerd (no registry here)"
tests/infra/node.sh import "$DIR" "$IMAGE_TAR" >/dev/null 2>&1 || die "node.sh import failed"
info "localhost/kubepulse:0.1.0 on ${KP_NODE_NAMES//,/, }"

step "a workload that burns CPU and memory: Deployment $WORK_NS/burner, 3 pods in their own network namespaces"
kubectl_ create namespace "$WORK_NS" >/dev/null
kubectl_ apply -n "$WORK_NS" -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: burner}
spec:
  replicas: 3
  selector: {matchLabels: {app: burner}}
  template:
    metadata: {labels: {app: burner}}
    spec:
      enableServiceLinks: false
      automountServiceAccountToken: false
      dnsPolicy: None
      dnsConfig: {nameservers: [127.0.0.1]}
      containers:
        - name: burn
          image: $KP_NODE_WORKLOAD_IMAGE
          imagePullPolicy: Never
          command: [burn, --cpu, "150", --mem, "40"]
EOF

# ---- 4. helm install -----------------------------------------------------------------------

api_host="${KP_APISERVER#https://}"
api_port="${api_host##*:}"
api_host="${api_host%:*}"
read -r PORT <<<"$(kp_free_ports "$DIR" 1)"
step "helm install $RELEASE charts/kubepulse -n $NS"
cat >"$DIR/demo-values.yaml" <<EOF
# What this machine needs (docs/deploy.md, "hostNetwork clusters without kube-proxy"):
# only loopback exists, so the pods use their node's network and reach the API server, the
# kubelets and InfluxDB on 127.x; DNS stays on 127.0.0.1.
hostNetwork: true
apiServer: {host: "$api_host", port: $api_port}
dnsPolicy: None
dnsConfig: {nameservers: [127.0.0.1]}
containerPort: $PORT
metricResolution: $RESOLUTION
sinks: ["influxdb:$KP_INFLUX_URL?db=k8s"]
EOF
sed 's/^/    /' "$DIR/demo-values.yaml"
kubectl_ create namespace "$NS" >/dev/null
t0=$(kp_now_ms)
helm_ install "$RELEASE" charts/kubepulse -n "$NS" -f "$DIR/demo-values.yaml" \
    --set image.repository=localhost/kubepulse >"$DIR/helm-install.log" 2>&1 ||
    { cat "$DIR/helm-install.log"; die "helm install failed"; }
wait_until 120 "3 Ready kubepulse pods" three_ready
info "3 pods Ready $(kp_secs_since "$t0")s after helm install"
kubectl_ get pods -n "$NS" -o wide | sed 's/^/    /'
kubectl_ get pods -n "$WORK_NS" -o wide | sed 's/^/    /'

# ---- 5. the leader and its data ------------------------------------------------------------

step "the Lease: its holder is a pod"
wait_until 30 "a holder" test -n "$(holder)"
kubectl_ get lease "$LEASE" -n "$NS" | sed 's/^/    /'
L="$(holder)"
for p in $(ready_pods); do
    info "$p on $(kubectl_ get pod "$p" -n "$NS" -o jsonpath='{.spec.nodeName}'): $(status_of "$p" |
        jq -r '"leading=\(.leading), holder \(.holder), \(.collector.cycles) cycles"')"
done

step "waiting for two scrape cycles of the leader to reach InfluxDB"
two_cycles_written() {
    status_of "$L" | jq -e '.collector.cycles >= 2 and .sinks[0].pointsWritten > 0' >/dev/null
}
res_s="$(resolution_s)"
wait_until $((3 * res_s + 30)) "two cycles written by the leader" two_cycles_written

step "what InfluxDB holds (database k8s, Heapster's schema), from the real kubelets"
window="time > now() - $((2 * res_s + 5))s"
influx_table "cluster CPU usage (millicores) and memory (MiB):" \
    "SELECT last(value) AS millicores FROM \"cpu/usage_rate\" WHERE type = 'cluster'"
influx_table "" "SELECT last(value) / 1048576 AS MiB FROM \"memory/usage\" WHERE type = 'cluster'"
influx_table "nodes: memory working set (MiB):" \
    "SELECT last(value) / 1048576 AS MiB FROM \"memory/working_set\" WHERE type = 'node' GROUP BY nodename"
influx_table "top 5 pods by cpu/usage_rate (millicores):" \
    "SELECT top(value, pod_name, namespace_name, 5) FROM \"cpu/usage_rate\" WHERE type = 'pod' AND $window"

step "the same numbers from a kubelet itself (GET /stats/summary with a token that has nodes/stats)"
token="$(tests/infra/mint-token.sh "$DIR" "$WORK_NS" stats-reader --duration 1h \
    --cluster-rule get:nodes/stats)"
node="${KP_NODE_NAMES%%,*}"
# Read the kubelet until kubepulse has written a point for a sample the demo also read.
declare -A served=()
match=""
t0=$(kp_now_ms)
while [[ -z "$match" ]]; do
    (($(kp_now_ms) - t0 < (2 * res_s + 20) * 1000)) || die "no common sample with kubelet $node"
    summary="$(curl -sf --max-time 5 --cacert "$KP_NODE_1_KUBELET_CA" \
        -H "Authorization: Bearer $token" "$KP_NODE_1_KUBELET_URL/stats/summary")" ||
        die "could not read $KP_NODE_1_KUBELET_URL/stats/summary"
    served["$(jq -r .node.cpu.time <<<"$summary")"]="$(jq -r \
        '"cpu.usageCoreNanoSeconds \(.node.cpu.usageCoreNanoSeconds), memory.workingSetBytes \(.node.memory.workingSetBytes)"' \
        <<<"$summary")"
    for t in $(influx "SELECT value FROM \"memory/working_set\" WHERE type = 'node' AND nodename = '$node' AND time > now() - 2m" |
        jq -r '.results[0].series[0].values[]?[0]'); do
        [[ -z "${served[$t]:-}" ]] || match="$t"
    done
    [[ -n "$match" ]] || sleep 1
done
info "kubelet $node served at sample time $match: ${served[$match]}"
influx_table "kubepulse's points in InfluxDB for that sample:" \
    "SELECT value FROM \"cpu/usage\", \"memory/working_set\" WHERE type = 'node' AND nodename = '$node' AND time = '$match'" 0

# ---- 6. failover ---------------------------------------------------------------------------

step "kubectl delete pod $L (the leader; the kubelet stops it gracefully)"
before="$(ready_pods | sort)"
t0=$(date +%s%N)
kubectl_ delete pod "$L" -n "$NS" --wait=false | sed 's/^/    /'
new=""
until [[ -n "$new" && "$new" != "$L" ]]; do
    new="$(holder)"
    (($(date +%s%N) - t0 < 20000000000)) || die "no new holder within 20 s"
    sleep 0.01
done
t1=$(date +%s%N)
info "new holder: $new, $(((t1 - t0) / 1000000)) ms after kubectl delete (the old leader released the Lease on SIGTERM)"
wait_until 120 "the replacement pod" three_ready
fresh="$(comm -13 <(echo "$before") <(ready_pods | sort) | head -n 1)"
info "replacement pod $fresh on $(kubectl_ get pod "$fresh" -n "$NS" -o jsonpath='{.spec.nodeName}'): $(status_of "$fresh" |
    jq -r '"leading=\(.leading), following \(.holder)"')"
kubectl_ get lease "$LEASE" -n "$NS" | sed 's/^/    /'
L="$new"
before_cycles="$(status_of "$L" | jq .collector.cycles)"
more_cycles() { status_of "$L" | jq -e --argjson b "$before_cycles" '.collector.cycles >= $b + 1' >/dev/null; }
wait_until $((2 * res_s + 20)) "a cycle of the new leader" more_cycles
influx_table "cluster memory usage, last 4 points (one per interval, across the failover):" \
    "SELECT value / 1048576 AS MiB FROM \"memory/usage\" WHERE type = 'cluster' ORDER BY time DESC LIMIT 4" 0

stop_if_once

step "running; Ctrl-C stops everything. Try:"
info "$KP_KUBECTL --kubeconfig $KP_KUBECONFIG -n $NS get lease,pods -o wide"
info "$KP_KUBECTL --kubeconfig $KP_KUBECONFIG -n $NS delete pod \$(... get lease $LEASE -o jsonpath='{.spec.holderIdentity}')"
info "curl http://<pod IP>:$PORT/status   (pod IP = its node's address, 127.0.0.2-4)"
info "InfluxDB $KP_INFLUX_URL (database k8s)"
while true; do
    sleep 30 &
    wait $! || true
    h="$(holder)"
    if [[ -n "$h" ]] && s="$(status_of "$h" 2>/dev/null)"; then
        jq -r '"    [\(now | strftime("%H:%M:%S"))] holder \(.holder): \(.collector.cycles) cycles, \(.sinks[0].pointsWritten) points written"' <<<"$s"
    else
        info "[$(date +%H:%M:%S)] holder: ${h:-none}"
    fi
done
