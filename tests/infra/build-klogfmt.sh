#!/usr/bin/env bash
# build-klogfmt.sh - build tests/infra/klogfmt (log records written by klog and by
# component-base's JSON logger, which test_log_format.py compares with kubepulse's) into the
# cache and print the binary's path.
#
#   build-klogfmt.sh            -> ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/klogfmt-HASH
#
# HASH covers the sources, go.mod and go.sum, so an edit rebuilds and an unchanged tree is a
# no-op. Needs Go and the Go module proxy (or a warm module cache).
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/klogfmt" && pwd)"
CACHE="${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}"
hash="$(cd "$SRC" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)"
out="$CACHE/bin/klogfmt-$hash"
if [[ ! -x "$out" ]]; then
    command -v go >/dev/null || { echo "build-klogfmt.sh: go is not installed" >&2; exit 1; }
    mkdir -p "$CACHE/bin"
    tmp="$out.tmp.$$"
    (cd "$SRC" && CGO_ENABLED=0 go build -trimpath -o "$tmp" .) >&2
    mv -f "$tmp" "$out"
fi
echo "$out"
