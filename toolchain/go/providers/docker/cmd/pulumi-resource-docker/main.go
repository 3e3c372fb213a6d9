// pulumi-resource-docker serves the bridged docker provider to the Pulumi engine.
//
// schema.json and bridge-metadata.json are written beside this file by the schema
// generator (cmd/pulumi-tfgen-docker) at build time; toolchain/build-bridged.sh
// does that in a copy of this module. The directory name matters: the bridge tells
// the running provider from the schema generator by "pulumi-resource" in the path.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	docker "github.com/rollout-as-code/toolchain/go/providers/docker"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	tfbridge.Main("docker", docker.Version, docker.Provider(metadata), schema)
}
