#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build.sh - build Telegraf's cmd/telegraf at the version pinned in go.mod, with only the
# plugins the side-by-side benchmark uses (bench/telegraf.py), into
# ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/telegraf-VERSION and print the path.
#
# Telegraf selects its plugins at build time: every plugins/<kind>/all/<name>.go carries
# "//go:build !custom || <kind> || <kind>.<name>", so with the "custom" tag only the plugins
# named in the tags are linked in (docs/CUSTOMIZATION.md of Telegraf). We link inputs.kubernetes,
# outputs.file, outputs.discard, outputs.influxdb and the influx serializer that outputs.file
# needs for data_format = "influx"; nothing else.
#
# go.sum holds the hashes of exactly the modules this build needs (made with
# `go get -tags TAGS github.com/influxdata/telegraf/cmd/telegraf@VERSION`), so the build runs
# -mod=readonly. One build at a time per cache (flock); skipped when the binary is there.
# Needs Go and the Go module proxy (or a warm module cache); the first build takes minutes.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}"
TAGS="custom,inputs.kubernetes,outputs.file,outputs.discard,outputs.influxdb,serializers.influx"
ver="$(awk '$1 == "require" && $2 == "github.com/influxdata/telegraf" {print $3}' "$DIR/go.mod")"
[[ -n "$ver" ]] || { echo "build.sh: no telegraf requirement in $DIR/go.mod" >&2; exit 1; }
out="$CACHE/bin/telegraf-$ver"
mkdir -p "$CACHE/bin"
exec 9>"$CACHE/bin/.telegraf-build.lock"
flock 9
if [[ ! -x "$out" ]]; then
    command -v go >/dev/null || { echo "build.sh: go is not installed" >&2; exit 1; }
    tmp="$out.tmp.$$"
    trap 'rm -f "'"$tmp"'"' EXIT
    t0=$SECONDS
    echo "build.sh: building telegraf $ver (tags $TAGS) ..." >&2
    (cd "$DIR" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" nice -n 10 \
        go build -trimpath -tags "$TAGS" \
        -ldflags "-s -w -X github.com/influxdata/telegraf/internal.Version=${ver#v}" \
        -o "$tmp" github.com/influxdata/telegraf/cmd/telegraf) >&2
    mv -f "$tmp" "$out"
    echo "build.sh: telegraf $ver built in $((SECONDS - t0)) s -> $out" >&2
fi
echo "$out"
