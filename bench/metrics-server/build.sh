#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build.sh - build metrics-server's cmd/metrics-server at the version pinned in go.mod into
# ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/metrics-server-VERSION and print the path.
# Skips the build when the binary is there. Needs Go and the Go module proxy (or a warm cache).
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}"
ver="$(awk '$1 == "require" && $2 == "sigs.k8s.io/metrics-server" {print $3}' "$DIR/go.mod")"
out="$CACHE/bin/metrics-server-$ver"
if [[ ! -x "$out" ]]; then
    command -v go >/dev/null || { echo "build.sh: go is not installed" >&2; exit 1; }
    mkdir -p "$CACHE/bin"
    tmp="$out.tmp.$$"
    (cd "$DIR" && [[ -s go.sum ]] || go mod tidy) >&2
    (cd "$DIR" && CGO_ENABLED=0 go build -trimpath -o "$tmp" \
        sigs.k8s.io/metrics-server/cmd/metrics-server) >&2
    mv -f "$tmp" "$out"
fi
echo "$out"
