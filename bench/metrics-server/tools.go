// SPDX-License-Identifier: Apache-2.0

//go:build tools

// Package tools pins metrics-server's command in go.mod/go.sum (see build.sh).
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server/app"
