//go:build tools

// Package tools pins the main package this module builds: the YAML language host, from its
// tagged module, against the same pkg/sdk as our CLI (so the shared Go build cache is reused).
package tools

import (
	_ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
)
