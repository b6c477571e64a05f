#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# install-deps.sh — install, with apt, everything kubepulse's build and tests need.
# Idempotent: packages already installed are skipped and `apt-get update` runs only when
# something is missing. Needs root (or sudo). Go (>= 1.23, for build-servers.sh) and python3
# come with the machine image; pytest is installed when python3 lacks it. Then
# scripts/build-curl.sh builds the static libcurl in $KP_CURL_ROOT (default /opt/kubepulse/curl).
#
# Debian's etcd-server, influxdb and prometheus packages would start system daemons on
# 2379/8086/9090. The tests never use those (up.sh starts its own on free ports), so service
# starts are blocked during the install and any such daemon found running afterwards is stopped.
set -euo pipefail

BUILD_PKGS=(
    cmake ninja-build gcc clang libclang-rt-14-dev pkg-config libcurl4-openssl-dev
    libjson-c-dev libssl-dev libev-dev libyaml-dev zlib1g-dev libcmocka-dev clang-format
    valgrind autoconf automake libtool make dpkg-dev
)
# nftables: the nft command for test_chaos_netns.py's partition (the kernel side is built in).
# containerd, runc, containernetworking-plugins (its `loopback`), busybox-static (the workload
# image's userland), libc6-dev (static pause and burn) and iproute2: the real nodes of
# up.sh --with-node (tests/infra/node.sh).
# prometheus: its promtool checks /metrics (test_status_server.py); its server is not used.
SERVER_PKGS=(
    etcd-server influxdb influxdb-client openssl jq faketime iproute2 curl ca-certificates
    python3 util-linux nftables containerd runc containernetworking-plugins busybox-static
    prometheus libc6-dev
)
# The container image (scripts/build-image.sh): a bookworm base made with debootstrap, built
# with podman (daemonless; it builds with buildah's code), whose checks run the image with runc.
IMAGE_PKGS=(debootstrap podman runc)

# Where scripts/build-curl.sh puts libcurl (scripts/test.sh passes it to CMake as KP_CURL_ROOT).
KP_CURL_ROOT=${KP_CURL_ROOT:-/opt/kubepulse/curl}

log() { printf '[install-deps] %s\n' "$*" >&2; }

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || { log "run as root or install sudo"; exit 1; }
    SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

missing_pkgs() {
    local p
    for p in "$@"; do
        [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] ||
            printf '%s\n' "$p"
    done
}

# The package lists are fresh enough when apt-get update ran within the last day.
lists_fresh() {
    [[ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null |
        head -n 1)" ]]
}

POLICY=/usr/sbin/policy-rc.d
OUR_POLICY=false
block_service_starts() {
    [[ -e "$POLICY" ]] && return 0
    printf '#!/bin/sh\n# temporary, from kubepulse install-deps.sh\nexit 101\n' |
        "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    OUR_POLICY=true
}
unblock_service_starts() {
    [[ "$OUR_POLICY" != true ]] || "${SUDO[@]}" rm -f "$POLICY"
}

apt_install() {
    # Wait for another apt (a parallel install-deps.sh) instead of failing on its lock.
    local opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
    lists_fresh || "${SUDO[@]}" apt-get update -q
    if ! "${SUDO[@]}" apt-get install "${opts[@]}" "$@"; then
        log "install failed; refreshing package lists and retrying"
        "${SUDO[@]}" apt-get update -q
        "${SUDO[@]}" apt-get install "${opts[@]}" "$@"
    fi
}

# Only the packaged services are looked at (systemd unit or the init script's pidfile), never
# an influxd/etcd by name: the tests' own servers run the same binaries.
stop_system_daemons() {
    local svc pidfile
    for svc in influxdb:/run/influxdb/influxd.pid etcd:/run/etcd.pid \
        prometheus:/run/prometheus/prometheus.pid; do
        pidfile="${svc#*:}"
        svc="${svc%%:*}"
        if [[ -d /run/systemd/system ]]; then
            if systemctl is-active --quiet "$svc" 2>/dev/null; then
                log "stopping and disabling the system $svc service (the tests start their own)"
                "${SUDO[@]}" systemctl disable --now "$svc" || true
            fi
        elif [[ -s "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            log "stopping the system $svc service (the tests start their own)"
            "${SUDO[@]}" service "$svc" stop || true
        fi
    done
}

main() {
    local -a missing
    mapfile -t missing < <(missing_pkgs "${BUILD_PKGS[@]}" "${SERVER_PKGS[@]}" "${IMAGE_PKGS[@]}")
    if ((${#missing[@]})); then
        log "installing: ${missing[*]}"
        block_service_starts
        trap unblock_service_starts EXIT
        apt_install "${missing[@]}"
        unblock_service_starts
        trap - EXIT
    else
        log "all Debian packages already installed"
    fi
    stop_system_daemons

    if ! python3 -c 'import pytest' 2>/dev/null; then
        log "installing pytest for $(command -v python3)"
        python3 -m pip install -q pytest || apt_install python3-pytest
    fi
    # The static libcurl (HTTP and HTTPS on OpenSSL only) that the test builds, the benchmarks
    # and the image link: built once per Debian curl version, a no-op after.
    "$(dirname "$0")/../../scripts/build-curl.sh" "$KP_CURL_ROOT"

    if ! command -v go >/dev/null; then
        log "warning: no Go toolchain on PATH; build-servers.sh needs Go >= 1.23"
    fi
}

main "$@"
