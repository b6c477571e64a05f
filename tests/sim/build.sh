#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build.sh — build the kubelet simulator once per source version and print its path.
#
# The binary is cached outside the work tree, keyed by a hash of the simulator's sources
# (kp_go_build in tests/infra/lib.sh):
#   ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/kubeletsim-<hash>
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../infra/lib.sh"
kp_go_build kubeletsim "$here/kubeletsim"
