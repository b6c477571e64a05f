# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# lib.sh — shared helpers for the tests/infra scripts: state-dir checks, free loopback
# ports, the STATE_DIR/env file, and starting/stopping one server by pid.
#
# Sourced, never run. Every server lives in STATE_DIR as four files:
#   NAME.args  its argv, NUL-separated, written once so a restart uses the very same flags
#   NAME.pid   the pid of the running process (absent when stopped)
#   NAME.log   stdout+stderr, appended across restarts
#   env        KP_<NAME>_PID is kept in step with NAME.pid
# A pid is only ever signalled after checking that /proc/PID/cmdline mentions STATE_DIR, so a
# recycled pid of some unrelated process is never killed.

KP_INFRA_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KP_K8S_MODULE_DIR="$KP_INFRA_SCRIPTS/k8s"
KP_CACHE="${KUBEPULSE_CACHE:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache/kubepulse}"
KP_BIN_DIR="$KP_CACHE/bin"

kp_now_ms() { date +%s%3N; }
kp_secs_since() { # START_MS -> "1.234"
    local d=$(($(kp_now_ms) - $1))
    printf '%d.%03d\n' $((d / 1000)) $((d % 1000))
}

kp_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
kp_die() {
    kp_log "error: $*"
    exit 1
}
# Wait for every background job PID; if any failed, die with MESSAGE.
kp_wait_all() { # MESSAGE PID...
    local message="$1" failed=0 job
    shift
    for job in "$@"; do
        wait "$job" || failed=1
    done
    ((failed == 0)) || kp_die "$message"
}

# The Kubernetes version pinned by tests/infra/k8s/go.mod, e.g. v1.32.13.
kp_k8s_version() {
    awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3; exit }' \
        "$KP_K8S_MODULE_DIR/go.mod"
}

kp_bin_path() { # NAME -> cached binary path for the pinned version
    printf '%s/%s-%s\n' "$KP_BIN_DIR" "$1" "$(kp_k8s_version)"
}

# Build the Go main package in SRC_DIR (one of ours: the kubelet simulator, client-go's
# elector, klogfmt) into the cache once per source version and print the binary's path:
# $KP_BIN_DIR/NAME-HASH, HASH covering go.mod, go.sum (when there is one) and the .go files,
# so an edit rebuilds and an unchanged tree is a no-op. Needs Go and the Go module proxy (or
# a warm module cache). The build's own output goes to stderr; stdout carries only the path.
kp_go_build() { # NAME SRC_DIR -> path
    local name="$1" src="$2" hash out tmp
    hash="$(cd "$src" && cat go.mod $([[ -f go.sum ]] && echo go.sum) ./*.go |
        sha256sum | cut -c1-16)"
    out="$KP_BIN_DIR/$name-$hash"
    if [[ ! -x "$out" ]]; then
        command -v go >/dev/null || kp_die "building $name: go is not installed"
        mkdir -p "$KP_BIN_DIR"
        tmp="$out.tmp.$$"
        (cd "$src" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
            go build -trimpath -o "$tmp" .) >&2
        mv -f "$tmp" "$out"
    fi
    printf '%s\n' "$out"
}

# Resolve STATE_DIR to an absolute path, creating it. Paths with blanks or quotes are refused
# because the env file is plain KEY=VALUE lines that both bash and Python read.
kp_state_dir() {
    local dir="${1:-}"
    [[ -n "$dir" ]] || kp_die "usage: $(basename "$0") ... STATE_DIR"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd -P)"
    [[ "$dir" != / && "$dir" != "$(cd "${HOME:-/}" && pwd -P)" ]] ||
        kp_die "STATE_DIR must be a directory of its own, not $dir"
    [[ "$dir" =~ ^[A-Za-z0-9._/+-]+$ ]] ||
        kp_die "STATE_DIR '$dir' must contain only letters, digits and . _ / + -"
    printf '%s\n' "$dir"
}

# Print N distinct free TCP ports on 127.0.0.1, chosen below the kernel's ephemeral range:
# a port from that range could be taken as the source port of some outgoing connection
# while its server is down for a restart, and the restart would then fail to bind. All
# sockets stay bound until every port is chosen, and the ports handed out for DIR are kept in
# DIR/.ports (under a lock) so servers configured in parallel never get the same one. Each
# further ADDR (a node's 127.x address) must have the port free as well.
kp_free_ports() { # DIR N [ADDR...]
    python3 - "$@" <<'EOF'
import fcntl, os, random, socket, sys
state_dir, count = sys.argv[1], int(sys.argv[2])
addrs = ["127.0.0.1"] + sys.argv[3:]
lock = open(os.path.join(state_dir, ".ports.lock"), "w")
fcntl.flock(lock, fcntl.LOCK_EX)
used_path = os.path.join(state_dir, ".ports")
try:
    with open(used_path) as f:
        used = {int(p) for p in f.read().split()}
except (OSError, ValueError):
    used = set()
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    ephemeral_low = 32768
candidates = [p for p in range(10000, ephemeral_low) if p not in used]
random.shuffle(candidates)
socks, ports = [], []
while len(ports) < count:
    bound = []
    port = candidates.pop() if candidates else 0
    try:
        for addr in addrs:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            bound.append(s)
            s.bind((addr, port))
            port = s.getsockname()[1]
    except OSError:
        for s in bound:
            s.close()
        continue
    if port in used:
        for s in bound:
            s.close()
        continue
    socks += bound
    ports.append(port)
with open(used_path, "a") as f:
    f.write("".join(f"{p}\n" for p in ports))
print(" ".join(map(str, ports)))
for s in socks:
    s.close()
EOF
}

# NAME -> env key fragment: influx-auth -> INFLUX_AUTH
kp_env_name() {
    local n="${1^^}"
    printf '%s\n' "${n//-/_}"
}

# Set KEY=VALUE in STATE_DIR/env (replacing an old value), atomically and under a lock so
# concurrent restarts from parallel tests do not lose each other's updates.
kp_env_set() {
    local dir="$1" key="$2" value="$3"
    [[ "$value" != *$'\n'* ]] || kp_die "env value for $key contains a newline"
    (
        flock 9
        local tmp="$dir/.env.tmp.$$"
        if [[ -f "$dir/env" ]]; then
            grep -v "^${key}=" "$dir/env" >"$tmp" || true
        else
            : >"$tmp"
        fi
        printf '%s=%s\n' "$key" "$value" >>"$tmp"
        mv -f "$tmp" "$dir/env"
    ) 9>"$dir/.env.lock"
}

kp_env_get() { # DIR KEY -> value (empty when unset)
    [[ -f "$1/env" ]] || return 0
    awk -v k="$2" 'index($0, k "=") == 1 { v = substr($0, length(k) + 2) } END { print v }' \
        "$1/env"
}

# True when PID is a live (non-zombie) process whose command line mentions DIR.
kp_pid_is_ours() {
    local pid="$1" dir="$2" stat state
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    state="${stat##*) }"
    state="${state%% *}"
    [[ "$state" != Z && "$state" != X ]] || return 1
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$dir"
}

kp_server_pid() { # DIR NAME -> pid of the running server, or fail
    local pid
    pid="$(cat "$1/$2.pid" 2>/dev/null)" || return 1
    kp_pid_is_ours "$pid" "$1" || return 1
    printf '%s\n' "$pid"
}

# Save argv for server NAME (used by kp_spawn now and on every restart).
kp_save_args() {
    local dir="$1" name="$2"
    shift 2
    printf '%s\0' "$@" >"$dir/$name.args"
}

# Start server NAME from its saved argv, in its own session so a Ctrl-C aimed at the caller
# does not reach it; it is stopped only through kp_stop. Output goes to NAME.log.
kp_spawn() {
    local dir="$1" name="$2" pid
    local -a argv
    [[ -f "$dir/$name.args" ]] || kp_die "$name: no saved arguments in $dir/$name.args"
    if pid="$(kp_server_pid "$dir" "$name")"; then
        kp_die "$name is already running (pid $pid)"
    fi
    mapfile -d '' -t argv <"$dir/$name.args"
    printf '\n=== %s start %s\n' "$(date -Is)" "$name" >>"$dir/$name.log"
    # Without job control setsid is not a process-group leader here, so it calls setsid(2)
    # and execs in place: $! is the server's own pid.
    setsid "${argv[@]}" </dev/null >>"$dir/$name.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$dir/$name.pid"
    kp_env_set "$dir" "KP_$(kp_env_name "$name")_PID" "$pid"
    kp_log "$name started, pid $pid, log $dir/$name.log"
}

# Stop server NAME by pid: SIGNAL (default TERM), wait up to TIMEOUT seconds, then SIGKILL.
# A server that is not running is not an error.
kp_stop() {
    local dir="$1" name="$2" sig="${3:-TERM}" timeout="${4:-20}" pid i
    if ! pid="$(kp_server_pid "$dir" "$name")"; then
        rm -f "$dir/$name.pid"
        [[ ! -f "$dir/env" ]] || kp_env_set "$dir" "KP_$(kp_env_name "$name")_PID" ""
        return 0
    fi
    kill "-$sig" "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true # a paused server must wake to handle the signal
    for ((i = 0; i < timeout * 10; i++)); do
        kp_pid_is_ours "$pid" "$dir" || break
        sleep 0.1
    done
    if kp_pid_is_ours "$pid" "$dir"; then
        kp_log "$name (pid $pid) still running after ${timeout}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kp_pid_is_ours "$pid" "$dir" || break
            sleep 0.1
        done
        ! kp_pid_is_ours "$pid" "$dir" || kp_die "$name (pid $pid) survived SIGKILL"
    fi
    rm -f "$dir/$name.pid"
    kp_env_set "$dir" "KP_$(kp_env_name "$name")_PID" ""
    kp_log "$name stopped (pid $pid, SIG$sig)"
}

# Stop every server with a NAME.pid in DIR: the apiserver first so it never serves without
# its store, etcd last.
kp_stop_all() {
    local dir="$1" pidfile name
    kp_stop "$dir" apiserver
    for pidfile in "$dir"/*.pid; do
        [[ -e "$pidfile" ]] || continue
        name="$(basename "$pidfile" .pid)"
        [[ "$name" == etcd ]] || kp_stop "$dir" "$name"
    done
    kp_stop "$dir" etcd
}

# Poll COMMAND... every 0.2 s until it succeeds. Fails if server NAME dies meanwhile (showing
# the end of its log) or after TIMEOUT seconds.
kp_wait_ready() {
    local dir="$1" name="$2" timeout="$3"
    shift 3
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        # Gone on two looks 0.2 s apart: one failed read of /proc (a server's exec chain,
        # a busy machine) is not an exit.
        if ! kp_server_pid "$dir" "$name" >/dev/null && ! { sleep 0.2 && kp_server_pid "$dir" "$name" >/dev/null; }; then
            tail -n 30 "$dir/$name.log" >&2 || true
            kp_die "$name exited before becoming ready (log: $dir/$name.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$dir/$name.log" >&2 || true
            kp_die "$name not ready after ${timeout}s (log: $dir/$name.log)"
        fi
        sleep 0.2
    done
}

# Signal a running server without waiting (chaos tests: STOP/CONT to freeze it, KILL).
kp_signal() {
    local dir="$1" name="$2" sig="$3" pid
    pid="$(kp_server_pid "$dir" "$name")" || kp_die "$name is not running"
    kill "-$sig" "$pid"
    kp_log "$name (pid $pid) sent SIG$sig"
}

# Entry point shared by etcd.sh, apiserver.sh and influx.sh. The calling script defines
#   srv_configure DIR   first start only: pick ports, write config, kp_save_args, env keys
#   srv_ready DIR       succeeds once the server answers its health check
#   srv_after_ready DIR optional, run after every successful start
# and passes its server NAME and how many seconds a start may take.
kp_server_main() {
    local name="$1" timeout="$2" action="${3:-}" dir
    case "$action" in
    start | stop | restart | kill | pause | resume | status) ;;
    *) kp_die "usage: $(basename "$0") start|stop|restart|kill|pause|resume|status STATE_DIR" ;;
    esac
    dir="$(kp_state_dir "${4:-}")"
    case "$action" in
    start) kp_server_start "$dir" "$name" "$timeout" ;;
    stop) kp_stop "$dir" "$name" ;;
    restart)
        kp_stop "$dir" "$name"
        kp_server_start "$dir" "$name" "$timeout"
        ;;
    kill) kp_stop "$dir" "$name" KILL 5 ;;
    pause) kp_signal "$dir" "$name" STOP ;;
    resume) kp_signal "$dir" "$name" CONT ;;
    status)
        if kp_server_pid "$dir" "$name"; then return 0; fi
        echo stopped
        return 1
        ;;
    esac
}

kp_server_start() {
    local dir="$1" name="$2" timeout="$3" t0
    t0="$(kp_now_ms)"
    [[ -f "$dir/$name.args" ]] || srv_configure "$dir"
    kp_spawn "$dir" "$name"
    # If it never becomes ready, do not leave a half-started server behind.
    trap 'kp_stop "'"$dir"'" "'"$name"'" KILL 5' EXIT
    kp_wait_ready "$dir" "$name" "$timeout" srv_ready "$dir"
    if declare -F srv_after_ready >/dev/null; then srv_after_ready "$dir"; fi
    trap - EXIT
    kp_log "$name ready after $(kp_secs_since "$t0")s"
}
