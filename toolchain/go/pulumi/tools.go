//go:build tools

// Package tools pins the Pulumi CLI's main package so that go.mod/go.sum
// record its whole dependency graph; toolchain/build.sh builds it with
// `go build` from this module. The build tag keeps it out of any real build.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
