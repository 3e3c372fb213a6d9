// Package shim hands the Terraform docker provider (kreuzwerker) to our bridge program.
//
// The provider lives in the upstream's internal/provider package, which Go lets only
// packages under github.com/terraform-providers/terraform-provider-docker import. This
// module has such a path and sits in the repository (toolchain/go/providers/docker/shim,
// used through a directory replace), so the upstream module from the proxy stays
// unmodified. Pulumi's own build adds an equivalent package to its upstream checkout.
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"

	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider returns the upstream's SDKv2 provider. The upstream also has a
// plugin-framework half (compose resource, docker_containers data source, actions),
// which @pulumi/docker 5.0.0 does not know; it is not served.
func NewProvider(version string) *schema.Provider {
	return provider.New(version)()
}
