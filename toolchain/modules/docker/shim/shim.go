// Package shim re-exports the Terraform Docker provider's constructor, which lives under
// internal/ and so is importable only from below the provider's module path.
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider returns the Terraform provider (SDK v2) stamped with version.
func NewProvider(version string) *schema.Provider {
	return provider.New(version)()
}
