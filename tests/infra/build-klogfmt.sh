#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-klogfmt.sh - build tests/infra/klogfmt (log records written by klog and by
# component-base's JSON logger, which test_log_format.py compares with kubepulse's) into the
# cache and print the binary's path.
#
#   build-klogfmt.sh            -> ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/klogfmt-HASH
#
# kp_go_build (lib.sh) keys HASH on the sources, go.mod and go.sum.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kp_go_build klogfmt "$KP_INFRA_SCRIPTS/klogfmt"
