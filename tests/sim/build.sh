#!/usr/bin/env bash
# build.sh — build the kubelet simulator once per source version and print its path.
#
# The binary is cached outside the work tree, keyed by a hash of the simulator's sources:
#   ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/kubeletsim-<hash>
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/kubeletsim" && pwd)"
bin_dir="${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin"
hash="$(cd "$src" && cat go.mod $(ls *.go | sort) | sha256sum | cut -c1-16)"
out="$bin_dir/kubeletsim-$hash"
if [[ ! -x "$out" ]]; then
    mkdir -p "$bin_dir"
    (cd "$src" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -o "$out.tmp" .)
    mv "$out.tmp" "$out"
fi
printf '%s\n' "$out"
