#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# down.sh — stop every server that up.sh (or a later start/restart) left running in
# STATE_DIR, by the pid in its NAME.pid file, and wait for each to exit.
#
#   down.sh STATE_DIR [--purge]
#
# The nodes of up.sh --with-node go first (node.sh down: kubelets, pods, shims, containerd,
# controllers, their cgroups), then the apiserver, and etcd last so the apiserver never loses
# its store while serving. Any other NAME.pid a test registered through lib.sh's kp_spawn is stopped too.
# Data stays in STATE_DIR (up.sh STATE_DIR starts the same cluster again); --purge then
# removes STATE_DIR itself, and nothing outside it is ever touched.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
    local dir purge=false
    [[ -n "${1:-}" && -d "$1" ]] || kp_die "usage: down.sh STATE_DIR [--purge] (an existing dir)"
    dir="$(kp_state_dir "$1")"
    [[ "${2:-}" != --purge ]] || purge=true
    # The nodes first (kubelets, pods, containerd, their cgroups), while the API server is up.
    "$(dirname "${BASH_SOURCE[0]}")/node.sh" down "$dir"
    kp_stop_all "$dir"
    if [[ "$purge" == true ]]; then
        [[ -f "$dir/env" || -f "$dir/etcd.args" ]] ||
            kp_die "$dir does not look like a state dir made by up.sh; not removing it"
        rm -rf -- "$dir"
        kp_log "removed $dir"
    fi
}

main "$@"
