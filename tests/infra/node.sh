#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# node.sh — real Kubernetes nodes for the tests: kube-controller-manager, kube-scheduler and N
# kubelets (default 3), each with its own containerd, on loopback, everything under STATE_DIR.
#
#   node.sh check                         one line: "ok ..." (exit 0) or why this machine
#                                         cannot run containers (exit 1)
#   node.sh up STATE_DIR [--nodes N] [--serving ca|self-signed] [--first-ip 127.0.0.2]
#                                         start on a running up.sh cluster; wait until every
#                                         node is Ready and schedulable
#   node.sh down STATE_DIR                stop kubelets, pods, shims, containerd (by pid and by
#                                         cgroup membership), the controllers; remove cgroups
#   node.sh serving STATE_DIR I ca|self-signed
#                                         restart node I's kubelet with a serving certificate
#                                         from the cluster CA or its own self-signed one
#   node.sh restart-kubelet|freeze|thaw STATE_DIR I
#   node.sh import STATE_DIR IMAGE.tar    import an image (docker save / OCI archive) into
#                                         every node's containerd (namespace k8s.io)
#
# Node I (1-based) is named after its address FIRST_IP+I-1 (127.0.0.2, .3, .4): a kubelet
# given an IP as --hostname-override registers it as InternalIP and Hostname. Each node has:
#   - a mount namespace of its own, held by a `sleep` (node-I-ns), shared by its containerd,
#     kubelet, shims and pods. In it, /run, /var/lib and /var/log are overlays whose upper
#     layers live on a tmpfs private to the namespace (the kubelet's and containerd's
#     hard-coded paths: device-plugins, /var/log/containers, /run/containerd/s), the /proc/sys
#     files the kubelet wants to write are read-only files holding the values it wants, and
#     /etc/resolv.conf says nameserver 127.0.0.1. Nothing is mounted in the host's namespace:
#     when the node's last process exits, every mount of the node is gone.
#   - cgroups /kubepulse-HASH/node-I/{runtime,kubelet,kubepods} in every hierarchy (HASH of
#     STATE_DIR): runtime holds the namespace holder, containerd and the shims, kubelet the
#     kubelet, kubepods the pods. Freezing node-I freezes the whole node.
#   - containerd with its own config, root, state, sockets and runc root under
#     STATE_DIR/node-I; the CRI plugin never lowers OOM scores (restrict_oom_score_adj: root
#     here lacks CAP_SYS_RESOURCE) and uses the CNI plugin kp-podnet: a pod's own network
#     namespace gets an eth0 leading nowhere. hostNetwork pods share the machine's namespace.
#   - images kubepulse.test/pause:1 (the sandbox) and kubepulse.test/workload:1 (busybox and
#     `burn --cpu M --mem MIB`), built here from tests/infra/node/*.c and imported.
#   - a kubelet as kubeadm runs it: webhook authentication (anonymous off) and authorization,
#     client CA = the cluster CA, serving certificate from the cluster CA (or self-signed),
#     port and healthz port free ports on its own address, no iptables chains, image GC off.
# The machine's sysctls, iptables, default containerd/kubelet paths and cgroups outside
# /kubepulse-HASH are never changed. Keys written to STATE_DIR/env: see tests/infra/README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"

NODE_SRC="$HERE/node"
PAUSE_IMAGE=kubepulse.test/pause:1
WORKLOAD_IMAGE=kubepulse.test/workload:1
# The values setupKernelTunables wants; served read-only inside the node's mount namespace.
KERNEL_TUNABLES=(vm/overcommit_memory:1 vm/panic_on_oom:0 kernel/panic:10 kernel/panic_on_oops:1
    kernel/keys/root_maxkeys:1000000 kernel/keys/root_maxbytes:25000000)

# ---------------------------------------------------------------------------------------------
# cgroups: every hierarchy mounted (cgroup v1 with or without the unified one, or v2 alone)

cg_mounts() { findmnt -rn -t cgroup,cgroup2 -o TARGET; }

cg_top() { # DIR -> /kubepulse-HASH
    printf '/kubepulse-%s\n' "$(printf '%s' "$1" | sha256sum | cut -c1-10)"
}

cg_v2_only() { [[ "$(findmnt -rn -o FSTYPE /sys/fs/cgroup 2>/dev/null)" == cgroup2 ]]; }

# Copy a parent's cpuset.cpus or .mems to a child; a parent another node is setting up at
# this moment may still be empty, so wait for it (a few ms) rather than copy nothing.
cg_copy_cpuset() { # FROM TO
    local v i
    for i in $(seq 50); do
        v="$(tr -d '\n' <"$1")"
        [[ -n "$v" ]] && break
        sleep 0.1
    done
    [[ -n "$v" ]] || kp_die "$1 stays empty: cannot give ${2%/*} a cpuset"
    printf '%s\n' "$v" >"$2"
}

# Make PATH (/a/b/c) in every hierarchy. cpuset children start empty and must get their
# parent's cpus and mems before a task may join; on v2 the parent delegates its controllers.
cg_make() {
    local path="$1" h rel p parent c
    for h in $(cg_mounts); do
        rel=""
        for p in ${path//\// }; do
            parent="$h$rel"
            rel+="/$p"
            mkdir -p "$h$rel"
            # cpus and mems each on their own: nodes set up in parallel share the parents, and
            # one may find cpus copied but mems not yet (a child of it would then get empty
            # mems and every join would fail with ENOSPC)
            for c in cpus mems; do
                if [[ -f "$h$rel/cpuset.$c" && -z "$(tr -d '\n' <"$h$rel/cpuset.$c")" ]]; then
                    cg_copy_cpuset "$parent/cpuset.$c" "$h$rel/cpuset.$c"
                fi
            done
            if [[ -f "$parent/cgroup.subtree_control" && "$parent" != "$h" ]] && cg_v2_only; then
                for c in $(cat "$parent/cgroup.controllers"); do
                    grep -qw "$c" "$parent/cgroup.subtree_control" ||
                        echo "+$c" >"$parent/cgroup.subtree_control" 2>/dev/null || true
                done
            fi
        done
    done
}

cg_join() { # PATH PID
    local h
    for h in $(cg_mounts); do
        echo "$2" >"$h$1/cgroup.procs"
    done
}

cg_pids() { # PATH -> every pid in the subtree, any hierarchy
    local h
    for h in $(cg_mounts); do
        [[ -d "$h$1" ]] || continue
        find "$h$1" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -un
}

cg_has_pid() { # PATH PID: is PID (still) in the subtree PATH?
    grep -qE ":$1(/|\$)" "/proc/$2/cgroup" 2>/dev/null
}

cg_remove() { # PATH: rmdir the subtree in every hierarchy, deepest first
    local h i
    for h in $(cg_mounts); do
        [[ -d "$h$1" ]] || continue
        for ((i = 0; i < 50; i++)); do
            find "$h$1" -depth -type d -exec rmdir {} + 2>/dev/null || true
            [[ -d "$h$1" ]] || break
            sleep 0.1
        done
        [[ ! -d "$h$1" ]] || kp_log "warning: could not remove cgroup $h$1"
    done
}

# ---------------------------------------------------------------------------------------------
# check: can this machine run the nodes? One line either way.

node_check() {
    local why="" h tmp
    why="$(
        [[ "$(id -u)" == 0 ]] || { echo "not root (containerd, mounts and cgroups need root)"; exit; }
        for c in containerd containerd-shim-runc-v2 runc ctr unshare nsenter ip jq gcc findmnt; do
            command -v "$c" >/dev/null || { echo "no $c (run tests/infra/install-deps.sh)"; exit; }
        done
        [[ -x /usr/lib/cni/loopback ]] ||
            { echo "no CNI loopback plugin (containernetworking-plugins)"; exit; }
        [[ -x /bin/busybox ]] || { echo "no /bin/busybox (busybox-static)"; exit; }
        tmp="$(mktemp)"
        echo 'int main(void) { return 0; }' | gcc -static -x c -o "$tmp" - 2>/dev/null ||
            { rm -f "$tmp"; echo "gcc cannot link static programs (libc6-dev)"; exit; }
        rm -f "$tmp"
        grep -qw overlay /proc/filesystems || { echo "the kernel has no overlay filesystem"; exit; }
        [[ -n "$(cg_mounts)" ]] || { echo "no cgroup filesystem mounted"; exit; }
        if cg_v2_only; then
            for c in cpu memory pids; do
                grep -qw "$c" /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
                    { echo "cgroup v2 root does not delegate $c (not changing it)"; exit; }
            done
        else
            for c in cpu cpuacct memory pids cpuset freezer; do
                [[ -n "$(findmnt -rn -t cgroup -O "$c" -o TARGET)" ]] ||
                    { echo "no cgroup v1 $c hierarchy"; exit; }
            done
        fi
        for h in $(cg_mounts); do
            tmp="$h/kubepulse-probe-$$"
            mkdir "$tmp" 2>/dev/null && rmdir "$tmp" ||
                { echo "cannot create cgroups in $h (read-only cgroup filesystem?)"; exit; }
        done
        tmp="$(mktemp -d)"
        unshare --mount --propagation private sh -c \
            "mount -t tmpfs kp-probe '$tmp' && mkdir '$tmp/u' '$tmp/w' '$tmp/m' &&
             mount -t overlay kp-probe -o 'lowerdir=/etc,upperdir=$tmp/u,workdir=$tmp/w' '$tmp/m'" \
            2>/dev/null || echo "cannot make a private mount namespace with tmpfs and overlay"
        rmdir "$tmp"
    )"
    if [[ -n "$why" ]]; then
        echo "node.sh: this machine cannot run the test nodes: $why"
        return 1
    fi
    echo "ok: this machine can run the test nodes ($(containerd --version | awk '{print $1, $3}'), runc $(runc --version | awk 'NR == 1 {print $3}'), cgroup $(cg_v2_only && echo v2 || echo v1))"
}

# ---------------------------------------------------------------------------------------------
# images: built once per source hash into the cache, imported into every node

node_images() { # -> prints the two archive paths
    local hash dir bb
    bb=/bin/busybox
    hash="$(cat "$NODE_SRC"/pause.c "$NODE_SRC"/burn.c "$NODE_SRC"/mkimage.py "$bb" |
        sha256sum | cut -c1-16)"
    dir="$KP_CACHE/images/$hash"
    if [[ ! -f "$dir/workload.tar" ]]; then
        mkdir -p "$KP_CACHE/images"
        local tmp
        tmp="$(mktemp -d "$KP_CACHE/images/.build.XXXXXX")"
        local p
        for p in pause burn; do
            gcc -std=c17 -O2 -Wall -Wextra -Werror -static -s -o "$tmp/$p" "$NODE_SRC/$p.c"
        done
        python3 "$NODE_SRC/mkimage.py" "$tmp/pause.tar" "$PAUSE_IMAGE" \
            --file "$tmp/pause:/pause" --entrypoint '["/pause"]' --user 65535
        local -a links=()
        for p in sh ls cat sleep echo env id ps kill wget nc ip hostname date dd head tail grep \
            mount top free df uname readlink sed tr wc awk stat mkdir rm touch true false test; do
            links+=(--link "/bin/$p:busybox")
        done
        python3 "$NODE_SRC/mkimage.py" "$tmp/workload.tar" "$WORKLOAD_IMAGE" \
            --file "$bb:/bin/busybox" --file "$tmp/burn:/bin/burn" "${links[@]}" \
            --entrypoint '["/bin/burn"]'
        rm -f "$tmp/pause" "$tmp/burn"
        rm -rf "$dir"
        mv "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp" # a parallel build won
    fi
    printf '%s\n%s\n' "$dir/pause.tar" "$dir/workload.tar"
}

ctr_node() { # DIR I ARGS...
    local sock
    sock="$(kp_env_get "$1" "KP_NODE_$2_CONTAINERD")"
    ctr --address "$sock" -n k8s.io "${@:3}"
}

# ---------------------------------------------------------------------------------------------
# per-node configuration

node_ip() { # FIRST_IP I -> address
    local a b c d
    IFS=. read -r a b c d <<<"$1"
    printf '%s.%s.%s.%s\n' "$a" "$b" "$c" $((d + $2 - 1))
}

write_kubeconfig() { # PATH SERVER CA CERT KEY USER
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubepulse-test
  cluster: {server: "$2", certificate-authority: "$3"}
users:
- name: "$6"
  user: {client-certificate: "$4", client-key: "$5"}
contexts:
- name: default
  context: {cluster: kubepulse-test, user: "$6"}
current-context: default
EOF
}

node_write_containerd_config() { # DIR I IP
    local nd="$1/node-$2" ip="$3"
    cat >"$nd/containerd.toml" <<EOF
# Generated by tests/infra/node.sh: node $2 ($ip). Nothing at containerd's default paths.
version = 2
root = "$nd/containerd/root"
state = "$nd/containerd/state"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$nd/containerd.sock"
[ttrpc]
  address = "$nd/containerd.sock.ttrpc"
[debug]
  address = ""
  level = "info"
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$nd/containerd/opt"
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "$nd/containerd/runtime-v1"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  stream_server_address = "$ip"
  stream_server_port = "0"
  enable_tls_streaming = false
  disable_tcp_service = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$nd/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$nd/cni/bin"
    conf_dir = "$nd/cni/net.d"
    max_conf_num = 1
EOF
    mkdir -p "$nd/cni/bin" "$nd/cni/net.d"
    ln -sfn /usr/lib/cni/loopback "$nd/cni/bin/loopback"
    ln -sfn "$NODE_SRC/kp-podnet" "$nd/cni/bin/kp-podnet"
    cat >"$nd/cni/net.d/10-kp-podnet.conflist" <<'EOF'
{"cniVersion": "0.4.0", "name": "kp-pods", "plugins": [{"type": "kp-podnet"}]}
EOF
}

node_write_kubelet_config() { # DIR I IP PORT HEALTHZ_PORT SERVING
    local dir="$1" nd="$1/node-$2" ip="$3" cg tls=""
    cg="$(cg_top "$dir")/node-$2"
    if [[ "$6" == ca ]]; then
        tls="tlsCertFile: $dir/pki/kubelet-$ip.crt
tlsPrivateKeyFile: $dir/pki/kubelet-$ip.key"
    fi
    cat >"$nd/kubelet.yaml" <<EOF
# Generated by tests/infra/node.sh: node $2 ($ip), serving certificate: $6.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $ip
port: $4
readOnlyPort: 0
healthzBindAddress: $ip
healthzPort: $5
$tls
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $dir/pki/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$nd/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: $cg
kubeletCgroups: $cg/kubelet
failCgroupV1: false
oomScoreAdj: 0
protectKernelDefaults: true
makeIPTablesUtilChains: false
resolvConf: $nd/resolv.conf
podLogsDir: $nd/pod-logs
volumePluginDir: $nd/volume-plugins
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
nodeStatusUpdateFrequency: 10s
shutdownGracePeriod: 0s
EOF
}

node_configure() { # DIR I IP SERVING
    local dir="$1" i="$2" ip="$3" nd="$1/node-$2" port hport cg bin
    bin="$(kp_bin_path kubelet)"
    cg="$(cg_top "$dir")/node-$i"
    read -r port hport <<<"$(kp_free_ports "$dir" 2 "$ip")"
    mkdir -p "$nd"/{containerd,runc,kubelet/pki,pod-logs,volume-plugins,ns}
    [[ ${#nd} -lt 80 ]] || kp_die "state dir path too long for containerd's sockets: $nd"
    echo "nameserver 127.0.0.1" >"$nd/resolv.conf"
    "$HERE/pki.sh" issue "$dir" "kubelet-$ip" "system:node:$ip" --org system:nodes \
        --san "IP:$ip" >/dev/null
    write_kubeconfig "$nd/kubelet.kubeconfig" "$(kp_env_get "$dir" KP_APISERVER)" \
        "$dir/pki/ca.crt" "$dir/pki/kubelet-$ip.crt" "$dir/pki/kubelet-$ip.key" "system:node:$ip"
    node_write_containerd_config "$dir" "$i" "$ip"
    node_write_kubelet_config "$dir" "$i" "$ip" "$port" "$hport" "$4"
    kp_save_args "$dir" "node-$i-ns" unshare --mount --propagation private -- \
        bash "$HERE/node.sh" holder "$dir" "$i"
    kp_save_args "$dir" "node-$i-containerd" bash "$HERE/node.sh" exec "$dir" "$i" runtime -- \
        containerd --config "$nd/containerd.toml"
    kp_save_args "$dir" "node-$i-kubelet" bash "$HERE/node.sh" exec "$dir" "$i" kubelet -- \
        "$bin" --config="$nd/kubelet.yaml" --kubeconfig="$nd/kubelet.kubeconfig" \
        --hostname-override="$ip" --root-dir="$nd/kubelet" --cert-dir="$nd/kubelet/pki" \
        --runtime-cgroups="$cg/runtime" --containerd="$nd/containerd.sock" --v=1
    kp_env_set "$dir" "KP_NODE_${i}_NAME" "$ip"
    kp_env_set "$dir" "KP_NODE_${i}_IP" "$ip"
    kp_env_set "$dir" "KP_NODE_${i}_DIR" "$nd"
    kp_env_set "$dir" "KP_NODE_${i}_KUBELET_PORT" "$port"
    kp_env_set "$dir" "KP_NODE_${i}_KUBELET_URL" "https://$ip:$port"
    kp_env_set "$dir" "KP_NODE_${i}_HEALTHZ_PORT" "$hport"
    kp_env_set "$dir" "KP_NODE_${i}_CONTAINERD" "$nd/containerd.sock"
    kp_env_set "$dir" "KP_NODE_${i}_CGROUP" "$cg"
    kp_env_set "$dir" "KP_NODE_${i}_SERVING" "$4"
    kp_env_set "$dir" "KP_NODE_${i}_KUBELET_CA" "$dir/pki/ca.crt"
    if cg_v2_only; then
        kp_env_set "$dir" "KP_NODE_${i}_FREEZER" "/sys/fs/cgroup$cg/cgroup.freeze"
    else
        kp_env_set "$dir" "KP_NODE_${i}_FREEZER" \
            "$(findmnt -rn -t cgroup -O freezer -o TARGET)$cg/freezer.state"
    fi
}

# ---------------------------------------------------------------------------------------------
# processes of a node: run inside its namespace and cgroup

# The namespace holder: runs in the fresh mount namespace made by `unshare` (node-I-ns.args).
node_holder() { # DIR I
    local dir="$1" i="$2" nd="$1/node-$2" ns t f v
    ns="$nd/ns"
    cg_join "$(cg_top "$dir")/node-$i/runtime" $$
    rm -f "$nd/ns.ready"
    mount -t tmpfs -o mode=0755,size=64m "kp-node-$i" "$ns"
    mkdir -p "$ns/sys"
    for t in run var/lib var/log; do
        mkdir -p "$ns/upper/$t" "$ns/work/$t"
        mount -t overlay "kp-node-$i" \
            -o "lowerdir=/$t,upperdir=$ns/upper/$t,workdir=$ns/work/$t" "/$t"
    done
    for t in "${KERNEL_TUNABLES[@]}"; do
        f="${t%%:*}"
        v="${t#*:}"
        echo "$v" >"$ns/sys/${f//\//_}"
        mount --bind "$ns/sys/${f//\//_}" "/proc/sys/$f"
        mount -o remount,bind,ro "/proc/sys/$f"
    done
    # containerd's and the kubelet's own lookups (an image pull by mistake) stay on loopback.
    # (A dangling /etc/resolv.conf symlink cannot be covered; then there is no resolver anyway.)
    if [[ -f /etc/resolv.conf ]]; then
        cp "$nd/resolv.conf" "$ns/resolv.conf"
        mount --bind "$ns/resolv.conf" /etc/resolv.conf
        mount -o remount,bind,ro /etc/resolv.conf
    fi
    echo $$ >"$nd/ns.ready"
    exec -a "kp-node-ns:$nd" sleep infinity
}

node_exec() { # DIR I CGROUP -- ARGV...
    local dir="$1" i="$2" cg="$3" holder
    shift 4
    holder="$(kp_server_pid "$dir" "node-$i-ns")" || kp_die "node $i: its namespace is gone"
    cg_join "$(cg_top "$dir")/node-$i/$cg" $$
    exec nsenter --mount="/proc/$holder/ns/mnt" -- "$@"
}

ns_ready() { [[ "$(cat "$1/node-$2/ns.ready" 2>/dev/null)" == "$(cat "$1/node-$2-ns.pid")" ]]; }
containerd_ready() { ctr_node "$1" "$2" version; }
kubelet_ready() {
    curl -fsS --max-time 2 "http://$(kp_env_get "$1" "KP_NODE_$2_IP"):$(kp_env_get "$1" \
        "KP_NODE_$2_HEALTHZ_PORT")/healthz" | grep -qx ok
}

node_spawn() { # DIR I PART TIMEOUT READY_FN
    kp_spawn "$1" "node-$2-$3"
    kp_wait_ready "$1" "node-$2-$3" "$4" "$5" "$1" "$2"
}

# In self-signed mode the kubelet writes kubelet.crt (leaf, then the CA it made) on start.
node_refresh_ca() { # DIR I
    local dir="$1" i="$2" nd="$1/node-$2" crt k
    if [[ "$(kp_env_get "$dir" "KP_NODE_${i}_SERVING")" == self-signed ]]; then
        crt="$nd/kubelet/pki/kubelet.crt"
        for ((k = 0; k < 100; k++)); do
            [[ -s "$crt" ]] && break
            sleep 0.1
        done
        awk '/BEGIN CERT/ { n++; buf = "" } { buf = buf $0 "\n" }
             /END CERT/ { last = buf } END { printf "%s", last }' "$crt" >"$nd/kubelet-ca.crt"
        kp_env_set "$dir" "KP_NODE_${i}_KUBELET_CA" "$nd/kubelet-ca.crt"
    else
        kp_env_set "$dir" "KP_NODE_${i}_KUBELET_CA" "$dir/pki/ca.crt"
    fi
    # One bundle that verifies every node's kubelet, whatever each one serves.
    for ((k = 1; k <= $(kp_env_get "$dir" KP_NODES); k++)); do
        cat "$(kp_env_get "$dir" "KP_NODE_${k}_KUBELET_CA")"
    done | awk '/BEGIN CERT/ { buf = "" } { buf = buf $0 "\n" }
               /END CERT/ { if (!seen[buf]++) printf "%s", buf }' >"$dir/kubelet-ca-bundle.crt"
    kp_env_set "$dir" KP_KUBELET_CA "$dir/kubelet-ca-bundle.crt"
}

node_start() { # DIR I
    local dir="$1" i="$2" t0 img
    t0="$(kp_now_ms)"
    cg_make "$(cg_top "$dir")/node-$i/runtime"
    cg_make "$(cg_top "$dir")/node-$i/kubelet"
    node_spawn "$dir" "$i" ns 10 ns_ready
    node_spawn "$dir" "$i" containerd 30 containerd_ready
    for img in $(kp_env_get "$dir" KP_NODE_IMAGE_ARCHIVES | tr , ' '); do
        ctr_node "$dir" "$i" images import "$img" >/dev/null
    done
    node_spawn "$dir" "$i" kubelet 60 kubelet_ready
    node_refresh_ca "$dir" "$i"
    kp_log "node $i ($(kp_env_get "$dir" "KP_NODE_${i}_NAME")) kubelet healthy after $(kp_secs_since "$t0")s"
}

# Stop node I: kubelet, then its pods, containerd, the shims and the namespace holder. Every
# process is found by pid file or by cgroup membership and checked again before a signal.
node_stop() { # DIR I
    local dir="$1" i="$2" cg pid k
    cg="$(cg_top "$dir")/node-$i"
    node_thaw "$dir" "$i" 2>/dev/null || true
    kp_stop "$dir" "node-$i-kubelet"
    node_kill_cgroup "$cg/kubepods" KILL
    kp_stop "$dir" "node-$i-containerd"
    for pid in $(cg_pids "$cg"); do
        [[ "$pid" == "$(cat "$dir/node-$i-ns.pid" 2>/dev/null)" ]] && continue
        cg_has_pid "$cg" "$pid" && kill -KILL "$pid" 2>/dev/null || true
    done
    kp_stop "$dir" "node-$i-ns"
    for ((k = 0; k < 100; k++)); do
        [[ -n "$(cg_pids "$cg")" ]] || break
        ((k % 10 != 9)) || node_kill_cgroup "$cg" KILL
        sleep 0.1
    done
    [[ -z "$(cg_pids "$cg")" ]] || kp_log "warning: node $i: processes left in $cg: $(cg_pids "$cg" | xargs)"
    cg_remove "$cg"
}

node_kill_cgroup() { # PATH SIGNAL
    local pid
    for pid in $(cg_pids "$1"); do
        if cg_has_pid "$1" "$pid"; then kill "-$2" "$pid" 2>/dev/null || true; fi
    done
}

node_freeze_file() { kp_env_get "$1" "KP_NODE_$2_FREEZER"; }

node_freeze() { # DIR I
    local f
    f="$(node_freeze_file "$1" "$2")"
    [[ -n "$f" && -e "$f" ]] || kp_die "node $2 is not running"
    local k
    if [[ "$f" == */cgroup.freeze ]]; then echo 1 >"$f"; else echo FROZEN >"$f"; fi
    # v1 passes through FREEZING until every task stopped; v2 reports it in cgroup.events.
    for ((k = 0; k < 100; k++)); do
        if [[ "$f" == */cgroup.freeze ]]; then
            grep -qx "frozen 1" "${f%/*}/cgroup.events" && break
        else
            [[ "$(cat "$f")" == FROZEN ]] && break
        fi
        sleep 0.1
    done
    kp_log "node $2 frozen"
}

node_thaw() { # DIR I
    local f
    f="$(node_freeze_file "$1" "$2")"
    [[ -n "$f" && -e "$f" ]] || return 0
    if [[ "$f" == */cgroup.freeze ]]; then echo 0 >"$f"; else echo THAWED >"$f"; fi
}

# ---------------------------------------------------------------------------------------------
# control plane: controller-manager and scheduler (no port: --secure-port=0)

control_plane_configure() { # DIR
    local dir="$1" pki="$1/pki" server
    server="$(kp_env_get "$dir" KP_APISERVER)"
    "$HERE/pki.sh" issue "$dir" controller-manager system:kube-controller-manager >/dev/null
    "$HERE/pki.sh" issue "$dir" scheduler system:kube-scheduler >/dev/null
    write_kubeconfig "$dir/controller-manager.kubeconfig" "$server" "$pki/ca.crt" \
        "$pki/controller-manager.crt" "$pki/controller-manager.key" system:kube-controller-manager
    write_kubeconfig "$dir/scheduler.kubeconfig" "$server" "$pki/ca.crt" \
        "$pki/scheduler.crt" "$pki/scheduler.key" system:kube-scheduler
    mkdir -p "$dir/flexvolume"
    # Extra flags for a test, e.g. a short --horizontal-pod-autoscaler-sync-period
    # (test_metrics_api_real_node.py); saved with the rest, so a --reuse restart keeps them.
    local cm_extra=()
    read -r -a cm_extra <<<"${KP_CONTROLLER_MANAGER_EXTRA_ARGS:-}"
    kp_save_args "$dir" controller-manager "$(kp_bin_path kube-controller-manager)" \
        --kubeconfig="$dir/controller-manager.kubeconfig" \
        --authentication-kubeconfig="$dir/controller-manager.kubeconfig" \
        --authorization-kubeconfig="$dir/controller-manager.kubeconfig" \
        --secure-port=0 --leader-elect=false --use-service-account-credentials=true \
        --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
        --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
        --flex-volume-plugin-dir="$dir/flexvolume" --profiling=false --v=1 "${cm_extra[@]}"
    kp_save_args "$dir" scheduler "$(kp_bin_path kube-scheduler)" \
        --kubeconfig="$dir/scheduler.kubeconfig" \
        --authentication-kubeconfig="$dir/scheduler.kubeconfig" \
        --authorization-kubeconfig="$dir/scheduler.kubeconfig" \
        --secure-port=0 --leader-elect=false --profiling=false --v=1
}

api_get() { # DIR PATH
    curl -fsS --max-time 5 --cacert "$1/pki/ca.crt" --cert "$1/pki/admin.crt" \
        --key "$1/pki/admin.key" "$(kp_env_get "$1" KP_APISERVER)$2"
}

# Every node registered, Ready (said by a kubelet of this start: a node of a --reuse'd cluster
# is still Ready from before for a while) and without the not-ready taint (the
# controller-manager lifts it).
nodes_ready() { # DIR SINCE(RFC 3339, UTC)
    local want
    want="$(kp_env_get "$1" KP_NODE_NAMES)"
    api_get "$1" /api/v1/nodes | jq -e --arg want "$want" --arg since "$2" '
        ($want | split(",")) as $names
        | [.items[] | select(.metadata.name as $n | $names | index($n))
           | select(any(.status.conditions[]; .type == "Ready" and .status == "True"
                        and .lastHeartbeatTime >= $since))
           | select(all((.spec.taints // [])[]; .key != "node.kubernetes.io/not-ready"))]
        | length == ($names | length)' >/dev/null
}

# ---------------------------------------------------------------------------------------------

node_count() { kp_env_get "$1" KP_NODES; }

cmd_up() {
    local dir nodes=3 serving=ca first=127.0.0.2 i t0 t ip names="" since
    dir="$(kp_state_dir "${1:-}")"
    shift
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --nodes) nodes="$2" ;;
        --serving) serving="$2" ;;
        --first-ip) first="$2" ;;
        *) kp_die "unknown option $1" ;;
        esac
        shift 2
    done
    [[ "$nodes" =~ ^[1-9]$ ]] || kp_die "--nodes wants 1..9"
    [[ "$serving" == ca || "$serving" == self-signed ]] || kp_die "--serving wants ca|self-signed"
    [[ "$first" =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || kp_die "--first-ip must be a 127.x address"
    case "$dir" in
    /run | /run/* | /var/lib | /var/lib/* | /var/log | /var/log/*)
        kp_die "STATE_DIR must not be under /run, /var/lib or /var/log (the nodes overlay those)" ;;
    esac
    [[ -n "$(kp_env_get "$dir" KP_APISERVER)" ]] || kp_die "no API server in $dir; run up.sh first"
    node_check >/dev/null || kp_die "$(node_check)"
    t0="$(kp_now_ms)"
    since="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

    kp_env_set "$dir" KP_NODES "$nodes"
    kp_env_set "$dir" KP_NODE_SERVING "$serving"
    kp_env_set "$dir" KP_NODE_CGROUP_ROOT "$(cg_top "$dir")"
    kp_env_set "$dir" KP_NODE_PAUSE_IMAGE "$PAUSE_IMAGE"
    kp_env_set "$dir" KP_NODE_WORKLOAD_IMAGE "$WORKLOAD_IMAGE"
    kp_env_set "$dir" KP_KUBELET_BIN "$(kp_bin_path kubelet)"
    kp_env_set "$dir" KP_CTR "$(command -v ctr)"
    kp_env_set "$dir" KP_APISERVER_KUBELET_CLIENT_CERT "$dir/pki/apiserver-kubelet-client.crt"
    kp_env_set "$dir" KP_APISERVER_KUBELET_CLIENT_KEY "$dir/pki/apiserver-kubelet-client.key"
    t="$(kp_now_ms)"
    kp_env_set "$dir" KP_NODE_IMAGE_ARCHIVES "$(node_images | paste -sd,)"
    kp_log "node images ready in $(kp_secs_since "$t")s"

    # Configuring (certificates, ports, files) runs in parallel, then starting does.
    local -a jobs=()
    if [[ ! -f "$dir/controller-manager.args" ]]; then
        control_plane_configure "$dir" &
        jobs+=($!)
    fi
    for ((i = 1; i <= nodes; i++)); do
        ip="$(node_ip "$first" "$i")"
        names+="${names:+,}$ip"
        if [[ ! -f "$dir/node-$i-kubelet.args" ]]; then
            node_configure "$dir" "$i" "$ip" "$serving" &
            jobs+=($!)
        fi
    done
    kp_wait_all "configuring the nodes failed" "${jobs[@]}"
    kp_env_set "$dir" KP_NODE_NAMES "$names"
    kp_spawn "$dir" controller-manager
    kp_spawn "$dir" scheduler
    jobs=()
    for ((i = 1; i <= nodes; i++)); do
        node_start "$dir" "$i" &
        jobs+=($!)
    done
    kp_wait_all "a node failed to start (logs: $dir/node-*.log)" "${jobs[@]}"
    t="$(kp_now_ms)"
    local deadline=$((SECONDS + 90))
    until nodes_ready "$dir" "$since"; do
        ((SECONDS < deadline)) || kp_die "nodes not Ready and schedulable after 90s: $(api_get "$dir" /api/v1/nodes | jq -c '[.items[] | {n: .metadata.name, ready: (.status.conditions // [] | map(select(.type == "Ready"))[0].status), taints: .spec.taints}]')"
        for i in controller-manager scheduler; do
            kp_server_pid "$dir" "$i" >/dev/null || { tail -n 20 "$dir/$i.log" >&2; kp_die "$i exited"; }
        done
        sleep 0.2
    done
    kp_log "$nodes nodes Ready and schedulable after $(kp_secs_since "$t0")s ($names)"
}

cmd_down() {
    local dir i top
    dir="$(kp_state_dir "${1:-}")"
    for i in $(find "$dir" -maxdepth 1 -name 'node-*-ns.args' | sed 's/.*node-\([0-9]*\)-ns.args/\1/' | sort -n); do
        node_stop "$dir" "$i"
    done
    for i in controller-manager scheduler; do
        [[ ! -f "$dir/$i.args" ]] || kp_stop "$dir" "$i"
    done
    top="$(cg_top "$dir")"
    node_kill_cgroup "$top" KILL
    cg_remove "$top"
}

cmd_serving() { # DIR I MODE
    local dir="$1" i="$2" mode="$3" ip port hport
    [[ "$mode" == ca || "$mode" == self-signed ]] || kp_die "serving wants ca|self-signed"
    ip="$(kp_env_get "$dir" "KP_NODE_${i}_IP")"
    [[ -n "$ip" ]] || kp_die "no node $i in $dir"
    port="$(kp_env_get "$dir" "KP_NODE_${i}_KUBELET_PORT")"
    hport="$(kp_env_get "$dir" "KP_NODE_${i}_HEALTHZ_PORT")"
    kp_stop "$dir" "node-$i-kubelet"
    rm -f "$dir/node-$i/kubelet/pki/kubelet.crt" "$dir/node-$i/kubelet/pki/kubelet.key"
    node_write_kubelet_config "$dir" "$i" "$ip" "$port" "$hport" "$mode"
    kp_env_set "$dir" "KP_NODE_${i}_SERVING" "$mode"
    node_spawn "$dir" "$i" kubelet 60 kubelet_ready
    node_refresh_ca "$dir" "$i"
}

main() {
    local cmd="${1:-}"
    shift || true
    case "$cmd" in
    check) node_check ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    serving)
        [[ $# -eq 3 ]] || kp_die "usage: node.sh serving STATE_DIR I ca|self-signed"
        cmd_serving "$(kp_state_dir "$1")" "$2" "$3"
        ;;
    restart-kubelet)
        local dir
        dir="$(kp_state_dir "${1:-}")"
        kp_stop "$dir" "node-$2-kubelet"
        node_spawn "$dir" "$2" kubelet 60 kubelet_ready
        node_refresh_ca "$dir" "$2"
        ;;
    freeze) node_freeze "$(kp_state_dir "${1:-}")" "$2" ;;
    thaw) node_thaw "$(kp_state_dir "${1:-}")" "$2" && kp_log "node $2 thawed" ;;
    import)
        local dir i
        dir="$(kp_state_dir "${1:-}")"
        [[ -f "${2:-}" ]] || kp_die "usage: node.sh import STATE_DIR IMAGE.tar"
        for ((i = 1; i <= $(node_count "$dir"); i++)); do
            ctr_node "$dir" "$i" images import "$2" >&2
        done
        ;;
    holder) node_holder "$(kp_state_dir "$1")" "$2" ;;
    exec) node_exec "$(kp_state_dir "$1")" "${@:2}" ;;
    *) sed -n '3,21p' "$0" >&2; exit 2 ;;
    esac
}

main "$@"
