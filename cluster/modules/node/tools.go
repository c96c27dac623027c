//go:build tools

// Package tools pins the main packages this module builds: the node binaries of a real
// local node (issue #21). A module of its own, next to ../kubernetes, so the control-plane
// binaries' cache entries stay valid and a kwok-only build does not pay for the node.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
