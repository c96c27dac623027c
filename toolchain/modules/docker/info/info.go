// Package info maps the Terraform Docker provider onto the Pulumi package "docker" so that the
// PyPI pulumi-docker SDK (pinned in requirements.txt) finds the tokens and property names it sends.
//
// The official pulumi-docker provider module is not served by the Go module proxy, so this is
// our own bridge of the same upstream (kreuzwerker/terraform-provider-docker). Names follow the
// bridge's defaults; the overrides below are the places where the SDK's names differ from them.
package info

import (
	"strings"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	tfshim "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

func Provider(version string) tfbridge.ProviderInfo {
	p := shimv2.NewProvider(shim.NewProvider(version))
	prov := tfbridge.ProviderInfo{
		P:           p,
		Name:        "docker",
		Version:     version,
		DisplayName: "Docker",
		Publisher:   "immutable-infra (local bridge)",
		License:     "Apache-2.0",
		Repository:  "https://github.com/kreuzwerker/terraform-provider-docker",
		GitHubOrg:   "kreuzwerker",
		Description: "Manage Docker resources (bridged here from the Terraform Docker provider).",
		Config: map[string]*tfbridge.SchemaInfo{
			// A list in Terraform; the SDK names it in the singular.
			"registry_auth": {Name: "registryAuth"},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_container": {
				Tok: tok("Container"),
				Fields: map[string]*tfbridge.SchemaInfo{
					// Lists the bridge would pluralise; the SDK keeps the Terraform names.
					"command":           {Name: "command"},
					"networks_advanced": {Name: "networksAdvanced"},
					// Optional in the SDK: an unnamed container gets "<resource name>-<random>".
					"name": tfbridge.AutoName("name", 255, "-"),
				},
			},
			"docker_network": {
				Tok:    tok("Network"),
				Fields: map[string]*tfbridge.SchemaInfo{"name": tfbridge.AutoName("name", 255, "-")},
			},
			"docker_volume": {Tok: tok("Volume")},
			// docker_image pulls an image: the SDK calls it RemoteImage (its Image is a build
			// resource of another provider), and its name (the reference) stays required.
			"docker_image":          {Tok: tok("RemoteImage")},
			"docker_registry_image": {Tok: tok("RegistryImage")},
			"docker_config":         {Tok: tok("ServiceConfig")},
			"docker_secret":         {Tok: tok("Secret")},
			"docker_service":        {Tok: tok("Service")},
			"docker_plugin":         {Tok: tok("Plugin")},
			"docker_tag":            {Tok: tok("Tag")},
			"docker_buildx_builder": {Tok: tok("BuildxBuilder")},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image":                    {Tok: fn("getRemoteImage")},
			"docker_network":                  {Tok: fn("getNetwork")},
			"docker_plugin":                   {Tok: fn("getPlugin")},
			"docker_logs":                     {Tok: fn("getLogs")},
			"docker_registry_image":           {Tok: fn("getRegistryImage")},
			"docker_registry_image_manifests": {Tok: fn("getRegistryImageManifests")},
		},
	}
	// Anything upstream adds later stays unmapped instead of failing the schema generation.
	prov.IgnoreMappings = unmapped(prov)
	return prov
}

// tok is the SDK's token for a resource: docker:index/<camelCase>:<PascalCase>.
func tok(name string) tokens.Type {
	return tokens.Type("docker:index/" + strings.ToLower(name[:1]) + name[1:] + ":" + name)
}

func fn(name string) tokens.ModuleMember {
	return tokens.ModuleMember("docker:index/" + name + ":" + name)
}

// unmapped lists what upstream has and this mapping does not name, so that a newer upstream
// does not fail the schema generation ("TF resource ... not mapped").
func unmapped(prov tfbridge.ProviderInfo) []string {
	var out []string
	prov.P.ResourcesMap().Range(func(key string, _ tfshim.Resource) bool {
		if _, ok := prov.Resources[key]; !ok {
			out = append(out, key)
		}
		return true
	})
	prov.P.DataSourcesMap().Range(func(key string, _ tfshim.Resource) bool {
		if _, ok := prov.DataSources[key]; !ok {
			out = append(out, key)
		}
		return true
	})
	return out
}
