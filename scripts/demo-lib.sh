# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# demo-lib.sh — what scripts/demo.sh (real nodes) and scripts/demo-simulated.sh share: their
# step and info lines, die, kubectl on the demo's control plane, InfluxDB queries printed as
# small tables, waiting for a condition, and the resolution in whole seconds.
#
# Sourced after tests/infra/lib.sh (kp_now_ms) and after the script has set RESOLUTION; the
# functions read KP_KUBECTL, KP_KUBECONFIG and KP_INFLUX_URL (tests/infra/up.sh's env) when
# they are called.

step() { printf '\n\033[1m==> [%s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
    printf '\n\033[1;31m%s: error: %s\033[0m\n' "$(basename "$0")" "$*" >&2
    exit 1
}

kubectl_() { "$KP_KUBECTL" --kubeconfig "$KP_KUBECONFIG" "$@"; }

influx() { # QUERY -> InfluxDB's JSON
    curl -sfG --max-time 10 "$KP_INFLUX_URL/query" --data-urlencode db=k8s \
        --data-urlencode "q=$1"
}
# Print an InfluxQL result as a small table: one line per row, tags first.
influx_table() { # TITLE QUERY [first column: 1 to show the time]
    local title="$1" q="$2" first="${3:-1}" out
    out="$(influx "$q")" || die "InfluxDB query failed: $q"
    if jq -e '.results[0].error' <<<"$out" >/dev/null; then
        die "InfluxDB: $(jq -r '.results[0].error' <<<"$out") ($q)"
    fi
    info "$title"
    info "  > $q"
    jq -r --argjson first "$first" '.results[0].series[]? | . as $s | .values[] |
           [($s.tags // {} | to_entries[] | "\(.key)=\(.value)"),
            (. as $v | range($first; $v | length) | "\($s.columns[.])=\($v[.])")] | join("  ")' \
        <<<"$out" | sed 's/^/        /'
}

wait_until() { # TIMEOUT_S WHAT COMMAND...
    local timeout="$1" what="$2" t0
    shift 2
    t0=$(kp_now_ms)
    until "$@"; do
        (($(kp_now_ms) - t0 < timeout * 1000)) || die "timed out after ${timeout}s waiting for $what"
        sleep 0.2
    done
}

# With --once (CI: the script has set once=true), the demo ends here.
stop_if_once() {
    [[ "$once" == true ]] || return 0
    step "--once: done"
    exit 0
}

# --metric-resolution ($RESOLUTION, e.g. 15s) in whole seconds.
resolution_s() { awk -v r="$RESOLUTION" 'BEGIN { sub(/s$/, "", r); print int(r + 0.5) }'; }
