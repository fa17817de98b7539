//go:build tools

// Package tools records the CLI as a dependency of this module so that go.sum pins it.
package tools

import _ "github.com/temporalio/cli/cmd/temporal"
