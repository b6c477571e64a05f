#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-curl.sh — build the libcurl that kubepulse's image, its benchmarks and its test builds
# link: Debian's own curl source package, at the version of the installed libcurl4-openssl-dev,
# with the patches Debian applies to its OpenSSL flavour (all its security fixes), configured
# for HTTP and HTTPS on OpenSSL and zlib only, as a static library.
#
#   scripts/build-curl.sh [PREFIX]          (default /opt/kubepulse/curl)
#   cmake -S . -B build -DKP_CURL_ROOT=/opt/kubepulse/curl ...
#
# Why: Debian's libcurl4 links 26 libraries kubepulse never calls (GnuTLS, Kerberos, libssh2,
# OpenLDAP, nghttp2, brotli, zstd, librtmp, libidn2, libpsl ...). The dynamic loader maps and
# relocates every one of them at start: about 4 MB of resident memory in a daemon whose whole
# footprint at 100 nodes is 24 MiB (docs/benchmarks.md). The code kubepulse runs is the same:
# the same curl version and patches, on the same OpenSSL.
#
# The source comes through apt with a private configuration (deb-src twins of the machine's
# Debian entries; its own sources and lists are not touched), so every file is checked against
# the archive's signed Release files. Idempotent: a PREFIX built from the same source version is
# kept. Runs as any user; only the install into PREFIX uses sudo when PREFIX is not writable.
set -euo pipefail

PREFIX=${1:-/opt/kubepulse/curl}
log() { printf '[build-curl] %s\n' "$*" >&2; }

version=$(dpkg-query -W -f='${source:Version}' libcurl4-openssl-dev 2>/dev/null || true)
[[ -n "$version" ]] ||
    { log "libcurl4-openssl-dev is not installed (tests/infra/install-deps.sh installs it)"; exit 1; }
stamp="$PREFIX/share/kubepulse-curl-source"
if [[ -f "$stamp" && "$(cat "$stamp")" == "curl $version" && -f "$PREFIX/lib/libcurl.a" ]]; then
    log "$PREFIX has curl $version already"
    exit 0
fi
for tool in dpkg-source dpkg-buildflags autoreconf libtoolize make patch cc; do
    command -v "$tool" >/dev/null ||
        { log "$tool is missing (apt: dpkg-dev autoconf automake libtool make patch gcc)"; exit 1; }
done

# deb-src entries for the Debian archive the machine's packages come from: each deb entry of its
# sources (one-line or deb822 format) for this release's suites.
deb_src_entries() {
    local codename f
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        awk -v c="$codename" '
            $1 != "deb" { next }
            {
                i = 2; opts = ""
                if ($2 ~ /^\[/) {
                    while (i < NF && $i !~ /\]$/) opts = opts " " $(i++)
                    opts = opts " " $(i++)
                }
                uri = $(i++); suite = $(i++); comps = ""
                for (; i <= NF && $i !~ /^#/; i++) comps = comps " " $i
                if (suite ~ ("^" c "(-updates|-security)?$")) print "deb-src" opts, uri, suite comps
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        awk -v c="$codename" '
            BEGIN { RS = ""; FS = "\n" }
            {
                types = uris = suites = comps = key = ""; enabled = "yes"
                for (l = 1; l <= NF; l++) {
                    if ($l ~ /^#/ || $l !~ /^[A-Za-z-]+:/) continue
                    k = tolower(substr($l, 1, index($l, ":") - 1))
                    v = substr($l, index($l, ":") + 1)
                    gsub(/^[ \t]+|[ \t]+$/, "", v)
                    if (k == "types") types = v
                    else if (k == "uris") uris = v
                    else if (k == "suites") suites = v
                    else if (k == "components") comps = v
                    else if (k == "enabled") enabled = v
                    else if (k == "signed-by" && v ~ /^\//) key = " [signed-by=" v "]"
                }
                if (enabled == "no" || (" " types " ") !~ / deb /) next
                nu = split(uris, u, /[ \t]+/)
                ns = split(suites, s, /[ \t]+/)
                for (a = 1; a <= nu; a++)
                    for (b = 1; b <= ns; b++)
                        if (s[b] ~ ("^" c "(-updates|-security)?$"))
                            print "deb-src" key, u[a], s[b], comps
            }' "$f"
    done
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt's download user (_apt) must reach the work directory when apt runs as root.
chmod 755 "$work"
mkdir -p "$work/apt/parts" "$work/lists/partial"
deb_src_entries | sort -u >"$work/apt/sources.list"
[[ -s "$work/apt/sources.list" ]] || { log "apt's sources name no Debian archive for this release"; exit 1; }
apt_private=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=$work/apt/parts"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")

log "fetching curl $version's source ($(wc -l <"$work/apt/sources.list") deb-src entries)"
cd "$work"
{ apt-get -q "${apt_private[@]}" update &&
    apt-get -q "${apt_private[@]}" source --download-only "curl=$version"; } >apt.log 2>&1 ||
    { cat apt.log >&2; exit 1; }
# The .dsc's own signature cannot be checked without Debian's developer keyring (dpkg-source
# says so); apt checked each file's hash against the signed indexes above.
dpkg-source -x --skip-patches curl_*.dsc src >dpkg-source.log 2>&1 || { cat dpkg-source.log >&2; exit 1; }
cd src
# Debian's rules build the OpenSSL flavour with every patch but the last two (GnuTLS, NSS).
while read -r p; do
    case "$p" in '' | '#'*) continue ;; 90_gnutls.patch | 99_nss.patch) continue ;; esac
    patch -s -p1 <"debian/patches/$p"
done <debian/patches/series

log "configuring: HTTP and HTTPS on OpenSSL and zlib, static"
autoreconf -fi >"$work/autoreconf.log" 2>&1 || { cat "$work/autoreconf.log" >&2; exit 1; }
# Debian's hardening flags, as its own build uses.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
CFLAGS="$(dpkg-buildflags --get CFLAGS) -DCURL_PATCHSTAMP=\"$version\""
CPPFLAGS=$(dpkg-buildflags --get CPPFLAGS)
LDFLAGS=$(dpkg-buildflags --get LDFLAGS)
export CFLAGS CPPFLAGS LDFLAGS
./configure --prefix="$PREFIX" --disable-shared --enable-static --with-pic \
    --disable-dependency-tracking --enable-threaded-resolver \
    --with-openssl --with-zlib \
    --with-ca-path=/etc/ssl/certs --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt \
    --enable-http --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp \
    --disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb \
    --disable-smtp --disable-gopher --disable-mqtt --disable-manual \
    --without-libssh2 --without-libssh --without-nghttp2 --without-brotli --without-zstd \
    --without-librtmp --without-libidn2 --without-libpsl --without-gssapi --without-libgsasl \
    >"$work/configure.log" 2>&1 || { tail -40 "$work/configure.log" >&2; exit 1; }

log "building"
make -j "$(nproc 2>/dev/null || echo 2)" -C lib >"$work/make.log" 2>&1 ||
    { tail -40 "$work/make.log" >&2; exit 1; }
as_owner=()
mkdir -p "$PREFIX" 2>/dev/null || true
if [[ ! -w "$PREFIX" && ! -w "$(dirname "$PREFIX")" ]]; then
    as_owner=(sudo)
fi
"${as_owner[@]}" mkdir -p "$PREFIX/share"
{
    "${as_owner[@]}" make -C lib install &&
        "${as_owner[@]}" make -C include install &&
        "${as_owner[@]}" make install-pkgconfigDATA install-binSCRIPTS
} >"$work/install.log" 2>&1 || { tail -40 "$work/install.log" >&2; exit 1; }
echo "curl $version" | "${as_owner[@]}" tee "$stamp" >/dev/null
log "curl $version in $PREFIX: $("$PREFIX/bin/curl-config" --protocols | tr '\n' ' ')/" \
    "$("$PREFIX/bin/curl-config" --features | tr '\n' ' ')"
