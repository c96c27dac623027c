// Command pulumi-resource-kubernetes serves the upstream Kubernetes provider.
//
// Upstream's own main embeds generated files (schema-embed.json,
// terraform-mapping-embed.json) that are not part of the module zip; the
// toolchain build writes them next to this file from the module's schema.json
// and terraform-mapping.json (with the pinned version stamped in) before
// `go build`. Both generated files are git-ignored.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
