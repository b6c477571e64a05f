#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The project's test command (see README.md). On a fresh Debian bookworm machine
# it installs what the tests need, builds the test servers (kube-apiserver,
# kubectl, the kubelet simulator, ...) into a cache outside the work tree, then
# checks the C formatting, builds kubepulse five ways and runs every test:
#
#   build/        gcc Debug            unit tests, then valgrind on each unit test
#   build-rel/    gcc Release          -DKP_TESTS=OFF, compiled only (what the Dockerfile ships)
#   build-readme/ gcc Release          README.md's "Building" commands run exactly as written in
#                                      a fresh copy of the tree (tests on: -O3 warnings in them too)
#   build-asan/   gcc ASan+UBSan       unit + integration tests (real servers); the
#                                      memory-bound test runs build-rel's kubepulse
#   build-fuzz/   clang libFuzzer      each fuzz target for a short run
#
# All but build-fuzz/ link the static libcurl of scripts/build-curl.sh (-DKP_CURL_ROOT), as the
# image does; build-fuzz/ links the system's libcurl4, so that that way compiles too.
#
# Usage: scripts/test.sh [--unit-only] [--skip-fuzz] [--skip-valgrind]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

unit_only=0 skip_fuzz=0 skip_valgrind=0
for arg in "$@"; do
    case "$arg" in
    --unit-only) unit_only=1 ;;
    --skip-fuzz) skip_fuzz=1 ;;
    --skip-valgrind) skip_valgrind=1 ;;
    -h | --help) sed -n '3,15p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done

jobs=$(nproc)
step() { printf '\n=== %s (%ss)\n' "$*" "$SECONDS"; }

# Every tracked *.c and *.h as the checked-in .clang-format lays it out; prints the files
# that differ and fails.
check_format() {
    local out bad
    out=$(git ls-files -z '*.c' '*.h' | xargs -0 clang-format --dry-run --Werror 2>&1) && return 0
    bad=$(sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error:.*/\1/p' <<<"$out" | sort -u)
    if [ -n "$bad" ]; then
        printf 'not clang-formatted (clang-format -i them):\n%s\n' "$bad" >&2
    else
        printf '%s\n' "$out" | head -20 >&2 # clang-format itself failed
    fi
    return 1
}

# Every tracked source file carries the license line (README.md, "License"): C, headers,
# shell, Python, Go, CMake, the Dockerfile and scripts with a #! line. Prints the others, fails.
check_spdx() {
    local f bad=""
    while IFS= read -r -d '' f; do
        case "$f" in
        */corpus/*) continue ;;
        *.c | *.h | *.inc | *.sh | *.py | *.go | *.cmake | *CMakeLists.txt | Dockerfile) ;;
        *.*) continue ;;
        *) [ "$(head -c 2 "$f")" = '#!' ] || continue ;;
        esac
        grep -q 'SPDX-License-Identifier: Apache-2.0' "$f" || bad+="$f"$'\n'
    done < <(git ls-files -z)
    [ -z "$bad" ] && return 0
    printf 'no "SPDX-License-Identifier: Apache-2.0" line:\n%s' "$bad" >&2
    return 1
}

# The first sh block under "## Building" in README.md: its apt-get line must name only
# packages install-deps.sh installed; every other command runs as written, from the top of
# a fresh copy of the tree (the files git tracks, plus untracked ones it does not ignore).
readme_build() {
    local dir="$root/build-readme" cmds line
    cmds=$(awk '/^## Building/{f=1;next} f&&/^```/{if(b)exit; b=1; next} f&&b' README.md |
        sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
    [ -n "$cmds" ] || { echo "README.md: no commands under ## Building" >&2; return 1; }
    rm -rf "$dir"
    mkdir -p "$dir"
    git ls-files -z --cached --others --exclude-standard |
        xargs -0 -I{} find {} -maxdepth 0 -type f -print0 | tar -c --null -T - | tar -x -C "$dir"
    while IFS= read -r line; do
        case "$line" in
        "apt-get install "*)
            for pkg in ${line#apt-get install }; do
                dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
                    { echo "README.md names $pkg, which install-deps.sh did not install" >&2; return 1; }
            done ;;
        *)
            echo "+ $line"
            (cd "$dir" && bash -euo pipefail -c "$line" >"$dir/.last-command.log" 2>&1) ||
                { tail -40 "$dir/.last-command.log"; echo "README.md command failed: $line" >&2; return 1; } ;;
        esac
    done <<<"$cmds"
}

step "installing build and test dependencies"
tests/infra/install-deps.sh
# The static libcurl install-deps.sh built (scripts/build-curl.sh), as the image links it.
curl_root=${KP_CURL_ROOT:-/opt/kubepulse/curl}

step "clang-format: every tracked *.c and *.h as .clang-format lays it out"
check_format

step "SPDX: every tracked source file carries the license line"
check_spdx

if [ "$unit_only" = 0 ]; then
    # Each script builds once per pinned version into ~/.cache/kubepulse and is a no-op after.
    step "building the test servers and tools (Go; cached after the first run)"
    tests/infra/build-servers.sh --with-node  # kube-apiserver, kubectl, kubelet,
                                         # kube-controller-manager, kube-scheduler v1.32.13
    tests/sim/build.sh >/dev/null        # the kubelet simulator
    tests/infra/build-goelector.sh >/dev/null  # client-go's elector, for interop tests
    tests/infra/build-klogfmt.sh >/dev/null    # klog and component-base, for test_log_format
    tests/infra/influxdb2/build.sh >/dev/null  # InfluxDB 1.8.10: a real /api/v2/write
    scripts/build-helm.sh >/dev/null     # helm v3.17.4, for the chart tests
    step "deploy/ matches what the chart renders"
    scripts/gen-deploy.sh --check
fi

step "Debug build and unit tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKP_CURL_ROOT="$curl_root" >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build -L unit --output-on-failure -j "$jobs"
if [ "$unit_only" = 0 ]; then
    ctest --test-dir build -L tools --output-on-failure # the simulator's Go tests
fi

if [ "$skip_valgrind" = 0 ]; then
    step "valgrind on the unit tests"
    ctest --test-dir build -L unit -T memcheck --output-on-failure \
        --overwrite MemoryCheckCommandOptions="--leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1" \
        >build/memcheck.log 2>&1 || { tail -40 build/memcheck.log; exit 1; }
    if grep -q "Defects:" build/memcheck.log; then
        grep -A3 "Defects:" build/memcheck.log
        find build/Testing/Temporary -name 'MemoryChecker.*.log' -size +0 -exec cat {} + | head -80
        echo "valgrind found defects" >&2
        exit 1
    fi
    grep -E "Memory checking results|tests passed" build/memcheck.log || true
fi

step "Release build (compile only)"
cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DKP_TESTS=OFF \
    -DKP_CURL_ROOT="$curl_root" >/dev/null
cmake --build build-rel -j "$jobs"

step "README.md's Building commands, exactly as written, in a fresh copy of the tree"
readme_build

if [ "$unit_only" = 1 ]; then
    step "done (unit tests only)"
    exit 0
fi

step "ASan+UBSan build: unit and integration tests against real servers"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKP_SANITIZE=ON \
    -DKP_CURL_ROOT="$curl_root" >/dev/null
cmake --build build-asan -j "$jobs"
# memory-bound tests measure RSS, which ASan's quarantine makes meaningless: they run the
# Release build's kubepulse (test_collector.py::test_hundred_megabyte_bodies)
export KP_RELEASE_BUILD_DIR="$root/build-rel"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Two lanes side by side (tests/CMakeLists.txt): the tests on the shared servers one at a
# time, and beside them the tests that start clusters of real nodes, one at a time.
ctest --test-dir build-asan -L 'unit|integration' --output-on-failure -j 2

if [ "$skip_fuzz" = 0 ]; then
    step "clang libFuzzer build: short fuzz runs"
    cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DKP_FUZZ=ON -DKP_TESTS=OFF >/dev/null
    cmake --build build-fuzz -j "$jobs"
    ctest --test-dir build-fuzz -L fuzz --output-on-failure
fi

step "all tests passed"
