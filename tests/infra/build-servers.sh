#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-servers.sh — build the real kube-apiserver and a matching kubectl from the
# k8s.io/kubernetes version pinned in tests/infra/k8s/go.mod.
#
#   build-servers.sh [--with-node]
#                               build what is missing, print the binary paths; --with-node
#                               also kubelet, kube-controller-manager and kube-scheduler
#                               (the real nodes of up.sh --with-node)
#
# Binaries go to a cache outside the work tree, keyed by version, so a new checkout or a
# fresh clone in CI reuses them:
#   ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/kube-apiserver-v1.32.13
#   ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/kubectl-v1.32.13
# A binary already there is not rebuilt (delete it to force a rebuild). Modules come from the
# Go module proxy and are checked against the checked-in go.sum (-mod=readonly: a missing
# go.sum line is an error, never silently added). Go's build cache (GOCACHE) makes a rebuild
# after a version bump mostly a relink.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVERS=(kube-apiserver kubectl)
NODE_SERVERS=(kube-scheduler kube-controller-manager kubelet)

version_ldflags() {
    local version="$1" minor pkg flags="-s -w"
    minor="${version#v1.}"
    minor="${minor%%.*}"
    # The same variables Kubernetes' own release build sets, so /version and
    # `kubectl version` report v1.32.x instead of v0.0.0-master.
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    printf '%s\n' "$flags"
}

build_one() {
    local name="$1" version="$2" out tmp t0=$SECONDS
    out="$(kp_bin_path "$name")"
    if [[ -x "$out" ]]; then
        kp_log "$name $version: cached at $out"
        return 0
    fi
    kp_log "$name $version: building (from cold on 2 cores: kube-apiserver ~3.5 min, kubelet ~4 min, the others 0.5-1.5 min) ..."
    tmp="$out.partial.$$"
    trap 'rm -f "'"$tmp"'"' EXIT
    (
        cd "$KP_K8S_MODULE_DIR"
        GOFLAGS="-mod=readonly -buildvcs=false" go build \
            -ldflags "$(version_ldflags "$version")" -o "$tmp" "k8s.io/kubernetes/cmd/$name"
    )
    mv -f "$tmp" "$out"
    trap - EXIT
    kp_log "$name $version: built in $((SECONDS - t0))s -> $out"
}

main() {
    local version name
    if [[ "${1:-}" == --with-node ]]; then
        SERVERS+=("${NODE_SERVERS[@]}")
    elif [[ -n "${1:-}" ]]; then
        kp_die "usage: build-servers.sh [--with-node]"
    fi
    command -v go >/dev/null || kp_die "the Go toolchain (>= 1.23) is needed to build the servers"
    version="$(kp_k8s_version)"
    [[ -n "$version" ]] || kp_die "no k8s.io/kubernetes version in $KP_K8S_MODULE_DIR/go.mod"
    mkdir -p "$KP_BIN_DIR"
    # One build at a time per cache: parallel test runs wait here instead of racing.
    exec 9>"$KP_BIN_DIR/.build.lock"
    flock 9
    for name in "${SERVERS[@]}"; do
        build_one "$name" "$version"
    done
    for name in "${SERVERS[@]}"; do
        kp_bin_path "$name"
    done
}

main "$@"
