#!/usr/bin/env bash
# build-goelector.sh - build tests/infra/goelector (client-go's own leader election, the
# interop partner of kp-elector-example) into the cache and print the binary's path.
#
#   build-goelector.sh            -> ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/goelector-HASH
#
# HASH covers the sources, go.mod and go.sum, so an edit rebuilds and an unchanged tree is a
# no-op. Needs Go and the Go module proxy (or a warm module cache).
set -euo pipefail
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/goelector" && pwd)"
CACHE="${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}"
hash="$(cd "$SRC" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)"
out="$CACHE/bin/goelector-$hash"
if [[ ! -x "$out" ]]; then
    command -v go >/dev/null || { echo "build-goelector.sh: go is not installed" >&2; exit 1; }
    mkdir -p "$CACHE/bin"
    tmp="$out.tmp.$$"
    (cd "$SRC" && CGO_ENABLED=0 go build -trimpath -o "$tmp" .) >&2
    mv -f "$tmp" "$out"
fi
echo "$out"
