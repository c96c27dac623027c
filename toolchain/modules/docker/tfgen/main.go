// Command tfgen writes the Pulumi package schema of the bridged Docker provider (see ../info)
// to the file named by -out. toolchain/build.py runs it before building the provider, which
// embeds the file.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"

	"immutable.local/toolchain/docker/info"
)

func main() {
	out := flag.String("out", "schema-embed.json", "file to write the schema to")
	version := flag.String("version", "", "package version to stamp into the schema")
	flag.Parse()
	if *version == "" {
		fail(fmt.Errorf("-version is required"))
	}
	sink := diag.DefaultSink(os.Stderr, os.Stderr, diag.FormatOptions{Color: colors.Never})
	res, err := tfgen.GenerateSchemaWithOptions(tfgen.GenerateSchemaOptions{
		ProviderInfo:    info.Provider(*version),
		DiagnosticsSink: sink,
		// Descriptions from the Terraform schema only: no upstream docs checkout needed.
		XInMemoryDocs: true,
	})
	if err != nil {
		fail(err)
	}
	data, err := json.Marshal(res.PackageSpec)
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("wrote %s (%d bytes, %d resources, %d functions)\n", *out, len(data),
		len(res.PackageSpec.Resources), len(res.PackageSpec.Functions))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tfgen:", err)
	os.Exit(1)
}
