//go:build tools

// Package tools pins the Kubernetes binaries the test infrastructure builds:
// the real kube-apiserver and a matching kubectl, both from k8s.io/kubernetes.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
