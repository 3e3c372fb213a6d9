// Package postgresql maps the Terraform postgresql provider (cyrilgdn) to the Pulumi
// package "postgresql", with the tokens and property names @pulumi/postgresql 3.18.0 uses.
// The mapping is automatic (tokens.SingleModule + the bridge's property naming, auto-naming
// of `name`); the only explicit entry is the deprecated DefaultPrivileg alias that the SDK
// still carries. toolchain/check-sdk-compat.mjs checks the result against the SDK.
package postgresql

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/terraform-providers/terraform-provider-postgresql/postgresql"
)

// Version is stamped at build time:
// -ldflags "-X github.com/rollout-as-code/toolchain/go/providers/postgresql.Version=3.18.0".
// It must be the version of the npm SDK, which asks the engine for exactly that plugin.
var Version = "0.0.0-dev"

const (
	pkgName = "postgresql"
	mainMod = "index"
)

// Provider returns the bridge's description of the provider. metadata is the
// bridge-metadata.json written by the schema generator (nil when generating).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	prov := tfbridge.ProviderInfo{
		P:            shimv2.NewProvider(postgresql.Provider()),
		Name:         pkgName,
		Version:      Version,
		DisplayName:  "PostgreSQL",
		Description:  "A Pulumi package for creating and managing postgresql cloud resources.",
		Keywords:     []string{"pulumi", "postgresql"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-postgresql",
		GitHubOrg:    "cyrilgdn",
		Publisher:    "Pulumi",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Config: map[string]*tfbridge.SchemaInfo{
			// The SDK applies the same defaults client-side for an explicit Provider;
			// these cover the default provider configured from stack config.
			"sslmode":         {Default: &tfbridge.DefaultInfo{EnvVars: []string{"PGSSLMODE"}}},
			"connect_timeout": {Default: &tfbridge.DefaultInfo{EnvVars: []string{"PGCONNECT_TIMEOUT"}, Value: 180}},
		},
		Resources: map[string]*tfbridge.ResourceInfo{},
	}

	// @pulumi/postgresql still has DefaultPrivileg, the name older versions gave
	// postgresql_default_privileges, as a deprecated alias of DefaultPrivileges.
	prov.RenameResourceWithAlias("postgresql_default_privileges",
		tfbridge.MakeResource(pkgName, mainMod, "DefaultPrivileg"),
		tfbridge.MakeResource(pkgName, mainMod, "DefaultPrivileges"), mainMod, mainMod, nil)

	// Everything else: postgresql_foo_bar => postgresql:index/fooBar:FooBar,
	// data source postgresql_foo => postgresql:index/getFoo:getFoo.
	prov.MustComputeTokens(tokens.SingleModule("postgresql_", mainMod, tokens.MakeStandard(pkgName)))
	prov.MustApplyAutoAliases()
	// A resource's `name` may be left out: the provider proposes "<resource name>-<random>",
	// which is what @pulumi/postgresql expects (its Role, Database, ... have an optional name).
	prov.SetAutonaming(255, "-")
	return prov
}
