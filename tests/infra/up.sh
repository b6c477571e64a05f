#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# up.sh — start the real servers the integration tests talk to, all on loopback, all state in
# STATE_DIR:  etcd -> kube-apiserver (TLS, Node+RBAC, ServiceAccount tokens)  and  InfluxDB 1.x.
#
#   up.sh [--reuse] [--with-node [--nodes N] [--serving ca|self-signed] [--first-ip IP]]
#         STATE_DIR
#
# --with-node also starts kube-controller-manager, kube-scheduler and N (default 3) real
# kubelets with their own containerd on 127.0.0.2.. (node.sh; `node.sh check` says in one
# line when this machine cannot run them, and up.sh then fails with that line).
# Env: KP_WITH_INFLUX_AUTH=1 also starts the auth-enabled InfluxDB (see influx.sh --auth).
#      KP_APISERVER_EXTRA_ARGS, KUBEPULSE_CACHE: see apiserver.sh, build-servers.sh.
#
# On success STATE_DIR/env holds every address, credential path and pid (KEY=VALUE lines,
# shell-sourceable) and its path is printed on stdout; progress goes to stderr. On failure
# everything already started is stopped again. Stop with down.sh STATE_DIR.
#
# Every start is a fresh cluster (new CA, empty etcd and InfluxDB): servers still running from
# an earlier up.sh into the same STATE_DIR are stopped by pid and that cluster's files are
# removed first (only the files up.sh makes; the directory itself and anything else in it
# stay). With --reuse, a STATE_DIR left by down.sh is started again instead, with its old
# ports, certificates and data.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"

DIR=""

on_exit() {
    local rc=$?
    if ((rc != 0)) && [[ -n "$DIR" ]]; then
        kp_log "up.sh failed; stopping what was started"
        wait || true # a server still being started in the background registers its pid first
        "$HERE/down.sh" "$DIR" || true
    fi
}

# The namespaces exist right after /readyz; the ServiceAccount "default" in them normally
# comes from kube-controller-manager, which this cluster does not run. Pods need it to pass
# ServiceAccount admission, so create it here.
ensure_default_sa() {
    local ns code i
    for ns in default kube-system; do
        for ((i = 0; i < 50; i++)); do
            code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
                --cacert "$DIR/pki/ca.crt" --cert "$DIR/pki/admin.crt" \
                --key "$DIR/pki/admin.key" -H 'Content-Type: application/json' \
                -d '{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}' \
                "$(kp_env_get "$DIR" KP_APISERVER)/api/v1/namespaces/$ns/serviceaccounts")"
            [[ "$code" != 201 && "$code" != 409 ]] || continue 2
            sleep 0.2
        done
        kp_die "could not create ServiceAccount $ns/default (HTTP $code)"
    done
}

# Remove exactly what an earlier up.sh made in STATE_DIR.
remove_old_cluster() {
    local f
    for f in env .env.lock .ports .ports.lock admin.kubeconfig pki procs etcd apiserver influx \
        influx-auth {etcd,apiserver,influx,influx-auth}.{args,pid,log} influx{,-auth}.conf \
        {controller-manager,scheduler}.{args,pid,log,kubeconfig} flexvolume \
        kubelet-ca-bundle.crt; do
        rm -rf -- "${DIR:?}/$f"
    done
    for f in "$DIR"/node-[0-9]*; do
        [[ ! -e "$f" ]] || rm -rf -- "$f"
    done
}

main() {
    local t0 t influx_job reuse=false with_node=false
    local -a node_opts=()
    t0="$(kp_now_ms)"
    while [[ "${1:-}" == --* ]]; do
        case "$1" in
        --reuse) reuse=true ;;
        --with-node) with_node=true ;;
        --nodes | --serving | --first-ip)
            [[ $# -ge 2 ]] || kp_die "$1 needs a value"
            node_opts+=("$1" "$2")
            shift
            ;;
        *) kp_die "unknown option $1" ;;
        esac
        shift
    done
    DIR="$(kp_state_dir "${1:-}")"
    if [[ "$with_node" == true ]]; then
        "$HERE/node.sh" check >/dev/null || kp_die "$("$HERE/node.sh" check)"
    fi
    trap on_exit EXIT
    # Leftovers of an earlier run (an interrupted test run never called down.sh).
    "$HERE/node.sh" down "$DIR"
    kp_stop_all "$DIR"
    if [[ "$reuse" == false ]]; then
        remove_old_cluster
    elif [[ ! -f "$DIR/etcd.args" ]]; then
        kp_log "nothing to reuse in $DIR; starting a new cluster"
    fi

    t="$(kp_now_ms)"
    if [[ "$with_node" == true ]]; then
        "$HERE/build-servers.sh" --with-node >/dev/null
    else
        "$HERE/build-servers.sh" >/dev/null
    fi
    kp_log "server binaries ready in $(kp_secs_since "$t")s (minutes if they had to be built)"
    t="$(kp_now_ms)"
    "$HERE/pki.sh" init "$DIR"
    kp_log "certificates ready in $(kp_secs_since "$t")s"
    kp_env_set "$DIR" KP_STATE_DIR "$DIR"
    kp_env_set "$DIR" KP_INFRA_SCRIPTS "$HERE"
    kp_env_set "$DIR" KP_KUBECTL "$(kp_bin_path kubectl)"

    # InfluxDB does not depend on the others: start it alongside etcd + apiserver.
    "$HERE/influx.sh" start "$DIR" &
    influx_job=$!
    "$HERE/etcd.sh" start "$DIR"
    "$HERE/apiserver.sh" start "$DIR"
    wait "$influx_job"
    if [[ "${KP_WITH_INFLUX_AUTH:-0}" == 1 ]]; then
        "$HERE/influx.sh" start "$DIR" --auth
    fi
    ensure_default_sa
    if [[ "$with_node" == true ]]; then
        "$HERE/node.sh" up "$DIR" "${node_opts[@]}"
    fi

    trap - EXIT
    kp_log "all servers up in $(kp_secs_since "$t0")s; env: $DIR/env"
    printf '%s\n' "$DIR/env"
}

main "$@"
