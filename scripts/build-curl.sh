#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-curl.sh — build the libcurl that kubepulse's image, its benchmarks and its test builds
# link: Debian's own curl source package, at the version of the installed libcurl4-openssl-dev
# (or apt's candidate, when a security update took that one out of the archive), with the
# patches Debian applies to its OpenSSL flavour (all its security fixes), configured for HTTP
# and HTTPS on OpenSSL and zlib only, as a static library.
#
#   scripts/build-curl.sh [PREFIX]          (default /opt/kubepulse/curl)
#   cmake -S . -B build -DKP_CURL_ROOT=/opt/kubepulse/curl ...
#
# Why: Debian's libcurl4 links 26 libraries kubepulse never calls (GnuTLS, Kerberos, libssh2,
# OpenLDAP, nghttp2, brotli, zstd, librtmp, libidn2, libpsl ...). The dynamic loader maps and
# relocates every one of them at start: linked statically instead, kubepulse's peak RSS at 100
# nodes is 4.3 MiB lower, 19.6 against 23.9 MiB (docs/benchmarks.md). The code kubepulse runs
# is the same curl version and patches, on the same OpenSSL.
#
# The source comes through apt with a private configuration (deb-src twins of the machine's
# entries for the archive that holds that version; its own sources and lists are not
# touched), so every file is checked against the archive's signed Release files. Idempotent: a
# PREFIX built by this script, unchanged, from the same source version is kept. Runs as any
# user; only the install into PREFIX uses sudo when PREFIX is not writable.
set -euo pipefail

PREFIX=$(realpath -m "${1:-/opt/kubepulse/curl}")
log() { printf '[build-curl] %s\n' "$*" >&2; }

# One build at a time (install-deps.sh may run in parallel): the second finds the first's.
exec 9>"${TMPDIR:-/tmp}/kubepulse-build-curl.lock"
flock 9

pkg="libcurl4-openssl-dev:$(dpkg --print-architecture)"
installed=$(dpkg-query -W -f='${source:Version}' "$pkg" 2>/dev/null || true)
[[ -n "$installed" ]] || { log "$pkg is not installed (tests/infra/install-deps.sh installs it)"; exit 1; }

# The archives (URI and suite) apt has VERSION of $pkg from: its line in `apt-cache policy`'s
# version table, then one "PRIORITY URI SUITE/COMPONENT ..." line each.
archives_of() {
    apt-cache policy "$pkg" | awk -v v="$1" '
        /^ (\*\*\*|   ) [^ ]/ { mine = (($1 == "***" ? $2 : $1) == v); next }
        mine && $2 ~ /:\/\// { uri = $2; sub(/\/+$/, "", uri); split($3, a, "/"); print uri, a[1] }'
}

version=$installed
archives=$(archives_of "$version")
if [[ -z "$archives" ]]; then
    # Superseded since it was installed (a security update): build the version apt would install.
    candidate=$(apt-cache policy "$pkg" | awk '$1 == "Candidate:" { print $2 }')
    if [[ -n "$candidate" && "$candidate" != "(none)" && "$candidate" != "$installed" ]]; then
        log "no archive has $pkg $installed any more: building $candidate, apt's candidate" \
            "(apt-get install --only-upgrade libcurl4 $pkg updates the system's to it)"
        version=$candidate
        archives=$(archives_of "$version")
    fi
fi
[[ -n "$archives" ]] || { log "no archive apt knows has $pkg $version (apt-get update first?)"; exit 1; }

# The stamp names the source version and this script: a changed configuration rebuilds.
stamp="$PREFIX/share/kubepulse-curl-source"
want="curl $version, build-curl.sh $(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$PREFIX/lib/libcurl.a" ]]; then
    log "$PREFIX has curl $version already"
    exit 0
fi
for tool in dpkg-source dpkg-buildflags autoreconf libtoolize make patch cc; do
    command -v "$tool" >/dev/null ||
        { log "$tool is missing (apt: dpkg-dev autoconf automake libtool make patch gcc)"; exit 1; }
done

# deb-src twins of the machine's deb entries (one-line .list or deb822 .sources) for those
# archives, every option and field kept.
deb_src_entries() {
    local archives="$1" f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        awk -v want="$archives" '
            BEGIN { n = split(want, w, "\n"); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
            $1 != "deb" { next }
            {
                i = 2; opts = ""
                if ($2 ~ /^\[/) {
                    while (i < NF && $i !~ /\]$/) opts = opts " " $(i++)
                    opts = opts " " $(i++)
                }
                uri = $(i++); suite = $(i++); comps = ""
                for (; i <= NF && $i !~ /^#/; i++) comps = comps " " $i
                u = uri; sub(/\/+$/, "", u)
                if ((u " " suite) in ok) print "deb-src" opts, uri, suite comps
            }' "$f"
    done >"$work/apt/parts/twins.list"
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        awk -v want="$archives" '
            BEGIN { RS = ""; FS = "\n"; n = split(want, w, "\n"); for (i = 1; i <= n; i++) ok[w[i]] = 1 }
            function val(line) { line = substr(line, index(line, ":") + 1); gsub(/^[ \t]+|[ \t]+$/, "", line); return line }
            {
                types = uris = suites = ""; enabled = "yes"
                for (l = 1; l <= NF; l++) {
                    k = tolower(substr($l, 1, index($l, ":") - 1))
                    if (k == "types") types = val($l)
                    else if (k == "uris") uris = val($l)
                    else if (k == "suites") suites = val($l)
                    else if (k == "enabled") enabled = tolower(val($l))
                }
                if (enabled ~ /^(no|false|off|0)$/ || (" " types " ") !~ / deb /) next
                nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/); keep = ""
                for (b = 1; b <= ns; b++)
                    for (a = 1; a <= nu; a++) {
                        x = u[a]; sub(/\/+$/, "", x)
                        if ((x " " s[b]) in ok) { keep = keep " " s[b]; break }
                    }
                if (keep == "") next
                for (l = 1; l <= NF; l++) {
                    k = tolower(substr($l, 1, index($l, ":") - 1))
                    if ($l ~ /^#/) continue
                    else if (k == "types") print "Types: deb-src"
                    else if (k == "suites") print "Suites:" keep
                    else print $l
                }
                print ""
            }' "$f"
    done >"$work/apt/parts/twins.sources"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt's download user (_apt) must reach the work directory when apt runs as root.
chmod 755 "$work"
mkdir -p "$work/apt/parts" "$work/lists/partial"
: >"$work/apt/sources.list"
deb_src_entries "$archives"
for f in "$work"/apt/parts/twins.*; do [[ -s "$f" ]] || rm "$f"; done
compgen -G "$work/apt/parts/twins.*" >/dev/null ||
    { log "apt's sources have no entry for: $(tr '\n' ';' <<<"$archives")"; exit 1; }
apt_private=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=$work/apt/parts"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")

log "fetching curl $version's source from: $(tr '\n' ';' <<<"$archives")"
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
    patch --batch --fuzz=0 -s -p1 <"debian/patches/$p" >"$work/patch.log" 2>&1 ||
        { cat "$work/patch.log" >&2; log "debian/patches/$p does not apply"; exit 1; }
done <debian/patches/series

log "configuring: HTTP and HTTPS on OpenSSL and zlib, static"
# autoreconf replaces ltmain.sh, which a Debian patch changes: put it back, as debian/rules does.
cp ltmain.sh "$work/ltmain.sh"
autoreconf -fi >"$work/autoreconf.log" 2>&1 || { cat "$work/autoreconf.log" >&2; exit 1; }
cp "$work/ltmain.sh" ltmain.sh
# Debian's hardening flags, as its own build uses.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
CFLAGS=$(dpkg-buildflags --get CFLAGS)
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
if [[ ! -w "$PREFIX" ]]; then
    command -v sudo >/dev/null || { log "$PREFIX is not writable and there is no sudo"; exit 1; }
    as_owner=(sudo)
fi
"${as_owner[@]}" mkdir -p "$PREFIX/share"
{
    "${as_owner[@]}" make -C lib install &&
        "${as_owner[@]}" make -C include install &&
        "${as_owner[@]}" make install-pkgconfigDATA install-binSCRIPTS
} >"$work/install.log" 2>&1 || { tail -40 "$work/install.log" >&2; exit 1; }
echo "$want" | "${as_owner[@]}" tee "$stamp" >/dev/null
log "curl $version in $PREFIX: $("$PREFIX/bin/curl-config" --protocols | tr '\n' ' ')/" \
    "$("$PREFIX/bin/curl-config" --features | tr '\n' ' ')"
