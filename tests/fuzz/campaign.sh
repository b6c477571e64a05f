#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# campaign.sh BUILD_DIR [RUNS] [TARGET...] - the long fuzz campaign (docs/hardening.md):
# runs each libFuzzer target of a -DKP_FUZZ=ON build for RUNS executions (default 10
# million), one after the other on one core, from a copy of its seed corpus that grows in
# WORK_DIR (default /tmp/kubepulse-fuzz). Prints one line per target: executions, seconds,
# coverage, corpus size, and whether it found a crash (the artifact stays in WORK_DIR/TARGET).
# Exits 1 when any target crashed. CI runs the short form through ctest instead.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="$(cd "${1:?usage: campaign.sh BUILD_DIR [RUNS] [TARGET...]}" && pwd)"
RUNS="${2:-10000000}"
shift $(($# > 1 ? 2 : 1))
WORK="${WORK_DIR:-/tmp/kubepulse-fuzz}"
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
        targets+=("$(basename "$f" .c)")
    done
fi

# Inputs up to 64 KiB: a Summary of a few pods, a kubeconfig, a watch stream of a few events.
MAX_LEN="${MAX_LEN:-65536}"
# "nice" alone does not demote a process against other sessions when the kernel groups
# tasks by session (sched_autogroup); lower this session's group too, so the campaign
# only gets the CPU that tests and benchmarks leave.
[[ -w /proc/self/autogroup ]] && { echo 19 >/proc/self/autogroup; } 2>/dev/null || true
failed=0
for t in "${targets[@]}"; do
    bin="$BUILD/tests/fuzz/$t"
    [[ -x "$bin" ]] || { echo "$t: $bin not built" >&2; failed=1; continue; }
    seeds="$ROOT/tests/fuzz/corpus/${t#fuzz_}"
    mkdir -p "$WORK/$t/corpus"
    cp -n "$seeds"/* "$WORK/$t/corpus/" 2>/dev/null || true
    start=$SECONDS
    rc=0
    (cd "$WORK/$t" && "$bin" -runs="$RUNS" -max_len="$MAX_LEN" -print_final_stats=1 \
        -artifact_prefix="$WORK/$t/" corpus) >"$WORK/$t/log" 2>&1 || rc=$?
    secs=$((SECONDS - start))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$WORK/$t/log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -oE '#[0-9]+[[:space:]]+DONE[[:space:]]+cov: [0-9]+ ft: [0-9]+' "$WORK/$t/log" |
        grep -oE 'cov: [0-9]+ ft: [0-9]+' || echo "cov: ?")
    corpus=$(find "$WORK/$t/corpus" -type f | wc -l)
    status=ok
    if [[ $rc -ne 0 ]]; then
        status="CRASH (rc=$rc, see $WORK/$t/log)"
        failed=1
    fi
    printf '%s: %s executions in %s s, %s, corpus %s files: %s\n' \
        "$t" "$execs" "$secs" "$cov" "$corpus" "$status"
done
exit "$failed"
