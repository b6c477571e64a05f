// SPDX-License-Identifier: Apache-2.0

//go:build tools

// Package tools pins the helm CLI that scripts/build-helm.sh builds: helm lint, helm template
// (scripts/gen-deploy.sh) and helm install in tests/integration/test_packaging.py.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
