#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh N P [--influx] [run.py options] - the scale benchmark (see bench/run.py and
# docs/benchmarks.md). Builds kubepulse into build-bench/ when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ! -x "$ROOT/build-bench/src/kubepulse" ]]; then
    cmake -S "$ROOT" -B "$ROOT/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKP_TESTS=OFF
    cmake --build "$ROOT/build-bench"
fi
exec python3 "$ROOT/bench/run.py" "$@"
