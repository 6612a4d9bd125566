//go:build linux

package main

import (
	"os"

	"github.com/kitbuild/kit/core/initsys"
)

func main() {
	os.Exit(initsys.Main(os.Args[1:], os.Stdout, os.Stderr))
}
