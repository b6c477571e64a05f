#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# image-rootfs.sh — assemble a distroless-style root file system for one dynamically linked
# binary. Runs inside the Dockerfile's build stage (Debian), never on the host.
#
#   image-rootfs.sh BINARY ROOTFS [PACKAGE...]
#
# PACKAGEs are Debian packages whose code BINARY links statically (libcurl4 for the libcurl of
# scripts/build-curl.sh, built from the same source version): their status entries and
# copyright files are recorded as for the shared libraries' packages.
#
# ROOTFS gets: BINARY as usr/bin/<name>; every shared library `ldd BINARY` lists, at its
# canonical path under usr/ (lib and lib64 are symlinks into usr/, as on merged-/usr Debian);
# the dpkg status entry and copyright file of each package those files come from (in
# var/lib/dpkg/status.d/, the layout image scanners read in distroless images); the CA bundle
# and OpenSSL's config; /etc/passwd, /etc/group and /etc/nsswitch.conf for uid/gid 65532.
set -eu

bin="$1"
root="$2"
shift 2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/usr/lib64" "$root/etc/ssl/certs" \
    "$root/var/lib/dpkg/status.d" "$root/usr/share/doc"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"

# Copy FILE to its canonical location under ROOTFS (symlinks resolved, /lib -> /usr/lib).
place() {
    dir="$(readlink -f "$(dirname "$1")")"
    mkdir -p "$root$dir"
    cp -L "$1" "$root$dir/$(basename "$1")"
}

cp "$bin" "$root/usr/bin/$(basename "$bin")"
# ldd lines: "libx.so.1 => /lib/.../libx.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)".
if ldd "$bin" | grep -q 'not found'; then
    echo "image-rootfs.sh: unresolved libraries:" >&2
    ldd "$bin" | grep 'not found' >&2
    exit 1
fi
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' >"$work/libs"
nlibs=0
while read -r lib; do
    place "$lib"
    nlibs=$((nlibs + 1))
done <"$work/libs"

for p in "$@"; do
    dpkg-query -s "$p" >/dev/null 2>&1 || { echo "image-rootfs.sh: $p is not installed" >&2; exit 1; }
done
# Which packages own those files, and the CA bundle: record them as distroless does.
{
    echo ca-certificates
    for p in "$@"; do echo "$p"; done
    while read -r lib; do
        p="$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib")"
        echo "${p%%:*}"
    done <"$work/libs"
} | sort -u >"$work/pkgs"
while read -r p; do
    dpkg-query -s "$p" >"$root/var/lib/dpkg/status.d/$p"
    if [ -f "/usr/share/doc/$p/copyright" ]; then
        mkdir -p "$root/usr/share/doc/$p"
        cp "/usr/share/doc/$p/copyright" "$root/usr/share/doc/$p/copyright"
    fi
done <"$work/pkgs"

cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
cp -L /etc/ssl/openssl.cnf "$root/etc/ssl/openssl.cnf"
mkdir -p "$root/usr/lib/ssl"
ln -s /etc/ssl/certs "$root/usr/lib/ssl/certs"
ln -s /etc/ssl/openssl.cnf "$root/usr/lib/ssl/openssl.cnf"

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
nonroot:x:65532:
GROUP
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"

echo "image-rootfs.sh: $(basename "$bin"), $nlibs libraries from packages:" \
    "$(tr '\n' ' ' <"$work/pkgs")" >&2
