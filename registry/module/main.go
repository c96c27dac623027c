// Command registry is distribution/v3's registry with only what the project uses: the
// filesystem storage driver, no auth (it listens on 127.0.0.1 only), no cloud drivers
// (their SDKs would triple the build). Same CLI as upstream: `registry serve <config.yml>`.
package main

import (
	"os"

	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	if err := registry.RootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
