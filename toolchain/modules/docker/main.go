// Command pulumi-resource-docker serves the Terraform Docker provider through
// pulumi-terraform-bridge as the Pulumi package "docker", at the version the PyPI pulumi-docker
// SDK asks for. The schema is generated at build time by ./tfgen (toolchain/build.py runs it)
// into schema-embed.json, which is git-ignored.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	"immutable.local/toolchain/docker/info"
)

// version is stamped by the build (-X main.version=...).
var version = "0.0.0-dev"

//go:embed schema-embed.json
var pulumiSchema []byte

func main() {
	tfbridge.Main("docker", version, info.Provider(version), pulumiSchema)
}
