#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# etcd.sh — the single-member etcd that backs the test kube-apiserver.
#
#   etcd.sh start|stop|restart|kill|pause|resume|status STATE_DIR
#
# Data in STATE_DIR/etcd, log in STATE_DIR/etcd.log. The first start picks two free loopback
# ports (client, peer) and records them in STATE_DIR/env; later starts reuse them so the
# apiserver's --etcd-servers stays valid across restarts (chaos tests restart etcd).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ETCD_BIN="${KP_ETCD_BIN:-$(command -v etcd || true)}"

srv_configure() {
    local dir="$1" client peer
    [[ -x "$ETCD_BIN" ]] || kp_die "etcd not found; run tests/infra/install-deps.sh"
    read -r client peer <<<"$(kp_free_ports "$dir" 2)"
    mkdir -p "$dir/etcd"
    kp_save_args "$dir" etcd "$ETCD_BIN" \
        --name kubepulse \
        --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$client" \
        --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "kubepulse=http://127.0.0.1:$peer" \
        --initial-cluster-state new \
        --logger zap --log-outputs stderr --log-level warn
    kp_env_set "$dir" KP_ETCD_URL "http://127.0.0.1:$client"
    kp_env_set "$dir" KP_ETCD_PORT "$client"
    kp_env_set "$dir" KP_ETCD_PEER_PORT "$peer"
}

srv_ready() {
    curl -fsS --max-time 2 "$(kp_env_get "$1" KP_ETCD_URL)/health" | grep -q '"health":"true"'
}

kp_server_main etcd 30 "$@"
