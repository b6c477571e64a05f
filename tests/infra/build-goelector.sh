#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-goelector.sh - build tests/infra/goelector (client-go's own leader election, the
# interop partner of kp-elector-example) into the cache and print the binary's path.
#
#   build-goelector.sh            -> ${KUBEPULSE_CACHE:-$HOME/.cache/kubepulse}/bin/goelector-HASH
#
# kp_go_build (lib.sh) keys HASH on the sources, go.mod and go.sum.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kp_go_build goelector "$KP_INFRA_SCRIPTS/goelector"
