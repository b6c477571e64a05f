// SPDX-License-Identifier: Apache-2.0

//go:build tools

// Package tools pins the Kubernetes binaries the test infrastructure builds, all from
// k8s.io/kubernetes: the real kube-apiserver and a matching kubectl, and for the real nodes
// (up.sh --with-node) the kubelet, kube-controller-manager and kube-scheduler.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
