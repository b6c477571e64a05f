#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-helm.sh — build the helm CLI from the Go module pinned in scripts/helm/go.mod.
#
#   scripts/build-helm.sh        build helm if it is not cached yet, print its path
#
# The binary goes to a cache outside the work tree, keyed by version:
#   ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/helm-v3.17.4
# Modules come from the Go module proxy and are checked against the checked-in go.sum
# (-mod=readonly). Cold build: about 1.5 min on 2 cores; cached: instant.
# The ldflags are the ones helm's own Makefile sets, so `helm version` reports the real
# version and `helm lint` / `helm template` default to the Kubernetes minor helm was built with.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODULE_DIR="$HERE/helm"
# shellcheck source=../tests/infra/lib.sh
source "$HERE/../tests/infra/lib.sh" # kp_log, kp_die, KP_CACHE
CACHE="$KP_CACHE"

mod_version() { # MODULE -> version pinned in go.mod (direct or indirect requirement)
    awk -v m="$1" '($1 == m) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' \
        "$MODULE_DIR/go.mod"
}

main() {
    local version k8s minor out tmp t0=$SECONDS ldflags pkg
    command -v go >/dev/null || kp_die "the Go toolchain (>= 1.23) is needed to build helm"
    version="$(mod_version helm.sh/helm/v3)"
    [[ -n "$version" ]] || kp_die "no helm.sh/helm/v3 requirement in $MODULE_DIR/go.mod"
    out="$CACHE/bin/helm-$version"
    mkdir -p "$CACHE/bin"
    # One build at a time per cache: parallel callers wait here instead of racing.
    exec 9>"$CACHE/bin/.helm-build.lock"
    flock 9
    if [[ -x "$out" ]]; then
        printf '%s\n' "$out"
        return 0
    fi
    k8s="$(mod_version k8s.io/client-go)" # v0.32.2 -> Kubernetes 1.32
    minor="${k8s#v0.}"
    minor="${minor%%.*}"
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
    ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
        ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
    done
    kp_log "helm $version: building from the Go module proxy ..."
    tmp="$out.partial.$$"
    trap 'rm -f "'"$tmp"'"' EXIT
    (
        cd "$MODULE_DIR"
        CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
            go build -trimpath -ldflags "$ldflags" -o "$tmp" helm.sh/helm/v3/cmd/helm
    )
    mv -f "$tmp" "$out"
    trap - EXIT
    kp_log "helm $version: built in $((SECONDS - t0))s -> $out"
    printf '%s\n' "$out"
}

main "$@"
