#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh N P [--influx] [run.py options] - the scale benchmark (see bench/run.py and
# docs/benchmarks.md). Builds kubepulse into build-bench/ when missing, as the image builds it:
# Release, linked with the static libcurl of scripts/build-curl.sh (KP_CURL_ROOT).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CURL_ROOT=${KP_CURL_ROOT:-/opt/kubepulse/curl}
if [[ ! -x "$ROOT/build-bench/src/kubepulse" ]]; then
    "$ROOT/scripts/build-curl.sh" "$CURL_ROOT"
    cmake -S "$ROOT" -B "$ROOT/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKP_TESTS=OFF \
        -DKP_CURL_ROOT="$CURL_ROOT"
    cmake --build "$ROOT/build-bench"
fi
exec python3 "$ROOT/bench/run.py" "$@"
