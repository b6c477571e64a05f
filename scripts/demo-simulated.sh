#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# demo-simulated.sh — kubepulse's main job on simulated kubelets: `scripts/demo.sh --simulated`
# runs it, and scripts/demo.sh falls back to it on a machine that cannot run containers.
#
# Installs the Debian packages and builds the test servers (once per machine), builds
# kubepulse (Release, build-demo/), then starts a real local control plane (etcd +
# kube-apiserver) and InfluxDB (tests/infra/up.sh), a kubelet simulator playing 10 nodes of
# 30 pods each (tests/sim), and three kubepulse replicas racing for the Lease. The replicas
# run as a ServiceAccount with exactly the chart's RBAC and a bound token, as in a cluster.
# It shows the Lease holder and what reached InfluxDB, fails the leader over with SIGTERM
# (and prints how long the takeover took), restarts that replica, and keeps running until
# Ctrl-C, which stops everything it started, by pid.
#
# Usage: scripts/demo-simulated.sh [--once]   (or scripts/demo.sh --simulated [--once])
#   --once   stop after the failover and the restart instead of waiting for Ctrl-C (CI)
#
# Environment: KP_DEMO_DIR (state, logs; default /tmp/kubepulse-demo), KP_DEMO_NODES (10),
# KP_DEMO_PODS (30), KP_DEMO_RESOLUTION (--metric-resolution, default 15s), KP_DEMO_ADDR_BASE
# (the first simulated kubelet's loopback address, default 127.42.0.1; node i listens on the
# i-th address from it, port 10250).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=../tests/infra/lib.sh
source tests/infra/lib.sh

once=false
for arg in "$@"; do
    case "$arg" in
    --once) once=true ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "demo-simulated.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done

DIR="${KP_DEMO_DIR:-/tmp/kubepulse-demo}"
NODES="${KP_DEMO_NODES:-10}"
PODS="${KP_DEMO_PODS:-30}"
RESOLUTION="${KP_DEMO_RESOLUTION:-15s}"
ADDR_BASE="${KP_DEMO_ADDR_BASE:-127.42.0.1}"
NS=kubepulse           # the ServiceAccount's and the Lease's namespace
SA=kubepulse
LEASE=kubepulse
REPLICAS=3
BUILD=build-demo

# shellcheck source=demo-lib.sh
source scripts/demo-lib.sh

started_infra=false
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    if [[ "$started_infra" == true ]]; then
        step "stopping everything demo-simulated.sh started (by pid)"
        for ((i = 0; i < REPLICAS; i++)); do kp_stop "$DIR" "kubepulse-$i" TERM 10; done
        kp_stop "$DIR" kubeletsim TERM 10
        tests/infra/down.sh "$DIR" >/dev/null 2>&1 || true
        info "logs and data kept in $DIR (kubepulse-N.log, kubeletsim.log, influx.log, ...)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers -------------------------------------------------------------------------------


port_of() { echo "${PORTS[$1]}"; }
status_of() { curl -sf --max-time 2 "http://127.0.0.1:$(port_of "$1")/status"; }
# Index of the replica that leads (per its own /status), or nothing.
leader_index() {
    local i
    for ((i = 0; i < REPLICAS; i++)); do
        [[ "$(status_of "$i" 2>/dev/null | jq -r .leading 2>/dev/null)" == true ]] &&
            { echo "$i"; return 0; }
    done
    return 0
}
holder() { kubectl_ get lease "$LEASE" -n "$NS" -o jsonpath='{.spec.holderIdentity}'; }

start_replica() { # INDEX
    local i="$1"
    kp_save_args "$DIR" "kubepulse-$i" "$root/$BUILD/src/kubepulse" \
        --kubeconfig="$DIR/demo/kubepulse.kubeconfig" --identity="kubepulse-$i" \
        --lease-namespace="$NS" --lease-name="$LEASE" --listen="127.0.0.1:${PORTS[$i]}" \
        --metric-resolution="$RESOLUTION" --sink="influxdb:$KP_INFLUX_URL?db=k8s"
    kp_spawn "$DIR" "kubepulse-$i"
    info "kubepulse-$i: status http://127.0.0.1:${PORTS[$i]}/status, log $DIR/kubepulse-$i.log"
}

check_alive() {
    local i
    for ((i = 0; i < REPLICAS; i++)); do
        kp_server_pid "$DIR" "kubepulse-$i" >/dev/null ||
            die "kubepulse-$i exited; last lines of $DIR/kubepulse-$i.log:
$(tail -n 15 "$DIR/kubepulse-$i.log")"
    done
    kp_server_pid "$DIR" kubeletsim >/dev/null ||
        die "the kubelet simulator exited; see $DIR/kubeletsim.log"
}

# ---- 1. dependencies and builds -------------------------------------------------------------

step "installing Debian packages (only what is missing)"
tests/infra/install-deps.sh
step "building the test servers: kube-apiserver and kubectl (cached in ~/.cache/kubepulse)"
tests/infra/build-servers.sh
step "building the kubelet simulator"
SIM="$(tests/sim/build.sh)"
info "$SIM"
step "building kubepulse (Release, $BUILD/)"
mkdir -p "$BUILD"
# The static libcurl install-deps.sh built, as the image links it (README.md, "Dependencies").
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKP_TESTS=OFF \
    -DKP_CURL_ROOT="${KP_CURL_ROOT:-/opt/kubepulse/curl}" >"$BUILD/demo-build.log" 2>&1 ||
    { tail -n 30 "$BUILD/demo-build.log"; die "cmake configure failed (log: $BUILD/demo-build.log)"; }
cmake --build "$BUILD" --target kubepulse >>"$BUILD/demo-build.log" 2>&1 ||
    { tail -n 30 "$BUILD/demo-build.log"; die "build failed (log: $BUILD/demo-build.log)"; }
"$BUILD/src/kubepulse" --version | sed 's/^/    /'

# ---- 2. the control plane, InfluxDB, the kubelets -------------------------------------------

step "starting etcd, kube-apiserver and InfluxDB in $DIR (tests/infra/up.sh)"
started_infra=true
tests/infra/up.sh "$DIR" >/dev/null || die "tests/infra/up.sh failed (logs in $DIR)"
# shellcheck disable=SC1091
source "$DIR/env"
DIR="$KP_STATE_DIR"
mkdir -p "$DIR/demo"
info "API server $KP_APISERVER, InfluxDB $KP_INFLUX_URL"

step "creating ServiceAccount $NS/$SA with the chart's RBAC, and a bound token for it"
# The chart's ClusterRole (read-only: nodes, the kubelets' Summary API as nodes/stats, pods
# and namespaces) and Role (the Lease, events). The chart also pins the Lease's get/update/
# list/watch to its name; mint-token.sh grants per resource, which is enough to show least
# privilege: no nodes/proxy, no secrets, no writes outside the namespace.
tests/infra/mint-token.sh "$DIR" "$NS" "$SA" --duration 24h \
    --cluster-rule list,watch:nodes \
    --cluster-rule get:nodes/stats \
    --cluster-rule list,watch:pods,namespaces \
    --rule get,list,watch,create,update:leases.coordination.k8s.io \
    --rule create:events >"$DIR/demo/token.tmp"
install -m 600 "$DIR/demo/token.tmp" "$DIR/demo/token" && rm -f "$DIR/demo/token.tmp"
cat >"$DIR/demo/kubepulse.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: demo
  cluster: {server: "$KP_APISERVER", certificate-authority: "$KP_CA_CERT"}
users:
- name: $SA
  user: {tokenFile: "$DIR/demo/token"}
contexts:
- name: demo
  context: {cluster: demo, user: $SA, namespace: $NS}
current-context: demo
EOF
chmod 600 "$DIR/demo/kubepulse.kubeconfig"
info "kubeconfig $DIR/demo/kubepulse.kubeconfig (tokenFile: the token never appears on a command line)"
[[ "$(kubectl_ auth can-i get nodes --subresource=proxy --as="system:serviceaccount:$NS:$SA" \
    2>/dev/null || true)" == no ]] ||
    die "the ServiceAccount may use nodes/proxy: RBAC is wider than intended"

step "starting the kubelet simulator: $NODES nodes x $PODS pods, TLS from the cluster CA"
# The kubelets accept the ServiceAccount's token, as a kubelet does after its TokenReview
# and a nodes/stats SubjectAccessReview.
kp_save_args "$DIR" kubeletsim "$SIM" -nodes "$NODES" -pods "$PODS" \
    -ca-cert "$KP_CA_CERT" -ca-key "$KP_CA_KEY" -token-file "$DIR/demo/token" \
    -addr-base "$ADDR_BASE" -control 127.0.0.1:0 -manifest "$DIR/demo/manifest.json"
kp_spawn "$DIR" kubeletsim
wait_until 60 "the kubelet simulator" grep -q "kubeletsim ready" "$DIR/kubeletsim.log"
CONTROL="$(grep -o 'kubeletsim ready.*control=[0-9.:]*' "$DIR/kubeletsim.log" | tail -n 1 |
    sed 's/.*control=//')"
info "kubelets ready; control endpoint $CONTROL"
step "registering the nodes and pods in the API server (tests/sim/register.py)"
KP_KUBECTL="$KP_KUBECTL" KP_KUBECONFIG="$KP_KUBECONFIG" \
    python3 tests/sim/register.py --control "$CONTROL" >"$DIR/demo/register.log" 2>&1 ||
    { cat "$DIR/demo/register.log"; die "register.py failed"; }
sed 's/^/    /' "$DIR/demo/register.log"
info "$(kubectl_ get nodes --no-headers | wc -l) nodes, $(kubectl_ get pods -A --no-headers | wc -l) pods"

# ---- 3. three replicas --------------------------------------------------------------------

step "starting $REPLICAS kubepulse replicas (--metric-resolution=$RESOLUTION)"
read -r -a PORTS <<<"$(kp_free_ports "$DIR" "$REPLICAS")"
for ((i = 0; i < REPLICAS; i++)); do start_replica "$i"; done
wait_until 30 "a leader" test -n "$(leader_index)"
check_alive

step "the Lease"
kubectl_ get lease "$LEASE" -n "$NS" | sed 's/^/    /'
L="$(leader_index)"
info "holder: $(holder) (its /status says leading=true; the others follow)"

step "waiting for two scrape cycles to reach InfluxDB"
two_cycles_written() {
    local s
    s="$(status_of "$L")" || return 1
    jq -e '.collector.cycles >= 2 and .sinks[0].pointsWritten > 0 and
           .sinks[0].pointsBuffered == 0' <<<"$s" >/dev/null
}
res_s="$(resolution_s)"
wait_until $((3 * res_s + 20)) "two cycles written by the leader" two_cycles_written
check_alive
export L
status_of "$L" | jq -r '"    leader kubepulse-\(env.L): \(.collector.cycles) cycles, last took \(.collector.durationSeconds * 1000 | floor) ms, \(.collector.nodesCached) nodes, \(.collector.podsCached) pods cached, \(.sinks[0].pointsWritten) points written"'

step "what InfluxDB holds (database k8s, Heapster's schema)"
window="time > now() - $((2 * res_s + 5))s"
influx_table "cluster CPU usage (millicores):" \
    "SELECT last(value) AS millicores FROM \"cpu/usage_rate\" WHERE type = 'cluster'"
influx_table "cluster memory usage (MiB):" \
    "SELECT last(value) / 1048576 AS MiB FROM \"memory/usage\" WHERE type = 'cluster'"
influx_table "memory usage by namespace (MiB):" \
    "SELECT last(value) / 1048576 AS MiB FROM \"memory/usage\" WHERE type = 'ns' GROUP BY namespace_name"
influx_table "top 5 pods by cpu/usage_rate (millicores):" \
    "SELECT top(value, pod_name, namespace_name, 5) FROM \"cpu/usage_rate\" WHERE type = 'pod' AND $window"
influx_table "nodes with points:" \
    "SELECT count(value) AS points FROM \"memory/working_set\" WHERE type = 'node' AND $window GROUP BY nodename"

# ---- 4. failover ---------------------------------------------------------------------------

step "SIGTERM to the leader, kubepulse-$L (pid $(cat "$DIR/kubepulse-$L.pid"))"
old="$L"
old_pid="$(cat "$DIR/kubepulse-$old.pid")"
t0=$(date +%s%N)
kill -TERM "$old_pid"
new=""
while [[ -z "$new" ]]; do
    for ((i = 0; i < REPLICAS; i++)); do
        [[ "$i" != "$old" ]] || continue
        if [[ "$(status_of "$i" 2>/dev/null | jq -r .leading 2>/dev/null)" == true ]]; then
            new="$i"
            break
        fi
    done
    (($(date +%s%N) - t0 < 10000000000)) || die "no replica took over within 10 s"
done
t1=$(date +%s%N)
for ((k = 0; k < 100; k++)); do kp_pid_is_ours "$old_pid" "$DIR" || break; sleep 0.1; done
kp_pid_is_ours "$old_pid" "$DIR" && die "kubepulse-$old did not exit within 10 s of SIGTERM"
wait "$old_pid" 2>/dev/null || true
t2=$(date +%s%N)
info "new holder: $(holder) (kubepulse-$new)"
info "failover: kubepulse-$new led $(((t1 - t0) / 1000000)) ms after the SIGTERM (measured by polling /status)"
info "kubepulse-$old flushed its sink, released the Lease and exited within $(((t2 - t0) / 1000000)) ms"
grep -E 'shutting down|released|stopped' "$DIR/kubepulse-$old.log" | tail -n 3 | sed 's/^/      /'

step "restarting kubepulse-$old: it joins as a follower"
rm -f "$DIR/kubepulse-$old.pid"
kp_spawn "$DIR" "kubepulse-$old"
L="$new"
ready() { curl -sf --max-time 2 "http://127.0.0.1:${PORTS[$old]}/readyz" >/dev/null; }
wait_until 30 "kubepulse-$old to be ready" ready
check_alive
[[ "$(status_of "$old" | jq -r .leading)" == false ]] || die "the restarted replica leads"
info "kubepulse-$old: ready, following $(status_of "$old" | jq -r .holder)"

step "the new leader keeps writing"
before="$(status_of "$new" | jq .collector.cycles)"
more_cycles() {
    status_of "$new" | jq -e --argjson b "$before" \
        '.collector.cycles >= $b + 1 and .sinks[0].pointsBuffered == 0' >/dev/null
}
wait_until $((2 * res_s + 20)) "a cycle of the new leader" more_cycles
influx_table "cluster memory usage, last 3 points (one per interval, across the failover):" \
    "SELECT value / 1048576 AS MiB FROM \"memory/usage\" WHERE type = 'cluster' ORDER BY time DESC LIMIT 3" 0

stop_if_once

step "running; Ctrl-C stops everything. Status pages:"
for ((i = 0; i < REPLICAS; i++)); do
    info "kubepulse-$i  http://127.0.0.1:${PORTS[$i]}/status  /metrics  /healthz  /readyz"
done
info "InfluxDB      $KP_INFLUX_URL   (database k8s)"
info "kubectl       $KP_KUBECTL --kubeconfig $KP_KUBECONFIG get lease $LEASE -n $NS"
while true; do
    sleep 30 &
    wait $! || true
    check_alive
    L="$(leader_index)"
    if [[ -n "$L" ]]; then
        status_of "$L" | jq -r '"    [\(now | strftime("%H:%M:%S"))] holder \(.holder): \(.collector.cycles) cycles, \(.sinks[0].pointsWritten) points written, \(.sinks[0].pointsDropped) dropped"'
    else
        info "[$(date +%H:%M:%S)] no leader right now (holder in the Lease: $(holder))"
    fi
done
