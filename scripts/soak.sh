#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# soak.sh - the on-demand soak run (docs/hardening.md): kubepulse replicas against a real
# control plane, InfluxDB and the kubelet simulator for an hour, with a leader SIGKILL every
# 5 minutes, API server crashes, an InfluxDB outage and kubelet faults; RSS and open fds of
# every replica sampled every 10 s into a CSV; a summary at the end (exit 1 on a crash, a
# sanitizer report or a missing interval outside the fault windows).
#
#   scripts/soak.sh [--build DIR] [--state DIR] [--keep] [soak.py options...]
#   scripts/soak.sh --duration 600 --nodes 100 --kill-every 120      # a short one
#
# --build: the build dir with src/kubepulse (default build; an ASan build makes it a
# sanitizer run too). --state: where the servers live (default /tmp/kubepulse-soak; a fresh
# cluster is started there by tests/infra/up.sh and stopped at the end unless --keep).
# Everything else goes to tests/chaos/soak.py (--duration 3600 --nodes 500 --pods 10
# --replicas 3 --resolution 15 --durations 15,10,2 --kill-every 300 --influx-outage 30
# --sample 10 --csv FILE). The CSV defaults to STATE/soak-TIME.csv.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
state=/tmp/kubepulse-soak
keep=0
args=()
while (($#)); do
    case $1 in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --state) state=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) args+=("$1"); shift ;;
    esac
done
[[ -x $build/src/kubepulse ]] || { echo "soak.sh: $build/src/kubepulse not built" >&2; exit 2; }
have_csv=0
for a in "${args[@]}"; do [[ $a == --csv* ]] && have_csv=1; done
((have_csv)) || args+=(--csv "$state/soak-$(date +%Y%m%d-%H%M%S).csv")

"$root/tests/sim/build.sh" >/dev/null
"$root/tests/infra/up.sh" "$state" >/dev/null
if ((!keep)); then
    trap '"$root/tests/infra/down.sh" "$state" >/dev/null 2>&1 || true' EXIT
fi
ulimit -n 65536 2>/dev/null || true
KP_BUILD_DIR=$build python3 "$root/tests/chaos/soak.py" --env "$state/env" "${args[@]}"
