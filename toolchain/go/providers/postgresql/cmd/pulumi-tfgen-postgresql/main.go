// pulumi-tfgen-postgresql writes the Pulumi schema of the bridged postgresql provider:
//
//	pulumi-tfgen-postgresql schema --out DIR    # DIR/schema.json, DIR/bridge-metadata.json
//
// The directory name matters: the bridge tells the schema generator from the running
// provider by "pulumi-tfgen" in the path.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	postgresql "github.com/rollout-as-code/toolchain/go/providers/postgresql"
)

func main() {
	tfgen.Main("postgresql", postgresql.Version, postgresql.Provider(nil))
}
