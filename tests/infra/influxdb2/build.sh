#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build.sh — build InfluxDB 1.8.10's influxd (it serves the v2 write API, /api/v2/write, that
# Debian's 1.6 lacks) from its Go module through the Go module proxy, cached as
# ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/influxd-1.8.10. Prints the binary's path.
#
#   build.sh            build unless cached
#   build.sh --force    rebuild
set -euo pipefail
VERSION=v1.8.10
CACHE="${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}"
BIN="$CACHE/bin/influxd-${VERSION#v}"
if [[ -x "$BIN" && "${1:-}" != --force ]]; then
    printf '%s\n' "$BIN"
    exit 0
fi
command -v go >/dev/null || { echo "build.sh: go not found" >&2; exit 1; }
mkdir -p "$CACHE/bin"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# go install pkg@version builds in module mode with the module's own go.mod and go.sum.
GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/influxdata/influxdb/cmd/influxd@$VERSION" >&2
mv "$tmp/influxd" "$BIN"
printf '%s\n' "$BIN"
