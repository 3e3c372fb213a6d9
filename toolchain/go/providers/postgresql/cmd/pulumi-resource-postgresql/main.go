// pulumi-resource-postgresql serves the bridged postgresql provider to the Pulumi engine.
//
// schema.json and bridge-metadata.json are written beside this file by the schema
// generator (cmd/pulumi-tfgen-postgresql) at build time; toolchain/build-bridged.sh
// does that in a copy of this module. The directory name matters: the bridge tells
// the running provider from the schema generator by "pulumi-resource" in the path.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	postgresql "github.com/rollout-as-code/toolchain/go/providers/postgresql"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	tfbridge.Main("postgresql", postgresql.Version, postgresql.Provider(metadata), schema)
}
