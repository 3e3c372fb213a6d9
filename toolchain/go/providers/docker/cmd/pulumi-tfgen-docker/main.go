// pulumi-tfgen-docker writes the Pulumi schema of the bridged docker provider:
//
//	pulumi-tfgen-docker schema --out DIR    # DIR/schema.json, DIR/bridge-metadata.json
//
// The directory name matters: the bridge tells the schema generator from the running
// provider by "pulumi-tfgen" in the path.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	docker "github.com/rollout-as-code/toolchain/go/providers/docker"
)

func main() {
	tfgen.Main("docker", docker.Version, docker.Provider(nil))
}
