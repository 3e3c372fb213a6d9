// Package docker maps the Terraform docker provider (kreuzwerker) to the Pulumi package
// "docker", with the tokens and property names @pulumi/docker 5.0.0 uses. The mapping is
// automatic (tokens.SingleModule + the bridge's property naming) plus the few names
// Pulumi's docker provider gives differently; toolchain/check-sdk-compat.mjs checks the
// result against the SDK. The SDK's Image resource is native Go code in Pulumi's
// provider, not a Terraform resource, and has no counterpart here.
package docker

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// Version is stamped at build time:
// -ldflags "-X github.com/rollout-as-code/toolchain/go/providers/docker.Version=5.0.0".
// It must be the version of the npm SDK, which asks the engine for exactly that plugin.
var Version = "0.0.0-dev"

const (
	pkgName = "docker"
	mainMod = "index"
)

// Provider returns the bridge's description of the provider. metadata is the
// bridge-metadata.json written by the schema generator (nil when generating).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	prov := tfbridge.ProviderInfo{
		P:            shimv2.NewProvider(shim.NewProvider(Version)),
		Name:         pkgName,
		Version:      Version,
		DisplayName:  "Docker",
		Description:  "A Pulumi package for interacting with Docker in Pulumi programs",
		Keywords:     []string{"pulumi", "docker"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-docker",
		GitHubOrg:    "kreuzwerker",
		Publisher:    "Pulumi",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		// Names Pulumi's docker provider gives differently from the automatic mapping
		// (which would pluralise these list/set properties).
		Config: map[string]*tfbridge.SchemaInfo{
			"host":          {Default: &tfbridge.DefaultInfo{EnvVars: []string{"DOCKER_HOST"}}},
			"registry_auth": {Name: "registryAuth"},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_container": {
				Tok: tfbridge.MakeResource(pkgName, mainMod, "Container"),
				Fields: map[string]*tfbridge.SchemaInfo{
					"command":           {Name: "command"},
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_image": {
				Tok: tfbridge.MakeResource(pkgName, mainMod, "RemoteImage"),
				// The image reference stays required (no auto-naming), as in the SDK.
				Fields: map[string]*tfbridge.SchemaInfo{"name": {}},
			},
			"docker_config": {Tok: tfbridge.MakeResource(pkgName, mainMod, "ServiceConfig")},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image": {Tok: tfbridge.MakeDataSource(pkgName, mainMod, "getRemoteImage")},
		},
	}

	// Everything else: docker_foo_bar => docker:index/fooBar:FooBar,
	// data source docker_foo => docker:index/getFoo:getFoo.
	prov.MustComputeTokens(tokens.SingleModule("docker_", mainMod, tokens.MakeStandard(pkgName)))
	prov.MustApplyAutoAliases()
	// A resource's `name` may be left out: the provider proposes "<resource name>-<random>",
	// which is what @pulumi/docker expects (its Container, Network, ... have an optional name).
	prov.SetAutonaming(255, "-")
	return prov
}
