#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-image.sh — build the kubepulse container image here, without any container registry.
#
#   scripts/build-image.sh [--refresh-base] [--tag TAG] [--source REV] [--output FILE]
#
# The sources come from the work tree, or with --source REV from that git commit (a clean
# `git archive` of it; the Dockerfile and scripts/image-rootfs.sh still come from the work
# tree), which is how to build a release, or an image while the work tree does not compile.
#
# 1. Bootstraps a minimal Debian bookworm (debootstrap --variant=minbase) from the mirror apt
#    uses on this machine, tars it to ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/images/ and
#    imports it as localhost/debian:bookworm. Both are reused on later runs (--refresh-base
#    bootstraps again, e.g. to pick up Debian security updates).
# 2. Builds the Dockerfile with podman (daemonless) and --build-arg BASE_IMAGE=that image.
# 3. Runs `kubepulse --version` in the image as uid 65532 with a read-only root file system and
#    no network, checks that the image has no shell, and prints the image size.
# 4. With --output FILE, writes the image as a docker-archive tarball (what
#    `ctr -n k8s.io images import FILE` and `docker load` take), named TAG. FILE is rewritten
#    only when the image changed (its id is kept in FILE.id), so callers may run this each time.
#
# Needs root (debootstrap, and podman's storage); tests/infra/install-deps.sh installs
# debootstrap, podman and runc. Podman keeps images in its own store, $KUBEPULSE_CACHE/containers/
# DRIVER ($KP_STORAGE_DRIVER: overlay by default; vfs works everywhere but copies every layer:
# 3.1 GB and a 93 s build here, against 0.6 GB and 40 s).
# Env: KP_DEBIAN_MIRROR (default: the mirror of /etc/apt/sources*), KP_ISOLATION (default
# chroot: RUN steps need no user namespace or cgroup setup, so this works inside containers),
# KP_OCI_RUNTIME (default runc) for the checks that run the image.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
# shellcheck source=../tests/infra/lib.sh
source "$HERE/../tests/infra/lib.sh" # kp_log, kp_die, KP_CACHE
CACHE="$KP_CACHE"
SUITE=bookworm
BASE_IMAGE="localhost/debian:$SUITE"
BASE_TAR="$CACHE/images/debian-$SUITE-minbase.tar"
STORE="$CACHE/containers"
DRIVER="${KP_STORAGE_DRIVER:-overlay}"
ISOLATION="${KP_ISOLATION:-chroot}"

# `podman run` here: runc, because crun refuses this machine's hybrid cgroup v1 + v2 layout
# ("cgroups in hybrid mode not supported"); lowered rlimits, because podman otherwise raises
# RLIMIT_NOFILE/NPROC and this container lacks CAP_SYS_RESOURCE ("setrlimit: Operation not
# permitted"). Neither matters on a normal host; both are harmless there.
RUN_OPTS=(--rm --runtime "${KP_OCI_RUNTIME:-runc}" --ulimit nofile=1024:1024
    --ulimit nproc=1024:1024 --network none)

podman_() {
    podman --root "$STORE/$DRIVER" --runroot "$STORE/run-$DRIVER" --storage-driver "$DRIVER" "$@"
}

ensure_tools() {
    local p
    for p in debootstrap podman runc; do
        command -v "$p" >/dev/null || {
            "$ROOT/tests/infra/install-deps.sh" >&2
            return 0
        }
    done
}

# Write TAG as a docker-archive to FILE unless FILE already holds this image id.
save_archive() {
    local tag="$1" out="$2" id="$3" tmp t=$SECONDS
    if [[ -s "$out" && "$(cat "$out.id" 2>/dev/null)" == "$id" ]]; then
        kp_log "$out: up to date (image ${id:0:12})"
        return 0
    fi
    mkdir -p "$(dirname "$out")"
    tmp="$out.partial.$$"
    rm -f "$tmp"
    podman_ save --format docker-archive -o "$tmp" "$tag" >&2
    mv -f "$tmp" "$out"
    printf '%s\n' "$id" >"$out.id"
    kp_log "saved $tag to $out ($(du -h "$out" | cut -f1), $((SECONDS - t))s)"
}

# The first Debian (not -security) URI apt uses here, from deb822 .sources or sources.list.
apt_mirror() {
    local m
    m="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '$1 == "URIs:" && $2 !~ /security/ && $2 ~ /debian/ { print $2; exit }')"
    [[ -n "$m" ]] || m="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" && $2 !~ /^\[/ && $2 !~ /security/ && $2 ~ /debian/ { print $2; exit }
             $1 == "deb" && $2 ~ /^\[/ && $3 !~ /security/ && $3 ~ /debian/ { print $3; exit }')"
    printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

# debootstrap into a temporary directory, add the updates and security suites, tar it up.
bootstrap_base() {
    local mirror tmp t0=$SECONDS security
    mirror="${KP_DEBIAN_MIRROR:-$(apt_mirror)}"
    security="${mirror%/debian}/debian-security"
    kp_log "debootstrap $SUITE (minbase) from $mirror ..."
    mkdir -p "$CACHE/images"
    tmp="$(mktemp -d "$CACHE/images/.bootstrap.XXXXXX")"
    trap 'rm -rf "'"$tmp"'"' EXIT
    debootstrap --variant=minbase "$SUITE" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
        {
            tail -n 20 "$tmp/debootstrap.log" >&2
            kp_die "debootstrap failed (full log above)"
        }
    rm -f "$tmp/root/etc/apt/sources.list"
    cat >"$tmp/root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # The same trimming Debian's official images do: no package lists or caches in the base.
    rm -rf "$tmp/root/var/lib/apt/lists/"* "$tmp/root/var/cache/apt/"*.bin \
        "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/log/"*.log
    tar --numeric-owner --xattrs -C "$tmp/root" -cf "$tmp/base.tar" .
    mv -f "$tmp/base.tar" "$BASE_TAR"
    rm -rf "$tmp"
    trap - EXIT
    kp_log "debootstrap: $((SECONDS - t0))s, $(du -h "$BASE_TAR" | cut -f1) -> $BASE_TAR"
}

# Import the tarball as BASE_IMAGE unless that exact tarball is already the image.
import_base() {
    local sum have
    sum="$(sha256sum "$BASE_TAR" | cut -d' ' -f1)"
    have="$(podman_ image inspect --format '{{ index .Labels "kubepulse.base.sha256" }}' \
        "$BASE_IMAGE" 2>/dev/null || true)"
    if [[ "$have" == "$sum" ]]; then
        kp_log "$BASE_IMAGE: up to date"
        return 0
    fi
    kp_log "importing $BASE_TAR as $BASE_IMAGE"
    podman_ import --change "LABEL kubepulse.base.sha256=$sum" --change 'CMD ["/bin/bash"]' \
        "$BASE_TAR" "$BASE_IMAGE" >/dev/null
}

SOURCE_DIRS=(CMakeLists.txt cmake src election collector sinks bench)

# Build context for REV: its sources plus the work tree's packaging files, in a temp dir.
context_from_git() {
    local rev="$1" dir="$2" f
    local -a paths
    # Only the paths REV has (bench/ is younger than the first commits).
    mapfile -t paths < <(git -C "$ROOT" ls-tree --name-only "$rev" -- "${SOURCE_DIRS[@]}")
    git -C "$ROOT" archive --format=tar "$rev" -- "${paths[@]}" | tar -x -C "$dir"
    for f in Dockerfile .dockerignore scripts/image-rootfs.sh; do
        mkdir -p "$dir/$(dirname "$f")"
        cp -p "$ROOT/$f" "$dir/$f"
    done
}

main() {
    local refresh=false tag="localhost/kubepulse:0.1.0" source="" context="$ROOT" commit out=""
    local t0=$SECONDS t size id
    while (($#)); do
        case "$1" in
        --refresh-base) refresh=true ;;
        --source)
            source="$2"
            shift
            ;;
        --tag)
            tag="$2"
            shift
            ;;
        --output)
            out="$2"
            shift
            ;;
        *) kp_die "usage: $0 [--refresh-base] [--tag TAG] [--source REV] [--output FILE]" ;;
        esac
        shift
    done
    [[ "$(id -u)" == 0 ]] || kp_die "run as root (debootstrap and podman's store need it)"
    ensure_tools
    mkdir -p "$STORE"
    exec 9>"$STORE/.build-image.lock"
    flock 9

    if [[ "$refresh" == true || ! -s "$BASE_TAR" ]]; then
        bootstrap_base
    else
        kp_log "base: cached $BASE_TAR"
    fi
    import_base

    if [[ -n "$source" ]]; then
        commit="$(git -C "$ROOT" rev-parse --short=12 "$source^{commit}")" ||
            kp_die "--source $source: not a commit"
        context="$(mktemp -d "${TMPDIR:-/tmp}/kubepulse-image.XXXXXX")"
        trap 'rm -rf "'"$context"'"' EXIT
        context_from_git "$commit" "$context"
    else
        commit="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
        if [[ -n "$(git -C "$ROOT" status --porcelain -- "${SOURCE_DIRS[@]}" 2>/dev/null)" ]]; then
            commit+="-dirty"
        fi
    fi
    t=$SECONDS
    kp_log "podman build $tag (commit $commit, isolation $ISOLATION, storage $DRIVER) ..."
    podman_ build --isolation "$ISOLATION" --network host --layers \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "KP_GIT_COMMIT=$commit" \
        -f "$context/Dockerfile" -t "$tag" "$context" >&2
    kp_log "podman build: $((SECONDS - t))s"

    kp_log "checking the image: --version as 65532, read-only root, no network"
    podman_ run "${RUN_OPTS[@]}" --read-only --user 65532:65532 "$tag" --version
    if podman_ run "${RUN_OPTS[@]}" --entrypoint /bin/sh "$tag" -c true >/dev/null 2>&1; then
        kp_die "the image has a shell; the runtime stage must be scratch plus the binary's files"
    fi
    id="$(podman_ image inspect --format '{{.Id}}' "$tag")"
    size="$(podman_ image inspect --format '{{.Size}}' "$tag")"
    kp_log "image $tag (${id:0:12}): $((size / 1024)) KiB uncompressed," \
        "$(($(podman_ save "$tag" 2>/dev/null | gzip -c | wc -c) / 1024)) KiB as gzip'd tarball;" \
        "total $((SECONDS - t0))s"
    if [[ -n "$out" ]]; then
        save_archive "$tag" "$out" "$id"
    else
        kp_log "save it with: podman --root $STORE/$DRIVER --storage-driver $DRIVER" \
            "save -o kubepulse.tar $tag"
    fi
    printf '%s\n' "$tag"
}

main "$@"
